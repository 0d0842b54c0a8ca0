"""On-disk result store for sweeps: one SQLite file, one row per finished point.

A point is a dict of JSON values (its parameters). Its key is a stable hash of the point function's name, the
parameters and a version string, so the same point computed by the same function is found again by any
later run. Each point is committed as soon as it finishes, so a sweep killed at any moment loses only the
points still being computed; resuming it recomputes nothing that was stored. Errors that are the input's
fault (`EinsimError`) are stored too, so a bad point is reported again instead of recomputed; any other
exception is never stored.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from einsim.errors import EinsimError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS points (
    key TEXT PRIMARY KEY,
    fn TEXT NOT NULL,
    params TEXT NOT NULL,
    status TEXT NOT NULL,
    result TEXT,
    error TEXT,
    compute_s REAL,
    run_id TEXT,
    finished_at REAL
)
"""


def canonical(params: Mapping[str, Any]) -> str:
    """The canonical JSON text of a point's parameters (sorted keys, no spaces)."""
    try:
        return json.dumps(params, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise EinsimError(
            f"sweep parameters must be JSON values (str, int, float, bool, None, lists, dicts); "
            f"{dict(params)!r} is not ({exc}). Pass plain numbers and names."
        ) from None


def point_key(fn: str, params: Mapping[str, Any], version: str = "") -> str:
    """Stable key of one point: sha256 over the function name, canonical parameters and version (hex, 24
    chars).

    >>> point_key("m:f", {"b": 1, "a": 2}) == point_key("m:f", {"a": 2, "b": 1})
    True
    """
    text = json.dumps([fn, canonical(params), version], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:24]


@dataclass(frozen=True, slots=True)
class Record:
    """One stored point: its key, parameters, status ('ok' or 'error'), result dict or error paragraph."""

    key: str
    fn: str
    params: dict
    status: str
    result: dict | None
    error: str | None
    compute_s: float
    run_id: str
    finished_at: float


class ResultStore:
    """A SQLite file of finished points. Safe to open from several processes (WAL journal, one writer at a
    time).

    >>> import tempfile, os
    >>> s = ResultStore(os.path.join(tempfile.mkdtemp(), "r.sqlite"))
    >>> k = point_key("m:f", {"x": 1})
    >>> s.put(k, "m:f", {"x": 1}, "ok", result={"y": 2})
    >>> s.get(k).result
    {'y': 2}
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            if str(path) != ":memory:":
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(self.path), timeout=60, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(_SCHEMA)
        except (sqlite3.DatabaseError, OSError) as exc:
            raise EinsimError(
                f"cannot use {self.path} as a sweep store: {exc}. Give a new file name or a SQLite file "
                f"written by `einsim sweep`."
            ) from None

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def put(
        self,
        key: str,
        fn: str,
        params: Mapping[str, Any],
        status: str,
        result: Mapping[str, Any] | None = None,
        error: str | None = None,
        compute_s: float = 0.0,
        run_id: str = "",
    ) -> None:
        """Store one finished point and commit at once (durable before the next point is taken)."""
        self._db.execute(
            "INSERT OR REPLACE INTO points VALUES (?,?,?,?,?,?,?,?,?)",
            (
                key,
                fn,
                canonical(params),
                status,
                None if result is None else json.dumps(result, allow_nan=True),
                error,
                float(compute_s),
                run_id,
                time.time(),
            ),
        )

    def done_keys(self, keys: Iterable[str] | None = None) -> set[str]:
        """Keys already stored (all of them, or those among `keys`)."""
        if keys is None:
            return {k for (k,) in self._db.execute("SELECT key FROM points")}
        keys = list(keys)
        found: set[str] = set()
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            q = f"SELECT key FROM points WHERE key IN ({','.join('?' * len(chunk))})"
            found.update(k for (k,) in self._db.execute(q, chunk))
        return found

    def get(self, key: str) -> Record | None:
        row = self._db.execute("SELECT * FROM points WHERE key = ?", (key,)).fetchone()
        return None if row is None else _record(row)

    def records(self, keys: Iterable[str] | None = None) -> list[Record]:
        """Stored records, in the order of `keys` (missing keys skipped), or all in finishing order."""
        if keys is None:
            return [_record(r) for r in self._db.execute("SELECT * FROM points ORDER BY finished_at, key")]
        out = []
        for k in keys:
            rec = self.get(k)
            if rec is not None:
                out.append(rec)
        return out

    def delete(self, keys: Iterable[str]) -> None:
        self._db.executemany("DELETE FROM points WHERE key = ?", [(k,) for k in keys])

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM points").fetchone()[0]


def _record(row: tuple) -> Record:
    key, fn, params, status, result, error, compute_s, run_id, finished_at = row
    return Record(
        key=key,
        fn=fn,
        params=json.loads(params),
        status=status,
        result=None if result is None else json.loads(result),
        error=error,
        compute_s=compute_s or 0.0,
        run_id=run_id or "",
        finished_at=finished_at or 0.0,
    )
