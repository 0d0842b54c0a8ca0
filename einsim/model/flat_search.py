"""FLAT's mapping search: enumerate the mapping space, simulate each candidate, report the best.

Inputs: `Arch` and the attention shape (E, F, M, P, NH = B*H). Output: (Timeline of the best mapping,
its `FlatOptions`, number of mappings simulated). The space (the FuseMax artifact reads one point per
workload from a table instead):
- fusion granularity: P1 query tiles (of C queries) per block, powers of 4 up to a whole head
  (P1*C >= P is FLAT's head granularity, smaller is row granularity);
- K/V placement: resident for the head (loaded once) or re-streamed for every block;
- QK/A buffering depth: one block (the next block's QK waits for this block's AV) or two (they overlap);
- spilling: what does not fit in the buffer goes to DRAM ("optimal spilling", a fraction of QK/SN);
- stationarity of QK (output / weight) and AV (input / weight), chosen by the cost model because it
  only changes those ops' slot counts.
The best is the fewest cycles, ties broken by less DRAM traffic.
"""

from __future__ import annotations

from dataclasses import replace

from einsim.errors import EinsimError
from einsim.model.events import Timeline, epochs_rle, run
from einsim.model.flat import FlatOptions, FlatStream, Shape
from einsim.model.spec import Arch


def candidates(arch: Arch, E: int, F: int, M: int, P: int, NH: int) -> list[FlatOptions]:
    """Every feasible mapping (spill fraction from the buffer capacity)."""
    R, C, wb = arch.array2d.rows, arch.array2d.cols, arch.word_bytes
    pt = -(-P // C)
    p1s = sorted({min(4**k, pt) for k in range(0, 12)} | {pt})
    sh = Shape(R, C, E, F, M, P, NH, wb)
    out = []
    for p1 in p1s:
        if pt % p1:
            continue
        pb = p1 * C
        for kv_onchip in (True, False):
            kv = M * (E + F) * wb if kv_onchip else 2 * R * (E + F) * wb
            other = 2 * pb * E * wb + kv + 2 * pb * F * wb
            if other >= arch.gbuf_bytes:
                continue
            for slots in (1, 2):
                spill = max(0.0, 1.0 - (arch.gbuf_bytes - other) / (slots * pb * M * wb))
                out.append(best_stationarity(sh, FlatOptions(p1, kv_onchip, slots, round(spill, 6)), arch))
    if not out:
        raise EinsimError(
            f"Architecture `{arch.name}`: no FLAT mapping fits a {arch.gbuf_bytes}-byte buffer (one block of Q, "
            f"AV and streamed K/V tiles already exceeds it). Use a larger buffer."
        )
    return out


def best_stationarity(sh: Shape, o: FlatOptions, arch: Arch) -> FlatOptions:
    """Fewest QK + AV slots over the stationarity choices (first on ties)."""
    best = None
    for qs in ("output", "weight"):
        for avs in ("input", "weight"):
            cand = replace(o, qk_stationary=qs, av_stationary=avs)
            n = FlatStream(sh, cand, arch.dram_bytes_per_cycle).slots()
            if best is None or n["QK"] + n["AV"] < best[0]:
                best = (n["QK"] + n["AV"], cand)
    return best[1]  # type: ignore[index]


def search_flat(arch: Arch, E: int, F: int, M: int, P: int, NH: int, skip: bool = True):
    """Simulate every candidate; return (timeline, options, number simulated) of the best."""
    sh = Shape(arch.array2d.rows, arch.array2d.cols, E, F, M, P, NH, arch.word_bytes)
    best: tuple[Timeline, FlatOptions] | None = None
    opts = candidates(arch, E, F, M, P, NH)
    for o in opts:
        fs = FlatStream(sh, o, arch.dram_bytes_per_cycle, arch.array1d.exp_slots)
        tl = run(fs, epochs_rle(fs, 1, fs.blocks_per_head, NH), skip=skip)
        key = (tl.cycles, sum(tl.dram_bytes.values()))
        if best is None or key < (best[0].cycles, sum(best[0].dram_bytes.values())):
            best = (tl, o)
    assert best is not None
    return best[0], best[1], len(opts)
