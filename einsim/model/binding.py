"""FuseMax-family bindings of Cascade 5 (1-pass attention) onto a 2D + 1D spatial array.

Inputs: `Tiling` (array R x C, head dims E/F, M1 key tiles, P1 query tiles per block, NB blocks =
B*H*P2), a `Binding` (lag L of the epoch software pipeline, BQK|SLNV and SPNV|RNV interleaving, exp
costs) and DRAM bytes/cycle. Output: `FuseMaxStream`, a per-step list of tile `Op`s for `events.run`,
and `instructions(op_shape)` giving the exact per-PE instruction sequence of each op (used by both the
fast model, to compute dependency offsets, and the step simulator, which executes it on values).

Micro-architecture (the contract the step simulator checks): a 2D instruction issued at cycle s runs at
PE(i, j) at s + i + j (instructions and operands travel one hop per cycle); a spatial reduction over
rows leaves PE(R-1, j) and reaches 1D PE j at s + R + j; a 1D instruction issued at h runs at PE j at
h + j and its result reaches the top of 2D column j at h + j + 1. Hence, in issue time: 2D -> 1D lag R,
1D -> 2D lag 1 (`link_latency_cycles`). Tile `t` = (block, m1, p1), stream order block, m1, p1.

With lag L >= 1 (the FuseMax binding) step s issues on the 2D array
`A(s) = SLN(s-L), SLD(s-L), BQK(s) | SLNV(s-L) interleaved, LM(s)` and on the 1D array
`C(s-L) = SPD, RD, SPNV|RNV`, `B(s) = RM, PRM`, then AV (divides) after the last m1 of a query tile.
With L = 0 (+Architecture) one tile is produced and consumed at a time: `A1 = BQK, LM`, `B`,
`A2 = SLN, SLD, SLNV`, `C` (no interleaving).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property, lru_cache

from einsim.model.events import Op

Instr = tuple[str, int, int]  # (einsum, tile, index)


@dataclass(frozen=True)
class Tiling:
    R: int
    C: int
    E: int
    F: int
    M1: int
    P1: int
    NB: int

    @property
    def tiles(self) -> int:
        return self.NB * self.M1 * self.P1


@dataclass(frozen=True)
class Binding:
    lag: int = 3
    interleave: bool = True
    exp2d_slots: int = 7
    exp1d_slots: int = 7
    link: int = 1


def _interleave(a: list[Instr], b: list[Instr], on: bool) -> list[Instr]:
    if not on:
        return a + b
    out: list[Instr] = []
    for k in range(max(len(a), len(b))):
        if k < len(a):
            out.append(a[k])
        if k < len(b):
            out.append(b[k])
    return out


@lru_cache(maxsize=4096)
def layout(kind: str, E: int, F: int, b: Binding, sln: bool, bqk: bool) -> tuple[tuple[str, int], ...]:
    """Per-PE instruction kinds of an op with relative tile ids (0 = SLN tile, 1 = BQK tile)."""
    ins: list[tuple[str, int]] = []
    if kind in ("A", "A2"):
        if sln:
            ins += [("SLN", k) for k in range(b.exp2d_slots)] + [("SLD", 0)]
        bq = [("BQK", e) for e in range(E)] if (bqk and kind == "A") else []
        sv = [("SLNV", f) for f in range(F)] if sln else []
        ins += _interleave(bq, sv, b.interleave)  # type: ignore[arg-type]
        if bqk and kind == "A":
            ins.append(("LM", 0))
    elif kind == "A1":
        ins = [("BQK", e) for e in range(E)] + [("LM", 0)]
    elif kind == "B":
        ins = [("RM", 0)] + [("PRM", k) for k in range(b.exp1d_slots)]
    elif kind == "C":
        spnv = [("SPNV", f) for f in range(F)]
        rnv = [("RNV", f) for f in range(F)]
        ins = [("SPD", 0), ("RD", 0)] + _interleave(spnv, rnv, b.interleave)  # type: ignore[arg-type]
    elif kind == "AV":
        ins = [("AV", f) for f in range(F)]
    return tuple(ins)


@lru_cache(maxsize=4096)
def _pos(lay: tuple[tuple[str, int], ...], einsum: str) -> dict[int, int]:
    return {idx: p for p, (e, idx) in enumerate(lay) if e == einsum}


@lru_cache(maxsize=4096)
def _stream_off(src: tuple, dst: tuple, pairs: tuple[tuple[str, str], ...], lag: int) -> int:
    """max over matching instructions of pos_src + lag - pos_dst (dst.start >= src.start + off)."""
    off = -(10**18)
    for es, ed in pairs:
        ps, pd = _pos(src, es), _pos(dst, ed)
        for idx, p in pd.items():
            if idx in ps:
                off = max(off, ps[idx] + lag - p)
    return off


@lru_cache(maxsize=4096)
def _work(lay: tuple[tuple[str, int], ...]) -> tuple[tuple[str, int], ...]:
    counts: dict[str, int] = {}
    for e, _ in lay:
        counts[e] = counts.get(e, 0) + 1
    return tuple(sorted(counts.items()))


@dataclass(frozen=True)
class FuseMaxStream:
    """Per-step tile ops of a FuseMax-family binding (see module docstring)."""

    t: Tiling
    b: Binding
    dram_bytes_per_cycle: float
    word_bytes: int = 2
    max_kv_slots: int = 64
    """K/V tile slots the global buffer can hold (from the mapping's capacity check)."""

    @cached_property
    def kv_slots(self) -> int:
        """K/V tile slots in use: enough that the next row's tile loads while the array works (the load
        plus the R-cycle release of the freed slot fit in the prefetch window), at least 1 + ceil(L/P1)
        (a slot is held until the SLNV L steps later), at most `max_kv_slots` (then the array waits)."""
        t, L = self.t, self.b.lag
        base = max(2, 1 + math.ceil(L / t.P1))
        if L > 0:
            per_tile = len(layout("A", t.E, t.F, self.b, True, True))
        else:
            per_tile = len(layout("A1", t.E, t.F, self.b, False, True)) + len(
                layout("A2", t.E, t.F, self.b, True, False)
            )
        window = math.ceil((self._cycles(t.R * (t.E + t.F) * self.word_bytes) + t.R) / per_tile)
        want = max(2, 1 + math.ceil((L + window) / t.P1))
        return max(base, min(want, self.max_kv_slots))

    @property
    def n_steps(self) -> int:
        return self.t.tiles + self.b.lag

    @property
    def edge_epochs(self) -> int:
        """Epochs at each end of a block whose ops may differ from the interior (prologue loads, fill)."""
        return self.kv_slots + math.ceil(self.b.lag / self.t.P1) + 2

    @property
    def lookback_steps(self) -> int:
        t = self.t
        return self.kv_slots * t.P1 + self.b.lag + 2

    def _cycles(self, nbytes: int) -> int:
        return max(1, math.ceil(nbytes / self.dram_bytes_per_cycle))

    def _kv_issue(self, r: int) -> int:
        """Step whose tail issues the load of K/V row r (prologue rows at step 0)."""
        if r < self.kv_slots:
            return -1
        return (r - self.kv_slots + 1) * self.t.P1 - 1 + self.b.lag

    def _a_name(self) -> tuple[str, str]:
        return ("A", "A") if self.b.lag > 0 else ("A1", "A2")

    @cached_property
    def _memo(self) -> dict[int, list[Op]]:
        return {}

    def ops(self, s: int) -> list[Op]:
        """The tile ops issued at step s, in program order (memoized)."""
        got = self._memo.get(s)
        if got is None:
            if len(self._memo) > 200_000:
                self._memo.clear()
            got = self._memo[s] = self._ops(s)
        return got

    @cached_property
    def _cache(self) -> dict:
        return {}

    def _lay(self, kind: str, sl: bool = False, bq: bool = False) -> tuple:
        key = ("lay", kind, sl, bq)
        got = self._cache.get(key)
        if got is None:
            got = self._cache[key] = layout(kind, self.t.E, self.t.F, self.b, sl, bq)
        return got

    def _off(self, src: tuple, dst: tuple, pairs: tuple, lag: int) -> int:
        key = ("off", src, dst, pairs, lag)
        got = self._cache.get(key)
        if got is None:
            got = self._cache[key] = _stream_off(self._lay(*src), self._lay(*dst), pairs, lag)
        return got

    def _wk(self, lay_key: tuple) -> tuple:
        key = ("work", lay_key)
        got = self._cache.get(key)
        if got is None:
            got = self._cache[key] = _work(self._lay(*lay_key))
        return got

    def _last(self, lay_key: tuple, einsum: str) -> int:
        key = ("last", lay_key, einsum)
        got = self._cache.get(key)
        if got is None:
            got = self._cache[key] = max(p for p, (e, _) in enumerate(self._lay(*lay_key)) if e == einsum)
        return got

    def _ops(self, s: int) -> list[Op]:
        t, b = self.t, self.b
        L, G, P1, BL = b.lag, t.tiles, t.P1, t.M1 * t.P1
        R, C, E, F, wb = t.R, t.C, t.E, t.F, self.word_bytes
        out: list[Op] = []
        kv_bytes = R * (E + F) * wb
        q_bytes = P1 * C * E * wb
        kv_dram = (("K", R * E * wb), ("V", R * F * wb))
        if s == 0:
            for r in range(min(self.kv_slots, t.NB * t.M1)):
                out.append(Op(f"K{r}", "dram", self._cycles(kv_bytes), (), (), kv_dram))
            for blk in range(min(2, t.NB)):
                out.append(Op(f"Q{blk}", "dram", self._cycles(q_bytes), (), (), (("Q", q_bytes),), long=True))
        bq = s if s < G else None
        sl = s - L if 0 <= s - L < G else None
        B, Ck = ("B",), ("C",)
        if L > 0:
            src_key = ("A", sl is not None, bq is not None)
            out.append(self._a_op("A", s, src_key, bq, sl))
            src = "A"
        else:
            out.append(self._a_op("A1", s, ("A1", False, True), bq, None))
            out.append(
                Op(
                    "B",
                    "1d",
                    len(self._lay(*B)),
                    (((s, "A1"), self._off(("A1", False, True), B, (("LM", "RM"),), R)),),
                    self._wk(B),
                )
            )
            src_key = ("A2", True, False)
            out.append(
                Op(
                    "A2",
                    "2d",
                    len(self._lay(*src_key)),
                    (((s, "B"), self._off(B, src_key, (("RM", "SLN"),), b.link)),),
                    self._wk(src_key),
                )
            )
            src = "A2"
        c_tile = sl if L > 0 else bq
        if c_tile is not None:
            off = self._off(src_key, Ck, (("SLD", "RD"), ("SLNV", "RNV")), R)
            out.append(Op("C", "1d", len(self._lay(*Ck)), (((s, src), off),), self._wk(Ck)))
        if L > 0 and bq is not None:
            off = self._off(src_key, B, (("LM", "RM"),), R)
            out.append(Op("B", "1d", len(self._lay(*B)), (((s, "A"), off),), self._wk(B)))
        if c_tile is not None and (c_tile // P1) % t.M1 == t.M1 - 1:
            av = ("AV",)
            out.append(Op("AV", "1d", len(self._lay(*av)), (), self._wk(av)))
            if c_tile % BL == BL - 1 and s + P1 >= self.n_steps:  # the very end: store at once
                nb = P1 * C * F * wb
                out.append(Op("Sx", "dram", self._cycles(nb), (((s, "AV"), F - 1 + C),), (), (("AV", nb),)))
        # K/V load issued at this step: the slot of row r - kv_slots is freed by the SLNV in this step
        if L <= s and (s - L + 1) % P1 == 0:
            r = (s - L + 1) // P1 + self.kv_slots - 1
            if self.kv_slots <= r < t.NB * t.M1:
                off = self._last(src_key, "SLNV") + R
                out.append(Op("K", "dram", self._cycles(kv_bytes), (((s, src), off),), (), kv_dram))
        # AV store of a block, issued one epoch after its last divide so that the in-order DMA queue
        # does not hold the next K/V prefetches behind a store that is still waiting for the 1D array
        sa = s - P1
        ca = (sa - L if L > 0 else sa) if sa >= 0 else -1
        if 0 <= ca < G and ca % BL == BL - 1:
            nb = P1 * C * F * wb
            out.append(Op("S", "dram", self._cycles(nb), (((sa, "AV"), F - 1 + C),), (), (("AV", nb),)))
        # Q load for block k+2 after the last BQK of block k (double-buffered Q)
        if bq is not None and bq % BL == BL - 1 and bq // BL + 2 < t.NB:
            a_key = ("A", sl is not None, True) if L > 0 else ("A1", False, True)
            off = self._last(a_key, "BQK") + C
            out.append(
                Op("Q", "dram", self._cycles(q_bytes), (((s, a_key[0]), off),), (), (("Q", q_bytes),), long=True)
            )
        return out

    def _a_op(self, name: str, s: int, lay_key: tuple, bq: int | None, sl: int | None) -> Op:
        t, b = self.t, self.b
        deps: list = []
        if sl is not None and b.lag > 0:
            deps.append(((sl, "B"), self._off(("B",), lay_key, (("RM", "SLN"),), b.link)))
        if bq is not None:
            P1, BL = t.P1, t.M1 * t.P1
            if bq % P1 == 0:
                r = bq // P1
                ks = self._kv_issue(r)
                key = (0, f"K{r}") if ks < 0 else (ks, "K")
                deps.append((key, self._cycles(t.R * (t.E + t.F) * self.word_bytes)))
            if bq % BL == 0:
                blk = bq // BL
                key = (0, f"Q{blk}") if blk < 2 else ((blk - 1) * BL - 1, "Q")
                deps.append((key, self._cycles(P1 * t.C * t.E * self.word_bytes)))
        return Op(name, "2d", len(self._lay(*lay_key)), tuple(deps), self._wk(lay_key))

    def signature(self, s: int) -> tuple:
        return tuple((o.name, o.unit, o.n, tuple((d[0][0] - s, d[0][1], d[1]) for d in o.deps)) for o in self.ops(s))
