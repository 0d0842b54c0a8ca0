"""Architecture specifications: frozen, validated dataclasses with units in every field name.

Inputs: numbers (or a TOML file through `load_arch_toml`). Outputs: an `Arch` value that the model reads.
Every field is checked in `__post_init__`; a bad value raises `EinsimError` naming the field and the fix.
Override any field with `dataclasses.replace` (e.g. `replace(arch, dram_bytes_per_s=800 * 2**30)`) or
with `with_overrides(arch, **{"array2d.rows": 128})`.

Assumptions (see studies/notes_model.md): 16-bit values; energies per action at 45 nm from the FuseMax
artifact's Accelergy tables; global-buffer energy per 16-bit word = the artifact's (stale) per-64-bit-access
figure / 4; buffer area scales linearly with capacity; adders inside MACs are not counted as area.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from einsim.errors import EinsimError

OPS = ("mac", "add", "max", "exp", "div")


def _positive(obj: object, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
            raise EinsimError(
                f"Architecture field `{type(obj).__name__}.{name}` is {value!r}; it must be a positive number. "
                f"Give a value > 0 (sizes in the unit its name states)."
            )


@dataclass(frozen=True)
class Array2D:
    """A rows x cols grid of PEs joined by neighbour links (one value per link per cycle)."""

    rows: int = 256
    """PEs per column (M0 is mapped here)."""
    cols: int = 256
    """PEs per row (P0 is mapped here)."""
    ops: tuple[str, ...] = ("mac", "add", "max", "exp")
    """Operators each PE can execute; `exp` means by a sequence of MACs (see `exp_slots`)."""
    exp_slots: int = 7
    """Issue slots one exponential takes (FuseMax: 6 MACs + 1 add)."""
    rf_entries: int = 12
    """16-bit register-file entries per PE (bounds how many tiles can be in flight)."""

    def __post_init__(self) -> None:
        _positive(self, "rows", "cols", "exp_slots", "rf_entries")
        bad = [o for o in self.ops if o not in OPS]
        if bad:
            raise EinsimError(f"Array2D.ops lists unknown operators {bad}; known operators are {list(OPS)}.")

    @property
    def pes(self) -> int:
        return self.rows * self.cols


@dataclass(frozen=True)
class Array1D:
    """A row of PEs fed by the bottom edge of the 2D array (one PE per 2D column)."""

    pes: int = 256
    ops: tuple[str, ...] = ("mac", "add", "max", "exp", "div")
    exp_slots: int = 7
    """Issue slots per exponential (FuseMax 7 = 6 MAC + 1 add; FLAT's pipelined exp unit: 1)."""
    has_exp_unit: bool = False
    """True when exp runs on a dedicated exponential unit (FLAT) rather than on the MAC."""
    rf_entries: int = 32

    def __post_init__(self) -> None:
        _positive(self, "pes", "exp_slots", "rf_entries")
        bad = [o for o in self.ops if o not in OPS]
        if bad:
            raise EinsimError(f"Array1D.ops lists unknown operators {bad}; known operators are {list(OPS)}.")


@dataclass(frozen=True)
class EnergyTable:
    """Energy per action in pJ (45 nm, Accelergy values quoted by the FuseMax reference §3.3)."""

    mac_pj: float = 17.1645
    add_pj: float = 8.3395
    max_pj: float = 0.028036
    exp_unit_pj: float = 94.6475
    div_pj: float = 36.251153
    rf2d_read_pj: float = 0.653
    rf2d_write_pj: float = 0.570
    rf1d_read_pj: float = 2.194455
    rf1d_write_pj: float = 1.906455
    gbuf_read_pj_per_word: float = 484.97 / 4
    gbuf_write_pj_per_word: float = 451.30 / 4
    dram_pj_per_byte: float = 249.6 / 8
    leakage_w: float = 0.0
    """Static power of the whole chip in W (0 = the artifact's convention)."""

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if v < 0:
                raise EinsimError(f"EnergyTable.{f.name} is {v}; energies must be >= 0 pJ.")


@dataclass(frozen=True)
class AreaTable:
    """Area per instance in um^2 (45 nm)."""

    mac_um2: float = 1545.0
    max_um2: float = 49.29
    exp_unit_um2: float = 8240.0
    div_um2: float = 23740.94
    rf2d_um2: float = 4255.9
    rf1d_um2: float = 16849.21
    gbuf_um2_per_mib: float = 94_176_256 / 32

    def __post_init__(self) -> None:
        for f in fields(self):
            if getattr(self, f.name) < 0:
                raise EinsimError(f"AreaTable.{f.name} must be >= 0 um^2.")


@dataclass(frozen=True)
class Arch:
    """A spatial accelerator: 2D array + 1D array + global buffer + one DRAM channel."""

    name: str = "fusemax_cloud"
    array2d: Array2D = field(default_factory=Array2D)
    array1d: Array1D = field(default_factory=Array1D)
    gbuf_bytes: int = 16 * 2**20
    """Global-buffer capacity in bytes."""
    dram_bytes_per_s: float = 400 * 2**30
    clock_hz: float = 940e6
    word_bytes: int = 2
    link_latency_cycles: int = 1
    """Cycles for a value to cross one neighbour link (also the 1D->2D feedback link)."""
    energy: EnergyTable = field(default_factory=EnergyTable)
    area: AreaTable = field(default_factory=AreaTable)

    def __post_init__(self) -> None:
        _positive(self, "gbuf_bytes", "dram_bytes_per_s", "clock_hz", "word_bytes", "link_latency_cycles")
        if self.array1d.pes != self.array2d.cols:
            raise EinsimError(
                f"Architecture `{self.name}`: the 1D array has {self.array1d.pes} PEs but the 2D array has "
                f"{self.array2d.cols} columns; each 1D PE sits under one 2D column, so they must be equal."
            )

    @property
    def dram_bytes_per_cycle(self) -> float:
        return self.dram_bytes_per_s / self.clock_hz


def with_overrides(arch: Arch, **overrides: object) -> Arch:
    """Return `arch` with dotted-path fields replaced, e.g. `with_overrides(a, **{"array2d.rows": 64})`.
    All overrides are applied together, so related fields (rows, cols, 1D PEs) may change at once."""
    tree: dict = {}
    for key, value in overrides.items():
        node = tree
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = tuple(value) if isinstance(value, list) else value
    return _apply(arch, tree, "")


def _apply(obj: object, tree: dict, prefix: str) -> object:
    names = {f.name for f in fields(obj)}  # type: ignore[arg-type]
    changes = {}
    for name, value in tree.items():
        if name not in names:
            raise EinsimError(
                f"Unknown architecture field `{prefix}{name}`: `{type(obj).__name__}` has fields {sorted(names)}."
            )
        changes[name] = _apply(getattr(obj, name), value, f"{prefix}{name}.") if isinstance(value, dict) else value
    return replace(obj, **changes)  # type: ignore[type-var]


def load_arch_toml(path: str | Path, base: Arch | None = None) -> Arch:
    """Read an architecture from TOML: top-level keys are Arch fields, tables `[array2d]`, `[array1d]`,
    `[energy]`, `[area]` set nested fields; `base = "flat_cloud"` starts from a named arch."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise EinsimError(f"Cannot read architecture file `{p}`: {exc}. Give a readable TOML file.") from None
    if base is None:
        base = Arch()
    if "base" in data:
        base = get_arch(str(data.pop("base")))
    flat: dict[str, object] = {}
    for k, v in data.items():
        if isinstance(v, dict):
            for k2, v2 in v.items():
                flat[f"{k}.{k2}"] = v2
        else:
            flat[k] = v
    flat.setdefault("name", p.stem)
    return with_overrides(base, **flat)


def get_arch(name: str) -> Arch:
    """A registered architecture (see einsim.registry; the repository registers archs/) or a TOML path."""
    from einsim.registry import arch_registry

    archs = arch_registry()
    key = name.replace("-", "_")
    if key in archs:
        return archs[key]()
    if name.endswith(".toml") or Path(name).is_file():
        return load_arch_toml(name)
    raise EinsimError(f"Unknown architecture `{name}`. Use one of {sorted(archs)} or a path to a .toml file.")
