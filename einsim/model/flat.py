"""Baseline bindings at tile-operation granularity: FLAT, Unfused and +Cascade streams.

Inputs: shape (R x C array, E, F, M, P, heads NH = B*H), the arch's 1D costs, DRAM bytes/cycle and the
mapping options (`FlatOptions`). Output: streams of `Op`s for `events.run`.

A 2D GEMM tile whose output or input must cross the array edge is edge-bound: a R x C output tile needs
R cycles to leave through the C bottom links (QK, output-stationary) and a R x C input tile needs R
cycles to enter (AV with A stationary), so such an op takes max(K, R) slots per tile for K reduction
steps; FuseMax avoids both by consuming BQK in place. The 1D array executes one softmax operation per
element per PE per cycle (FLAT's pipelined exp unit); +Cascade's exp costs exp-unit + add = 2 slots.
A long op that consumes a stream produced by another op (QK -> GM, A -> AV, DRAM spills) starts when
the first tile can be consumed and no tile is consumed before it is produced:
`off = lat + r_p + max(0, (K-1) (r_p - r_c))` for K tiles at rates r_p, r_c slots per tile.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from einsim.model.events import Op


def stream_off(n_prod: int, n_cons: int, tiles: int, lat: int) -> int:
    """Offset so that consumer tile k starts after producer tile k ends (+ lat), both uniform."""
    rp, rc = n_prod / tiles, n_cons / tiles
    return int(math.ceil(lat + rp + max(0.0, (tiles - 1) * (rp - rc))))


def drain_lat(K: int, R: int, C: int) -> int:
    """Cycles from the end of an output-stationary tile's issue slots (max(K, R)) until its last output
    has left the bottom edge: the last tile of T finishes at (T-1) max(K,R) + K + C + 2R - 1 (fill skew
    R + C - 2, K MACs, and the column's R values queueing on its drain chain); `stepsim.gemm_os` checks it."""
    return K + C + 2 * R - 1 - max(K, R)


def gemm_slots(spatial_a: int, spatial_b: int, red: int, R: int, C: int) -> int:
    """Slots for an output-stationary GEMM out[a, b] = sum_red on an R x C array, edge-bound drain."""
    return math.ceil(spatial_a / R) * math.ceil(spatial_b / C) * max(red, R)


@dataclass(frozen=True)
class Shape:
    R: int
    C: int
    E: int
    F: int
    M: int
    P: int
    NH: int
    wb: int = 2

    @property
    def M1(self) -> int:
        return math.ceil(self.M / self.R)


@dataclass(frozen=True)
class FlatOptions:
    """One point of FLAT's mapping space."""

    P1: int
    """Query tiles (of C queries) fused per block: row granularity; P1 = P/C is head granularity."""
    kv_onchip: bool
    """K and V of a head kept in the buffer (loaded once) instead of re-streamed per block."""
    qk_slots: int
    """Blocks whose QK/A live in the buffer at once (2 = next block's QK overlaps this softmax)."""
    spill: float
    """Fraction of QK/SN that does not fit and goes to DRAM (4 transfers of it: QK w/r, SN w/r)."""
    qk_stationary: str = "output"
    av_stationary: str = "input"


def _cyc(nbytes: float, bpc: float) -> int:
    return max(1, math.ceil(nbytes / bpc)) if nbytes > 0 else 0


@dataclass(frozen=True)
class FlatStream:
    """FLAT: Cascade 4 (3-pass softmax on the 1D array) fused per block of P1*C queries."""

    sh: Shape
    o: FlatOptions
    bpc: float
    exp1d_slots: int = 1

    @property
    def blocks_per_head(self) -> int:
        return math.ceil(self.sh.P / (self.o.P1 * self.sh.C))

    @property
    def n_steps(self) -> int:
        return self.sh.NH * self.blocks_per_head + 1

    @property
    def lookback_steps(self) -> int:
        return 4

    def slots(self) -> dict[str, int]:
        sh, o = self.sh, self.o
        Pb = o.P1 * sh.C
        per_elem = sh.M * Pb / sh.C  # softmax elements per 1D PE
        if o.qk_stationary == "weight":  # K stationary (E rows x C keys), queries stream through
            qk = math.ceil(sh.M / sh.C) * math.ceil(sh.E / sh.R) * max(Pb, sh.E)
        else:
            qk = gemm_slots(sh.M, Pb, sh.E, sh.R, sh.C)
        if o.av_stationary == "weight":  # V stationary (R keys x C f), A rows stream through
            av = math.ceil(sh.M / sh.R) * math.ceil(sh.F / sh.C) * max(Pb, sh.R)
        else:  # A stationary: R x C tile enters through the top edge, V streams from the left
            av = gemm_slots(sh.M, Pb, sh.F, sh.R, sh.C)
        return {
            "QK": qk,
            "GM": int(per_elem),
            "SN": int(per_elem * (self.exp1d_slots + 1)),
            "A": int(per_elem),
            "AV": av,
        }

    def ops(self, s: int) -> list[Op]:
        sh, o, bpc = self.sh, self.o, self.bpc
        nb = self.blocks_per_head
        Pb, wb = o.P1 * sh.C, sh.wb
        n = self.slots()
        tiles = sh.M1 * o.P1
        out: list[Op] = []
        valid = s < sh.NH * nb
        lag = 1 if o.qk_slots >= 2 else 0
        q_bytes = Pb * sh.E * wb
        kv_head = sh.M * (sh.E + sh.F) * wb
        spill = o.spill * Pb * sh.M * wb
        if valid:
            first_of_head = s % nb == 0
            deps = []
            if s == 0:
                out.append(Op("Q", "dram", _cyc(q_bytes, bpc), (), (), (("Q", q_bytes),)))
            deps.append(((s - 1 if s else 0, "Q"), _cyc(q_bytes, bpc)))
            if o.kv_onchip:
                if first_of_head:
                    out.append(
                        Op(
                            "KV",
                            "dram",
                            _cyc(kv_head, bpc),
                            (),
                            (),
                            (("K", kv_head // 2), ("V", kv_head // 2)),
                            long=True,
                        )
                    )
                    deps.append(((s, "KV"), _cyc(kv_head, bpc)))  # later blocks follow it in order
            else:
                kb = sh.M * sh.E * wb
                out.append(Op("Kst", "dram", _cyc(kb, bpc), (), (), (("K", kb),)))
                deps.append(((s, "Kst"), stream_off(_cyc(kb, bpc), n["QK"], sh.M1, 0)))
            if s >= o.qk_slots:  # the QK/A slot is reused once AV of block s - qk_slots has read it
                deps.append(((s - o.qk_slots + lag, "AV"), n["AV"]))
            out.append(Op("QK", "2d", n["QK"], tuple(d for d in deps if d[0][0] >= 0), (("QK", sh.M * Pb * sh.E),)))
            if spill:
                w = _cyc(spill, bpc)
                out.append(
                    Op(
                        "QKw",
                        "dram",
                        w,
                        (((s, "QK"), stream_off(n["QK"], w, tiles, drain_lat(sh.E, sh.R, sh.C))),),
                        (),
                        (("QK", int(spill)),),
                    )
                )
            out.append(
                Op(
                    "GM",
                    "1d",
                    n["GM"],
                    (((s, "QK"), stream_off(n["QK"], n["GM"], tiles, drain_lat(sh.E, sh.R, sh.C))),),
                    (("GM", n["GM"]),),
                )
            )
            sn_deps = [((s, "GM"), n["GM"])]
            if spill:
                r = _cyc(spill, bpc)
                out.append(Op("QKr", "dram", r, (((s, "GM"), n["GM"]),), (), (("QK", int(spill)),)))
                sn_deps.append(((s, "QKr"), stream_off(r, n["SN"], tiles, 0)))
            out.append(Op("SN", "1d", n["SN"], tuple(sn_deps), (("SN", n["SN"] // 2 * 1), ("SD", n["SN"] // 2))))
            a_deps = [((s, "SN"), n["SN"])]
            if spill:
                w = _cyc(spill, bpc)
                out.append(
                    Op("SNw", "dram", w, (((s, "SN"), stream_off(n["SN"], w, tiles, 0)),), (), (("SN", int(spill)),))
                )
                out.append(Op("SNr", "dram", w, (((s, "SN"), n["SN"]),), (), (("SN", int(spill)),)))
                a_deps.append(((s, "SNr"), stream_off(w, n["A"], tiles, 0)))
            out.append(Op("A", "1d", n["A"], tuple(a_deps), (("A", n["A"]),)))
            if s + 1 < sh.NH * nb:
                out.append(Op("Q", "dram", _cyc(q_bytes, bpc), (((s, "QK"), n["QK"]),), (), (("Q", q_bytes),)))
        a = s - lag
        if 0 <= a < sh.NH * nb:
            deps = [((a, "A"), stream_off(n["A"], n["AV"], tiles, sh.C + sh.R))]
            if not o.kv_onchip:
                vb = sh.M * sh.F * wb
                out.append(Op("Vst", "dram", _cyc(vb, bpc), (), (), (("V", vb),)))
                deps.append(((s, "Vst"), stream_off(_cyc(vb, bpc), n["AV"], sh.M1, 0)))
            elif a % nb == 0:
                deps.append(((a, "KV"), _cyc(kv_head, bpc)))
            out.append(Op("AV", "2d", n["AV"], tuple(deps), (("AV", sh.M * Pb * sh.F),)))
            avb = Pb * sh.F * wb
            out.append(Op("AVw", "dram", _cyc(avb, bpc), (((s, "AV"), n["AV"]),), (), (("AV", avb),)))
        return out

    def signature(self, s: int) -> tuple:
        return tuple((o.name, o.unit, o.n, tuple((d[0][0] - s, d[0][1], d[1]) for d in o.deps)) for o in self.ops(s))


@dataclass(frozen=True)
class UnfusedStream:
    """Unfused: per head, QK -> DRAM, softmax (DRAM -> 1D -> DRAM), AV, as serialized phases."""

    sh: Shape
    bpc: float
    gbuf_bytes: int
    exp1d_slots: int = 1

    @property
    def n_steps(self) -> int:
        return self.sh.NH

    lookback_steps: int = 2

    def ops(self, s: int) -> list[Op]:
        sh, bpc, wb = self.sh, self.bpc, self.sh.wb
        elems = sh.M * sh.P
        tiles = sh.M1 * math.ceil(sh.P / sh.C)
        rows_fit = 2 * sh.C * sh.M * wb <= self.gbuf_bytes
        reads = 1 if rows_fit else 3
        slots_per = 3 + self.exp1d_slots + (0 if rows_fit else self.exp1d_slots)
        qk = gemm_slots(sh.M, sh.P, sh.E, sh.R, sh.C)
        av = gemm_slots(sh.M, sh.P, sh.F, sh.R, sh.C)
        sm = math.ceil(elems / sh.C) * slots_per
        qkv = (sh.P * sh.E + sh.M * sh.E) * wb
        out = []
        # phases are serialized: the next head's QK phase starts after the previous AV was written out
        prev = (((s - 1, "AVw"), _cyc(sh.P * sh.F * wb, bpc)),) if s else ()
        ld = _cyc(qkv, bpc)
        out.append(Op("QKin", "dram", ld, prev, (), (("Q", sh.P * sh.E * wb), ("K", sh.M * sh.E * wb))))
        out.append(Op("QK", "2d", qk, (((s, "QKin"), stream_off(ld, qk, tiles, 0)),), (("QK", elems * sh.E),)))
        w = _cyc(elems * wb, bpc)
        out.append(
            Op(
                "QKw",
                "dram",
                w,
                (((s, "QK"), stream_off(qk, w, tiles, drain_lat(sh.E, sh.R, sh.C))),),
                (),
                (("QK", elems * wb),),
            )
        )
        r = _cyc(reads * elems * wb, bpc)
        out.append(Op("QKr", "dram", r, (((s, "QKw"), w),), (), (("QK", reads * elems * wb),)))
        out.append(
            Op(
                "SM",
                "1d",
                sm,
                (((s, "QKr"), stream_off(r, sm, tiles, 0)),),
                (
                    ("GM", sm // slots_per),
                    ("SN", sm // slots_per * (slots_per - 3)),
                    ("SD", sm // slots_per),
                    ("A", sm // slots_per),
                ),
            )
        )
        out.append(Op("Aw", "dram", w, (((s, "SM"), stream_off(sm, w, tiles, sh.C)),), (), (("A", elems * wb),)))
        vb = sh.M * sh.F * wb
        r2 = _cyc(elems * wb + vb, bpc)
        out.append(Op("Ar", "dram", r2, (((s, "Aw"), w),), (), (("A", elems * wb), ("V", vb))))
        out.append(Op("AV", "2d", av, (((s, "Ar"), stream_off(r2, av, tiles, 0)),), (("AV", elems * sh.F),)))
        ob = sh.P * sh.F * wb
        out.append(Op("AVw", "dram", _cyc(ob, bpc), (((s, "AV"), av),), (), (("AV", ob),)))
        return out

    def signature(self, s: int) -> tuple:
        return tuple((o.name, o.unit, o.n, tuple((d[0][0] - s, d[0][1], d[1]) for d in o.deps)) for o in self.ops(s))


@dataclass(frozen=True)
class CascadeStream:
    """+Cascade: Cascade 5 on FLAT's hardware; per step one m1 row of P1 query tiles. BQK and SLNV on
    the 2D array (edge-bound: the BQK tile drains to the 1D array, the SLN tile is loaded back), LM,
    SLN (exp unit + add), SLD, RM, PRM, SPD, RD, SPNV, RNV on the 1D array, AV divides at the end."""

    sh: Shape
    P1: int
    bpc: float
    exp1d_slots: int = 1

    @property
    def blocks(self) -> int:
        return self.sh.NH * math.ceil(self.sh.P / (self.P1 * self.sh.C))

    @property
    def n_steps(self) -> int:
        return self.blocks * self.sh.M1 + 1

    lookback_steps: int = 3

    def ops(self, s: int) -> list[Op]:
        sh, P1, bpc, wb = self.sh, self.P1, self.bpc, self.sh.wb
        R, C, E, F, M1 = sh.R, sh.C, sh.E, sh.F, sh.M1
        ex = self.exp1d_slots + 1
        bq = gemm_slots(R, P1 * C, E, R, C)
        sv = gemm_slots(R, P1 * C, F, R, C)
        one_d = P1 * (R * (2 + ex) + 1 + (self.exp1d_slots + 1) + 2 + 2 * F)
        G = self.blocks * M1
        out: list[Op] = []
        kvb = R * (E + F) * wb
        if s < G:
            if s == 0:
                out.append(Op("KV", "dram", _cyc(kvb, bpc), (), (), (("K", R * E * wb), ("V", R * F * wb))))
            deps = [((s - 1 if s else 0, "KV"), _cyc(kvb, bpc))]
            if s % M1 == 0:
                qb = P1 * C * E * wb
                out.append(Op("Q", "dram", _cyc(qb, bpc), (((s - 1, "BQK"), bq),) if s else (), (), (("Q", qb),)))
                deps.append(((s, "Q"), _cyc(qb, bpc)))
            out.append(Op("BQK", "2d", bq, tuple(deps), (("BQK", R * P1 * C * E),)))
            av = P1 * F if s % M1 == M1 - 1 else 0
            out.append(
                Op(
                    "SM",
                    "1d",
                    one_d + av,
                    (((s, "BQK"), stream_off(bq, one_d, P1, drain_lat(E, R, C))),),
                    (
                        ("LM", P1 * R),
                        ("SLN", P1 * R * ex),
                        ("SLD", P1 * R),
                        ("RM", P1),
                        ("PRM", P1 * (self.exp1d_slots + 1)),
                        ("SPD", P1),
                        ("RD", P1),
                        ("SPNV", P1 * F),
                        ("RNV", P1 * F),
                        ("AV", av),
                    ),
                )
            )
            if s % M1 == M1 - 1:
                ob = P1 * C * F * wb
                out.append(Op("AVw", "dram", _cyc(ob, bpc), (((s, "SM"), one_d + av + C),), (), (("AV", ob),)))
        if 1 <= s <= G:
            c = s - 1
            out.append(
                Op("SLNV", "2d", sv, (((c, "SM"), stream_off(one_d, sv, P1, C + R)),), (("SLNV", R * P1 * C * F),))
            )
            if s < G:
                out.append(
                    Op("KV", "dram", _cyc(kvb, bpc), (((s, "SLNV"), sv),), (), (("K", R * E * wb), ("V", R * F * wb)))
                )
        return out

    def signature(self, s: int) -> tuple:
        return tuple((o.name, o.unit, o.n, tuple((d[0][0] - s, d[0][1], d[1]) for d in o.deps)) for o in self.ops(s))
