"""Fig. 7: BERT's 2D-array utilization broken down by Einsum (FLAT, +Cascade, +Architecture, +Binding)."""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from studies import _common as c

NAME = "fig7"
MODEL = "bert"
CONFIGS = ("flat", "plus-cascade", "plus-architecture", "fusemax")
SHORT = {"flat": "FL", "plus-cascade": "+C", "plus-architecture": "+A", "fusemax": "+B"}
CATEGORIES = ("QK", "LM", "SLN", "SLD", "SLNV/AV", "other")
CATEGORY_COLORS = dict(zip(CATEGORIES, ("#377eb8", "#4daf4a", "#e41a1c", "#984ea3", "#ff7f00", "#999999")))
_ALIASES = {
    "QK": "QK",
    "BQK": "QK",
    "LM": "LM",
    "SLN": "SLN",
    "SLD": "SLD",
    "SLNV": "SLNV/AV",
    "AV": "SLNV/AV",
    "SNV": "SLNV/AV",
    "SLV": "SLNV/AV",
}


def category(einsum: str) -> str:
    """The paper's Fig. 7 category of an Einsum name (QK, LM, SLN, SLD, SLNV/AV), else 'other'."""
    return _ALIASES.get(einsum.upper().replace("_", ""), "other")


def is_2d(unit: str) -> bool:
    return "2d" in str(unit).lower().replace("-", "").replace("_", "")


def points(grid: c.Grid) -> list[dict]:
    return [{"config": cfg, "model": MODEL, "seq": s, "scope": "attention"} for s in grid.seqs for cfg in CONFIGS]


def render(rows: list[dict], out: Path, grid: c.Grid) -> list[Path]:
    from einsim.sweep.plot import new_figure, save

    table = []
    for s in grid.seqs:
        for cfg in CONFIGS:
            r = c.lookup(rows, config=cfg, model=MODEL, seq=s)
            shares = dict.fromkeys(CATEGORIES, 0.0)
            for name, e in (r.get("per_einsum") or {}).items():
                if is_2d(e.get("unit", "")):
                    shares[category(name)] += float(e.get("util", 0.0))
            table.append(
                {
                    "model": MODEL,
                    "seq": s,
                    "config": cfg,
                    "util_2d": r["util_2d"],
                    **{f"util_{k}": v for k, v in shares.items()},
                }
            )
    csv = c.write_csv(out / f"{NAME}.csv", table, list(table[0]))
    fig, ax = new_figure(width=6.5, height=2.4)
    xs, labels = [], []
    for i in range(len(grid.seqs)):
        for j, cfg in enumerate(CONFIGS):
            xs.append(i * (len(CONFIGS) + 1) + j)
            labels.append(SHORT[cfg])
    used = [k for k in CATEGORIES if any(t[f"util_{k}"] > 0 for t in table)]
    bottom = [0.0] * len(table)
    for k in used:
        hs = [t[f"util_{k}"] for t in table]
        ax.bar(xs, hs, bottom=bottom, color=CATEGORY_COLORS[k], width=0.85, label=k, linewidth=0)
        bottom = [b + h for b, h in zip(bottom, hs)]
    ax.set_xticks(xs, labels, fontsize=5.5)
    ax.tick_params(axis="x", length=0, pad=2)
    for i, s in enumerate(grid.seqs):
        ax.text(
            i * (len(CONFIGS) + 1) + (len(CONFIGS) - 1) / 2,
            -0.1,
            c.seq_label(s),
            ha="center",
            va="top",
            transform=ax.get_xaxis_transform(),
            fontsize=7,
        )
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("2D array: proportion active")
    ax.set_xlabel("configuration and sequence length (tokens)", labelpad=14)
    ax.set_title("BERT: 2D-array utilization by Einsum")
    ax.grid(axis="x", visible=False)
    ax.legend(ncol=len(used), frameon=False, loc="upper center", bbox_to_anchor=(0.5, 1.22))
    return [csv, save(fig, out / f"{NAME}.png")]


if __name__ == "__main__":
    sys.exit(c.run_script(sys.modules[__name__]))
