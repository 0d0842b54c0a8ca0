"""Named architecture specs: `get_arch(name_or_toml_path) -> Arch` and the `ARCHS` registry.

Cloud parts follow FLAT's cloud configuration as used by FuseMax (256x256 PEs, 256 1D PEs, 940 MHz,
400 GiB/s); edge parts follow FLAT's edge configuration (32x32, 512 KiB, 50 GiB/s).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from archs.flat import flat_cloud, flat_edge
from archs.fusemax import fusemax_cloud, fusemax_edge
from einsim.errors import EinsimError
from einsim.model.spec import Arch, load_arch_toml

ARCHS: dict[str, Callable[[], Arch]] = {
    "fusemax_cloud": fusemax_cloud,
    "flat_cloud": flat_cloud,
    "unfused": flat_cloud,
    "fusemax_edge": fusemax_edge,
    "flat_edge": flat_edge,
}


def get_arch(name: str) -> Arch:
    """A named arch (see `ARCHS`) or a path to a TOML file."""
    key = name.replace("-", "_")
    if key in ARCHS:
        return ARCHS[key]()
    if name.endswith(".toml") or Path(name).is_file():
        return load_arch_toml(name)
    raise EinsimError(f"Unknown architecture `{name}`. Use one of {sorted(ARCHS)} or a path to a .toml file.")


__all__ = ["ARCHS", "get_arch"]
