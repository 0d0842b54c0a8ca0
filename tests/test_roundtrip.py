"""parse(format(c)) == c for arbitrary cascades (hypothesis), and the IR is hashable."""

from __future__ import annotations

import math
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from einsim import format_cascade, parse, parse_file
from einsim.ir import (
    Access,
    Apply,
    BoolOp,
    Cascade,
    Cmp,
    Const,
    Coord,
    Einsum,
    IBin,
    Index,
    INum,
    ISize,
    IVar,
    Name,
    Not,
    RankDecl,
    ScalarDecl,
    Stop,
    TensorDecl,
)
from einsim.operators import MERGES

LIB = Path(__file__).resolve().parent.parent / "workloads" / "cascades"
VARS = st.sampled_from(["m", "p", "m0", "m1", "f", "k", "w"])
SIZES = st.sampled_from(["M", "P", "M0", "M1", "F", "W"])
TNAMES = st.sampled_from(["QK", "A", "SN", "BQK", "RM", "X1", "Y"])
MERGE = st.one_of(st.none(), st.sampled_from(sorted(MERGES)))

iexpr = st.recursive(
    st.one_of(VARS.map(IVar), SIZES.map(ISize), st.integers(0, 99).map(INum)),
    lambda inner: st.builds(IBin, st.sampled_from(["+", "-", "*", "//", "%"]), inner, inner),
    max_leaves=5,
)
pred = st.recursive(
    st.builds(Cmp, st.sampled_from(["==", "!=", "<", "<=", ">", ">="]), iexpr, iexpr),
    lambda inner: st.one_of(st.builds(BoolOp, st.sampled_from(["and", "or"]), inner, inner), inner.map(Not)),
    max_leaves=3,
)
index = st.builds(Index, iexpr, st.one_of(st.none(), pred))
access = st.builds(Access, TNAMES, st.lists(index, max_size=3).map(tuple))
const = st.one_of(st.floats(0, 1e6, allow_nan=False), st.just(math.inf), st.integers(0, 9).map(float)).map(Const)
leaf = st.one_of(access, const, st.just(Name("s")), VARS.map(Coord), SIZES.map(Name))


def _apply(inner):
    binary = st.builds(lambda op, a, b, m: Apply(op, (a, b), m),
                       st.sampled_from(["add", "sub", "mul", "div", "max", "min", "expsub"]), inner, inner, MERGE)
    unary = st.builds(lambda op, a, m: Apply(op, (a,), m), st.sampled_from(["neg", "exp", "sqrt", "log"]), inner, MERGE)
    return st.one_of(binary, unary)


expr = st.recursive(leaf, _apply, max_leaves=6)
scalar_expr = st.recursive(st.one_of(const, SIZES.map(Name)), _apply, max_leaves=4)
einsum = st.builds(
    Einsum,
    access,
    expr,
    st.sampled_from(["init", "main"]),
    st.one_of(st.none(), st.sampled_from(["max", "min", "mul"])),
    st.one_of(st.none(), st.lists(VARS, max_size=2).map(tuple)),
    st.one_of(st.none(), st.sampled_from(sorted(MERGES))),
)
decl = st.builds(TensorDecl, TNAMES, st.lists(SIZES, max_size=3).map(tuple),
                 st.sampled_from(["input", "output", "temp"]),
                 st.one_of(st.just(0.0), st.just(-math.inf), st.floats(-10, 10, allow_nan=False)))


@st.composite
def cascades(draw):
    es = draw(st.lists(einsum, min_size=1, max_size=5))
    return Cascade(
        name=draw(st.sampled_from(["c", "attn_1", "x"])),
        doc=draw(st.sampled_from(["", "a doc string", "1-pass: x/y"])),
        tensors=tuple(draw(st.lists(decl, max_size=3))),
        ranks=tuple(draw(st.lists(st.builds(RankDecl, st.just("M"), st.just(("M1", "M0"))), max_size=1))),
        scalars=(draw(st.builds(ScalarDecl, st.just("s"), scalar_expr)),),
        init=tuple(e for e in es if e.section == "init"),
        main=tuple(e for e in es if e.section == "main"),
        stop=draw(st.one_of(st.none(), st.builds(Stop, VARS, st.sampled_from([">=", ">"]), iexpr))),
        sizes=tuple(draw(st.lists(st.sampled_from(["W", "N2"]), max_size=2, unique=True))),
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cascades())
def test_format_parse_roundtrip(c):
    text = format_cascade(c)
    again = parse(text, validate=False)
    assert again == c, text
    assert format_cascade(again) == text


def test_library_roundtrips_and_is_hashable():
    files = sorted(LIB.glob("*.ein"))
    assert files
    for f in files:
        c = parse_file(f)
        assert parse(format_cascade(c), str(f)) == c
        assert hash(c) == hash(parse(format_cascade(c)))


def test_unicode_and_multiline_layout():
    src = """cascade u  # comment after the header
input Q[E, P], K[E, M],
      V[F, M]
output AV[F, P]
einsums:
  QK[m, p] = Q[e, p] ×
             K[e, m]          # continued after an operator
  GM[p] = QK[m, p] :: reduce[m] max(∪)
  SN[m, p] = e^(QK[m, p] − GM[p])
  SD[p] = SN[m, p]
  AV[f, p] = (SN[m, p] × V[f, m]) ÷ SD[p]
"""
    c = parse(src)
    assert c.einsum("GM").reduce_merge == "union"
    assert c.einsum("SN").rhs.op == "expsub"
    assert parse(format_cascade(c)) == c
