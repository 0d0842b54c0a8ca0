"""Named architectures and workloads, found through entry points (plugins), so that `einsim/` never
imports the repository's `archs/` or `workloads/` packages.

Input: installed distributions declaring `[project.entry-points."einsim.archs"]` (an object mapping
name -> zero-argument factory returning an `Arch`) or `"einsim.models"` (name -> `Model`). einsim's
own pyproject registers `archs:ARCHS`, `workloads.models:MODELS` and the study `reproduce`
(`"einsim.studies"`, used by `einsim reproduce`); another package can add more.
Output: merged dicts (later plugins cannot silently replace an earlier name: that is an error).
"""

from __future__ import annotations

import hashlib
import importlib.util
from functools import cache
from importlib.metadata import entry_points
from pathlib import Path

from einsim.errors import EinsimError


@cache
def _group(group: str) -> dict:
    merged: dict = {}
    for ep in sorted(entry_points(group=group), key=lambda e: e.name):
        table = ep.load()
        table = table() if callable(table) and not isinstance(table, dict) else table
        for name, value in dict(table).items():
            if name in merged and merged[name] is not value:
                raise EinsimError(f"Two plugins define `{name}` in entry-point group {group}; rename one.")
            merged[name] = value
    return merged


def arch_registry() -> dict:
    """Name -> factory of every registered architecture."""
    return _group("einsim.archs")


def model_registry() -> dict:
    """Name -> `Model` of every registered workload."""
    return _group("einsim.models")


def study(name: str):
    """A registered study entry point (group `einsim.studies`), e.g. `reproduce`."""
    for ep in entry_points(group="einsim.studies"):
        if ep.name == name:
            return ep.load()
    raise EinsimError(
        f"no study `{name}` is registered (entry-point group einsim.studies). Install einsim from a source "
        "checkout (`pip install -e .`, as `make demo` does), which registers the studies/ scripts."
    )


def plugin_sources() -> list[Path]:
    """Source files of the registered plugin modules (for cache keys of stored results)."""
    out = []
    for group in ("einsim.archs", "einsim.models"):
        for ep in entry_points(group=group):
            pkg = ep.module
            spec = importlib.util.find_spec(pkg)
            if spec and spec.origin:
                origin = Path(spec.origin)
                out += sorted(origin.parent.glob("*.py")) if origin.name == "__init__.py" else [origin]
    return out


def model_version() -> str:
    """Hash of the model's source (einsim.model, the sweep point code, registered archs/workloads):
    stored sweep results of an older model are not reused."""
    root = Path(__file__).resolve().parent
    files = sorted((root / "model").rglob("*.py")) + [root / "sweep" / "points.py", root / "sweep" / "model_adapter.py"]
    files += plugin_sources()
    h = hashlib.sha256()
    for f in sorted(set(files), key=str):
        if f.exists():
            h.update(f.name.encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:16]
