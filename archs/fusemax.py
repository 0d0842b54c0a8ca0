"""FuseMax architectures: 2D PEs with MAC/add/max (exp = 6 MACs + 1 add), a 1D array with a divider."""

from __future__ import annotations

from dataclasses import replace

from einsim.model.spec import Arch, Array1D, Array2D


def fusemax_cloud() -> Arch:
    """256x256 2D array, 256-PE 1D array, 16 MiB buffer, 400 GiB/s DRAM, 940 MHz, 16-bit values."""
    return Arch(
        name="fusemax_cloud",
        array2d=Array2D(rows=256, cols=256, ops=("mac", "add", "max", "exp"), exp_slots=7, rf_entries=12),
        array1d=Array1D(pes=256, ops=("mac", "add", "max", "exp", "div"), exp_slots=7, rf_entries=32),
        gbuf_bytes=16 * 2**20,
        dram_bytes_per_s=400 * 2**30,
        clock_hz=940e6,
    )


def fusemax_edge() -> Arch:
    """Edge variant: 32x32 PEs, 512 KiB buffer, 50 GiB/s."""
    a = fusemax_cloud()
    return replace(
        a,
        name="fusemax_edge",
        array2d=replace(a.array2d, rows=32, cols=32),
        array1d=replace(a.array1d, pes=32),
        gbuf_bytes=512 * 2**10,
        dram_bytes_per_s=50 * 2**30,
    )
