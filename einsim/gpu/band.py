"""Filters of a score as a diagonal band of keys (pure; imports neither torch nor triton).

Input: the filter predicates on the score Einsum, the query variable p, the key rank M (possibly
partitioned as M = M1 * M0, with m = m1*M0 + m0) and the cascade's size names (M, P, a window W, ...).
Output: a `Band`: query p sees the keys m with  lo <= m - p <= hi, where hi and lo are affine in the
sizes (either may be absent), or None when the filters are not such a band (the lowering then names
the filter in its error).

How: the predicate is evaluated (never parsed by pattern; with the executor's evaluator, over numpy
grids) for every p of a small P and every offset d = m - p over a range much wider than the sizes, for
a dozen size assignments. For each assignment the valid offsets must form one interval independent of
p; its ends are then fitted, exactly, as integer affine functions of the sizes and checked on every
assignment. Causal `m <= p + (M - P)` is
hi = M - P; the sliding window `... and m > p + (M - P) - W` adds lo = M - P - W + 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from einsim.execute import eval_pred
from einsim.ir import Pred


@dataclass(frozen=True)
class Affine:
    """const + Σ coeff·size, integer coefficients."""

    const: int
    coeffs: tuple[tuple[str, int], ...] = ()

    def __call__(self, sizes: dict[str, int]) -> int:
        return self.const + sum(c * sizes[n] for n, c in self.coeffs)

    def __str__(self) -> str:
        parts = [f"{'' if c == 1 else '-' if c == -1 else c}{n}" for n, c in self.coeffs]
        if self.const or not parts:
            parts.append(str(self.const))
        return " + ".join(parts).replace("+ -", "- ")


@dataclass(frozen=True)
class Band:
    """Keys m visible to query p: lo <= m - p <= hi (None: unbounded on that side)."""

    hi: Affine | None
    lo: Affine | None

    def __str__(self) -> str:
        return " <= ".join(x for x in (str(self.lo) if self.lo else "", "m - p", str(self.hi) if self.hi else "") if x)

    def offsets(self, sizes: dict[str, int]) -> tuple[int | None, int | None]:
        return (self.hi(sizes) if self.hi else None, self.lo(sizes) if self.lo else None)


def _assignments(key_rank: str, q_rank: str, parts: tuple[str, ...], extra: tuple[str, ...]) -> list[dict[str, int]]:
    grid = [(8, 8, 2), (12, 5, 4), (9, 1, 3), (16, 16, 4), (7, 3, 1), (20, 11, 5), (13, 13, 8)]
    out = []
    for i, (M, P, M0) in enumerate(grid):
        env = {key_rank: M, q_rank: P}
        if len(parts) == 2:
            env.update({parts[0]: -(-M // M0), parts[1]: M0})
        for j, n in enumerate(extra):
            env[n] = 1 + (3 * i + 5 * j) % 7  # window widths 1..7, varied independently of M and P
        out.append(env)
    return out


def _fit(samples: list[tuple[dict[str, int], int]], names: tuple[str, ...]) -> Affine | None:
    """Exact integer affine fit of value = c0 + Σ c_n·size_n over the samples (None if none exists)."""
    import sympy

    rows = [[1] + [env[n] for n in names] for env, _ in samples]
    rhs = [v for _, v in samples]
    A, b = sympy.Matrix(rows), sympy.Matrix(rhs)
    try:
        sol, params = A.gauss_jordan_solve(b)
    except ValueError:
        return None
    sol = sol.subs({t: 0 for t in params})
    vals = [Fraction(str(v)) for v in sol]
    if any(v.denominator != 1 for v in vals):
        return None
    coeffs = tuple((n, int(v)) for n, v in zip(names, vals[1:]) if v)
    aff = Affine(int(vals[0]), coeffs)
    return aff if all(aff(env) == v for env, v in samples) else None


def band_of(
    preds: list[Pred], p_var: str, key_rank: str, parts: tuple[str, ...], size_names: tuple[str, ...]
) -> Band | None:
    """The band that the conjunction of `preds` selects, or None if it is not a band of m - p."""
    q_rank = p_var.upper()
    extra = tuple(n for n in size_names if n not in (key_rank, q_rank, *parts))
    names = (key_rank, q_rank, *extra)
    his: list[tuple[dict[str, int], int]] = []
    los: list[tuple[dict[str, int], int]] = []
    unbounded_hi = unbounded_lo = None
    for env0 in _assignments(key_rank, q_rank, parts, extra):
        span = 4 * (sum(env0.values()) + 4)
        # every query p against every offset d = m - p, evaluated by the executor's predicate evaluator
        p = np.arange(env0[q_rank])[:, None]
        d = np.arange(-span, span + 1)[None, :]
        grids = {p_var: p, key_rank.lower(): p + d}
        if len(parts) == 2:
            grids[parts[0].lower()], grids[parts[1].lower()] = np.divmod(p + d, env0[parts[1]])
        try:
            valid = np.ones((p.size, d.size), dtype=bool)
            for x in preds:
                valid &= np.broadcast_to(eval_pred(x, grids.__getitem__, env0), valid.shape)
        except KeyError:
            return None
        ends = set()
        for row in valid:
            idx = np.flatnonzero(row)
            if idx.size == 0 or idx[-1] - idx[0] + 1 != idx.size:
                return None  # empty or not one interval of offsets
            ends.add((int(idx[0]) - span, int(idx[-1]) - span))
        if len(ends) != 1:
            return None  # the interval moves with p: not a band of m - p
        lo, hi = ends.pop()
        ub_hi, ub_lo = hi == span, lo == -span
        if unbounded_hi is not None and (ub_hi != unbounded_hi or ub_lo != unbounded_lo):
            return None
        unbounded_hi, unbounded_lo = ub_hi, ub_lo
        sizes = {n: env0[n] for n in names}
        if not ub_hi:
            his.append((sizes, hi))
        if not ub_lo:
            los.append((sizes, lo))
    hi_aff = _fit(his, names) if his else None
    lo_aff = _fit(los, names) if los else None
    if (his and hi_aff is None) or (los and lo_aff is None):
        return None
    return Band(hi_aff, lo_aff)


def is_causal(band: Band, key_rank: str, q_rank: str) -> bool:
    """The band is exactly `m <= p + (M - P)` (bottom-right aligned causal mask)."""
    return band.lo is None and band.hi == Affine(0, ((key_rank, 1), (q_rank, -1)))


__all__ = ["Affine", "Band", "band_of", "is_causal"]

