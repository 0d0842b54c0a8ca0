"""Shared-memory bank conflicts of a compiled kernel, from its SASS (pure Python: no GPU, no triton).

Input: the parsed SASS of a kernel (einsim.gpu.sass.parse). Output: for each shared-memory load or store
whose lanes' addresses the analysis can follow, its wavefronts — the passes the 32 banks of 4 bytes need to
serve one warp's access — over the conflict-free number (`conflict_factors`), which the SASS simulation
multiplies the access's time on the shared-memory data path by.

How: the instructions are evaluated once, in address order, for the 32 lanes of the program's first warp
(straight-line: loops are entered once, branches ignored), tracking only integer values that depend on the
thread index. `S2R SR_TID.X` and `SR_LANEID` give the lanes' indices; uniform registers, constants and
block indices are uniform unknowns, taken as 0 where they are added (a common offset moves every lane by
the same amount — the shared-memory window and stage bases, which are aligned) and unknown where they
would scale or mask a lane's value. Integer arithmetic, shifts, bitwise LUT ops, sign/zero extension and
moves are followed; anything else (loads, floating point, predicated or 64-bit results) makes a register
unknown. Accesses through an unknown register get no factor (conflict-free assumed).
Wavefronts (Hopper): 32-bit and narrower accesses serve all 32 lanes in one phase, 64-bit ones in two
phases of 16 lanes and 128-bit ones in four of 8; `ldmatrix`/`stmatrix` (LDSM/STSM .x1/.x2/.x4) read one
8 x 16-byte matrix per phase, its row addresses from 8 lanes. A phase takes as many wavefronts as the
most distinct 4-byte words any one bank holds (lanes on the same word are served together). Checked
against Nsight Compute's `L1 Wavefronts Shared` per instruction (tests/test_banks.py,
studies/gpu_sass_profile.py). Not modelled: predicated-off lanes (every lane counts), lanes of the
other warps (their addresses differ by a warp offset that is usually uniform within a warp anyway).
"""

from __future__ import annotations

import functools
import re

LANES = 32
BANKS = 32
_MASK = 0xFFFFFFFF
_SHARED = ("LDS", "STS", "LDSM", "STSM")
#: a value: None (unknown) or (the lanes' values, whether an unknown offset common to all lanes is added)
_ZERO = ((0,) * LANES, False)
_UNIFORM = ((0,) * LANES, True)


def _value(tok: str, regs: dict):
    """A source operand's value."""
    tok = tok.strip()
    if tok.startswith(("~", "!", "|")):
        return None
    neg = tok.startswith("-")
    tok = tok.lstrip("-")
    if re.fullmatch(r"0x[0-9a-f]+|\d+", tok):
        v = int(tok, 0)
        return ((-v if neg else v) & _MASK,) * LANES, False
    tok = tok.split(".")[0]
    if tok in ("RZ", "URZ"):
        return _ZERO
    if tok.startswith("UR") or tok.startswith("c["):
        return None if neg else _UNIFORM
    v = regs.get(tok) if re.fullmatch(r"R\d+", tok) else None
    if neg and v is not None:
        return tuple(-x & _MASK for x in v[0]), v[1]
    return v


def _const(v) -> int | None:
    """The value if it is the same known number in every lane."""
    if v is None or v[1] or any(x != v[0][0] for x in v[0]):
        return None
    return v[0][0]


def _exact(f, *args):
    """Lane by lane, for operations that need every input exactly (no unknown offset)."""
    if any(a is None or a[1] for a in args):
        return None
    return tuple(f(*xs) & _MASK for xs in zip(*(a[0] for a in args))), False


def _add(*args):
    if any(a is None for a in args):
        return None
    return tuple(sum(xs) & _MASK for xs in zip(*(a[0] for a in args))), any(a[1] for a in args)


def _mul(a, b):
    """a·b: exact, or an offset value scaled by a known constant."""
    for x, y in ((a, b), (b, a)):
        k = _const(y)
        if k is not None and x is not None:
            return tuple(v * k & _MASK for v in x[0]), x[1] and k != 0
    return _exact(lambda x, y: x * y, a, b)


def _lut(lut: int, a: int, b: int, c: int) -> int:
    out = 0
    for bit in range(32):
        idx = ((a >> bit) & 1) << 2 | ((b >> bit) & 1) << 1 | ((c >> bit) & 1)
        out |= ((lut >> idx) & 1) << bit
    return out


def _evaluate(op: str, src: list, regs: dict):
    """The value an integer instruction writes, or None."""
    base = op.split(".")[0]
    mods = op.split(".")[1:]
    v = [_value(s, regs) for s in src]
    if base == "MOV" and v:
        return v[0]
    if base == "CS2R" and src and src[0] == "SRZ":
        return _ZERO
    if base == "S2R" and src:
        return (tuple(range(LANES)), False) if src[0] in ("SR_TID.X", "SR_LANEID") else _UNIFORM
    if base == "IADD3" and "X" not in mods and len(v) >= 3:
        return _add(*v[-3:])
    if base == "VIADD" and len(v) == 2:
        return _add(v[0], v[1])
    if base == "IMAD" and len(v) == 3 and not {"HI", "WIDE", "X"} & set(mods):
        a, b, c = v
        if "MOV" in mods:
            return c
        return _add(_mul(a, b), c)
    if base == "LEA" and "HI" in mods and "X" not in mods and len(v) == 4 and _const(v[2]) == 0:
        k = _const(v[3])  # b + the high word of (c:a) << k, c = 0: b + (a >> (32 - k))
        return None if k is None else _add(_exact(lambda x: x >> (32 - k), v[0]), v[1])
    if base == "SEL" and len(v) >= 2:  # one of two values, by a predicate: what they have in common
        return _merge(v[0], v[1])
    if base == "LEA" and "HI" not in mods and len(v) == 3:
        k = _const(v[2])
        return None if k is None else _add(_mul(v[0], (((1 << k) & _MASK,) * LANES, False)), v[1])
    if base == "SHF" and len(v) == 3:
        lo, sh, hi = v
        k = _const(sh)
        if k is None:
            return None
        if "L" in mods and _const(hi) == 0:
            return _mul(lo, (((1 << k) & _MASK,) * LANES, False))
        if "R" in mods and "HI" in mods and _const(lo) == 0:
            if "S32" in mods:
                return _exact(lambda x: ((x ^ 0x80000000) - 0x80000000) >> k, hi)
            return _exact(lambda x: x >> k, hi)
        return None
    if base == "LOP3" and len(v) >= 4:
        lut = _const(v[3])
        return None if lut is None else _exact(lambda x, y, z: _lut(lut, x, y, z), *v[:3])
    if base == "SGXT" and len(v) == 2:
        n = _const(v[1])
        if n is None or n == 0:
            return None
        if "U32" in mods:
            return _exact(lambda x: x & ((1 << n) - 1), v[0])
        return _exact(lambda x: (x & ((1 << n) - 1)) - ((x >> (n - 1) & 1) << n), v[0])
    return None


def _merge(a, b):
    """The value on a join of two paths: equal values stay; values differing by a common offset keep
    their lane pattern with an unknown offset; otherwise unknown."""
    if a == b:
        return a
    if a is None or b is None:
        return None
    rel_a = tuple((x - a[0][0]) & _MASK for x in a[0])
    rel_b = tuple((x - b[0][0]) & _MASK for x in b[0])
    return (rel_a, True) if rel_a == rel_b else None


def _blocks(ins) -> tuple[list[tuple[int, int]], dict[int, list[int]]]:
    """Basic blocks (first, last instruction index) and their successors (block indices)."""
    at = {x.addr: i for i, x in enumerate(ins)}
    targets = {}
    for i, x in enumerate(ins):
        m = re.search(r"\bBRA(?:\.\w+)*\s+(0x[0-9a-f]+)", x.text)
        if m and int(m.group(1), 16) in at:
            targets[i] = at[int(m.group(1), 16)]
    leaders = {0} | set(targets.values()) | {i + 1 for i, x in enumerate(ins) if x.base in ("BRA", "EXIT", "BRX")}
    starts = sorted(i for i in leaders if i < len(ins))
    blocks = [(s, (starts[k + 1] if k + 1 < len(starts) else len(ins)) - 1) for k, s in enumerate(starts)]
    block_of = {s: k for k, (s, _) in enumerate(blocks)}
    succ: dict[int, list[int]] = {}
    for k, (_, last) in enumerate(blocks):
        x = ins[last]
        guarded = x.guarded
        nxt = [k + 1] if k + 1 < len(blocks) else []
        if x.base == "BRA" and last in targets:
            succ[k] = [block_of[targets[last]]] + (nxt if guarded else [])
        elif x.base in ("EXIT", "BRX"):
            succ[k] = nxt if guarded else []
        else:
            succ[k] = nxt
    return blocks, succ


def _transfer(ins, first: int, last: int, regs: dict, out: dict | None) -> dict:
    regs = dict(regs)
    for x in ins[first : last + 1]:
        op, src = x.op, x.operands
        base = op.split(".")[0]
        if out is not None and base in _SHARED:
            m = re.search(r"\[([^\]]*)\]", x.text)
            parts = [p.strip() for p in m.group(1).split("+")] if m else []
            addr = _add(*[_value(p, regs) for p in parts]) if parts else None
            if addr is not None:
                out[x.addr] = (op, addr[0])
        if len(src) > 1 and re.fullmatch(r"P[0-6T]", src[0]):  # a predicate result first (LOP3 P3, R0, ...)
            src = src[1:]
        if not src or not re.fullmatch(r"R\d+", src[0]):
            continue
        guarded = x.guarded
        val = _evaluate(op, src[1:], regs)
        n = int(src[0][1:])
        for k in range(_width(op)):  # a wide result writes the registers after its destination too
            reg = f"R{n + k}"
            new = val if k == 0 or base == "CS2R" else None
            regs[reg] = _merge(regs.get(reg), new) if guarded else new
    return regs


@functools.lru_cache(maxsize=256)
def lane_addresses(ins) -> dict[int, tuple[str, tuple[int, ...]]]:
    """For each shared-memory access whose address the analysis follows: address → (opcode, the first
    warp's 32 lanes' byte addresses, up to an offset common to all lanes)."""
    if not ins:
        return {}
    blocks, succ = _blocks(ins)
    state_in: dict[int, dict] = {0: {}}
    work = [0]
    visits = 0
    while work and visits < 50 * len(blocks):
        k = work.pop()
        visits += 1
        regs_out = _transfer(ins, *blocks[k], state_in[k], None)
        for j in succ.get(k, []):
            if j not in state_in:
                state_in[j] = regs_out
                work.append(j)
                continue
            old = state_in[j]
            merged = {r: _merge(old[r], regs_out[r]) if r in regs_out else old[r] for r in old}
            merged.update({r: v for r, v in regs_out.items() if r not in old})
            if merged != old:
                state_in[j] = merged
                work.append(j)
    out: dict = {}
    for k, regs in state_in.items():
        _transfer(ins, *blocks[k], regs, out)
    return out


def _width(op: str) -> int:
    """Registers an instruction writes from its destination on."""
    base, mods = op.split(".")[0], op.split(".")[1:]
    if base == "HMMA":
        return 4
    if base in ("LDSM", "STSM"):
        return next((int(m) for m in mods if m in ("2", "4")), 1)
    if "128" in mods:
        return 4
    if "64" in mods or "WIDE" in mods or base == "CS2R":
        return 2
    return 1


def _phase_wavefronts(words: list[int]) -> int:
    banks: dict[int, set[int]] = {}
    for w in words:
        banks.setdefault(w % BANKS, set()).add(w)
    return max((len(s) for s in banks.values()), default=1)


def wavefronts(op: str, addresses: tuple[int, ...]) -> tuple[int, int]:
    """(wavefronts, conflict-free wavefronts) of one warp's shared-memory access."""
    base, mods = op.split(".")[0], op.split(".")[1:]
    if base in ("LDSM", "STSM"):
        n = next((int(m) for m in mods if m in ("2", "4")), 1)
        phases = [[a // 4 + k for a in addresses[8 * p : 8 * p + 8] for k in range(4)] for p in range(n)]
        return sum(_phase_wavefronts(ph) for ph in phases), n
    size = 16 if "128" in mods else 8 if "64" in mods else 4
    per = LANES * 4 // size  # lanes per phase: 32, 16 or 8
    phases = [
        [a // 4 + k for a in addresses[p : p + per] for k in range(max(1, size // 4))] for p in range(0, LANES, per)
    ]
    return sum(_phase_wavefronts(ph) for ph in phases), len(phases)


@functools.lru_cache(maxsize=256)
def conflict_factors(ins) -> dict[int, float]:
    """Address → wavefronts over the conflict-free number, for the shared-memory accesses with conflicts."""
    out = {}
    for addr, (op, lanes) in lane_addresses(ins).items():
        got, ideal = wavefronts(op, lanes)
        if got > ideal:
            out[addr] = got / ideal
    return out
