"""The 1-pass kernel against SDPA cuDNN and flash, measured in alternation (v9): one call on the lent GPU.

Run: `PYTHONUNBUFFERED=1 timeout 300 python3 studies/gpu_targets.py --out $OUT [--rounds 5]`.
Why: within one process the same kernel's do_bench median moves by up to 8 % with the card's clock and
power state (H100, v9: 592 then 544 TFLOP/s for one kernel a minute apart), so one timing per variant
makes a ratio to cuDNN depend on which ran when. Here every target shape (N ∈ {4K, 8K, 16K}, D ∈ {64,
128}, causal or not; bf16, B·N = 16K, H·D = 2048) times einsim's default 1-pass kernel, SDPA cuDNN and SDPA
flash in turn, `--rounds` times, on inputs made once per shape (checked once against float64); it
reports the median TFLOP/s of each and the median over rounds of the per-round ratios. Writes
`gpu_targets.json` under --out and prints the table.
`--launches tile,dealt,single,bm256` (notes v11, v13) adds the 1-pass kernel under other launches to the
alternation, as `1-pass@NAME`: a program per tile, or persistent programs dealt their jobs round-robin
(causal: pairs of query tiles; `single`: one tile at a time) (D=128), one 256-row 16-warp program per SM
(D=64); `fma` the rescale folded into an FMA after the PV product (`Tiling.pv_fma`, notes v18).
`--fa1` adds the FlashAttention-1 cascade (non-causal shapes) to the alternation as `1-pass-fa1`.
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from studies.gpu_cases import (  # noqa: E402
    Case,
    check,
    flops,
    make_fn,
    make_inputs,
    one_pass_file,
    probe_parser,
    save_probe,
    start_probe,
    time_in_turns,
)

VARIANTS = ("1-pass", "sdpa-cudnn", "sdpa-flash")
#: launch name -> (head dims it applies to, Tiling fields replaced in the default tiling)
LAUNCHES = {
    "tile": ((128,), {"persistent": 0}),
    "dealt": ((128,), {"persistent": 1}),
    "single": ((128,), {"persistent": 1, "paired": False}),
    "bm256": ((64,), {"block_m": 256, "num_warps": 16}),
    "fma": ((64, 128), {"pv_fma": True}),
}


def _launch_tiling(plans, cascade: str, B: int, H: int, n: int, d: int, name: str) -> tuple:
    from einsim.gpu.plan import Shape, choose_tiling

    plan = next(p for f, p in plans.values() if f == cascade)
    return dataclasses.astuple(dataclasses.replace(choose_tiling(plan, Shape(B, H, n, n, d)), **LAUNCHES[name][1]))


def main(argv=None) -> None:
    ap = probe_parser(__doc__, 270.0)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--launches", default="", help="comma-separated: " + ", ".join(LAUNCHES))
    ap.add_argument("--fa1", action="store_true", help="add the FA1 cascade (non-causal) to the alternation")
    ap.add_argument("--head-dims", default="64,128", help="comma-separated head dims to measure (64, 128)")
    args = ap.parse_args(argv)
    dims = [int(x) for x in args.head_dims.split(",") if x.strip().isdigit()]
    if not dims or set(dims) - {64, 128}:
        ap.error(f"--head-dims {args.head_dims!r}: comma-separated, from 64 and 128.")
    launches = [x for x in args.launches.split(",") if x]
    if unknown := [x for x in launches if x not in LAUNCHES]:
        ap.error(f"--launches: unknown {', '.join(unknown)}; choose from {', '.join(LAUNCHES)} (comma-separated).")
    import torch

    t0 = time.time()
    env, plans = start_probe(args.out)
    files = {causal: one_pass_file(plans, causal) for causal in (False, True)}
    shapes = [(n, d, causal) for d in dims for causal in (True, False) for n in (4096, 8192, 16384)]
    recs = []
    for n, d, causal in shapes:
        if time.time() - t0 > args.budget_s:
            break
        B, H = 16384 // n, 2048 // d
        cases = {v: Case(v, B, H, H, n, n, d, causal, cascade=files[causal] if v == "1-pass" else "") for v in VARIANTS}
        for name in (x for x in launches if d in LAUNCHES[x][0]):
            t = _launch_tiling(plans, files[causal], B, H, n, d, name)
            cases[f"1-pass@{name}"] = Case(f"1-pass@{name}", B, H, H, n, n, d, causal, cascade=files[causal], tiling=t)
        fa1 = plans.get("1-pass-fa1", (None,))[0]
        if args.fa1 and fa1 and not causal:
            cases["1-pass-fa1"] = Case("1-pass-fa1", B, H, H, n, n, d, causal, cascade=fa1)
        others = [v for v in cases if v not in VARIANTS]  # other launches and FA1, each held against the default
        rec = {"card": env["card"], "B": B, "H": H, "N": n, "D": d, "causal": causal, "dtype": "bf16", "ms": {}}
        try:
            rec["rel_err"] = {v: check(c, plans, "cuda", seed=3) for v, c in cases.items() if c.cascade}
            runs = {}
            for v, c in cases.items():
                q, k, v_ = make_inputs(c, 42, "cuda")
                runs[v] = make_fn(c, plans, q, k, v_)[0]
            rec["ms"] = time_in_turns(runs, "cuda", args.rounds)
            fl = flops(cases["1-pass"])
            rec["tflops"] = {v: fl / (statistics.median(ms) * 1e-3) / 1e12 for v, ms in rec["ms"].items()}
            for ref in ("sdpa-cudnn", "sdpa-flash"):
                ratios = [b / a for a, b in zip(rec["ms"]["1-pass"], rec["ms"][ref])]
                rec[f"ratio_{ref}"] = statistics.median(ratios)
                rec[f"ratio_{ref}_range"] = [min(ratios), max(ratios)]
            for v in others:  # over the default, per round
                rec[f"ratio_{v}"] = statistics.median(a / b for a, b in zip(rec["ms"]["1-pass"], rec["ms"][v]))
                rec[f"ratio_{v}_cudnn"] = statistics.median(
                    b / a for a, b in zip(rec["ms"][v], rec["ms"]["sdpa-cudnn"])
                )
            del runs
        except Exception as e:  # noqa: BLE001
            rec["error"] = repr(e)[:300]
        torch.cuda.empty_cache()
        recs.append(rec)
        tf = rec.get("tflops", {})
        print(
            f"D={d:3d} N={n:5d} causal={int(causal)}: 1-pass {tf.get('1-pass', 0):5.0f}  "
            f"cuDNN {tf.get('sdpa-cudnn', 0):5.0f}  flash {tf.get('sdpa-flash', 0):5.0f} TF/s | "
            f"x cuDNN {rec.get('ratio_sdpa-cudnn', 0):.2f} "
            f"{rec.get('ratio_sdpa-cudnn_range', '')}  x flash {rec.get('ratio_sdpa-flash', 0):.2f} "
            f"err {max(rec.get('rel_err', {}).values(), default=float('nan')):.1e} {rec.get('error', '')[:100]}",
            flush=True,
        )
        for v in (x for x in others if x in rec.get("ms", {})):
            print(
                f"    {v:>14}: {tf.get(v, 0):5.0f} TF/s, x default {rec.get(f'ratio_{v}', 0):.3f}, "
                f"x cuDNN {rec.get(f'ratio_{v}_cudnn', 0):.2f}",
                flush=True,
            )
        save_probe(args.out, "gpu_targets.json", env, recs, rounds=args.rounds)


if __name__ == "__main__":
    main()
