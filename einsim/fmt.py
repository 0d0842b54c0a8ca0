"""Formatter: `Cascade` IR -> canonical cascade text, such that `parse(format_cascade(c)) == c`.

Parentheses are printed exactly where the tree needs them; default merges are omitted, explicit
ones are printed as `op@merge`; the reduce action is printed when it is not the default sum.
"""

from __future__ import annotations

import math

from einsim.ir import (
    Access,
    Cascade,
    Cmp,
    Const,
    Coord,
    Einsum,
    Expr,
    IExpr,
    Index,
    INum,
    ISize,
    IVar,
    Name,
    Not,
    Pred,
)

_INFIX = {"add": ("+", 1), "sub": ("-", 1), "mul": ("*", 2), "div": ("/", 2)}
_REDUCE_NAMES = {"add": "sum", "max": "max", "min": "min", "mul": "prod"}
_IPREC = {"+": 1, "-": 1, "*": 2, "//": 2, "%": 2}


def format_number(v: float) -> str:
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if float(v).is_integer() and abs(v) < 1e15:
        return str(int(v))
    return repr(float(v))


def format_iexpr(e: IExpr, prec: int = 0) -> str:
    if isinstance(e, IVar | ISize):
        return e.name
    if isinstance(e, INum):
        return str(e.value)
    p = _IPREC[e.op]
    s = f"{format_iexpr(e.a, p)} {e.op} {format_iexpr(e.b, p + 1)}" if p == 1 else (
        f"{format_iexpr(e.a, p)}{e.op}{format_iexpr(e.b, p + 1)}"
    )
    return f"({s})" if p < prec else s


def format_pred(p: Pred, prec: int = 0) -> str:
    if isinstance(p, Cmp):
        return f"{format_iexpr(p.a)} {p.op} {format_iexpr(p.b)}"
    if isinstance(p, Not):
        return f"not {format_pred(p.a, 3)}"
    mine = 1 if p.op == "or" else 2
    s = f"{format_pred(p.a, mine)} {p.op} {format_pred(p.b, mine + 1)}"
    return f"({s})" if mine < prec else s


def format_index(ix: Index) -> str:
    s = format_iexpr(ix.expr)
    return f"{s} : {format_pred(ix.cond)}" if ix.cond is not None else s


def format_access(a: Access) -> str:
    return f"{a.tensor}[{', '.join(format_index(i) for i in a.indices)}]"


def format_expr(e: Expr, prec: int = 0) -> str:
    if isinstance(e, Access):
        return format_access(e)
    if isinstance(e, Const):
        s = format_number(e.value)
        return f"({s})" if s.startswith("-") else s
    if isinstance(e, Name | Coord):
        return e.name
    merge = f"@{e.merge}" if e.merge is not None else ""
    if e.op in _INFIX and len(e.args) == 2:
        sym, p = _INFIX[e.op]
        s = f"{format_expr(e.args[0], p)} {sym}{merge} {format_expr(e.args[1], p + 1)}"
        return f"({s})" if p < prec else s
    if e.op == "neg" and e.merge is None:
        s = f"-{format_expr(e.args[0], 3)}"
        return f"({s})" if prec > 2 else s
    if e.op == "expsub" and e.merge is None:
        return f"e^({format_expr(e.args[0], 1)} - {format_expr(e.args[1], 2)})"
    return f"{e.op}{merge}({', '.join(format_expr(a) for a in e.args)})"


def format_einsum(e: Einsum) -> str:
    s = f"{format_access(e.lhs)} = {format_expr(e.rhs)}"
    if e.reduce_op is not None or e.reduce_vars is not None or e.reduce_merge is not None:
        vs = f"[{', '.join(e.reduce_vars)}]" if e.reduce_vars is not None else ""
        merge = f"({e.reduce_merge})" if e.reduce_merge is not None else ""
        s += f" :: reduce{vs} {_REDUCE_NAMES[e.reduce_op or 'add']}{merge}"
    return s


def format_cascade(c: Cascade) -> str:
    """Canonical text of a cascade."""
    doc = f' "{c.doc}"' if c.doc else ""
    out = [f"cascade {c.name}{doc}", ""]
    for t in c.tensors:
        kw = "tensor" if t.role == "temp" else t.role
        empty = f" empty {format_number(t.empty)}" if t.empty != 0.0 else ""
        out.append(f"{kw} {t.name}[{', '.join(t.ranks)}]{empty}")
    for r in c.ranks:
        out.append(f"rank {r.name} = {' * '.join(r.factors)}")
    if c.sizes:
        out.append(f"size {', '.join(c.sizes)}")
    for s in c.scalars:
        out.append(f"scalar {s.name} = {format_expr(s.expr)}")
    if c.init:
        out += ["", "init:"] + [f"  {format_einsum(e)}" for e in c.init]
    out += ["", "einsums:"] + [f"  {format_einsum(e)}" for e in c.main]
    if c.stop is not None:
        out += ["", f"stop {c.stop.var} {c.stop.op} {format_iexpr(c.stop.bound)}"]
    return "\n".join(out) + "\n"
