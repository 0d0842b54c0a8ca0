"""Warp specialization for causal and ragged 1-pass kernels (D=128): check and time, one process.

Run on the lent GPU machine: `PYTHONUNBUFFERED=1 python3 studies/gpu_ws_causal.py --out $OUT`.
The warp-specialized kernel now runs a single masked loop when tiles are masked (causal, N_KV not a
multiple of BLOCK_N), which compiles to 12 warps for sm_90 on the CPU. Here it is checked (fresh random
inputs, NaN-poisoned output, relative Frobenius error against float64 ≤ 1e-2) and timed against the
pointer kernel (BLOCK_N 64, 8 warps, 3 stages) and SDPA cuDNN / flash, on causal squares, chunked
prefill and ragged lengths. Writes `gpu_ws_causal.json` under --out and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from studies.gpu_benchmark import Case, bench, check, environment, flops, library_plans, make_fn, make_inputs  # noqa: E402

POINTER = (128, 64, 8, 3, False, False, False, False)
WS = (128, 128, 4, 2, False, False, True, True)
# (B, H, N_Q, N_KV, causal)
SHAPES = [(4, 16, 4096, 4096, True), (1, 16, 16384, 16384, True), (4, 16, 1024, 4096, True),
          (4, 16, 4000, 4000, False), (4, 16, 4096, 4096, False)]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.environ.get("OUT", "/tmp/einsim_gpu_out"))
    ap.add_argument("--budget-s", type=float, default=300.0)
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    import torch

    t0 = time.time()
    env = environment("cuda")
    print(f"# card: {env['card']}  torch {env['torch']}  triton {env['triton']}", flush=True)
    plans = library_plans(False)
    files = {causal: next(f for k, (f, p) in plans.items() if k[:3] == (1, causal, False) and not k[3])
             for causal in (False, True)}
    recs: list[dict] = []
    for B, H, nq, nk, causal in SHAPES:
        for name, variant, tiling in (("sdpa-cudnn", "sdpa-cudnn", None), ("sdpa-flash", "sdpa-flash", None),
                                      ("pointer", "1-pass", POINTER), ("ws", "1-pass", WS)):
            if time.time() - t0 > args.budget_s:
                break
            case = Case(variant, B, H, H, nq, nk, 128, causal, cascade=files[causal] if tiling else "", tiling=tiling)
            rec = {"card": env["card"], "name": name, "B": B, "H": H, "N_Q": nq, "N_KV": nk, "D": 128,
                   "causal": causal, "dtype": "bf16", "tiling": tiling}
            try:
                err = check(case, plans, "cuda", seed=7 + len(recs))
                rec.update(rel_err=err, correct=bool(err <= 1e-2))
                q, k, v = make_inputs(case, 42, "cuda")
                run, _ = make_fn(case, plans, q, k, v)
                ms = bench(run, "cuda")
                rec.update(ms=ms, tflops=flops(case) / (ms * 1e-3) / 1e12)
            except Exception as e:  # noqa: BLE001
                rec["error"] = repr(e)[:300]
            torch.cuda.empty_cache()
            recs.append(rec)
            with open(os.path.join(args.out, "gpu_ws_causal.json"), "w") as f:
                json.dump({"env": env, "records": recs}, f, indent=1, default=str)
    print(f"\n# {env['card']}: D=128 bf16, TFLOP/s (causal FLOPs halved), ratio to cuDNN")
    for B, H, nq, nk, causal in SHAPES:
        rs = [r for r in recs if (r["B"], r["N_Q"], r["N_KV"], r["causal"]) == (B, nq, nk, causal)]
        cud = next((r.get("tflops") for r in rs if r["name"] == "sdpa-cudnn"), None)
        for r in rs:
            tf = r.get("tflops")
            ratio = f"{tf / cud:.2f}x" if tf and cud else "-"
            ok = "" if r.get("correct", True) else "WRONG"
            print(f"{B}x{H} {nq}/{nk} causal={int(causal)} {r['name']:>10} "
                  f"{(tf or 0):6.0f} TF/s {ratio:>6} err {r.get('rel_err', float('nan')):.1e} {ok} "
                  f"{r.get('error', '')[:100]}")


if __name__ == "__main__":
    main()
