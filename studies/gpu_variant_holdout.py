"""The fifth GPU holdout (group `variants-e`, notes_gpu.md v22): every einsim prefill variant at the launch
einsim chooses, at shapes no run had timed, registered before it ran and then held against the measurement.

Input: the group's cases (studies/gpu_holdout_cases.py, VARIANT_SHAPES_E) and, for `--compare`, their
records in studies/results/gpu_benchmark.json (`gpu_benchmark.py --only variants-e` on the lent GPU).
Output: `--predict CARD` prints, per einsim case, the predicted time and DRAM bytes (einsim.gpu.model with
the compiled kernels, as the benchmark records them) and, per shape, the predicted order of the variants;
committed before the run, that table is the registration. `--compare` prints each record's measured time
and DRAM bytes against the registered table (or the model as it is now), how many are within ±10 % and
±25 % (time) and ±10 % (bytes), and per shape whether the variants are in measured order (pairs measured
within 3 % count as tied), with the 1-pass kernel's throughput over SDPA flash and cuDNN beside it.

    python studies/gpu_variant_holdout.py --predict h100|h200          # before the run
    python studies/gpu_variant_holdout.py --compare [--run N] [--registered TABLE]   # after it
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

GROUP = "variants-e"
_LINE = re.compile(r"(\S+)\s+(\d+)x(\d+)/(\d+)\s+N(\d+)\s+D(\d+)\s+c(\d)\s+ms\s+([\d.]+)\s+dram_MB\s+([\d.]+)")


def _key(variant: str, B: int, H: int, G: int, N: int, D: int, causal: bool) -> tuple:
    return (variant, B, H, G, N, D, int(causal))


def _rkey(r: dict) -> tuple:
    return _key(r["variant"], r["B"], r["H"], r["G"], r["N"], r["D"], r["causal"])


def predict_table(card: str) -> list[str]:
    from einsim.gpu.arch import ARCHS
    from studies.gpu_cases import benchmark_launch, library_plans, predict_case
    from studies.gpu_holdout_cases import variant_holdout_cases

    arch = ARCHS[card]
    plans = library_plans(False)
    lines = [f"# {GROUP}: predicted on {arch.name}: ms and DRAM MB per einsim case (launch einsim chooses)"]
    by = defaultdict(list)
    for c in variant_holdout_cases(plans, False):
        if not c.cascade:
            continue
        c.tiling = benchmark_launch(c, {})  # the launch the benchmark runs (D=64: einsim's, not tuned)
        pr, _ = predict_case(c, plans, arch)
        shape = (c.B, c.H, c.G, c.N_KV, c.D, int(c.causal))
        by[shape].append((pr.ms, c.variant))
        lines.append(f"{c.variant:<20} {c.B}x{c.H}/{c.G} N{c.N_KV} D{c.D} c{int(c.causal)}  ms {pr.ms:8.4f}  "
                     f"dram_MB {pr.dram_bytes / 1e6:9.1f}")  # fmt: skip
    lines.append("# predicted order per shape (fastest first)")
    for (b, h, g, n, d, causal), rs in sorted(by.items()):
        lines.append(f"{b}x{h}/{g} N{n} D{d} c{causal}: " + " < ".join(v for _, v in sorted(rs)))
    return lines


def registered(path: Path) -> dict:
    """A `--predict` table: (variant, B, H, G, N, D, causal) -> (ms, DRAM bytes)."""
    out = {}
    for line in path.read_text().splitlines():
        if m := _LINE.match(line):
            v, *ints, ms, mb = m.groups()
            out[_key(v, *map(int, ints))] = (float(ms), float(mb) * 1e6)
    return out


def compare(records: list[dict], run: int | None, table: dict | None) -> list[str]:
    from studies.gpu_validation import RANK_TIE, _misordered, current_prediction, group_run

    recs, why = group_run(records, GROUP, run)
    if not recs:
        return [why]
    run = recs[0]["run"]
    mine = [r for r in recs if r.get("cascade")]
    if table is not None:
        missing = [r for r in mine if _rkey(r) not in table]
        if missing:
            m = missing[0]
            return [f"the --registered table has no prediction for {len(missing)} of run {run}'s records (e.g. "
                    f"{m['variant']} {m['B']}x{m['H']}/{m['G']} N{m['N']} D{m['D']}): give the table "
                    "`--predict CARD` wrote for this group"]  # fmt: skip
    src = "as registered" if table is not None else "as the model is now"
    lines = [f"# {GROUP}, run {run} ({recs[0]['card']}): measured against the model ({src})"]
    t_err, b_err, shapes, plans = [], [], defaultdict(list), {}
    for r in mine:
        k = _rkey(r)
        if table is not None:
            ms, dram = table[k]
        else:  # the model as it is now, for the launch the record ran (the lowered plans cached in `plans`)
            pr = current_prediction(r, plans)
            ms, dram = pr.ms, pr.dram_bytes
        meas = r["dram_read_bytes"] + r["dram_write_bytes"] if r.get("dram_read_bytes") is not None else None
        t_err.append(ms / r["ms"] - 1)
        b_err += [dram / meas - 1] if meas else []
        shapes[k[1:]].append({"variant": r["variant"], "ms": r["ms"], "predicted_ms": ms})
        db = f"DRAM MB {meas / 1e6:8.1f} pred {dram / 1e6:8.1f} ({dram / meas - 1:+.1%})" if meas else "DRAM -"
        lines.append(f"{r['variant']:<20} {r['B']}x{r['H']}/{r['G']} N{r['N']:<6} D{r['D']:<4} c{int(r['causal'])}  "
                     f"ms {r['ms']:7.3f} pred {ms:7.3f} ({ms / r['ms'] - 1:+.1%})  {db}")  # fmt: skip
        at_run = r.get("predicted_ms")
        if at_run and abs(at_run / ms - 1) > 0.01:  # the benchmark predicted the launch it ran, at run time
            lines.append(f"    the benchmark's own prediction at run time, for the launch it ran ({r['tiling'][:4]}): "
                         f"{at_run:7.3f} ({at_run / r['ms'] - 1:+.1%})")  # fmt: skip
    lines.append(
        f"time: within ±10 % {sum(abs(e) <= 0.10 for e in t_err)}/{len(t_err)}, within ±25 % "
        f"{sum(abs(e) <= 0.25 for e in t_err)}/{len(t_err)}, max |err| {max(map(abs, t_err)):.1%}; DRAM bytes: "
        f"within ±10 % {sum(abs(e) <= 0.10 for e in b_err)}/{len(b_err)}"
    )
    ok = 0
    for shape, rs in sorted(shapes.items()):
        bad = _misordered(rs, RANK_TIE)
        ok += not bad
        order = " < ".join(r["variant"] for r in sorted(rs, key=lambda r: r["ms"]))
        lines.append(f"  {shape[0]}x{shape[1]}/{shape[2]} N{shape[3]} D{shape[4]} c{shape[5]}: measured {order}"
                     + (f"; misordered {bad}" if bad else ""))  # fmt: skip
    lines.append(f"variants in measured order (within {RANK_TIE:.0%} tied): {ok} of {len(shapes)} shapes")
    for shape in sorted(shapes):
        got = {r["variant"]: r for r in recs if (r["B"], r["H"], r["G"], r["N"], r["D"], int(r["causal"])) == shape}
        one = got.get("1-pass") or got.get("1-pass-gqa")
        if one and one.get("tflops"):
            ratios = [f"x {v} {one['tflops'] / got[v]['tflops']:.2f}" for v in ("sdpa-flash", "sdpa-cudnn")
                      if got.get(v, {}).get("tflops")]  # fmt: skip
            lines.append(f"  1-pass {shape[0]}x{shape[1]}/{shape[2]} N{shape[3]} D{shape[4]} c{shape[5]}: "
                         f"{one['tflops']:.0f} TFLOP/s  " + "  ".join(ratios))  # fmt: skip
    return lines


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--predict", choices=("h100", "h200"), help="print the predictions to register for a card")
    ap.add_argument("--compare", action="store_true", help="hold the measured records against the model")
    ap.add_argument("--run", type=int, default=None, help="benchmark run (default: the latest with the group)")
    ap.add_argument("--registered", default=None, help="take the predictions from this --predict table")
    ap.add_argument("--results", default=str(ROOT / "studies" / "results" / "gpu_benchmark.json"))
    args = ap.parse_args(argv)
    if not (args.predict or args.compare):
        ap.error("give --predict CARD or --compare")
    if args.predict:
        print("\n".join(predict_table(args.predict)))
    if args.compare:
        try:
            records = json.loads(Path(args.results).read_text())
        except (OSError, ValueError) as e:
            ap.error(f"--results {args.results}: cannot read the benchmark records ({e}); give gpu_benchmark.json")
        table = None
        if args.registered:
            try:
                table = registered(Path(args.registered))
            except OSError as e:
                ap.error(f"--registered {args.registered}: cannot read it ({e})")
            if not table:
                ap.error(f"--registered {args.registered} holds no prediction lines; give a table --predict wrote")
        print("\n".join(compare(records, args.run, table)))


if __name__ == "__main__":
    main()
