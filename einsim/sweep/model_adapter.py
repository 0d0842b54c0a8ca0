"""The one place where sweeps call the spatial-array model (einsim.model): run a point, return a flat dict.

`run(config, model, seq, scope, arch, overrides)` builds the architecture (the configuration's default or
`arch`, with `overrides` of dotted fields such as "array2d.rows" applied *together*, so a 2D array and the
1D array under it can be resized in one step), simulates, and returns the Report's dict (JSON values only).
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass, replace
from typing import Any

from einsim.errors import EinsimError
from einsim.model.spec import get_arch


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
            f"the spatial-array model (einsim.model) is not available ({exc}); sweeps of model points need it."
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
    arch_obj = arch_for(config, arch, overrides or {})
    if scope == "attention":
        return _as_dict(_model.simulate(config, model, seq, arch=arch_obj))
    if scope == "linear":
        return {
            "config": config,
            "model": model,
            "seq": seq,
            **_model.simulate_linear(model, seq, arch_obj, config=config),
        }
    if scope == "e2e":
        att = _as_dict(_model.simulate(config, model, seq, arch=arch_obj))
        lin = _model.simulate_linear(model, seq, arch_obj, config=config)
        return end_to_end(att, lin)
    raise EinsimError(f"unknown scope `{scope}`; choose attention, linear or e2e.")


def end_to_end(att: dict[str, Any], lin: dict[str, Any]) -> dict[str, Any]:
    """One encoder layer: the attention report and the linear layers run back to back (the same sum as
    einsim.model.simulate_end_to_end), with the attention report's fields kept under `attention_`."""
    seconds = att["seconds"] + lin["seconds"]
    out = {k: att[k] for k in ("config", "model", "seq", "arch", "area_um2") if k in att}
    out.update(
        cycles=att["cycles"] + lin["cycles"],
        seconds=seconds,
        energy_pj=att["energy_pj"] + lin["energy_pj"],
        energy_pj_artifact=att["energy_pj_artifact"] + lin["energy_pj_artifact"],
        dram_bytes=att["dram_bytes"] + lin.get("dram_bytes", 0),
        attention_seconds=att["seconds"],
        linear_seconds=lin["seconds"],
        attention_share=att["seconds"] / seconds,
        attention_util_2d=att["util_2d"],
        attention_util_1d=att["util_1d"],
        linear_util_2d=lin.get("util_2d"),
    )
    return out


def arch_for(config: str, arch: str | None, overrides: dict[str, Any]) -> Any:
    """The architecture a point runs on: `arch` (name or file) or the configuration's own, with overrides."""
    default_arch = getattr(require_model(), "default_arch", None)
    if arch is not None:
        base = get_arch(arch)
    elif default_arch is not None:
        base = default_arch(config)
    else:
        base = get_arch("fusemax_cloud" if config in ("plus-architecture", "fusemax") else "flat_cloud")
    return apply_overrides(base, overrides)


def _as_dict(report: Any) -> dict[str, Any]:
    d = report.to_dict() if hasattr(report, "to_dict") else report
    d = {k: v for k, v in d.items() if k != "mapping"} | {"mapping": _jsonable(d.get("mapping"))}
    if not isinstance(d, dict):
        raise EinsimError(f"the model returned {type(d).__name__}, not a report with to_dict().")
    return d


def _jsonable(v: Any) -> Any:
    """JSON-safe copy (tuples -> lists, other objects -> str)."""
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, str | int | float | bool) or v is None:
        return v
    return str(v)
