"""Plain-text tables for results: rows of dicts -> aligned columns (used by every CLI table)."""

from __future__ import annotations

from collections.abc import Sequence


def render_table(rows: Sequence[dict], columns: Sequence[str] | None = None, title: str = "") -> str:
    """Render rows (dicts) as an aligned text table; floats get 4 significant digits."""
    if not rows:
        return title + "\n(no rows)" if title else "(no rows)"
    cols = list(columns or rows[0].keys())

    def cell(v: object) -> str:
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v)

    cells = [[cell(r.get(c, "")) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    line = "  ".join(c.ljust(w) for c, w in zip(cols, widths))
    out = [title] if title else []
    out += [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join(out)
