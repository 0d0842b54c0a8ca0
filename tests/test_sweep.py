"""Sweep machinery: parameter products, the SQLite store, resume after a kill, local vs Dask executors,
Pareto.

The point function here is a stand-in (`stub_point`), an analytic roofline of a GEMM on a square array, so
these tests do not depend on the cycle model; tests/test_studies.py runs the real model through the same
machinery.
"""

from __future__ import annotations

import math
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from einsim.errors import EinsimError
from einsim.sweep import (
    ResultStore,
    grid,
    pareto_front,
    parse_axis,
    parse_value,
    plot_pareto,
    point_key,
    run_sweep,
)
from einsim.sweep.executors import TRACE_ENV

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def stub_point(p: dict) -> dict:
    """Stand-in point function: GEMM (n x n x n) on a rows x rows array at 1 GHz; optional sleep to be
    slow."""
    if p.get("sleep_s"):
        time.sleep(p["sleep_s"])
    if p["rows"] <= 0:
        raise EinsimError(f"rows must be positive, not {p['rows']}. Give a positive array size.")
    if p.get("crash"):
        raise RuntimeError("a bug in the point function")
    if p.get("die"):
        os._exit(3)  # a worker killed mid-point (e.g. out of memory)
    macs = p["n"] ** 3
    compute = macs / p["rows"] ** 2
    memory = 3 * p["n"] ** 2 * 2 / p.get("bw", 64)
    cycles = max(compute, memory)
    return {
        "cycles": cycles,
        "seconds": cycles * 1e-9,
        "energy_pj": macs * 1.0 + p["n"] ** 2 * 100.0 / math.sqrt(p["rows"]),
        "area_um2": p["rows"] ** 2 * 1500.0,
        "per_unit": {"2d": compute / cycles},
    }


POINTS = grid(rows=[4, 8, 16, 32], n=[64, 256], bw=[16, 64])


def test_grid_is_the_product_in_row_major_order():
    pts = grid(a=[1, 2], b=["x", "y", "z"])
    assert len(pts) == 6 and pts[0] == {"a": 1, "b": "x"} and pts[-1] == {"a": 2, "b": "z"}
    tied = grid(**{"arch.rows+arch.cols": [16, 32]}, seq=[1])
    assert tied == [
        {"arch.rows": 16, "arch.cols": 16, "seq": 1},
        {"arch.rows": 32, "arch.cols": 32, "seq": 1},
    ]
    assert grid(model="bert") == [{"model": "bert"}]


def test_axis_parsing():
    assert parse_axis("seq=1K..1M:x4") == ("seq", [1024, 4096, 16384, 65536, 262144, 1048576])
    assert parse_axis("arch.pe_rows+arch.pe_cols=16..64") == ("arch.pe_rows+arch.pe_cols", [16, 32, 64])
    assert parse_axis("bw=0.5,2e9,none") == ("bw", [0.5, 2000000000, None])
    assert parse_value("16MiB") == 16 * 2**20 and parse_value("fusemax") == "fusemax"
    for bad in ["seq", "seq=", "9x=1", "seq=4K..1K", "seq=1K..1M:x1", "seq=a..b"]:
        with pytest.raises(EinsimError) as exc:
            parse_axis(bad)
        assert "\n" not in str(exc.value)


def test_keys_are_stable_and_order_free():
    assert point_key("m:f", {"a": 1, "b": [1, 2]}) == point_key("m:f", {"b": [1, 2], "a": 1})
    assert point_key("m:f", {"a": 1}) != point_key("m:g", {"a": 1})
    assert point_key("m:f", {"a": 1}) != point_key("m:f", {"a": 1}, version="2")
    with pytest.raises(EinsimError):
        point_key("m:f", {"a": object()})


def test_sweep_stores_every_point_and_rerun_is_instant(tmp_path, monkeypatch):
    trace = tmp_path / "trace"
    monkeypatch.setenv(TRACE_ENV, str(trace))
    store = tmp_path / "s.sqlite"
    res = run_sweep(stub_point, POINTS, store, executor="serial", progress=False)
    assert (res.computed, res.cached) == (len(POINTS), 0)
    assert [r["rows"] for r in res.rows] == [p["rows"] for p in POINTS]
    assert res.rows[0]["per_unit"]["2d"] <= 1
    assert len(trace.read_text().split()) == len(POINTS)
    t0 = time.perf_counter()
    again = run_sweep(stub_point, POINTS, store, executor="local", jobs=2, progress=False)
    assert time.perf_counter() - t0 < 1.0
    assert (again.computed, again.cached) == (0, len(POINTS))
    assert again.rows == res.rows
    assert len(trace.read_text().split()) == len(POINTS)  # nothing recomputed
    # a larger sweep computes only the new points
    more = run_sweep(stub_point, POINTS + grid(rows=[64], n=[64], bw=[16]), store, executor="serial", progress=False)
    assert (more.computed, more.cached) == (1, len(POINTS))


def test_local_pool_gives_the_serial_results(tmp_path):
    serial = run_sweep(stub_point, POINTS, None, executor="serial", progress=False)
    pool = run_sweep(stub_point, POINTS, tmp_path / "p.sqlite", executor="local", jobs=2, progress=False)
    assert pool.rows == serial.rows


def test_dask_and_local_executors_give_identical_results(tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    local = run_sweep(stub_point, POINTS, tmp_path / "local.sqlite", executor="local", jobs=2, progress=False)
    with (
        distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster,
        distributed.Client(cluster) as client,
    ):
        dask = run_sweep(stub_point, POINTS, tmp_path / "dask.sqlite", executor="dask", client=client, progress=False)
        assert dask.computed == len(POINTS)
        # the scheduler-address path of the CLI goes through the same code
        again = run_sweep(
            stub_point,
            POINTS,
            tmp_path / "dask.sqlite",
            executor="dask",
            scheduler=cluster.scheduler_address,
            progress=False,
        )
        assert again.cached == len(POINTS)
    assert dask.rows == local.rows
    with pytest.raises(EinsimError, match="scheduler"):
        run_sweep(stub_point, POINTS, None, executor="dask", progress=False)


_KILLABLE = """
import sys
sys.path.insert(0, {tests!r})
from einsim.sweep import run_sweep
from test_sweep import stub_point, POINTS
pts = [dict(p, sleep_s=0.08) for p in POINTS]
run_sweep(stub_point, pts, {store!r}, executor="local", jobs={jobs}, progress=False)
"""


@pytest.mark.parametrize("jobs", [1, 2])
def test_killed_sweep_resumes_without_losing_or_recomputing(tmp_path, jobs):
    store = tmp_path / "k.sqlite"
    trace1, trace2 = tmp_path / "trace1", tmp_path / "trace2"
    env = dict(os.environ, **{TRACE_ENV: str(trace1)}, PYTHONPATH=str(ROOT))
    code = _KILLABLE.format(tests=str(HERE), store=str(store), jobs=jobs)
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, start_new_session=True)
    try:
        deadline = time.time() + 30
        stored = 0
        while time.time() < deadline and stored < 5:
            time.sleep(0.05)
            if store.exists():
                try:
                    with sqlite3.connect(store) as db:
                        stored = db.execute("SELECT COUNT(*) FROM points").fetchone()[0]
                except sqlite3.OperationalError:
                    pass
        assert proc.poll() is None, "the sweep finished before it could be killed"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the whole process group this test started: parent and workers
        proc.wait()
    pts = [dict(p, sleep_s=0.08) for p in POINTS]
    with ResultStore(store) as st:
        before = {r.key: r for r in st.records()}
    assert 5 <= len(before) < len(pts)
    started_first = set(trace1.read_text().split())
    assert set(before) <= started_first

    os.environ[TRACE_ENV] = str(trace2)
    try:
        res = run_sweep(stub_point, pts, store, executor="local", jobs=jobs, progress=False)
    finally:
        del os.environ[TRACE_ENV]
    recomputed = trace2.read_text().split()
    assert len(recomputed) == len(set(recomputed)) == len(pts) - len(before)  # each missing point once
    assert not set(recomputed) & set(before)  # no stored point computed again
    assert (res.cached, res.computed) == (len(before), len(pts) - len(before))
    assert len(res.rows) == len(pts)  # nothing lost
    with ResultStore(store) as st:
        after = {r.key: r for r in st.records()}
    assert all(after[k] == rec for k, rec in before.items())  # first-run records untouched
    assert res.rows == run_sweep(stub_point, pts, None, executor="serial", progress=False).rows


def test_bad_points_are_stored_as_errors_and_bugs_are_not(tmp_path):
    pts = [{"rows": 4, "n": 8}, {"rows": 0, "n": 8}, {"rows": 8, "n": 8, "crash": True}]
    store = tmp_path / "e.sqlite"
    res = run_sweep(stub_point, pts, store, executor="serial", progress=False)
    assert len(res.rows) == 1 and len(res.errors) == 1 and len(res.crashes) == 1
    assert "rows must be positive" in res.errors[0][1]
    with pytest.raises(EinsimError) as exc:
        res.raise_for_errors()
    msg = str(exc.value)
    assert "\n" not in msg and "2 of 3" in msg and "finished points are kept" in msg
    again = run_sweep(stub_point, pts, store, executor="serial", progress=False)
    assert again.cached == 2 and again.computed == 0 and len(again.crashes) == 1  # the bug is retried
    retry = run_sweep(stub_point, pts, store, executor="serial", progress=False, retry_errors=True)
    assert retry.cached == 1


def test_unimportable_functions_and_bad_stores_are_refused(tmp_path):
    with pytest.raises(EinsimError, match="module level"):
        run_sweep(lambda p: p, POINTS, None, progress=False)
    bad = tmp_path / "not.sqlite"
    bad.write_text("this is not a database" * 100)
    with pytest.raises(EinsimError, match="sweep store"):
        run_sweep(stub_point, POINTS, bad, progress=False)


def test_pareto_front_and_plot(tmp_path):
    rows = run_sweep(stub_point, POINTS, None, executor="serial", progress=False).rows
    front = pareto_front(rows, ("seconds", "energy_pj", "area_um2"))
    assert front and len(front) < len(rows)
    for f in front:  # nothing dominates a front point
        for r in rows:
            better = [r[o] <= f[o] for o in ("seconds", "energy_pj", "area_um2")]
            strictly = [r[o] < f[o] for o in ("seconds", "energy_pj", "area_um2")]
            assert not (all(better) and any(strictly))
    for r in rows:  # everything off the front is dominated by a front point
        if r not in front:
            assert any(all(f[o] <= r[o] for o in ("seconds", "energy_pj", "area_um2")) for f in front)
    assert pareto_front(rows, ("area_um2",))[0]["rows"] == 4
    png = plot_pareto(rows, tmp_path / "p.png", group="n", label="rows")
    assert png.exists() and png.stat().st_size > 5000
    with pytest.raises(EinsimError, match="not a field"):
        pareto_front(rows, ("joules",))


def test_a_dying_worker_is_one_paragraph_and_keeps_finished_points(tmp_path):
    store = tmp_path / "d.sqlite"
    pts = [dict(p, sleep_s=0.02) for p in POINTS[:6]] + [{"rows": 4, "n": 8, "die": True, "sleep_s": 0.3}]
    with pytest.raises(EinsimError, match="worker process died") as exc:
        run_sweep(stub_point, pts, store, executor="local", jobs=2, progress=False)
    assert "\n" not in str(exc.value)
    with ResultStore(store) as st:
        kept = len(st)
    assert kept >= 1
    res = run_sweep(stub_point, pts[:6], store, executor="local", jobs=2, progress=False)
    assert res.cached == kept and len(res.rows) == 6
