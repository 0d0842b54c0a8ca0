"""Step-by-step reference simulator (the oracle): per PE, per cycle, moving actual values.

Inputs: a `FuseMaxStream` (small: arrays 2x2 ... 16x16, a few tiles) and Q[E, P], K[E, M], V[F, M]
(float64, one head; P = NB*P1*C, M = M1*R). Output: `StepResult` with the cycle count, the end cycle
of every op, AV[F, P] and link/staging statistics.

What it simulates, independently of the fast model's offset arithmetic: one controller per array issues
the next instruction when PE(0,0) (2D) or PE 0 (1D) holds its operands and, for the first instruction of
a tile op, when the op's DRAM tiles are resident; the instruction then runs at PE(i, j) at issue+i+j
(2D) or PE j at issue+j (1D). Operands travel one hop per cycle over neighbour links (double-buffered
registers), reductions ride the column links, results leave the bottom of each column for the 1D PE
below, and RM returns to the top of the column over a one-cycle feedback link. Every PE checks the tag
of every value it consumes; a missing or wrong operand raises `Hazard` (so a too-early issue is caught
at any PE, not only at the corner). The DRAM channel moves one transfer at a time, ceil(bytes/bw) cycles
each, and starts a transfer only after the buffer slot it overwrites has been read by the feeders.
exp is computed exactly on its last slot (the 6-MAC Taylor series is modelled for time, not value).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from einsim.model.binding import FuseMaxStream, layout

NEG = -math.inf


class Hazard(AssertionError):
    """An instruction ran without its operand (the schedule or a latency assumption is wrong)."""


@dataclass(frozen=True)
class StepResult:
    cycles: int
    op_end: dict[tuple[int, str], int]
    av: np.ndarray
    max_staging_words: int


def _expand(st: FuseMaxStream, s: int, name: str) -> list[tuple[str, int, int]]:
    b, t = st.b, st.t
    L, G = b.lag, t.tiles
    bq = s if s < G else None
    sl = s - L if 0 <= s - L < G else None
    if name == "A":
        lay = layout("A", t.E, t.F, b, sl is not None, bq is not None)
        return [(e, bq if e in ("BQK", "LM") else sl, k) for e, k in lay]  # type: ignore[misc]
    if name == "A1":
        return [(e, s, k) for e, k in layout("A1", t.E, t.F, b, False, True)]
    if name == "A2":
        return [(e, s, k) for e, k in layout("A2", t.E, t.F, b, True, False)]
    c = sl if L > 0 else bq
    if name == "B":
        return [(e, s, k) for e, k in layout("B", t.E, t.F, b, False, False)]
    return [(e, c, k) for e, k in layout(name, t.E, t.F, b, False, False)]  # type: ignore[misc]


def simulate(
    st: FuseMaxStream, Q: np.ndarray, K: np.ndarray, V: np.ndarray, scale: float | None = None, max_cycles: int = 10**6
) -> StepResult:
    t, b = st.t, st.b
    R, C, E, F, P1, M1 = t.R, t.C, t.E, t.F, t.P1, t.M1
    BL = M1 * P1
    scale = 1.0 / math.sqrt(E) if scale is None else scale
    Qs = Q * scale
    progs: dict[str, list] = {"2d": [], "1d": [], "dram": []}
    for s in range(st.n_steps):
        for op in st.ops(s):
            if op.unit == "dram":
                progs["dram"].append(((s, op.name), op))
            elif op.n:
                ins = _expand(st, s, op.name)
                assert len(ins) == op.n
                gates = [k for k, _ in op.deps if k[1][0] in "KQ"]
                for n, x in enumerate(ins):
                    progs[op.unit].append(((s, op.name), x, n == 0, n == len(ins) - 1, gates if n == 0 else []))
    ev: dict[object, int] = {}  # event -> cycle from which it is visible
    fb: list[dict] = [dict() for _ in range(C)]  # 1D -> 2D feedback latches (tag -> (vis, value))
    in1d: list[dict] = [dict() for _ in range(C)]  # 2D -> 1D staging (tag -> (vis, value))
    acc: dict = defaultdict(dict)
    sln: dict = defaultdict(dict)
    rmr: dict = defaultdict(dict)
    state: dict = {}
    tmp: dict = defaultdict(dict)
    av = np.zeros((F, t.NB * P1 * C))
    down_prev: dict = {}
    right_prev: dict = {}
    issued2: list[tuple[int, tuple]] = []
    issued1: list[tuple[int, tuple]] = []
    pc = {"2d": 0, "1d": 0, "dram": 0}
    last_issue = {"2d": -1, "1d": -1}
    dram_free = 0
    dram_end = 0
    op_end: dict = {}
    max_stage = 0

    def key_of(tile: int) -> tuple[int, int, int]:
        return tile // BL, (tile // P1) % M1, tile % P1

    def ready2(x) -> bool:
        e, tile, k = x
        if e == "SLN" and k == 0:
            got = fb[0].get(("RM", tile))
            return got is not None and got[0] <= cyc
        return True

    def ready1(x) -> bool:
        e, tile, k = x
        need = {"RM": ("LM", tile), "RD": ("SLD", tile), "RNV": ("SLNV", tile, k)}.get(e)
        if need is None:
            return True
        got = in1d[0].get(need)
        return got is not None and got[0] <= cyc

    def gate_ok(gates) -> bool:
        for g in gates:
            tag = _load_tag(st, g)
            if ev.get(tag, 10**18) > cyc:
                return False
        return True

    cyc = 0
    while cyc < max_cycles:
        # controllers
        for unit, issued, ready in (("2d", issued2, ready2), ("1d", issued1, ready1)):
            if pc[unit] < len(progs[unit]):
                opkey, x, first, last, gates = progs[unit][pc[unit]]
                if (not first or gate_ok(gates)) and ready(x):
                    issued.append((cyc, x))
                    last_issue[unit] = cyc
                    pc[unit] += 1
                    if last:
                        op_end[opkey] = cyc
        # DRAM channel
        if pc["dram"] < len(progs["dram"]) and dram_free <= cyc:
            opkey, op = progs["dram"][pc["dram"]]
            if all(ev.get(_dram_dep_event(st, opkey, d), 10**18) <= cyc for d in op.deps):
                dram_free = cyc + op.n
                dram_end = max(dram_end, dram_free)
                ev[_load_tag(st, opkey)] = cyc + op.n
                op_end[opkey] = cyc
                pc["dram"] += 1
        down_cur: dict = {}
        right_cur: dict = {}
        # 2D PEs
        keep2 = []
        for s0, x in issued2:
            d = cyc - s0
            if d > R + C - 2:
                continue
            keep2.append((s0, x))
            e, tile, k = x
            blk, m1, p1 = key_of(tile)
            for i in range(max(0, d - C + 1), min(R - 1, d) + 1):
                j = d - i
                m, p = m1 * R + i, (blk * P1 + p1) * C + j
                tag = (e, tile, k)

                out = None
                if e == "BQK":
                    q = Qs[k, p] if i == 0 else _recv(down_prev, (i - 1, j), tag, cyc)
                    kk = K[k, m] if j == 0 else _recv(right_prev, (i, j - 1), tag, cyc)
                    acc[(i, j)][tile] = (acc[(i, j)].get(tile, 0.0) if k else 0.0) + q * kk
                    down_cur[(i, j)] = (tag, q)
                    right_cur[(i, j)] = (tag, kk)
                    if i == 0 and j == C - 1 and tile % BL == BL - 1 and k == E - 1:
                        ev[("qfree", tile // BL)] = cyc + 1
                elif e == "LM":
                    part = NEG if i == 0 else _recv(down_prev, (i - 1, j), tag, cyc)
                    out = max(part, acc[(i, j)][tile])
                elif e == "SLN":
                    if k == 0:
                        if i == 0:
                            got = fb[j].pop(("RM", tile), None)
                            if got is None or got[0] > cyc:
                                raise Hazard(f"cycle {cyc} PE(0,{j}) {tag}: RM not fed back yet")
                            rm = got[1]
                        else:
                            rm = _recv(down_prev, (i - 1, j), tag, cyc)
                        rmr[(i, j)][tile] = rm
                        down_cur[(i, j)] = (tag, rm)
                    if k == b.exp2d_slots - 1:
                        a = acc[(i, j)][tile]
                        rm = rmr[(i, j)].pop(tile)
                        sln[(i, j)][tile] = 0.0 if a == NEG else math.exp(a - rm)
                elif e == "SLD":
                    out = (0.0 if i == 0 else _recv(down_prev, (i - 1, j), tag, cyc)) + sln[(i, j)][tile]
                elif e == "SLNV":
                    bv = V[k, m] if j == 0 else _recv(right_prev, (i, j - 1), tag, cyc)
                    out = (0.0 if i == 0 else _recv(down_prev, (i - 1, j), tag, cyc)) + sln[(i, j)][tile] * bv
                    right_cur[(i, j)] = (tag, bv)
                    if k == F - 1:
                        del acc[(i, j)][tile], sln[(i, j)][tile]
                        if i == R - 1 and j == 0 and tile % P1 == P1 - 1:
                            ev[("kvfree", tile // P1)] = cyc + 1
                if out is not None:
                    if i == R - 1:
                        key = (e, tile) if e != "SLNV" else (e, tile, k)
                        in1d[j][key] = (cyc + 1, out)
                    else:
                        down_cur[(i, j)] = (tag, out)
        issued2[:] = keep2
        # 1D PEs
        keep1 = []
        for h0, x in issued1:
            j = cyc - h0
            if j > C - 1:
                continue
            keep1.append((h0, x))
            e, tile, k = x
            blk, m1, p1 = key_of(tile)
            p = (blk * P1 + p1) * C + j
            if m1 == 0 and e == "RM":
                state[("rm", p)] = NEG
            if m1 == 0 and e == "SPD":
                state[("rd", p)] = 0.0
                for f in range(F):
                    state[("rnv", f, p)] = 0.0
            tv = tmp[(j, tile)]

            if e == "RM":
                old = state[("rm", p)]
                new = max(old, _take(in1d[j], ("LM", tile), cyc, j))
                tv["old"], tv["new"] = old, new
                fb[j][("RM", tile)] = (cyc + b.link, new)  # feedback link to the top of column j
            elif e == "PRM" and k == b.exp1d_slots - 1:
                tv["prm"] = 0.0 if tv["old"] == NEG else math.exp(tv["old"] - tv["new"])
                state[("rm", p)] = tv["new"]
            elif e == "SPD":
                tv["spd"] = state[("rd", p)] * tv["prm"]
            elif e == "RD":
                state[("rd", p)] = _take(in1d[j], ("SLD", tile), cyc, j) + tv["spd"]
            elif e == "SPNV":
                tv[("spnv", k)] = state[("rnv", k, p)] * tv["prm"]
            elif e == "RNV":
                state[("rnv", k, p)] = _take(in1d[j], ("SLNV", tile, k), cyc, j) + tv.pop(("spnv", k))
                if k == F - 1:
                    del tmp[(j, tile)]
            elif e == "AV":
                av[k, p] = state[("rnv", k, p)] / state[("rd", p)]
                if k == F - 1 and j == C - 1 and tile % BL == BL - 1:
                    ev[("avdone", tile // BL)] = cyc + 1
        issued1[:] = keep1
        max_stage = max(max_stage, max(len(x) for x in in1d))
        down_prev, right_prev = down_cur, right_cur
        cyc += 1
        done = all(pc[u] == len(progs[u]) for u in pc) and not issued1 and not issued2
        if done and cyc >= dram_end:
            break
    else:
        raise Hazard("step simulator did not finish (deadlock)")
    cycles = max(last_issue["2d"] + 1, last_issue["1d"] + 1, dram_end)
    return StepResult(cycles=cycles, op_end=op_end, av=av, max_staging_words=max_stage)


def _recv(reg: dict, src: tuple[int, int], tag: tuple, cyc: int) -> float:
    """The value a neighbour sent over a link last cycle; it must carry the expected instruction tag."""
    got = reg.get(src)
    if got is None or got[0] != tag:
        raise Hazard(f"cycle {cyc}: PE below/right of {src} expected {tag}, the link holds {got and got[0]}")
    return got[1]


def _take(store: dict, key: tuple, cyc: int, j: int) -> float:
    """A value the 2D array delivered to 1D PE j; it must have arrived by this cycle."""
    got = store.pop(key, None)
    if got is None or got[0] > cyc:
        raise Hazard(f"cycle {cyc}: 1D PE {j} needs {key}, which has not arrived")
    return got[1]


def _load_tag(st: FuseMaxStream, key: tuple[int, str]) -> tuple:
    """Event set when a DRAM op completes, named by what it loads."""
    s, name = key
    t = st.t
    if name[0] == "K":
        if len(name) > 1:
            return ("K", int(name[1:]))
        return ("K", (s - st.b.lag + 1) // t.P1 + st.kv_slots - 1)
    if name[0] == "Q":
        if len(name) > 1:
            return ("Q", int(name[1:]))
        return ("Q", s // (t.M1 * t.P1) + 2)
    return ("S", s)


def _dram_dep_event(st: FuseMaxStream, opkey: tuple[int, str], dep) -> tuple:
    """The feeder/1D event a DRAM op waits for (a buffer slot read for the last time, or AV written)."""
    s, name = opkey
    t = st.t
    if name == "K":
        r = (s - st.b.lag + 1) // t.P1 + st.kv_slots - 1
        return ("kvfree", r - st.kv_slots)
    if name == "Q":
        return ("qfree", s // (t.M1 * t.P1))
    s_av = dep[0][0]  # the step of the block's last AV op
    c = s_av - st.b.lag if st.b.lag else s_av
    return ("avdone", c // (t.M1 * t.P1))


@dataclass(frozen=True)
class GemmStepResult:
    cycles: int
    """Cycle after the last output left the bottom edge."""
    out: np.ndarray
    max_latched: int
    """Most values waiting in one PE (accumulator results not yet in the drain chain)."""


def gemm_os(A: np.ndarray, B: np.ndarray, R: int, C: int, slots_per_tile: int | None = None) -> GemmStepResult:
    """Output-stationary GEMM out[m, p] = sum_k A[k, m] B[k, p] on an R x C array, tile after tile.

    Tile n (R rows of m x C columns of p, p fastest) issues at n * slots_per_tile (default max(K, R),
    the fast model's edge-bound rate); PE(i, j) does MAC k at issue + i + j + k. A finished accumulator
    moves to an output latch, from which it enters the column's drain chain (one register per PE,
    shifting one hop down per cycle; the bottom PE emits one value per cycle). Raises `Hazard` if a PE
    would need a third buffer (accumulator + latch both full), i.e. if the issue rate outruns the drain.
    """
    K, M = A.shape
    P = B.shape[1]
    tm, tp = M // R, P // C
    ii = slots_per_tile or max(K, R)
    tiles = [(a, b) for a in range(tm) for b in range(tp)]
    done_at: dict[int, list] = defaultdict(list)  # cycle -> [(i, j, value, (m, p))]
    for n, (a, b) in enumerate(tiles):
        s = n * ii
        blk = A[:, a * R : (a + 1) * R].T @ B[:, b * C : (b + 1) * C]  # the values the MACs accumulate
        for i in range(R):
            for j in range(C):
                acc = 0.0
                for k in range(K):  # MAC k at s + i + j + k; operands arrive skewed along row i / column j
                    acc += A[k, a * R + i] * B[k, b * C + j]
                assert abs(acc - blk[i, j]) <= 1e-9 * (1 + abs(acc))
                done_at[s + i + j + K - 1].append((i, j, acc, (a * R + i, b * C + j)))
    latch: dict[tuple[int, int], list] = defaultdict(list)
    drain: dict[tuple[int, int], tuple] = {}
    out = np.zeros((M, P))
    left = M * P
    cyc = 0
    max_latched = 0
    while left:
        for j in range(C):  # the bottom emits, then every drain register moves down if the next is free
            if (R - 1, j) in drain:
                _, (m, p) = drain.pop((R - 1, j))
                out[m, p] = _
                left -= 1
            for i in range(R - 2, -1, -1):
                if (i, j) in drain and (i + 1, j) not in drain:
                    drain[(i + 1, j)] = drain.pop((i, j))
            for i in range(R):
                if (i, j) not in drain and latch[(i, j)]:
                    drain[(i, j)] = latch[(i, j)].pop(0)
        for i, j, v, mp in done_at.pop(cyc, ()):
            latch[(i, j)].append((v, mp))
            if len(latch[(i, j)]) > 1:
                raise Hazard(f"cycle {cyc}: PE({i},{j}) finished a tile while two results were waiting")
            max_latched = max(max_latched, len(latch[(i, j)]))
        cyc += 1
    return GemmStepResult(cycles=cyc, out=out, max_latched=max_latched)
