"""The validated scatter of the GPU model by card and kernel kind (einsim.gpu.validated): pure, no torch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import einsim
from einsim.gpu.lower import lower
from einsim.gpu.plan import Shape, choose_tiling
from einsim.gpu.validated import (
    ERRORS_FILE,
    ErrorBand,
    _percentile,
    error_band,
    error_bands,
    kernel_kind,
    write_error_bands,
)

LIB = Path(__file__).resolve().parents[2] / "workloads" / "cascades"


def test_percentiles_interpolate_between_order_statistics_by_hand():
    xs = [4.0, 1.0, 3.0, 2.0]  # sorted 1 2 3 4; position q * 3
    assert _percentile(xs, 0.1) == pytest.approx(1.3)
    assert _percentile(xs, 0.5) == pytest.approx(2.5)
    assert _percentile(xs, 0.9) == pytest.approx(3.7)
    assert _percentile([5.0], 0.9) == 5.0


def test_bands_by_hand_leave_out_the_fitted_run():
    rows = [
        {"card": "H100 SXM", "kind": "decode", "run": 1, "ms": 9.0, "predicted_ms": 1.0},  # fitted: left out
        {"card": "H100 SXM", "kind": "decode", "run": 3, "ms": 1.0, "predicted_ms": 1.0},  # ratio 1.0
        {"card": "H100 SXM", "kind": "decode", "run": 5, "ms": 1.5, "predicted_ms": 1.0},  # 1.5: predicted -33 %
        {"card": "H100 SXM", "kind": "decode", "run": 4, "ms": 1.2, "predicted_ms": 1.0},  # 1.2
        {"card": "H200", "kind": "decode", "run": 2, "ms": 2.0, "predicted_ms": None},  # no prediction
    ]
    (b,) = error_bands(rows)
    # ratios sorted 1.0 1.2 1.5: p10 at 0.2 → 1.04, median 1.2, p90 at 1.8 → 1.2 + 0.8 * 0.3 = 1.44
    assert (b.card, b.kind, b.records, b.first_run, b.last_run) == ("H100 SXM", "decode", 3, 3, 5)
    assert (b.ratio_p10, b.ratio_median, b.ratio_p90) == pytest.approx((1.04, 1.2, 1.44))
    # |predicted / measured - 1|: 0, 0.333, 0.167 → two within ±25 %
    assert b.within_25_percent == 2
    assert "1.04-1.44" in b.line() and "3 records of runs 3-5" in b.line()


def test_written_bands_read_back(tmp_path):
    band = ErrorBand("H200", "prefill, 1 pass", 7, 2, 9, 0.9, 1.0, 1.1, 7)
    path = write_error_bands([band], tmp_path / "errors.json")
    assert error_band("H200", "prefill, 1 pass", path) == band
    assert error_band("H100 SXM", "prefill, 1 pass", path) is None
    assert error_band("H200", "x", tmp_path / "missing.json") is None


def _kind(file: str, D: int = 128, NQ: int | None = None, sizes=(), G=None) -> str:
    plan = lower(einsim.parse_file(LIB / file))
    shape = Shape(2, 16, NQ or 4096, 4096, D, G if plan.grouped else None, "bf16", sizes)
    return kernel_kind(plan, shape, choose_tiling(plan, shape))


def test_kinds_follow_the_regime_not_the_file_name():
    assert _kind("cascade5_fa2.ein") == "prefill, 1 pass, warp-specialized"
    assert _kind("flash_attention1.ein") == "prefill, 1 pass, warp-specialized"
    assert _kind("cascade5_fa2.ein", D=64) == "prefill, 1 pass"
    assert _kind("cascade4_3pass.ein", D=64) == "prefill, 3 passes"
    assert _kind("causal_fa2.ein", D=64) == "prefill, 1 pass, causal"
    assert _kind("sliding_window.ein", D=64, sizes=(("W", 512),)) == "prefill, 1 pass, sliding window"
    assert _kind("decode_fa2.ein", NQ=1) == "decode"
    assert _kind("splitk_flash_decoding.ein", NQ=1) == "split-K decode"
    assert _kind("linear_attention.ein", D=64) == "linear attention"
    assert _kind("linear_attention_causal.ein", D=64) == "linear attention, causal"


def test_the_committed_table_is_consistent():
    bands = json.loads(ERRORS_FILE.read_text())
    assert bands, "run `python studies/gpu_validation.py --write-errors`"
    for b in bands:
        assert b["records"] > 0 and b["within_25_percent"] <= b["records"]
        assert 0 < b["ratio_p10"] <= b["ratio_median"] <= b["ratio_p90"]
        assert 1 < b["first_run"] <= b["last_run"]
    assert {b["card"] for b in bands} == {"H100 SXM", "H200"}


def test_cli_prints_the_scatter_and_the_pairs_it_cannot_rank(capsys):
    from einsim.cli import main

    fa2, fa1 = str(LIB / "cascade5_fa2.ein"), str(LIB / "flash_attention1.ein")
    assert main(["gpu", fa2, fa1, "--json"]) == 0
    recs = json.loads(capsys.readouterr().out)
    band = error_band("H100 SXM", "prefill, 1 pass, warp-specialized")
    assert band is not None and all(r["validated"] == band.to_dict() for r in recs)
    assert main(["gpu", fa2, fa1]) == 0
    out = capsys.readouterr().out
    assert "measured / predicted time for prefill, 1 pass, warp-specialized on H100 SXM" in out
    a, b = recs[0]["predicted_ms"], recs[1]["predicted_ms"]
    gap = abs(a - b) / min(a, b)
    unresolved = gap < (band.ratio_p90 - band.ratio_p10) / 2
    assert ("does not rank these reliably" in out) == unresolved
    # the 3-pass kernel, predicted twice as long, is ranked against both: only the pair above can be named
    three = str(LIB / "cascade4_3pass.ein")
    assert main(["gpu", fa2, fa1, three]) == 0
    named = [line for line in capsys.readouterr().out.splitlines() if " apart, within " in line]
    assert len(named) == int(unresolved) and all(three not in line for line in named)
