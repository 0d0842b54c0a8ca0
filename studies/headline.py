"""Headline means: FuseMax vs FLAT and vs Unfused, attention and end-to-end, arithmetic and geometric means
over 4 models x 6 sequence lengths, next to the paper's numbers."""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from studies import _common as c

NAME = "headline"
CONFIGS = ("unfused", "flat", "fusemax")
# (scope, baseline, metric) -> the paper's arithmetic mean [fusemax.md §0, §6]; geometric means where derived.
PAPER = {
    ("attention", "flat", "speedup"): 6.7,
    ("attention", "unfused", "speedup"): 10.0,
    ("attention", "flat", "energy"): 0.79,
    ("attention", "unfused", "energy"): 0.77,
    ("e2e", "flat", "speedup"): 5.3,
    ("e2e", "unfused", "speedup"): 7.6,
    ("e2e", "flat", "energy"): 0.83,
    ("e2e", "unfused", "energy"): 0.82,
}
PAPER_GEO = {("attention", "flat", "speedup"): 6.46, ("e2e", "flat", "speedup"): 4.61}
PAPER_1M = {("e2e", "flat", "speedup"): 7.5, ("e2e", "unfused", "speedup"): 10.0}


def points(grid: c.Grid) -> list[dict]:
    return c.attention_points(grid, CONFIGS, "attention") + c.attention_points(grid, CONFIGS, "e2e")


def ratios(
    rows: list[dict],
    grid: c.Grid,
    scope: str,
    base: str,
    metric: str,
    accounting: str = "artifact",
    seqs: tuple[int, ...] | None = None,
) -> list[float]:
    """Per point: speedup (baseline time / FuseMax time) or energy ratio (FuseMax / baseline)."""
    field = c.ENERGY_FIELDS[accounting]
    out = []
    for m in grid.models:
        for s in seqs or grid.seqs:
            f = c.result(rows, scope, "fusemax", m, s)
            b = c.result(rows, scope, base, m, s)
            out.append(b["seconds"] / f["seconds"] if metric == "speedup" else f[field] / b[field])
    return out


def mac_share(rows: list[dict], grid: c.Grid, accounting: str, seqs: tuple[int, ...] | None = None) -> list[float]:
    """Per point: the share of FuseMax's attention energy spent in 2D-array compute (MACs, adds, max)."""
    comp = "energy_by_component_pj_artifact" if accounting == "artifact" else "energy_by_component_pj"
    out = []
    for m in grid.models:
        for s in seqs or grid.seqs:
            r = c.result(rows, "attention", "fusemax", m, s)
            out.append(r[comp]["2d_compute"] / r[c.ENERGY_FIELDS[accounting]])
    return out


def _fmt(v: float | None, metric: str) -> str:
    if v is None:
        return "–"
    return f"{v:.2f}×" if metric == "speedup" else f"{100 * v:.1f}%"


def render(rows: list[dict], out: Path, grid: c.Grid) -> list[Path]:
    table = []
    for scope in ("attention", "e2e"):
        for metric in ("speedup", "energy"):
            for base in ("flat", "unfused"):
                for acc in ("artifact", "full") if metric == "energy" else ("artifact",):
                    xs = ratios(rows, grid, scope, base, metric, acc)
                    at_max = ratios(rows, grid, scope, base, metric, acc, seqs=(max(grid.seqs),))
                    table.append(
                        {
                            "scope": scope,
                            "metric": metric,
                            "baseline": base,
                            "energy_accounting": acc if metric == "energy" else "",
                            "paper_arith": PAPER.get((scope, base, metric)) if acc == "artifact" else None,
                            "einsim_arith": c.mean(xs),
                            "einsim_geo": c.geomean(xs),
                            "paper_geo": PAPER_GEO.get((scope, base, metric)) if acc == "artifact" else None,
                            "einsim_min": min(xs),
                            "einsim_max": max(xs),
                            "longest_seq": max(grid.seqs),
                            "einsim_at_longest": c.mean(at_max),
                            "paper_at_1M": PAPER_1M.get((scope, base, metric)) if max(grid.seqs) == 1 << 20 else None,
                            "points": len(xs),
                        }
                    )
    for acc in ("artifact", "full"):
        xs = mac_share(rows, grid, acc)
        table.append(
            {
                "scope": "attention",
                "metric": "2d_compute_share",
                "baseline": "",
                "energy_accounting": acc,
                "paper_arith": 0.95 if acc == "artifact" else None,
                "einsim_arith": c.mean(xs),
                "einsim_geo": c.geomean(xs),
                "paper_geo": None,
                "einsim_min": min(xs),
                "einsim_max": max(xs),
                "longest_seq": max(grid.seqs),
                "einsim_at_longest": c.mean(mac_share(rows, grid, acc, (max(grid.seqs),))),
                "paper_at_1M": None,
                "points": len(xs),
            }
        )
    csv = c.write_csv(out / f"{NAME}.csv", table, list(table[0]))
    body = []
    for t in table:
        if t["metric"] == "2d_compute_share":
            what = "share of FuseMax attention energy in 2D-array compute"
        else:
            what = f"{'attention' if t['scope'] == 'attention' else 'end-to-end'} {t['metric']} vs "
            what += "FLAT" if t["baseline"] == "flat" else "Unfused"
        if t["energy_accounting"]:
            what += f" ({t['energy_accounting']} energy)"
        m = t["metric"]
        body.append(
            [
                what,
                ("≥ " if m == "2d_compute_share" and t["paper_arith"] else "") + _fmt(t["paper_arith"], m),
                _fmt(t["einsim_arith"], m),
                _fmt(t["paper_geo"], m),
                _fmt(t["einsim_geo"], m),
                f"{_fmt(t['einsim_min'], m)} – {_fmt(t['einsim_max'], m)}",
                _fmt(t["einsim_at_longest"], m) + (f" (paper {_fmt(t['paper_at_1M'], m)})" if t["paper_at_1M"] else ""),
            ]
        )
    n = len(grid.models) * len(grid.seqs)
    title = (
        f"Headline means over {len(grid.models)} models × {len(grid.seqs)} sequence lengths ({n} points). "
        f"Speedup = baseline time / FuseMax time; energy = FuseMax energy / baseline energy."
    )
    md = c.write_markdown(
        out / f"{NAME}.md",
        [
            "claim",
            "paper (arith.)",
            "einsim (arith.)",
            "artifact (geo.)",
            "einsim (geo.)",
            "einsim range",
            f"einsim at {c.seq_label(max(grid.seqs))}",
        ],
        body,
        title,
    )
    return [csv, md]


if __name__ == "__main__":
    sys.exit(c.run_script(sys.modules[__name__]))
