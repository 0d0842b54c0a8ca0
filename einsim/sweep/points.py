"""Point functions that run the spatial-array model, for `run_sweep` and `einsim sweep`.

`simulate(params)` runs one configuration on one workload and returns the Report as a flat dict of JSON
values.
Parameters:

- `config`: unfused | flat | plus-cascade | plus-architecture | fusemax (default fusemax);
- `model`: a workload name (bert, trxl, t5, xlm), `seq`: the sequence length M = P;
- `scope`: "attention" (default), "linear" (the six linear layers of one encoder layer on the 2D array) or
  "e2e" (one encoder layer: attention plus the linear layers, back to back);
- `arch`: an architecture name or file (default: the configuration's own), and `arch.<field>`: overrides of
its fields (array dims, buffer bytes, bandwidth, clock), e.g. {"arch.gbuf_bytes": 8388608, "arch.array2d.rows": 128}.

`sized_buffer(params)` is Fig. 12's point: the same, but the global buffer is doubled from
`buffer_start_bytes` until a larger one no longer shortens the run (memory off the critical path); it
reports the buffer it chose.
"""

from __future__ import annotations

from typing import Any

from einsim.errors import EinsimError

CONFIGS = ("unfused", "flat", "plus-cascade", "plus-architecture", "fusemax")
SCOPES = ("attention", "linear", "e2e")
_SCALARS = (
    "cycles",
    "seconds",
    "util_2d",
    "util_1d",
    "dram_bytes",
    "energy_pj",
    "energy_pj_artifact",
    "area_um2",
)


def split_params(params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(workload/config params, arch overrides without the 'arch.' prefix)."""
    base = {k: v for k, v in params.items() if not k.startswith("arch.")}
    over = {k[len("arch.") :]: v for k, v in params.items() if k.startswith("arch.")}
    return base, over


def validate_points(points: list[dict[str, Any]]) -> None:
    """Refuse, before anything runs, points whose config, scope or sequence length cannot be valid (and every
    point when the model itself is missing, so that no error of the environment is stored as a result)."""
    from einsim.sweep.model_adapter import require_model

    if points:
        require_model()
    for p in points:
        base, _ = split_params(p)
        cfg = base.get("config", "fusemax")
        if cfg not in CONFIGS:
            raise EinsimError(f"unknown configuration `{cfg}` in sweep point {p}; choose from {', '.join(CONFIGS)}.")
        scope = base.get("scope", "attention")
        if scope not in SCOPES:
            raise EinsimError(f"unknown scope `{scope}` in sweep point {p}; choose attention, linear or e2e.")
        seq = base.get("seq")
        if not isinstance(seq, int) or isinstance(seq, bool) or seq <= 0:
            raise EinsimError(
                f"sweep point {p} needs a positive integer sequence length `seq` (e.g. seq=16K), not {seq!r}."
            )
        if "model" not in base:
            raise EinsimError(f"sweep point {p} names no `model`; add an axis such as model=bert,xlm.")
        unknown = set(base) - {"config", "model", "seq", "scope", "arch"}
        if unknown:
            raise EinsimError(
                f"sweep point {p} has unknown parameter(s) {', '.join(sorted(unknown))}; model points take "
                f"config, model, seq, scope, arch and arch.<field> overrides."
            )
    _validate_models_and_archs(points)


def _validate_models_and_archs(points: list[dict[str, Any]]) -> None:
    """Build each distinct workload and architecture once, so bad names and fields fail before any run."""
    from einsim.sweep.model_adapter import arch_for

    seen_models, seen_archs = set(), set()
    for p in points:
        base, over = split_params(p)
        if base["model"] not in seen_models:
            seen_models.add(base["model"])
            try:
                from workloads.models import get_model
            except ImportError:
                pass
            else:
                get_model(str(base["model"]))
        key = (base.get("config", "fusemax"), base.get("arch"), tuple(sorted(over.items(), key=str)))
        if key not in seen_archs:
            seen_archs.add(key)
            arch_for(key[0], key[1], over)


def simulate(params: dict[str, Any]) -> dict[str, Any]:
    """Run the model on one point; see the module docstring."""
    from einsim.sweep import model_adapter

    validate_points([params])
    base, over = split_params(params)
    report = model_adapter.run(
        config=base.get("config", "fusemax"),
        model=base["model"],
        seq=base["seq"],
        scope=base.get("scope", "attention"),
        arch=base.get("arch"),
        overrides=over,
    )
    return report


def sized_buffer(params: dict[str, Any]) -> dict[str, Any]:
    """Fig. 12's point: double the global buffer from `buffer_start_bytes` (sizes too small for a tile are
    skipped) and keep the smallest size after which `patience` (default 2) further doublings shorten the run
    by no more than `tolerance` (default 1%): memory is then off the critical path. Looking two doublings
    ahead steps over plateaus where one doubling does not yet change the tiling."""
    p = dict(params)
    start = int(p.pop("buffer_start_bytes", 64 * 1024))
    limit = int(p.pop("buffer_max_bytes", 1 << 34))
    field = p.pop("buffer_field", "gbuf_bytes")
    tol = float(p.pop("tolerance", 0.01))
    patience = int(p.pop("patience", 2))
    size, best, best_size, tried, misses, last_error = start, None, start, 0, 0, ""
    while size <= limit and misses < patience:
        try:
            rep = simulate({**p, f"arch.{field}": size})
        except EinsimError as exc:
            if best is not None:
                break
            last_error = str(exc)
            size *= 2
            continue
        tried += 1
        if best is None or rep["seconds"] < best["seconds"] * (1 - tol):
            best, best_size, misses = rep, size, 0
        else:
            misses += 1
        size *= 2
    if best is None:
        raise EinsimError(f"no global buffer from {start} to {limit} bytes works for {params}: {last_error}")
    return {**best, "buffer_bytes": best_size, "buffer_sizes_tried": tried}


def run(params: dict[str, Any]) -> dict[str, Any]:
    """The studies' point function: `sized_buffer` if params["search"] == "buffer", else `simulate`."""
    p = dict(params)
    search = p.pop("search", None)
    if search == "buffer":
        return sized_buffer(p)
    if search is not None:
        raise EinsimError(f"unknown search `{search}` in sweep point {params}; the only search is `buffer`.")
    return simulate(p)
