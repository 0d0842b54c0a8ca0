"""Reference executor: evaluates any cascade in float64 numpy. The semantic oracle for einsim.

Input: a validated `Cascade`, input arrays (shaped by their declared ranks) and rank sizes (those
not implied by the inputs, e.g. M0). Output: a dict of every tensor's float64 array; iterative
tensors keep all generations (their iterative rank has size + 1).

Semantics (dense, with EDGE merges): every tensor point is present or absent; absent points hold the
tensor's empty value. Filters and out-of-range rank expressions cull iteration points; a map's merge
decides from operand presence whether its compute runs (unvisited points are absent); reductions fold
the present points (merge `pass`: every un-culled point); an output point with nothing present keeps
the output's empty value. Einsums that iterate the iterative rank run generation by generation.
"""

from __future__ import annotations

import math
import string
from collections.abc import Callable, Mapping

import networkx as nx
import numpy as np

from einsim.errors import EinsimError
from einsim.graph import acyclic_view
from einsim.ir import (
    Access,
    Apply,
    Cascade,
    Cmp,
    Const,
    Coord,
    Einsum,
    Expr,
    IExpr,
    INum,
    ISize,
    IVar,
    Name,
    Not,
    Pred,
    accesses,
)
from einsim.operators import MERGES, get_operator
from einsim.sizes import resolve_sizes

_LETTERS = string.ascii_letters


def storage_shape(c: Cascade, tensor: str, sizes: Mapping[str, int]) -> tuple[int, ...]:
    shape = [sizes[r] for r in c.tensor_ranks[tensor]]
    pos = c.iterative_tensors.get(tensor)
    if pos is not None:
        shape[pos] += 1
    return tuple(shape)


def eval_scalars(c: Cascade, sizes: Mapping[str, int]) -> dict[str, float]:
    vals: dict[str, float] = {}

    def ev(e: Expr) -> float:
        if isinstance(e, Const):
            return e.value
        if isinstance(e, Name):
            if e.name in vals:
                return vals[e.name]
            if e.name in sizes:
                return float(sizes[e.name])
            raise EinsimError(f"{c.source}: scalar expression uses {e.name!r}, which is neither a scalar nor a size.")
        if isinstance(e, Apply):
            op = get_operator(e.op)
            with np.errstate(all="ignore"):
                return float(op.fn(*[np.float64(ev(a)) for a in e.args]))  # type: ignore[union-attr]
        raise EinsimError(f"{c.source}: scalars cannot read tensors.")

    for s in c.scalars:
        vals[s.name] = ev(s.expr)
    return vals


def eval_iexpr(x: IExpr, var: Callable[[str], object], sizes: Mapping[str, int]):
    """An index expression with rank variables from `var(name)` (ints or broadcastable numpy grids) and
    sizes from `sizes`; `//` and `%` floor as Python's do."""
    if isinstance(x, IVar):
        return var(x.name)
    if isinstance(x, ISize):
        return sizes[x.name]
    if isinstance(x, INum):
        return x.value
    a, b = eval_iexpr(x.a, var, sizes), eval_iexpr(x.b, var, sizes)
    return {"+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b, "//": lambda: a // b,
            "%": lambda: a % b}[x.op]()


def eval_pred(p: Pred, var: Callable[[str], object], sizes: Mapping[str, int]):
    """A filter predicate, element-wise over the grids `var` returns (see `eval_iexpr`)."""
    if isinstance(p, Cmp):
        a, b = eval_iexpr(p.a, var, sizes), eval_iexpr(p.b, var, sizes)
        return {"==": np.equal, "!=": np.not_equal, "<": np.less, "<=": np.less_equal, ">": np.greater,
                ">=": np.greater_equal}[p.op](a, b)
    if isinstance(p, Not):
        return np.logical_not(eval_pred(p.a, var, sizes))
    f = np.logical_and if p.op == "and" else np.logical_or
    return f(eval_pred(p.a, var, sizes), eval_pred(p.b, var, sizes))


class _EinsumEval:
    """Evaluates one Einsum over its iteration space (with some variables fixed)."""

    def __init__(self, c, e, sizes, scalars, store, fixed):
        self.c, self.e, self.sizes, self.scalars, self.store, self.fixed = c, e, sizes, scalars, store, fixed
        self.order = tuple(v for v in e.iteration_vars if v not in fixed)
        self.ext = tuple(sizes[v.upper()] for v in self.order)
        self.nd = len(self.order)
        self.cull: np.ndarray | None = None

    def grid(self, v: str) -> np.ndarray | int:
        if v in self.fixed:
            return self.fixed[v]
        ax = self.order.index(v)
        shape = [1] * self.nd
        shape[ax] = self.ext[ax]
        return np.arange(self.ext[ax]).reshape(shape)

    def iexpr(self, x: IExpr):
        return eval_iexpr(x, self.grid, self.sizes)

    def pred(self, p: Pred):
        return eval_pred(p, self.grid, self.sizes)

    def add_cull(self, mask) -> None:
        mask = np.asarray(mask, dtype=bool).reshape(np.shape(mask) if np.ndim(mask) == self.nd else [1] * self.nd)
        self.cull = mask if self.cull is None else (self.cull & mask)

    def shaped(self, x) -> np.ndarray:
        a = np.asarray(x, dtype=np.float64)
        return a if a.ndim == self.nd else a.reshape([1] * self.nd)

    def access(self, acc: Access):
        vals, pres = self.store[acc.tensor]
        idx, inrange = [], None
        for ix, n in zip(acc.indices, vals.shape):
            i = self.iexpr(ix.expr)
            ok = (np.asarray(i) >= 0) & (np.asarray(i) < n)
            inrange = ok if inrange is None else (inrange & ok)
            idx.append(np.clip(i, 0, n - 1))
            if ix.cond is not None:
                self.add_cull(self.pred(ix.cond))
        if not idx:
            return self.shaped(vals[()]), (None if pres is None else np.asarray(pres[()]).reshape([1] * self.nd))
        bidx = np.broadcast_arrays(*[np.asarray(i).reshape(np.shape(i) if np.ndim(i) == self.nd else [1] * self.nd)
                                     for i in idx])
        v = vals[tuple(bidx)]
        p = None if pres is None else pres[tuple(bidx)]
        inrange = np.asarray(inrange).reshape(v.shape) if np.ndim(inrange) == self.nd else np.asarray(inrange)
        if not np.all(inrange):
            v = np.where(inrange, v, self.c.empty_values.get(acc.tensor, 0.0))
            p = inrange if p is None else (p & inrange)
        return self.shaped(v), p

    def expr(self, x: Expr):
        if isinstance(x, Access):
            return self.access(x)
        if isinstance(x, Const):
            return self.shaped(x.value), None
        if isinstance(x, Coord):
            return self.shaped(self.grid(x.name)), None
        if isinstance(x, Name):
            if x.name in self.scalars:
                return self.shaped(self.scalars[x.name]), None
            if x.name in self.fixed or x.name in self.order:
                return self.shaped(self.grid(x.name)), None
            return self.shaped(float(self.sizes[x.name])), None
        op = get_operator(x.op)
        args = [self.expr(a) for a in x.args]
        table = MERGES[x.merge or op.default_merge]  # type: ignore[union-attr]
        pa = args[0][1]
        pb = args[1][1] if len(args) == 2 else None
        if x.op == "div":  # FuseMax's ÷(←): a zero divisor counts as empty, so 0/0 is never computed
            nz = args[1][0] != 0
            pb = nz if pb is None else (pb & nz)
        with np.errstate(all="ignore"):
            vals = op.fn(*[a[0] for a in args])  # type: ignore[union-attr]
        visited = _visited(table, pa, pb, unary=len(args) == 1)
        if visited is not None and not np.all(visited):
            vals = np.where(visited, vals, self.c.empty_values.get(self.e.output, 0.0))
        return self.shaped(vals), visited

    def run(self):
        e = self.e
        for ix in e.lhs.indices:
            if ix.cond is not None:
                self.add_cull(self.pred(ix.cond))
        reduced = tuple(i for i, v in enumerate(self.order) if v in e.reduced_vars)
        rop = get_operator(e.effective_reduce_op)
        top = e.rhs
        if (reduced and e.effective_reduce_op == "add" and isinstance(top, Apply) and top.op == "mul"
                and (top.merge or "inter") == "inter" and e.reduce_merge in (None, "union")):
            (a, pa), (b, pb) = self.expr(top.args[0]), self.expr(top.args[1])
            # collect culls from the operands first, then contract
            za = a if pa is None else np.where(pa, a, 0.0)
            zb = b if pb is None else np.where(pb, b, 0.0)
            vals = self.contract([za, zb, None if self.cull is None else self.cull.astype(np.float64)], reduced)
            if pa is None and pb is None and self.cull is None:
                pres = None
            else:
                ones = [np.ones([1] * self.nd) if p is None else p.astype(np.float64) for p in (pa, pb)]
                cnt = self.contract(ones + [None if self.cull is None else self.cull.astype(np.float64)], reduced)
                pres = cnt > 0
            return vals, pres
        vals, pres = self.expr(top)
        if self.cull is not None:
            pres = self.cull if pres is None else (pres & self.cull)
        if e.reduce_merge == "pass":
            pres = self.cull
        if reduced:
            full = tuple(self.ext)
            vals = np.broadcast_to(vals, full)
            if pres is not None:
                pres = np.broadcast_to(pres, full)
                vals = np.where(pres, vals, rop.identity)  # type: ignore[union-attr]
                pres = np.any(pres, axis=reduced, keepdims=True)
            with np.errstate(all="ignore"):
                vals = rop.reduce_fn(vals, axis=reduced, keepdims=True)  # type: ignore[union-attr]
        return vals, pres

    def contract(self, ops, reduced) -> np.ndarray:
        subs, arrs = [], []
        for arr in ops:
            if arr is None:
                continue
            arr = np.asarray(arr, dtype=np.float64)
            letters = "".join(_LETTERS[i] for i, n in enumerate(arr.shape) if n != 1)
            arrs.append(arr.reshape([n for n in arr.shape if n != 1]))
            subs.append(letters)
        present = set("".join(subs))
        keep = [i for i in range(self.nd) if i not in reduced]
        out = "".join(_LETTERS[i] for i in keep if _LETTERS[i] in present)
        res = np.einsum(",".join(subs) + "->" + out, *arrs, optimize=len(arrs) > 2)
        shape = [self.ext[i] if (i in keep and _LETTERS[i] in present) else 1 for i in range(self.nd)]
        return np.asarray(res).reshape(shape)

    def write(self, vals, pres) -> None:
        e = self.e
        lhs_axes = [self.order.index(v) for v in e.lhs_vars if v in self.order]
        target = [self.ext[i] if i in lhs_axes else 1 for i in range(self.nd)]
        vals = np.broadcast_to(vals, target)
        pres = None if pres is None else np.broadcast_to(pres, target)
        idx = []
        for ix in e.lhs.indices:
            i = self.iexpr(ix.expr)
            idx.append(np.broadcast_to(np.asarray(i), target) if np.ndim(i) else np.full(target, i))
        store_v, store_p = self.store[e.output]
        sel = tuple(idx)
        if not sel:  # a 0-rank output
            if pres is None or bool(np.all(pres)):
                store_v[()] = float(np.asarray(vals).reshape(()))
                store_p[()] = True
            return
        if pres is None:
            store_v[sel] = vals
            store_p[sel] = True
        else:
            store_v[tuple(i[pres] for i in sel)] = vals[pres]
            store_p[tuple(i[pres] for i in sel)] = True


class _EinsimEvalForCounts(_EinsumEval):
    """The filters of one Einsum as a boolean mask over its iteration variables (for op counts)."""

    def __init__(self, c, e, sizes):
        super().__init__(c, e, sizes, eval_scalars(c, sizes), {}, {})

    def filter_mask(self):
        for acc in (self.e.lhs, *accesses(self.e.rhs)):
            for ix in acc.indices:
                if ix.cond is not None:
                    self.add_cull(self.pred(ix.cond))
        return None if self.cull is None else np.broadcast_to(self.cull, self.cull.shape)

    def mask_vars(self, mask) -> tuple[str, ...]:
        return tuple(v for v, n in zip(self.order, mask.shape) if n != 1)


def _visited(table, pa, pb, unary: bool):
    t0, t1, t2, t3 = table
    if unary:
        if pa is None:
            return None if t3 else np.zeros((), bool)
        return (~pa & t1) | (pa & t3)
    if pa is None and pb is None:
        return None if t3 else np.zeros((), bool)
    A = np.ones((), bool) if pa is None else pa
    B = np.ones((), bool) if pb is None else pb
    v = (~A & ~B & t0) | (~A & B & t1) | (A & ~B & t2) | (A & B & t3)
    return None if np.all(v) else v


def execution_plan(c: Cascade) -> list[tuple[str, list[Einsum]]]:
    """Steps in order: ("once", [einsum]) or ("loop", [einsums run per generation of the iterative rank])."""
    g = acyclic_view(c.graph)
    loopvar = c.stop.var if c.stop else None
    loop = [e for e in c.main if loopvar and loopvar in e.iteration_vars]
    loop_names = {e.name for e in loop}
    h = nx.DiGraph()
    node_of = {e.name: ("@loop" if e.name in loop_names else e.name) for e in c.einsums}
    h.add_nodes_from(set(node_of.values()))
    for u, v in g.edges():
        if u in node_of and v in node_of and node_of[u] != node_of[v]:
            h.add_edge(node_of[u], node_of[v])
    try:
        order = list(nx.lexicographical_topological_sort(h, key=lambda n: _pos(c, n)))
    except nx.NetworkXUnfeasible:
        raise EinsimError(
            f"{c.source}: an Einsum outside the iteration over {loopvar} both feeds it and consumes its results. "
            f"Make that Einsum iterate {loopvar} too, or move it before or after the iteration."
        ) from None
    sub = g.subgraph(loop_names)
    loop_order = list(nx.lexicographical_topological_sort(sub, key=lambda n: _pos(c, n)))
    steps: list[tuple[str, list[Einsum]]] = []
    for n in order:
        if n == "@loop":
            steps.append(("loop", [c.einsum(x) for x in loop_order]))
        else:
            steps.append(("once", [c.einsum(n)]))
    return steps


def _pos(c: Cascade, name: str) -> str:
    names = [e.name for e in c.einsums]
    return f"{names.index(name):06d}" if name in names else "999999"


def execute(
    c: Cascade, inputs: Mapping[str, np.ndarray], sizes: Mapping[str, int] | None = None
) -> dict[str, np.ndarray]:
    """Evaluate the cascade in float64; returns every tensor (inputs included) by name."""
    missing = [t.name for t in c.inputs if t.name not in inputs]
    if missing:
        raise EinsimError(f"{c.source}: no array given for input(s) {', '.join(missing)}. Pass them in `inputs`.")
    sz = resolve_sizes(c, sizes, inputs)
    scalars = eval_scalars(c, sz)
    store: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}
    for t in c.inputs:
        store[t.name] = (np.asarray(inputs[t.name], dtype=np.float64), None)
    for t in c.tensor_ranks:
        if t not in store:
            shape = storage_shape(c, t, sz)
            store[t] = (np.full(shape, c.empty_values[t], dtype=np.float64), np.zeros(shape, dtype=bool))
    for kind, es in execution_plan(c):
        if kind == "once":
            ev = _EinsumEval(c, es[0], sz, scalars, store, {})
            ev.write(*ev.run())
            continue
        stop = c.stop
        bound = _EinsumEval(c, es[0], sz, scalars, store, {}).iexpr(stop.bound)  # type: ignore[union-attr]
        n = int(bound) + (1 if stop.op == ">" else 0)  # type: ignore[union-attr]
        for i in range(max(0, n)):
            for e in es:
                ev = _EinsumEval(c, e, sz, scalars, store, {stop.var: i})  # type: ignore[union-attr]
                ev.write(*ev.run())
    return {k: v for k, (v, _) in store.items()}


def reference_attention(
    q: np.ndarray, k: np.ndarray, v: np.ndarray, scale: float = 1.0, mask: np.ndarray | None = None
) -> np.ndarray:
    """float64 softmax(scale·QᵀK)·V for Q[E,P], K[E,M], V[F,M] -> AV[F,P]; mask[M,P] True = keep.

    Rows whose keys are all masked give 0.
    """
    s = scale * np.einsum("ep,em->mp", q, k)
    if mask is not None:
        s = np.where(mask, s, -math.inf)
    mx = np.max(s, axis=0, keepdims=True)
    mx = np.where(np.isfinite(mx), mx, 0.0)
    w = np.exp(s - mx)
    den = w.sum(axis=0, keepdims=True)
    a = np.divide(w, den, out=np.zeros_like(w), where=den > 0)
    return np.einsum("mp,fm->fp", a, v)
