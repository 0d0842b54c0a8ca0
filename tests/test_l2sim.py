"""Hand-computed goldens of the trace-driven K/V re-read simulation (einsim.gpu.l2sim)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

import einsim
from einsim.gpu.arch import H200
from einsim.gpu.l2sim import Timing, build_jobs, simulate
from einsim.gpu.lower import lower
from einsim.gpu.model import _kv_streams
from einsim.gpu.plan import Shape, Tiling

LIB = Path(__file__).resolve().parents[1] / "workloads" / "cascades"
PLAN = lower(einsim.parse_file(str(LIB / "cascade5_fa2.ein")))
CAUSAL = lower(einsim.parse_file(str(LIB / "causal_fa2.ein")))
T = Tiling(128, 128, 4, 2)  # a K+V tile of 128 keys at D=128: 64 KiB; a Q or O tile: 32 KiB
TILE = 128 * 128 * 2 * 2


def test_jobs_in_launch_order():
    """Query tiles fastest, then heads; causal heavy-first launches the last query tile (4 K/V tiles) first."""
    head, first, n = build_jobs(PLAN, Shape(1, 2, 256, 512, 128), T)
    assert head.tolist() == [0, 0, 1, 1] and first.tolist() == [0] * 4 and n.tolist() == [4] * 4
    head, first, n = build_jobs(CAUSAL, Shape(1, 1, 512, 512, 128), dataclasses.replace(T, heavy_first=True))
    assert n.tolist() == [4, 3, 2, 1]


def test_paired_deal_order_golden():
    """2 heads of 4 causal query tiles (heavy first: 4, 3, 2, 1 K/V tiles), 3 programs: pairs (4, 1) and
    (3, 2) of head 0, then of head 1; round 0 deals pairs 0-2 (heavy at positions 0-2, light at 3-5),
    round 1 pair 3 to program 0 (positions 6 and 9), the other positions empty."""
    from einsim.gpu.l2sim import _paired_deal_order

    head, first, n = build_jobs(CAUSAL, Shape(1, 2, 512, 512, 128), dataclasses.replace(T, heavy_first=True))
    head, first, n = _paired_deal_order(head, first, n, 4, 3)
    assert n.tolist() == [4, 3, 4, 1, 2, 1, 3, 0, 0, 2, 0, 0]
    assert head.tolist() == [0, 0, 1, 0, 0, 1, 1, 0, 0, 1, 0, 0]


def test_a_stream_that_fits_l2_is_read_once():
    """1 head, 4 query tiles on 2 slots (2 waves), 4 K/V tiles = 256 KiB in a 1 MiB L2: one DRAM read."""
    r = simulate(PLAN, PLAN.kernels[0], Shape(1, 1, 512, 512, 128), T, H200, capacity=2**20, slots=2)
    assert r.reads_per_head == 1.0 and r.kv_read_bytes == 4 * TILE


def test_two_lockstep_waves_read_the_stream_twice():
    """Same launch, L2 of 1.5 tiles: wave 1 (query tiles 0, 1) misses each tile once (its second program
    hits the tile the first just requested); wave 2 finds tile 0 evicted by tiles 1-3: 8 tile reads = 2
    streams, as `_kv_streams` counts."""
    sh = Shape(1, 1, 512, 512, 128)
    r = simulate(PLAN, PLAN.kernels[0], sh, T, H200, capacity=1.5 * TILE, slots=2)
    assert r.kv_read_bytes == 8 * TILE and r.reads_per_head == 2.0
    small = dataclasses.replace(H200, l2_reuse_bytes=1)
    assert _kv_streams(PLAN, sh, T, 2, 4 * TILE, small) == 2.0


def test_lockstep_reproduces_the_model_golden():
    """tests/gpu golden: 4 heads x 512 query tiles on 132 slots -> 19 reads over 4 heads; the same with a
    persistent launch of equal jobs (round-robin keeps them in step), and when coarsened (4 tiles per event)."""
    sh = Shape(1, 4, 65536, 65536, 128)
    t = Tiling(128, 128, 4, 2, tma=True, warp_specialize=True)
    assert _kv_streams(PLAN, sh, t, 132, 64 * 2**20, H200) == 19 / 4
    assert simulate(PLAN, PLAN.kernels[0], sh, t, H200).reads_per_head == 19 / 4
    assert simulate(PLAN, PLAN.kernels[0], sh, dataclasses.replace(t, persistent=1), H200).reads_per_head == 19 / 4
    coarse = simulate(PLAN, PLAN.kernels[0], sh, t, H200, Timing(max_events=300_000))
    assert coarse.accesses < 300_000 + 2 * 2048 and coarse.reads_per_head == 19 / 4


def test_causal_waves_that_start_apart_read_more_than_lockstep():
    """Causal, heavy-first, 2 slots, L2 of 1.5 tiles: wave 1 (query tiles 3, 2) reads tiles 0-3 once; query
    tile 1 starts when tile 2's program ends (t = 3) and misses tiles 0, 1; query tile 0 starts at t = 4, a
    step behind, with tile 1 and an O tile between it and tile 0: a miss. 7 tile reads (lockstep: 6)."""
    t = dataclasses.replace(T, heavy_first=True)
    sh = Shape(1, 1, 512, 512, 128)
    r = simulate(CAUSAL, CAUSAL.kernels[0], sh, t, H200, capacity=1.5 * TILE, slots=2)
    assert r.kv_read_bytes == 7 * TILE
    small = dataclasses.replace(H200, l2_reuse_bytes=1)
    assert _kv_streams(CAUSAL, sh, t, 2, 4 * TILE, small) == 1.5


def test_persistent_causal_imbalance_drifts_without_any_noise():
    """Round-robin causal jobs of unequal length pull persistent programs apart deterministically: more
    reads than per-tile launches of the same jobs (whose waves restart in launch order). Dealt in pairs
    (heavy + light tile of one head, equal jobs) they stay in step: only the light tiles' second pass over
    the first K/V tiles misses, when the round's other heads have evicted them."""
    sh = Shape(4, 16, 4096, 4096, 128)
    t = Tiling(128, 128, 4, 2, tma=True, warp_specialize=True)
    per_tile = simulate(CAUSAL, CAUSAL.kernels[0], sh, t, H200, capacity=H200.l2_bytes / 2)
    single = dataclasses.replace(t, persistent=1, paired=False)
    dealt = simulate(CAUSAL, CAUSAL.kernels[0], sh, single, H200, capacity=H200.l2_bytes / 2)
    paired = simulate(CAUSAL, CAUSAL.kernels[0], sh, dataclasses.replace(t, persistent=1), H200,
                      capacity=H200.l2_bytes / 2)  # fmt: skip
    assert per_tile.reads_per_head == 1.0 and dealt.reads_per_head > 1.5
    assert 1.0 <= paired.reads_per_head < 1.1


def test_leader_pays_pulls_jittered_programs_together():
    """Per-tile jitter alone splits a wave's programs beyond the L2 share; a miss penalty re-couples them."""
    sh = Shape(1, 4, 65536, 65536, 128)
    t = Tiling(128, 128, 4, 2, tma=True, warp_specialize=True)
    free = simulate(PLAN, PLAN.kernels[0], sh, t, H200, Timing(sigma=1.0), capacity=H200.l2_bytes / 2)
    pulled = simulate(PLAN, PLAN.kernels[0], sh, t, H200, Timing(sigma=1.0, penalty=1.0), capacity=H200.l2_bytes / 2)
    assert free.reads_per_head > 2 * 19 / 4 and pulled.reads_per_head < 1.1 * 19 / 4


def _timeline(starts, n_tiles, tile_time=1.0):
    """Rows of einsim.gpu.kernels' TIMELINE probe for programs that start at `starts` and take `tile_time`
    per K/V tile: SM 0, entry, checkpoints at tile k * ceil(n / 8), loop end, exit."""
    from einsim.gpu.plan import TIMELINE_CHECKPOINTS, TIMELINE_FIELDS

    seg = -(-n_tiles // TIMELINE_CHECKPOINTS)
    rows = np.zeros((len(starts), TIMELINE_FIELDS), dtype=np.int64)
    for r, s in zip(rows, starts):
        r[1] = s
        for k in range(TIMELINE_CHECKPOINTS):
            if k * seg < n_tiles:
                r[2 + k] = s + k * seg * tile_time
        r[2 + TIMELINE_CHECKPOINTS] = r[3 + TIMELINE_CHECKPOINTS] = s + n_tiles * tile_time
    return rows


def test_replay_of_lockstep_waves_is_the_lockstep_golden():
    """The golden above (4 heads x 512 query tiles, 512 K/V tiles, 132 slots: 19 reads over 4 heads) from a
    recorded timeline whose waves start together: program j starts at (j // 132) x 512 tile times."""
    from einsim.gpu.l2sim import replay

    sh = Shape(1, 4, 65536, 65536, 128)
    t = Tiling(128, 128, 4, 2, tma=True, warp_specialize=True)
    tl = _timeline([(j // 132) * 512 * 1000 for j in range(4 * 512)], 512, 1000)
    assert replay(PLAN, PLAN.kernels[0], sh, t, H200, tl, capacity=H200.l2_bytes / 2).reads_per_head == 19 / 4


def test_replay_of_antiphase_slots_reads_each_head_twice_per_wave():
    """One head, 8 query tiles on 4 slots, 8 K/V tiles in an L2 of 3 tiles. Lockstep (2 waves): 2 reads.
    Recorded in antiphase — programs 0, 1 start at 0, programs 2, 3 half a program later, each slot then
    runs its next program back to back — the second group is 4 tiles (more than the L2) behind the first:
    every group reads the stream for itself, 4 reads (the D=64 long-head drift's shape)."""
    from einsim.gpu.l2sim import replay

    sh = Shape(1, 1, 1024, 1024, 128)
    n = 8
    lock = _timeline([0, 0, 0, 0, 8, 8, 8, 8], n)
    anti = _timeline([0, 0, 4, 4, 8, 8, 12, 12], n)
    cap = 3 * TILE
    assert replay(PLAN, PLAN.kernels[0], sh, T, H200, lock, capacity=cap).reads_per_head == 2.0
    assert replay(PLAN, PLAN.kernels[0], sh, T, H200, anti, capacity=cap).reads_per_head == 4.0
