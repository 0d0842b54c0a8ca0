"""FLAT architectures (also the Unfused and +Cascade hardware): 2D MAC PEs without max/exp,
a 1D array with a pipelined exponential unit and a divider, 32 MiB buffer."""

from __future__ import annotations

from dataclasses import replace

from einsim.model.spec import Arch, AreaTable, Array1D, Array2D, EnergyTable


def flat_cloud() -> Arch:
    """256x256 MAC array, 256-PE 1D array with exp unit (1 slot/exp), 32 MiB, 400 GiB/s, 940 MHz."""
    return Arch(
        name="flat_cloud",
        array2d=Array2D(rows=256, cols=256, ops=("mac", "add"), exp_slots=7, rf_entries=4),
        array1d=Array1D(
            pes=256, ops=("mac", "add", "max", "exp", "div"), exp_slots=1, has_exp_unit=True, rf_entries=16
        ),
        gbuf_bytes=32 * 2**20,
        dram_bytes_per_s=400 * 2**30,
        clock_hz=940e6,
        energy=EnergyTable(rf2d_read_pj=0.2915, rf2d_write_pj=0.2253),
        area=AreaTable(rf2d_um2=1838.1, rf1d_um2=16849.21 / 2),
    )


def flat_edge() -> Arch:
    """FLAT's edge platform: 32x32 PEs, 512 KiB buffer, 50 GiB/s."""
    a = flat_cloud()
    return replace(
        a,
        name="flat_edge",
        array2d=replace(a.array2d, rows=32, cols=32),
        array1d=replace(a.array1d, pes=32),
        gbuf_bytes=512 * 2**10,
        dram_bytes_per_s=50 * 2**30,
    )
