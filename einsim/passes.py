"""Pass analysis: how many passes a cascade makes over a rank, derived from the cascade alone.

Input: a `Cascade` and a rank (default: the rank the softmax reduces, M — or the first rank a max
reduction eliminates). Output: a frozen `PassAnalysis` with the passes over the whole rank and over
each partition level, the Einsums of each pass, the live footprint per query (sympy), operation
counts per operator class (sympy), and the tensors that cross pass boundaries (which a multi-pass
cascade must buffer or spill: see `spill_traffic`).

Rule (FuseMax §III, made operational): an Einsum *reads* the analysed rank when it iterates every
level of it. An Einsum's output is *pending* when a full reduction of the rank (over standard, not
iterative, variables — possibly spread over several Einsums, e.g. a max over m0 then over m1 — or
the read of an iterative tensor's final generation) lies on a path since the last reader. A reader
that consumes a pending tensor starts a new pass: level(E) = max(1, level(X) + [X pending and E
reads]) over producers X; passes = the largest level. Iterative (prefix) reductions add no pass.
Operation counts are for the dense iteration space (filters are not subtracted).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache

import networkx as nx
import sympy

from einsim.errors import EinsimError
from einsim.graph import acyclic_view
from einsim.ir import Access, Apply, Cascade, Coord, Einsum, Expr, accesses, ivars
from einsim.operators import COST_CLASSES, get_operator


@dataclass(frozen=True)
class LevelPasses:
    """Passes over one analysed target: the whole rank (all its levels) or one partition level."""

    target: str
    levels: tuple[str, ...]
    passes: int
    pass_of: dict[str, int] = field(hash=False)
    readers: tuple[str, ...] = ()
    crossing: tuple[tuple[str, int, int], ...] = ()  # (tensor, produced in pass, last read in pass)


@dataclass(frozen=True)
class PassAnalysis:
    """The result of `analyze_passes`."""

    cascade: str
    file: str
    rank: str
    passes: int
    levels: dict[str, int] = field(hash=False)
    pass_of: dict[str, int | None] = field(hash=False)
    groups: tuple[tuple[str, ...], ...] = ()
    live_footprint: sympy.Expr = sympy.Integer(0)
    ops: dict[str, sympy.Expr] = field(default_factory=dict, hash=False)
    crossing: tuple[str, ...] = ()
    spill_elements: sympy.Expr = sympy.Integer(0)
    per_level: tuple[LevelPasses, ...] = ()

    def to_dict(self) -> dict:
        return {
            "cascade": self.cascade,
            "file": self.file,
            "rank": self.rank,
            "passes": self.passes,
            "levels": dict(self.levels),
            "groups": [list(g) for g in self.groups],
            "pass_of": dict(self.pass_of),
            "live_footprint": str(self.live_footprint),
            "ops": {k: str(v) for k, v in self.ops.items()},
            "crossing": list(self.crossing),
            "spill_elements": str(self.spill_elements),
        }

    def to_json(self, **kw) -> str:
        import json

        return json.dumps(self.to_dict(), **kw)

    def to_pandas(self):
        """One row per Einsum and its pass (None: it touches no whole fiber of the rank)."""
        import pandas as pd

        return pd.DataFrame([{"einsum": n, "pass": p} for n, p in self.pass_of.items()])

    def __str__(self) -> str:
        from einsim.table import render_table

        head = (f"{self.cascade}: {self.passes} pass(es) over {self.rank}; levels "
                + ", ".join(f"{k}: {v}" for k, v in self.levels.items())
                + f"; live footprint per query {self.live_footprint}")
        rows = [{"pass": k + 1, "einsums": " ".join(g)} for k, g in enumerate(self.groups)]
        rows += [{"pass": "ops", "einsums": ", ".join(f"{k} {v}" for k, v in self.ops.items() if v != 0)}]
        return render_table(rows, title=head)


# ----------------------------------------------------------------------------- helpers


def rank_levels(c: Cascade, rank: str) -> tuple[str, ...]:
    """The partition levels of `rank`, outermost first (the rank itself when unpartitioned)."""
    for rd in c.ranks:
        if rd.name == rank:
            out: list[str] = []
            for f in rd.factors:
                out.extend(rank_levels(c, f))
            return tuple(out)
    return (rank,)


def default_rank(c: Cascade) -> str:
    """The rank the softmax reduces: M if the cascade has it, else the first rank a max reduces."""
    ranks = {r for rs in c.tensor_ranks.values() for r in rs}
    if "M" in ranks or any(rd.name == "M" for rd in c.ranks):
        return "M"
    for e in c.einsums:
        if e.effective_reduce_op == "max" and e.reduced_vars:
            return _parent(c, e.reduced_vars[0].upper())
    for e in c.einsums:
        if e.reduced_vars:
            return _parent(c, e.reduced_vars[0].upper())
    if c.stop is not None:
        return _parent(c, c.stop.var.upper())
    raise EinsimError(f"{c.source}: the cascade reduces no rank; name one with --rank.")


def _parent(c: Cascade, r: str) -> str:
    for rd in c.ranks:
        if r in rd.factors:
            return _parent(c, rd.name)
    return r


def _covers(c: Cascade, var: str, levels: tuple[str, ...], rank: str) -> set[str]:
    """Which of `levels` a rank variable covers (m covers all of M's levels)."""
    r = var.upper()
    if r in levels:
        return {r}
    if r == rank or set(rank_levels(c, r)) & set(levels) and len(rank_levels(c, r)) > 1:
        return set(rank_levels(c, r)) & set(levels)
    return set()


def _final_reads(c: Cascade, e: Einsum) -> set[str]:
    """Iterative ranks whose final generation `e` reads (a constant index on the iterative rank)."""
    out = set()
    for acc in accesses(e.rhs):
        pos = c.iterative_tensors.get(acc.tensor)
        if pos is not None and pos < len(acc.indices) and not ivars(acc.indices[pos].expr):
            out.add(c.tensor_ranks[acc.tensor][pos])
    return out


def _analyse_target(c: Cascade, rank: str, levels: tuple[str, ...], target: str) -> LevelPasses:
    g = acyclic_view(c.graph)
    order = [n for n in nx.topological_sort(g) if g.nodes[n].get("kind") == "einsum"]
    level: dict[str, int] = {}
    red: dict[str, set[str]] = {}
    pending: dict[str, bool] = {}
    readers = []
    full = set(levels)
    for name in order:
        e = c.einsum(name)
        iter_cov = set().union(*[_covers(c, v, levels, rank) for v in e.iteration_vars]) if e.iteration_vars else set()
        is_reader = iter_cov == full
        own = set().union(*[_covers(c, v, levels, rank) for v in e.reduced_vars]) if e.reduced_vars else set()
        own |= _final_reads(c, e) & full
        preds = [u for u in g.predecessors(name) if g.nodes[u].get("kind") == "einsum"]
        in_red = set().union(*[red[u] for u in preds]) if preds else set()
        lv = 1
        for u in preds:
            lv = max(lv, level[u] + (1 if pending[u] and is_reader else 0))
        level[name] = lv
        if is_reader:
            readers.append(name)
            red[name] = own
            pending[name] = own >= full
        else:
            red[name] = in_red | own
            pending[name] = any(pending[u] for u in preds) or red[name] >= full
    passes = max((level[r] for r in readers), default=0)
    crossing = []
    for t in c.inputs:  # an input fiber re-read in a later pass (e.g. Cascade 1's A) is live too
        if not (set(t.ranks) & full) or t.name not in g:
            continue
        lv = sorted({level[v] for v in g.successors(t.name) if v in readers})
        if len(lv) > 1:
            crossing.append((t.name, lv[0], lv[-1]))
    for name in order:
        e = c.einsum(name)
        ranks_t = set(c.tensor_ranks.get(e.output, ()))
        if not (ranks_t & full):
            continue
        later = [level[v] for v in g.successors(name) if v in level and v in readers and level[v] > level[name]]
        if later:
            crossing.append((e.output, level[name], max(later)))
    return LevelPasses(target, levels, passes, dict(level), tuple(readers), tuple(crossing))


def _query_ranks(c: Cascade, levels: tuple[str, ...], rank: str) -> set[str]:
    out_ranks = set().union(*[set(t.ranks) for t in c.outputs]) if c.outputs else set()
    q: set[str] = set()
    for t in c.inputs:
        if not (set(t.ranks) & (set(levels) | {rank})):
            q |= set(t.ranks)
    return q & out_ranks


def _fiber_size(c: Cascade, tensor: str, keep_levels: set[str], qranks: set[str], drop: set[str]) -> sympy.Expr:
    size = sympy.Integer(1)
    for r in c.tensor_ranks.get(tensor, ()):
        if r in qranks or r in drop:
            continue
        if r in keep_levels or r not in drop:
            size *= sympy.Symbol(r, positive=True, integer=True)
    return size


def _simplify(c: Cascade, expr: sympy.Expr) -> sympy.Expr:
    for rd in sorted(c.ranks, key=lambda r: -len(r.factors)):
        prod = sympy.Mul(*[sympy.Symbol(f, positive=True, integer=True) for f in rd.factors])
        expr = sympy.expand(expr).subs(prod, sympy.Symbol(rd.name, positive=True, integer=True))
    return sympy.simplify(expr) if expr.free_symbols else expr


# ----------------------------------------------------------------------------- operation counts


def _sym(r: str) -> sympy.Symbol:
    return sympy.Symbol(r, positive=True, integer=True)


def _node_vars(e: Expr) -> set[str]:
    if isinstance(e, Access):
        return set().union(*[ivars(ix.expr) for ix in e.indices]) if e.indices else set()
    if isinstance(e, Coord):
        return {e.name}
    if isinstance(e, Apply):
        return set().union(*[_node_vars(a) for a in e.args])
    return set()


def _is_const(e: Expr) -> bool:
    return not accesses(e) and not isinstance(e, Coord) and not (
        isinstance(e, Apply) and any(not _is_const(a) for a in e.args)
    )


def einsum_op_terms(e: Einsum) -> list[tuple[str, tuple[str, ...]]]:
    """The operations of one Einsum: (cost class, rank variables whose every point performs it)."""
    terms: list[tuple[str, tuple[str, ...]]] = []
    space = tuple(e.iteration_vars)
    reducing = bool(e.reduced_vars)
    fused_mac = (
        reducing and e.effective_reduce_op == "add" and isinstance(e.rhs, Apply) and e.rhs.op == "mul"
    )

    def walk(x: Expr, top: bool) -> None:
        if not isinstance(x, Apply) or _is_const(x):
            return
        for a in x.args:
            walk(a, False)
        dom = space if (top and reducing) else tuple(sorted(_node_vars(x)))
        if top and fused_mac:
            terms.append(("mac", dom))
            return
        terms.append((get_operator(x.op).cost_class, dom))  # type: ignore[union-attr]

    walk(e.rhs, True)
    if reducing and not fused_mac:
        terms.append((get_operator(e.effective_reduce_op).cost_class, space))  # type: ignore[union-attr]
    return terms


def einsum_op_counts(e: Einsum) -> dict[str, sympy.Expr]:
    """Operations per cost class for one Einsum over its dense iteration space."""
    counts = {k: sympy.Integer(0) for k in COST_CLASSES}
    for cls, dom in einsum_op_terms(e):
        counts[cls] += sympy.Mul(*[_sym(v.upper()) for v in dom])
    return counts


def op_counts_at(c: Cascade, sizes: Mapping[str, int], per_einsum: bool = False):
    """Operation counts at concrete rank sizes, honouring filters: an operation whose points span all
    of a filter's variables is counted only at the points the filter keeps (a causal mask halves the
    score work; a sliding window keeps about P·W points). Emptiness that a filter causes downstream
    (e.g. AV reading the zeros of a masked A through a ∩ merge) is not subtracted: only the Einsum's
    own filters are."""
    from einsim.execute import _EinsimEvalForCounts
    from einsim.sizes import resolve_sizes

    sz = resolve_sizes(c, sizes)
    per: dict[str, dict[str, int]] = {}
    for e in c.einsums:
        ev = _EinsimEvalForCounts(c, e, sz)
        mask = ev.filter_mask()
        counts = {k: 0 for k in COST_CLASSES}
        for cls, dom in einsum_op_terms(e):
            ext = {v: sz[v.upper()] for v in dom}
            if mask is not None and set(ev.mask_vars(mask)) <= set(dom):
                n = int(mask.sum())
                for v in dom:
                    if v not in ev.mask_vars(mask):
                        n *= ext[v]
            else:
                n = 1
                for v in dom:
                    n *= ext[v]
            counts[cls] += n
        per[e.name] = counts
    if per_einsum:
        return per
    return {k: sum(p[k] for p in per.values()) for k in COST_CLASSES}


def op_counts(c: Cascade, per_einsum: bool = False):
    """Operation counts per cost class (sympy, in rank-size symbols) for the cascade or per Einsum."""
    per = {e.name: {k: _simplify(c, v) for k, v in einsum_op_counts(e).items()} for e in c.einsums}
    if per_einsum:
        return per
    total = {k: _simplify(c, sum((p[k] for p in per.values()), sympy.Integer(0))) for k in COST_CLASSES}
    return total


# ----------------------------------------------------------------------------- the analysis


@lru_cache(maxsize=256)
def analyze_passes(c: Cascade, rank: str | None = None) -> PassAnalysis:
    """Passes of `c` over `rank` (default: the softmax's M) and each of its partition levels."""
    rank = rank.upper() if rank else default_rank(c)
    levels = rank_levels(c, rank)
    known = {r for rs in c.tensor_ranks.values() for r in rs} | {v.upper() for e in c.einsums for v in e.iteration_vars}
    if not (set(levels) | {rank}) & known:
        raise EinsimError(
            f"{c.source}: cascade {c.name} has no rank {rank}. Choose one of: {', '.join(sorted(known - {'?'}))}."
        )
    top = _analyse_target(c, rank, levels, rank)
    per_level = [top]
    if len(levels) > 1:
        per_level += [_analyse_target(c, rank, (lv,), lv) for lv in levels]
    qranks = _query_ranks(c, levels, rank)
    footprint = sympy.Integer(0)
    for lp in per_level:
        # which levels stay whole inside one pass of this target: this level and the finer ones
        idx = levels.index(lp.levels[0]) if len(lp.levels) == 1 else 0
        coarser = set(levels[:idx])
        peak = sympy.Integer(0)
        for b in range(1, lp.passes):
            live = [t for t, p0, p1 in lp.crossing if p0 <= b < p1 and qranks <= set(c.tensor_ranks[t])]
            peak = sympy.Max(peak, sum((_fiber_size(c, t, set(levels), qranks, coarser) for t in live),
                                       sympy.Integer(0)))
        footprint += peak
    for t, pos in c.iterative_tensors.items():
        it_rank = c.tensor_ranks[t][pos]
        footprint += _fiber_size(c, t, set(), qranks, {it_rank})
    spill = sympy.Integer(0)
    inputs = {t.name for t in c.inputs}
    for t, p0, _p1 in top.crossing:
        src = t if t in inputs else _writer(c, t)
        later = {top.pass_of[v] for v in c.graph.successors(src) if v in top.readers and top.pass_of[v] > p0}
        size = sympy.Mul(*[_sym(r) for r in c.tensor_ranks[t]])
        spill += (len(later) + (0 if t in inputs else 1)) * size  # write once (intermediates), re-read per pass
    groups = tuple(
        tuple(n for n in top.readers if top.pass_of[n] == k) for k in range(1, top.passes + 1)
    )
    pass_of: dict[str, int | None] = {e.name: (top.pass_of[e.name] if e.name in top.readers else None)
                                      for e in c.einsums}
    return PassAnalysis(
        cascade=c.name,
        file=c.source,
        rank=rank,
        passes=top.passes,
        levels={lp.target: lp.passes for lp in per_level},
        pass_of=pass_of,
        groups=groups,
        live_footprint=_simplify(c, footprint),
        ops=op_counts(c),
        crossing=tuple(t for t, _, _ in top.crossing),
        spill_elements=_simplify(c, spill),
        per_level=tuple(per_level),
    )


def _writer(c: Cascade, tensor: str) -> str:
    for e in reversed(c.einsums):
        if e.output == tensor:
            return e.name
    return tensor


def evaluate(expr: sympy.Expr, sizes: Mapping[str, int]) -> float:
    """Evaluate an analysis expression at concrete rank sizes."""
    subs = {s: sizes[s.name] for s in expr.free_symbols if s.name in sizes}
    missing = sorted(s.name for s in expr.free_symbols if s.name not in sizes)
    if missing:
        raise EinsimError(f"no size given for rank(s) {', '.join(missing)}; pass them, e.g. {missing[0]}=64.")
    return float(expr.subs(subs))


def spill_traffic(
    a: PassAnalysis,
    sizes: Mapping[str, int],
    buffer_bytes: int,
    bytes_per_value: int = 2,
    queries_in_flight: int = 1,
) -> dict[str, float]:
    """Extra DRAM bytes a multi-pass cascade pays when its live footprint exceeds the buffer.

    The live footprint of `queries_in_flight` queries must fit in `buffer_bytes`; if it does not,
    every tensor crossing a pass boundary is written once and read back by each later pass.
    """
    live = evaluate(a.live_footprint, sizes) * queries_in_flight * bytes_per_value
    extra = 0.0 if live <= buffer_bytes else evaluate(a.spill_elements, sizes) * bytes_per_value
    return {"live_bytes": live, "buffer_bytes": float(buffer_bytes), "fits": float(live <= buffer_bytes),
            "extra_dram_bytes": extra}
