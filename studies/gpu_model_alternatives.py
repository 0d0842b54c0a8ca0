"""GPU-model alternatives tried (notes v11, v13) and not adopted, measured against the committed records.

Input: studies/results/gpu_benchmark.json. Needs no GPU. Output: a table and its count.

A. K/V re-reads of long heads (N >= 32K; decode and linear excluded): the model (v14: the co-resident
programs' schedule, einsim.gpu.coresident) against the two counts it replaced — lockstep waves of all
resident programs (v6-v13) and "dephased" programs (v11: each SM's programs in antiphase, i.e. lockstep
waves of one program per SM). DRAM read bytes against ncu's, within ±10 %.
(v11's second alternative, the SASS simulation of co-resident programs for linear attention, became the
model in v12 once it had bank conflicts: einsim.gpu.linear_model; notes_gpu.md.)
B (v13, needs ptxas: compiled mode). The D=64 prefill kernels (1-pass, FA1, lazy; the pointer kernel,
two 8-warp programs per SM) timed by that same slot simulation (einsim.gpu.linear_model.issue_seconds over
their programs' K/V tile counts, with wgmma's shared-memory operand reads since v17) against the H100
timings of runs 34 and 36, beside the analytic model; and, at D=128, the warp-specialized FA2 and FA1
kernels' K/V loop (instructions a consumer warp issues per tile; the two consumer warpgroups simulated
sharing an SM, v18) beside their measured times. v17's
holdouts compare the simulated K/V loop with the analytic law over launch settings:
studies/gpu_prefill_holdout.py.

C (v14, needs ptxas). Why programs sharing an SM drift apart, from the SASS: einsim.gpu.sass simulates
two (or four) co-resident programs of each kernel of the timeline probe, five programs per slot back to
back, the oldest program's warps first (`by_age`); printed: how far apart the slots' programs start,
as a fraction of a program, beside the rate the probe measured (the younger's over the older's,
studies/results/gpu_timeline_probe_h200). The model takes the measured rates (einsim.gpu.coresident).

    python studies/gpu_model_alternatives.py [--part A|B|C]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from studies.gpu_cases import Case, library_plans, predict_case  # noqa: E402

RECORDS = ROOT / "studies" / "results" / "gpu_benchmark.json"


def _case(r: dict) -> Case:
    t = tuple(r["tiling"]) if r.get("tiling") else None
    return Case(r["variant"], r["B"], r["H"], r["G"], r["N_Q"], r["N"], r["D"], r["causal"], r["dtype"],
                cascade=r["cascade"], tiling=t)  # fmt: skip


@contextlib.contextmanager
def _without_coresident(dephased: bool = False):
    """The model before v14: lockstep waves of all resident programs (`dephased`: of one program per SM,
    each SM's programs in antiphase — v11's alternative), not the co-resident schedule."""
    from einsim.gpu import model

    lockstep, outruns = model._kv_streams, model._outruns

    def streams(plan, shape, t, slots, stream_bytes, arch):
        return lockstep(plan, shape, t, min(slots, arch.sms), stream_bytes, arch)

    model._outruns = lambda *a: False
    if dephased:
        model._kv_streams = streams
    try:
        yield
    finally:
        model._kv_streams, model._outruns = lockstep, outruns


def part_a(records: list[dict], plans) -> None:
    from einsim.gpu.arch import arch_for

    print("A. DRAM read bytes of long heads: the model (co-resident schedule, v14) vs lockstep waves (v6-v13)")
    print("   vs dephased (v11), error against ncu")
    seen, ok = set(), [0, 0, 0]
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
        with _without_coresident():
            lk, _ = predict_case(c, plans, arch)
        with _without_coresident(dephased=True):
            dp, _ = predict_case(c, plans, arch)
        errs = [p.dram_read_bytes / r["dram_read_bytes"] - 1 for p in (pr, lk, dp)]
        ok = [n + (abs(e) <= 0.10) for n, e in zip(ok, errs)]
        occ = [k.ctas_per_sm for k in pr.kernels]
        print(f"  {r['card'][-9:]:>9} run {r['run']:>2} {r['variant']:>10} {r['B']}x{r['H']}x{r['N']} D{r['D']} "
              f"programs/SM {occ}: model {errs[0]:+.2f}  lockstep {errs[1]:+.2f}  dephased {errs[2]:+.2f}")  # fmt: skip
    print(f"  within ±10 %: model {ok[0]}, lockstep {ok[1]}, dephased {ok[2]} of {len(seen)}\n")


def _timed(records: list[dict], variant: str, bhnd: tuple) -> list[dict]:
    """The timed non-causal records of `variant` at (B, H, N, D) in the H100 runs 34 and 36."""
    return [r for r in records if r["run"] in (34, 36) and r["variant"] == variant and r.get("ms")
            and (r["B"], r["H"], r["N"], r["D"], r["causal"]) == (*bhnd, False)]  # fmt: skip


def part_b(records: list[dict], plans) -> None:
    import dataclasses

    from einsim.gpu.arch import H100_SXM
    from einsim.gpu.inspect import compile_report
    from einsim.gpu.linear_model import issue_seconds
    from einsim.gpu.model import predict
    from einsim.gpu.plan import Shape
    from einsim.gpu.sass import mma_loop, resident_loop_cycles
    from studies.gpu_cases import record_tiling

    print("B. D=64 prefill kernels (4x32x4096, non-causal, H100): the SASS slot simulation vs the analytic model")
    if os.environ.get("TRITON_INTERPRET", "0") == "1":
        print("  skipped: part B compiles the kernels (ptxas); unset TRITON_INTERPRET to run it.\n")
        return
    B, H, N, D = 4, 32, 4096, 64
    for variant in ("1-pass", "1-pass-fa1", "1-pass-lazy"):
        rs = _timed(records, variant, (B, H, N, D))
        if not rs:
            continue
        plan = next(p for f, p in plans.values() if f == rs[0]["cascade"])
        shape = Shape(B, H, N, N, D)
        t = dataclasses.replace(record_tiling(list(rs[0]["tiling"]), rs[0].get("lazy_rescale")), persistent=0)
        iters = [float(-(-N // t.block_n))] * (-(-N // t.block_m) * B * H)
        sim = sum(issue_seconds(iters, rep, t.num_warps, H100_SXM) for rep in compile_report(plan, shape, t)) * 1e3
        model = predict(plan, shape, t, H100_SXM).ms
        meas = ", ".join(f"{r['ms']:.3f} (run {r['run']})" for r in rs)
        print(f"  {variant:>12}: simulated {sim:.3f} ms, analytic model {model:.3f} ms, measured {meas}")
    print("  D=128 (warp-specialized, 4x16x4096, H100): a consumer warp's K/V loop against the measured time")
    shape = Shape(4, 16, 4096, 4096, 128)
    for variant in ("1-pass", "1-pass-fa1"):
        rs = _timed(records, variant, (4, 16, 4096, 128))
        if not rs:
            continue
        plan = next(p for f, p in plans.values() if f == rs[0]["cascade"])
        t = record_tiling(list(rs[0]["tiling"]), rs[0].get("lazy_rescale"))
        body = mma_loop(compile_report(plan, shape, t)[0].instructions)
        # the two consumer warpgroups of a program share the SM as two slots of 4 warps (v18): cycles per tile
        per_tile = resident_loop_cycles(body, 4, 2, H100_SXM.sass_load_latency_cycles)
        tiles = shape.B * shape.H * -(-shape.N_Q // t.block_m) * -(-shape.N_KV // t.block_n) / H100_SXM.sms
        sim_ms = per_tile * tiles / H100_SXM.clock_hz * 1e3
        meas = ", ".join(f"{r['ms']:.3f} (run {r['run']})" for r in rs)
        print(f"  {variant:>12}: {len(body)} instructions per K/V tile ({sum(x.base == 'FMUL' for x in body)} FMUL), "
              f"two consumer warpgroups simulated at {per_tile:.0f} cycles per tile ({sim_ms:.3f} ms), "
              f"measured {meas}")  # fmt: skip
    print()


#: the timeline probe's kernels: (probe case, pass index, timeline flag compiled in)
PROBED = [("1p-d64-262k", 0), ("1p-d64-131k-h2", 0), ("1p-lazy-d64-262k", 0), ("1p-4w-d64-262k", 0),
          ("1p-bm64-4w-d64-262k", 0), ("2p-d64-262k", 1), ("3p-d64-262k", 2), ("3p-d64-262k", 0),
          ("3p-d64-262k", 1)]  # fmt: skip


def part_c(programs: int = 5, iterations: int = 16) -> None:
    import numpy as np

    from einsim.gpu.arch import H200
    from einsim.gpu.inspect import compile_report
    from einsim.gpu.linear_model import resident_programs
    from einsim.gpu.sass import slot_cycles
    from studies.gpu_timeline_probe import _setup

    z = np.load(ROOT / "studies" / "results" / "gpu_timeline_probe_h200" / "timeline_probe.npz")
    print("\n# C: co-resident programs in the SASS simulation (oldest first) vs the timeline probe (H200)")
    print(f"{'kernel':<28} {'c':>2}  start offsets of slots 1.. (fraction of a program), programs 2-{programs}"
          "  | measured young/old rate")  # fmt: skip
    for name, i in PROBED:
        plan, shape, t = _setup(name)
        rep = compile_report(plan, shape, t, timeline=True)[i]  # the probed kernels, as they ran
        c = resident_programs(rep, rep.warps, H200)
        starts = [[0] for _ in range(c)]
        total = slot_cycles(rep.instructions, rep.warps, [[iterations] * programs] * c, H200.sass_load_latency_cycles,
                            by_age=True, program_starts=starts)  # fmt: skip
        dur = total / programs
        offs = [[round((starts[k][j] - starts[0][j]) / dur, 2) % 1 for j in range(1, programs)] for k in range(1, c)]
        tl = z[name][0][i]
        seg = np.diff(np.concatenate([tl[:, 2:10], tl[:, 10:11]], 1).astype(float), axis=1)
        mid = np.argsort(tl[:, 1])[len(tl) // 4 : 3 * len(tl) // 4]  # programs in the middle of the launch
        rate = float(np.median(seg[mid, 4:].sum(1) / seg[mid, :4].sum(1)))
        label = f"{name} {plan.kernels[i].label}"[:28]
        print(f"{label:<28} {c:>2}  {offs}  | {rate:.2f}")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--part", choices=("A", "B", "C"), default=None, help="one part only (default: all)")
    args = ap.parse_args(argv)
    records, plans = json.loads(RECORDS.read_text()), library_plans(False)
    if args.part in (None, "A"):
        part_a(records, plans)
    if args.part in (None, "B"):
        part_b(records, plans)
    if args.part in (None, "C"):
        part_c()


if __name__ == "__main__":
    main()
