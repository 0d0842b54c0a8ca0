"""studies/gpu_rate_from_bytes.py: the q a measured read count implies (hand goldens) and the rate override
of einsim.gpu.coresident.kv_reads it evaluates."""

from pathlib import Path

import numpy as np
import pytest

from studies.gpu_rate_from_bytes import calibrating, implied_rate


def test_implied_rate_interpolates_the_grid():
    qs = np.array([0.4, 0.5, 0.6])
    reads = np.array([10.0, 8.0, 6.0])
    assert implied_rate(qs, reads, 7.0) == pytest.approx(0.55)  # halfway between 8 and 6
    assert implied_rate(qs, reads, 8.0) == pytest.approx(0.5)
    assert implied_rate(qs, reads, 6.0) == pytest.approx(0.6)
    assert implied_rate(qs, reads, 11.0) is None and implied_rate(qs, reads, 5.0) is None


def test_implied_rate_takes_the_upper_crossing_where_reads_turn():
    """Reads that fall and rise again cross a value twice: the crossing nearest q = 1 is reported."""
    qs = np.array([0.4, 0.6, 0.8, 1.0])
    reads = np.array([2.0, 1.0, 1.5, 3.0])
    assert implied_rate(qs, reads, 1.5) == pytest.approx(0.8)
    assert implied_rate(qs, reads, 1.25) == pytest.approx(0.7)


def test_calibration_set_is_the_holdouts_plain_kernels():
    assert calibrating({"source": "gpu_timeline_holdout3/h200"})
    assert calibrating({"source": "gpu_timeline_entry_exit_holdout_h100"})
    assert not calibrating({"source": "gpu_timeline_probe_h200"})
    assert not calibrating({"source": "benchmark 3-pass (4 runs)"})
    assert not calibrating({"source": "gpu_timeline_holdout [128x64 w4 s3]"})
    assert calibrating({"source": "gpu_timeline_holdout"}) and calibrating({"source": "gpu_timeline_holdout4/h100"})
    assert not calibrating({"source": "gpu_timeline_holdout5/h200"})  # registered with the calibrated rates


def test_kv_reads_rate_override():
    """rate=None is the kernel's own q; another q moves the reads of a drifting long head (H100, 1-pass
    D=64 at 1x1x262144: in step, q = 1, reads it as lockstep waves do, 8 times)."""
    import einsim
    from einsim.gpu.arch import arch_for
    from einsim.gpu.coresident import MEASURED_YOUNG_RATE, kv_reads
    from einsim.gpu.lower import lower
    from einsim.gpu.plan import Shape, Tiling

    lib = Path(__file__).resolve().parents[1] / "workloads" / "cascades"
    plan = lower(einsim.parse_file(str(lib / "cascade5_fa2.ein")))
    shape = Shape(1, 1, 262144, 262144, 64, None, "bf16")
    t = Tiling(128, 64, 8, 3)
    arch = arch_for("NVIDIA H100 80GB HBM3")
    pk = plan.kernels[0]
    own = kv_reads(plan, pk, shape, t, arch, 2, False).reads_per_head
    same = kv_reads(plan, pk, shape, t, arch, 2, False, rate=MEASURED_YOUNG_RATE[(pk.label, 64, False)])
    assert same.reads_per_head == own
    assert kv_reads(plan, pk, shape, t, arch, 2, False, rate=1.0).reads_per_head == pytest.approx(8.0, abs=0.05)
    assert own > 12.0


@pytest.mark.parametrize(
    "folder, case, label",
    [
        ("gpu_timeline_holdout3/h200", "h3-3p-d64-213k", "exp+normalize+PV"),
        ("gpu_timeline_holdout4/h100", "h4-1p-causal-d64-393k", "online-softmax+PV+div"),
    ],
)
def test_committed_rates_are_what_the_calibration_bytes_say(folder, case, label):
    """The two rates the bytes moved most from the probe's (3-pass PV 0.53 -> 0.68, causal 1-pass 0.86 ->
    0.78) read back from one committed calibration launch each, within 0.02 (the spread over the
    calibration shapes, studies/gpu_rate_from_bytes.py --calibration)."""
    from einsim.gpu.coresident import MEASURED_YOUNG_RATE
    from studies.gpu_rate_from_bytes import _rows_of, probe_measurements
    from studies.gpu_timeline_probe import _setup

    plan, shape, _ = _setup(case)
    qs = np.round(np.arange(0.5, 1.001, 0.05), 4)
    ms = [
        m
        for m in probe_measurements()
        if m["source"] == folder and m["shape"] == shape and len(m["plan"].kernels) == len(plan.kernels)
    ]
    assert len(ms) == 1
    (row,) = [r for r in _rows_of((ms[0], qs, {label})) if r["key"][0] == label]
    assert row["sensitive"]
    assert row["q_bytes"] == pytest.approx(MEASURED_YOUNG_RATE[row["key"]], abs=0.02)
