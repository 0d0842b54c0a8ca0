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
  the wave needs). Programs that drift apart inside a wave read more (D=64, 2 programs per SM, 64 MiB
  of K/V per head: 1.7-1.9 reads per wave on the H200); that is not modelled. Writes: O and the row
  statistics that cross a pass boundary. Split-K plans run every query tile's key chunks as separate
  programs that write chunk summaries (fp32 max, sum, numerator), then a memory-bound combine kernel.
- Time. Per kernel: tensor-core time (score points × 2D per dot at the datasheet rate), ex2 time at
  16/clk/SM and fp32 issue time for the per-score element-wise work (counted from the flags: scale
  unless folded, max, exponent argument, sum, normalization, cast of P, accumulator rescale unless
  lazy). The largest part is paid in full, the others by `serial_max / programs_per_SM **
  overlap_exponent` (one 8-warp program per SM barely overlaps softmax with the MMAs; several do), plus
  a per-program overhead per wave, scaled for idle SMs and the last partial wave. The kernel takes the
  largest of that, its SM←L2 K/V tile stream over `arch.l2_read_bw` (binds the max-only pass) and its
  DRAM bytes over the measured copy bandwidth — or, with few programs (decode of one sequence), over
  what they keep in flight per load latency (Little's law) — plus a launch cost. Resident programs per SM come from
  shared memory and a register estimate (checked against ptxas, einsim.gpu.inspect).
Constants marked "fitted" in einsim.gpu.arch were fitted to run 1 of studies/gpu_benchmark.py on an
H200 and checked against runs 2-5 (studies/notes_gpu.md); the re-stream factor of v1-v5 (1.3 per wave,
fitted) is replaced by the lockstep wave count (v6); the lazy-rescale saving is a prediction that
run 2 contradicted (its block-wide branch adds barriers the model does not count).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from einsim.gpu.arch import GpuArch
from einsim.gpu.plan import KernelPlan, PassKernel, Shape, Tiling, choose_splits, launch_rows


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

    @property
    def bound(self) -> str:
        if self.dram_s >= max(self.l2_s, self.compute_s):
            return "memory"
        return "l2" if self.l2_s >= self.compute_s else "compute"


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


def ctas_per_sm(pk: PassKernel, shape: Shape, t: Tiling, arch: GpuArch) -> int:
    """Resident programs per SM, limited by shared memory (K/V pipeline stages and Q) and registers."""
    elt = shape.elt_bytes
    smem = t.num_stages * t.block_n * shape.D * elt * (1 + int(pk.do_pv)) + t.block_m * shape.D * elt
    threads = 32 * t.num_warps
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


def _kv_streams(plan: KernelPlan, shape: Shape, t: Tiling, slots: int, stream_bytes: float, arch: GpuArch) -> float:
    """How many times one K/V head's stream reaches DRAM in one kernel, on average over the heads.

    Once while every program of the head is resident together or the stream fits the L2 share
    `arch.l2_reuse_bytes`. Beyond both, waves in lockstep: programs launch in order (query tiles
    fastest, then heads), so `slots` resident programs form a wave that streams, tile by tile and in
    step, the K/V of every head it holds, one DRAM read per tile, and the next wave finds the start of
    the stream evicted. A head's stream is read once per wave that holds any of its programs (a wave
    straddling two heads streams both); causal: each wave reads the prefix its last query tile needs.
    (Kernels whose programs drift apart within a wave read more: notes_gpu.md, v6.)
    """
    rows, _ = launch_rows(shape, t)
    n_qt = math.ceil(rows / t.block_m)
    per_head = n_qt * (1 if t.group_rows else shape.R)
    if per_head <= slots or stream_bytes <= arch.l2_reuse_bytes:
        return 1.0
    need = _tiles_per_qtile(plan, shape, t)
    full = max(need)
    heads = shape.B * shape.kv_heads
    total = 0.0
    for j in range(heads):
        lo, hi = j * per_head, (j + 1) * per_head  # this head's programs in launch order
        for w in range(lo // slots, (hi - 1) // slots + 1):
            last = min(hi, (w + 1) * slots) - 1 - lo  # the head's last program in wave w
            total += need[last % n_qt] / full
    return total / heads


def predict(plan: KernelPlan, shape: Shape, tiling: Tiling, arch: GpuArch) -> Prediction:
    """Predicted DRAM bytes and time of every kernel of `plan` at `shape` on `arch`."""
    t = tiling
    elt = shape.elt_bytes
    rows, hp = launch_rows(shape, t)
    tiles_q = _tiles_per_qtile(plan, shape, t)
    programs = len(tiles_q) * shape.B * hp
    n_split, _ = choose_splits(plan, shape, t, arch.sms)
    programs *= n_split  # split-K: the key chunks of every query tile run as separate programs
    part_bytes = n_split * shape.B * hp * rows * (shape.D + 2) * 4 if plan.split_k else 0
    tiles = sum(tiles_q) * shape.B * hp
    points = float(tiles) * t.block_m * t.block_n
    q_bytes = shape.B * shape.H * shape.N_Q * shape.D * elt
    stat_bytes = shape.B * shape.H * shape.N_Q * 4
    kv_head = shape.N_KV * shape.D * elt
    costs = []
    for pk in plan.kernels:
        occ = ctas_per_sm(pk, shape, t, arch)
        slots = occ * arch.sms
        mma = points * 2 * shape.D * pk.dots
        eager = pk.online and pk.do_exp and not t.lazy_rescale
        exps = (points if pk.do_exp else 0.0) + (tiles * t.block_m if eager else 0.0)
        per_point = 0.0 if plan.score_fns == () else 1.0  # scale (else folded into the exponent's FMA)
        per_point += 1.0 if pk.online else 0.0  # running/row max
        per_point += 1.0 if pk.do_exp else 0.0  # exponent argument
        per_point += 1.0 if pk.do_sum else 0.0
        per_point += 1.0 if pk.div_in_loop else 0.0
        per_point += 0.5 if pk.do_pv else 0.0  # cast of P
        per_point += shape.D / t.block_n if eager and pk.do_pv else 0.0  # rescale of the accumulator
        fp32 = points * per_point
        stream = kv_head * (1 + int(pk.do_pv))
        streams = _kv_streams(plan, shape, t, slots, stream, arch)
        reads = q_bytes + stream * streams * shape.B * shape.kv_heads
        reads += stat_bytes * (int(pk.read_m) + int(pk.div_in_loop))
        writes = q_bytes * int(pk.write_o and not plan.split_k) + stat_bytes * (int(pk.write_m) + int(pk.write_l))
        writes += part_bytes  # split-K: chunk summaries (max, sum, fp32 numerator) instead of O
        mma_s = mma / arch.mma_flops
        exp_s = exps / arch.mufu_rate
        fp32_s = fp32 / arch.fp32_rate
        parts = (mma_s, exp_s, fp32_s)
        serial = arch.serial_max / occ**arch.overlap_exponent
        compute = max(parts) + serial * (sum(parts) - max(parts))
        compute += programs / slots * arch.program_overhead_s
        if programs < arch.sms:
            compute *= arch.sms / programs
        elif plan.band is None:
            waves = programs / slots
            compute *= math.ceil(waves) / waves
        l2_bytes = tiles * t.block_n * shape.D * elt * (1 + int(pk.do_pv))
        l2_s = l2_bytes / arch.l2_read_bw
        # a program keeps (stages - 1) K/V tiles in flight: with few programs that, not HBM, binds
        inflight = max(1, t.num_stages - 1) * t.block_n * shape.D * elt * (1 + int(pk.do_pv))
        bw = min(arch.hbm_copy_bw, min(programs, slots) * inflight / arch.load_latency_s)
        dram_s = (reads + writes) / bw
        seconds = max(compute, l2_s, dram_s) + arch.launch_s
        costs.append(
            KernelCost(
                pk.index,
                pk.label,
                programs,
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
            )
        )
    if plan.split_k:
        # the combine kernel: reads every chunk summary once, writes O; memory-bound
        comb = part_bytes + q_bytes
        sec = comb / arch.hbm_copy_bw + arch.launch_s
        z, dram_s = 0.0, comb / arch.hbm_copy_bw
        n_comb = len(tiles_q) * shape.B * hp
        costs.append(
            KernelCost(
                len(costs) + 1, "combine", n_comb, 1, z, z, z, z, part_bytes, q_bytes, z, z, z, z, z, dram_s, sec
            ),
        )
    return Prediction(tuple(costs))
