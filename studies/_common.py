"""Shared pieces of the figure scripts: the paper's grid, labels and colours, the cached sweep, CSV and bar
charts.

Every figure script defines `NAME`, `points(grid) -> list[dict]` (the model runs it needs) and
`render(rows, out_dir, grid) -> list[Path]` (its CSV and PNG from those runs); `run_script` gives it a
command line (`python studies/fig8.py --out DIR [--quick]`). Runs are cached in DIR/einsim-sweep.sqlite,
keyed by the point and by a hash of the model's source, so scripts sharing points compute them once and a
changed model recomputes all.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from einsim.errors import EinsimError
from einsim.registry import model_version as registry_model_version

ROOT = Path(__file__).resolve().parent.parent
POINT_FN = "einsim.sweep.points:run"
STORE_NAME = "einsim-sweep.sqlite"

MODELS = ("bert", "trxl", "t5", "xlm")
MODEL_LABELS = {"bert": "BERT", "trxl": "TrXL", "t5": "T5", "xlm": "XLM"}
SEQS = tuple(1024 * 4**k for k in range(6))  # 1K ... 1M
CONFIGS = ("unfused", "flat", "plus-cascade", "plus-architecture", "fusemax")
CONFIG_LABELS = {
    "unfused": "Unfused",
    "flat": "FLAT",
    "plus-cascade": "+Cascade",
    "plus-architecture": "+Architecture",
    "fusemax": "+Binding (FuseMax)",
}
CONFIG_COLORS = {  # Set1, in the paper's order
    "unfused": "#e41a1c",
    "flat": "#377eb8",
    "plus-cascade": "#4daf4a",
    "plus-architecture": "#984ea3",
    "fusemax": "#ff7f00",
}


@dataclass(frozen=True)
class Grid:
    """Which workloads the figures cover: the paper's full grid or a reduced one for CI (`--quick`)."""

    models: tuple[str, ...] = MODELS
    seqs: tuple[int, ...] = SEQS
    configs: tuple[str, ...] = CONFIGS
    pareto_dims: tuple[int, ...] = (16, 32, 64, 128, 256, 512)
    pareto_seq: int = 256 * 1024
    quick: bool = False


FULL = Grid()
QUICK = Grid(models=("bert", "xlm"), seqs=(1024, 16384), pareto_dims=(16, 64, 256), pareto_seq=16384, quick=True)


def seq_label(n: int) -> str:
    """1024 -> '1K', 1048576 -> '1M'."""
    if n % (1 << 20) == 0:
        return f"{n >> 20}M"
    if n % 1024 == 0:
        return f"{n >> 10}K"
    return str(n)


def attention_points(grid: Grid, configs: Iterable[str] | None = None, scope: str = "attention") -> list[dict]:
    """One point per (config, model, seq) of the grid; scope "e2e" gives the attention and the linear-layer
    points that `result(rows, "e2e", ...)` combines into one encoder layer."""
    if scope == "e2e":
        return attention_points(grid, configs, "attention") + attention_points(grid, configs, "linear")
    return [
        {"config": cfg, "model": m, "seq": s, "scope": scope}
        for m in grid.models
        for s in grid.seqs
        for cfg in (configs or grid.configs)
    ]


def result(rows: list[dict], scope: str, config: str, model: str, seq: int) -> dict:
    """One run's result: attention, or end-to-end = attention + linear layers (einsim.model's sum)."""
    from einsim.sweep.model_adapter import end_to_end

    if scope == "e2e":
        att = lookup(rows, config=config, model=model, seq=seq, scope="attention")
        return end_to_end(att, lookup(rows, config=config, model=model, seq=seq, scope="linear"))
    return lookup(rows, config=config, model=model, seq=seq, scope=scope)


def model_version() -> str:
    """Hash of the model's source files: stored results of an older model are not reused."""
    return registry_model_version()


def compute(
    points: Sequence[dict],
    out_dir: Path,
    jobs: int | None = None,
    progress: bool = True,
    executor: str = "local",
    scheduler: str | None = None,
) -> list[dict]:
    """Run (or fetch from DIR/einsim-sweep.sqlite) every point, longest runs first; on the local cores or, with
    executor="dask", on the Dask cluster at `scheduler`."""
    from einsim.sweep import run_sweep
    from einsim.sweep.points import validate_points

    validate_points([{k: v for k, v in p.items() if k != "search" and not k.startswith("buffer")} for p in points])
    order = sorted(points, key=lambda p: (-p.get("seq", 0), "search" not in p))
    out_dir.mkdir(parents=True, exist_ok=True)
    res = run_sweep(
        POINT_FN,
        order,
        out_dir / STORE_NAME,
        jobs=jobs,
        executor=executor,
        scheduler=scheduler,
        progress=progress,
        desc="einsim",
        version=model_version(),
    )
    res.raise_for_errors()
    return res.rows


def lookup(rows: Iterable[dict], **match: Any) -> dict:
    """The row whose fields equal `match` (scope defaults to attention); rows of other searches or with
    architecture overrides match only if `match` names those parameters."""
    match.setdefault("scope", "attention")
    found = [
        r
        for r in rows
        if all(r.get(k) == v for k, v in match.items())
        and not any((k == "search" or k.startswith("arch.")) and k not in match for k in r)
    ]
    if not found:
        raise EinsimError(f"no model run matches {match}; the sweep did not produce it.")
    return found[0]


def write_csv(path: Path, rows: Sequence[dict], columns: Sequence[str]) -> Path:
    """CSV with the given columns (nested values as JSON, floats with full precision)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(columns)
        for r in rows:
            w.writerow([json.dumps(r.get(c)) if isinstance(r.get(c), dict | list) else r.get(c, "") for c in columns])
    return path


def write_markdown(path: Path, header: Sequence[str], body: Sequence[Sequence[Any]], title: str = "") -> Path:
    """A Markdown table (with an optional title line)."""
    lines = [f"{title}\n" if title else ""]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join("---" for _ in header) + "|")
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in body]
    path.write_text("\n".join(lines).lstrip("\n") + "\n")
    return path


def geomean(xs: Sequence[float]) -> float:
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else float("nan")


def mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs) if xs else float("nan")


def grouped_bars(
    values: dict[tuple[str, int, str], float],
    grid: Grid,
    configs: Sequence[str],
    ylabel: str,
    path: Path,
    title: str = "",
    log: bool = False,
    ylim: tuple[float, float] | None = None,
    ref_line: float | None = None,
    more_rows: Sequence[tuple[dict[tuple[str, int, str], float], str]] = (),
):
    """The paper's layout for Figs. 6 and 8-11: one panel per model, sequence lengths on x, one bar per
    config.

    `values[(model, seq, config)]` is the bar height; missing keys are left empty. `more_rows` adds rows of
    panels below, each (values, ylabel), with the same axes settings.
    """
    from einsim.sweep.plot import new_figure, save

    n = len(grid.models)
    rows = [(values, ylabel), *more_rows]
    fig, axes = new_figure(
        width=1.9 * n + 0.4, height=2.0 * len(rows) + 0.3, ncols=n, nrows=len(rows), sharey="row", squeeze=False
    )
    width = 0.8 / len(configs)
    for r, (vals, label) in enumerate(rows):
        for ax, model in zip(axes[r], grid.models):
            for j, cfg in enumerate(configs):
                xs, ys = [], []
                for i, s in enumerate(grid.seqs):
                    v = vals.get((model, s, cfg))
                    if v is not None and math.isfinite(v):
                        xs.append(i - 0.4 + width * (j + 0.5))
                        ys.append(v)
                ax.bar(xs, ys, width=width, color=CONFIG_COLORS[cfg], label=CONFIG_LABELS[cfg], linewidth=0)
            ax.set_xticks(range(len(grid.seqs)), [seq_label(s) for s in grid.seqs], fontsize=6)
            if r == 0:
                ax.set_title(MODEL_LABELS.get(model, model))
            if r == len(rows) - 1:
                ax.set_xlabel("sequence length (tokens)")
            ax.grid(axis="x", visible=False)
            if ref_line is not None:
                ax.axhline(ref_line, color="black", linewidth=0.6, linestyle="--")
            if log:
                log_axis(ax)
        if ylim:
            axes[r][0].set_ylim(*ylim)
        axes[r][0].set_ylabel(label)
    if len(rows) > 1:
        fig.subplots_adjust(hspace=0.35)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(configs), frameon=False, bbox_to_anchor=(0.5, 0.97))
    if title:
        fig.suptitle(title, y=1.06)
    return save(fig, path)


def log_axis(ax, axis: str = "y") -> None:
    """Log scale with plain-number tick labels (1, 2, 5, 10, ...) instead of powers of ten."""
    from matplotlib.ticker import FuncFormatter, LogLocator

    fmt = FuncFormatter(lambda v, _: f"{v:g}")
    target = ax.yaxis if axis == "y" else ax.xaxis
    (ax.set_yscale if axis == "y" else ax.set_xscale)("log")
    target.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    target.set_major_formatter(fmt)
    target.set_minor_formatter(FuncFormatter(lambda v, _: ""))


def run_script(module: Any, argv: Sequence[str] | None = None) -> int:
    """Command line of one figure script: compute its points (cached), write its files, print their paths."""
    ap = argparse.ArgumentParser(prog=f"studies/{module.NAME}.py", description=module.__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "studies" / "out", help="output folder (default studies/out)")
    ap.add_argument("--quick", action="store_true", help="a reduced grid (2 models x 2 lengths), for CI")
    ap.add_argument("--jobs", type=int, default=None, help="worker processes (default: all cores)")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = ap.parse_args(argv)
    grid = QUICK if args.quick else FULL
    try:
        pts = module.points(grid)
        rows = compute(pts, args.out, args.jobs, not args.no_progress) if pts else []
        for p in module.render(rows, args.out, grid):
            print(p)
    except EinsimError as exc:
        print(f"einsim: error: {exc}", file=sys.stderr)
        return 2
    return 0


ENERGY_FIELDS = {"artifact": "energy_pj_artifact", "full": "energy_pj"}


def relative_rows(rows: list[dict], grid: Grid, scope: str) -> list[dict]:
    """Per (model, seq, config): speedup over Unfused and energy relative to Unfused (both accountings)."""
    out = []
    for m in grid.models:
        for s in grid.seqs:
            base = result(rows, scope, "unfused", m, s)
            for cfg in grid.configs:
                r = result(rows, scope, cfg, m, s)
                out.append(
                    {
                        "model": m,
                        "seq": s,
                        "config": cfg,
                        "scope": scope,
                        "seconds": r["seconds"],
                        "speedup_vs_unfused": base["seconds"] / r["seconds"],
                        "energy_pj": r["energy_pj"],
                        "energy_pj_artifact": r["energy_pj_artifact"],
                        "energy_vs_unfused": r["energy_pj"] / base["energy_pj"],
                        "energy_vs_unfused_artifact": r["energy_pj_artifact"] / base["energy_pj_artifact"],
                    }
                )
    return out


def relative_figure(rows: list[dict], out: Path, grid: Grid, name: str, scope: str, metric: str) -> list[Path]:
    """Figs. 8-11: speedup (log scale) or energy relative to Unfused, per model, length and config."""
    table = relative_rows(rows, grid, scope)
    cols = list(table[0])
    csv_path = write_csv(out / f"{name}.csv", table, cols)
    what = "attention" if scope == "attention" else "end-to-end"
    if metric == "speedup":
        values = {(r["model"], r["seq"], r["config"]): r["speedup_vs_unfused"] for r in table}
        png = grouped_bars(
            values,
            grid,
            grid.configs,
            f"{what} speedup\nover Unfused (×)",
            out / f"{name}.png",
            log=True,
            ref_line=1.0,
        )
    else:
        art = {(r["model"], r["seq"], r["config"]): r["energy_vs_unfused_artifact"] for r in table}
        full = {(r["model"], r["seq"], r["config"]): r["energy_vs_unfused"] for r in table}
        png = grouped_bars(
            art,
            grid,
            grid.configs,
            f"{what} energy / Unfused\n(artifact accounting)",
            out / f"{name}.png",
            ref_line=1.0,
            more_rows=[(full, f"{what} energy / Unfused\n(full: RFs of all PEs)")],
        )
    return [csv_path, png]


def utilization_figure(name: str, field: str, ylabel: str):
    """`points` and `render` of a Fig. 6-style figure: one utilization field per (model, seq, config)."""

    def points(grid: Grid) -> list[dict]:
        return attention_points(grid)

    def render(rows: list[dict], out: Path, grid: Grid) -> list[Path]:
        keys = [(m, s, cfg) for m in grid.models for s in grid.seqs for cfg in grid.configs]
        table = [lookup(rows, config=cfg, model=m, seq=s) for m, s, cfg in keys]
        csv = write_csv(out / f"{name}.csv", table, ["model", "seq", "config", field, "cycles", "seconds"])
        values = {(r["model"], r["seq"], r["config"]): r[field] for r in table}
        png = grouped_bars(values, grid, grid.configs, ylabel, out / f"{name}.png", ylim=(0, 1.05))
        return [csv, png]

    return points, render
