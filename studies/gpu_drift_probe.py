"""K/V re-reads of long single-head sequences under different launch configurations (v9): one call.

Run: `PYTHONUNBUFFERED=1 timeout 300 python3 studies/gpu_drift_probe.py --out $OUT`.
The GPU model counts K/V re-reads as lockstep waves of resident programs. Runs 4-12 found more: the D=64
pointer kernel (2 programs per SM) reads a 64 MiB K/V head ~1.9x per wave, and persistent programs drift
apart. This times every configuration of the 1-pass kernel at shapes whose K/V heads exceed the L2 share
and counts DRAM bytes with Nsight Compute (one profile each), beside the model's prediction, to find
which launch property the re-reads follow. Writes `gpu_drift_probe.json` under --out and prints a table.
"""

from __future__ import annotations

import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from studies.gpu_cases import (  # noqa: E402
    Case,
    one_pass_file,
    predict_case,
    probe_parser,
    save_probe,
    start_probe,
    time_case,
)
from studies.gpu_ncu import run_ncu  # noqa: E402

# Tiling fields: block_m, block_n, num_warps, num_stages, group_rows, lazy_rescale, tma, warp_specialize,
# splits, heavy_first, persistent
CONFIGS = {
    "ptr-bn64-8w": (128, 64, 8, 3, False, False, False, False, 0, True, 0),
    "ptr-bn64-4w": (128, 64, 4, 3, False, False, False, False, 0, True, 0),
    "ptr-bn128-8w": (128, 128, 8, 3, False, False, False, False, 0, True, 0),
    "ptr-bm64-4w": (64, 64, 4, 3, False, False, False, False, 0, True, 0),
    "lazy-bn64-8w": (128, 64, 8, 3, False, True, False, False, 0, True, 0),
    "ptr-bn64-8w-persist2": (128, 64, 8, 3, False, False, False, False, 0, True, 2),
    "ws": (128, 128, 4, 2, False, False, True, True, 0, True, 0),
    "ws-persist": (128, 128, 4, 2, False, False, True, True, 0, True, 1),
}
SHAPES = [
    (1, 1, 262144, 64, list(CONFIGS)),
    (1, 2, 131072, 64, ["ptr-bn64-8w", "ptr-bn64-4w", "lazy-bn64-8w", "ws"]),
    (1, 4, 65536, 128, ["ws", "ws-persist", "ptr-bn64-8w"]),
]


def main(argv=None) -> None:
    args = probe_parser(__doc__, 270.0).parse_args(argv)
    import torch

    from einsim.gpu.arch import arch_for

    t0 = time.time()
    env, plans = start_probe(args.out)
    arch = arch_for(env["card"])
    one = one_pass_file(plans)
    cases = [
        Case(f"1-pass-{name}", B, H, H, n, n, d, False, cascade=one, tiling=CONFIGS[name])
        for B, H, n, d, names in SHAPES
        for name in names
    ]
    recs = []
    for c in cases:
        rec = {"card": env["card"], "variant": c.variant, "B": c.B, "H": c.H, "N": c.N_KV, "D": c.D, "tiling": c.tiling}
        try:
            pr, _ = predict_case(c, plans, arch)
            rec.update(
                predicted_ms=pr.ms, predicted_dram_read_bytes=pr.dram_read_bytes, ctas_per_sm=pr.kernels[0].ctas_per_sm
            )
            if time.time() - t0 < 0.5 * args.budget_s:
                rec.update(time_case(c, plans, "cuda"))
        except Exception as e:  # noqa: BLE001
            rec["error"] = repr(e)[:300]
        torch.cuda.empty_cache()
        recs.append(rec)
        print(
            f"{c.variant:>26} {c.B}x{c.H} N={c.N_KV} D={c.D}: {rec.get('ms', 0):8.3f} ms "
            f"(pred {rec.get('predicted_ms', 0):.3f}) {rec.get('error', '')[:100]}",
            flush=True,
        )
    got = run_ncu({"drift": cases}, args.out, t0 + args.budget_s, False)
    for c, rec in zip(cases, recs):
        rec.update({k: v for k, v in got.get(c.key, {}).items() if k != "kernels"})
    save_probe(args.out, "gpu_drift_probe.json", env, recs)
    print(f"\n# {env['card']}: DRAM reads of the 1-pass kernel, measured vs lockstep waves (the model)")
    for rec in recs:
        kv = rec["N"] * rec["D"] * 2 * 2 * rec["H"]
        q = kv / 2
        rd, prd = rec.get("dram_read_bytes"), rec.get("predicted_dram_read_bytes")
        reads = f"{(rd - q) / kv:5.1f}" if rd else "    -"
        print(
            f"{rec['variant']:>26} {rec['B']}x{rec['H']} N={rec['N']} D={rec['D']}: {rec.get('ms', 0):8.3f} ms  "
            f"K/V read {reads}x (model {(prd - q) / kv:5.1f}x, {rec.get('ctas_per_sm')} programs/SM)"
        )


if __name__ == "__main__":
    main()
