"""The tile body of the Triton pass skeleton (einsim.gpu.kernels): one K/V tile of a query tile.

Input: the running state of a program (accumulator, row max, row sum) and one tile's coordinates.
Output: the updated state. `_tile` loads K (and V), forms the scores, applies the score function and
the band mask (`_masked`), and does the pass's exponent, sums, normalization and PV product as its
constexpr flags say (see einsim.gpu.kernels for the flags); `_row_heads` maps tile rows to (head,
query). Importing this module imports triton.
"""

from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def _row_heads(hp, rows, R, N_Q, GROUP_ROWS: tl.constexpr):
    """(query head, query index) of each tile row of head program hp: stacked groups put the R heads
    of K/V head hp on the rows (N_Q rows each); else the program is one head and rows are queries."""
    if GROUP_ROWS:
        return hp * R + rows // N_Q, rows % N_Q
    return hp + rows * 0, rows


#: PTX: into u32 `c`, the warpgroup of this thread counted from the block's second-to-last one (the block's
#: last two warpgroups are a warp-specialized launch's consumers: 0 and 1; the producer below: negative, as
#: unsigned a large value). Shared by the phase probe (einsim.gpu.kernels' `_consumer`) and the barriers below
CONSUMER_PTX = (
    ".reg .u32 c, n; mov.u32 c, %tid.x; mov.u32 n, %ntid.x; shr.u32 c, c, 7; shr.u32 n, n, 7; sub.u32 c, c, n; "
    "add.u32 c, c, 2; "
)
#: PTX prologue of the ping-pong barriers: `c` as above, `p` whether the thread is a consumer. Named barriers
#: 8 + c are the consumers' turns (triton's own code uses 0-3), each phase completed by 256 threads: one
#: warpgroup waiting (bar.sync) and the other arriving (bar.arrive). Barriers count threads, not warpgroups, so
#: every thread must pass each barrier instruction once: the helpers take a row vector of the 64-row consumer
#: layout, two rows per thread, and handle both in one instance (pack=2).
_PP_WHO = CONSUMER_PTX + ".reg .u32 b; .reg .pred p, q; setp.lt.u32 p, c, 2; "
_PP_WAIT = tl.constexpr("{ " + _PP_WHO + "add.u32 b, c, 8; @p bar.sync b, 256; mov.b32 $0, $2; mov.b32 $1, $3; }")
_PP_END = tl.constexpr("{ " + _PP_WHO + "sub.u32 b, 9, c; @p bar.arrive b, 256; mov.b32 $0, $2; mov.b32 $1, $3; }")
_PP_BEGIN = tl.constexpr(
    "{ " + _PP_WHO + "setp.ne.and.u32 p, $4, 0, p; add.u32 b, c, 8; setp.eq.and.u32 q, c, 1, p; "
    "@q bar.arrive 8, 256; @p bar.sync b, 256; mov.b32 $0, $2; mov.b32 $1, $3; }"
)
_PP_CLOSE = tl.constexpr(
    "{ " + _PP_WHO + "setp.ne.and.u32 p, $4, 0, p; sub.u32 b, 9, c; @p bar.arrive b, 256; "
    "setp.eq.and.u32 q, c, 0, p; @q bar.sync 8, 256; mov.b32 $0, 0f3F800000; mov.b32 $1, 0f3F800000; }"
)


@triton.jit
def _pp_wait_turn(x, after):
    """`x`, once this consumer warpgroup's turn has come (bar.sync 8 + c: the other warpgroup ended its turn),
    and not before `after` is ready (the end of the softmax). Ping-pong scheduling (FlashAttention-3): the
    two consumer warpgroups issue their wgmmas in turns, so one's softmax runs under the other's products."""
    return tl.inline_asm_elementwise(_PP_WAIT, "=r,=r,r,r,r,r", [x, after], dtype=tl.float32, is_pure=False, pack=2)


@triton.jit
def _pp_end_turn(x):
    """`x`, after this consumer warpgroup has ended its turn (bar.arrive at the other's barrier 9 - c)."""
    return tl.inline_asm_elementwise(_PP_END, "=r,=r,r,r", [x], dtype=tl.float32, is_pure=False, pack=2)


@triton.jit
def _pp_begin(x, first):
    """`x`; where `first` (int32, nonzero: the program's first job) the turns begin: the second warpgroup gives
    the first its turn (arrives at barrier 8), then each waits for its own. Turns then run on across the
    program's jobs (a job's last PV product and the next job's first score product are one turn)."""
    return tl.inline_asm_elementwise(_PP_BEGIN, "=r,=r,r,r,r,r", [x, first], dtype=tl.float32, is_pure=False,
                                     pack=2)  # fmt: skip


@triton.jit
def _pp_close(x, last):
    """1.0 per element of `x` (opaque to the compiler); where `last` (int32, nonzero: the program's last job)
    the last turn ends (arrive at the other's barrier) and the first warpgroup takes the second's last
    arrival, so every arrival is matched when the program ends."""
    return tl.inline_asm_elementwise(_PP_CLOSE, "=r,=r,r,r,r,r", [x, last], dtype=tl.float32, is_pure=False,
                                     pack=2)  # fmt: skip


@triton.jit
def _masked(
    s,
    cols,
    offs_n,
    p_idx,
    start_n,
    n_kv,
    band_hi,
    band_lo,
    CAUSAL: tl.constexpr,
    WINDOW: tl.constexpr,
    ROW_TILE: tl.constexpr,
):
    """Scores outside the band band_lo <= col - p <= band_hi (CAUSAL: the upper bound, WINDOW: the
    lower bound) or past N_KV become -inf.

    With an upper bound, every real query row (p < N_Q, whose band the runtime checked to reach a key)
    is limited to col < N_KV by the runtime's check, so one compare per bound suffices (padding rows past
    N_Q are never stored). The scalar offset goes to the columns, never to the rows: triton 3.6's Hopper
    data partitioning offsets `scalar + arange` rows twice in the second consumer warpgroup
    (studies/notes_gpu.md, v6). ROW_TILE (warp-specialized kernels only): the loop-invariant [rows, cols]
    tile `offs_n - p_idx` is hoisted out of the loop; in the pointer kernel that costs ~20 registers per
    thread, 1 instead of 2 programs per SM at D=64 (28 % slower, run 4).
    """
    if ROW_TILE:
        # warp-specialized kernels: a loop-invariant (offs_n - rows) tile against one scalar per tile
        # (9 % faster on the H200 than the column form; the consumers have registers to spare)
        d = offs_n[None, :] - p_idx[:, None]
        if CAUSAL:
            valid = d <= band_hi - start_n
        else:
            valid = cols[None, :] < n_kv
        if WINDOW:
            valid = valid & (d >= band_lo - start_n)
    else:
        if CAUSAL:
            valid = (cols - band_hi)[None, :] <= p_idx[:, None]
        else:
            valid = cols[None, :] < n_kv
        if WINDOW:
            valid = valid & ((cols - band_lo)[None, :] >= p_idx[:, None])
    return tl.where(valid, s, float("-inf"))


@triton.jit
def _tile(
    acc,
    m_i,
    l_i,
    inv_l,
    q,
    k_src,
    v_src,
    skn,
    skd,
    svn,
    svd,
    start_n,
    offs_n,
    offs_d,
    p_idx,
    n_kv,
    band_hi,
    band_lo,
    qk_scale,
    MASK: tl.constexpr,
    ROW_TILE: tl.constexpr,
    CAUSAL: tl.constexpr,
    WINDOW: tl.constexpr,
    ONLINE: tl.constexpr,
    DO_EXP: tl.constexpr,
    DO_SUM: tl.constexpr,
    DO_PV: tl.constexpr,
    DIV_IN_LOOP: tl.constexpr,
    SCORE_FN: tl.constexpr,
    HAS_SCORE_FN: tl.constexpr,
    LAZY_RESCALE: tl.constexpr,
    TMA: tl.constexpr,
    NORM_EACH: tl.constexpr = False,
    PV_FMA: tl.constexpr = False,
    PINGPONG: tl.constexpr = False,
):
    cols = start_n + offs_n
    if TMA:
        # a TMA load of the [BLOCK_N, D] tile through the head's descriptor; rows past N_KV read as 0
        k = k_src.load([start_n, 0]).T
    else:
        k_ptrs = k_src + cols[None, :] * skn + offs_d[:, None] * skd
        if MASK:
            k = tl.load(k_ptrs, mask=cols[None, :] < n_kv, other=0.0)
        else:
            k = tl.load(k_ptrs)
    qk = tl.dot(q, k)
    # s * sc is the score in log2 units; without a score function the scale is folded into the
    # exponent's FMA and applied to the row max after the reduction (qk_scale > 0)
    if HAS_SCORE_FN:
        s = SCORE_FN(qk * qk_scale) * 1.4426950408889634
        sc = 1.0
    else:
        s = qk
        sc = qk_scale
    if MASK:
        s = _masked(s, cols, offs_n, p_idx, start_n, n_kv, band_hi, band_lo, CAUSAL, WINDOW, ROW_TILE)
    if ONLINE:
        if PINGPONG:  # the products issued in this warpgroup's turn are done (its scores): the other's turn
            m_new = tl.maximum(m_i, _pp_end_turn(tl.max(s, 1)) * sc)
        else:
            m_new = tl.maximum(m_i, tl.max(s, 1) * sc)
        if DO_EXP:
            if LAZY_RESCALE:
                # keep a stale max until some row's max grows by more than TAU (2^8): results are
                # the same up to rounding, and most tiles skip the rescale of l and acc
                grow = tl.where(m_new > m_i, m_new - m_i, 0.0)
                if tl.max(grow, 0) > 8.0:
                    m_safe = tl.where(m_new == float("-inf"), 0.0, m_new)
                    alpha = tl.math.exp2(m_i - m_safe)
                    l_i = l_i * alpha
                    if DO_PV:
                        acc = acc * alpha[:, None]
                    m_i = m_new
                m_use = tl.where(m_i == float("-inf"), 0.0, m_i)
                p = tl.math.exp2(s * sc - m_use[:, None])
                if DO_SUM:
                    l_i = l_i + tl.sum(p, 1)
            else:
                m_safe = tl.where(m_new == float("-inf"), 0.0, m_new)
                alpha = tl.math.exp2(m_i - m_safe)
                p = tl.math.exp2(s * sc - m_safe[:, None])
                if PINGPONG:
                    # FA1's factor un-normalizes by the old sum; once the softmax is done (the new row sum),
                    # wait for this warpgroup's turn before the rescale and the PV product
                    l_old = l_i
                    l_i = l_i * alpha + tl.sum(p, 1)
                    rescale = _pp_wait_turn(alpha, l_i)
                    if NORM_EACH:
                        rescale = rescale * l_old
                    acc = acc * rescale[:, None]
                else:
                    if DO_PV:
                        if NORM_EACH:
                            # FA1: the output stays normalized: un-normalize by the old sum, rescale (the
                            # division by the new sum follows the PV product)
                            acc = acc * (alpha * l_i)[:, None]
                        elif not PV_FMA:
                            acc = acc * alpha[:, None]
                    if DO_SUM:
                        l_i = l_i * alpha + tl.sum(p, 1)
                m_i = m_new
        else:
            p = s
            m_i = m_new
    else:
        p = tl.math.exp2(s * sc - m_i[:, None])
        if DO_SUM:
            l_i = l_i + tl.sum(p, 1)
        if DIV_IN_LOOP:
            p = p * inv_l[:, None]
    if DO_PV:
        if TMA:
            v = v_src.load([start_n, 0])
        else:
            v_ptrs = v_src + cols[:, None] * svn + offs_d[None, :] * svd
            if MASK:
                v = tl.load(v_ptrs, mask=cols[:, None] < n_kv, other=0.0)
            else:
                v = tl.load(v_ptrs)
        if PV_FMA:
            # the tile's product into a fresh accumulator, then one FMA per element rescales the running
            # numerator and adds it: the rescale no longer sits between the softmax and the PV wgmma
            acc = tl.fma(acc, alpha[:, None], tl.dot(p.to(v.dtype), v))
        else:
            acc = tl.dot(p.to(v.dtype), v, acc)
        if NORM_EACH:
            # one reciprocal per row, a multiply per element (a full fp32 division per element cost 20 %
            # at D=64 on the H100, run 14)
            acc = acc * (1.0 / tl.where(l_i == 0.0, 1.0, l_i))[:, None]
    return acc, m_i, l_i
