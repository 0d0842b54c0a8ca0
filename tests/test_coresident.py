"""Co-resident programs sharing an SM by age (einsim.gpu.coresident): hand goldens and the lockstep limit."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

import einsim
from einsim.gpu.arch import H100_SXM, H200
from einsim.gpu.coresident import DEFAULT_YOUNG_RATE, MEASURED_YOUNG_RATE, schedule, young_rate
from einsim.gpu.l2sim import build_jobs, schedule_reads, simulate
from einsim.gpu.lower import lower
from einsim.gpu.model import _kv_streams, ctas_per_sm, predict
from einsim.gpu.plan import Shape, Tiling

LIB = Path(__file__).resolve().parents[1] / "workloads" / "cascades"
PLAN = lower(einsim.parse_file(str(LIB / "cascade5_fa2.ein")))


def test_schedule_golden_two_programs_one_sm():
    """1 SM, 2 slots, 3 jobs of 4 tiles, the younger at half the older's rate. Jobs 0 and 1 start at 0;
    job 0 (older, rate 1) ends at 4 with job 1 at tile 2; job 2 starts at 4, job 1 is now the older and
    ends at 6 (tiles at 0, 2, 4, 5); job 2 runs at 1/2 until 6 (1 tile), then alone at 1: tiles at 4, 6,
    7, 8, end 9."""
    tt, st, en = schedule(np.array([4, 4, 4]), 1, 2, 0.5)
    assert tt.tolist() == [0, 1, 2, 3, 0, 2, 4, 5, 4, 6, 7, 8]
    assert st.tolist() == [0, 0, 4] and en.tolist() == [4, 6, 9]


def test_equal_rates_keep_the_lockstep_golden():
    """tests/test_l2sim.py's lockstep golden (4 heads x 512 query tiles, 132 slots: 19 reads over 4 heads)
    with the 132 slots as 66 SMs x 2 programs at equal rates: the schedule stays in step."""
    sh = Shape(1, 4, 65536, 65536, 128)
    t = Tiling(128, 128, 4, 2)
    _, _, n = build_jobs(PLAN, sh, t)
    tt, st, en = schedule(n, 66, 2, 1.0)
    arch = dataclasses.replace(H200, sms=66)
    half = H200.l2_bytes / 2  # the golden's L2: an exact LRU of half the L2
    assert schedule_reads(PLAN, PLAN.kernels[0], sh, t, arch, tt, st, en, half).reads_per_head == 19 / 4
    assert simulate(PLAN, PLAN.kernels[0], sh, t, H200).reads_per_head == 19 / 4


def test_unequal_rates_drift_into_more_reads():
    """One SM, 2 programs, 16 jobs of 16 tiles in an L2 of 4 tiles: in step, 8 waves read the head 8 times;
    with the younger at 0.83 the programs drift apart and read it more often, at most once per program."""
    sh = Shape(1, 1, 2048, 2048, 128)
    t = Tiling(128, 128, 4, 2)
    cap = 4 * 128 * 128 * 2 * 2
    arch = dataclasses.replace(H200, sms=1)
    _, _, n = build_jobs(PLAN, sh, t)
    reads = []
    for q in (1.0, 0.83):
        tt, st, en = schedule(n, 1, 2, q)
        reads.append(schedule_reads(PLAN, PLAN.kernels[0], sh, t, arch, tt, st, en, cap).reads_per_head)
    assert reads[0] == 8.0 and 8.0 < reads[1] <= 16.0


def test_measured_rates_by_launch():
    """Lazy rescaling and 4-warp programs of 128 rows kept their programs in step on the GPU; the default
    launch has a rate per pass kernel (read from its plain launches' bytes, studies/gpu_rate_from_bytes.py),
    a kernel not measured the 1-pass kernel's."""
    t = Tiling(128, 64, 8, 3)
    assert young_rate(True, t, "online-softmax+PV+div", 64) == 1.0
    assert young_rate(False, Tiling(128, 64, 4, 3), "online-softmax+PV+div", 64) == 1.0
    assert (
        young_rate(False, t, "online-softmax+PV+div", 64) == MEASURED_YOUNG_RATE[("online-softmax+PV+div", 64, False)]
    )
    assert young_rate(False, t, "exp+sum", 64) < young_rate(False, t, "max", 64) < 1.0
    assert young_rate(False, t, "max", 64) < young_rate(False, t, "max", 128) < 1.0
    # causal kernels are other compiled code, with their own measured rates
    assert (
        young_rate(False, t, "exp+normalize+PV", 64, causal=True)
        == 0.78
        != young_rate(False, t, "exp+normalize+PV", 64)
    )
    assert young_rate(False, t, "online-softmax+PV", 64) == DEFAULT_YOUNG_RATE
    assert young_rate(False, Tiling(64, 64, 4, 3), "online-softmax+PV+div", 64) == DEFAULT_YOUNG_RATE


def test_model_streams_a_drifting_long_head_about_once_per_program_group():
    """The D=64 1-pass kernel at 1x1x262144 on the H100 (2 programs per SM, a 64 MiB K/V head): lockstep
    waves read the head 8 times; drifting, nearly twice as often (14.9 measured, runs 34-39). A 4-warp
    launch (in step) reads it about as often as lockstep waves do."""
    sh = Shape(1, 1, 262144, 262144, 64)
    t = Tiling(128, 64, 8, 3)
    pk = PLAN.kernels[0]
    occ = ctas_per_sm(pk, sh, t, H100_SXM)
    assert occ == 2
    lock = _kv_streams(PLAN, sh, t, occ * H100_SXM.sms, 262144 * 64 * 2 * 2, H100_SXM)
    kv = 262144 * 64 * 2 * 2
    q = 262144 * 64 * 2
    got = (predict(PLAN, sh, t, H100_SXM).kernels[0].dram_read_bytes - q) / kv
    assert 7.9 < lock < 8.1 and 1.6 * lock < got < 2.0 * lock
    t4 = dataclasses.replace(t, num_warps=4)
    lock4 = _kv_streams(PLAN, sh, t4, ctas_per_sm(pk, sh, t4, H100_SXM) * H100_SXM.sms, kv, H100_SXM)
    assert abs((predict(PLAN, sh, t4, H100_SXM).kernels[0].dram_read_bytes - q) / kv - lock4) < 0.1 * lock4


def test_a_head_that_fits_the_reuse_share_is_still_re_read():
    """3-pass at 1x4x65536 D=128 on the H100: the max pass's K head (16 MiB) fits `l2_reuse_bytes`, so the
    lockstep count reads it once; but its 512 query tiles outrun the 264 resident programs, and the
    schedule (in step here, q = 1) through 0.55 of the L2 re-reads it (measured 1.87-1.88 reads per head,
    studies/results/gpu_timeline_entry_exit_h100; the PV pass, one program per SM, stays in lockstep)."""
    plan = lower(einsim.parse_file(str(LIB / "cascade4_3pass.ein")))
    sh = Shape(1, 4, 65536, 65536, 128)
    t = Tiling(128, 64, 8, 3)
    k = 65536 * 128 * 2
    assert _kv_streams(plan, sh, t, 2 * H100_SXM.sms, k, H100_SXM) == 1.0
    costs = predict(plan, sh, t, H100_SXM).kernels
    assert 1.5 < (costs[0].dram_read_bytes - 4 * k) / (4 * k) < 2.5
    assert costs[2].ctas_per_sm == 1


def test_first_wave_rate_reads_q_back_with_the_programs_lengths():
    """studies/gpu_timeline_probe.first_wave_rate: two SMs, each starting two programs together (the second
    one 10 % shorter, as causal query tiles of one wave are), run at q = 0.8 by `schedule`. Given the
    lengths it reads 0.8 back; assuming equal lengths it reads the shorter younger program as faster."""
    from einsim.gpu.plan import TIMELINE_FIELDS
    from studies.gpu_timeline_probe import first_wave_rate

    n = np.array([1000, 1000, 900, 900])  # launch order: job j on SM j % 2 (the first wave)
    rows = np.zeros((4, TIMELINE_FIELDS), dtype=np.int64)
    for sm in (0, 1):
        _, _, end = schedule(n[[sm, sm + 2]], 1, 2, 0.8)
        for k, j in enumerate((sm, sm + 2)):
            rows[j, 0], rows[j, 1], rows[j, -1] = sm, 0, round(end[k] * 1000)
    c, q, _ = first_wave_rate(rows, n)
    assert (c, q) == (2, 0.8)
    assert first_wave_rate(rows)[1] > 0.85


def test_launch_rate_reads_q_back_from_a_whole_launch():
    """studies/gpu_timeline_probe.launch_rate: a launch of 40 jobs on 4 SMs x 2 slots scheduled at q = 0.7
    and recorded in ns (time x 1000) is fitted back to 0.7 with every start and end in place."""
    from einsim.gpu.plan import TIMELINE_FIELDS
    from studies.gpu_timeline_probe import launch_rate

    n = np.full(40, 100)
    _, st, en = schedule(n, 4, 2, 0.7)
    rows = np.zeros((40, TIMELINE_FIELDS), dtype=np.int64)
    rows[:, 1], rows[:, -1] = np.round(st * 1000), np.round(en * 1000)
    q, err = launch_rate(rows, n, 4, 2)
    assert q == 0.7 and err < 1e-3


def test_linear_checkpoints_spread_a_program_evenly_between_entry_and_exit():
    """studies/gpu_timeline_probe.linear_checkpoints: entry 0, exit 800, 8 K/V tiles (a checkpoint per
    tile): checkpoints at 0, 100, ..., 700 and the loop's end at the exit."""
    from einsim.gpu.plan import TIMELINE_CHECKPOINTS, TIMELINE_FIELDS
    from studies.gpu_timeline_probe import linear_checkpoints

    row = np.zeros((1, TIMELINE_FIELDS), dtype=np.int64)
    row[0, 1], row[0, 3 + TIMELINE_CHECKPOINTS] = 0, 800
    out = linear_checkpoints(row, np.array([8]))
    assert out[0, 2 : 2 + TIMELINE_CHECKPOINTS].tolist() == [0, 100, 200, 300, 400, 500, 600, 700]
    assert out[0, 2 + TIMELINE_CHECKPOINTS] == 800
