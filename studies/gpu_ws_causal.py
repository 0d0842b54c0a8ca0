"""Warp specialization for causal kernels and host-side TMA descriptors (v6): check and time, one process.

Run on the lent GPU machine: `PYTHONUNBUFFERED=1 timeout 330 python3 studies/gpu_ws_causal.py --out $OUT`
(the JSON is rewritten after every entry, so a hang loses only that entry).
v5 ran causal tiles in the warp-specialized kernel and got wrong outputs: the causal mask used absolute
query rows `pid_m*BLOCK_M + arange`, which triton 3.6's data partitioning offsets twice in the second
consumer warpgroup (read in the TTGIR compiled for sm_90 on the CPU). v6 writes the mask with
tile-relative rows against one scalar. Each entry is checked (fresh random inputs, NaN-poisoned
output, relative Frobenius error against float64 ≤ 1e-2) and timed against the pointer kernel and SDPA cuDNN / flash.
Writes `gpu_ws_v6.json` under --out and prints a table. (v5's output is results/gpu_ws_causal.json.)
"""

from __future__ import annotations

import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("EINSIM_EXPERIMENTAL_WS", "1")  # causal warp specialization is what is checked here

from studies.gpu_cases import (  # noqa: E402
    Case,
    measure_entry,
    one_pass_file,
    print_cudnn_ratios,
    probe_parser,
    save_probe,
    start_probe,
)

# Tiling fields: block_m, block_n, num_warps, num_stages, group_rows, lazy_rescale, tma, warp_specialize
CONFIGS = {
    "pointer128": (128, 64, 8, 3, False, False, False, False),
    "pointer64": (128, 64, 4, 3, False, False, False, False),
    "ws": (128, 128, 4, 2, False, False, True, True),
}
# (B, H, N_Q, N_KV, D, causal, configs[, window]); the first run of v6 also tried host-side descriptors
# with the warp-specialized kernel: it hung the H200 at the first launch (4x16 4096 D=128), so they are
# gone. `--window` runs only the sliding-window entries (v6b: the band filter's lower bound).
SHAPES = [
    (4, 16, 4096, 4096, 128, True, ["pointer128", "ws"]),
    (1, 16, 16384, 16384, 128, True, ["pointer128", "ws"]),
    (4, 16, 1024, 4096, 128, True, ["pointer128", "ws"]),
    (4, 16, 4000, 4000, 128, True, ["pointer128", "ws"]),
    (16, 16, 1024, 1024, 128, True, ["pointer128", "ws"]),
    (4, 16, 4096, 4096, 128, False, ["ws"]),
    (4, 32, 4096, 4096, 64, True, ["pointer64", "ws"]),
    (1, 32, 16384, 16384, 64, True, ["pointer64", "ws"]),
    (4, 32, 4096, 4096, 64, False, ["pointer64", "ws"]),
    (1, 32, 16384, 16384, 64, False, ["pointer64", "ws"]),
    (4, 16, 4096, 4096, 128, False, ["ws"]),  # repeat: the spread within one process
]
WINDOW_SHAPES = [
    (1, 16, 16384, 16384, 128, True, ["pointer128", "ws"], 4096),
    (4, 16, 4096, 4096, 128, True, ["pointer128", "ws"], 1024),
    (4, 16, 4000, 4000, 128, True, ["pointer128", "ws"], 1000),  # ragged, W not a tile multiple
    (4, 16, 1024, 4096, 128, True, ["pointer128", "ws"], 300),  # chunked prefill, W < 3 tiles
    (1, 32, 16384, 16384, 64, True, ["pointer64", "pointer128", "ws"], 4096),
]


def main(argv=None) -> None:
    ap = probe_parser(__doc__, 400.0)
    ap.add_argument("--window", action="store_true", help="only the sliding-window entries")
    args = ap.parse_args(argv)
    t0 = time.time()
    env, plans = start_probe(args.out)
    files = {causal: one_pass_file(plans, causal) for causal in (False, True)}
    files["window"] = one_pass_file(plans, causal=True, window=True)
    shapes = WINDOW_SHAPES if args.window else [(*x, 0) for x in SHAPES]
    recs: list[dict] = []
    for si, (B, H, nq, nk, d, causal, cfgs, w) in enumerate(shapes):
        other = "sdpa-efficient" if w else "sdpa-flash"  # flash takes no mask
        entries = [("sdpa-cudnn", "sdpa-cudnn", None), (other, other, None)]
        entries += [(c, "1-pass", CONFIGS[c]) for c in cfgs]
        for name, variant, tiling in entries:
            if time.time() - t0 > args.budget_s:
                break
            f = files["window" if w else causal] if tiling else ""
            case = Case(variant, B, H, H, nq, nk, d, causal, cascade=f, tiling=tiling, window=w)
            recs.append(measure_entry(env, si, name, case, plans, "cuda", 7 + len(recs), t0, window_field=True))
            save_probe(args.out, "gpu_ws_v6_window.json" if args.window else "gpu_ws_v6.json", env, recs)
    print_cudnn_ratios(env["card"], recs)

if __name__ == "__main__":
    main()
