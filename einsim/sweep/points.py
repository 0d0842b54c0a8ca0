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
from einsim.model.workload import get_model

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


def cascade(params: dict[str, Any]) -> dict[str, Any]:
    """A cascade's pass analysis and operation counts on a workload, so `cascade` can be a sweep axis:
    `einsim sweep --fn einsim.sweep.points:cascade cascade=cascade4_3pass,cascade5_fa2 model=bert seq=1K..1M:x4`.

    Parameters: `cascade` (a name in workloads/cascades/ or a path to a .ein file), `model` and `seq` (bind
    E, F, M = P and B*H), `M0` (key tile, default 256; M1 = M / M0) and any other rank size by its upper-case
    name (e.g. G=8, R=4 for grouped-query cascades). Returns passes over M, the live footprint and spill in
    words per (batch, head), operation counts per class for the whole workload (`ops_mac`, `ops_exp`, ...),
    and `ops_per_mac`, the non-MAC work relative to the MACs.
    """
    from pathlib import Path

    import sympy

    from einsim import analyze_passes, op_counts, parse_file

    p = dict(params)
    name = str(p.pop("cascade", ""))
    path = Path(name)
    if not path.suffix:
        path = Path(__file__).resolve().parents[2] / "workloads" / "cascades" / f"{name}.ein"
    if not path.is_file():
        raise EinsimError(
            f"no cascade `{name}`: give a name from workloads/cascades/ (e.g. cascade5_fa2) or a path to a .ein file."
        )
    sizes: dict[str, int] = {}
    if "model" in p:
        m = get_model(str(p.pop("model")))
        seq = int(p.pop("seq", m.M))
        sizes.update(E=m.E, F=m.F, M=seq, P=seq)
        bh = m.B * m.H
    else:
        bh = int(p.pop("BH", 1))
    m0 = int(p.pop("M0", 256))
    sizes.update({k: int(v) for k, v in p.items() if k.isupper()})
    sizes.setdefault("M0", m0)
    if "M" in sizes:
        sizes.setdefault("M1", max(1, sizes["M"] // sizes["M0"]))
    c = parse_file(path)
    a = analyze_passes(c)

    def num(expr: Any, what: str) -> float:
        e = sympy.sympify(expr)
        e = e.subs({sym: sizes[str(sym)] for sym in e.free_symbols if str(sym) in sizes})
        if e.free_symbols:
            raise EinsimError(
                f"cascade {c.name}: {what} depends on {', '.join(sorted(map(str, e.free_symbols)))}, which the "
                f"point does not set; add them as parameters (e.g. {sorted(map(str, e.free_symbols))[0]}=8)."
            )
        return float(e)

    ops = {f"ops_{k}": bh * num(v, f"the {k} count") for k, v in op_counts(c).items()}
    macs = ops.get("ops_mac", 0.0)
    return {
        "cascade_name": c.name,
        "passes": a.passes,
        "live_footprint_words": num(a.live_footprint, "the live footprint"),
        "spill_words": num(a.spill_elements, "the spilled footprint"),
        **ops,
        "ops_per_mac": (sum(ops.values()) - macs) / macs if macs else float("nan"),
    }


simulate.validate_points = validate_points  # type: ignore[attr-defined]  # used by `einsim sweep` upfront
