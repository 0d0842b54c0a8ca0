"""The repeat-skipping shortcut gives exactly the full simulation's numbers, for every stream kind."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from einsim.model.binding import Binding, FuseMaxStream, Tiling
from einsim.model.events import Op, epochs_rle, run
from einsim.model.flat import CascadeStream, FlatOptions, FlatStream, Shape, UnfusedStream, stream_off


def _same(a, b):
    assert a.cycles == b.cycles
    assert a.busy_slots == b.busy_slots
    assert a.work_slots == b.work_slots
    assert a.dram_bytes == b.dram_bytes


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    R=st.sampled_from([4, 8, 16]),
    E=st.integers(1, 24),
    F=st.integers(1, 24),
    M1=st.integers(1, 12),
    P1=st.integers(1, 5),
    NB=st.integers(1, 12),
    lag=st.integers(0, 5),
    bpc=st.sampled_from([0.5, 3.0, 50.0]),
)
def test_fusemax_skip_is_exact(R, E, F, M1, P1, NB, lag, bpc):
    s = FuseMaxStream(Tiling(R, R, E, F, M1, P1, NB), Binding(lag=lag, interleave=lag > 0), bpc)
    rle = epochs_rle(s, P1, M1, NB)
    _same(run(s, rle, strict=True), run(s, rle, skip=False, strict=True))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    M=st.sampled_from([16, 48, 128]),
    P=st.sampled_from([16, 64, 128]),
    NH=st.integers(1, 10),
    p1=st.sampled_from([1, 2, 4]),
    onchip=st.booleans(),
    slots=st.sampled_from([1, 2]),
    spill=st.sampled_from([0.0, 0.5]),
    bpc=st.sampled_from([0.5, 4.0, 64.0]),
)
def test_baseline_skip_is_exact(M, P, NH, p1, onchip, slots, spill, bpc):
    sh = Shape(8, 8, 4, 4, M, P, NH)
    if (P // 8) % p1 == 0:
        f = FlatStream(sh, FlatOptions(p1, onchip, slots, spill), bpc)
        rle = epochs_rle(f, 1, f.blocks_per_head, NH)
        _same(run(f, rle, strict=True), run(f, rle, skip=False, strict=True))
        c = CascadeStream(sh, p1, bpc)
        rle = epochs_rle(c, 1, sh.M1, c.blocks)
        _same(run(c, rle, strict=True), run(c, rle, skip=False, strict=True))
    u = UnfusedStream(sh, bpc, 4096)
    rle = epochs_rle(u, 1, NH, 1)
    _same(run(u, rle, strict=True), run(u, rle, skip=False, strict=True))


def test_skip_actually_skips_at_scale():
    s = FuseMaxStream(Tiling(256, 256, 64, 64, 64, 64, 768), Binding(lag=3), 456.9)
    tl = run(s, epochs_rle(s, 64, 64, 768))
    assert tl.skipped_repeats > 700 and tl.ops_simulated < 0.01 * 6 * s.n_steps


class _Two:
    lookback_steps = 1
    n_steps = 1

    def __init__(self, ops):
        self._ops = ops

    def ops(self, s):
        return self._ops

    def signature(self, s):
        return ()


def test_unit_timelines_and_offsets():
    """In-order issue per unit, start = max(unit free, dep + offset); DRAM is a unit like any other."""
    ops = [
        Op("ld", "dram", 10),
        Op("a", "2d", 5, (((0, "ld"), 10),)),
        Op("b", "2d", 3),
        Op("c", "1d", 4, (((0, "a"), 2),)),
        Op("ld2", "dram", 7),
    ]
    tl = run(_Two(ops), [(((),), 1)], record=True)  # one epoch of one step
    assert tl.op_starts == {(0, "ld"): 0, (0, "a"): 10, (0, "b"): 15, (0, "c"): 12, (0, "ld2"): 10}
    assert tl.cycles == 18


def test_stream_offset():
    # consumer twice as fast: it must start late enough not to overtake the producer's last tile
    assert stream_off(40, 20, 4, 0) == 10 + 3 * 5
    assert stream_off(20, 40, 4, 3) == 3 + 5


def test_latency_bound_pipelines_with_longer_periods_are_skipped_exactly():
    """Too few tiles in flight: the steady state may repeat only every few epochs; still exact."""
    for lag, P1 in ((2, 2), (3, 1), (2, 3)):
        s = FuseMaxStream(Tiling(32, 32, 4, 4, 40, P1, 6), Binding(lag=lag), 8.0)
        rle = epochs_rle(s, P1, 40, 6)
        fast = run(s, rle, strict=True)
        _same(fast, run(s, rle, skip=False, strict=True))
        assert fast.skipped_repeats > 0
