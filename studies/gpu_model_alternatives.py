"""Two GPU-model alternatives tried in notes v11 and not adopted, measured against the committed records.

Input: studies/results/gpu_benchmark.json. Needs no GPU; part B compiles the linear-attention kernels for
sm_90 on the CPU (ptxas from the triton wheel, about a minute). Output: two tables and their counts.

A. K/V re-reads of long heads (a head's K/V past the L2 share, N >= 32K; decode and linear excluded):
   the model's lockstep waves of all resident programs against "dephased" programs — the programs
   sharing an SM drift into antiphase, so each of the `occupancy` groups streams the head on its own,
   i.e. lockstep waves of one program per SM. DRAM read bytes against ncu's, within ±10 %.
B. Linear attention's time (runs 20-24): the model (issue bound at `GpuArch.issue_cpi`) against the SASS
   simulation of co-resident programs (`einsim.gpu.sass.slot_cycles`: the programs dealt round-robin to
   the resident slots, eight per slot simulated and scaled), each kernel taking the largest of that, its
   DRAM bytes at the copy bandwidth, its L2 bytes and its tensor/MUFU time, at two wgmma drains.

    python studies/gpu_model_alternatives.py [--part A|B]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from studies.gpu_cases import Case, compiled_reports, library_plans, predict_case  # noqa: E402

RECORDS = ROOT / "studies" / "results" / "gpu_benchmark.json"
#: programs simulated per resident slot (the rest scaled), and the wgmma drains compared in part B
SIMULATED_PER_SLOT = 8
DRAINS = (20, 100)


def _case(r: dict) -> Case:
    t = tuple(r["tiling"]) if r.get("tiling") else None
    return Case(r["variant"], r["B"], r["H"], r["G"], r["N_Q"], r["N"], r["D"], r["causal"], r["dtype"],
                cascade=r["cascade"], tiling=t)  # fmt: skip


@contextlib.contextmanager
def _dephased():
    """The model's K/V re-read count with one resident program per SM (each SM's programs in antiphase)."""
    from einsim.gpu import model

    lockstep = model._kv_streams

    def streams(plan, shape, t, slots, stream_bytes, arch):
        return lockstep(plan, shape, t, min(slots, arch.sms), stream_bytes, arch)

    model._kv_streams = streams
    try:
        yield
    finally:
        model._kv_streams = lockstep


def part_a(records: list[dict], plans) -> None:
    from einsim.gpu.arch import arch_for

    print("A. DRAM read bytes of long heads: lockstep (the model) vs dephased, error against ncu")
    seen, ok = set(), [0, 0]
    for r in records:
        if (r["N"] < 32768 or not r.get("dram_read_bytes") or not r.get("cascade") or "decode" in r["variant"]
                or r["variant"].startswith("linear")):  # fmt: skip
            continue
        key = (r["card"], r["variant"], r["B"], r["H"], r["N"], r["D"], tuple(r["tiling"] or ()))
        if key in seen:
            continue
        seen.add(key)
        arch, c = arch_for(r["card"]), _case(r)
        pr, _ = predict_case(c, plans, arch)
        with _dephased():
            dp, _ = predict_case(c, plans, arch)
        errs = [p.dram_read_bytes / r["dram_read_bytes"] - 1 for p in (pr, dp)]
        ok = [n + (abs(e) <= 0.10) for n, e in zip(ok, errs)]
        occ = [k.ctas_per_sm for k in pr.kernels]
        print(f"  {r['card'][-9:]:>9} run {r['run']:>2} {r['variant']:>10} {r['B']}x{r['H']}x{r['N']} D{r['D']} "
              f"programs/SM {occ}: lockstep {errs[0]:+.2f}  dephased {errs[1]:+.2f}")  # fmt: skip
    print(f"  within ±10 %: lockstep {ok[0]}, dephased {ok[1]} of {len(seen)}\n")


def resident_slots(iterations: list[float], report, warps: int, arch) -> tuple[list[list[int]], float]:
    """SM 0's resident program slots in launch order (the programs dealt round-robin to the slots), their
    first SIMULATED_PER_SLOT programs' loop trip counts, and the factor that scales those to all of them."""
    from einsim.gpu.linear_model import resident_programs

    k = min(resident_programs(report, warps, arch), math.ceil(len(iterations) / arch.sms))
    per_slot = [iterations[j :: arch.sms * k] for j in range(k)]
    simulated = [[round(n) for n in slot[:SIMULATED_PER_SLOT]] for slot in per_slot]
    return simulated, max(len(s) for s in per_slot) / max(len(s) for s in simulated)


def _slot_seconds(iterations: list[float], report, warps: int, arch, drain: int) -> float:
    from einsim.gpu.sass import slot_cycles

    simulated, scale = resident_slots(iterations, report, warps, arch)
    latency = round(arch.sass_load_latency_s * arch.clock_hz)
    cycles = slot_cycles(report.instructions, warps, simulated, latency, hgmma_drain=drain)
    return cycles * scale / arch.clock_hz


def part_b(records: list[dict], plans) -> None:
    from einsim.gpu.arch import arch_for
    from einsim.gpu.linear_model import kernel_iterations
    from einsim.gpu.plan import Shape, linear_launches

    print("B. linear attention, time error against do_bench: the model vs the co-resident SASS simulation")
    seen, ok = set(), [0] * (1 + len(DRAINS))
    for r in records:
        if not r["variant"].startswith("linear") or r.get("run") not in (20, 21, 22, 23, 24):
            continue
        key = (r["card"], r["variant"], r["B"], r["H"], r["N"], r["D"], tuple(r["tiling"]))
        if key in seen:
            continue
        seen.add(key)
        arch, c = arch_for(r["card"]), _case(r)
        pr, t = predict_case(c, plans, arch)
        plan = next(p for f, p in plans.values() if f == c.cascade)
        shape = Shape(c.B, c.H, c.N_Q, c.N_KV, c.D, None, c.dtype)
        reports = compiled_reports(plan, shape, t, arch)
        if reports is None:
            print("  (no ptxas: part B needs the compiled kernels)")
            return
        its, launches = kernel_iterations(plan, shape, t, arch.sms), linear_launches(plan, shape, t)
        errs = [pr.ms / r["ms"] - 1]
        for drain in DRAINS:
            total = 0.0
            for kc, rep, it, launch in zip(pr.kernels, reports, its, launches):
                dram = (kc.dram_read_bytes + kc.dram_write_bytes) / arch.hbm_copy_bw
                sim = _slot_seconds(it, rep, launch.warps, arch, drain)
                total += max(sim, dram, kc.l2_s, kc.mma_s, kc.exp_s) + arch.launch_s
            errs.append(total * 1e3 / r["ms"] - 1)
        ok = [n + (abs(e) <= 0.25) for n, e in zip(ok, errs)]
        sims = "  ".join(f"drain {d}: {e:+.2f}" for d, e in zip(DRAINS, errs[1:]))
        print(f"  {r['card'][-9:]:>9} run {r['run']} {r['variant']:>26} {r['B']}x{r['H']}x{r['N']} D{r['D']} "
              f"w{t.num_warps}: model {errs[0]:+.2f}  {sims}")  # fmt: skip
    drains = ", ".join(f"drain {d} {n}" for d, n in zip(DRAINS, ok[1:]))
    print(f"  within ±25 %: the model {ok[0]}, simulation {drains} of {len(seen)}")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--part", choices=("A", "B"), action="append", help="run only this part (default: both)")
    args = ap.parse_args(argv)
    records, plans = json.loads(RECORDS.read_text()), library_plans(False)
    for part in args.part or ("A", "B"):
        (part_a if part == "A" else part_b)(records, plans)


if __name__ == "__main__":
    main()
