"""Fig. 11: end-to-end energy relative to Unfused (one encoder layer; artifact accounting), 4 models x 6
sequence lengths x 5 configurations."""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from studies import _common as c

NAME = "fig11"


def points(grid: c.Grid) -> list[dict]:
    return c.attention_points(grid, scope="e2e")


def render(rows: list[dict], out: Path, grid: c.Grid) -> list[Path]:
    return c.relative_figure(rows, out, grid, NAME, scope="e2e", metric="energy")


if __name__ == "__main__":
    sys.exit(c.run_script(sys.modules[__name__]))
