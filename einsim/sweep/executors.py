"""Where sweep points are computed: in this process, in a pool of local processes, or on a Dask cluster.

An executor takes the point function's name ("module:function", importable wherever it runs) and a list of
(key, params) items and yields (key, Outcome) pairs as points finish, in any order. Every executor calls
the same `call_point`, so the same point gives the same Outcome everywhere. Dask is imported
only by `DaskExecutor`.
"""

from __future__ import annotations

import importlib
import os
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from einsim.errors import EinsimError

TRACE_ENV = "EINSIM_SWEEP_TRACE"
"""If set, every computation of a point appends "key" to this file before it starts (tests count them)."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What computing one point gave: status 'ok' (result), 'error' (an EinsimError paragraph, stored) or
    'crash' (any other exception: a traceback, never stored, so the point is retried next time)."""

    status: str
    result: dict | None
    error: str | None
    compute_s: float


def function_name(fn: str | Callable[..., Any]) -> str:
    """'module:qualname' of a module-level function (or the string itself)."""
    if isinstance(fn, str):
        if ":" not in fn:
            raise EinsimError(
                f"point function `{fn}` must be written module:function, e.g. einsim.sweep.points:simulate."
            )
        return fn
    name = f"{fn.__module__}:{fn.__qualname__}"
    if "<" in name:
        raise EinsimError(
            f"point function {name} is not importable by name (a lambda or local function); "
            f"define it at module level so worker processes can import it."
        )
    return name


def resolve(name: str) -> Callable[[dict], dict]:
    """Import 'module:function'."""
    mod_name, _, attr = name.partition(":")
    try:
        obj: Any = importlib.import_module(mod_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise EinsimError(
            f"cannot import sweep point function `{name}` ({exc}). Check the module path and that the "
            f"function is defined at module level."
        ) from None
    return obj


def call_point(fn_name: str, key: str, params: dict) -> Outcome:
    """Compute one point and classify the result; never raises for the point's own failures."""
    trace = os.environ.get(TRACE_ENV)
    if trace:
        with open(trace, "a") as fh:
            fh.write(key + "\n")
    t0 = time.perf_counter()
    try:
        result = resolve(fn_name)(dict(params))
        if not isinstance(result, dict):
            raise TypeError(f"point function {fn_name} returned {type(result).__name__}, not a dict")
        return Outcome("ok", result, None, time.perf_counter() - t0)
    except EinsimError as exc:
        return Outcome("error", None, str(exc), time.perf_counter() - t0)
    except Exception:  # noqa: BLE001 - a bug in the point function: report it, do not store it
        return Outcome("crash", None, traceback.format_exc(), time.perf_counter() - t0)


Items = Sequence[tuple[str, dict]]


class SerialExecutor:
    """Compute points one after the other in this process (jobs=1; also the fallback for a single point)."""

    name = "serial"

    def run(self, fn_name: str, items: Items) -> Iterator[tuple[str, Outcome]]:
        for key, params in items:
            yield key, call_point(fn_name, key, params)


class LocalExecutor:
    """A pool of `jobs` local processes (default: all cores); at most 4 points per worker are in flight at
    once, so an interrupted sweep has little work in the air."""

    name = "local"

    def __init__(self, jobs: int | None = None) -> None:
        if jobs is not None and jobs < 1:
            raise EinsimError(f"--jobs must be at least 1, not {jobs}.")
        self.jobs = jobs or os.cpu_count() or 1

    def run(self, fn_name: str, items: Items) -> Iterator[tuple[str, Outcome]]:
        if self.jobs == 1 or len(items) <= 1:
            yield from SerialExecutor().run(fn_name, items)
            return
        todo = list(items)
        window = 4 * self.jobs
        with ProcessPoolExecutor(max_workers=min(self.jobs, len(todo))) as pool:
            running: dict[Future, str] = {}
            try:
                while todo or running:
                    while todo and len(running) < window:
                        key, params = todo.pop(0)
                        running[pool.submit(call_point, fn_name, key, params)] = key
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    for fut in done:
                        key = running.pop(fut)
                        try:
                            out = fut.result()
                        except BrokenProcessPool:
                            raise EinsimError(
                                "a sweep worker process died (killed, or out of memory) while computing a "
                                "point; the points finished so far are stored. Rerun to compute the rest, "
                                "with fewer --jobs if memory is short."
                            ) from None
                        yield key, out
            finally:
                for fut in running:
                    fut.cancel()


class DaskExecutor:
    """Points as tasks on a Dask cluster: give a scheduler address ("tcp://host:8786") or a
    `distributed.Client`.

    The workers must be able to import einsim and the point function.
    """

    name = "dask"

    def __init__(self, scheduler: str | None = None, client: Any = None) -> None:
        if client is None and not scheduler:
            raise EinsimError(
                "the dask executor needs a scheduler address: pass --scheduler tcp://HOST:8786 "
                "(start one with `dask scheduler`, workers with `dask worker tcp://HOST:8786`)."
            )
        self.scheduler = scheduler
        self.client = client

    def run(self, fn_name: str, items: Items) -> Iterator[tuple[str, Outcome]]:
        try:
            from dask.distributed import Client, as_completed
        except ImportError:
            raise EinsimError(
                "the dask executor needs dask.distributed, which is not installed: "
                "pip install 'einsim[dask]', or use the local executor (--executor local)."
            ) from None
        client, own = self.client, False
        if client is None:
            try:
                client = Client(self.scheduler, timeout="10s")
                own = True
            except (OSError, TimeoutError, ValueError) as exc:
                raise EinsimError(
                    f"cannot reach the Dask scheduler at {self.scheduler} ({exc}). Check the address "
                    f"(tcp://HOST:PORT) and that `dask scheduler` is running there."
                ) from None
        try:
            futures = {
                client.submit(call_point, fn_name, key, params, key=f"einsim-point-{key}", pure=False): key
                for key, params in items
            }
            for fut in as_completed(futures):
                try:
                    out = fut.result()
                except Exception:  # noqa: BLE001 - a lost worker or task: report the point as not computed
                    out = Outcome("crash", None, traceback.format_exc(), 0.0)
                yield futures[fut], out
        finally:
            if own:
                client.close()


def make_executor(name: str = "local", jobs: int | None = None, scheduler: str | None = None, client: Any = None):
    """Executor by name: 'local' (process pool; jobs=1 runs serially), 'serial' or 'dask'."""
    if name == "local":
        return LocalExecutor(jobs)
    if name == "serial":
        return SerialExecutor()
    if name == "dask":
        return DaskExecutor(scheduler, client)
    raise EinsimError(f"unknown executor `{name}`; choose local, serial or dask.")
