"""GPU model: predicted DRAM bytes and time of a lowered cascade (pure Python; no torch).

Input: a `KernelPlan` (einsim.gpu.lower), a `Shape`, the `Tiling` it is launched with and a `GpuArch`.
Output: a `Prediction` with one `KernelCost` per pass kernel and their sums.

Assumptions (each checked by studies/gpu_benchmark.py against Nsight Compute and do_bench):
- Bytes. Each kernel starts with a cold L2 (as ncu's default cache control makes it, and as a sequence
  of passes over ≫ L2 data does in practice: the next pass starts at head 0 while L2 holds the last
  heads). A kernel reads Q once, the row statistics it needs once, and streams the K (and V, when the
  pass has a PV product) of each K/V head. That stream reaches DRAM once per head while the programs
  that share the head are resident together or the stream fits in `arch.l2_reuse_bytes`; beyond both,
  every wave of resident programs that holds the head re-streams it, in lockstep (causal: the prefix
  the wave needs). Where programs share SMs there (per-tile launches, K/V heads past the L2 share), the
  older of two co-resident programs runs faster, they drift apart, and each re-streams the head: the
  stream count is then their simulated schedule through the L2's measured hit curve (einsim.gpu.coresident,
  rates measured per kernel; D=64 at 32-128 MiB of K/V per head: up to 2 reads per wave). Persistent programs
  drift too where their jobs differ (not modelled; the launch rule keeps them to short heads). Writes: O and the row
  statistics that cross a pass boundary. Split-K plans run every query tile's key chunks as separate
  programs that write chunk summaries (fp32 max, sum, numerator), then a memory-bound combine kernel.
- Time. Per kernel: tensor-core time (score points × 2D per dot at the datasheet rate), ex2 time at
  16/clk/SM and fp32 issue time for the per-score element-wise work (counted from the flags: scale
  unless folded, max, exponent argument, sum, normalization, cast of P, accumulator rescale unless
  lazy). The largest part is paid in full, the others by `serial_max / programs_per_SM **
  overlap_exponent` (one 8-warp program per SM barely overlaps softmax with the MMAs; several do);
  lazy rescaling adds a block-wide barrier wait per tile (`arch.cta_sync_s`). Plus a per-program
  overhead per wave (per resident program for persistent launches), then the schedule: programs start
  in launch order on the first free slot (the hardware block scheduler; causal query tiles launch
  heaviest first), or are dealt round-robin to persistent programs (causal: pairs of query tiles, one
  heavy and one light); the busiest slot's share over the
  balanced one scales the time (the last partial wave; idle SMs when programs are fewer). The kernel takes the
  largest of that, its SM←L2 K/V tile stream over the measured `arch.l2_read_bw`, its wgmmas'
  shared-memory operands (`wgmma_operand_bytes`: Q and the K/V tiles, read by each warpgroup of 64 rows;
  Nsight Compute's bank reads agree) over `arch.smem_operand_bw` (binds the max-only pass) and its
  DRAM bytes over the measured copy bandwidth — or, with few programs (decode of one sequence), over
  what they keep in flight per load latency (Little's law) — plus a launch cost. Resident programs per SM come from
  shared memory and a register estimate (checked against ptxas, einsim.gpu.inspect).
- Issued instructions. Given the compiled kernels (`reports`, einsim.gpu.inspect), the fp32 part of a
  prefill kernel that is not warp-specialized is the issue time of its K/V loop as compiled (every
  instruction every warp issues per tile, at one per cycle per SMSP; `sass.mma_loop`: the steady state,
  lazy rescaling's skipped block left out), not the count from the flags, which misses what the compiler
  adds (FA1's normalization after the PV product: 56 instructions per warp and tile at D=64, the flag
  count 32); that law has its own overlap constants and lazy barrier (`arch.issue_*`; notes_gpu.md v19),
  and counts its overlap by the query rows resident per SM in 128-row units (`overlap_units`: a 64-row
  tile is one chain of wgmmas and softmax, a 128-row tile two; v20), not by programs per SM. Where the
  loop reloads spilled registers (`spills_in_loop`: 255 registers, e.g. 128x64 tiles of 4 warps at D=128),
  the K/V loop of the resident programs is also simulated from the SASS, the reloads at L1 latency, and
  the longer of the two counts (v21).
  Warp-specialized kernels keep the flag count and the constants fitted with it.
- Lone programs. Given the compiled kernels (`reports`, einsim.gpu.inspect) and no more programs than SMs
  (decode), each program has an SM to itself and its time is simulated from its SASS (einsim.gpu.sass:
  instruction issue, scoreboard waits, and the global-load latency its software pipeline exposes); that
  replaces Little's law, and DRAM bytes move at the copy bandwidth.
Constants marked "fitted" in einsim.gpu.arch were fitted to run 1 of studies/gpu_benchmark.py on an
H200 and checked against runs 2-5 (studies/notes_gpu.md); the re-stream factor of v1-v5 (1.3 per wave,
fitted) is replaced by the lockstep wave count (v6); lazy rescaling's barrier wait is fitted to run 2
and checked on runs 3-8 (v9).
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

from einsim.gpu.arch import GpuArch
from einsim.gpu.plan import (
    KernelPlan,
    PassKernel,
    Shape,
    Tiling,
    choose_splits,
    heavy_first,
    launch_rows,
    lazy_applies,
    paired_deal,
    persistent_applies,
    ws_applies,
)
from einsim.gpu.sass import lone_program_cycles, mma_loop, resident_loop_cycles

#: warp instructions an SM issues per cycle (four sub-partitions, one each)
ISSUE_PER_CLK_SM = 4
#: the query rows per resident unit of the issue law's overlap: the BLOCK_M of every launch its constants
#: were fitted to (run 1), so that their predictions do not move
OVERLAP_ROWS = 128


def spills_in_loop(loop) -> bool:
    """Whether a compiled K/V loop (`sass.mma_loop`) reloads spilled registers (local loads, LDL)."""
    return any(x.base == "LDL" for x in loop)


def _resident_loop_s(loop, warps: int, occ: int, tiles: float, arch: GpuArch) -> float:
    """Seconds for `tiles` K/V tiles of a loop (`sass.mma_loop`) that `occ` resident programs of `warps` warps
    run on every SM, simulated from the compiled kernel's SASS (einsim.gpu.sass.resident_loop_cycles)."""
    per_tile = resident_loop_cycles(loop, warps, occ, arch.sass_load_latency_cycles)
    return tiles / (arch.sms * occ) * per_tile / arch.clock_hz


def overlap_units(occ: int, t: Tiling, by_programs: bool = False) -> float:
    """What the issue law's overlap counts: the query rows resident per SM, in units of OVERLAP_ROWS.
    Each 64-row block of a tile is its own chain of wgmmas and softmax, and programs per SM alone
    (`by_programs`, the law until v19) counts a 64-row program as a 128-row one: 64-row launches with
    twice the programs per SM ran as fast as the 128-row default, not faster (notes_gpu.md v20)."""
    return float(occ) if by_programs else occ * t.block_m / OVERLAP_ROWS


@dataclass(frozen=True)
class KernelCost:
    """Predicted work, traffic and time of one pass kernel."""

    index: int
    label: str
    programs: int
    ctas_per_sm: int
    score_points: float
    mma_flops: float
    exps: float
    fp32_ops: float
    dram_read_bytes: float
    dram_write_bytes: float
    mma_s: float
    exp_s: float
    fp32_s: float
    compute_s: float
    l2_s: float
    dram_s: float
    seconds: float
    #: instruction issue from the compiled kernel (the SASS simulation of one SM's resident programs for
    #: linear attention, or of a program alone on its SM); 0 where not modelled. compute_s includes it
    issue_s: float = 0.0
    #: the wgmmas' shared-memory operand reads at `arch.smem_operand_bw` (0 where not modelled)
    smem_s: float = 0.0

    @property
    def bound(self) -> str:
        if self.dram_s >= max(self.l2_s, self.smem_s, self.compute_s):
            return "memory"
        if self.smem_s > 0 and self.smem_s >= max(self.l2_s, self.compute_s):
            return "smem"  # the wgmmas' shared-memory operands
        if self.l2_s >= self.compute_s:
            return "l2"
        return "issue" if self.issue_s > 0 and self.issue_s >= self.compute_s else "compute"


@dataclass(frozen=True)
class Prediction:
    """The sum over a plan's kernels."""

    kernels: tuple[KernelCost, ...]

    @property
    def dram_read_bytes(self) -> float:
        return sum(k.dram_read_bytes for k in self.kernels)

    @property
    def dram_write_bytes(self) -> float:
        return sum(k.dram_write_bytes for k in self.kernels)

    @property
    def dram_bytes(self) -> float:
        return self.dram_read_bytes + self.dram_write_bytes

    @property
    def seconds(self) -> float:
        return sum(k.seconds for k in self.kernels)

    @property
    def ms(self) -> float:
        return self.seconds * 1e3


def regs_per_thread(pk: PassKernel, shape: Shape, t: Tiling) -> int:
    """Registers per thread: fp32 accumulator (with PV), score tile and Q fragment per thread, fitted to
    the compiler's counts (ptxas via ncu `launch__registers_per_thread`, run 1: 62-222 regs, within ±10%)."""
    threads = 32 * t.num_warps
    live = t.block_m * t.block_n + t.block_m * shape.D // 2
    if pk.do_pv:
        live += t.block_m * shape.D
        regs = max(96, int(1.36 * live / threads) + 4)
    else:
        regs = max(64, live // threads)
    return min(255, -(-regs // 8) * 8)


def ctas_per_sm(pk: PassKernel, shape: Shape, t: Tiling, arch: GpuArch, warp_specialized: bool = False) -> int:
    """Resident programs per SM, limited by shared memory (K/V pipeline stages and Q) and registers. A
    warp-specialized program has three partitions of `num_warps` (a producer and two consumers; 12
    warps at 168 registers on sm_90, einsim.gpu.inspect), so one fits an SM."""
    elt = shape.elt_bytes
    smem = t.num_stages * t.block_n * shape.D * elt * (1 + int(pk.do_pv)) + t.block_m * shape.D * elt
    threads = 32 * t.num_warps * (3 if warp_specialized else 1)
    by_smem = arch.smem_per_sm // max(smem, 1)
    by_regs = arch.regs_per_sm // (regs_per_thread(pk, shape, t) * threads)
    return max(1, min(by_smem, by_regs, 2048 // threads))


def _tiles_per_qtile(plan: KernelPlan, shape: Shape, t: Tiling) -> list[int]:
    """K/V tiles each query tile visits: with a band filter (causal, sliding window) only the tiles
    between its lower and upper bounds, as the kernel's loop bounds skip the others."""
    rows, _ = launch_rows(shape, t)
    n_qt = math.ceil(rows / t.block_m)
    full = math.ceil(shape.N_KV / t.block_n)
    hi, lo = plan.band_offsets(shape)
    if hi is None and lo is None:
        return [full] * n_qt
    out = []
    for i in range(n_qt):
        p_lo, p_hi = (0, shape.N_Q - 1) if t.group_rows else (i * t.block_m, min((i + 1) * t.block_m, shape.N_Q) - 1)
        end = shape.N_KV if hi is None else min(shape.N_KV, p_hi + hi + 1)
        start = 0 if lo is None else max(p_lo + lo, 0) // t.block_n * t.block_n
        out.append(max(0, math.ceil((end - start) / t.block_n)))
    return out


def _launch_order(plan: KernelPlan, t: Tiling, n_qt: int) -> list[int]:
    """Query tile of each launch position within a head program (heavy-first plans launch last-first)."""
    order = list(range(n_qt))
    return order[::-1] if heavy_first(plan, t) else order


def _kv_streams(plan: KernelPlan, shape: Shape, t: Tiling, slots: int, stream_bytes: float, arch: GpuArch) -> float:
    """How many times one K/V head's stream reaches DRAM in one kernel, on average over the heads.

    Once while every program of the head is resident together or the stream fits the L2 share
    `arch.l2_reuse_bytes`. Beyond both, waves in lockstep: programs launch in order (query tiles
    fastest, then heads), so `slots` resident programs form a wave that streams, tile by tile and in
    step, the K/V of every head it holds, one DRAM read per tile, and the next wave finds the start of
    the stream evicted. A head's stream is read once per wave that holds any of its programs (a wave
    straddling two heads streams both); causal: each wave reads the prefix the longest of its query
    tiles needs. Where programs share SMs, `predict` replaces the count by the schedule of
    einsim.gpu.coresident (they drift apart: notes_gpu.md, v14).
    """
    rows, _ = launch_rows(shape, t)
    n_qt = math.ceil(rows / t.block_m)
    per_head = n_qt * (1 if t.group_rows else shape.R)
    if per_head <= slots or stream_bytes <= arch.l2_reuse_bytes:
        return 1.0
    need = _tiles_per_qtile(plan, shape, t)
    order = _launch_order(plan, t, n_qt)
    full = max(need)
    heads = shape.B * shape.kv_heads
    total = 0.0
    for j in range(heads):
        lo, hi = j * per_head, (j + 1) * per_head  # this head's programs in launch order
        for w in range(lo // slots, (hi - 1) // slots + 1):
            first, last = max(lo, w * slots) - lo, min(hi, (w + 1) * slots) - lo  # the head's programs in wave w
            total += max(need[order[i % n_qt]] for i in range(first, last)) / full
    return total / heads


def _outruns(shape: Shape, t: Tiling, slots: int) -> bool:
    """Whether a K/V head has more programs than the device holds at once (its stream is re-read unless
    the L2 keeps it between them)."""
    rows, _ = launch_rows(shape, t)
    return math.ceil(rows / t.block_m) * (1 if t.group_rows else shape.R) > slots


def drifting(plan: KernelPlan, shape: Shape, t: Tiling, arch: GpuArch, occ: int) -> bool:
    """Whether a pass kernel's K/V reads come from the co-resident schedule (einsim.gpu.coresident): a
    per-tile launch (not persistent, split-K or warp-specialized) whose `occ` programs per SM share it
    while a K/V head has more programs than the device holds."""
    ws = t.warp_specialize and ws_applies(plan, shape, t)
    if occ <= 1 or persistent_applies(plan, t) or plan.split_k or ws:
        return False
    return _outruns(shape, t, occ * arch.sms)


def _program_work(plan: KernelPlan, t: Tiling, tiles_q: list[int], heads: int, n_split: int, chunk: int) -> list[float]:
    """K/V tiles of every program in launch order (grid axis 0 = query tiles fastest, then heads, then
    key chunks)."""
    order = _launch_order(plan, t, len(tiles_q))
    per = max(1, chunk // t.block_n)
    out = []
    for s in range(n_split):
        for _ in range(heads):
            for i in order:
                n = tiles_q[i] if n_split == 1 else min(per, max(0, tiles_q[i] - s * per))
                out.append(float(n))
    return out


def _pair_work(tiles_q: list[int], heads: int) -> list[float]:
    """K/V tiles of every job of a paired deal (einsim.gpu.plan.paired_deal) in deal order: per head,
    the pairs (n - 1 - i, i) of its n query tiles."""
    n = len(tiles_q)
    return [float(tiles_q[n - 1 - i] + tiles_q[i]) for _ in range(heads) for i in range(n // 2)]


def _round_robin_factor(work: list[float], programs: int) -> float:
    """A persistent launch: job j (launch order) runs on program j % programs; the busiest program's work
    over the balanced share. Causal jobs dealt this way can pile the long query tiles on a few programs."""
    total = sum(work)
    if total <= 0 or len(work) <= programs:
        return 1.0
    return max(sum(work[p::programs]) for p in range(programs)) / (total / programs)


def _makespan_factor(work: list[float], slots: int) -> float:
    """Greedy list scheduling of programs (work in launch order) onto `slots` resident-program slots,
    as the hardware block scheduler starts the next program on the first slot that frees up: the
    makespan over the perfectly balanced time sum(work) / slots. Equal programs give ceil(waves)/waves
    (the last partial wave); causal programs of unequal length also pay for the order they start in."""
    total = sum(work)
    if total <= 0 or len(work) <= slots:
        return 1.0
    free = [0.0] * slots
    heapq.heapify(free)
    for w in work:
        heapq.heappush(free, heapq.heappop(free) + w)
    return max(free) / (total / slots)


def wgmma_operand_bytes(pk: PassKernel, shape: Shape, t: Tiling) -> float:
    """Shared-memory bytes the wgmmas of one K/V tile read (as einsim.gpu.sass.wgmma_smem_bytes counts them in
    the compiled kernel, and Nsight Compute's bank reads measured them, notes_gpu.md v17): each warpgroup of
    64 query rows reads its rows of Q (A) and the K tile (B) for the scores, and the V tile (B; P is in
    registers) for the product with V. 0 for tiles below 64 rows (mma.sync, operands in registers)."""
    if t.block_m % 64:
        return 0.0
    groups, kv = t.block_m // 64, t.block_n * shape.D * shape.elt_bytes
    return t.block_m * shape.D * shape.elt_bytes + groups * kv * (1 + int(pk.do_pv))


def lone_programs(plan: KernelPlan, shape: Shape, t: Tiling, arch: GpuArch) -> bool:
    """Whether every program of the launch has an SM to itself: no more programs (query tiles x batch x
    head programs x key chunks) than SMs, and not a persistent launch (whose programs loop over jobs)."""
    if plan.linear or persistent_applies(plan, t):
        return False
    rows, hp = launch_rows(shape, t)
    n_split, _ = choose_splits(plan, shape, t, arch.sms)
    return math.ceil(rows / t.block_m) * shape.B * hp * n_split <= arch.sms


def predict(
    plan: KernelPlan,
    shape: Shape,
    tiling: Tiling,
    arch: GpuArch,
    reports=None,
    resident_sim: bool = False,
    overlap_by_programs: bool = False,
) -> Prediction:
    """Predicted DRAM bytes and time of every kernel of `plan` at `shape` on `arch`. `reports` (the
    compiled kernels' facts from einsim.gpu.inspect.compile_report, one per pass kernel) add the simulated
    issue time of linear attention's kernels (einsim.gpu.linear_model), where every
    program has an SM to itself (`lone_programs`) the simulated time of a program (einsim.gpu.sass), and
    otherwise the issue time of the compiled K/V loop as the law's fp32 part (module docstring).
    `resident_sim` (with `reports`): time the K/V loop of a prefill kernel's resident programs by the SASS
    simulation (einsim.gpu.sass.resident_loop_cycles) instead of the analytic law; not warp-specialized
    kernels. An alternative held against the measurements (studies/gpu_prefill_holdout.py), not the default:
    over runs 1-45 it orders fewer shapes' variants as measured (notes_gpu.md v17). `overlap_by_programs`:
    the issue law's overlap counted by programs per SM, as until v19, not by resident rows
    (`overlap_units`); kept to hold against the holdouts."""
    if plan.linear:
        from einsim.gpu.linear_model import predict_linear

        return predict_linear(plan, shape, tiling, arch, reports)
    t = tiling
    elt = shape.elt_bytes
    rows, hp = launch_rows(shape, t)
    tiles_q = _tiles_per_qtile(plan, shape, t)
    programs = len(tiles_q) * shape.B * hp
    n_split, chunk = choose_splits(plan, shape, t, arch.sms)
    programs *= n_split  # split-K: the key chunks of every query tile run as separate programs
    part_bytes = n_split * shape.B * hp * rows * (shape.D + 2) * 4 if plan.split_k else 0
    tiles = sum(tiles_q) * shape.B * hp
    work = _program_work(plan, t, tiles_q, shape.B * hp, n_split, chunk)
    persistent = persistent_applies(plan, t)
    if paired_deal(plan, shape, t):  # persistent causal: a job is a pair of query tiles (i, n - 1 - i)
        work = _pair_work(tiles_q, shape.B * hp)
    launched = min(len(work), arch.sms * t.persistent) if persistent else programs
    lone = reports is not None and lone_programs(plan, shape, t, arch)
    load_latency_cycles = arch.sass_load_latency_cycles
    points = float(tiles) * t.block_m * t.block_n
    q_bytes = shape.B * shape.H * shape.N_Q * shape.D * elt
    stat_bytes = shape.B * shape.H * shape.N_Q * 4
    kv_head = shape.N_KV * shape.D * elt
    costs = []
    ws = t.warp_specialize and ws_applies(plan, shape, t)
    for i, pk in enumerate(plan.kernels):
        occ = ctas_per_sm(pk, shape, t, arch, warp_specialized=ws)
        slots = min(occ * arch.sms, launched) if persistent else occ * arch.sms
        mma = points * 2 * shape.D * pk.dots
        lazy = lazy_applies(pk, t)
        eager = pk.online and pk.do_exp and not lazy
        exps = (points if pk.do_exp else 0.0) + (tiles * t.block_m if eager else 0.0)
        per_point = 0.0 if plan.score_fns == () else 1.0  # scale (else folded into the exponent's FMA)
        per_point += 1.0 if pk.online else 0.0  # running/row max
        per_point += 1.0 if pk.do_exp else 0.0  # exponent argument
        per_point += 1.0 if pk.do_sum else 0.0
        per_point += 1.0 if pk.div_in_loop else 0.0
        per_point += 0.5 if pk.do_pv else 0.0  # cast of P
        per_point += shape.D / t.block_n if eager and pk.do_pv else 0.0  # rescale of the accumulator
        per_point += shape.D / t.block_n if pk.norm_each else 0.0  # FA1: divide the output every tile
        fp32 = points * per_point
        stream = kv_head * (1 + int(pk.do_pv))
        streams = _kv_streams(plan, shape, t, slots, stream, arch)
        if drifting(plan, shape, t, arch, occ):
            # a head has more programs than the device holds and they share SMs: the older of two runs
            # faster, so they drift apart and each re-streams the head (einsim.gpu.coresident, measured rates)
            try:
                from einsim.gpu.coresident import kv_reads
            except ImportError:  # numba missing (a bare GPU image): the lockstep count stays
                kv_reads = None
            if kv_reads is not None:
                streams = kv_reads(plan, pk, shape, t, arch, occ, lazy).reads_per_head
        reads = q_bytes + stream * streams * shape.B * shape.kv_heads
        reads += stat_bytes * (int(pk.read_m) + int(pk.div_in_loop))
        writes = q_bytes * int(pk.write_o and not plan.split_k) + stat_bytes * (int(pk.write_m) + int(pk.write_l))
        writes += part_bytes  # split-K: chunk summaries (max, sum, fp32 numerator) instead of O
        mma_s = mma / arch.mma_flops
        exp_s = exps / arch.mufu_rate
        fp32_s = fp32 / arch.fp32_rate
        parts = (mma_s, exp_s, fp32_s)
        rep = reports[i] if reports is not None else None
        body = mma_loop(rep.instructions) if resident_sim and rep is not None and not (ws or lone) else ()
        issue = 0.0
        if body:
            compute = issue = _resident_loop_s(body, rep.warps, occ, tiles, arch)
        else:
            # the compiled kernel gives the K/V loop's issued instructions (steady state: lazy rescaling's
            # block skipped); a warp-specialized kernel's two consumer warpgroups keep the flag count and
            # the constants fitted with it
            loop = mma_loop(rep.instructions) if rep is not None and not (ws or lone) else ()
            if loop:
                issue = tiles * len(loop) * rep.warps / (ISSUE_PER_CLK_SM * arch.sms * arch.clock_hz)
                parts = (mma_s, exp_s, issue)
                units = overlap_units(occ, t, overlap_by_programs)
                serial = arch.issue_serial_max / units**arch.issue_overlap_exponent
                sync = serial * arch.issue_cta_sync_s  # co-resident programs fill the wait
            else:
                serial = arch.serial_max / occ**arch.overlap_exponent
                sync = arch.cta_sync_s
            compute = max(parts) + serial * (sum(parts) - max(parts))
            if pk.online and pk.do_exp and lazy:  # a block-wide branch per tile: a barrier wait
                compute += tiles / (arch.sms * occ) * sync
            if spills_in_loop(loop):
                # register spills: each tile reloads spilled registers from L1 in the middle of its
                # dependency chains, latency the law's issue count does not price (its constants were
                # fitted to kernels without spills). The SASS simulation of the resident programs runs
                # those reloads; the kernel takes the longer of the two (v21)
                issue = max(issue, _resident_loop_s(loop, rep.warps, occ, tiles, arch))
                compute = max(compute, issue)
        if programs < arch.sms:
            compute = (compute + programs / slots * arch.program_overhead_s) * arch.sms / programs
        elif persistent:
            # one launch overhead per resident program; jobs dealt round-robin (job j to program j % P)
            compute = (compute + launched / slots * arch.program_overhead_s) * _round_robin_factor(work, launched)
        else:
            # each program's prologue/epilogue as K/V tiles of its own work, then the block scheduler
            ov = arch.program_overhead_s * tiles / (slots * compute) if compute > 0 else 0.0
            overhead = programs / slots * arch.program_overhead_s
            compute = (compute + overhead) * _makespan_factor([w + ov for w in work], slots)
        l2_bytes = tiles * t.block_n * shape.D * elt * (1 + int(pk.do_pv))
        l2_s = l2_bytes / arch.l2_read_bw
        # the wgmmas' shared-memory operands (Q and the K/V tiles, per warpgroup), at the rate the max-only pass
        # streams them: binds that pass, whatever the tile's rows
        smem_s = tiles * wgmma_operand_bytes(pk, shape, t) / arch.smem_operand_bw
        # a program keeps (stages - 1) K/V tiles in flight: with few programs that, not HBM, binds
        inflight = max(1, t.num_stages - 1) * t.block_n * shape.D * elt * (1 + int(pk.do_pv))
        bw = min(arch.hbm_copy_bw, min(programs, slots) * inflight / arch.load_latency_s)
        if lone and rep is not None and rep.instructions:  # alone on its SM, simulated from its SASS
            fixed, per = lone_program_cycles(rep.instructions, rep.warps, load_latency_cycles)
            issue = (fixed + max(work) * per) / arch.clock_hz
            compute = max(compute, issue)
            bw = arch.hbm_copy_bw
        dram_s = (reads + writes) / bw
        seconds = max(compute, l2_s, smem_s, dram_s) + arch.launch_s
        costs.append(
            KernelCost(
                pk.index,
                pk.label,
                launched,
                occ,
                points,
                mma,
                exps,
                fp32,
                reads,
                writes,
                mma_s,
                exp_s,
                fp32_s,
                compute,
                l2_s,
                dram_s,
                seconds,
                issue,
                smem_s,
            )
        )
    if plan.split_k:
        # the combine kernel: reads every chunk summary once, writes O; memory-bound
        comb = part_bytes + q_bytes
        sec = comb / arch.hbm_copy_bw + arch.launch_s
        z, dram_s = 0.0, comb / arch.hbm_copy_bw
        n_comb = rows * shape.B * hp  # a program per query row: all its chunks in one round of loads
        costs.append(
            KernelCost(
                len(costs) + 1, "combine", n_comb, 1, z, z, z, z, part_bytes, q_bytes, z, z, z, z, z, dram_s, sec
            ),
        )
    return Prediction(tuple(costs))
