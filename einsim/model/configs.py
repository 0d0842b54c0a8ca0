"""The five paper configurations as (cascade, binding, default arch) and `run_config`, which maps a
workload onto an arch, simulates it with the event engine and assembles a `Report`.

Inputs: config name, `Model`-like shape (B, H, E, F, M, P), `Arch`. Output: `Report`.
- fusemax: Cascade 5, Mapping 1 (P1 from buffer capacity), epoch pipeline with lag L searched over
  the register-file limit, BQK|SLNV and SPNV|RNV interleaving (`binding.py`).
- plus-architecture: same cascade and hardware, one BQK tile produced and consumed at a time (L = 0).
- plus-cascade: Cascade 5 on FLAT's hardware; only BQK and SLNV on the 2D array (`flat.CascadeStream`).
- flat: Cascade 4 fused per query block; searches block size, K/V placement, QK buffering depth and
  stationarity, spilling what does not fit; reports the best (`flat_search.search_flat`).
- unfused: Cascade 4, QK / softmax / AV as serialized phases through DRAM (`flat.UnfusedStream`).
Per-Einsum operator counts (energy) come from the cascade files via `einsim.op_counts`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

from einsim.errors import EinsimError
from einsim.model import energy as en
from einsim.model.binding import Binding, FuseMaxStream, Tiling
from einsim.model.events import Timeline, epochs_rle, run
from einsim.model.flat import CascadeStream, Shape, UnfusedStream
from einsim.model.flat_search import search_flat
from einsim.model.report import EinsumStat, Report
from einsim.model.spec import Arch

CONFIGS = ("unfused", "flat", "plus-cascade", "plus-architecture", "fusemax")
CASCADE = {
    "fusemax": "cascade5_fa2",
    "plus-architecture": "cascade5_fa2",
    "plus-cascade": "cascade5_fa2",
    "flat": "cascade4_3pass",
    "unfused": "cascade4_3pass",
}
DEFAULT_ARCH = {
    "fusemax": "fusemax_cloud",
    "plus-architecture": "fusemax_cloud",
    "plus-cascade": "flat_cloud",
    "flat": "flat_cloud",
    "unfused": "flat_cloud",
}
_C5_2D = ("BQK", "LM", "SLN", "SLD", "SLNV")
UNITS = {
    "fusemax": {
        e: ("2d" if e in _C5_2D else "1d")
        for e in ("BQK", "LM", "SLN", "SLD", "SLNV", "RM", "PRM", "SPD", "RD", "SPNV", "RNV", "AV")
    },
    "plus-cascade": {
        e: ("2d" if e in ("BQK", "SLNV") else "1d")
        for e in ("BQK", "LM", "SLN", "SLD", "SLNV", "RM", "PRM", "SPD", "RD", "SPNV", "RNV", "AV")
    },
    "flat": {"QK": "2d", "GM": "1d", "SN": "1d", "SD": "1d", "A": "1d", "AV": "2d"},
}
UNITS["plus-architecture"] = UNITS["fusemax"]
UNITS["unfused"] = UNITS["flat"]
CASCADE_DIR = Path(__file__).resolve().parents[2] / "workloads" / "cascades"


@dataclass(frozen=True)
class Work:
    """A workload: B batch, H heads, E/F head dims, M keys, P queries."""

    name: str
    B: int
    H: int
    E: int
    F: int
    M: int
    P: int


def check_config(config: str) -> str:
    c = config.lower().replace("_", "-").replace("+", "plus-")
    c = {"plus-arch": "plus-architecture", "binding": "fusemax", "plus-binding": "fusemax"}.get(c, c)
    if c not in CONFIGS:
        raise EinsimError(f"Unknown configuration `{config}`. Use one of {', '.join(CONFIGS)}.")
    return c


@lru_cache(maxsize=256)
def op_counts_for(cascade: str, M: int, P: int, E: int, F: int, M0: int, BH: int) -> dict[str, dict[str, int]]:
    """Per-Einsum operator counts from the cascade file, for the whole batch (B*H heads)."""
    from einsim import op_counts, parse_file

    c = parse_file(str(CASCADE_DIR / f"{cascade}.ein"))
    M1 = math.ceil(M / M0)
    subs = {"M": M1 * M0, "P": P, "E": E, "F": F, "M0": M0, "M1": M1}
    out: dict[str, dict[str, int]] = {}
    for name, cls in op_counts(c, per_einsum=True).items():
        if name.endswith(".init"):
            continue
        vals = {}
        for k, v in cls.items():
            sym = {str(s): s for s in getattr(v, "free_symbols", ())}
            vals[k] = int(v.subs({sym[n]: subs[n] for n in sym if n in subs})) * BH if v else 0
        out[name] = vals
    return out


def fusemax_tiling(arch: Arch, w: Work, extra_words_per_query: int = 0) -> tuple[int, int]:
    """(P1, P2): query tiles per block from the buffer capacity (Mapping 1), as in the artifact."""
    R, C, wb = arch.array2d.rows, arch.array2d.cols, arch.word_bytes
    pt = math.ceil(w.P / C)
    avail = arch.gbuf_bytes - 3 * R * (w.E + w.F) * wb
    per_query = (2 * w.E + w.F + 2 + extra_words_per_query) * wb
    cap = avail // (per_query * C)
    if cap < 1:
        raise EinsimError(
            f"Architecture `{arch.name}`: a {arch.gbuf_bytes}-byte global buffer cannot hold the smallest tile "
            f"(K/V tiles of {R} keys plus Q and running state for {C} queries with E={w.E}, F={w.F} need "
            f"{3 * R * (w.E + w.F) * wb + per_query * C} bytes). Use a larger buffer or a smaller array."
        )
    p1 = max(d for d in range(1, min(cap, pt) + 1) if pt % d == 0)
    return p1, pt // p1


def _fusemax_stream(arch: Arch, w: Work, binding: Binding, M1: int | None = None, NB: int | None = None):
    p1, p2 = fusemax_tiling(arch, w)
    t = Tiling(
        arch.array2d.rows,
        arch.array2d.cols,
        w.E,
        w.F,
        M1 or math.ceil(w.M / arch.array2d.rows),
        p1,
        NB or w.B * w.H * p2,
    )
    wb = arch.word_bytes
    free = arch.gbuf_bytes - p1 * arch.array2d.cols * (2 * w.E + w.F + 2) * wb
    max_kv = max(3, free // (arch.array2d.rows * (w.E + w.F) * wb))
    return FuseMaxStream(t, binding, arch.dram_bytes_per_cycle, wb, max_kv_slots=int(max_kv))


def choose_lag(arch: Arch, w: Work) -> int:
    """Epoch-pipeline lag L with the fewest cycles, within the 2D register file (L + 3 live values per
    PE) and the 3 K/V buffer slots (L <= 2 P1). Candidates are L0 .. L0 + 2, L0 the smallest L whose L - 1
    tiles of 2D work cover the LM -> RM -> SLN round trip (R + link + 1 cycles); each is simulated on a prefix
    of at most 8 x 8 tiles per block and at least 2 blocks (so block boundaries are included)."""
    p1, _ = fusemax_tiling(arch, w)
    kv_cap = _fusemax_stream(arch, w, Binding(lag=1)).max_kv_slots
    return _choose_lag(arch, w.E, w.F, min(8, math.ceil(w.M / arch.array2d.rows)), min(p1, 8), 2 * p1, kv_cap)


@lru_cache(maxsize=1024)
def _choose_lag(arch: Arch, E: int, F: int, M1: int, P1: int, lcap: int, kv_cap: int) -> int:
    lmax = min(arch.array2d.rf_entries - 3, lcap)
    if lmax < 1:
        raise EinsimError(
            f"Architecture `{arch.name}`: the FuseMax binding keeps L+1 BQK tiles, one SLN tile and RM live in each "
            f"2D PE, so it needs at least 4 register-file entries; the spec has {arch.array2d.rf_entries}."
        )
    per_tile = E + F + arch.array2d.exp_slots + 2
    l0 = 1 + math.ceil((arch.array2d.rows + arch.link_latency_cycles + 1) / per_tile)
    best = None
    # fewer than l0 tiles in flight cannot cover the round trip in steady state: search l0 .. l0 + 2
    for lag in range(max(1, min(l0, lmax)), min(lmax, l0 + 2) + 1):
        b = Binding(
            lag=lag,
            interleave=True,
            exp2d_slots=arch.array2d.exp_slots,
            exp1d_slots=arch.array1d.exp_slots,
            link=arch.link_latency_cycles,
        )
        t = Tiling(arch.array2d.rows, arch.array2d.cols, E, F, M1, P1, min(16, max(2, 64 // (M1 * P1))))
        st = FuseMaxStream(t, b, arch.dram_bytes_per_cycle, arch.word_bytes, max_kv_slots=kv_cap)
        cyc = run(st, epochs_rle(st, st.t.P1, st.t.M1, st.t.NB)).cycles
        if best is None or cyc < best[0]:
            best = (cyc, lag)
    return best[1]  # type: ignore[index]


def _timeline(config: str, arch: Arch, w: Work, skip: bool = True) -> tuple[Timeline, dict]:
    R, C = arch.array2d.rows, arch.array2d.cols
    sh = Shape(R, C, w.E, w.F, w.M, w.P, w.B * w.H, arch.word_bytes)
    bpc = arch.dram_bytes_per_cycle
    if config in ("fusemax", "plus-architecture"):
        lag = choose_lag(arch, w) if config == "fusemax" else 0
        b = Binding(
            lag=lag,
            interleave=lag > 0,
            exp2d_slots=arch.array2d.exp_slots,
            exp1d_slots=arch.array1d.exp_slots,
            link=arch.link_latency_cycles,
        )
        st = _fusemax_stream(arch, w, b)
        tl = run(st, epochs_rle(st, st.t.P1, st.t.M1, st.t.NB), skip=skip)
        return tl, {
            "P1": st.t.P1,
            "P2": w.B * w.H and st.t.NB // (w.B * w.H),
            "M1": st.t.M1,
            "lag": lag,
            "kv_slots": st.kv_slots,
            "interleave": lag > 0,
        }
    if config == "plus-cascade":
        p1, p2 = fusemax_tiling(arch, w, extra_words_per_query=2 * R)
        cs = CascadeStream(sh, p1, bpc, arch.array1d.exp_slots)
        tl = run(cs, epochs_rle(cs, 1, sh.M1, cs.blocks), skip=skip)
        return tl, {"P1": p1, "P2": p2, "M1": sh.M1}
    if config == "unfused":
        us = UnfusedStream(sh, bpc, arch.gbuf_bytes, arch.array1d.exp_slots)
        return run(us, epochs_rle(us, 1, sh.NH, 1), skip=skip), {}
    tl, o, tried = search_flat(arch, w.E, w.F, w.M, w.P, w.B * w.H, skip)
    return tl, {
        "P1": o.P1,
        "granularity": "head" if o.P1 * C >= w.P else "row",
        "kv_onchip": o.kv_onchip,
        "qk_buffers": o.qk_slots,
        "spill_fraction": o.spill,
        "qk_stationary": o.qk_stationary,
        "av_stationary": o.av_stationary,
        "mappings_searched": tried,
    }


def _stalls(tl: Timeline, cycles: int) -> dict[str, int]:
    """Idle cycles per unit by cause: waiting for another unit, or after its last op (tail)."""
    out = dict(tl.stall_cycles)
    for u, busy in tl.busy_slots.items():
        waited = sum(v for k, v in tl.stall_cycles.items() if k.startswith(f"{u}<-"))
        out[f"{u}<-tail/start"] = cycles - busy - waited
    return out


def _busy(config: str, arch: Arch, tl: Timeline) -> dict[str, tuple[str, float]]:
    units = UNITS[config]
    pes2 = arch.array2d.pes
    out = {}
    for e, v in tl.work_slots.items():
        u = units.get(e, "1d")
        macs_given = config in ("flat", "unfused", "plus-cascade") and u == "2d"
        out[e] = (u, v / pes2 if macs_given else float(v))
    return out


def _gbuf_words(config: str, w: Work, arch: Arch, dram: dict[str, int]) -> tuple[int, int, dict]:
    """Global-buffer word reads/writes per tensor: operands fed at the array edges, running state,
    multi-pass intermediates, and every DRAM word (a DRAM read fills the buffer, a DRAM write drains it)."""
    R, C = arch.array2d.rows, arch.array2d.cols
    BH, M, P, E, F = w.B * w.H, w.M, w.P, w.E, w.F
    mp = M * P * BH
    acc: dict[str, dict[str, int]] = {}

    def add(t: str, r: float, wr: float) -> None:
        d = acc.setdefault(t, {"reads": 0, "writes": 0})
        d["reads"] += int(r)
        d["writes"] += int(wr)

    add("Q", mp * E / R, 0)
    add("K", mp * E / C, 0)
    add("V", mp * F / C, 0)
    add("AV", 0, P * F * BH)
    if config in ("fusemax", "plus-architecture", "plus-cascade"):
        st = mp / R * (F + 2)
        add("RNV_RD_RM", st, st)
        if config == "plus-cascade":
            add("SLN", mp, mp)  # the SLN tile is staged on its way back into the 2D array
    else:
        add("QK", 2 * mp, mp)  # written by the 2D array, read by the GM and SN passes
        add("SN", mp, mp)
        add("A", mp, mp)
    for t, nbytes in dram.items():
        words = nbytes / arch.word_bytes
        if t == "AV":
            add(t, words, 0)
        elif t in ("Q", "K", "V"):
            add(t, 0, words)
        else:
            add(t, words / 2, words / 2)
    r = sum(d["reads"] for d in acc.values())
    wr = sum(d["writes"] for d in acc.values())
    return r, wr, acc


def run_config(config: str, arch: Arch, w: Work, skip: bool = True) -> Report:
    config = check_config(config)
    for k in ("B", "H", "E", "F", "M", "P"):
        v = getattr(w, k)
        if not isinstance(v, int) or v <= 0:
            raise EinsimError(f"Workload `{w.name}`: {k} = {v!r}; every shape must be a positive integer.")
    counts = op_counts_for(CASCADE[config], w.M, w.P, w.E, w.F, arch.array2d.rows, w.B * w.H)
    units = UNITS[config]
    en.check_binding(arch, counts, units)
    tl, mapping = _timeline(config, arch, w, skip)
    cycles = max(tl.cycles, 1)
    seconds = cycles / arch.clock_hz
    busy = _busy(config, arch, tl)
    b2 = sum(v for u, v in busy.values() if u == "2d")
    b1 = sum(v for u, v in busy.values() if u == "1d")
    acts = en.actions(arch, counts, units)
    gr, gw, gacc = _gbuf_words(config, w, arch, tl.dram_bytes)
    dram = sum(tl.dram_bytes.values())
    eng = en.energy(arch, acts, gr, gw, dram, seconds)
    ar = en.area(arch)
    accesses: dict[str, dict[str, dict[str, int]]] = {}
    for t, d in gacc.items():
        accesses.setdefault(t, {})["gbuf"] = {**d, "bytes": (d["reads"] + d["writes"]) * arch.word_bytes}
    for t, nbytes in tl.dram_bytes.items():
        accesses.setdefault(t, {})["dram"] = {
            "reads": 0 if t == "AV" else nbytes // arch.word_bytes,
            "writes": nbytes // arch.word_bytes if t == "AV" else 0,
            "bytes": nbytes,
        }
    for u in ("2d", "1d"):
        ops = acts[u]["pe_ops"]
        accesses.setdefault("*", {})[f"rf_{u}"] = {"reads": 2 * ops, "writes": ops, "bytes": 3 * ops * arch.word_bytes}
    order = list(UNITS[config])
    per = {
        e: EinsumStat(u, v, min(1.0, v / cycles), int(sum(counts.get(e, {}).values())))
        for e, (u, v) in sorted(busy.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else 99)
    }
    return Report(
        config=config,
        model=w.name,
        seq=w.M,
        arch=arch.name,
        cycles=cycles,
        seconds=seconds,
        util_2d=min(1.0, b2 / cycles),
        util_1d=min(1.0, b1 / cycles),
        busy_2d_cycles=tl.busy_slots.get("2d", 0),
        busy_1d_cycles=tl.busy_slots.get("1d", 0),
        busy_dram_cycles=tl.busy_slots.get("dram", 0),
        stall_2d_cycles=cycles - tl.busy_slots.get("2d", 0),
        stall_1d_cycles=cycles - tl.busy_slots.get("1d", 0),
        dram_bytes=dram,
        dram_bytes_by_tensor=dict(tl.dram_bytes),
        accesses=accesses,
        per_einsum=per,
        energy_pj=eng.total_pj,
        energy_pj_artifact=eng.total_pj_artifact,
        energy_by_component_pj=eng.by_component_pj,
        energy_by_component_pj_artifact=eng.by_component_pj_artifact,
        energy_by_action_pj=eng.by_action_pj,
        area_um2=sum(ar.values()),
        area_by_component_um2=ar,
        mapping=mapping,
        stall_breakdown_cycles=_stalls(tl, cycles),
        simulated_ops=tl.ops_simulated,
        skipped_repeats=tl.skipped_repeats,
    )


def scaled(arch: Arch, dim: int) -> Arch:
    """`arch` with a dim x dim 2D array and a dim-PE 1D array."""
    return replace(
        arch,
        name=f"{arch.name}_{dim}x{dim}",
        array2d=replace(arch.array2d, rows=dim, cols=dim),
        array1d=replace(arch.array1d, pes=dim),
    )
