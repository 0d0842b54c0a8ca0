"""D=128 tuning of the 1-pass kernel: candidate kernel options against SDPA cuDNN and flash, one process.

Run on the lent GPU machine:
    PYTHONUNBUFFERED=1 python3 studies/gpu_tune_d128.py --out $OUT
For D=128 (and D=64 as a check) at N=4K and 16K, bf16, B·N=16K, H·D=2048, non-causal: every candidate
`Tiling` of the 1-pass cascade (pointer loads vs TMA descriptors, BLOCK_N 64/128, 8 warps vs triton's
Hopper warp specialization with 4 warps per partition, stages) is checked (fresh random inputs, output
poisoned with NaN, relative Frobenius error against float64 from the same rounded inputs ≤ 1e-2) and
timed (`triton.testing.do_bench` median); SDPA cuDNN and flash are timed in the same process.
Writes `gpu_tune_d128.json` under --out after every record (a crash keeps what was measured) and
prints a table last. Risky variants (warp specialization) run last.
"""

from __future__ import annotations

import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("EINSIM_EXPERIMENTAL_WS", "1")  # measure the (wrong) warp-specialized kernel too

from studies.gpu_cases import Case, check, one_pass_file, probe_parser, save_probe, start_probe, time_case  # noqa: E402

# (name, Tiling fields: block_m, block_n, num_warps, num_stages, group_rows, lazy, tma, warp_specialize)
CANDIDATES = {
    128: [
        ("base", (128, 64, 8, 3, False, False, False, False)),
        ("tma", (128, 64, 8, 3, False, False, True, False)),
        ("tma-bn128-s2", (128, 128, 8, 2, False, False, True, False)),
        ("tma-s4", (128, 64, 8, 4, False, False, True, False)),
        ("ws-tma-s2", (128, 64, 4, 2, False, False, True, True)),
        ("ws-tma-s3", (128, 64, 4, 3, False, False, True, True)),
        ("ws-tma-bn128-s2", (128, 128, 4, 2, False, False, True, True)),
    ],
    64: [
        ("base", (128, 64, 4, 3, False, False, False, False)),
        ("tma", (128, 64, 4, 3, False, False, True, False)),
        ("ws-tma-s3", (128, 64, 4, 3, False, False, True, True)),
        ("ws-tma-bn128-s2", (128, 128, 4, 2, False, False, True, True)),
    ],
}
SHAPES = [4096, 16384]


def main(argv=None) -> None:
    args = probe_parser(__doc__, 380.0).parse_args(argv)
    import torch

    t0 = time.time()
    env, plans = start_probe(args.out)
    one = one_pass_file(plans)
    recs: list[dict] = []

    def save():
        save_probe(args.out, "gpu_tune_d128.json", env, recs)

    jobs = []
    for d in (128, 64):
        for n in SHAPES:
            jobs += [(d, n, v, None) for v in ("sdpa-cudnn", "sdpa-flash")]
            jobs += [(d, n, "1-pass", c) for c in CANDIDATES[d] if not c[1][7]]
    for d in (128, 64):  # warp-specialized candidates last
        for n in SHAPES:
            jobs += [(d, n, "1-pass", c) for c in CANDIDATES[d] if c[1][7]]
    for d, n, variant, cand in jobs:
        if time.time() - t0 > args.budget_s:
            recs.append({"D": d, "N": n, "variant": variant, "name": cand[0] if cand else variant, "skipped": "budget"})
            continue
        B, H = 16384 // n, 2048 // d
        case = Case(
            variant,
            B,
            H,
            H,
            n,
            n,
            d,
            False,
            cascade=one if cand else "",
            tiling=cand[1] if cand else None,
        )
        rec = {
            "card": env["card"],
            "torch": env["torch"],
            "triton": env["triton"],
            "variant": variant,
            "name": cand[0] if cand else variant,
            "tiling": cand[1] if cand else None,
            "B": B,
            "H": H,
            "N": n,
            "D": d,
            "causal": False,
            "dtype": "bf16",
        }
        try:
            ts = time.time()
            err = check(case, plans, "cuda", seed=100 + len(recs))
            rec["compile_check_s"] = round(time.time() - ts, 1)
            rec["rel_err"] = err
            rec["correct"] = bool(err <= 1e-2)
            rec.update(time_case(case, plans, "cuda"))
        except Exception as e:  # noqa: BLE001
            rec["error"] = repr(e)[:400]
        torch.cuda.empty_cache()
        rec["t_s"] = round(time.time() - t0, 1)
        recs.append(rec)
        save()
        tf = f"{rec['tflops']:.0f}" if rec.get("tflops") else "-"
        print(
            f"{rec['t_s']:>5.0f}s D={d:<3} N={n:<5} {rec['name']:>16} {rec.get('ms', float('nan')):8.3f} ms "
            f"{tf:>4} TF/s err {rec.get('rel_err', float('nan')):.1e} {rec.get('error', '')[:120]}",
            flush=True,
        )
    env["nvidia_smi_after"] = __import__("studies.gpu_benchmark", fromlist=["smi"]).smi()
    save()
    print(f"\n# summary ({env['card']}): TFLOP/s and ratio to SDPA cuDNN / flash, same process")
    for d in (128, 64):
        for n in SHAPES:
            rs = [r for r in recs if r["D"] == d and r["N"] == n and r.get("tflops")]
            cud = next((r["tflops"] for r in rs if r["name"] == "sdpa-cudnn"), None)
            fl = next((r["tflops"] for r in rs if r["name"] == "sdpa-flash"), None)
            for r in rs:
                rc = f"{r['tflops'] / cud:.2f}x cudnn" if cud else ""
                rf = f"{r['tflops'] / fl:.2f}x flash" if fl else ""
                ok = "" if r.get("correct", True) else " WRONG"
                print(f"D={d:<3} N={n:<5} {r['name']:>16} {r['ms']:.3f} ms {r['tflops']:.0f} TF/s {rc} {rf}{ok}")
            for r in recs:
                if r["D"] == d and r["N"] == n and not r.get("tflops"):
                    print(f"D={d:<3} N={n:<5} {r['name']:>16} FAILED {r.get('error', r.get('skipped', ''))[:160]}")


if __name__ == "__main__":
    main()
