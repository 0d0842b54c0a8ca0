"""Sweeps over design spaces: parameter products, parallel executors, a resumable store, Pareto fronts.

    from einsim.sweep import grid, run_sweep, pareto_front
    pts = grid(config=["fusemax", "flat"], model=["bert", "xlm"], seq=[1024, 16384])
    res = run_sweep("einsim.sweep.points:simulate", pts, store="bert.sqlite", jobs=2)  # progress on stderr
    front = pareto_front(res.rows, ("seconds", "energy_pj", "area_um2"))

Points are dicts of JSON values; the point function is any importable module-level function dict -> dict.
`executor="dask", scheduler="tcp://HOST:8786"` runs the same sweep on a Dask cluster (dask imported lazily).
"""

from einsim.sweep.executors import DaskExecutor, LocalExecutor, SerialExecutor, make_executor
from einsim.sweep.grid import grid, parse_axis, parse_value, product
from einsim.sweep.pareto import pareto_front, plot_pareto
from einsim.sweep.runner import SweepResult, run_sweep
from einsim.sweep.store import Record, ResultStore, point_key

__all__ = [
    "DaskExecutor",
    "LocalExecutor",
    "Record",
    "ResultStore",
    "SerialExecutor",
    "SweepResult",
    "grid",
    "make_executor",
    "parse_axis",
    "parse_value",
    "pareto_front",
    "plot_pareto",
    "point_key",
    "product",
    "run_sweep",
]
