"""Triton kernels of kernelized linear attention (einsim.gpu.linear): a state pass and an apply pass.

Input: Q [B, H, N_Q, D], K and V [B, H, N_KV, D] (strided), the feature map as a `@triton.jit` function.
Output: O [B, H, N_Q, D]. `linear_state_kernel` runs one program per (batch·head, key chunk): it maps a
chunk's K tiles through the feature map (rows past N_KV contribute 0), accumulates KV = Σ φ(K)ᵀ V and
Z = Σ φ(K) in fp32 and writes them as the chunk's partial state. `linear_apply_kernel` runs one program
per (query tile, batch·head): it sums the partial states, maps its Q tile and writes
O = φ(Q) KV / (φ(Q) · Z). The products accumulate in fp32 (tf32 tensor cores on the GPU).
Importing this module imports triton.
"""

from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def linear_state_kernel(
    K, V, PKV, PZ, skb, skh, skn, svb, svh, svn, H, N_KV, CHUNK,
    HEAD_DIM: tl.constexpr, BLOCK_N: tl.constexpr, FEATURE_FN: tl.constexpr,
):  # fmt: skip
    bh = tl.program_id(0)
    s = tl.program_id(1)
    b = bh // H
    h = bh % H
    offs_d = tl.arange(0, HEAD_DIM)
    offs_n = tl.arange(0, BLOCK_N)
    kv = tl.zeros([HEAD_DIM, HEAD_DIM], dtype=tl.float32)
    z = tl.zeros([HEAD_DIM], dtype=tl.float32)
    for start in range(s * CHUNK, tl.minimum(s * CHUNK + CHUNK, N_KV), BLOCK_N):
        rows = start + offs_n
        ok = rows < N_KV
        k = tl.load(K + b * skb + h * skh + rows[:, None] * skn + offs_d[None, :], mask=ok[:, None], other=0.0)
        v = tl.load(V + b * svb + h * svh + rows[:, None] * svn + offs_d[None, :], mask=ok[:, None], other=0.0)
        fk = tl.where(ok[:, None], FEATURE_FN(k.to(tl.float32)), 0.0)
        kv = tl.dot(tl.trans(fk), v.to(tl.float32), kv)
        z += tl.sum(fk, 0)
    at = bh * tl.num_programs(1) + s
    tl.store(PKV + at * HEAD_DIM * HEAD_DIM + offs_d[:, None] * HEAD_DIM + offs_d[None, :], kv)
    tl.store(PZ + at * HEAD_DIM + offs_d, z)


@triton.jit
def linear_apply_kernel(
    Q, O, PKV, PZ, sqb, sqh, sqm, sob, soh, som, H, N_Q, NSPLIT,
    HEAD_DIM: tl.constexpr, BLOCK_M: tl.constexpr, FEATURE_FN: tl.constexpr,
):  # fmt: skip
    pid_m = tl.program_id(0)
    bh = tl.program_id(1)
    b = bh // H
    h = bh % H
    offs_d = tl.arange(0, HEAD_DIM)
    rows = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    ok = rows < N_Q
    kv = tl.zeros([HEAD_DIM, HEAD_DIM], dtype=tl.float32)
    z = tl.zeros([HEAD_DIM], dtype=tl.float32)
    for s in range(NSPLIT):
        at = bh * NSPLIT + s
        kv += tl.load(PKV + at * HEAD_DIM * HEAD_DIM + offs_d[:, None] * HEAD_DIM + offs_d[None, :])
        z += tl.load(PZ + at * HEAD_DIM + offs_d)
    q = tl.load(Q + b * sqb + h * sqh + rows[:, None] * sqm + offs_d[None, :], mask=ok[:, None], other=0.0)
    fq = FEATURE_FN(q.to(tl.float32))
    num = tl.dot(fq, kv)
    den = tl.sum(fq * z[None, :], 1)
    o = num / tl.where(den == 0.0, 1.0, den)[:, None]
    tl.store(O + b * sob + h * soh + rows[:, None] * som + offs_d[None, :], o.to(O.dtype.element_ty), mask=ok[:, None])
