"""Fig. 6b: 2D-array utilization of the five configurations, 4 models x 6 sequence lengths (attention
only)."""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from studies import _common as c

NAME = "fig6b"
FIELD, YLABEL = "util_2d", "2D array utilization"


def points(grid: c.Grid) -> list[dict]:
    return c.attention_points(grid)


def render(rows: list[dict], out: Path, grid: c.Grid) -> list[Path]:
    table = [c.lookup(rows, config=cfg, model=m, seq=s) for m in grid.models for s in grid.seqs for cfg in grid.configs]
    csv = c.write_csv(out / f"{NAME}.csv", table, ["model", "seq", "config", FIELD, "cycles", "seconds"])
    values = {(r["model"], r["seq"], r["config"]): r[FIELD] for r in table}
    png = c.grouped_bars(values, grid, grid.configs, YLABEL, out / f"{NAME}.png", ylim=(0, 1.05))
    return [csv, png]


if __name__ == "__main__":
    sys.exit(c.run_script(sys.modules[__name__]))
