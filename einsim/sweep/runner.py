"""Run a sweep: compute the points not yet in the store, append each as it finishes, return all of them.

    from einsim.sweep import grid, run_sweep
    pts = grid(config=["fusemax", "flat"], model=["bert"], seq=[1024])
    res = run_sweep("einsim.sweep.points:simulate", pts, store="sweep.sqlite", jobs=2)
    res.rows            # one flat dict per point: parameters + results, in the order of the points

Interrupting it (Ctrl-C, a kill, a crash) loses only the points in flight; running it again computes only
the rest, and a finished sweep returns at once from the store.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from einsim.errors import EinsimError
from einsim.sweep.executors import Outcome, function_name, make_executor
from einsim.sweep.store import Record, ResultStore, point_key


@dataclass
class SweepResult:
    """The outcome of `run_sweep`: every stored record of the requested points, in point order, plus
    counts."""

    records: list[Record]
    computed: int
    cached: int
    crashes: list[tuple[dict, str]] = field(default_factory=list)
    store_path: str = ""

    @property
    def rows(self) -> list[dict[str, Any]]:
        """Finished points as flat dicts: parameters, then the result's fields (results win on a clash)."""
        return [{**r.params, **(r.result or {})} for r in self.records if r.status == "ok"]

    @property
    def errors(self) -> list[tuple[dict, str]]:
        """(params, one-paragraph message) of every point refused with an EinsimError."""
        return [(r.params, r.error or "") for r in self.records if r.status == "error"]

    def raise_for_errors(self) -> None:
        """Raise one EinsimError describing the failed points (after everything else was stored)."""
        bad = self.errors + [(p, tb.strip().splitlines()[-1]) for p, tb in self.crashes]
        if bad:
            params, msg = bad[0]
            more = f" ({len(bad) - 1} more failed points)" if len(bad) > 1 else ""
            raise EinsimError(
                f"{len(bad)} of {len(self.records) + len(self.crashes)} sweep points failed{more}; the "
                f"first, {params}, failed with: {msg} The {len(self.rows)} finished points are kept in "
                f"{self.store_path or 'the store'}."
            )


def run_sweep(
    fn: str | Callable[[dict], dict],
    points: Sequence[dict[str, Any]],
    store: str | Path | ResultStore | None = None,
    *,
    executor: str | Any = "local",
    jobs: int | None = None,
    scheduler: str | None = None,
    client: Any = None,
    progress: bool = True,
    desc: str = "sweep",
    version: str = "",
    retry_errors: bool = False,
) -> SweepResult:
    """Compute `fn(params)` for every point not already in `store`; see the module docstring.

    `fn` is a module-level function (or its "module:function" name) taking a dict and returning a dict of JSON
    values. `store` is a SQLite path (None: a temporary in-memory store). `executor` is 'local' (processes;
    `jobs` of them), 'serial', 'dask' (with `scheduler` or `client`) or an executor object. `version` is
    mixed into the keys: change it to invalidate stored results of an older model.
    """
    fn_name = function_name(fn)
    own_store = not isinstance(store, ResultStore)
    st = store if isinstance(store, ResultStore) else ResultStore(":memory:" if store is None else store)
    exe = make_executor(executor, jobs, scheduler, client) if isinstance(executor, str) else executor
    run_id = uuid.uuid4().hex[:12]
    try:
        keyed: dict[str, dict] = {}
        order: list[str] = []
        for p in points:
            k = point_key(fn_name, p, version)
            if k not in keyed:
                keyed[k] = dict(p)
                order.append(k)
        done = st.done_keys(order)
        if retry_errors:
            failed = [r.key for r in st.records(done) if r.status == "error"]
            st.delete(failed)
            done -= set(failed)
        todo = [(k, keyed[k]) for k in order if k not in done]
        crashes: list[tuple[dict, str]] = []
        bar = _progress(len(order), len(order) - len(todo), desc, progress)
        try:
            for key, out in exe.run(fn_name, todo):
                _store(st, key, fn_name, keyed[key], out, run_id, crashes)
                bar.update(1)
        except KeyboardInterrupt:
            bar.close()
            raise EinsimError(
                f"sweep interrupted; {len(st.done_keys(order))} of {len(order)} points are stored in "
                f"{st.path}. Run the same command again to compute only the rest."
            ) from None
        finally:
            bar.close()
        return SweepResult(
            records=st.records(order),
            computed=len(todo) - len(crashes),
            cached=len(order) - len(todo),
            crashes=crashes,
            store_path=str(st.path),
        )
    finally:
        if own_store:
            st.close()


def _store(st: ResultStore, key: str, fn: str, params: dict, out: Outcome, run_id: str, crashes: list) -> None:
    if out.status == "crash":
        crashes.append((params, out.error or ""))
        return
    st.put(key, fn, params, out.status, out.result, out.error, out.compute_s, run_id)


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int, initial: int, desc: str, enabled: bool):
    if not enabled:
        return _NoBar()
    try:
        from tqdm import tqdm
    except ImportError:
        return _NoBar()
    return tqdm(
        total=total,
        initial=initial,
        desc=desc,
        unit="pt",
        file=sys.stderr,
        dynamic_ncols=True,
        leave=False,
        mininterval=0.2,
    )
