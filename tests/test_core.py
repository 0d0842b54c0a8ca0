"""Hand-checked goldens for the analyzer and executor on the core cascades, and the CLI contract."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sympy

from einsim import analyze_passes, execute, op_counts, parse, parse_file, reference_attention, register_operator
from einsim.passes import spill_traffic

LIB = Path(__file__).resolve().parent.parent / "workloads" / "cascades"
S = {n: sympy.Symbol(n, positive=True, integer=True) for n in ["M", "P", "E", "F", "M0", "M1"]}


def test_cascade4_three_passes_and_counts():
    a = analyze_passes(parse_file(LIB / "cascade4_3pass.ein"))
    assert a.passes == 3 and a.levels == {"M": 3}
    assert a.groups == (("QK", "GM"), ("SN", "SD"), ("A", "AV"))
    assert sympy.simplify(a.ops["div"] - S["M"] * S["P"]) == 0
    assert sympy.simplify(a.ops["exp"] - S["M"] * S["P"]) == 0
    assert sympy.simplify(a.ops["mac"] - S["M"] * S["P"] * (S["E"] + S["F"])) == 0
    assert a.live_footprint == S["M"]
    assert sympy.simplify(a.spill_elements - 4 * S["M"] * S["P"]) == 0  # write+read QK and SN


def test_cascade5_one_pass_over_m1_two_within_m0():
    a = analyze_passes(parse_file(LIB / "cascade5_fa2.ein"))
    assert a.passes == 1 and a.levels == {"M": 1, "M1": 1, "M0": 2}
    assert sympy.simplify(a.ops["exp"] - (S["M"] * S["P"] + S["M1"] * S["P"])) == 0
    assert sympy.simplify(a.ops["div"] - S["F"] * S["P"]) == 0
    assert sympy.simplify(a.live_footprint - (S["M0"] + S["F"] + 2)) == 0
    assert a.spill_elements == 0


def test_spill_traffic_only_when_footprint_exceeds_buffer():
    a = analyze_passes(parse_file(LIB / "cascade4_3pass.ein"))
    sizes = {"M": 4096, "P": 4096, "E": 64, "F": 64}
    fits = spill_traffic(a, sizes, buffer_bytes=1 << 20, bytes_per_value=2, queries_in_flight=64)
    assert fits["fits"] == 1.0 and fits["extra_dram_bytes"] == 0
    spills = spill_traffic(a, sizes, buffer_bytes=1 << 16, bytes_per_value=2, queries_in_flight=64)
    assert spills["extra_dram_bytes"] == 4 * 4096 * 4096 * 2


def test_executor_cascade5_equals_reference_on_odd_shapes():
    c = parse_file(LIB / "cascade5_fa2.ein")
    rng = np.random.default_rng(1)
    q, k, v = rng.normal(size=(7, 5)), rng.normal(size=(7, 15)), rng.normal(size=(3, 15))
    for m0 in (1, 3, 5, 15):
        out = execute(c, {"Q": q, "K": k, "V": v}, {"M0": m0})["AV"]
        ref = reference_attention(q, k, v, 1 / np.sqrt(7))
        assert np.max(np.abs(out - ref)) <= 1e-12 * np.max(np.abs(ref))


def test_masked_rows_and_merges():
    src = """cascade causal
input Q[E, P], K[E, M], V[F, M]
output AV[F, P]
tensor QK[M, P] empty -inf
einsums:
  QK[m, p : m <= p + (M - P)] = Q[e, p] * K[e, m]
  GM[p] = QK[m, p] :: reduce[m] max
  SN[m, p] = e^(QK[m, p] - GM[p])
  SD[p] = SN[m, p]
  AV[f, p] = SN[m, p] * V[f, m] / SD[p]
"""
    c = parse(src)
    rng = np.random.default_rng(2)
    q, k, v = rng.normal(size=(4, 6)), rng.normal(size=(4, 3)), rng.normal(size=(2, 3))
    out = execute(c, {"Q": q, "K": k, "V": v})["AV"]
    mask = np.arange(3)[:, None] <= np.arange(6)[None, :] + (3 - 6)
    ref = reference_attention(q, k, v, 1.0, mask)
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-14)
    assert np.all(out[:, :3] == 0)  # fully masked query rows


def test_user_defined_operator_flows_through():
    register_operator("softplus_test", 1, lambda x: np.log1p(np.exp(x)), "exp")
    c = parse("cascade u\ninput X[N]\noutput Y[N]\neinsums:\n  Y[n] = softplus_test(X[n])\n")
    x = np.linspace(-2, 2, 5)
    np.testing.assert_allclose(execute(c, {"X": x})["Y"], np.log1p(np.exp(x)))
    assert op_counts(c)["exp"] == sympy.Symbol("N", positive=True, integer=True)


def test_iterative_prefix_sum_and_stop():
    c = parse("""cascade prefix
input A[K]
output Z[]
init:
  S[k : k == 0] = 0
einsums:
  S[k+1] = S[k] + A[k]
  Z[] = S[K]
stop k >= K
""")
    a = np.arange(1.0, 6.0)
    out = execute(c, {"A": a})
    assert out["Z"] == pytest.approx(15.0)
    np.testing.assert_allclose(out["S"], np.concatenate([[0], np.cumsum(a)]))
    assert analyze_passes(c, "K").passes == 1


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "einsim.cli", *args], capture_output=True, text=True)


def test_cli_passes_json_contract():
    r = _cli("passes", str(LIB / "cascade4_3pass.ein"), str(LIB / "cascade5_fa2.ein"), "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert [d["passes"] for d in data] == [3, 1]
    for d in data:
        assert {"cascade", "file", "rank", "passes", "levels", "live_footprint", "ops"} <= set(d)
        assert isinstance(d["passes"], int) and isinstance(d["live_footprint"], str)
    assert data[1]["levels"] == {"M": 1, "M1": 1, "M0": 2}
    r = _cli("passes", str(LIB / "cascade4_3pass.ein"), "--rank", "zz")
    assert r.returncode == 2 and "has no rank ZZ" in r.stderr and "Traceback" not in r.stderr


def test_cli_help_on_every_subcommand():
    from einsim.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    for name in sub.choices:
        r = _cli(name, "--help")
        assert r.returncode == 0 and "usage:" in r.stdout, name


def test_pass_analysis_prints_and_converts():
    a = analyze_passes(parse_file(LIB / "cascade4_3pass.ein"))
    text = str(a)
    assert "3 pass(es) over M" in text and "SN SD" in text
    assert json.loads(a.to_json())["passes"] == 3
    df = a.to_pandas()
    assert list(df[df["pass"] == 3]["einsum"]) == ["A", "AV"]


def test_op_counts_at_sizes_honour_filters():
    from einsim.passes import op_counts_at

    sz = {"M": 96, "P": 96, "E": 16, "F": 8, "M0": 32, "W": 10}
    dense = op_counts_at(parse_file(LIB / "cascade4_3pass.ein"), sz, per_einsum=True)
    causal = op_counts_at(parse_file(LIB / "causal_3pass.ein"), sz, per_einsum=True)
    assert dense["QK"]["mac"] == 16 * 96 * 96
    assert causal["QK"]["mac"] == 16 * 96 * 97 // 2  # sum over p of (p + 1) keys
    window = op_counts_at(parse_file(LIB / "sliding_window.ein"), sz, per_einsum=True)
    assert window["BQK"]["mac"] == 16 * (96 * 10 - 10 * 9 // 2)  # P·W − W(W−1)/2 visible points
