"""The SM <- L2 read ceiling, measured: every program streams an L2-resident buffer (a ceiling for the GPU model).

einsim.gpu.arch's `l2_read_bw` (the rate at which SMs can stream K/V tiles out of the L2) was fitted to one
kernel, the max-only pass of benchmark run 1. Query tiles of 64 rows stream every K/V tile twice as often as
tiles of 128; run 46 (notes_gpu.md v17) timed such launches 31-88 % faster than that rate allows. This
probe measures the ceiling directly: P programs (2-16 per SM) each read the whole of a buffer of S bytes
(BLOCK elements per iteration, 16 B per lane per load, bypassing L1: `.cg`), starting at staggered
offsets, with S inside the L2's flat part (einsim.gpu.arch.l2_hit_curve). Bytes = P x S; time by
`triton.testing.do_bench` (median); Nsight Compute is not needed: the first pass over the buffer is
the only DRAM traffic (S bytes against P x S).

    python3 studies/gpu_l2_bandwidth.py --out $OUT        # on the lent GPU; prints a table, writes JSON
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def measure(out: Path) -> dict:
    import torch
    import triton
    import triton.language as tl

    @triton.jit
    def l2_stream(src, dst, n_chunks, BLOCK: tl.constexpr):
        pid = tl.program_id(0)
        offs = tl.arange(0, BLOCK)
        acc = tl.zeros([BLOCK], dtype=tl.float32)
        for i in range(n_chunks):
            c = (i + pid) % n_chunks  # staggered: programs read different lines at a time
            acc += tl.load(src + c * BLOCK + offs, cache_modifier=".cg").to(tl.float32)
        tl.store(dst + pid * BLOCK + offs, acc)

    from studies.gpu_cases import environment

    env = environment("cuda")
    sms = torch.cuda.get_device_properties(0).multi_processor_count
    rows = []
    for size_mib in (8, 16):
        n = size_mib * 1024 * 1024 // 2  # bf16 elements
        src = torch.randn(n, device="cuda", dtype=torch.bfloat16)
        for per_sm, warps, block in [(p, 8, b) for p in (2, 4, 8) for b in (2048, 8192, 16384)] + [(16, 4, 8192)]:
            if True:  # a program keeps BLOCK x 2 bytes of loads in flight per iteration
                programs = sms * per_sm
                dst = torch.empty(programs * block, device="cuda", dtype=torch.float32)
                chunks = n // block

                def run(programs=programs, src=src, dst=dst, chunks=chunks, block=block, warps=warps):
                    l2_stream[(programs,)](src, dst, chunks, BLOCK=block, num_warps=warps)

                ms = triton.testing.do_bench(run, warmup=10, rep=50, return_mode="median")
                bw = programs * n * 2 / (ms * 1e-3)
                rows.append(dict(size_mib=size_mib, programs_per_sm=per_sm, warps=warps, ms=ms, bytes_per_s=bw))
                print(f"S={size_mib:>3} MiB  {per_sm} programs/SM  {warps} warps  {ms:8.3f} ms  {bw / 1e12:6.2f} TB/s",
                      flush=True)  # fmt: skip
    res = {"card": env["card"], "env": env, "rows": rows, "max_bytes_per_s": max(r["bytes_per_s"] for r in rows)}
    out.mkdir(parents=True, exist_ok=True)
    (out / "l2_bandwidth.json").write_text(json.dumps(res, indent=1))
    print(f"# {env['card']}: SM <- L2 read ceiling {res['max_bytes_per_s'] / 1e12:.2f} TB/s")
    return res


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.environ.get("OUT", "/tmp/einsim_l2_bandwidth"))
    args = ap.parse_args(argv)
    measure(Path(args.out))


if __name__ == "__main__":
    main()
