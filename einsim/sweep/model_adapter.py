"""The one place where sweeps call the spatial-array model (einsim.model): run a point, return a flat dict.

`run(config, model, seq, scope, arch, overrides)` builds the architecture (the configuration's default or
`arch`, with `overrides` of dotted fields such as "array2d.rows" applied *together*, so a 2D array and the
1D array under it can be resized in one step), simulates, and returns the Report's dict (JSON values only).
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass, replace
from typing import Any

from einsim.errors import EinsimError


def apply_overrides(arch: Any, overrides: dict[str, Any]) -> Any:
    """`arch` with every dotted-path field in `overrides` replaced in one `replace` per dataclass, so
    checks that relate fields (1D PEs == 2D columns) see the final values only."""
    if not overrides:
        return arch
    here: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {}
    names = {f.name for f in fields(arch)}
    for key, value in overrides.items():
        head, _, rest = key.partition(".")
        if head not in names:
            raise EinsimError(
                f"unknown architecture field `{key}`: `{type(arch).__name__}` has fields {sorted(names)} "
                f"(nested ones as e.g. array2d.rows)."
            )
        if rest:
            if not is_dataclass(getattr(arch, head)):
                raise EinsimError(f"architecture field `{head}` has no sub-field `{rest}`.")
            nested.setdefault(head, {})[rest] = value
        else:
            here[head] = tuple(value) if isinstance(value, list) else value
    for head, sub in nested.items():
        here[head] = _replace_unchecked(getattr(arch, head), sub)
    try:
        return replace(arch, **here)
    except TypeError as exc:
        raise EinsimError(f"cannot apply architecture overrides {overrides}: {exc}.") from None


def _replace_unchecked(obj: Any, sub: dict[str, Any]) -> Any:
    return apply_overrides(obj, sub)


def require_model() -> Any:
    """The einsim.model module, or an EinsimError saying that model points cannot run here."""
    try:
        from einsim import model as _model
    except ImportError as exc:
        raise EinsimError(
            f"the spatial-array model (einsim.model) is not available ({exc}); "
            "sweeps of model points need it."
        ) from None
    if getattr(_model, "simulate", None) is None:
        raise EinsimError("einsim.model has no `simulate` function; model points cannot run.")
    return _model


def run(
    config: str,
    model: str,
    seq: int,
    scope: str = "attention",
    arch: str | None = None,
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Simulate one point with einsim.model; see the module docstring."""
    _model = require_model()
    simulate = _model.simulate
    arch_obj = _arch_for(_model, config, arch, overrides or {})
    report = simulate(config, model, seq, arch=arch_obj, **({"e2e": True} if scope == "e2e" else {}))
    return _as_dict(report)


def _arch_for(_model: Any, config: str, arch: str | None, overrides: dict[str, Any]) -> Any:
    default_arch = getattr(_model, "default_arch", None)
    if arch is not None:
        from archs import get_arch

        base = get_arch(arch)
    elif default_arch is not None:
        base = default_arch(config)
    else:
        from archs import get_arch

        base = get_arch("fusemax_cloud" if config in ("plus-architecture", "fusemax") else "flat_cloud")
    return apply_overrides(base, overrides)


def _as_dict(report: Any) -> dict[str, Any]:
    d = report.to_dict() if hasattr(report, "to_dict") else report
    if not isinstance(d, dict):
        raise EinsimError(f"the model returned {type(d).__name__}, not a report with to_dict().")
    return d
