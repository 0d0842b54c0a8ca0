"""Trace-driven model of K/V DRAM re-reads: programs in time, their tile stream through an LRU L2.

Input: a `KernelPlan`, one of its `PassKernel`s, a `Shape`, the launch `Tiling` and a `GpuArch`, plus the
timing mechanism (`Timing`). Output: `SimResult` — the K/V DRAM bytes of the kernel, the K/V reads per head
(the quantity `einsim.gpu.model._kv_streams` predicts), and the number of simulated tile accesses.
Two entry points take the schedule from elsewhere and keep only the L2: `schedule_reads` (any schedule,
e.g. einsim.gpu.coresident's, which the GPU model uses) and `replay` (a schedule the GPU recorded with
the kernels' TIMELINE probe, studies/gpu_timeline_probe.py: it gives the measured bytes, notes v14).

What is simulated (pure numpy + numba; no torch, no triton):
- Jobs. One job per (head program, query tile) in launch order (query tiles fastest, then heads; causal
  heavy-first plans launch the last query tile first), each visiting the K/V tiles its band needs, in
  ascending order (`einsim.gpu.model._tiles_per_qtile`'s counts; the first tile of a windowed band from the
  band's lower bound). Split-K plans are not simulated (their chunks never exceed the L2 share).
- Schedule. Per-tile launches: `slots` = resident programs per SM x SMs; the next job in launch order
  starts on the first slot that frees up (the block scheduler). Persistent launches: P = min(jobs, SMs x
  `t.persistent`) programs, program p runs jobs p, p + P, ... back to back (the round-robin deal;
  causal launches with an even number of query tiles deal pairs of tiles, heavy then light, as the
  kernel does: einsim.gpu.plan.paired_deal).
- Time. Every K/V tile of a job costs `tau` (one unit; only ratios matter) times the timing mechanism's
  factors: (i) lognormal per-tile jitter of relative spread `sigma` (a random walk along a program's
  tiles; a per-tile launch restarts its programs in launch order, a persistent one never does), and
  (ii) leader-pays: a tile that misses L2 costs the program `penalty` x tau more (exposed DRAM latency), so a
  program that falls behind a leader hits L2 and catches up; a kernel that hides its load latency has
  penalty 0; (iii) fixed per-slot speed differences `rate_spread` (SMs, co-resident programs). With all
  three 0 every wave of resident programs streams K/V in step (the lockstep model), and causal persistent
  programs dealt single tiles drift only by their unequal job lengths (deterministic). Per-job overhead: `job_overhead`.
- L2. One LRU stack over byte-weighted keys: each K/V tile (K and V of `block_n` keys, or K alone for
  K-only passes) is a key; each job's Q tile read and O tile write occupy L2 once (never reused). An access
  hits when the bytes of distinct keys touched since its last access, plus its own, fit `capacity`.
  Default `arch.l2_bytes / 2`: H100/H200 L2 is two partitions and a line read by SMs on both sides is held
  in both, so data every SM streams gets half the L2. (`arch.l2_reuse_bytes`, 16/20 MiB, also gives exact
  lockstep on one-head streams, but evicts 8-16 MiB heads that persistent multi-head launches measurably
  keep, and K-only streams; `arch.l2_bytes` keeps 32 MiB heads that are measured re-read.) Stack distances
  come from a Fenwick tree over access indices (exact LRU). Accesses to a tile still in flight (requested
  by a leader, not arrived) merge in L2: hits.
Findings (studies/gpu_drift_sim.py, 90 distinct measured records): with sigma = penalty = spread = 0 it
reproduces lockstep wherever lockstep is right; no timing mechanism here explains the drift of fast
D=64 launches or of persistent non-causal launches without breaking the coupled per-tile launches (each
perturbation desynchronizes per-tile launches as much as persistent ones; the block scheduler restarts
programs in launch order but not in step). Not a replacement for `einsim.gpu.model._kv_streams`.
Assumptions and limits: tile-granular (no sector partial hits, no prefetch beyond the accessed tile),
one access per K/V tile per program (the SM<-L2 stream is not throttled), equal per-tile cost within a
job (masked diagonal tiles cost the same). Cost: one event per (program, K/V tile), coarsened to at most
`Timing.max_events` (2 M) per kernel: 1x1x262144 D=64 BLOCK_N 64 (8.4 M tiles) 0.4 s coarsened, 0.9 s
exact; a 4K-16K benchmark shape 7-30 ms; numba compiles once (~3 s, cached on disk).
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

import numba
import numpy as np

from einsim.gpu.arch import GpuArch
from einsim.gpu.model import _launch_order, _tiles_per_qtile, ctas_per_sm
from einsim.gpu.plan import (
    TIMELINE_CHECKPOINTS,
    KernelPlan,
    PassKernel,
    Shape,
    Tiling,
    launch_rows,
    paired_deal,
    persistent_applies,
    ws_applies,
)

#: warp-specialized kernels on sm_90: 3 partitions x 4 warps at 168 registers (ptxas via
#: einsim.gpu.inspect) = 64512 of 65536 registers: one program per SM, whatever `ctas_per_sm` estimates
WS_PROGRAMS_PER_SM = 1


@dataclass(frozen=True)
class Timing:
    """How long each K/V tile takes a program, relative to the mean tile time (1)."""

    #: lognormal relative spread of each tile's duration (0: deterministic)
    sigma: float = 0.0
    #: extra time of a tile that misses L2, in mean tile times (exposed DRAM latency; 0: hidden)
    penalty: float = 0.0
    #: per-job prologue + epilogue in tile times (Q load, pipeline fill, O store)
    job_overhead: float = 0.0
    seed: int = 0
    #: fixed per-slot speed differences: slot s's tiles take 1 + rate_spread * u_s, u_s spread evenly over
    #: [-1, 1) (a golden-ratio sequence over the slots: SMs nearer or farther from the L2 slice, co-resident
    #: programs served unevenly); persistent programs keep theirs over all their jobs
    rate_spread: float = 0.0
    #: K/V tiles per simulated event (1: exact); `simulate` coarsens long streams to at most
    #: `max_events` events (consecutive tiles of one job are one access of their summed bytes)
    max_events: int = 2_000_000


@dataclass(frozen=True)
class SimResult:
    kv_read_bytes: float
    #: K/V DRAM reads of one head's stream, averaged over heads (model._kv_streams' quantity)
    reads_per_head: float
    accesses: int
    programs: int
    slots: int


def resident_slots(pk: PassKernel, plan: KernelPlan, shape: Shape, t: Tiling, arch: GpuArch) -> int:
    """Resident programs on the device: the model's occupancy estimate (one per SM for warp-specialized
    kernels); persistent launches: the launched programs, at most that."""
    ws = t.warp_specialize and ws_applies(plan, shape, t)
    occ = WS_PROGRAMS_PER_SM if ws else ctas_per_sm(pk, shape, t, arch)
    return occ * arch.sms


def build_jobs(plan: KernelPlan, shape: Shape, t: Tiling) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(head, first K/V tile, K/V tile count) of every job in launch order."""
    rows, hp = launch_rows(shape, t)
    need = _tiles_per_qtile(plan, shape, t)
    n_qt = len(need)
    order = _launch_order(plan, t, n_qt)
    hi, lo = plan.band_offsets(shape)
    first = []
    for i in range(n_qt):
        if lo is None or t.group_rows:
            first.append(0)
        else:
            first.append(max(i * t.block_m + lo, 0) // t.block_n)
    per_head = [(first[i], need[i]) for i in order]
    heads = shape.B * hp
    R = 1 if t.group_rows else shape.R
    head = np.repeat(np.arange(heads) // R, n_qt).astype(np.int64)
    f = np.tile(np.array([a for a, _ in per_head], dtype=np.int64), heads)
    n = np.tile(np.array([b for _, b in per_head], dtype=np.int64), heads)
    return head, f, n


def _paired_deal_order(head, first, n, n_qt: int, programs: int):
    """The jobs of a paired deal (einsim.gpu.plan.paired_deal) laid out for the round-robin deal: pair q
    (the heavy tile i and the light tile n_qt - 1 - i of the heavy-first order, of one head) goes to
    positions 2rP + p and (2r + 1)P + p, r, p = divmod(q, P), so program p runs its pairs heavy then
    light; the positions of the last round without a pair are empty jobs (skipped)."""
    half = n_qt // 2
    heads = len(head) // n_qt
    q = np.arange(heads * half)
    h, i = q // half, q % half
    heavy, light = h * n_qt + i, h * n_qt + n_qt - 1 - i
    r, p = q // programs, q % programs
    size = 2 * programs * (int(r[-1]) + 1) if len(q) else 0
    out = [np.zeros(size, dtype=np.int64) for _ in range(3)]
    for src, pos in ((heavy, 2 * r * programs + p), (light, (2 * r + 1) * programs + p)):
        for o, a in zip(out, (head, first, n)):
            o[pos] = a[src]
    return tuple(out)


@numba.njit(cache=True)
def _bit_add(tree, i, v):
    n = tree.shape[0]
    i += 1
    while i <= n:
        tree[i - 1] += v
        i += i & (-i)


@numba.njit(cache=True)
def _bit_sum(tree, i):  # sum of entries [0, i]
    s = 0.0
    i += 1
    while i > 0:
        s += tree[i - 1]
        i -= i & (-i)
    return s


@numba.njit(cache=True)
def _next_job(j, nxt, n_prog, jobs, ntiles, persistent):
    """The program's next non-empty job (round-robin deal, or the next in launch order) and the cursor."""
    while True:
        if persistent:
            j = j + n_prog
        else:
            j = nxt
            nxt += 1
        if j >= jobs or ntiles[j] > 0:
            return j, nxt


@numba.njit(cache=True)
def _simulate(
    head, first, ntiles, n_tiles_head, slots, persistent, tile_b, q_b, o_b, cap, sigma, penalty, ovh, seed, spread
):
    np.random.seed(seed)
    jobs = head.shape[0]
    tree = np.zeros(int(ntiles.sum()) + 2 * jobs + 1, dtype=np.float64)  # Fenwick tree over access indices
    last = -np.ones((int(head.max()) + 1) * n_tiles_head, dtype=np.int64)
    a = 0  # access index
    miss_bytes = 0.0
    n_prog = min(slots, jobs)
    cur = np.zeros(n_prog, dtype=np.int64)
    pos = np.zeros(n_prog, dtype=np.int64)
    heap = [(0.0, 0, 0)]  # (time, job: ties in launch order, program)
    heap.pop()
    nxt = 0
    for p in range(n_prog):
        j, nxt = _next_job(p - n_prog, nxt, n_prog, jobs, ntiles, persistent)
        if j < jobs:
            cur[p] = j
            heap.append((0.0, j, p))
    heapq.heapify(heap)
    rate = np.empty(n_prog)
    for p in range(n_prog):
        rate[p] = 1.0 + spread * (2.0 * ((p * 0.6180339887498949) % 1.0) - 1.0)
    while len(heap) > 0:
        tm, j, p = heapq.heappop(heap)
        if pos[p] == 0:  # job start: its Q tile passes through L2
            _bit_add(tree, a, q_b)
            a += 1
        k = head[j] * n_tiles_head + first[j] + pos[p]
        hit = False
        if last[k] >= 0:
            dist = _bit_sum(tree, a - 1) - _bit_sum(tree, last[k])
            hit = dist + tile_b <= cap
            _bit_add(tree, last[k], -tile_b)
        _bit_add(tree, a, tile_b)
        last[k] = a
        a += 1
        dt = rate[p]
        if sigma > 0.0:
            dt *= math.exp(sigma * np.random.standard_normal() - 0.5 * sigma * sigma)
        if not hit:
            miss_bytes += tile_b
            dt += penalty
        pos[p] += 1
        if pos[p] >= ntiles[j]:  # job done: its O tile, then the program's next job
            _bit_add(tree, a, o_b)
            a += 1
            pos[p] = 0
            j, nxt = _next_job(j, nxt, n_prog, jobs, ntiles, persistent)
            if j >= jobs:
                continue
            cur[p] = j
            dt += ovh
        heapq.heappush(heap, (tm + dt, j, p))
    return miss_bytes, a


def simulate(
    plan: KernelPlan,
    pk: PassKernel,
    shape: Shape,
    t: Tiling,
    arch: GpuArch,
    timing: Timing = Timing(),
    capacity: float | None = None,
    slots: int | None = None,
) -> SimResult:
    """K/V DRAM reads of pass kernel `pk` of `plan` at `shape` launched with `t` (module docstring)."""
    elt = shape.elt_bytes
    head, first, n = build_jobs(plan, shape, t)
    persistent = persistent_applies(plan, t)
    if slots is None:
        slots = resident_slots(pk, plan, shape, t, arch)
        if persistent:
            slots = min(slots, arch.sms * t.persistent)
    if paired_deal(plan, shape, t):
        head, first, n = _paired_deal_order(head, first, n, len(_tiles_per_qtile(plan, shape, t)), int(slots))
    c = max(1, math.ceil(int(n.sum()) / timing.max_events))  # tiles per event
    if c > 1:  # coarsen: c consecutive K/V tiles are one access (their stream stays in order)
        n_th_c = math.ceil(math.ceil(shape.N_KV / t.block_n) / c)
        last = (first + n - 1) // c
        first = first // c
        n = np.where(n > 0, last - first + 1, 0)
    tile_b = float(c * t.block_n * shape.D * elt * (1 + int(pk.do_pv)))
    q_b = float(t.block_m * shape.D * elt)
    o_b = q_b if pk.write_o else 0.0
    cap = float(arch.l2_bytes / 2 if capacity is None else capacity)
    n_th = n_th_c if c > 1 else math.ceil(shape.N_KV / t.block_n)
    miss, acc = _simulate(
        head, first, n, n_th, int(slots), persistent, tile_b, q_b, o_b, cap,
        float(timing.sigma) / math.sqrt(c), float(timing.penalty), float(timing.job_overhead) / c, int(timing.seed),
        float(timing.rate_spread),
    )  # fmt: skip
    stream = shape.N_KV * shape.D * elt * (1 + int(pk.do_pv))
    kv_heads = int(head.max()) + 1
    return SimResult(miss, miss / (stream * kv_heads), int(acc), len(head), int(min(slots, len(head))))


def kernel_kv_reads(plan: KernelPlan, shape: Shape, t: Tiling, arch: GpuArch, timing: Timing = Timing(), **kw) -> float:
    """K/V DRAM bytes summed over the plan's pass kernels."""
    return sum(simulate(plan, pk, shape, t, arch, timing, **kw).kv_read_bytes for pk in plan.kernels)


@numba.njit(cache=True)
def _lru_misses(keys, nbytes, n_keys, curve_x, curve_h):
    """Bytes of the accesses (key, bytes) that miss an L2 whose hit fraction at LRU stack distance d
    (bytes of distinct keys touched since the key's last access, plus its own) is interp(d, curve_x,
    curve_h); key -1: never reused. A step curve is an exact LRU."""
    tree = np.zeros(keys.shape[0] + 1, dtype=np.float64)
    last = -np.ones(n_keys, dtype=np.int64)
    miss = 0.0
    for a in range(keys.shape[0]):
        k = keys[a]
        b = nbytes[a]
        if k >= 0:
            h = 0.0
            if last[k] >= 0:
                dist = _bit_sum(tree, a - 1) - _bit_sum(tree, last[k])
                h = np.interp(dist + b, curve_x, curve_h)
                _bit_add(tree, last[k], -b)
            miss += b * (1.0 - h)
            last[k] = a
        _bit_add(tree, a, b)
    return miss


def hit_curve(arch: GpuArch, capacity: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(stack distance bytes, hit fraction) knots of the L2 the replays use: an exact LRU of `capacity`
    bytes when given (a step), else the card's measured curve (`arch.l2_hit_curve`: a cyclic scan read by
    many SMs, studies/gpu_l2_curve.py), else an exact LRU of half the L2."""
    if capacity is None and arch.l2_hit_curve:
        x, h = zip(*arch.l2_hit_curve)
        return np.array(x, dtype=np.float64), np.array(h, dtype=np.float64)
    cap = float(arch.l2_bytes / 2 if capacity is None else capacity)
    return np.array([cap, np.nextafter(cap, np.inf)]), np.array([1.0, 0.0])


def timeline_tile_times(timeline: np.ndarray, ntiles: np.ndarray) -> list[np.ndarray]:
    """When each job of a recorded launch (einsim.gpu.kernels' TIMELINE rows, one per program in launch
    order) started each of its K/V tiles: piecewise linear between the checkpoints it wrote (tile
    k * ceil(n / 8) for k = 0..7 that exist, then the loop's end at tile n)."""
    out = []
    for row, n in zip(timeline, ntiles):
        n = int(n)
        seg = max(-(-n // TIMELINE_CHECKPOINTS), 1)
        ks = [k for k in range(TIMELINE_CHECKPOINTS) if k * seg < n]
        knots_x = np.array([k * seg for k in ks] + [n], dtype=np.float64)
        knots_t = np.array([row[2 + k] for k in ks] + [row[2 + TIMELINE_CHECKPOINTS]], dtype=np.float64)
        out.append(np.interp(np.arange(n, dtype=np.float64), knots_x, knots_t))
    return out


def schedule_reads(
    plan: KernelPlan,
    pk: PassKernel,
    shape: Shape,
    t: Tiling,
    arch: GpuArch,
    tile_times: np.ndarray,
    job_start: np.ndarray,
    job_end: np.ndarray,
    capacity: float | None = None,
) -> SimResult:
    """K/V DRAM reads of pass kernel `pk` under a given schedule: `tile_times` (flat, the jobs of
    `build_jobs` in order, each job's K/V tiles in order) and each job's start (its Q tile read, just
    before its first tile) and end (its O tile write), in any time unit, through the L2 of `hit_curve`:
    an exact LRU of `capacity` bytes when given, else the card's measured hit curve."""
    head, first, n = build_jobs(plan, shape, t)
    elt = shape.elt_bytes
    tile_b = float(t.block_n * shape.D * elt * (1 + int(pk.do_pv)))
    q_b = float(t.block_m * shape.D * elt)
    n_th = math.ceil(shape.N_KV / t.block_n)
    jobs = len(head)
    keys = np.repeat(head * n_th + first, n) + (np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n))
    eps = 1e-9 * max(float(np.max(job_end) - np.min(job_start)), 1.0)
    tt = np.concatenate([tile_times, job_start - eps, job_end])
    kk = np.concatenate([keys, np.full(2 * jobs, -1, dtype=np.int64)])
    bb = np.concatenate([np.full(len(keys), tile_b), np.full(jobs, q_b), np.full(jobs, q_b if pk.write_o else 0.0)])
    order = np.argsort(tt, kind="stable")
    miss = _lru_misses(kk[order], bb[order], (int(head.max()) + 1) * n_th, *hit_curve(arch, capacity))
    stream = shape.N_KV * shape.D * elt * (1 + int(pk.do_pv))
    return SimResult(miss, miss / (stream * (int(head.max()) + 1)), len(tt), jobs, jobs)


def replay(
    plan: KernelPlan,
    pk: PassKernel,
    shape: Shape,
    t: Tiling,
    arch: GpuArch,
    timeline: np.ndarray,
    capacity: float | None = None,
) -> SimResult:
    """K/V DRAM reads of pass kernel `pk` as its programs ran on the GPU: the recorded `timeline` ([programs,
    TIMELINE_FIELDS] int64 from `einsim.gpu.runtime.prepare(..., timeline=...)`) orders every K/V tile
    access, Q tile read (at the program's entry) and O tile write (at its exit) in time, through the L2 of
    `hit_curve` (an exact LRU of `capacity` bytes when given, else the card's measured hit curve). No
    timing mechanism is assumed: what is left is the L2 and the within-program interpolation between
    checkpoints."""
    if persistent_applies(plan, t) or plan.split_k:
        raise ValueError("replay: recorded timelines exist for per-tile launches only")
    _, _, n = build_jobs(plan, shape, t)
    if timeline.shape[0] != len(n):
        raise ValueError(f"replay: {timeline.shape[0]} timeline rows for {len(n)} programs")
    times = np.concatenate(timeline_tile_times(timeline, n))
    entry = timeline[:, 1].astype(np.float64)
    exit_ = timeline[:, 3 + TIMELINE_CHECKPOINTS].astype(np.float64)
    return schedule_reads(plan, pk, shape, t, arch, times, entry, exit_, capacity)
