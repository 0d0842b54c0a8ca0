"""The L2's measured hit curve: how the replays use it (einsim.gpu.l2sim) and how the scan that measures
it is read back (studies/gpu_l2_curve.py). Hand goldens; the cards' knots against the committed results."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from einsim.gpu.arch import H100_SXM, H200
from einsim.gpu.l2sim import _lru_misses, hit_curve
from studies import gpu_l2_curve

RESULTS = Path(__file__).resolve().parents[1] / "studies" / "results"
MIB = 1024**2


def _scan(n_items: int, item: float, reps: int, x, h) -> float:
    """Missed bytes of a cyclic scan of n_items keys of `item` bytes, `reps` times, through curve (x, h)."""
    keys = np.tile(np.arange(n_items, dtype=np.int64), reps)
    return _lru_misses(keys, np.full(len(keys), item), n_items, np.asarray(x, float), np.asarray(h, float))


def test_a_step_curve_is_the_exact_lru():
    """capacity given: hits exactly while the stack distance (4 items of 10 bytes = 40) fits."""
    x, h = hit_curve(H200, capacity=40.0)
    assert _scan(4, 10.0, 3, x, h) == 40.0  # cold scan only
    x, h = hit_curve(H200, capacity=39.0)
    assert _scan(4, 10.0, 3, x, h) == 120.0  # every re-read misses


def test_a_ramp_misses_the_complement_of_its_hit_fraction():
    """Stack distance 40 on a ramp from 1 at 30 to 0 at 50: hit 0.5, so the 2 re-scans miss half:
    40 + 2 x 40 x 0.5 = 80 bytes; and the scan's read-back formula gives the 0.5 back."""
    missed = _scan(4, 10.0, 3, [30.0, 50.0], [1.0, 0.0])
    assert missed == 80.0
    assert gpu_l2_curve.hit_fraction(missed, 40.0, reps=3) == 0.5


def test_hit_fraction_golden():
    """4 scans of 32 MiB that read 80 MiB from DRAM: the 3 re-scans missed 48 of 96 MiB, h = 0.5."""
    assert gpu_l2_curve.hit_fraction(80 * MIB, 32 * MIB, reps=4) == 0.5
    assert gpu_l2_curve.hit_fraction(32 * MIB, 32 * MIB, reps=4) == 1.0


def test_without_a_measured_curve_the_replay_keeps_half_the_l2():
    x, h = hit_curve(dataclasses.replace(H200, l2_hit_curve=()))
    assert x[0] == H200.l2_bytes / 2 and h.tolist() == [1.0, 0.0]


@pytest.mark.parametrize("arch,folder", [(H100_SXM, "gpu_l2_curve_h100"), (H200, "gpu_l2_curve_h200")])
def test_the_cards_knots_are_the_measured_scan(arch, folder):
    """Every knot of `arch.l2_hit_curve` is the committed 8-reader scan at that size (negatives of ncu's
    rounding read as 0), the curve falls monotonically from 1 to 0, and it falls off between 0.4 and
    0.7 of the L2 (lines read by SMs of both partitions are held in both)."""
    measured = dict(gpu_l2_curve.curve(str(RESULTS / folder), readers=8))
    for w, h in arch.l2_hit_curve:
        assert h == pytest.approx(max(measured[w], 0.0), abs=0.0015)
    hs = [h for _, h in arch.l2_hit_curve]
    assert hs[0] == 1.0 and hs[-1] == 0.0 and all(a >= b for a, b in zip(hs, hs[1:]))
    half = next(w for w, h in arch.l2_hit_curve if h < 0.5)
    assert 0.4 < half / arch.l2_bytes < 0.7
    one = dict(gpu_l2_curve.curve(str(RESULTS / folder), readers=1))
    assert one[half] > 0.9  # read by one SM each, the same size still hits


def test_analyze_prints_the_table(capsys, tmp_path):
    recs = [
        {"readers": r, "w_bytes": w * MIB, "reps": 4, "dram_read_bytes": d * MIB, "l2_read_bytes": 0.0,
         "ncu_ms": 0.1, "hit_fraction": gpu_l2_curve.hit_fraction(d * MIB, w * MIB)}
        for r, w, d in ((1, 32, 32), (8, 32, 80))
    ]  # fmt: skip
    (tmp_path / "l2_curve.json").write_text(json.dumps({"env": {"card": "X", "l2_bytes": 64 * MIB}, "records": recs}))
    gpu_l2_curve.analyze(str(tmp_path))
    out = capsys.readouterr().out
    assert "32  0.50" in out and "1.000" in out and "0.500" in out
    assert gpu_l2_curve.curve(str(tmp_path), readers=8) == ((32.0 * MIB, 0.5),)


def test_analyze_names_a_missing_folder(capsys, tmp_path):
    with pytest.raises(SystemExit):
        gpu_l2_curve.main(["--analyze", str(tmp_path)])
    assert "no l2_curve.json there" in capsys.readouterr().err


def test_scan_curve_takes_knots_as_the_cards_are_taken(tmp_path):
    """studies/gpu_l2_curve.knots: 1 up to the last size whose re-reads hit >= 99 %, the
    measured values after it (negatives of ncu's rounding as 0); the R = 8 repeat gives the H200's knots."""
    scan_curve = gpu_l2_curve.knots
    hits = ((20, 0.999), (22, 0.995), (24, 0.6), (26, 0.2), (28, -0.001))
    recs = [{"readers": 8, "w_bytes": w * MIB, "hit_fraction": h} for w, h in hits]
    (tmp_path / "l2_curve.json").write_text(json.dumps({"env": {}, "records": recs}))
    assert scan_curve(str(tmp_path), 8) == ((22 * MIB, 1.0), (24 * MIB, 0.6), (26 * MIB, 0.2), (28 * MIB, 0.0))
    repeat = dict(scan_curve(str(RESULTS / "gpu_l2_curve_readers_h200"), 8))
    for w, h in H200.l2_hit_curve:
        assert abs(repeat.get(w, 0.0) - h) <= 0.012
