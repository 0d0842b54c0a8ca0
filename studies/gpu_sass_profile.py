"""The SASS simulation (einsim.gpu.sass) against Nsight Compute's per-instruction warp-state samples.

Input: studies/results/gpu_sass_source_h100.csv.gz — `ncu --clock-control none --section SourceCounters
--section WarpStateStats --page source --print-source sass --csv python3 studies/gpu_sass_probe.py --run`
on an H100 (notes_gpu.md v12): for each kernel of the probes in studies/gpu_sass_probe.py, every SASS
instruction's executed count and its stall samples by reason — and studies/results/gpu_stall_probe_v11.csv
(the same kernels' elapsed cycles, H100, v11). Needs no GPU; compiles the kernels on the CPU (ptxas from
the triton wheel).
Output: for every kernel, how many of its shared-memory accesses einsim.gpu.banks follows and how many of
those have the measured wavefronts (and the total); for each decode and linear-attention kernel, executed
instructions (ncu) against the compiled count, elapsed cycles against the simulation's, the cycles per
issued instruction by reason (ncu's samples scaled to the measured cycles; the simulation's warp-cycles),
and the instructions where the two differ most.

    python studies/gpu_sass_profile.py [--top N]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from studies.gpu_sass_probe import LIB, PROBES, probe_tiling  # noqa: E402

RESULTS = ROOT / "studies" / "results"
SOURCE = RESULTS / "gpu_sass_source_h100.csv.gz"
CYCLES = RESULTS / "gpu_stall_probe_v11.csv"
#: (probe index, kernel index within the probe) -> ID of the same launch in gpu_stall_probe_v11.csv
V11_IDS = {(0, 0): 12, (1, 0): 17, (2, 0): 16, (5, 0): 0, (5, 1): 1, (5, 2): 2, (6, 0): 3, (6, 1): 4, (6, 2): 5,
           (7, 0): 9, (7, 1): 10, (7, 2): 11}  # fmt: skip
#: ncu's stall columns -> the simulation's reasons (ncu's others: dispatch, no_instruction, ...)
REASONS = {"selected": "selected", "not_selected": "not_selected", "wait": "wait", "short_sb": "short_scoreboard",
           "long_sb": "long_scoreboard", "barrier": "barrier", "mio": "mio_throttle", "math": "math_pipe_throttle",
           "gmma": "gmma"}  # fmt: skip


def ncu_kernels(path: Path = SOURCE) -> list[dict]:
    """The source page's kernels in launch order: name, per-instruction rows (offset from the kernel's
    first instruction, SASS text, executed count, stall samples by reason) and, per shared-memory
    instruction offset, its wavefronts over the conflict-free number (`conflicts`)."""
    kernels, header = [], None
    with gzip.open(path, "rt") as f:
        for row in csv.reader(io.StringIO(f.read())):
            if row[:1] == ["Kernel Name"]:
                kernels.append({"name": row[1], "rows": [], "conflicts": {}})
                header = None
            elif row[:1] == ["Address"]:
                header = row
            elif header and kernels and len(row) >= len(header) - 1:
                d = dict(zip(header, row))
                stalls = {k[6:]: float(v) for k, v in d.items() if k.startswith("stall_") and "Not Issued" not in k}
                kernels[-1]["rows"].append((int(d["Address"], 16), d["Source"].strip(),
                                            float(d["Instructions Executed"]), stalls))  # fmt: skip
                if float(d["L1 Wavefronts Shared Ideal"] or 0) > 0:
                    kernels[-1]["conflicts"][int(d["Address"], 16)] = float(d["L1 Wavefronts Shared"]) / float(
                        d["L1 Wavefronts Shared Ideal"]
                    )
    for k in kernels:
        base = k["base"] = k["rows"][0][0] if k["rows"] else 0  # a kernel listed without its rows
        k["rows"] = [(a - base, *rest) for a, *rest in k["rows"]]
        k["conflicts"] = {a - base: c for a, c in k["conflicts"].items()}
    return kernels


def probed_instructions(kernel: dict) -> tuple:
    """The kernel's SASS as Nsight Compute listed it (`ncu_kernels`; branch targets made relative, no
    control codes): what the bank-conflict check reads — opcodes and operands — of the kernels that ran,
    so the check holds against them after the lowering changes its kernels (v13 changed the epilogues)."""
    from einsim.gpu.sass import parse

    def rel(m: re.Match) -> str:
        v = int(m.group(0), 16)
        return hex(v - kernel["base"]) if v >= kernel["base"] else m.group(0)

    return parse("\n".join(f"/*{a:04x}*/ {re.sub(r'0x[0-9a-f]{8,}', rel, text)} ;" for a, text, *_ in kernel["rows"]))


def measured_cycles(path: Path = CYCLES) -> dict[int, float]:
    out = {}
    for row in csv.reader(path.open()):
        if len(row) > 14 and row[0].isdigit() and row[12] == "sm__cycles_elapsed.max":
            out[int(row[0])] = float(row[14].replace(",", ""))
    return out


def simulate(plan, shape, t, report, index: int, warps: int, arch) -> tuple[float, float, dict]:
    """(cycles, instructions issued per SM, profile) of the kernel's programs on one SM: decode's lone
    program, or linear attention's resident slots (scaled to all of SM 0's programs)."""
    from einsim.gpu.linear_model import kernel_iterations, resident_slots
    from einsim.gpu.sass import slot_cycles

    if plan.linear:
        slots, scale = resident_slots(kernel_iterations(plan, shape, t, arch.sms)[index], report, warps, arch)
    else:
        slots, scale = [[shape.N_KV // t.block_n]], 1.0
    profile: dict = {}
    cycles = slot_cycles(report.instructions, warps, slots, arch.sass_load_latency_cycles, profile=profile) * scale
    return cycles, scale, profile


def bank_check(kernel: dict) -> tuple[int, int, int]:
    """(shared-memory accesses Nsight Compute counted, of those the analysis follows, of those with the
    measured conflict degree within 5 %), on the SASS that ran (`probed_instructions`)."""
    from einsim.gpu.banks import lane_addresses, wavefronts

    ins, measured = probed_instructions(kernel), kernel["conflicts"]
    lanes = lane_addresses(ins)
    seen = followed = right = 0
    for x in ins:
        if x.base in ("LDS", "STS", "LDSM", "STSM") and x.addr in measured:
            seen += 1
            if x.addr in lanes:
                followed += 1
                got, ideal = wavefronts(*lanes[x.addr])
                right += abs(got / ideal - measured[x.addr]) < 0.05
    return seen, followed, right


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--top", type=int, default=6, help="instructions listed per kernel (default 6)")
    args = ap.parse_args(argv)

    import einsim
    from einsim.gpu.arch import H100_SXM
    from einsim.gpu.inspect import compile_report
    from einsim.gpu.lower import lower
    from einsim.gpu.plan import Shape, choose_tiling, linear_launches

    kernels, cycles_v11 = ncu_kernels(), measured_cycles()
    at, banks_total = 0, [0, 0, 0]
    for i, (name, sh, tt) in enumerate(PROBES):
        plan, shape = lower(einsim.parse_file(str(LIB / name))), Shape(*sh)
        t = probe_tiling(tt) or choose_tiling(plan, shape)
        reports = compile_report(plan, shape, t)
        warps = [x.warps for x in linear_launches(plan, shape, t)] if plan.linear else [t.num_warps]
        for j, rep in enumerate(reports):
            k, at = kernels[at], at + 1
            seen, followed, right = bank_check(k)
            banks_total = [a + b for a, b in zip(banks_total, (seen, followed, right))]
            print(f"\n{name} {sh} {rep.label}: bank conflicts of {seen} shared-memory accesses: {followed} followed "
                  f"(einsim.gpu.banks), {right} with Nsight Compute's wavefronts")  # fmt: skip
            if not plan.linear and shape.N_Q > 1:  # prefill: warp-specialized or many programs per SM; not here
                continue
            executed = sum(r[2] for r in k["rows"])
            measured = cycles_v11.get(V11_IDS.get((i, j), -1))
            cycles, scale, profile = simulate(plan, shape, t, rep, j, warps[j], H100_SXM)
            sim_total = {}
            for reasons in profile.values():
                for why, n in reasons.items():
                    sim_total[why] = sim_total.get(why, 0) + n * scale
            issued = sim_total.get("selected", 1)
            samples = {}
            for *_, stalls in k["rows"]:
                for why, n in stalls.items():
                    samples[why] = samples.get(why, 0) + n
            n_samples = sum(samples.values())
            ncu_selected = samples.get("selected", 0) / n_samples
            print(f"{name} {sh} {tt or 'default'} — {rep.label} ({k['name']}, {warps[j]} warps)")
            ratio = f"{cycles / measured:.3f}" if measured else "n/a"
            elapsed = f"{measured:,.0f}" if measured else "n/a"
            print(f"  executed (ncu, all SMs) {executed:,.0f}; elapsed cycles measured {elapsed}, "
                  f"simulated {cycles:,.0f} (ratio {ratio})")  # fmt: skip
            print(f"  {'cycles per issued instruction':32s} {'ncu':>6s} {'sim':>6s}")
            for col, why in REASONS.items():
                got = samples.get(col, 0) / n_samples / ncu_selected
                sim = sim_total.get(why, 0) / issued
                if got > 0.02 or sim > 0.02:
                    print(f"  {why:32s} {got:6.2f} {sim:6.2f}")
            other = sum(v for c, v in samples.items() if c not in REASONS) / n_samples / ncu_selected
            print(f"  {'other (dispatch, no instruction…)':32s} {other:6.2f} {0:6.2f}")
            print(f"  {'total':32s} {1 / ncu_selected:6.2f} {sum(sim_total.values()) / issued:6.2f}")
            rows = []
            sim_all = sum(sim_total.values())
            for addr, text, _, stalls in k["rows"]:
                real = sum(stalls.values()) / n_samples
                mine = profile.get(addr, {})
                sim = sum(mine.values()) * scale / sim_all
                top_r = max(stalls, key=stalls.get) if real else "-"
                top_s = max(mine, key=mine.get) if mine else "-"
                rows.append((abs(real - sim), addr, text, real, top_r, sim, top_s))
            rows.sort(reverse=True)
            print("  share of warp-cycles where the two differ most (ncu | simulation, with the main reason):")
            for _, addr, text, real, top_r, sim, top_s in rows[: args.top]:
                print(f"    {addr:6x} {text[:46]:46s} {real:6.1%} {top_r:16s} | {sim:6.1%} {top_s}")
    seen, followed, right = banks_total
    print(f"\nbank conflicts, all {len(kernels)} kernels: {seen} shared-memory accesses, {followed} followed, "
          f"{right} with the measured wavefronts")  # fmt: skip


if __name__ == "__main__":
    main()
