"""Pareto fronts over sweep results (every objective minimised: latency, energy, area by default) and their
plot.

>>> rows = [{"s": 1, "e": 5, "a": 1}, {"s": 2, "e": 2, "a": 1}, {"s": 3, "e": 6, "a": 2}]
>>> [r["s"] for r in pareto_front(rows, ("s", "e", "a"))]
[1, 2]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from einsim.errors import EinsimError

DEFAULT_OBJECTIVES = ("seconds", "energy_pj", "area_um2")
LABELS = {
    "seconds": "latency (s)",
    "energy_pj": "energy (pJ)",
    "energy_pj_artifact": "energy, artifact accounting (pJ)",
    "area_um2": "chip area (µm²)",
    "area_cm2": "chip area (cm²)",
    "cycles": "latency (cycles)",
}


def _values(row: dict, objectives: Sequence[str]) -> tuple[float, ...] | None:
    try:
        vals = tuple(float(row[o]) for o in objectives)
    except KeyError as exc:
        raise EinsimError(
            f"Pareto objective {exc} is not a field of the sweep results (fields: {', '.join(sorted(row))}). "
            f"Name result fields such as seconds, energy_pj, area_um2."
        ) from None
    except (TypeError, ValueError):
        return None
    return None if any(math.isnan(v) for v in vals) else vals


def pareto_front(rows: Sequence[dict[str, Any]], objectives: Sequence[str] = DEFAULT_OBJECTIVES) -> list[dict]:
    """Rows not dominated by any other row (all objectives minimised), sorted by the first objective.

    A row dominates another if it is no worse in every objective and better in one. Rows with a missing or
    non-numeric objective are skipped; duplicates of a front point are all kept.
    """
    if not objectives:
        raise EinsimError("a Pareto front needs at least one objective (e.g. seconds, energy_pj, area_um2).")
    scored = [(v, r) for r in rows if (v := _values(r, objectives)) is not None]
    scored.sort(key=lambda vr: vr[0])
    front: list[tuple[tuple[float, ...], dict]] = []
    for v, r in scored:
        dominated = any(all(f <= x for f, x in zip(fv, v)) and fv != v for fv, _ in front)
        if not dominated:
            front = [(fv, fr) for fv, fr in front if not (all(x <= f for x, f in zip(v, fv)) and v != fv)]
            front.append((v, r))
    return [r for _, r in front]


def _short(v: Any) -> str:
    """1048576 -> '1Mi', 65536 -> '64Ki', 0.5 -> '0.5', 'bert' -> 'bert'."""
    if isinstance(v, int) and not isinstance(v, bool) and v >= 1024:
        for suffix, size in (("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
            if v % size == 0:
                return f"{v // size}{suffix}"
    return f"{v:g}" if isinstance(v, float) else str(v)


def _label(row: dict, fields: list[str]) -> str:
    return ", ".join(
        f"{f.split('.')[-1]}={_short(row.get(f))}" if len(fields) > 1 else _short(row.get(f)) for f in fields
    )


def plot_pareto(
    rows: Sequence[dict[str, Any]],
    path: str | Path,
    x: str = "area_um2",
    y: str = "seconds",
    objectives: Sequence[str] = DEFAULT_OBJECTIVES,
    group: str | None = None,
    label: str | Sequence[str] | None = None,
    title: str | None = None,
) -> Path:
    """Scatter `y` against `x` (log-log) for all rows; points on the Pareto front over `objectives` are
    filled, the others hollow; with `group`, one colour per group and the group's (x, y) front joined by a
    line. `label` names the field(s) to annotate each front point with (e.g. "arch.array2d.rows")."""
    from einsim.sweep.plot import new_figure, palette, save

    fig, ax = new_figure(width=5.0, height=3.6)
    groups: dict[Any, list[dict]] = {}
    for r in rows:
        groups.setdefault(r.get(group) if group else "all", []).append(r)
    front_ids = {id(r) for r in pareto_front(rows, objectives)}
    colors = palette(len(groups))
    for (name, grp), color in zip(groups.items(), colors):
        pts = [r for r in grp if _values(r, (x, y)) is not None]
        off = [r for r in pts if id(r) not in front_ids]
        ax.scatter(
            [r[x] for r in off],
            [r[y] for r in off],
            facecolors="none",
            edgecolors=color,
            s=22,
            linewidths=0.8,
        )
        ax.scatter(
            [r[x] for r in pts if id(r) in front_ids],
            [r[y] for r in pts if id(r) in front_ids],
            color=color,
            s=26,
            label=str(name) if group else "Pareto-optimal (filled) / dominated (hollow)",
        )
        line = pareto_front(pts, (x, y))
        ax.plot([r[x] for r in line], [r[y] for r in line], color=color, linewidth=1.2)
        if label:
            for r in line:
                ax.annotate(
                    _label(r, [label] if isinstance(label, str) else list(label)),
                    (r[x], r[y]),
                    textcoords="offset points",
                    xytext=(3, 3),
                    fontsize=6,
                    color=color,
                )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(LABELS.get(x, x))
    ax.set_ylabel(LABELS.get(y, y))
    if title:
        ax.set_title(title)
    ax.legend(frameon=False, fontsize=7, loc="best")
    return save(fig, path)
