"""Triton kernels for lowered attention cascades: one parameterized pass skeleton.

Input: a `PassKernel` of a `KernelPlan` (einsim.gpu.lower) turned into `tl.constexpr` flags by
einsim.gpu.runtime. Output: one launch per pass; every pass streams the key/value rank M in tiles of
BLOCK_N for a tile of BLOCK_M query rows, and differs only in what it computes per tile:

- ONLINE: loop-carried running max (the iterative rank of a 1-pass cascade, RM) with rescaling of the
  running sum (RD) and the running numerator (RNV) by exp(RM_old - RM_new);
- READ_M: the row max is complete (computed by an earlier pass, read from global memory); a pass
  that is neither ONLINE nor READ_M exponentiates unshifted (max-free cascades);
- DO_EXP / DO_SUM / DO_PV: exp of the shifted score, its sum over M, its product with V summed over M
  (a MAC-reduction, so a `tl.dot`);
- DIV_IN_LOOP: divide every score by the complete row sum (3-pass `A = SN / SD`) before the PV dot;
- DIV_OUT: divide the output once after the loop (deferred division, `AV = SNV / SD`);
- CAUSAL / WINDOW: the band filter `BAND_LO <= m - p <= BAND_HI` (causal: the upper bound, BAND_HI =
  M - P for `m <= p + (M - P)`; a sliding window adds the lower one): masked tiles are masked, tiles
  outside the band are skipped;
- GROUP_ROWS: GQA/decode: the R query heads sharing one K/V head are stacked as tile rows, so one
  program streams its K/V head once for all of them;
- SCORE_FN: a user-defined element-wise operator on the scaled score, a `@triton.jit` function;
- NORM_EACH: (online passes, FA1) keep the running output normalized: every tile un-normalizes it by
  the old sum and divides by the new one (F·P divisions per tile instead of one deferred division).
- LAZY_RESCALE: (online passes) rescale the running sum and numerator only when a row max grows by
  more than 2^8 (FA4's conditional rescaling; exact up to rounding).
- TMA: load K and V tiles through device-side tensor descriptors (`tl.make_tensor_descriptor`, Hopper
  TMA) instead of pointer tiles; needs unit inner strides and triton's allocator (set by the runtime).
- WARP_SPEC: ask triton to warp-specialize the unmasked K/V loop (`tl.range(..., warp_specialize=True)`;
  with TMA, one pass, no masked tile); O is then stored through a descriptor. Experimental: its first
  form was miscompiled on the H200 (studies/notes_gpu.md, v3), the runtime refuses it by default.

- REVERSE_M: launch query tiles last-first (causal: the tiles with the most K/V tiles start first).
- PERSISTENT: a fixed grid of programs, each looping over (query tile, head program) jobs dealt round-robin.
- PAIR_M: (persistent, causal, an even number of query tiles) a job is a pair of query tiles (i, n - 1 - i)
  of one head program, heavy one first: equal jobs, so round-robin keeps the programs in step.
- TIMELINE: (per-tile launches without warp specialization; a probe) each program writes a row of
  `TIMELINE_FIELDS` int64 to TL: its SM (%smid), %globaltimer (ns) at entry, before K/V tile
  k * ceil(tiles / 8) of its unmasked loop for k = 0..7, after the loop and after the epilogue — where
  each program was and when, for einsim.gpu.l2sim.replay (studies/gpu_timeline_probe.py). TIMELINE = 2
  writes the SM, entry and exit only: the K/V loop compiles as without the probe. TIMELINE = 3
  (warp-specialized launches, per tile or persistent; a probe) writes, for each query tile (job) and each
  K/V tile of its loop, each consumer warpgroup's SM clock (%clock64, read by every thread) as the tile
  starts to its BLOCK_M slots of TL[job, tile, 2 x BLOCK_M]: where the two consumer warpgroups stand against
  each other (studies/gpu_ws_phase.py). The slots go by thread index, not by row: triton 3.6's data
  partitioning leaves in each consumer's loop a copy of the row tensors over all BLOCK_M rows, and the probe
  on it wrote every row from both warpgroups.
- STAGGER: (warp-specialized loops; an experiment) the second consumer warpgroup spins STAGGER SM cycles per
  row element a thread holds (two) before each job's K/V loop (negative: before each persistent program's
  first job only), to start the two warpgroups apart (the SASS simulation's conflict-free state, notes_gpu.md
  v25); the K/V loop itself compiles as without it.
- PINGPONG: (warp-specialized online 1-pass loops) FlashAttention-3's ping-pong schedule: the two consumer
  warpgroups take turns on the tensor cores through two named barriers (einsim.gpu.tile's `_pp_*`): a turn
  is one warpgroup's PV product of a tile and its score product of the next; the other's softmax runs under
  it. The turns begin at a program's first job, the first warpgroup's products first, and run on across its
  jobs; its last job closes them, every arrival matched (checked over every interleaving of the consumer
  warps: tests/gpu/test_pingpong.py). An experiment, measured slower (notes_gpu.md v27).
- SPLIT: split-K; the key chunks of a query tile are separate programs writing chunk summaries that
  `combine_kernel` merges (one program per query row, its chunks loaded as one tile).

Numerics: dots accumulate in fp32; the row max and sums stay fp32 in the log2 domain (the scale is
multiplied by log2(e) so each score costs one multiply and one ex2); P is cast to V's dtype for the
PV dot. Row statistics between passes are fp32 tensors in global memory, in log2 units.
Importing this module imports triton.
"""

from __future__ import annotations

import triton
import triton.language as tl

from einsim.gpu.plan import TIMELINE_CHECKPOINTS, TIMELINE_FIELDS
from einsim.gpu.tile import CONSUMER_PTX, _pp_begin, _pp_close, _row_heads, _tile

LOG2E = 1.4426950408889634


_TL_FIELDS = tl.constexpr(TIMELINE_FIELDS)
_TL_CHECKPOINTS = tl.constexpr(TIMELINE_CHECKPOINTS)


@triton.jit
def _globaltimer():
    return tl.inline_asm_elementwise("mov.u64 $0, %globaltimer;", "=l", [], dtype=tl.int64, is_pure=False, pack=1)


@triton.jit
def _smid():
    return tl.inline_asm_elementwise("mov.u32 $0, %smid;", "=r", [], dtype=tl.int32, is_pure=True, pack=1)


@triton.jit
def _clock_rows(x):
    """The SM's cycle counter (%clock64) as read by the thread that holds each element of `x` (x only places
    the read: one value per element, in that element's thread)."""
    return tl.inline_asm_elementwise("mov.u64 $0, %clock64;", "=l,r", [x], dtype=tl.int64, is_pure=False, pack=1)


#: PTX: the thread's consumer warpgroup (einsim.gpu.tile.CONSUMER_PTX) into the result
_CONSUMER_ASM = tl.constexpr("{ " + CONSUMER_PTX + "mov.b32 $0, c; }")


@triton.jit
def _consumer(x):
    """Per element of `x`, the consumer warpgroup of the thread that holds it (0 or 1; negative: not a
    consumer). Triton 3.6's data partitioning leaves, in each consumer's copy of the loop, also a copy of
    the loop's row tensors over all BLOCK_M rows, so a tile's row index does not tell the warpgroups apart;
    the thread index does."""
    return tl.inline_asm_elementwise(_CONSUMER_ASM, "=r,r", [x], dtype=tl.int32, is_pure=True, pack=1)


@triton.jit
def _spin_rows(x, cycles):
    """`x` unchanged, after the thread that holds each element has spun on the SM's cycle counter for that
    element's `cycles` (int64; a thread holding several elements waits their sum). Declared pure, so that
    triton's whole-tile copy of a data-partitioned loop's row tensors (see `_consumer`), its result unused,
    is dropped with it and only the partitioned rows spin; nothing else orders it, so it runs wherever the
    compiler places it (ahead of the K/V loop, where its operand is the loop's initial row sum)."""
    return tl.inline_asm_elementwise(
        "{ .reg .pred p; .reg .u64 t0, t; mov.u64 t0, %clock64; add.u64 t0, t0, $2; "
        "SPIN: mov.u64 t, %clock64; setp.lt.s64 p, t, t0; @p bra SPIN; mov.b32 $0, $1; }",
        "=r,r,l", [x, cycles], dtype=tl.float32, is_pure=True, pack=1,
    )  # fmt: skip


@triton.jit
def identity(x):
    """The default score function: no modification."""
    return x


@triton.jit
def _attn_program(
    pid_m,
    pid_h,
    pid_s,
    n_s,
    Q,
    K,
    V,
    O,
    MST,
    LST,
    PM,
    PL,
    PO,
    TL,
    tl_row,
    pp_first,
    pp_last,
    qk_scale,
    sqb,
    sqh,
    sqm,
    sqd,
    skb,
    skh,
    skn,
    skd,
    svb,
    svh,
    svn,
    svd,
    sob,
    soh,
    som,
    sod,
    H,
    R,
    N_Q,
    N_KV,
    ROWS,
    HP,
    BAND_HI,
    BAND_LO,
    CHUNK,
    HEAD_DIM: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    CAUSAL: tl.constexpr,
    GROUP_ROWS: tl.constexpr,
    WINDOW: tl.constexpr,
    EVEN_N: tl.constexpr,
    ONLINE: tl.constexpr,
    READ_M: tl.constexpr,
    DO_EXP: tl.constexpr,
    DO_SUM: tl.constexpr,
    DO_PV: tl.constexpr,
    DIV_IN_LOOP: tl.constexpr,
    DIV_OUT: tl.constexpr,
    WRITE_M: tl.constexpr,
    WRITE_L: tl.constexpr,
    WRITE_O: tl.constexpr,
    SCORE_FN: tl.constexpr,
    HAS_SCORE_FN: tl.constexpr,
    LAZY_RESCALE: tl.constexpr,
    TMA: tl.constexpr = False,
    WARP_SPEC: tl.constexpr = False,
    SPLIT: tl.constexpr = False,
    NORM_EACH: tl.constexpr = False,
    TIMELINE: tl.constexpr = 0,
    PV_FMA: tl.constexpr = False,
    STAGGER: tl.constexpr = 0,
    PINGPONG: tl.constexpr = False,
):
    """One pass of an attention cascade for the BLOCK_M query rows of tile pid_m of head program pid_h."""
    if TIMELINE == 1 or TIMELINE == 2:
        tl_at = TL + tl_row * _TL_FIELDS
        tl.store(tl_at, _smid().to(tl.int64))
        tl.store(tl_at + 1, _globaltimer())
    b = pid_h // HP
    hp = pid_h % HP
    rows = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    row_ok = rows < ROWS
    offs_d = tl.arange(0, HEAD_DIM)
    offs_n = tl.arange(0, BLOCK_N)
    head, p_idx = _row_heads(hp, rows, R, N_Q, GROUP_ROWS)
    if GROUP_ROWS:
        kvh = hp
        p_lo = 0
        p_hi = N_Q - 1
    else:
        kvh = hp // R
        p_lo = pid_m * BLOCK_M
        p_hi = tl.minimum(pid_m * BLOCK_M + BLOCK_M, N_Q) - 1
    # the causal mask's rows: with warp specialization relative to the tile (a bare arange, the tile's
    # first row in the scalar offsets; see _masked); else (and for stacked groups) the query index itself
    if GROUP_ROWS or not WARP_SPEC:
        mask_rows = p_idx
        mask_hi = BAND_HI
        mask_lo = BAND_LO
    else:
        mask_rows = tl.arange(0, BLOCK_M)
        mask_hi = BAND_HI + pid_m * BLOCK_M
        mask_lo = BAND_LO + pid_m * BLOCK_M
    band_hi = BAND_HI
    band_lo = BAND_LO
    if TMA and not GROUP_ROWS:
        # Q through a descriptor too: a pointer load beside descriptor loads breaks triton's Hopper
        # warp specialization (rows past N_Q read as 0)
        q_desc = tl.make_tensor_descriptor(
            Q + b * sqb + hp * sqh, shape=[N_Q, HEAD_DIM], strides=[sqm, 1], block_shape=[BLOCK_M, HEAD_DIM]
        )
        q = q_desc.load([pid_m * BLOCK_M, 0])
    else:
        q_ptrs = Q + b * sqb + (head * sqh + p_idx * sqm)[:, None] + offs_d[None, :] * sqd
        q = tl.load(q_ptrs, mask=row_ok[:, None], other=0.0)
    k_base = K + b * skb + kvh * skh
    v_base = V + b * svb + kvh * svh
    if TMA:
        # device-side tensor descriptors (TMA) over this head's [N_KV, D] K and V (unit inner stride);
        # the runtime sets triton's allocator for the descriptors' global scratch. (Host-side descriptors
        # over the flattened tensors hung the warp-specialized kernel on the H200: notes_gpu.md, v6.)
        k_src = tl.make_tensor_descriptor(
            k_base, shape=[N_KV, HEAD_DIM], strides=[skn, 1], block_shape=[BLOCK_N, HEAD_DIM]
        )
        v_src = tl.make_tensor_descriptor(
            v_base, shape=[N_KV, HEAD_DIM], strides=[svn, 1], block_shape=[BLOCK_N, HEAD_DIM]
        )
    else:
        k_src = k_base
        v_src = v_base
    st_idx = (b * H + head) * N_Q + p_idx

    acc = tl.zeros([BLOCK_M, HEAD_DIM], dtype=tl.float32)
    l_i = tl.zeros([BLOCK_M], dtype=tl.float32)
    inv_l = tl.zeros([BLOCK_M], dtype=tl.float32)
    if READ_M:
        m_i = tl.load(MST + st_idx, mask=row_ok, other=0.0)
    elif ONLINE:
        m_i = tl.full([BLOCK_M], float("-inf"), dtype=tl.float32)
    else:
        m_i = tl.zeros([BLOCK_M], dtype=tl.float32)  # a max-free cascade: exp(score - 0)
    if DIV_IN_LOOP:
        inv_l = 1.0 / tl.load(LST + st_idx, mask=row_ok, other=1.0)

    # [lo, lo_full): tiles the band's lower bound cuts; [lo_full, mid): tiles no filter touches;
    # [mid, hi): tiles the upper bound or the end of N_KV cuts; tiles outside [lo, hi) are skipped.
    if CAUSAL:
        hi = tl.minimum(N_KV, p_hi + band_hi + 1)
        mid = tl.maximum(tl.minimum(p_lo + band_hi + 1, hi), 0) // BLOCK_N * BLOCK_N
    else:
        hi = N_KV
        if EVEN_N:
            mid = N_KV
        else:
            mid = N_KV // BLOCK_N * BLOCK_N
    lo = 0
    lo_full = 0
    if WINDOW:
        lo = tl.maximum(p_lo + band_lo, 0) // BLOCK_N * BLOCK_N
        lo_full = tl.minimum(tl.maximum((p_hi + band_lo + BLOCK_N - 1) // BLOCK_N * BLOCK_N, lo), hi)
        mid = tl.maximum(mid, lo_full)
    if SPLIT:
        # split-K: this program's chunk of keys [pid_s * CHUNK, (pid_s + 1) * CHUNK), CHUNK a multiple of BLOCK_N
        c_lo = pid_s * CHUNK
        lo = tl.maximum(lo, c_lo)
        hi = tl.minimum(hi, c_lo + CHUNK)
        lo_full = tl.minimum(tl.maximum(lo_full, lo), tl.maximum(hi, lo))
        mid = tl.minimum(tl.maximum(mid, lo_full), tl.maximum(hi, lo_full))
    if WARP_SPEC:
        if STAGGER != 0:  # the second consumer warpgroup (its rows) enters the job's K/V loop late
            late = tl.arange(0, BLOCK_M) >= BLOCK_M // 2
            if STAGGER < 0:  # persistent: each program's first job only (its jobs are p, p + P, ...)
                late = late & (tl_row < tl.num_programs(0))
            else:  # every job: the job's index keeps the spin in the job loop (else hoisted out of it)
                late = late & (tl_row >= 0)
            l_i = _spin_rows(l_i, tl.where(late, STAGGER * (1 - 2 * (STAGGER < 0)), 0).to(tl.int64))
        if PINGPONG:  # the program's first job: the turns begin, the first consumer warpgroup's products first
            l_i = _pp_begin(l_i, tl.zeros([BLOCK_M], dtype=tl.int32) + pp_first)
        # one warp-specialized loop (a second loop breaks the specialization): every tile is masked when
        # any is
        for start_n in tl.range(lo, hi, BLOCK_N, warp_specialize=True):
            if TIMELINE == 3:  # each consumer's SM clock as its K/V tile starts: its own BLOCK_M slots (the read
                # placed on the store's own index tensor: placed on the row max it took 295 KB of shared memory)
                at = (tl_row * (N_KV // BLOCK_N) + (start_n - lo) // BLOCK_N) * (2 * BLOCK_M)
                slot = tl.arange(0, BLOCK_M)
                who = _consumer(slot)
                tl.store(TL + at + who * BLOCK_M + slot, _clock_rows(who), mask=who >= 0)
            acc, m_i, l_i = _tile(
                acc, m_i, l_i, inv_l, q, k_src, v_src, skn, skd, svn, svd, start_n, offs_n, offs_d, mask_rows,
                N_KV, mask_hi, mask_lo, qk_scale, CAUSAL or WINDOW or not EVEN_N, True, CAUSAL, WINDOW, ONLINE,
                DO_EXP, DO_SUM, DO_PV, DIV_IN_LOOP, SCORE_FN, HAS_SCORE_FN, LAZY_RESCALE, TMA, NORM_EACH=NORM_EACH,
                PV_FMA=PV_FMA, PINGPONG=PINGPONG,
            )  # fmt: skip
        if PINGPONG:  # the program's last job: the last turn ends, every arrival is matched. The barriers'
            # result (1.0 per row) scales the output, which keeps them in the consumers' code (an unused result
            # is not assigned to a partition: triton 3.6 then fails to compile FA1, whose epilogue has no sum)
            acc = acc * _pp_close(l_i, tl.zeros([BLOCK_M], dtype=tl.int32) + pp_last)[:, None]
    else:
        if WINDOW:
            for start_n in range(lo, lo_full, BLOCK_N):
                acc, m_i, l_i = _tile(
                    acc, m_i, l_i, inv_l, q, k_src, v_src, skn, skd, svn, svd, start_n, offs_n, offs_d, mask_rows,
                    N_KV, mask_hi, mask_lo, qk_scale, True, False, CAUSAL, WINDOW, ONLINE, DO_EXP, DO_SUM, DO_PV,
                    DIV_IN_LOOP, SCORE_FN, HAS_SCORE_FN, LAZY_RESCALE, TMA, NORM_EACH=NORM_EACH, PV_FMA=PV_FMA,
                )  # fmt: skip
        if TIMELINE == 1:
            seg = tl.maximum(tl.cdiv(mid - lo_full, _TL_CHECKPOINTS * BLOCK_N), 1) * BLOCK_N
            ck_n = lo_full  # the next checkpoint's K/V offset and its field
            ck_at = tl_at + 2
        for start_n in range(lo_full, mid, BLOCK_N):
            if TIMELINE == 1:
                if start_n == ck_n:
                    tl.store(ck_at, _globaltimer())
                    ck_n += seg
                    ck_at += 1
            acc, m_i, l_i = _tile(
                acc, m_i, l_i, inv_l, q, k_src, v_src, skn, skd, svn, svd, start_n, offs_n, offs_d, mask_rows,
                N_KV, mask_hi, mask_lo, qk_scale, False, False, CAUSAL, WINDOW, ONLINE, DO_EXP, DO_SUM, DO_PV,
                DIV_IN_LOOP, SCORE_FN, HAS_SCORE_FN, LAZY_RESCALE, TMA, NORM_EACH=NORM_EACH, PV_FMA=PV_FMA,
            )  # fmt: skip
        if CAUSAL or not EVEN_N:
            for start_n in range(mid, hi, BLOCK_N):
                acc, m_i, l_i = _tile(
                    acc, m_i, l_i, inv_l, q, k_src, v_src, skn, skd, svn, svd, start_n, offs_n, offs_d, mask_rows,
                    N_KV, mask_hi, mask_lo, qk_scale, True, False, CAUSAL, WINDOW, ONLINE, DO_EXP, DO_SUM, DO_PV,
                    DIV_IN_LOOP, SCORE_FN, HAS_SCORE_FN, LAZY_RESCALE, TMA, NORM_EACH=NORM_EACH, PV_FMA=PV_FMA,
                )  # fmt: skip

    if TIMELINE == 1:
        tl.store(tl_at + 2 + _TL_CHECKPOINTS, _globaltimer())
    if SPLIT:
        # the chunk's summary: running max (log2 units), sum and unnormalized numerator, fp32
        p_at = ((b * HP + hp) * n_s + pid_s) * ROWS + rows
        tl.store(PM + p_at, m_i, mask=row_ok)
        tl.store(PL + p_at, l_i, mask=row_ok)
        tl.store(PO + p_at[:, None] * HEAD_DIM + offs_d[None, :], acc, mask=row_ok[:, None])
    else:
        if WRITE_M:
            tl.store(MST + st_idx, m_i, mask=row_ok)
        if WRITE_L:
            tl.store(LST + st_idx, l_i, mask=row_ok)
        if WRITE_O:
            if DIV_OUT:
                # an fp32 division per element: one reciprocal per row and a multiply (FA1's per-tile form)
                # measured no faster here (run 38, H100: 1.003 ms against 0.989-1.006; notes v13)
                acc = acc / l_i[:, None]
            if WARP_SPEC:
                # a descriptor store at a scalar row offset: triton 3.6's Hopper data partitioning offsets
                # the second consumer's `pid_m * BLOCK_M + tl.arange(0, BLOCK_M)` twice (rows 128..191
                # instead of 64..127 in the TTGIR), so a pointer store lands in the next tile
                o_desc = tl.make_tensor_descriptor(
                    O + b * sob + hp * soh, shape=[N_Q, HEAD_DIM], strides=[som, 1], block_shape=[BLOCK_M, HEAD_DIM]
                )
                o_desc.store([pid_m * BLOCK_M, 0], acc.to(O.dtype.element_ty))
            else:
                o_ptrs = O + b * sob + (head * soh + p_idx * som)[:, None] + offs_d[None, :] * sod
                tl.store(o_ptrs, acc.to(O.dtype.element_ty), mask=row_ok[:, None])
    if TIMELINE == 1 or TIMELINE == 2:
        tl.store(tl_at + 3 + _TL_CHECKPOINTS, _globaltimer())


@triton.jit
def attn_pass_kernel(
    Q,
    K,
    V,
    O,
    MST,
    LST,
    PM,
    PL,
    PO,
    TL,
    qk_scale,
    sqb,
    sqh,
    sqm,
    sqd,
    skb,
    skh,
    skn,
    skd,
    svb,
    svh,
    svn,
    svd,
    sob,
    soh,
    som,
    sod,
    H,
    R,
    N_Q,
    N_KV,
    ROWS,
    HP,
    BAND_HI,
    BAND_LO,
    CHUNK,
    HEAD_PROGRAMS,
    HEAD_DIM: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    CAUSAL: tl.constexpr,
    GROUP_ROWS: tl.constexpr,
    WINDOW: tl.constexpr,
    EVEN_N: tl.constexpr,
    ONLINE: tl.constexpr,
    READ_M: tl.constexpr,
    DO_EXP: tl.constexpr,
    DO_SUM: tl.constexpr,
    DO_PV: tl.constexpr,
    DIV_IN_LOOP: tl.constexpr,
    DIV_OUT: tl.constexpr,
    WRITE_M: tl.constexpr,
    WRITE_L: tl.constexpr,
    WRITE_O: tl.constexpr,
    SCORE_FN: tl.constexpr,
    HAS_SCORE_FN: tl.constexpr,
    LAZY_RESCALE: tl.constexpr,
    TMA: tl.constexpr = False,
    WARP_SPEC: tl.constexpr = False,
    SPLIT: tl.constexpr = False,
    REVERSE_M: tl.constexpr = False,
    PERSISTENT: tl.constexpr = False,
    PAIR_M: tl.constexpr = False,
    NORM_EACH: tl.constexpr = False,
    TIMELINE: tl.constexpr = 0,
    PV_FMA: tl.constexpr = False,
    STAGGER: tl.constexpr = 0,
    PINGPONG: tl.constexpr = False,
):
    """One pass of an attention cascade: a program per (query tile, batch x head program[, key chunk]),
    or, PERSISTENT, a fixed grid of programs that each loop over query tiles (tile t of program p is
    p + t * programs, query tiles fastest; PAIR_M: pairs of query tiles), so one program's epilogue
    and the next tile's prologue need no new launch."""
    n_m = tl.cdiv(ROWS, BLOCK_M)
    if PERSISTENT:
        programs = tl.num_programs(0)
        if PAIR_M:
            # causal: job = a pair of query tiles (i, n_m - 1 - i) of one head program, the heavy one first;
            # every pair visits about the same number of K/V tiles, so the programs stay in step. Pair j
            # runs on program j % programs; the spare programs of the last round redo the last pair
            # (the same values written twice) rather than branch, which would stop warp specialization
            half = n_m // 2
            n_pairs = half * HEAD_PROGRAMS
            first, last, stride = 0, 2 * tl.cdiv(n_pairs, programs), 1  # steps: two per pair
        else:
            first, last, stride = tl.program_id(0), n_m * HEAD_PROGRAMS, programs  # jobs p, p + P, ...
        for job in tl.range(first, last, stride):
            job_first = 1
            job_last = 1
            if PINGPONG:  # the program's first and last job (the ping-pong schedule's turns begin and end there)
                job_first = (job == first).to(tl.int32)
                job_last = (job + stride >= last).to(tl.int32)
            if PAIR_M:
                pair = tl.minimum((job // 2) * programs + tl.program_id(0), n_pairs - 1)
                i = pair % half
                pid_m = i + (1 - job % 2) * (n_m - 1 - 2 * i)
                pid_h = pair // half
            else:
                pid_m = job % n_m
                if REVERSE_M:
                    pid_m = n_m - 1 - pid_m
                pid_h = job // n_m
            _attn_program(
                pid_m, pid_h, 0, 1, Q, K, V, O, MST, LST, PM, PL, PO, TL, job, job_first, job_last, qk_scale, sqb,
                sqh, sqm, sqd, skb, skh, skn, skd, svb, svh, svn, svd, sob, soh, som, sod, H, R, N_Q, N_KV, ROWS, HP,
                BAND_HI, BAND_LO, CHUNK, HEAD_DIM, BLOCK_M, BLOCK_N, CAUSAL, GROUP_ROWS, WINDOW, EVEN_N, ONLINE,
                READ_M, DO_EXP, DO_SUM, DO_PV, DIV_IN_LOOP, DIV_OUT, WRITE_M, WRITE_L, WRITE_O, SCORE_FN, HAS_SCORE_FN,
                LAZY_RESCALE, TMA, WARP_SPEC, SPLIT, NORM_EACH, TIMELINE, PV_FMA, STAGGER, PINGPONG,
            )  # fmt: skip
    else:
        pid_m = tl.program_id(0)
        if REVERSE_M:
            # heaviest query tiles (most K/V tiles under a causal band) launch first
            pid_m = n_m - 1 - pid_m
        # the program's place in launch order (x fastest, then y, z): its TIMELINE row
        tl_row = tl.program_id(0) + tl.num_programs(0) * (tl.program_id(1) + tl.num_programs(1) * tl.program_id(2))
        _attn_program(
            pid_m, tl.program_id(1), tl.program_id(2), tl.num_programs(2), Q, K, V, O, MST, LST, PM, PL, PO, TL,
            tl_row, 1, 1, qk_scale, sqb, sqh, sqm, sqd, skb, skh, skn, skd, svb, svh, svn, svd, sob, soh, som, sod, H,
            R, N_Q, N_KV, ROWS, HP, BAND_HI, BAND_LO, CHUNK, HEAD_DIM, BLOCK_M, BLOCK_N, CAUSAL, GROUP_ROWS, WINDOW,
            EVEN_N, ONLINE, READ_M, DO_EXP, DO_SUM, DO_PV, DIV_IN_LOOP, DIV_OUT, WRITE_M, WRITE_L, WRITE_O, SCORE_FN,
            HAS_SCORE_FN, LAZY_RESCALE, TMA, WARP_SPEC, SPLIT, NORM_EACH, TIMELINE, PV_FMA, STAGGER, PINGPONG,
        )  # fmt: skip


@triton.jit
def combine_kernel(
    PM,
    PL,
    PO,
    O,
    sob,
    soh,
    som,
    sod,
    R,
    N_Q,
    ROWS,
    HP,
    NSPLIT,
    HEAD_DIM: tl.constexpr,
    SPLIT_BLOCK: tl.constexpr,
    GROUP_ROWS: tl.constexpr,
):
    """Split-K combine for one query row: O = Σ_s e^(m_s - max_s m_s) acc_s / Σ_s e^(m_s - max_s m_s) l_s
    over its chunk summaries (the cascade's GM, PRM, SD, SNV and AV). The chunks are loaded as one
    [SPLIT_BLOCK, HEAD_DIM] tile (a block at a time, merged online when there are more chunks), so the
    kernel waits for one round of loads per block instead of two per chunk."""
    row = tl.program_id(0)
    pid_h = tl.program_id(1)
    b = pid_h // HP
    hp = pid_h % HP
    offs_d = tl.arange(0, HEAD_DIM)
    offs_s = tl.arange(0, SPLIT_BLOCK)
    base = (b * HP + hp) * NSPLIT
    g = tl.max(tl.full([SPLIT_BLOCK], float("-inf"), dtype=tl.float32), 0)
    l_tot = tl.sum(tl.zeros([SPLIT_BLOCK], dtype=tl.float32), 0)
    acc = tl.zeros([HEAD_DIM], dtype=tl.float32)
    for s0 in range(0, NSPLIT, SPLIT_BLOCK):
        ok = s0 + offs_s < NSPLIT
        at = (base + s0 + offs_s) * ROWS + row
        m = tl.load(PM + at, mask=ok, other=float("-inf"))
        g_new = tl.maximum(g, tl.max(m, 0))
        g_safe = tl.where(g_new == float("-inf"), 0.0, g_new)
        alpha = tl.math.exp2(g - g_safe)
        w = tl.math.exp2(m - g_safe)
        l_tot = l_tot * alpha + tl.sum(w * tl.load(PL + at, mask=ok, other=0.0), 0)
        po = tl.load(PO + at[:, None] * HEAD_DIM + offs_d[None, :], mask=ok[:, None], other=0.0)
        acc = acc * alpha + tl.sum(w[:, None] * po, 0)
        g = g_new
    acc = acc / tl.where(l_tot == 0.0, 1.0, l_tot)
    head, p_idx = _row_heads(hp, row, R, N_Q, GROUP_ROWS)
    tl.store(O + b * sob + head * soh + p_idx * som + offs_d * sod, acc.to(O.dtype.element_ty))


def grid(rows: int, block_m: int, batch: int, head_programs: int) -> tuple[int, int]:
    """Launch grid: query-row tiles fastest, then (batch, head-program)."""
    return (triton.cdiv(rows, block_m), batch * head_programs)
