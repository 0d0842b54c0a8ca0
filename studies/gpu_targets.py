"""The 1-pass kernel against SDPA cuDNN and flash, measured in alternation (v9): one call on the lent GPU.

Run: `PYTHONUNBUFFERED=1 timeout 300 python3 studies/gpu_targets.py --out $OUT [--rounds 5]`.
Why: within one process the same kernel's do_bench median moves by up to 8 % with the card's clock and
power state (H100, v9: 592 then 544 TFLOP/s for one kernel a minute apart), so one timing per variant
makes a ratio to cuDNN depend on which ran when. Here every target shape (N ∈ {4K, 8K, 16K}, D ∈ {64,
128}, causal or not; bf16, B·N = 16K, H·D = 2048) times einsim's default 1-pass kernel, SDPA cuDNN and SDPA
flash in turn, `--rounds` times, on inputs made once per shape (checked once against float64); it
reports the median TFLOP/s of each and the median over rounds of the per-round ratios. Writes
`gpu_targets.json` under --out and prints the table.
"""

from __future__ import annotations

import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from studies.gpu_cases import (  # noqa: E402
    Case,
    bench,
    check,
    flops,
    make_fn,
    make_inputs,
    one_pass_file,
    probe_parser,
    save_probe,
    start_probe,
)

VARIANTS = ("1-pass", "sdpa-cudnn", "sdpa-flash")


def main(argv=None) -> None:
    ap = probe_parser(__doc__, 270.0)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args(argv)
    import torch

    t0 = time.time()
    env, plans = start_probe(args.out)
    files = {causal: one_pass_file(plans, causal) for causal in (False, True)}
    shapes = [(n, d, causal) for d in (64, 128) for causal in (False, True) for n in (4096, 8192, 16384)]
    recs = []
    for n, d, causal in shapes:
        if time.time() - t0 > args.budget_s:
            break
        B, H = 16384 // n, 2048 // d
        cases = {v: Case(v, B, H, H, n, n, d, causal, cascade=files[causal] if v == "1-pass" else "") for v in VARIANTS}
        rec = {"card": env["card"], "B": B, "H": H, "N": n, "D": d, "causal": causal, "dtype": "bf16", "ms": {}}
        try:
            rec["rel_err"] = check(cases["1-pass"], plans, "cuda", seed=3)
            runs = {}
            for v, c in cases.items():
                q, k, v_ = make_inputs(c, 42, "cuda")
                runs[v] = make_fn(c, plans, q, k, v_)[0]
            for r in range(args.rounds):
                order = VARIANTS if r % 2 == 0 else VARIANTS[::-1]  # alternate who goes first
                for v in order:
                    rec["ms"].setdefault(v, []).append(bench(runs[v], "cuda"))
            fl = flops(cases["1-pass"])
            rec["tflops"] = {v: fl / (statistics.median(ms) * 1e-3) / 1e12 for v, ms in rec["ms"].items()}
            for ref in ("sdpa-cudnn", "sdpa-flash"):
                ratios = [b / a for a, b in zip(rec["ms"]["1-pass"], rec["ms"][ref])]
                rec[f"ratio_{ref}"] = statistics.median(ratios)
                rec[f"ratio_{ref}_range"] = [min(ratios), max(ratios)]
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
            f"err {rec.get('rel_err', float('nan')):.1e} {rec.get('error', '')[:100]}",
            flush=True,
        )
        save_probe(args.out, "gpu_targets.json", env, recs, rounds=args.rounds)


if __name__ == "__main__":
    main()
