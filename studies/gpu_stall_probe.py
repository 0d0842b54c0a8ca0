"""Where a lone program's loop iterations go: run once, under Nsight Compute, the kernels whose
iterations measured far slower than their work (notes_gpu.md, v10): linear attention's state and apply
kernels (one 8-warp program per SM) and the plain decode kernel (8 programs on 132 SMs).

Run: `ncu --clock-control none --section WarpStateStats --section SchedulerStats --section
ComputeWorkloadAnalysis --csv python3 studies/gpu_stall_probe.py > $OUT/stall.csv` on the lent GPU
(checked: outputs against float64 of the same inputs, printed to stderr). `--v11`: the D=64 linear
kernels and six decode launches instead (add `--metrics smsp__inst_executed.sum,sm__cycles_elapsed.max
--kernel-name regex:"linear|attn"` for the executed instruction counts).
"""

from __future__ import annotations

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def main() -> None:
    import torch

    import einsim
    from einsim.gpu.lower import lower
    from einsim.gpu.plan import Tiling
    from einsim.gpu.runtime import prepare

    lib = os.path.join(ROOT, "workloads", "cascades")
    g = torch.Generator(device="cuda").manual_seed(0)
    runs = [
        ("linear_attention.ein", (4, 16, 4096, 4096, 128), None),
        ("linear_attention_causal.ein", (4, 16, 4096, 4096, 128), None),
        ("cascade5_fa2.ein", (1, 8, 1, 65536, 128), Tiling(16, 64, 4, 5, group_rows=True)),
    ]
    if "--v11" in sys.argv:  # notes v11: the D=64 linear kernels and the decode settings the model misses
        runs = [
            ("linear_attention.ein", (4, 32, 4096, 4096, 64), None),
            ("linear_attention_causal.ein", (4, 32, 4096, 4096, 64), None),
            ("linear_attention_causal.ein", (4, 32, 4096, 4096, 64), Tiling(64, 64, 8, 3)),
            ("linear_attention_causal.ein", (4, 16, 4096, 4096, 128), None),
            *(
                ("cascade5_fa2.ein", (1, 8, 1, 65536, 128), Tiling(16, bn, 4, st, group_rows=True))
                for bn, st in ((128, 3), (128, 2), (128, 4), (64, 5), (32, 3), (64, 3))
            ),
        ]
    for name, (B, H, NQ, NK, D), t in runs:
        plan = lower(einsim.parse_file(os.path.join(lib, name)))
        q = torch.randn(B, H, NQ, D, device="cuda", generator=g, dtype=torch.bfloat16)
        k = torch.randn(B, H, NK, D, device="cuda", generator=g, dtype=torch.bfloat16)
        v = torch.randn(B, H, NK, D, device="cuda", generator=g, dtype=torch.bfloat16)
        run, _ = prepare(plan, q, k, v, t)
        out = run()
        torch.cuda.synchronize()
        print(f"# ran {name} {(B, H, NQ, NK, D)} finite={bool(torch.isfinite(out).all())}", file=sys.stderr)


if __name__ == "__main__":
    main()
