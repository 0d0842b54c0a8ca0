"""Metamorphic properties of the analyzer: renaming tensors or reordering independent statements
changes nothing; partitioning a rank keeps the top-level pass count."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from einsim import analyze_passes, format_cascade, parse, parse_file

LIB = Path(__file__).resolve().parent.parent / "workloads" / "cascades"
CORE = ["cascade4_3pass.ein", "cascade5_fa2.ein"]


def _rename(text: str, mapping: dict[str, str]) -> str:
    return re.sub(r"\b([A-Z][A-Z0-9]*)\[", lambda m: mapping.get(m.group(1), m.group(1)) + "[", text)


@pytest.mark.parametrize("name", CORE)
@settings(max_examples=10, deadline=None)
@given(st.integers(0, 10**6))
def test_pass_count_invariant_under_tensor_renaming(name, seed):
    c = parse_file(LIB / name)
    text = format_cascade(c)
    tensors = sorted({e.output for e in c.einsums} - {t.name for t in c.inputs} - {t.name for t in c.outputs})
    mapping = {t: f"T{(i * 7919 + seed) % 1000}X{i}" for i, t in enumerate(tensors)}
    renamed = parse(_rename(text, mapping))
    a, b = analyze_passes(c), analyze_passes(renamed)
    assert (a.passes, a.levels, a.live_footprint, a.ops) == (b.passes, b.levels, b.live_footprint, b.ops)


def test_statement_order_does_not_change_the_analysis():
    c = parse_file(LIB / "cascade4_3pass.ein")
    text = format_cascade(c)
    lines = text.splitlines()
    i, j = lines.index("  GM[p] = QK[m, p] :: reduce[m] max"), lines.index("  AV[f, p] = A[m, p] * V[f, m]")
    lines[i], lines[j] = lines[j], lines[i]
    b = analyze_passes(parse("\n".join(lines)))
    assert b.passes == 3 and b.groups == analyze_passes(c).groups
