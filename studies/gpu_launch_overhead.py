"""Are short multi-pass launches bound by the host? do_bench against CUDA-graph replay and host submit time.

Why. The 3-pass GQA decode at 16x32/8, N=4096, D=128 measured 0.140-0.157 ms in twelve H200 runs and
0.217-0.220 ms in runs 40 and 41 (H200), with the model at 0.139 ms; the 1-pass at that shape stayed at
0.075 ms. A pass kernel of it moves ~180 MB in ~45 µs, about what a Triton launch costs the host, so
the benchmark's time may be the host's. Per case this prints: the do_bench median (as the benchmark times
it), the median of `triton.testing.do_bench_cudagraph` (the same launches replayed from a CUDA graph: no
host work), and the host's time per call (`run()` submitted 200 times without synchronizing).

    PYTHONUNBUFFERED=1 timeout 200 python3 studies/gpu_launch_overhead.py --out $OUT     # GPU
"""

from __future__ import annotations

import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

#: (variant, cascade file, B, H, G, N_Q, N_KV, D): decode cases of the benchmark's decode group
CASES = [
    ("1-pass-gqa-decode", "gqa_fa2.ein", 16, 32, 8, 1, 4096, 128),
    ("3-pass-gqa-decode", "gqa_3pass.ein", 16, 32, 8, 1, 4096, 128),
    ("3-pass-gqa-decode", "gqa_3pass.ein", 16, 32, 8, 1, 16384, 128),
]


def measure(out: str) -> None:
    import torch
    import triton

    import einsim
    from einsim.gpu.lower import lower
    from einsim.gpu.runtime import prepare
    from studies.gpu_cases import Case, environment, host_ms_per_call, make_inputs

    os.makedirs(out, exist_ok=True)
    env = environment("cuda")
    print(f"# card: {env['card']}  torch {env['torch']}  triton {env['triton']}")
    print("variant               shape                 do_bench ms  cuda-graph ms  host ms/call")
    recs = []
    for variant, f, B, H, G, NQ, NK, D in CASES:
        plan = lower(einsim.parse_file(os.path.join(ROOT, "workloads", "cascades", f)))
        q, k, v = make_inputs(Case(variant, B, H, G, NQ, NK, D, False), 0, "cuda")
        run, _ = prepare(plan, q, k, v)
        run()
        torch.cuda.synchronize()
        bench = float(triton.testing.do_bench(run, warmup=25, rep=100, return_mode="median"))
        graph = float(triton.testing.do_bench_cudagraph(run, rep=100, return_mode="median"))
        host = host_ms_per_call(run, 200)
        shape = f"{B}x{H}/{G} {NQ}/{NK} D{D}"
        print(f"{variant:<21} {shape:<21} {bench:11.4f}  {graph:13.4f}  {host:12.4f}")
        recs.append({"variant": variant, "B": B, "H": H, "G": G, "N_Q": NQ, "N": NK, "D": D,
                     "do_bench_ms": bench, "cudagraph_ms": graph, "host_ms_per_call": host,
                     "kernels": len(plan.kernels)})  # fmt: skip
    json.dump({"env": env, "records": recs}, open(os.path.join(out, "launch_overhead.json"), "w"), indent=1)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.environ.get("OUT", "/tmp/einsim_gpu_out"))
    measure(ap.parse_args(argv).out)


if __name__ == "__main__":
    main()
