"""Malformed cascades: each gives its own one-paragraph error naming file:line:col and the fix."""

from __future__ import annotations

import subprocess
import sys

import pytest

from einsim import CascadeError, EinsimError, parse

HEAD = "cascade t\ninput Q[E, P], K[E, M], V[F, M]\noutput AV[F, P]\n"
OK_BODY = "einsums:\n  QK[m, p] = Q[e, p] * K[e, m]\n  AV[f, p] = QK[m, p] * V[f, m]\n"

# (name, source, expected line, substring of the message)
CASES = [
    ("undefined tensor", HEAD + "einsums:\n  AV[f, p] = QX[m, p] * V[f, m]\n", 5, "QX is used but never declared"),
    ("rank with two sizes", HEAD + "einsums:\n  QK[m, p] = Q[e, p] * K[e, p]\n  AV[f, p] = QK[m, p] * V[f, m]\n",
     5, "used with two sizes"),
    ("output rank in no input", HEAD + "einsums:\n  QK[m, p, x] = Q[e, p] * K[e, m]\n"
     "  AV[f, p] = QK[m, p, x] * V[f, m]\n", 5, "appears in no input"),
    ("assigned twice", HEAD + OK_BODY + "  QK[m, p] = Q[e, p] * K[e, m]\n", 7, "assigned twice"),
    ("cycle", HEAD + "einsums:\n  X[m, p] = Y[m, p] * K[e, m] * Q[e, p]\n  Y[m, p] = X[m, p]\n"
     "  AV[f, p] = Y[m, p] * V[f, m]\n", 5, "dependency cycle"),
    ("unknown operator", HEAD + "einsums:\n  QK[m, p] = frob(Q[e, p])\n", 5, "unknown operator 'frob'"),
    ("syntax: missing bracket", HEAD + "einsums:\n  QK[m, p = Q[e, p]\n", 5, "expected"),
    ("syntax: stray character", HEAD + "einsums:\n  QK[m, p] = Q[e, p] $ K[e, m]\n", 5, "unexpected character"),
    ("no header", "input Q[E, P]\noutput AV[F, P]\n", 1, "no `cascade NAME` header"),
    ("two headers", "cascade a\ncascade b\n", 2, "second `cascade` header"),
    ("input assigned", HEAD + "einsums:\n  Q[e, p] = K[e, p]\n", 5, "input tensor Q is assigned"),
    ("output never assigned", HEAD + "einsums:\n  QK[m, p] = Q[e, p] * K[e, m]\n", 3, "never assigned"),
    ("wrong number of indices", HEAD + "einsums:\n  QK[m, p] = Q[e] * K[e, m]\n", 5, "indexed with 1"),
    ("declared twice", "cascade t\ninput Q[E, P]\ninput Q[E, M]\n", 3, "declared twice"),
    ("lower-case rank in declaration", "cascade t\ninput Q[e, P]\n", 2, "not upper case"),
    ("bad empty value", "cascade t\ninput Q[E, P] empty x\n", 2, "expected a number after `empty`"),
    ("unknown reduce operator", HEAD + "einsums:\n  QK[p] = Q[e, p] :: reduce mean\n", 5, "unknown reduction operator"),
    ("unknown action", HEAD + "einsums:\n  QK[p] = Q[e, p] :: map max\n", 5, "unknown action 'map'"),
    ("reduce list mismatch", HEAD + "einsums:\n  GM[p] = Q[e, p] :: reduce[m] max\n", 5, "does not match"),
    ("unknown merge", HEAD + "einsums:\n  QK[m, p] = Q[e, p] *@sideways K[e, m]\n", 5, "unknown merge"),
    ("wrong arity", HEAD + "einsums:\n  X[e, p] = max(Q[e, p])\n", 5, "takes 2 operand"),
    ("unknown scalar", HEAD + "einsums:\n  X[e, p] = alpha * Q[e, p]\n", 5, "'alpha' is not a scalar"),
    ("unknown size in rank expression", HEAD + "einsums:\n  X[e, p] = Q[e, p + Z0]\n", 5, "size Z0"),
    ("filter on a foreign variable", HEAD + "einsums:\n  X[e, p : q < 3] = Q[e, p]\n", 5, "names variable"),
    ("computed output index", HEAD + "einsums:\n  X[e, p*2] = Q[e, p]\n", 5, "computed expression"),
    ("iterative without stop", HEAD + "tensor R[M1, P]\ninit:\n  R[m1 : m1 == 0, p] = 0\neinsums:\n"
     "  R[m1+1, p] = R[m1, p] + Q[e, p]\n", 8, "no stopping condition"),
    ("iterative never initialised", HEAD + "tensor R[M1, P]\neinsums:\n  R[m1+1, p] = R[m1, p] + Q[e, p]\n"
     "  AV[f, p] = R[M1, p] * V[f, m]\nstop m1 >= M1\n", 6, "never initialised"),
    ("stop on another variable", HEAD + "tensor R[M1, P]\ninit:\n  R[m1 : m1 == 0, p] = 0\neinsums:\n"
     "  R[m1+1, p] = R[m1, p] + Q[e, p]\nstop k >= K\n", 8, "stopping condition is on k"),
    ("bad stop comparison", HEAD + "einsums:\n  AV[f, p] = Q[f, p]\nstop m1 < M1\n", 6, "`>=` or `>`"),
    ("single-factor partition", HEAD + "rank M = M1\n", 4, "single factor"),
    ("fractional rank expression", HEAD + "einsums:\n  X[e, p] = Q[e, p + 1.5]\n", 5, "whole numbers"),
    ("init and update of a non-iterative tensor", HEAD + "init:\n  X[e, p] = Q[e, p]\neinsums:\n"
     "  X[e, p] = Q[e, p]\n", 7, "assigned in init: and again"),
    ("two statements on a line", HEAD + "einsums:\n  X[e, p] = Q[e, p] Y[e, p] = Q[e, p]\n", 5, "after the end"),
    ("statement starting with a number", HEAD + "einsums:\n  3 = Q[e, p]\n", 5, "cannot start"),
    ("unknown name used as a coordinate", HEAD + "einsums:\n  X[e, p] = Q[e, p] * zz\n", 5, "'zz' is not a scalar"),
    ("missing value", HEAD + "einsums:\n  X[e, p] = \n", 5, "expected a value"),
    ("scalar reads a tensor", HEAD + "scalar s = Q[e, p]\n", 4, "scalar s reads tensor Q"),
    ("max in the filter", HEAD + "einsums:\n  X[e, p : p] = Q[e, p]\n", 5, "expected a comparison"),
]


@pytest.mark.parametrize("name,src,line,needle", CASES, ids=[c[0] for c in CASES])
def test_malformed_input_gives_located_paragraph(name, src, line, needle):
    with pytest.raises(CascadeError) as info:
        parse(src, "bad.ein")
    msg = str(info.value)
    assert needle in msg, msg
    assert msg.startswith(f"bad.ein:{line}:"), msg
    assert "\n" not in msg and "Traceback" not in msg
    assert msg.rstrip().endswith("."), msg


def test_at_least_thirty_distinct_errors():
    assert len(CASES) >= 30
    assert len({c[3] for c in CASES}) == len(CASES)


def test_cli_check_reports_paragraph_and_exit_code(tmp_path):
    bad = tmp_path / "bad.ein"
    bad.write_text(HEAD + "einsums:\n  AV[f, p] = QX[m, p] * V[f, m]\n")
    r = subprocess.run([sys.executable, "-m", "einsim.cli", "check", str(bad)], capture_output=True, text=True)
    assert r.returncode == 2
    assert f"{bad}:5:" in r.stderr and "Traceback" not in r.stderr
    good = tmp_path / "good.ein"
    good.write_text(HEAD + OK_BODY)
    r = subprocess.run([sys.executable, "-m", "einsim.cli", "check", str(good)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_execute_reports_bad_sizes():
    c = parse(HEAD + OK_BODY)
    import numpy as np

    q, k, v = np.ones((4, 3)), np.ones((5, 6)), np.ones((2, 6))
    with pytest.raises(EinsimError, match="two sizes"):
        from einsim import execute

        execute(c, {"Q": q, "K": k, "V": v})
