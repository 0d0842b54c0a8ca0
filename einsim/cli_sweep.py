"""`einsim sweep` (any product of parameters through the model, stored and resumable) and `einsim reproduce`
(every figure and table of the paper, from studies/).

    einsim sweep config=fusemax,flat model=bert,xlm seq=1K..1M:x4 --store bert.sqlite --csv bert.csv
    einsim sweep config=fusemax model=bert seq=256K arch.pe_rows+arch.pe_cols=16..512 --pareto pareto.png
    einsim sweep ... --executor dask --scheduler tcp://HOST:8786
    einsim reproduce --out figures [--quick]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from einsim.errors import EinsimError

_SWEEP_EPILOG = """\
axes:   NAME=V1,V2,...  NAME=A..B (doubling)  NAME=A..B:x4 (times 4)
        sizes take binary suffixes: 16K = 16384, 16MiB = 16777216
        NAME=a+b sets fields a and b to the same value (e.g. square arrays)
model points (the default --fn) take:
        config   unfused, flat, plus-cascade, plus-architecture, fusemax
        model    bert, trxl, t5, xlm       seq    sequence length M = P
        scope    attention (default) or e2e (one encoder layer)
        arch     an architecture name or .toml file
        arch.F   an override of architecture field F, e.g. arch.gbuf_bytes=8MiB,
                 arch.array2d.rows+arch.array2d.cols+arch.array1d.pes=64..512
--fn einsim.sweep.points:cascade sweeps cascades instead (pass analysis and operation counts):
        cascade  a name in workloads/cascades/ or a .ein path; model, seq, M0, and any rank size (G=8)
Points already in --store are not recomputed: rerun an interrupted sweep to finish it.
"""


def register(sub: argparse._SubParsersAction) -> None:
    sp = sub.add_parser(
        "sweep",
        help="run the model over a product of parameters (parallel, stored, resumable)",
        description="Run the model (or any point function) over the Cartesian product of the given axes. "
        "Each point is appended to a SQLite store as it finishes; rerunning computes only missing points.",
        epilog=_SWEEP_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sp.add_argument("axes", nargs="+", metavar="AXIS=VALUES", help="one sweep axis, e.g. seq=1K..1M:x4")
    sp.add_argument(
        "--store",
        type=Path,
        default=Path("einsim-sweep.sqlite"),
        help="SQLite result store (default ./einsim-sweep.sqlite)",
    )
    sp.add_argument(
        "--fn",
        default="einsim.sweep.points:simulate",
        help="point function module:function, dict -> dict (default: the spatial-array model)",
    )
    sp.add_argument(
        "--executor",
        choices=("local", "serial", "dask"),
        default="local",
        help="local process pool (default), serial in this process, or a Dask cluster",
    )
    sp.add_argument("--jobs", type=int, default=None, help="local worker processes (default: all cores)")
    sp.add_argument("--scheduler", default=None, help="Dask scheduler address for --executor dask (tcp://HOST:PORT)")
    sp.add_argument("--csv", type=Path, default=None, help="write all finished points of this sweep as CSV")
    sp.add_argument(
        "--pareto",
        type=Path,
        default=None,
        help="write a Pareto plot (PNG) of the results and print the front",
    )
    sp.add_argument(
        "--objectives",
        default="seconds,energy_pj,area_um2",
        help="comma-separated fields minimised by the Pareto front (default seconds,energy_pj,area_um2)",
    )
    sp.add_argument("--retry-errors", action="store_true", help="recompute points stored as errors")
    sp.add_argument("--no-progress", action="store_true", help="no progress bar")
    sp.set_defaults(func=_sweep)

    rp = sub.add_parser(
        "reproduce",
        help="regenerate every figure and table of the FuseMax paper (studies/)",
        description="Regenerate Figs. 6a-12, Table I and the headline means into DIR: each fig*.csv + "
        "fig*.png, table1.{csv,md}, headline.{csv,md}. Model runs are cached in DIR/einsim-sweep.sqlite.",
    )
    rp.add_argument("--out", type=Path, default=Path("figures"), help="output folder (default ./figures)")
    rp.add_argument("--quick", action="store_true", help="reduced grid (2 models x 2 lengths), for CI")
    rp.add_argument("--jobs", type=int, default=None, help="worker processes (default: all cores)")
    rp.add_argument("--only", default=None, help="comma-separated subset, e.g. fig8,headline")
    rp.add_argument(
        "--executor",
        choices=("local", "serial", "dask"),
        default="local",
        help="where the model runs: local processes (default), serial, or a Dask cluster",
    )
    rp.add_argument("--scheduler", default=None, help="Dask scheduler address for --executor dask")
    rp.add_argument("--no-progress", action="store_true", help="no progress bar")
    rp.set_defaults(func=_reproduce)


def _sweep(args: argparse.Namespace) -> int:
    from einsim.sweep import grid as _grid
    from einsim.sweep import pareto_front, plot_pareto, product, run_sweep
    from einsim.sweep.executors import function_name, resolve
    from einsim.sweep.grid import parse_axis

    axes: dict[str, list] = {}
    for text in args.axes:
        name, values = parse_axis(text)
        if name in axes:
            raise EinsimError(f"sweep axis `{name}` is given twice; give it once with all its values.")
        axes[name] = values
    points = product(axes) if axes else _grid()
    fn_name = function_name(args.fn)
    fn = resolve(fn_name)
    check = getattr(fn, "validate_points", None)  # a point function may carry a whole-sweep check
    if check is not None:
        check(points)
    if args.executor == "dask" and not args.scheduler:
        raise EinsimError("--executor dask needs --scheduler tcp://HOST:PORT (the address `dask scheduler` prints).")
    objectives = [o.strip() for o in args.objectives.split(",") if o.strip()]
    res = run_sweep(
        fn_name,
        points,
        args.store,
        executor=args.executor,
        jobs=args.jobs,
        scheduler=args.scheduler,
        progress=not args.no_progress,
        retry_errors=args.retry_errors,
        version=_version(fn_name),
    )
    rows = res.rows
    shown = [a.split("+")[0].strip() for a in axes]  # a tied axis a+b is shown by its first field
    print(f"{len(points)} points: {res.computed} computed, {res.cached} from {args.store}", file=sys.stderr)
    if args.csv:
        with _writing(args.csv):
            _write_csv(args.csv, rows)
        print(f"wrote {args.csv}", file=sys.stderr)
    _print_table(rows, shown)
    if args.pareto and rows:
        front = pareto_front(rows, objectives)
        x = "area_um2" if "area_um2" in objectives else objectives[-1]
        y = objectives[0]
        label = [f for a, f in zip(axes, shown) if len(axes[a]) > 1] or None
        with _writing(args.pareto):
            plot_pareto(rows, args.pareto, x=x, y=y, objectives=objectives, label=label)
        print(f"Pareto front over {', '.join(objectives)}: {len(front)} of {len(rows)} points", file=sys.stderr)
        _print_table(front, shown, objectives)
        print(f"wrote {args.pareto.with_suffix('.png')}", file=sys.stderr)
    res.raise_for_errors()
    return 0


def _version(fn_name: str) -> str:
    if fn_name.startswith("einsim.sweep.points:"):
        from einsim.registry import model_version

        return model_version()
    return ""


def _writing(
    path: Path,
    note: str = "The computed points are kept in the store; rerun with a writable path (nothing is recomputed).",
):
    """Context that turns an OSError while writing `path` into a one-paragraph EinsimError."""
    import contextlib

    @contextlib.contextmanager
    def guard():
        try:
            yield
        except OSError as exc:
            raise EinsimError(f"cannot write {path}: {exc.strerror or exc}. {note}") from None

    return guard()


def _write_csv(path: Path, rows: list[dict]) -> None:
    import csv
    import json

    cols: list[str] = []
    for r in rows:
        cols += [k for k in r if k not in cols]
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(cols)
        for r in rows:
            w.writerow([json.dumps(r[c]) if isinstance(r.get(c), dict | list) else r.get(c, "") for c in cols])


def _print_table(rows: list[dict], axes: list[str], extra: list[str] | None = None, limit: int = 60) -> None:
    fields = [f for f in ("seconds", "util_2d", "util_1d", "energy_pj", "area_um2") if rows and f in rows[0]]
    if rows and not fields:  # another point function: its first few scalar results
        fields = [k for k, v in rows[0].items() if k not in axes and isinstance(v, int | float | str)][:6]
    cols = axes + [f for f in (extra or fields) if f not in axes]
    if not rows or not cols:
        return
    cells = [[_fmt(r.get(c)) for c in cols] for r in rows[:limit]]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    print("  ".join(c.rjust(w) for c, w in zip(cols, widths)))
    for row in cells:
        print("  ".join(v.rjust(w) for v, w in zip(row, widths)))
    if len(rows) > limit:
        print(f"... {len(rows) - limit} more rows (use --csv)")


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "" if v is None else str(v)


def _reproduce(args: argparse.Namespace) -> int:
    from einsim.registry import study

    reproduce = study("reproduce")
    only = [s.strip() for s in args.only.split(",")] if args.only else None
    t0 = time.perf_counter()
    if args.executor == "dask" and not args.scheduler:
        raise EinsimError("--executor dask needs --scheduler tcp://HOST:PORT (the address `dask scheduler` prints).")
    with _writing(args.out, "Give --out a writable folder; points already computed there are kept."):
        paths = reproduce(
            args.out,
            args.quick,
            args.jobs,
            not args.no_progress,
            only,
            executor=args.executor,
            scheduler=args.scheduler,
        )
    for p in paths:
        print(p)
    headline = [p for p in paths if p.name == "headline.md"]
    if headline:
        print("\n" + headline[0].read_text())
    print(f"wrote {len(paths)} files to {args.out} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return 0
