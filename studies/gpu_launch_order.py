"""Launch order and persistent launches (v9): check and time, one process, on the lent GPU.

Run: `PYTHONUNBUFFERED=1 timeout 420 python3 studies/gpu_launch_order.py --out $OUT` (the JSON is
rewritten after every entry, so a hang loses only that entry).
Two launch options of `einsim.gpu.plan.Tiling`, against the default kernels and SDPA cuDNN / flash:
- `heavy_first` (causal): query tiles launch last-first, so the programs with the most K/V tiles start
  first and the short ones fill the end (FlashAttention-2's order); `-fwd` entries launch first-first.
- `persistent=1`: one program per SM loops over the (query tile, head) jobs; the per-program work of
  a launch (Q load, descriptors, O store) is then paid per job but without the scheduler's gaps.
Each entry is checked (fresh random bf16 inputs, NaN-poisoned output, relative Frobenius error against
float64 ≤ 1e-2) and timed (do_bench median). Writes `gpu_launch_order.json` under --out; prints a table.
"""

from __future__ import annotations

import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from studies.gpu_cases import (  # noqa: E402
    Case,
    measure_entry,
    one_pass_file,
    print_cudnn_ratios,
    probe_parser,
    save_probe,
    start_probe,
)

# Tiling fields: block_m, block_n, num_warps, num_stages, group_rows, lazy_rescale, tma, warp_specialize,
# splits, heavy_first, persistent
WS = (128, 128, 4, 2, False, False, True, True, 0)
PTR = (128, 64, 8, 3, False, False, False, False, 0)
CONFIGS = {
    "ws": (*WS, True, 0),
    "ws-fwd": (*WS, False, 0),
    "ws-persist": (*WS, True, 1),
    "ws-persist-fwd": (*WS, False, 1),
    "ptr": (*PTR, True, 0),
    "ptr-fwd": (*PTR, False, 0),
}
# (B, H, N_Q, N_KV, D, causal, configs); "fa1:" configs run flash_attention1.ein with that tiling
FA1_SHAPES = [
    (4, 16, 4096, 4096, 128, False, ["ws-persist", "fa1:ws-persist", "ws", "fa1:ws"]),
    (2, 16, 8192, 8192, 128, False, ["ws-persist", "fa1:ws-persist"]),
    (1, 16, 16384, 16384, 128, False, ["ws-persist", "fa1:ws-persist"]),
    (4, 16, 4096, 4096, 128, False, ["fa1:ws-persist", "ws-persist"]),  # repeats, order reversed
    (4, 32, 4096, 4096, 64, False, ["ptr", "fa1:ptr"]),
]
SHAPES = [
    (4, 16, 4096, 4096, 128, False, ["ws", "ws-persist"]),
    (4, 16, 4096, 4096, 128, True, ["ws", "ws-fwd", "ws-persist", "ws-persist-fwd"]),
    (1, 16, 16384, 16384, 128, False, ["ws", "ws-persist"]),
    (1, 16, 16384, 16384, 128, True, ["ws", "ws-fwd", "ws-persist", "ws-persist-fwd"]),
    (2, 16, 8192, 8192, 128, True, ["ws", "ws-fwd", "ws-persist"]),
    (4, 16, 4000, 4000, 128, True, ["ws", "ws-persist"]),  # ragged
    (16, 16, 1024, 1024, 128, False, ["ws", "ws-persist"]),
    (4, 32, 4096, 4096, 64, True, ["ptr", "ptr-fwd"]),
    (1, 32, 16384, 16384, 64, True, ["ptr", "ptr-fwd"]),
    (4, 16, 4096, 4096, 128, False, ["ws-persist", "ws"]),  # repeats: the spread within one process
    (4, 16, 4096, 4096, 128, True, ["ws-persist", "ws-fwd", "ws"]),
]


def main(argv=None) -> None:
    ap = probe_parser(__doc__, 380.0)
    ap.add_argument("--interpret", action="store_true", help="tiny shapes in triton's interpreter (a dry run)")
    ap.add_argument("--fa1", action="store_true", help="FlashAttention-1 against the FA2 1-pass, D=128 (v9)")
    args = ap.parse_args(argv)
    shapes, dev, dtype = (FA1_SHAPES if args.fa1 else SHAPES), "cuda", "bf16"
    if args.interpret:
        os.environ["TRITON_INTERPRET"] = "1"
        shapes, dev, dtype = [(1, 2, 256, 256, 64, True, ["ws", "ws-fwd", "ws-persist", "ptr"])], "cpu", "fp16"
        if args.fa1:
            shapes = [(1, 2, 256, 256, 64, False, ["ptr", "fa1:ptr", "fa1:ws-persist"])]
    t0 = time.time()
    env, plans = start_probe(args.out, dev)
    files = {causal: one_pass_file(plans, causal) for causal in (False, True)}
    recs: list[dict] = []
    for si, (B, H, nq, nk, d, causal, cfgs) in enumerate(shapes):
        entries = [] if args.interpret else [("sdpa-cudnn", "sdpa-cudnn", None), ("sdpa-flash", "sdpa-flash", None)]
        entries += [(c, "1-pass", CONFIGS[c.removeprefix("fa1:")]) for c in cfgs]
        for name, variant, tiling in entries:
            if time.time() - t0 > args.budget_s:
                break
            f = ("flash_attention1.ein" if name.startswith("fa1:") else files[causal]) if tiling else ""
            case = Case(variant, B, H, H, nq, nk, d, causal, cascade=f, tiling=tiling, dtype=dtype)
            recs.append(measure_entry(env, si, name, case, plans, dev, 11 + len(recs), t0))
            save_probe(args.out, "gpu_launch_order_fa1.json" if args.fa1 else "gpu_launch_order.json", env, recs)
    print_cudnn_ratios(env["card"], recs)


if __name__ == "__main__":
    main()
