"""einsim.model: the spatial-array model (FuseMax, FLAT and the paper's baselines).

Public API (all pure functions; arch overrides via `dataclasses.replace` or `with_overrides`):
- `simulate(config, model, seq=None, arch=None) -> Report`
- `simulate_dict(config, model, seq=None, arch=None) -> dict` (the `einsim map --json` object)
- `simulate_linear(model, seq=None, arch=None) -> dict` (six linear layers of one encoder layer)
- `simulate_end_to_end(config, model, seq=None, arch=None) -> dict` (attention + linear layers)
- `pareto_point(model, seq, dim, config="fusemax") -> dict` (Fig. 12: area vs latency, buffer sized so
  memory stays off the critical path)
- `parse_seq("16K") -> 16384`, `CONFIGS`, `Arch`, `with_overrides`, `get_arch` (registered archs or TOML),
  `default_arch(config) -> Arch`.

`model` is a name (bert, trxl, t5, xlm), `B,H,E,F,M,P`, or an object with B, H, E, F, M, P (and D, S
for the linear layers); `seq` sets M = P. `arch` is None (the config's default), a name, a TOML path or
an `Arch`. Example:

>>> from einsim.model import simulate
>>> r = simulate("fusemax", "bert", "1K")
>>> round(r.util_2d, 2) > 0.5
True
"""

from __future__ import annotations

from dataclasses import replace

from einsim.errors import EinsimError
from einsim.model.configs import CONFIGS, DEFAULT_ARCH, Work, check_config, run_config, scaled
from einsim.model.report import Report
from einsim.model.spec import Arch, get_arch, with_overrides
from einsim.model.workload import get_model

__all__ = [
    "CONFIGS",
    "Arch",
    "Report",
    "default_arch",
    "get_arch",
    "pareto_point",
    "parse_seq",
    "simulate",
    "simulate_dict",
    "simulate_end_to_end",
    "simulate_linear",
    "with_overrides",
]


def parse_seq(seq: int | str) -> int:
    """16384, "16384", "16K" or "1M" -> int."""
    if isinstance(seq, int):
        n = seq
    else:
        s = str(seq).strip().upper()
        mult = {"K": 1024, "M": 1024**2}.get(s[-1:], 1)
        try:
            n = int(s[:-1] if mult > 1 else s) * mult
        except ValueError:
            raise EinsimError(f"Cannot read sequence length `{seq}`; write e.g. 16384, 16K or 1M.") from None
    if n <= 0:
        raise EinsimError(f"Sequence length must be positive, got {seq}.")
    return n


def default_arch(config: str) -> Arch:
    """The architecture a configuration runs on by default (FuseMax parts for fusemax and
    plus-architecture, FLAT's for flat, plus-cascade and unfused)."""
    return get_arch(DEFAULT_ARCH[check_config(config)])


def _model(model, seq):
    if isinstance(model, str):
        m = get_model(model)
        if seq is None and "," in model:
            return m
    else:
        m = model
    if seq is not None:
        n = parse_seq(seq)
        m = replace(m, M=n, P=n) if hasattr(m, "__dataclass_fields__") else m
    return m


def _arch(config: str, arch, overrides: dict | None = None) -> Arch:
    if arch is None:
        a = get_arch(DEFAULT_ARCH[config])
    elif isinstance(arch, Arch):
        a = arch
    else:
        a = get_arch(str(arch))
    return with_overrides(a, **overrides) if overrides else a


def simulate(config: str, model, seq=None, arch=None, skip: bool = True, overrides: dict | None = None) -> Report:
    """Simulate attention for `model` at `seq` under a paper configuration; returns a `Report`.
    `overrides` replaces arch fields by dotted path, e.g. {"array2d.rows": 128, "array2d.cols": 128,
    "array1d.pes": 128, "gbuf_bytes": 2**23, "dram_bytes_per_s": 800 * 2**30, "clock_hz": 1e9}."""
    config = check_config(config)
    m = _model(model, seq)
    w = Work(getattr(m, "name", "custom"), m.B, m.H, m.E, m.F, m.M, m.P)
    return run_config(config, _arch(config, arch, overrides), w, skip=skip)


def simulate_dict(config: str, model, seq=None, arch=None, overrides: dict | None = None) -> dict:
    """The JSON object of `einsim map --json` (see `Report.to_dict`)."""
    return simulate(config, model, seq, arch, overrides=overrides).to_dict()


def simulate_linear(model, seq=None, arch=None, config: str = "fusemax", overrides: dict | None = None) -> dict:
    """The six linear layers of one encoder layer on the config's 2D array (token dim B*P)."""
    from einsim.model.linear import linear_layers

    config = check_config(config)
    m = _model(model, seq)
    a = _arch(config, arch, overrides)
    return linear_layers(a, m.B, m.P, getattr(m, "D", m.H * m.E), m.H, m.E, m.F, getattr(m, "S", 4 * m.H * m.E))


def simulate_end_to_end(config: str, model, seq=None, arch=None, overrides: dict | None = None) -> dict:
    """One encoder layer: attention (this config) + linear layers, run back to back."""
    att = simulate(config, model, seq, arch, overrides=overrides)
    lin = simulate_linear(model, seq, arch, config, overrides)
    return {
        "config": att.config,
        "model": att.model,
        "seq": att.seq,
        "cycles": att.cycles + lin["cycles"],
        "seconds": att.seconds + lin["seconds"],
        "energy_pj": att.energy_pj + lin["energy_pj"],
        "energy_pj_artifact": att.energy_pj_artifact + lin["energy_pj_artifact"],
        "attention_seconds": att.seconds,
        "linear_seconds": lin["seconds"],
        "attention_share": att.seconds / (att.seconds + lin["seconds"]),
    }


def pareto_point(model, seq, dim: int, config: str = "fusemax", max_gbuf_bytes: int = 2**31) -> dict:
    """Area and latency with a dim x dim array; the buffer doubles from the smallest that fits until
    a larger one no longer reduces latency by more than 1% (memory off the critical path)."""
    config = check_config(config)
    base = scaled(_arch(config, None), dim)
    gb = 64 * 1024
    best = None
    while gb <= max_gbuf_bytes:
        try:
            r = simulate(config, model, seq, replace(base, gbuf_bytes=gb))
        except EinsimError:
            gb *= 2
            continue
        if best is not None and r.cycles > 0.99 * best.cycles:
            break
        best = r
        gb *= 2
    if best is None:
        raise EinsimError(f"No buffer up to {max_gbuf_bytes} bytes fits a {dim}x{dim} array for {model}.")
    return {
        "dim": dim,
        "gbuf_bytes": best.area_by_component_um2 and _gbuf(best, base),
        "area_um2": best.area_um2,
        "seconds": best.seconds,
        "cycles": best.cycles,
        "util_2d": best.util_2d,
    }


def _gbuf(r: Report, base: Arch) -> int:
    return int(round(r.area_by_component_um2["gbuf"] / base.area.gbuf_um2_per_mib * 2**20))
