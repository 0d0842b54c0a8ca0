"""Prefill launch settings as a holdout for the prefill time model: the analytic law against its alternatives.

Input: the `prefill-tilings` cases of studies/gpu_benchmark.py (every non-causal einsim prefill variant at
4x32x4096 D=64 and 4x16x4096 D=128 under launch settings the kernels had not been timed with; runs 46-47),
the `prefill-tilings-b` cases (the 1-, 2- and 3-pass kernels at 1x32x16384 D=64 and 2x16x8192 D=128,
registered after them) or the `prefill-tilings-c` cases (those and FA1 at 2x32x8192 D=64 and 8x16x2048
D=128, 64-row tiles beside 128-row ones; registered in v20), the `prefill-tilings-d` cases (the 1- and
2-pass and FA1 at 2x32x4096 D=128 and 8x16x4096 D=64, launches whose K/V loop reloads spilled registers
beside ones that do not; registered in v21) and, for `--compare`, their records in
studies/results/gpu_benchmark.json. Needs ptxas from the triton wheel (no GPU).
Output: per case the time the prefill models predict — the analytic law as einsim.gpu.model runs it with
the compiled kernels (tensor-core and MUFU work, the K/V loop's issued instructions, overlapped by the
query rows resident per SM), the same law with its overlap counted by programs per SM (`by-programs`, the
law until v19), and the SASS simulation of the resident programs' K/V loop
(einsim.gpu.sass.resident_loop_cycles) — and, with `--compare`, the measured times, each model's errors
and whether each orders the variants of a shape and launch, and the launches of a variant, as measured;
with `--spills`, per kernel that spills registers, Nsight Compute's local-memory sectors against the
compiled loads and stores, the reloads' L1 hit rate and the stack frames against the L1 left (v21).

    python studies/gpu_prefill_holdout.py --predict h100|h200 [--group G]     # registered before the run
    python studies/gpu_prefill_holdout.py --compare [--run N] [--registered TABLE]   # after it
    python studies/gpu_prefill_holdout.py --spills --group prefill-tilings-d   # ncu's spill counters
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GROUPS = ("prefill-tilings", "prefill-tilings-b", "prefill-tilings-c", "prefill-tilings-d")


def _predictions(case, plans, arch) -> tuple[float, float, float]:
    """(analytic ms, simulated ms, analytic ms with the overlap counted by programs) for a benchmark case."""
    from einsim.gpu.inspect import compile_report
    from einsim.gpu.model import predict
    from studies.gpu_cases import predict_case

    analytic, t = predict_case(case, plans, arch)
    plan = next(p for f, p in plans.values() if f == case.cascade)
    reports = compile_report(plan, _shape(case), t)
    sim = predict(plan, _shape(case), t, arch, reports, resident_sim=True)
    by_programs = predict(plan, _shape(case), t, arch, reports, overlap_by_programs=True)
    return analytic.ms, sim.ms, by_programs.ms


def _shape(case):
    from einsim.gpu.plan import Shape

    return Shape(case.B, case.H, case.N_Q, case.N_KV, case.D, None, case.dtype)


def _launch(variant: str) -> str:
    return variant[variant.index("-bm") + 1 :]


def _family(variant: str) -> str:
    return variant[: variant.index("-bm")]


def predict_table(card: str, group: str) -> list[str]:
    from einsim.gpu.arch import ARCHS
    from studies.gpu_cases import library_plans
    from studies.gpu_holdout_cases import prefill_tiling_cases

    arch = ARCHS[card]
    plans = library_plans(False)
    lines = [f"# {group}: predicted on {arch.name} (ms): analytic law, SASS simulation"]
    by = defaultdict(list)
    for c in [c for c in prefill_tiling_cases(plans, False) if c.group == group]:
        a, s, p = _predictions(c, plans, arch)
        by[(c.B, c.H, c.N_KV, c.D, _launch(c.variant))].append((_family(c.variant), a, s, p))
        lines.append(f"{c.variant:<40} D{c.D:<4} analytic {a:7.3f}  simulated {s:7.3f}  by-programs {p:7.3f}  "
                     f"{c.B}x{c.H}x{c.N_KV}")  # fmt: skip
    lines.append("# order per head dim and launch (fastest first)")
    for (b, h, n, d, launch), rs in sorted(by.items()):
        for name, k in (("analytic", 1), ("simulated", 2), ("by-programs", 3)):
            order = " < ".join(r[0] for r in sorted(rs, key=lambda r: r[k]))
            lines.append(f"{b}x{h}x{n} D{d} {launch:<16} {name:<9}: {order}")
    return lines


def registered(path: Path) -> tuple[str | None, dict]:
    """The group of a committed `--predict` table (its header) and its (variant, D) -> (analytic ms,
    simulated ms, by-programs ms; None in tables written before v20, which had no such column)."""
    group, out = None, {}
    for line in path.read_text().splitlines():
        if h := re.match(r"# (\S+): predicted on", line):
            group = h.group(1)
        m = re.match(r"(\S+)\s+D(\d+)\s+analytic\s+([\d.]+)\s+simulated\s+([\d.]+)(?:\s+by-programs\s+([\d.]+))?", line)
        if m:
            p = float(m.group(5)) if m.group(5) else None
            out[(m.group(1), int(m.group(2)))] = (float(m.group(3)), float(m.group(4)), p)
    return group, out


def compare(records: list[dict], run: int | None, group: str, table: dict | None = None) -> list[str]:
    from einsim.gpu.arch import arch_for
    from studies.gpu_cases import library_plans
    from studies.gpu_validation import RANK_TIE, _misordered, group_run

    recs, why = group_run(records, group, run)
    if not recs:
        return [why]
    run = recs[0]["run"]
    missing = sorted({(r["variant"], r["D"]) for r in recs} - set(table)) if table is not None else []
    if missing:
        return [f"the --registered table has no prediction for {len(missing)} of run {run}'s `{group}` launches "
                f"(e.g. {missing[0][0]} at D={missing[0][1]}): give the table `--predict CARD --group {group}` "
                "wrote for this group"]  # fmt: skip
    plans = library_plans(False)
    arch = arch_for(recs[0]["card"])
    src = "as registered" if table is not None else "as the models are now"
    lines = [f"# {group}, run {run} ({recs[0]['card']}): measured ms against the prefill models ({src})"]
    rows = []
    for r in recs:
        c = _case(r, group)
        a, s, p = table[(r["variant"], r["D"])] if table is not None else _predictions(c, plans, arch)
        rows.append(((r["B"], r["H"], r["N"], r["D"]), _launch(r["variant"]), _family(r["variant"]), r["ms"], a, s, p))
        by_p = f"  by-programs {p:7.3f} ({p / r['ms'] - 1:+.0%})" if p is not None else ""
        lines.append(f"{r['variant']:<40} D{r['D']:<4} measured {r['ms']:7.3f}  analytic {a:7.3f} "
                     f"({a / r['ms'] - 1:+.0%})  simulated {s:7.3f} ({s / r['ms'] - 1:+.0%}){by_p}")  # fmt: skip
    models = (("analytic", 4), ("simulated", 5))
    models += (("by-programs", 6),) if all(r[6] is not None for r in rows) else ()
    for name, k in models:
        errs = [row[k] / row[3] - 1 for row in rows]
        within = sum(abs(e) <= 0.10 for e in errs)
        lines.append(f"{name:<9}: within ±10 % {within}/{len(errs)}, within ±25 % {sum(abs(e) <= 0.25 for e in errs)}"
                     f"/{len(errs)}, max |err| {max(map(abs, errs)):.0%}")  # fmt: skip
    # the variants of one launch, and the launches of one variant (which launch setting is fastest)
    for what, label, other in (("launches", 1, 2), ("variants", 2, 1)):
        by = defaultdict(list)
        for row in rows:
            by[(row[0], row[label])].append(row)
        for name, k in models:
            ok = 0
            for key, rs in sorted(by.items()):
                bad = _misordered([{"variant": r[other], "ms": r[3], "predicted_ms": r[k]} for r in rs], RANK_TIE)
                ok += not bad
                if bad:
                    lines.append(f"  {name}: {'x'.join(map(str, key[0]))} {key[1]} misorders {bad}")
            lines.append(f"{name:<9}: {ok} of {len(by)} {what} in measured order (within {RANK_TIE:.0%} tied)")
    return lines


#: H100/H200 shared-memory carve-outs (KB of the SM's 256 KB L1/shared-memory array); the rest is L1
CARVEOUTS_KB = (0, 8, 16, 32, 64, 100, 132, 164, 196, 228)


def _local_sectors(instructions, base: str) -> int:
    """32-byte sectors one warp moves through local memory per pass of `instructions` (its LDL or STL: 32
    lanes x 4, 8 or 16 bytes, lanes interleaved word by word, so a warp's access is contiguous and takes
    as many sectors as a lane has bytes)."""
    return sum(16 if ".128" in x.op else 8 if ".64" in x.op else 4 for x in instructions if x.base == base)


def _case(r: dict, group: str):
    """The benchmark case a record was measured as."""
    from studies.gpu_cases import Case

    return Case(r["variant"], r["B"], r["H"], r["G"], r["N_Q"], r["N"], r["D"], r["causal"], r["dtype"],
                r["cascade"], group, tiling=tuple(r["tiling"][:6]))  # fmt: skip


def spills(records: list[dict], run: int | None, group: str) -> list[str]:
    """Per kernel that spills registers (its K/V loop reloads them, `einsim.gpu.model.spills_in_loop`): the
    local-memory sectors Nsight Compute counted (loads, stores) against the compiled kernel's LDL/STL times
    the tiles and warps that run them, the loads' L1 hit rate, and the resident programs' stack frames
    against the L1 left beside shared memory (the smallest carve-out that holds their shared memory)."""
    from einsim.gpu.arch import arch_for
    from einsim.gpu.inspect import compile_report
    from einsim.gpu.model import mma_loop, predict
    from studies.gpu_cases import library_plans, record_tiling
    from studies.gpu_ncu import LOCAL_METRICS

    ld_m, hit_m, st_m = LOCAL_METRICS[:3]
    recs = [r for r in records if r.get("group") == group and any(ld_m in k for k in r.get("kernels", []))]
    run = run if run is not None else max((r["run"] for r in recs), default=None)
    recs = [r for r in recs if r["run"] == run]
    if not recs:
        return [f"no `{group}` records with local-memory counters (ncu's spill profile: run 54 on)"]
    plans = library_plans(False)
    arch = arch_for(recs[0]["card"])
    lines = [f"# {group}, run {run} ({recs[0]['card']}): spilling kernels, local-memory sectors (M) measured / "
             "compiled, L1 hit rate of the reloads, stack frames of the resident programs / L1 beside shared memory"]
    for r in recs:
        plan = next(p for f, p in plans.values() if f == r["cascade"])
        shape, t = _shape(_case(r, group)), record_tiling(r["tiling"])
        reports = compile_report(plan, shape, t)
        costs = predict(plan, shape, t, arch, reports).kernels
        for kc, rep, got in zip(costs, reports, r["kernels"]):
            if not rep.spill_stores:
                continue
            loop = mma_loop(rep.instructions)
            tiles = kc.score_points / (t.block_m * t.block_n)
            in_loop = {x.addr for x in loop}
            rest = [x for x in rep.instructions if x.addr not in in_loop]
            want = {b: (tiles * _local_sectors(loop, b) + kc.programs * _local_sectors(rest, b)) * rep.warps
                    for b in ("LDL", "STL")}  # fmt: skip
            ld, st = got[ld_m] or 0.0, got[st_m] or 0.0
            hit = (got[hit_m] or 0.0) / max(ld, 1.0)
            frames = rep.spill_stores * rep.warps * 32 * kc.ctas_per_sm
            carve = next(k for k in CARVEOUTS_KB if k * 1024 >= kc.ctas_per_sm * (rep.shared_bytes + 1024))
            lines.append(f"{r['variant']:<30} D{r['D']:<4} {rep.label:<26} {r['ms']:6.3f} ms  "
                         f"loads {ld / 1e6:6.1f}/{want['LDL'] / 1e6:6.1f}  "
                         f"stores {st / 1e6:6.1f}/{want['STL'] / 1e6:6.1f}  "
                         f"hit {hit:5.3f}  frames {frames // 1024:4d}/{256 - carve:3d} KB")  # fmt: skip
    return lines


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--predict", choices=("h100", "h200"), help="print the registered predictions for a card")
    ap.add_argument("--compare", action="store_true", help="hold the measured records against both models")
    ap.add_argument("--group", choices=GROUPS, default=GROUPS[0], help="which holdout")
    ap.add_argument("--run", type=int, default=None, help="benchmark run (default: the latest with the group)")
    ap.add_argument("--registered", default=None, help="take the predictions from this --predict table")
    ap.add_argument("--spills", action="store_true", help="the spilling kernels' local-memory counters (ncu)")
    ap.add_argument("--results", default=str(ROOT / "studies" / "results" / "gpu_benchmark.json"))
    args = ap.parse_args(argv)
    if not (args.predict or args.compare or args.spills):
        ap.error("give --predict CARD, --compare or --spills")
    if args.predict:
        print("\n".join(predict_table(args.predict, args.group)))
    if args.compare or args.spills:
        try:
            records = json.loads(Path(args.results).read_text())
        except (OSError, ValueError) as e:
            ap.error(f"--results {args.results}: cannot read the benchmark records ({e}); give gpu_benchmark.json")
    if args.compare:
        table = None
        if args.registered:
            try:
                group, table = registered(Path(args.registered))
            except OSError as e:
                ap.error(f"--registered {args.registered}: cannot read it ({e})")
            if not table:
                ap.error(f"--registered {args.registered} holds no prediction lines; give a table --predict wrote")
            if group != args.group:  # launch names recur across groups at other shapes
                ap.error(f"--registered {args.registered} predicts group {group}, not {args.group}: "
                         f"give --group {group} or the table of {args.group}")  # fmt: skip
        print("\n".join(compare(records, args.run, args.group, table)))
    if args.spills:
        print("\n".join(spills(records, args.run, args.group)))


if __name__ == "__main__":
    main()
