"""A named no-op kernel that separates cases in Nsight Compute's kernel list (studies/gpu_benchmark.py)."""

import triton
import triton.language as tl


@triton.jit
def einsim_ncu_marker(x):
    tl.store(x, 1.0)
