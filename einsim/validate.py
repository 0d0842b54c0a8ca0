"""Static checks of a cascade: one `validate()` with every rule, each failing with a located paragraph.

Input: a parsed `Cascade`. Output: None, or a `CascadeError` naming file:line:col, the text and the fix.
Rules: tensors are declared or assigned before use and used with their declared number of ranks;
a rank variable `x` indexes only rank `X` (so no rank is used with two sizes); every output rank
variable appears in an input (unless the right side is a constant fill); no tensor is assigned twice
(an iterative tensor may have one initialisation and one `v+1` update); inputs are not assigned and
outputs are; operators and merges exist; explicit reduce lists match the implicit one; filters name
only the Einsum's variables; sizes used in rank expressions are known ranks; an iterative rank has a
stopping condition and an initialisation; the only dependency cycles go through an iterative rank.
"""

from __future__ import annotations

import networkx as nx

from einsim.errors import CascadeError, SourceLocation
from einsim.fmt import format_einsum
from einsim.graph import acyclic_view
from einsim.ir import Apply, Cascade, Einsum, IBin, ISize, IVar, Name, accesses, applies, isizes, ivars
from einsim.operators import MERGES, get_operator


def _err(c: Cascade, loc: SourceLocation | None, problem: str, fix: str, text: str = "") -> CascadeError:
    return CascadeError(loc or SourceLocation(c.source, 1, 1), problem, fix, text)


def known_ranks(c: Cascade) -> set[str]:
    ranks = {r for t in c.tensors for r in t.ranks} | set(c.sizes)
    for rd in c.ranks:
        ranks.add(rd.name)
        ranks.update(rd.factors)
    for e in c.einsums:
        ranks.update(v.upper() for v in e.iteration_vars)
    return ranks


def validate(c: Cascade) -> None:
    """Raise `CascadeError` for the first rule the cascade breaks."""
    declared: dict[str, object] = {}
    for t in c.tensors:
        if t.name in declared:
            raise _err(c, t.loc, f"tensor {t.name} is declared twice", "Declare each tensor once.", t.name)
        declared[t.name] = t
    scalars = {s.name for s in c.scalars}
    for s in c.scalars:
        for a in accesses(s.expr):
            raise _err(c, a.loc, f"scalar {s.name} reads tensor {a.tensor}",
                       "Scalars are computed from rank sizes and numbers only, e.g. `scalar s = 1 / sqrt(E)`.")
    ranks = known_ranks(c)
    writers: dict[tuple[str, str], Einsum] = {}
    inputs = {t.name for t in c.inputs}
    for e in c.einsums:
        text = format_einsum(e)
        if e.output in inputs:
            raise _err(c, e.loc, f"input tensor {e.output} is assigned",
                       "Inputs are given by the caller; assign a new tensor name instead.", text)
        key = (e.output, e.section)
        if key in writers:
            first = writers[key].loc
            raise _err(c, e.loc, f"tensor {e.output} is assigned twice (first at line {first.line if first else '?'})",
                       "Einsums are single-assignment: give the second result a new name, or make it an iterative "
                       "update such as `RM[m1+1, p] = ...` with an initialisation in `init:`.", text)
        writers[key] = e
    for (t, sec) in writers:
        if sec == "init" and (t, "main") in writers and t not in c.iterative_tensors:
            raise _err(c, writers[(t, "main")].loc, f"tensor {t} is assigned in init: and again in einsums:",
                       "Only an iterative tensor (written at `v+1`) may have both an initialisation and an update.",
                       format_einsum(writers[(t, "main")]))
    assigned = {t for t, _ in writers}
    for e in c.einsums:
        _check_einsum(c, e, declared, assigned, scalars, ranks)
    _check_iterative(c)
    _check_cycles(c)
    for o in c.outputs:
        if o.name not in assigned:
            raise _err(c, o.loc, f"output tensor {o.name} is never assigned",
                       f"Add an Einsum that computes {o.name}, or declare it with `tensor` instead of `output`.",
                       o.name)



def _check_einsum(c: Cascade, e: Einsum, declared: dict, assigned: set, scalars: set, ranks: set) -> None:
    text = format_einsum(e)
    allvars = set(e.iteration_vars)
    for acc in (e.lhs, *accesses(e.rhs)):
        if acc.tensor not in declared and acc.tensor not in assigned:
            raise _err(c, acc.loc, f"tensor {acc.tensor} is used but never declared or assigned",
                       f"Declare it (`input {acc.tensor}[...]`) or compute it in an earlier Einsum; "
                       "check the spelling.",
                       text)
        want = c.tensor_ranks.get(acc.tensor)
        if want is not None and len(want) != len(acc.indices):
            raise _err(c, acc.loc, f"{acc.tensor} has {len(want)} rank(s) ({', '.join(want)}) but is indexed with "
                       f"{len(acc.indices)}",
                       f"Index {acc.tensor} as {acc.tensor}[{', '.join(r.lower() for r in want)}].",
                       text)
        for pos, ix in enumerate(acc.indices):
            for s in isizes(ix.expr) | (isizes(ix.cond) if ix.cond is not None else frozenset()):
                if s not in ranks:
                    raise _err(c, acc.loc, f"size {s} in the rank expression of {acc.tensor} is not a known rank",
                               "Use the name of a declared rank (or a partition factor declared with `rank`).", text)
            if ix.cond is not None:
                extra = ivars(ix.cond) - allvars
                if extra:
                    raise _err(c, acc.loc, f"the filter on {acc.tensor} names variable(s) {', '.join(sorted(extra))} "
                               "that the Einsum does not iterate", "Filter only on the Einsum's rank variables.", text)
            if isinstance(ix.expr, IVar) and want is not None:
                var, rank = ix.expr.name, want[pos]
                it = c.iterative_tensors.get(acc.tensor)
                if var.upper() != rank and rank != "?" and it != pos:
                    raise _err(c, acc.loc, f"rank variable {var} iterates rank {var.upper()} but indexes rank {rank} "
                               f"of {acc.tensor}, so rank {rank} would be used with two sizes",
                               f"Index rank {rank} with `{rank.lower()}` (or an expression over partition variables).",
                               text)
    lhs_pos_ok = all(isinstance(ix.expr, IVar | ISize) or (isinstance(ix.expr, IBin) and ix.expr.op == "+")
                     for ix in e.lhs.indices)
    if not lhs_pos_ok:
        raise _err(c, e.lhs.loc, f"output {e.output} is indexed by a computed expression",
                   "Index the output with rank variables (or `v+1` for an iterative update).", text)
    rhs_vars = {v for acc in accesses(e.rhs) for ix in acc.indices for v in ivars(ix.expr)} | set(e.value_vars)
    if accesses(e.rhs):
        for v in e.lhs_vars:
            if v not in rhs_vars:
                raise _err(c, e.lhs.loc, f"output rank variable {v} of {e.output} appears in no input of the Einsum",
                           f"Every output rank must come from an input; remove `{v}` from {e.output} or read a tensor "
                           f"indexed by `{v}`.", text)
    for ap in applies(e.rhs):
        op = get_operator(ap.op)
        if op is None:
            raise _err(c, ap.loc or e.loc, f"unknown operator {ap.op!r}",
                       "Register it with einsim.register_operator before parsing.", text)
        if ap.merge is not None and ap.merge not in MERGES:
            raise _err(c, ap.loc or e.loc, f"unknown merge {ap.merge!r}", f"Use one of {', '.join(MERGES)}.", text)
    indexed = {v for acc in (e.lhs, *accesses(e.rhs)) for ix in acc.indices for v in ivars(ix.expr)}
    for v in e.value_vars:
        if v not in indexed:
            raise _err(c, e.loc, f"name {v!r} is not a scalar and not a rank variable indexed in this Einsum",
                       "Declare it with `scalar NAME = ...`, or use a rank variable that indexes a tensor here.", text)
    for nm in _names(e.rhs):
        if nm.name in scalars or nm.name in allvars or nm.name in ranks:
            continue
        raise _err(c, nm.loc or e.loc, f"name {nm.name!r} is not a scalar, rank size or rank variable of this Einsum",
                   "Declare it with `scalar NAME = ...`, or index a tensor (`T[...]`) if a tensor was meant.", text)
    if e.reduce_vars is not None and set(e.reduce_vars) != set(e.reduced_vars):
        raise _err(c, e.loc, f"`reduce[{', '.join(e.reduce_vars)}]` does not match the variables the Einsum reduces "
                   f"({', '.join(e.reduced_vars) or 'none'})",
                   "List exactly the variables that are absent from the output, or drop the list.", text)
    if e.reduce_op is not None and get_operator(e.reduce_op).reduce_fn is None:  # type: ignore[union-attr]
        raise _err(c, e.loc, f"operator {e.reduce_op} cannot reduce", "Reduce with sum, max, min or prod.", text)


def _names(e) -> list[Name]:
    if isinstance(e, Name):
        return [e]
    if isinstance(e, Apply):
        return [n for a in e.args for n in _names(a)]
    return []


def _check_iterative(c: Cascade) -> None:
    for t, pos in c.iterative_tensors.items():
        e = c.einsum(t)
        var = sorted(ivars(e.lhs.indices[pos].expr))
        if c.stop is None:
            v = var[0] if var else "m1"
            raise _err(c, e.loc, f"{t} is an iterative update (`{v}+1`) but the cascade has no stopping condition",
                       f"Add a line `stop {v} >= {v.upper()}`.",
                       format_einsum(e))
        if var != [c.stop.var]:
            raise _err(c, e.loc, f"{t} iterates over {', '.join(var)} but the stopping condition is on {c.stop.var}",
                       f"Iterate over {c.stop.var}, or change the stopping condition.", format_einsum(e))
        reads_prev = any(
            isinstance(acc.indices[pos].expr, IVar)
            for e2 in c.main for acc in accesses(e2.rhs) if acc.tensor == t and len(acc.indices) > pos
        )
        if reads_prev and (t, "init") not in {(x.output, x.section) for x in c.init}:
            raise _err(c, e.loc, f"iterative tensor {t} is read at generation {c.stop.var} but never initialised",
                       f"Add its generation 0 to `init:`, e.g. `{t}[{c.stop.var} : {c.stop.var} == 0, ...] = 0`.",
                       format_einsum(e))


def _check_cycles(c: Cascade) -> None:
    g = acyclic_view(c.graph)
    try:
        cycle = nx.find_cycle(g)
    except nx.NetworkXNoCycle:
        return
    names = [u for u, _ in cycle]
    e = c.einsum(names[0])
    path = " -> ".join(names + [names[0]])
    raise _err(c, e.loc, f"dependency cycle {path} that does not go through an iterative rank",
               "Break the cycle: a tensor may depend on its own earlier value only through an iterative rank "
               "(`X[i+1] = f(X[i], ...)` with a stopping condition).", format_einsum(e))


