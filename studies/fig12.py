"""Fig. 12: chip area vs attention latency of FuseMax at 256K tokens for PE arrays 16² ... 512², the global
buffer sized (by doubling) until a larger one no longer shortens the run, i.e. memory is off the critical
path."""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from studies import _common as c

NAME = "fig12"
# architecture fields set to d for a d x d 2D array with a d-PE 1D array (as the paper scales both)
ARRAY_FIELDS = ("array2d.rows", "array2d.cols", "array1d.pes")
BUFFER_START_BYTES = 64 * 1024


def points(grid: c.Grid) -> list[dict]:
    pts = []
    for m in grid.models:
        for d in grid.pareto_dims:
            p = {
                "search": "buffer",
                "config": "fusemax",
                "model": m,
                "seq": grid.pareto_seq,
                "scope": "attention",
                "buffer_start_bytes": BUFFER_START_BYTES,
                "buffer_field": "gbuf_bytes",
            }
            p.update({f"arch.{f}": d for f in ARRAY_FIELDS})
            pts.append(p)
    return pts


def render(rows: list[dict], out: Path, grid: c.Grid) -> list[Path]:
    from einsim.sweep import pareto_front
    from einsim.sweep.plot import new_figure, palette, save

    table = []
    for m in grid.models:
        for d in grid.pareto_dims:
            r = c.lookup(rows, search="buffer", model=m, seq=grid.pareto_seq, **{f"arch.{f}": d for f in ARRAY_FIELDS})
            table.append(
                {
                    "model": m,
                    "seq": grid.pareto_seq,
                    "pe_dim": d,
                    "pes_2d": d * d,
                    "buffer_bytes": r["buffer_bytes"],
                    "area_um2": r["area_um2"],
                    "area_cm2": r["area_um2"] / 1e8,
                    "seconds": r["seconds"],
                    "cycles": r["cycles"],
                    "util_2d": r["util_2d"],
                    "util_1d": r["util_1d"],
                    "energy_pj": r["energy_pj"],
                    "energy_pj_artifact": r["energy_pj_artifact"],
                }
            )
    front = {id(r) for r in pareto_front(table, ("seconds", "area_cm2"))}
    for r in table:
        r["pareto_optimal_all_models"] = id(r) in front
    csv = c.write_csv(out / f"{NAME}.csv", table, list(table[0]))
    fig, ax = new_figure(width=3.6, height=2.7)
    for m, color in zip(grid.models, palette(len(grid.models))):
        pts = sorted((r for r in table if r["model"] == m), key=lambda r: r["area_cm2"])
        ax.plot(
            [r["area_cm2"] for r in pts],
            [r["seconds"] for r in pts],
            marker="o",
            markersize=3,
            color=color,
            label=c.MODEL_LABELS.get(m, m),
        )
        if m == grid.models[0]:
            for r in pts:
                ax.annotate(
                    f"{r['pe_dim']}²",
                    (r["area_cm2"], r["seconds"]),
                    textcoords="offset points",
                    xytext=(4, 2),
                    fontsize=6,
                )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("chip area (cm², 45 nm)")
    ax.set_ylabel(f"attention latency at {c.seq_label(grid.pareto_seq)} (s)")
    ax.set_title("FuseMax: area vs latency, PE array 16² … 512²" if not grid.quick else "FuseMax: area vs latency")
    ax.legend(frameon=False)
    return [csv, save(fig, out / f"{NAME}.png")]


if __name__ == "__main__":
    sys.exit(c.run_script(sys.modules[__name__]))
