"""The cascade IR: frozen, hashable dataclasses for extended-Einsum cascades.

Input: built by `einsim.parse` from cascade text (or by hand). Output: a `Cascade` that analyses
(`einsim.passes`), the executor (`einsim.execute`), the model and the GPU lowering consume. Source
locations ride along for error messages but take no part in equality, so `parse(format(c)) == c`.

Conventions: a rank variable `x` iterates the rank `X` (its upper-case name, e.g. `m1` over `M1`);
rank sizes are named by rank names and given when the cascade is used. An Einsum's name is its output
tensor's name (`RM.init` for the initialisation of an iterative tensor `RM`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from einsim.errors import SourceLocation

# ----------------------------------------------------------------------------- rank expressions


@dataclass(frozen=True)
class IVar:
    """A rank variable (lower case), e.g. `m1`."""

    name: str


@dataclass(frozen=True)
class ISize:
    """A rank size used as a constant, e.g. `M0` in `m1*M0 + m0` or `M1` in `RNV[f, M1, p]`."""

    name: str


@dataclass(frozen=True)
class INum:
    value: int


@dataclass(frozen=True)
class IBin:
    """Integer arithmetic on rank expressions: op in + - * // %."""

    op: str
    a: IExpr
    b: IExpr


IExpr = IVar | ISize | INum | IBin


@dataclass(frozen=True)
class Cmp:
    """A comparison between rank expressions: op in == != < <= > >=."""

    op: str
    a: IExpr
    b: IExpr


@dataclass(frozen=True)
class BoolOp:
    """`and` / `or` of predicates."""

    op: str
    a: Pred
    b: Pred


@dataclass(frozen=True)
class Not:
    a: Pred


Pred = Cmp | BoolOp | Not


def ivars(e: IExpr | Pred) -> frozenset[str]:
    """Rank variables an index expression or predicate mentions."""
    if isinstance(e, IVar):
        return frozenset([e.name])
    if isinstance(e, IBin | Cmp | BoolOp):
        return ivars(e.a) | ivars(e.b)
    if isinstance(e, Not):
        return ivars(e.a)
    return frozenset()


def isizes(e: IExpr | Pred) -> frozenset[str]:
    """Size names an index expression or predicate mentions."""
    if isinstance(e, ISize):
        return frozenset([e.name])
    if isinstance(e, IBin | Cmp | BoolOp):
        return isizes(e.a) | isizes(e.b)
    if isinstance(e, Not):
        return isizes(e.a)
    return frozenset()


# ----------------------------------------------------------------------------- value expressions


@dataclass(frozen=True)
class Index:
    """One index position of a tensor access: a rank expression and an optional filter."""

    expr: IExpr
    cond: Pred | None = None


@dataclass(frozen=True)
class Access:
    """A tensor access `T[i0, i1, ...]`."""

    tensor: str
    indices: tuple[Index, ...]
    loc: SourceLocation | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Const:
    value: float


@dataclass(frozen=True)
class Name:
    """A scalar, a rank size, or a rank variable used as a value (resolved in that order)."""

    name: str
    loc: SourceLocation | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Coord:
    """A rank variable used as a value (its coordinate), e.g. `m - p` for an ALiBi bias."""

    name: str


@dataclass(frozen=True)
class Apply:
    """A map action: compute operator `op` over `args`, with an explicit merge or None (default)."""

    op: str
    args: tuple[Expr, ...]
    merge: str | None = None
    loc: SourceLocation | None = field(default=None, compare=False, repr=False)


Expr = Access | Const | Name | Coord | Apply


def accesses(e: Expr) -> tuple[Access, ...]:
    """Every tensor access in an expression, left to right."""
    if isinstance(e, Access):
        return (e,)
    if isinstance(e, Apply):
        return tuple(a for arg in e.args for a in accesses(arg))
    return ()


def applies(e: Expr) -> tuple[Apply, ...]:
    if isinstance(e, Apply):
        return (e,) + tuple(a for arg in e.args for a in applies(arg))
    return ()


# ----------------------------------------------------------------------------- statements


@dataclass(frozen=True)
class TensorDecl:
    """A declared tensor: role input/output/temp, its ranks, and its empty value."""

    name: str
    ranks: tuple[str, ...]
    role: str = "temp"
    empty: float = 0.0
    loc: SourceLocation | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class RankDecl:
    """A partitioned rank: `rank M = M1 * M0` (outermost factor first)."""

    name: str
    factors: tuple[str, ...]
    loc: SourceLocation | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class ScalarDecl:
    """A named scalar computed from rank sizes, e.g. `scalar s = 1 / sqrt(E)`."""

    name: str
    expr: Expr
    loc: SourceLocation | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Stop:
    """Stopping condition of an iterative rank: iterate `var` = 0, 1, ... while not `var op bound`."""

    var: str
    op: str
    bound: IExpr
    loc: SourceLocation | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Einsum:
    """One extended Einsum: `lhs = rhs :: reduce[vars] op(merge)`.

    `reduce_op` is the reduction operator's registry name (`add` for sum, `max`, ...) or None for the
    default (sum); `reduce_vars` is the explicitly written reduced-variable list or None.
    """

    lhs: Access
    rhs: Expr
    section: str = "main"
    reduce_op: str | None = None
    reduce_vars: tuple[str, ...] | None = None
    reduce_merge: str | None = None
    loc: SourceLocation | None = field(default=None, compare=False, repr=False)

    @property
    def output(self) -> str:
        return self.lhs.tensor

    @property
    def name(self) -> str:
        return f"{self.output}.init" if self.section == "init" else self.output

    @property
    def lhs_vars(self) -> tuple[str, ...]:
        seen: list[str] = []
        for ix in self.lhs.indices:
            for v in sorted(ivars(ix.expr)):
                if v not in seen:
                    seen.append(v)
        return tuple(seen)

    @property
    def iteration_vars(self) -> tuple[str, ...]:
        """All rank variables of the iteration space: output variables first, then reduced ones."""
        seen = list(self.lhs_vars)
        for acc in accesses(self.rhs):
            for ix in acc.indices:
                for v in sorted(ivars(ix.expr)):
                    if v not in seen:
                        seen.append(v)
        for name in self.value_vars:
            if name not in seen:
                seen.append(name)
        return tuple(seen)

    @property
    def value_vars(self) -> tuple[str, ...]:
        """Lower-case names used as values (rank coordinates), e.g. `m - p` for ALiBi."""
        out: list[str] = []

        def walk(e: Expr) -> None:
            if isinstance(e, Coord) and e.name not in out:
                out.append(e.name)
            elif isinstance(e, Apply):
                for a in e.args:
                    walk(a)

        walk(self.rhs)
        return tuple(out)

    @property
    def reduced_vars(self) -> tuple[str, ...]:
        lhs = set(self.lhs_vars)
        return tuple(v for v in self.iteration_vars if v not in lhs)

    @property
    def effective_reduce_op(self) -> str:
        return self.reduce_op or "add"

    @property
    def operators(self) -> tuple[str, ...]:
        return tuple(a.op for a in applies(self.rhs))

    @property
    def filters(self) -> tuple[Pred, ...]:
        out = [ix.cond for ix in self.lhs.indices if ix.cond is not None]
        out += [ix.cond for acc in accesses(self.rhs) for ix in acc.indices if ix.cond is not None]
        return tuple(out)

    @property
    def is_iterative(self) -> bool:
        """Writes generation `v + c` of an iterative rank (running state such as RM, RD, RNV)."""
        return any(isinstance(ix.expr, IBin) and ix.expr.op == "+" for ix in self.lhs.indices)


@dataclass(frozen=True)
class Cascade:
    """A cascade of extended Einsums: declarations, initialisation, Einsums, stopping condition."""

    name: str
    doc: str = ""
    tensors: tuple[TensorDecl, ...] = ()
    ranks: tuple[RankDecl, ...] = ()
    scalars: tuple[ScalarDecl, ...] = ()
    init: tuple[Einsum, ...] = ()
    main: tuple[Einsum, ...] = ()
    stop: Stop | None = None
    source: str = field(default="<string>", compare=False)
    #: named sizes that are not ranks of any tensor (e.g. a window width W used only in filters)
    sizes: tuple[str, ...] = ()

    @property
    def einsums(self) -> tuple[Einsum, ...]:
        return self.init + self.main

    @property
    def inputs(self) -> tuple[TensorDecl, ...]:
        return tuple(t for t in self.tensors if t.role == "input")

    @property
    def outputs(self) -> tuple[TensorDecl, ...]:
        return tuple(t for t in self.tensors if t.role == "output")

    def einsum(self, name: str) -> Einsum:
        for e in self.einsums:
            if e.name == name:
                return e
        raise KeyError(name)

    @cached_property
    def tensor_ranks(self) -> dict[str, tuple[str, ...]]:
        """Ranks of every tensor: declared ones, then those inferred from Einsum outputs."""
        out = {t.name: t.ranks for t in self.tensors}
        for e in self.einsums:
            if e.output not in out:
                ranks = []
                for ix in e.lhs.indices:
                    vs = sorted(ivars(ix.expr))
                    ranks.append(vs[0].upper() if len(vs) == 1 else "?")
                out[e.output] = tuple(ranks)
        return out

    @cached_property
    def empty_values(self) -> dict[str, float]:
        out = {t: 0.0 for t in self.tensor_ranks}
        out.update({t.name: t.empty for t in self.tensors})
        return out

    @cached_property
    def iterative_tensors(self) -> dict[str, int]:
        """Iterative tensors and the position of their iterative rank."""
        out: dict[str, int] = {}
        for e in self.main:
            for pos, ix in enumerate(e.lhs.indices):
                if isinstance(ix.expr, IBin) and ix.expr.op == "+":
                    out[e.output] = pos
        return out

    @cached_property
    def graph(self):  # -> networkx.DiGraph
        from einsim.graph import build_graph

        return build_graph(self)

    def __getstate__(self):  # cached_property values are not part of the state
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    def __setstate__(self, state):
        for k, v in state.items():
            object.__setattr__(self, k, v)
