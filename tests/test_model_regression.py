"""Whole-model outputs against tests/regression_model.json (regenerate: python -m einsim.model.regress --update)."""

from __future__ import annotations

import json

from einsim.model.regress import PATH, compute, diff


def test_regression_table():
    msgs = diff(json.loads(PATH.read_text()), compute())
    assert not msgs, "model outputs changed (review, then `python -m einsim.model.regress --update`):\n" + "\n".join(
        msgs[:40]
    )
