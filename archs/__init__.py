"""Named architecture specs, registered with einsim through the `einsim.archs` entry point
(`einsim.model.spec.get_arch(name_or_toml_path) -> Arch`, re-exported here).

Cloud parts follow FLAT's cloud configuration as used by FuseMax (256x256 PEs, 256 1D PEs, 940 MHz,
400 GiB/s); edge parts follow FLAT's edge configuration (32x32, 512 KiB, 50 GiB/s).
"""

from __future__ import annotations

from collections.abc import Callable

from archs.flat import flat_cloud, flat_edge
from archs.fusemax import fusemax_cloud, fusemax_edge
from einsim.model.spec import Arch, get_arch

ARCHS: dict[str, Callable[[], Arch]] = {
    "fusemax_cloud": fusemax_cloud,
    "flat_cloud": flat_cloud,
    "unfused": flat_cloud,
    "fusemax_edge": fusemax_edge,
    "flat_edge": flat_edge,
}


__all__ = ["ARCHS", "get_arch"]
