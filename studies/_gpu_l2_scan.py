"""The cyclic L2 scan of studies/gpu_l2_curve.py: a buffer of W bytes read `reps` times in order.

Program p reads item (p // READERS) mod n_items, one contiguous 8 KiB item (a K tile of 64 keys at D=64
in fp16), and stores the sum of its item. 32 warps per program: two programs fit an SM, so the front
of items in flight is about 2 x SMs items (~2 MiB), and the stack distance of every re-read is W.
"""

import triton
import triton.language as tl


@triton.jit
def einsim_l2_scan(x_ptr, out_ptr, n_items, ITEM: tl.constexpr, READERS: tl.constexpr):
    pid = tl.program_id(0)
    item = (pid // READERS) % n_items
    v = tl.load(x_ptr + item.to(tl.int64) * ITEM + tl.arange(0, ITEM))
    tl.store(out_ptr + pid, tl.sum(v.to(tl.float32), 0))
