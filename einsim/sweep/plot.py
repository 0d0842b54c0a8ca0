"""One plotting style for every einsim figure (matplotlib, Agg backend, imported lazily).

Figures are sized for a two-column paper (3.5 in single column, 7 in across), with 8-pt text, no top/right
spines, the Set1 palette the paper's figures use, and are saved as 200-dpi PNG.
"""

from __future__ import annotations

from pathlib import Path

SET1 = ["#e41a1c", "#377eb8", "#4daf4a", "#984ea3", "#ff7f00", "#a65628", "#f781bf", "#999999", "#ffff33"]

_STYLE = {
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.axisbelow": True,
    "grid.color": "#dddddd",
    "grid.linewidth": 0.5,
    "axes.linewidth": 0.6,
    "lines.linewidth": 1.2,
    "savefig.dpi": 200,
    "savefig.bbox": "tight",
    "figure.dpi": 100,
    "pdf.fonttype": 42,
}


def pyplot():
    """matplotlib.pyplot on the Agg backend with einsim's style applied."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update(_STYLE)
    return plt


def palette(n: int) -> list[str]:
    """n colours from Set1 (cycled)."""
    return [SET1[i % len(SET1)] for i in range(n)]


def new_figure(width: float = 3.5, height: float = 2.4, ncols: int = 1, nrows: int = 1, **kw):
    """(fig, ax) or (fig, axes) in einsim's style; width/height in inches."""
    plt = pyplot()
    fig, ax = plt.subplots(nrows, ncols, figsize=(width, height), **kw)
    return fig, ax


def save(fig, path: str | Path) -> Path:
    """Save as PNG (the suffix is forced) and close the figure."""
    plt = pyplot()
    p = Path(path).with_suffix(".png")
    p.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(p)
    plt.close(fig)
    return p
