"""Co-resident programs share an SM by age: their schedule, and the K/V DRAM reads it costs.

Input: a pass kernel of a per-tile launch, its `Tiling`, the resident programs per SM `c`
(einsim.gpu.model.ctas_per_sm), the jobs in launch order (einsim.gpu.l2sim.build_jobs) and a `GpuArch`.
Output: `schedule` — when every job starts each of its K/V tiles — and `kv_reads`, that schedule through
the card's measured L2 hit curve (einsim.gpu.l2sim; the K/V DRAM reads per head that einsim.gpu.model
uses where a head has more programs than the device holds).

Why (studies/gpu_timeline_probe.py, notes_gpu.md v14). Each program recorded its SM and %globaltimer at 8
points of its K/V loop (H200). Replayed through the LRU of half the L2, those recorded schedules give the
DRAM bytes Nsight Compute measured for K+V streams (1x1x262144 D=64: 14.6 K/V reads per head measured and
replayed; 8.0 in lockstep waves). In them the programs sharing an SM run at unequal speed, the older one
faster: the default D=64 program runs its second half (as the older of two) 1/0.83 times as fast as its
first half. Two programs that start together end apart, the next program on the SM starts behind its
neighbour, and the offset grows until the c resident programs run 1/c of a program apart; each then
streams the head by itself, and when that distance is more than the L2 keeps, each reads it from DRAM.

Model:
- Rates. The k-th oldest of the programs running on an SM advances at q^k K/V tiles per unit time (the
  oldest at 1). q is a property of the compiled pass kernel, the same on the H100 and the H200. The
  timeline probe (entry-and-exit mode) showed the mechanism and read q from first waves, but its added
  code moves some kernels' schedules; so q is read from the plain kernel's own DRAM bytes instead: the
  q whose schedule, through the L2's hit curve, reads what Nsight Compute measured, fitted over the
  registered holdouts' shapes (studies/gpu_rate_from_bytes.py: least squares in MiB; for the three
  kernels the probe read wrong, one q holds at every calibration shape to 0.01-0.03).
  `MEASURED_YOUNG_RATE`, by pass, head dim and causality (causal kernels are other compiled code), for
  the default 8-warp launches of the benchmark's cascades; 1.0 (programs in step) for lazy rescaling
  and for 4-warp programs of 128 rows; `DEFAULT_YOUNG_RATE` (the 1-pass kernel's) for a kernel not
  measured. The SASS simulation (einsim.gpu.sass, oldest program first) reproduces the drift's
  direction for most kernels but not its size (`python studies/gpu_model_alternatives.py --part C`), so
  q is measured, not derived.
- Schedule. Per-tile launches: job j starts on SM j mod SMs at first, then each job takes the first slot
  that frees (the block scheduler); a program's rank is its start's order on its SM (ties: launch order);
  rates change when a program starts or ends there. Every K/V tile costs the same.
- L2. The schedule goes through einsim.gpu.l2sim with the card's measured hit curve (`GpuArch.l2_hit_curve`:
  the hit fraction of a re-read against its LRU stack distance, from a cyclic scan read by many SMs,
  studies/gpu_l2_curve.py). The hits fall off over 0.47-0.6 of the L2, not at one size. Replaying the
  probe's recorded schedules through it gives the measured reads of the H200's K-only 32 MiB streams
  (max pass 7.1 replayed and measured) that any exact LRU missed (9.9 / 5.0 / 1.6 reads at 0.5 / 0.55 /
  0.6 of the L2), and keeps the K+V streams (notes_gpu.md v15). An exact LRU of `capacity` bytes is
  still there for studies (`kv_reads(..., capacity=...)`).
- Limits. A kernel keeps its q across shapes, but q moves with small changes of the code (the 3-pass PV
  kernel read 0.53 with the entry-and-exit probe and 0.97 with the checkpoint probe's 14 instructions
  per tile; 0.68 plain), so a new kernel needs measured long-head launches; several heads past the L2's
  ramp read as a higher q than one (1x2x131072 on the H200: 0.79-0.83 against 0.68-0.81 at one head,
  notes_gpu.md v16); leader-pays coupling (a tile that misses L2 delays the program that loads it) is
  not modelled.
"""

from __future__ import annotations

import heapq
import math

import numba
import numpy as np

#: q of the default 8-warp launches (128 x 64 tiles, 3 stages), by (pass label, head dim, causal), read
#: from the plain kernels' own DRAM bytes (studies/gpu_rate_from_bytes.py --calibration): per kernel, the
#: q whose schedules through the L2's hit curve read the K/V bytes Nsight Compute measured for the plain
#: launches of holdouts 1-4 (shapes no benchmark run measured; H100 and H200 together) best, least squares
#: in MiB. Until v15 q came from the probe's entry-and-exit first waves; the probe's added code moved
#: some kernels' schedules (3-pass PV 0.53, causal 1-pass 0.86, causal 3-pass PV 0.72 there; their plain
#: launches read as 0.68, 0.78 and 0.78 at every calibration shape, on both cards) and agreed within
#: 0.05 for the rest but the D=128 max pass (1.0 probed, 0.91 fitted; notes_gpu.md v16).
MEASURED_YOUNG_RATE = {
    ("online-softmax+PV+div", 64, False): 0.80,
    ("exp+sum+PV+div", 64, False): 0.73,
    ("exp+normalize+PV", 64, False): 0.68,
    ("max", 64, False): 0.71,
    ("exp+sum", 64, False): 0.45,
    ("max", 128, False): 0.91,
    ("exp+sum", 128, False): 1.0,
    ("online-softmax+PV+div", 64, True): 0.78,
    ("max", 64, True): 0.66,
    ("exp+sum", 64, True): 0.45,
    ("exp+normalize+PV", 64, True): 0.78,
}
#: q of a kernel not measured: the 1-pass D=64 kernel's
DEFAULT_YOUNG_RATE = 0.80
#: (block_m, block_n, num_warps, num_stages) of the launches `MEASURED_YOUNG_RATE` holds
MEASURED_LAUNCH = (128, 64, 8, 3)


def young_rate(lazy: bool, t, label: str, head_dim: int, causal: bool = False) -> float:
    """q of a pass kernel: 1.0 for lazy rescaling and 4-warp programs of 128 rows (measured in step), else
    `MEASURED_YOUNG_RATE` for the default launch, else `DEFAULT_YOUNG_RATE`."""
    if lazy or (t.num_warps <= 4 and t.block_m >= 128):
        return 1.0
    if (t.block_m, t.block_n, t.num_warps, t.num_stages) == MEASURED_LAUNCH:
        return MEASURED_YOUNG_RATE.get((label, head_dim, causal), DEFAULT_YOUNG_RATE)
    return DEFAULT_YOUNG_RATE


@numba.njit(cache=True)
def _rerate(s, now, c, job, start, frac, rate, t_last, ver, rates, heap):
    """Ranks and rates of SM s's running programs from `now` (their progress so far banked)."""
    base = s * c
    m = 0
    for q in range(base, base + c):
        if job[q] >= 0:
            m += 1
    for q in range(base, base + c):
        if job[q] < 0:
            continue
        frac[q] += (now - t_last[q]) * rate[q]
        t_last[q] = now
        k = 0
        for o in range(base, base + c):
            if o != q and job[o] >= 0:
                if start[job[o]] < start[job[q]] or (start[job[o]] == start[job[q]] and job[o] < job[q]):
                    k += 1
        rate[q] = rates[m - 1, k]
        ver[q] += 1
        heapq.heappush(heap, (now + max(1.0 - frac[q], 0.0) / rate[q], ver[q], q))


@numba.njit(cache=True)
def _schedule(ntiles, sms, c, rates):
    """Start time of every tile of every job (flat, jobs in order) and each job's start and end."""
    jobs = ntiles.shape[0]
    offs = np.zeros(jobs + 1, dtype=np.int64)
    for j in range(jobs):
        offs[j + 1] = offs[j] + ntiles[j]
    tile_t = np.zeros(offs[jobs], dtype=np.float64)
    start = np.zeros(jobs, dtype=np.float64)
    end = np.zeros(jobs, dtype=np.float64)
    slots = sms * c
    job = -np.ones(slots, dtype=np.int64)  # the job a slot runs (-1: idle)
    pos = np.zeros(slots, dtype=np.int64)  # its next tile
    frac = np.zeros(slots, dtype=np.float64)  # progress into that tile
    rate = np.ones(slots, dtype=np.float64)
    t_last = np.zeros(slots, dtype=np.float64)
    ver = np.zeros(slots, dtype=np.int64)
    heap = [(0.0, 0, 0)]
    heap.pop()
    nxt = 0
    # initial dispatch: job j to SM j mod sms, the SMs' slots in turn
    for k in range(c):
        for s in range(sms):
            if nxt < jobs:
                job[s * c + k] = nxt
                nxt += 1
    for s in range(sms):
        _rerate(s, 0.0, c, job, start, frac, rate, t_last, ver, rates, heap)
    while len(heap) > 0:
        now, v, q = heapq.heappop(heap)
        if v != ver[q] or job[q] < 0:
            continue
        j = job[q]
        pos[q] += 1
        frac[q] = 0.0
        t_last[q] = now
        if pos[q] < ntiles[j]:
            tile_t[offs[j] + pos[q]] = now
            ver[q] += 1
            heapq.heappush(heap, (now + 1.0 / rate[q], ver[q], q))
            continue
        end[j] = now
        job[q] = -1
        if nxt < jobs:  # the block scheduler: the next job in launch order takes the freed slot
            job[q] = nxt
            start[nxt] = now
            tile_t[offs[nxt]] = now
            pos[q] = 0
            nxt += 1
        _rerate(q // c, now, c, job, start, frac, rate, t_last, ver, rates, heap)
    return tile_t, start, end


def schedule(ntiles: np.ndarray, sms: int, c: int, q: float):
    """(tile start times, job starts, job ends) for jobs of `ntiles` K/V tiles each, `c` per SM, the k-th
    oldest running program of an SM advancing q^k tiles per unit time."""
    r = np.array([[q**k for k in range(c)] for _ in range(c)], dtype=np.float64)
    return _schedule(np.asarray(ntiles, dtype=np.int64), int(sms), int(c), r)


#: K/V tiles simulated at most per kernel: longer jobs advance in groups of consecutive tiles
MAX_EVENTS = 2_000_000


def kv_reads(plan, pk, shape, t, arch, c: int, lazy: bool, capacity: float | None = None, rate: float | None = None):
    """K/V DRAM reads (einsim.gpu.l2sim.SimResult) of pass kernel `pk` launched a program per tile with `c`
    programs per SM sharing it by age (module docstring); `lazy`: the pass rescales lazily; `rate`: q in
    place of the kernel's (`young_rate`), for studies that read q back from measured bytes."""
    import dataclasses

    from einsim.gpu.l2sim import build_jobs, schedule_reads

    _, _, n = build_jobs(plan, shape, t)
    g = max(1, math.ceil(int(n.sum()) / MAX_EVENTS))  # tiles per simulated access
    tg = dataclasses.replace(t, block_n=t.block_n * g) if g > 1 else t
    if g > 1:
        _, _, n = build_jobs(plan, shape, tg)
    q = young_rate(lazy, t, pk.label, shape.D, plan.causal) if rate is None else rate
    tiles, start, end = schedule(n, arch.sms, c, q)
    return schedule_reads(plan, pk, shape, tg, arch, tiles, start, end, capacity)
