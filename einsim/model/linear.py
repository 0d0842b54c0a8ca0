"""Linear layers and end-to-end (one encoder layer) on the 2D array, and the Fig. 12 area sweep.

Inputs: a workload (B, H, E, F, D, S, P) and an `Arch`. Outputs: plain dicts (cycles, seconds, util_2d,
dram_bytes, energy_pj, ...). Each GEMM out[T, N] = in[T, K] W[K, N] (T = B*P tokens) runs output-stationary
on the 2D array (ceil(T/R) ceil(N/C) tiles of max(K, R) slots: the drain of a tile overlaps the next
one) while its operands stream from DRAM on the same timeline (event engine). Weights are re-read once
per token block that fits half the buffer. LayerNorm, activations and residuals are ignored (as in the
paper).
"""

from __future__ import annotations

import math

from einsim.model import energy as en
from einsim.model.events import Op, run
from einsim.model.flat import gemm_slots, stream_off
from einsim.model.spec import Arch


class _Gemm:
    lookback_steps = 1
    n_steps = 1

    def __init__(self, ops: list[Op]) -> None:
        self._ops = ops

    def ops(self, s: int) -> list[Op]:
        return self._ops

    def signature(self, s: int) -> tuple:
        return ("gemm",)


def gemm(arch: Arch, T: int, K: int, N: int, name: str) -> dict:
    R, C, wb = arch.array2d.rows, arch.array2d.cols, arch.word_bytes
    n_c = gemm_slots(T, N, K, R, C)
    tb = max(R, (arch.gbuf_bytes // 2) // max(1, K * wb) // R * R)
    nbytes = (T * K + K * N * math.ceil(T / tb) + T * N) * wb
    n_d = max(1, math.ceil(nbytes / arch.dram_bytes_per_cycle))
    tiles = math.ceil(T / R) * math.ceil(N / C)
    ops = [Op("ld", "dram", n_d), Op("mm", "2d", n_c, (((0, "ld"), stream_off(n_d, n_c, tiles, 0)),))]
    tl = run(_Gemm(ops), [(("gemm",), 1)])
    macs = T * K * N
    acts = {
        "2d": {"mac": macs, "add": 0, "max": 0, "exp_unit": 0, "div": 0, "pe_ops": macs},
        "1d": {"mac": 0, "add": 0, "max": 0, "exp_unit": 0, "div": 0, "pe_ops": 0},
    }
    gr = T * K * math.ceil(N / C) + K * N * math.ceil(T / R)
    e = en.energy(arch, acts, gr, T * N + T * K + K * N, nbytes, tl.cycles / arch.clock_hz)
    return {
        "name": name,
        "cycles": tl.cycles,
        "seconds": tl.cycles / arch.clock_hz,
        "util_2d": macs / (arch.array2d.pes * tl.cycles),
        "dram_bytes": nbytes,
        "energy_pj": e.total_pj,
        "energy_pj_artifact": e.total_pj_artifact,
        "macs": macs,
    }


def linear_layers(arch: Arch, B: int, P: int, D: int, H: int, E: int, F: int, S: int) -> dict:
    """The six linear GEMMs of one encoder layer (Q, K, V, O projections, FFN1, FFN2)."""
    T = B * P
    layers = [
        gemm(arch, T, D, H * E, "Q"),
        gemm(arch, T, D, H * E, "K"),
        gemm(arch, T, D, H * F, "V"),
        gemm(arch, T, H * F, D, "O"),
        gemm(arch, T, D, S, "FFN1"),
        gemm(arch, T, S, D, "FFN2"),
    ]
    cycles = sum(x["cycles"] for x in layers)
    macs = sum(x["macs"] for x in layers)
    return {
        "cycles": cycles,
        "seconds": cycles / arch.clock_hz,
        "util_2d": macs / (arch.array2d.pes * cycles),
        "dram_bytes": sum(x["dram_bytes"] for x in layers),
        "energy_pj": sum(x["energy_pj"] for x in layers),
        "energy_pj_artifact": sum(x["energy_pj_artifact"] for x in layers),
        "per_layer": {x["name"]: x for x in layers},
    }
