"""Triton kernels of kernelized linear attention (einsim.gpu.linear).

Input: Q [B, H, N_Q, D], K and V [B, H, N_KV, D] (strided), the feature map as a `@triton.jit` function.
Output: O [B, H, N_Q, D]. Partial states live in fp32 buffers PKV [B·H, SLOTS, D, D] and PZ [B·H, SLOTS, D].
- `linear_state_kernel`, one program per (batch·head, key chunk): maps a chunk's K tiles through the
  feature map (rows past N_KV contribute 0), accumulates KV = Σ φ(K)ᵀ V and Z = Σ φ(K) in fp32 and writes
  them as the chunk's partial state (slot = chunk).
- `linear_scan_kernel`, one program per (batch·head, state row e): loads row e of up to CHUNK_BLOCK chunk
  states at once; slot NCHUNK gets their total, and (causal, not TOTAL_ONLY) the chunks' slots their
  exclusive prefix sums (tl.cumsum).
- non-causal: `linear_apply_kernel`, a few programs per batch·head, each loading the total state once and
  looping over every num_programs-th query tile: O = φ(Q) KV / (φ(Q) · Z).
- causal: `linear_causal_apply_kernel`, one program per (query tile, batch·head): the keys
  m < a = ⌊(p0 + HI + 1) / CHUNK⌋·CHUNK are seen by every row of the tile (p0 its first row; query p sees
  m <= p + HI), so their sum is the prefix state of slot a / CHUNK; the keys a <= m < p0 + BLOCK_M + HI
  (under CHUNK + BLOCK_M of them) are added exactly, as φ(Q)·φ(K)ᵀ masked to m <= p + HI, times V. The
  prefix state enters STATE_ROWS rows at a time, and the window products take their operands in the
  input dtype (φ rounded to it, as FlashAttention rounds P): at D=128 the kernel then fits its registers
  (200 per thread, no spills; 255 with spills either way otherwise).
The state products accumulate in fp32 (tf32 tensor cores on the GPU). Importing this module imports triton.
"""

from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def _kv_tile(k_ptr, v_ptr, rows, end, skn, svn):
    """The K and V rows `rows` of one head (zeros from row `end` on)."""
    ok = (rows < end)[:, None]
    k = tl.load(k_ptr + rows[:, None] * skn, mask=ok, other=0.0)
    return k, tl.load(v_ptr + rows[:, None] * svn, mask=ok, other=0.0)


@triton.jit
def linear_state_kernel(
    K, V, PKV, PZ, skb, skh, skn, svb, svh, svn, H, N_KV, CHUNK, SLOTS,
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
    k_ptr = K + b * skb + h * skh + offs_d[None, :]
    v_ptr = V + b * svb + h * svh + offs_d[None, :]
    lo = s * CHUNK
    end = tl.minimum(lo + CHUNK, N_KV)
    # the feature map between load and product keeps triton from pipelining these loads: the next tile's
    # are issued by hand before this tile's work (register double buffering)
    k_next, v_next = _kv_tile(k_ptr, v_ptr, lo + offs_n, end, skn, svn)
    for start in range(lo, end, BLOCK_N):
        rows = start + offs_n
        k = k_next
        v = v_next
        k_next, v_next = _kv_tile(k_ptr, v_ptr, rows + BLOCK_N, end, skn, svn)
        fk = tl.where((rows < N_KV)[:, None], FEATURE_FN(k.to(tl.float32)), 0.0)
        # the product in the input dtype (φ(K) rounded to it, fp32 accumulation): wgmma takes transposed
        # 16-bit operands from shared memory
        kv = tl.dot(tl.trans(fk.to(V.dtype.element_ty)), v, kv)
        z += tl.sum(fk, 0)
    at = bh * SLOTS + s
    tl.store(PKV + at * HEAD_DIM * HEAD_DIM + offs_d[:, None] * HEAD_DIM + offs_d[None, :], kv)
    tl.store(PZ + at * HEAD_DIM + offs_d, z)


@triton.jit
def linear_apply_kernel(
    Q, O, PKV, PZ, sqb, sqh, sqm, sob, soh, som, H, N_Q, SLOT,
    HEAD_DIM: tl.constexpr, BLOCK_M: tl.constexpr, FEATURE_FN: tl.constexpr,
):  # fmt: skip
    pid = tl.program_id(0)
    bh = tl.program_id(1)
    b = bh // H
    h = bh % H
    offs_d = tl.arange(0, HEAD_DIM)
    at = bh * SLOT + SLOT - 1  # the total state (the scan's last slot), loaded once for all the program's tiles
    kv = tl.load(PKV + at * HEAD_DIM * HEAD_DIM + offs_d[:, None] * HEAD_DIM + offs_d[None, :])
    z = tl.load(PZ + at * HEAD_DIM + offs_d)
    q_ptr = Q + b * sqb + h * sqh + offs_d[None, :]
    for m0 in range(pid * BLOCK_M, N_Q, tl.num_programs(0) * BLOCK_M):
        rows = m0 + tl.arange(0, BLOCK_M)
        q = tl.load(q_ptr + rows[:, None] * sqm, mask=(rows < N_Q)[:, None], other=0.0)
        fq = FEATURE_FN(q.to(tl.float32))
        num = tl.dot(fq, kv)
        den = tl.sum(fq * z[None, :], 1)
        o = num / tl.where(den == 0.0, 1.0, den)[:, None]
        o_ptr = O + b * sob + h * soh + rows[:, None] * som + offs_d[None, :]
        tl.store(o_ptr, o.to(O.dtype.element_ty), mask=(rows < N_Q)[:, None])


@triton.jit
def linear_scan_kernel(
    PKV, PZ, NCHUNK, SLOTS, HEAD_DIM: tl.constexpr, CHUNK_BLOCK: tl.constexpr, TOTAL_ONLY: tl.constexpr
):
    bh = tl.program_id(0)
    e = tl.program_id(1)
    offs_c = tl.arange(0, CHUNK_BLOCK)
    offs_f = tl.arange(0, HEAD_DIM)
    run = tl.zeros([HEAD_DIM], dtype=tl.float32)
    run_z = tl.sum(tl.zeros([CHUNK_BLOCK], dtype=tl.float32), 0)
    for c0 in range(0, NCHUNK, CHUNK_BLOCK):
        cs = c0 + offs_c
        ok = cs < NCHUNK
        at = bh * SLOTS + cs
        kv_ptr = PKV + at[:, None] * HEAD_DIM * HEAD_DIM + e * HEAD_DIM + offs_f[None, :]
        x = tl.load(kv_ptr, mask=ok[:, None], other=0.0)
        z_ptr = PZ + at * HEAD_DIM + e
        z = tl.load(z_ptr, mask=ok, other=0.0)
        if not TOTAL_ONLY:
            tl.store(kv_ptr, tl.cumsum(x, 0) - x + run[None, :], mask=ok[:, None])
            tl.store(z_ptr, tl.cumsum(z, 0) - z + run_z, mask=ok)
        run += tl.sum(x, 0)
        run_z += tl.sum(z, 0)
    last = bh * SLOTS + NCHUNK
    tl.store(PKV + last * HEAD_DIM * HEAD_DIM + e * HEAD_DIM + offs_f, run)
    tl.store(PZ + last * HEAD_DIM + e, run_z)


@triton.jit
def linear_causal_apply_kernel(
    Q, K, V, O, PKV, PZ, sqb, sqh, sqm, skb, skh, skn, svb, svh, svn, sob, soh, som, H, N_Q, N_KV, HI, CHUNK, SLOTS,
    HEAD_DIM: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, FEATURE_FN: tl.constexpr,
    STATE_ROWS: tl.constexpr,
):  # fmt: skip
    pid_m = tl.program_id(0)
    bh = tl.program_id(1)
    b = bh // H
    h = bh % H
    offs_d = tl.arange(0, HEAD_DIM)
    offs_n = tl.arange(0, BLOCK_N)
    p0 = pid_m * BLOCK_M
    rows = p0 + tl.arange(0, BLOCK_M)
    ok = rows < N_Q
    q_ptr = Q + b * sqb + h * sqh + rows[:, None] * sqm
    a = ((p0 + HI + 1) // CHUNK) * CHUNK  # keys below a are seen by every row: the prefix state of slot a / CHUNK
    at = bh * SLOTS + a // CHUNK
    # the prefix state in fp32 (tf32), STATE_ROWS of its D rows at a time (the D x D state never sits in
    # registers whole); num and den carry a factor 1 / HEAD_DIM, which cancels in num / den
    num = tl.zeros([BLOCK_M, HEAD_DIM], dtype=tl.float32)
    den = tl.zeros([BLOCK_M], dtype=tl.float32)
    offs_r = tl.arange(0, STATE_ROWS)
    for e0 in tl.static_range(0, HEAD_DIM, STATE_ROWS):
        fq = FEATURE_FN(tl.load(q_ptr + e0 + offs_r[None, :], mask=ok[:, None], other=0.0).to(tl.float32))
        fq = fq * (1.0 / HEAD_DIM)
        kv = tl.load(PKV + at * HEAD_DIM * HEAD_DIM + (e0 + offs_r)[:, None] * HEAD_DIM + offs_d[None, :])
        num = tl.dot(fq, kv, num)
        den += tl.sum(fq * tl.load(PZ + at * HEAD_DIM + e0 + offs_r)[None, :], 1)
    # the window's products run in the input dtype, like FlashAttention's P·V (fp32 accumulation), with the
    # same 1 / HEAD_DIM, which keeps the scores in fp16 range
    fq_in = FEATURE_FN(tl.load(q_ptr + offs_d[None, :], mask=ok[:, None], other=0.0).to(tl.float32))
    fq_in = fq_in.to(K.dtype.element_ty)
    end = tl.minimum(p0 + BLOCK_M + HI, N_KV)
    k_ptr = K + b * skb + h * skh + offs_d[None, :]
    v_ptr = V + b * svb + h * svh + offs_d[None, :]
    k_next, v_next = _kv_tile(k_ptr, v_ptr, a + offs_n, end, skn, svn)
    for start in range(a, end, BLOCK_N):
        cols = start + offs_n
        k = k_next
        v = v_next
        k_next, v_next = _kv_tile(k_ptr, v_ptr, cols + BLOCK_N, end, skn, svn)  # issued before this tile's work
        fk = FEATURE_FN(k.to(tl.float32)).to(K.dtype.element_ty)
        s = tl.dot(fq_in, tl.trans(fk)) * (1.0 / HEAD_DIM)
        s = tl.where((cols[None, :] <= rows[:, None] + HI) & (cols < N_KV)[None, :], s, 0.0)
        num = tl.dot(s.to(V.dtype.element_ty), v, num)
        den += tl.sum(s, 1)
    o = num / tl.where(den == 0.0, 1.0, den)[:, None]
    tl.store(O + b * sob + h * soh + rows[:, None] * som + offs_d[None, :], o.to(O.dtype.element_ty), mask=ok[:, None])
