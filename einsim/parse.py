"""Parser: cascade text -> `Cascade` IR (then validated).

Input: the text of a `.ein` file (see workloads/cascades/ and the README for the grammar). Output: a
validated `Cascade`. Every syntax or semantic problem raises `CascadeError` naming file:line:col, the
offending text and what to change. Unicode forms are accepted: × ÷ − ≤ ≥ ≠ ∞ ∩ ∪ ← → 𝟙.

Grammar (one statement per line; newlines inside brackets, or after a binary operator, continue it):
    cascade NAME ["doc string"]
    input|output|tensor T[R1, R2, ...] [empty NUMBER], ...
    rank M = M1 * M0
    size W, ...
    scalar s = EXPR
    init:  |  einsums:
    stop VAR (>=|>) RANKEXPR
    T[idx, idx : PRED, ...] = EXPR [:: reduce[vars] OP[(MERGE)]]
EXPR: + - * / with the usual precedence, unary -, e^(A - B) (fused sub-then-exp), OP(args) calls,
OP@MERGE or infix *@MERGE for an explicit merge, numbers, inf, scalars, sizes, rank variables.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from pathlib import Path

from einsim.errors import CascadeError, EinsimError, SourceLocation
from einsim.ir import (
    Access,
    Apply,
    BoolOp,
    Cascade,
    Cmp,
    Const,
    Coord,
    Einsum,
    Expr,
    IBin,
    IExpr,
    Index,
    INum,
    ISize,
    IVar,
    Name,
    Not,
    Pred,
    RankDecl,
    ScalarDecl,
    Stop,
    TensorDecl,
)
from einsim.operators import MERGE_ALIASES, MERGES, REDUCE_ALIASES, get_operator

_UNICODE = {"×": "*", "·": "*", "÷": "/", "−": "-", "≤": "<=", "≥": ">=", "≠": "!=", "∞": "inf"}
_MERGE_SYMS = "".join(MERGE_ALIASES)
_TOKEN = re.compile(
    r"(?P<ws>[ \t\r]+)|(?P<comment>#[^\n]*)|(?P<nl>\n)|(?P<str>\"[^\"\n]*\")"
    r"|(?P<num>\d+\.\d*(?:[eE][-+]?\d+)?|\d+(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z_0-9]*)"
    r"|(?P<op>::|<=|>=|==|!=|//|[-+*/%^()\[\],:=<>@])"
    rf"|(?P<msym>[{_MERGE_SYMS}])"
)
_KEYWORDS = {"cascade", "input", "output", "tensor", "rank", "size", "scalar", "init", "einsums", "stop"}


@dataclass(frozen=True)
class Tok:
    kind: str  # name num str op nl eof
    text: str
    line: int
    col: int


def _tokenize(text: str, file: str) -> list[Tok]:
    for u, a in _UNICODE.items():
        text = text.replace(u, a)
    toks: list[Tok] = []
    line, line_start, pos, depth = 1, 0, 0, 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        col = pos - line_start + 1
        if m is None:
            end = text.find("\n", pos)
            raise CascadeError(
                SourceLocation(file, line, col),
                f"unexpected character {text[pos]!r}",
                "Remove it; cascades use names, numbers, brackets and the operators + - * / ^ max exp.",
                text[line_start : end if end >= 0 else len(text)],
            )
        kind = m.lastgroup or ""
        val = m.group()
        if kind == "nl":
            if depth == 0 and not (toks and toks[-1].kind == "op" and toks[-1].text in ("+", "-", "*", "/", ",", "@")):
                toks.append(Tok("nl", "\n", line, col))
            line += 1
            line_start = m.end()
        elif kind == "msym":
            toks.append(Tok("name", MERGE_ALIASES[val], line, col))
        elif kind not in ("ws", "comment"):
            if val in "([":
                depth += 1
            elif val in ")]":
                depth = max(0, depth - 1)
            toks.append(Tok(kind, val, line, col))
        pos = m.end()
    toks.append(Tok("nl", "\n", line, pos - line_start + 1))
    toks.append(Tok("eof", "", line, pos - line_start + 1))
    return toks


class _Parser:
    def __init__(self, text: str, file: str) -> None:
        self.file = file
        self.lines = text.splitlines()
        self.toks = _tokenize(text, file)
        self.i = 0

    # -- token helpers
    def peek(self, k: int = 0) -> Tok:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def loc(self, t: Tok | None = None) -> SourceLocation:
        t = t or self.peek()
        return SourceLocation(self.file, t.line, t.col)

    def line_text(self, t: Tok) -> str:
        return self.lines[t.line - 1] if 0 < t.line <= len(self.lines) else ""

    def error(self, problem: str, fix: str, t: Tok | None = None) -> CascadeError:
        t = t or self.peek()
        return CascadeError(self.loc(t), problem, fix, self.line_text(t))

    def next(self) -> Tok:
        t = self.peek()
        self.i += 1
        return t

    def at(self, text: str) -> bool:
        t = self.peek()
        return t.kind in ("op", "name") and t.text == text

    def expect(self, text: str, what: str = "") -> Tok:
        if not self.at(text):
            t = self.peek()
            got = "end of line" if t.kind == "nl" else repr(t.text)
            raise self.error(f"expected `{text}`{what} but found {got}", f"Write `{text}` here.")
        return self.next()

    def name(self, what: str) -> Tok:
        t = self.peek()
        if t.kind != "name":
            got = "end of line" if t.kind == "nl" else repr(t.text)
            raise self.error(f"expected {what} but found {got}", f"Write {what} here.")
        return self.next()

    def end_of_statement(self) -> None:
        t = self.peek()
        if t.kind != "nl":
            raise self.error(
                f"unexpected {t.text!r} after the end of the statement",
                "Put one statement per line, or remove the extra text.",
            )
        while self.peek().kind == "nl":
            self.next()

    # -- statements
    def parse(self) -> Cascade:
        name, doc = "", ""
        tensors: list[TensorDecl] = []
        ranks: list[RankDecl] = []
        scalars: list[ScalarDecl] = []
        init: list[Einsum] = []
        main: list[Einsum] = []
        stop: Stop | None = None
        sizes: list[str] = []
        section = "main"
        while self.peek().kind == "nl":
            self.next()
        while self.peek().kind != "eof":
            t = self.peek()
            nxt = self.peek(1)
            if t.kind == "name" and t.text in _KEYWORDS and not (nxt.kind == "op" and nxt.text == "["):
                kw = self.next().text
                if kw == "cascade":
                    if name:
                        raise self.error("a second `cascade` header", "Keep one `cascade NAME` line per file.", t)
                    name = self.name("the cascade's name").text
                    if self.peek().kind == "str":
                        doc = self.next().text[1:-1]
                elif kw in ("input", "output", "tensor"):
                    role = "temp" if kw == "tensor" else kw
                    tensors.append(self.tensor_decl(role))
                    while self.at(","):
                        self.next()
                        tensors.append(self.tensor_decl(role))
                elif kw == "rank":
                    rt = self.name("a rank name")
                    self.expect("=", " in a rank partition (`rank M = M1 * M0`)")
                    factors = [self.name("a rank name").text]
                    while self.at("*"):
                        self.next()
                        factors.append(self.name("a rank name").text)
                    if len(factors) < 2:
                        raise self.error(
                            f"rank {rt.text} is partitioned into a single factor",
                            "Write at least two factors, outermost first: `rank M = M1 * M0`.",
                            rt,
                        )
                    ranks.append(RankDecl(rt.text, tuple(factors), self.loc(rt)))
                elif kw == "size":
                    while True:
                        st = self.name("a size name (upper case, e.g. W)")
                        if not st.text[0].isupper():
                            raise self.error(f"size name {st.text!r} is not upper case",
                                             f"Name sizes in upper case, e.g. `size {st.text.upper()}`.", st)
                        sizes.append(st.text)
                        if not self.at(","):
                            break
                        self.next()
                elif kw == "scalar":
                    st = self.name("the scalar's name")
                    self.expect("=", " in a scalar declaration")
                    scalars.append(ScalarDecl(st.text, self.expr(), self.loc(st)))
                elif kw in ("init", "einsums"):
                    self.expect(":", f" after `{kw}`")
                    section = "init" if kw == "init" else "main"
                elif kw == "stop":
                    if self.at(":"):
                        self.next()
                    if stop is not None:
                        raise self.error("a second stopping condition", "Keep one `stop` line per cascade.", t)
                    vt = self.name("the iterative rank variable")
                    if self.peek().text not in (">=", ">"):
                        raise self.error(
                            "a stopping condition must compare the iterative variable with `>=` or `>`",
                            "Write it as `stop m1 >= M1`.",
                        )
                    op = self.next().text
                    stop = Stop(vt.text, op, self.iexpr(), self.loc(vt))
                self.end_of_statement()
                continue
            e = self.einsum(section)
            (init if section == "init" else main).append(e)
            self.end_of_statement()
        if not name:
            raise CascadeError(
                SourceLocation(self.file, 1, 1),
                "the cascade has no `cascade NAME` header",
                'Start the file with a line such as `cascade my_attention "what it computes"`.',
            )
        return Cascade(name, doc, tuple(tensors), tuple(ranks), tuple(scalars), tuple(init), tuple(main), stop,
                       sizes=tuple(sizes))

    def tensor_decl(self, role: str) -> TensorDecl:
        nt = self.name("a tensor name")
        self.expect("[", f" after tensor name {nt.text}")
        ranks: list[str] = []
        while not self.at("]"):
            r = self.name("a rank name (upper case, e.g. M)")
            if not r.text[0].isupper():
                raise self.error(
                    f"rank name {r.text!r} in the declaration of {nt.text} is not upper case",
                    f"Declare ranks by their upper-case names, e.g. `{nt.text}[{r.text.upper()}]`.",
                    r,
                )
            ranks.append(r.text)
            if not self.at("]"):
                self.expect(",", " between ranks")
        self.expect("]")
        empty = 0.0
        if self.at("empty"):
            self.next()
            sign = 1.0
            if self.at("-"):
                self.next()
                sign = -1.0
            v = self.peek()
            if v.kind == "num":
                empty = sign * float(self.next().text)
            elif v.kind == "name" and v.text == "inf":
                self.next()
                empty = sign * math.inf
            else:
                raise self.error("expected a number after `empty`", "Write e.g. `empty -inf` or `empty 0`.")
        return TensorDecl(nt.text, tuple(ranks), role, empty, self.loc(nt))

    def einsum(self, section: str) -> Einsum:
        start = self.peek()
        if start.kind != "name":
            raise self.error(
                f"a statement cannot start with {start.text!r}",
                "Start statements with a keyword (cascade, input, output, tensor, rank, scalar, init:, einsums:, "
                "stop) or an Einsum's output access such as `QK[m, p] = ...`.",
            )
        lhs = self.access(self.next())
        self.expect("=", f" after the output {lhs.tensor}[...]")
        rhs = self.expr()
        rop = rvars = rmerge = None
        if self.at("::"):
            self.next()
            kw = self.name("`reduce`")
            if kw.text != "reduce":
                raise self.error(
                    f"unknown action {kw.text!r} after `::`",
                    "Only `reduce[vars] OP(MERGE)` may follow `::`, e.g. `:: reduce[m] max`.",
                    kw,
                )
            if self.at("["):
                self.next()
                vs = []
                while not self.at("]"):
                    vs.append(self.name("a rank variable").text)
                    if not self.at("]"):
                        self.expect(",", " between reduced variables")
                self.expect("]")
                rvars = tuple(vs)
            ot = self.name("a reduction operator (sum, max, min, prod)")
            if ot.text not in REDUCE_ALIASES:
                raise self.error(
                    f"unknown reduction operator {ot.text!r}",
                    "Use one of sum, max, min, prod after `reduce`.",
                    ot,
                )
            rop = REDUCE_ALIASES[ot.text]
            rop = None if rop == "add" else rop  # sum is the default reduction: canonical None
            if self.at("("):
                self.next()
                rmerge = self.merge_name()
                self.expect(")")
        return Einsum(lhs, rhs, section, rop, rvars, rmerge, self.loc(start))

    def merge_name(self) -> str:
        mt = self.name("a merge operator")
        if mt.text not in MERGES:
            raise self.error(
                f"unknown merge operator {mt.text!r}",
                f"Use one of {', '.join(MERGES)} (or ∩ ∪ ← → 𝟙).",
                mt,
            )
        return mt.text

    def access(self, nt: Tok) -> Access:
        self.expect("[", f" after tensor name {nt.text}")
        idx: list[Index] = []
        while not self.at("]"):
            e = self.iexpr()
            cond = None
            if self.at(":"):
                self.next()
                cond = self.pred()
            idx.append(Index(e, cond))
            if not self.at("]"):
                self.expect(",", " between indices")
        self.expect("]")
        return Access(nt.text, tuple(idx), self.loc(nt))

    # -- value expressions
    def expr(self) -> Expr:
        e = self.term()
        while self.peek().text in ("+", "-") and self.peek().kind == "op":
            op = "add" if self.next().text == "+" else "sub"
            merge = self.opt_merge()
            e = Apply(op, (e, self.term()), merge)
        return e

    def opt_merge(self) -> str | None:
        if self.at("@"):
            self.next()
            return self.merge_name()
        return None

    def term(self) -> Expr:
        e = self.unary()
        while self.peek().text in ("*", "/") and self.peek().kind == "op":
            op = "mul" if self.next().text == "*" else "div"
            merge = self.opt_merge()
            e = Apply(op, (e, self.unary()), merge)
        return e

    def unary(self) -> Expr:
        if self.at("-"):
            t = self.next()
            return Apply("neg", (self.unary(),), None, self.loc(t))
        return self.atom()

    def atom(self) -> Expr:
        t = self.peek()
        if t.kind == "num":
            self.next()
            return Const(float(t.text))
        if t.kind == "op" and t.text == "(":
            self.next()
            e = self.expr()
            self.expect(")", " to close the parenthesis")
            return e
        if t.kind != "name":
            got = "end of line" if t.kind == "nl" else repr(t.text)
            raise self.error(f"expected a value but found {got}", "Write a tensor access, number, name or call here.")
        self.next()
        if t.text == "inf":
            return Const(math.inf)
        if t.text == "e" and self.at("^"):
            self.next()
            self.expect("(", " after `e^`")
            inner = self.expr()
            self.expect(")", " to close `e^(...)`")
            if isinstance(inner, Apply) and inner.op == "sub" and inner.merge is None:
                return Apply("expsub", inner.args, None, self.loc(t))
            return Apply("exp", (inner,), None, self.loc(t))
        if self.at("["):
            return self.access(t)
        if self.at("(") or self.at("@"):
            merge = self.opt_merge()
            op = get_operator(t.text)
            if op is None:
                raise self.error(
                    f"unknown operator {t.text!r}",
                    "Use a built-in operator (max, min, exp, neg, reciprocal, sqrt, log, abs, relu, elu1, square, "
                    "expsub) or register it from Python with einsim.register_operator before parsing.",
                    t,
                )
            self.expect("(", f" after operator {t.text}")
            args = [self.expr()]
            while self.at(","):
                self.next()
                args.append(self.expr())
            self.expect(")", f" to close the call of {t.text}")
            if len(args) != op.arity:
                raise self.error(
                    f"operator {t.text} takes {op.arity} operand(s) but is given {len(args)}",
                    f"Call it with {op.arity} operand(s).",
                    t,
                )
            return Apply(t.text, tuple(args), merge, self.loc(t))
        return Name(t.text, self.loc(t))

    # -- rank expressions and predicates
    def iexpr(self) -> IExpr:
        e = self.iterm()
        while self.peek().kind == "op" and self.peek().text in ("+", "-"):
            op = self.next().text
            e = IBin(op, e, self.iterm())
        return e

    def iterm(self) -> IExpr:
        e = self.iatom()
        while self.peek().kind == "op" and self.peek().text in ("*", "//", "%"):
            op = self.next().text
            e = IBin(op, e, self.iatom())
        return e

    def iatom(self) -> IExpr:
        t = self.peek()
        if t.kind == "num":
            self.next()
            if not t.text.isdigit():
                raise self.error(
                    f"rank expressions use whole numbers, not {t.text!r}", "Write an integer here.", t
                )
            return INum(int(t.text))
        if t.kind == "op" and t.text == "(":
            self.next()
            e = self.iexpr()
            self.expect(")", " to close the parenthesis")
            return e
        if t.kind == "name":
            self.next()
            return IVar(t.text) if t.text[0].islower() else ISize(t.text)
        got = "end of line" if t.kind == "nl" else repr(t.text)
        raise self.error(
            f"expected a rank expression but found {got}",
            "Index with rank variables (m, p), sizes (M0) and integer arithmetic, e.g. `m1*M0 + m0`.",
        )

    def pred(self) -> Pred:
        p = self.pand()
        while self.at("or"):
            self.next()
            p = BoolOp("or", p, self.pand())
        return p

    def pand(self) -> Pred:
        p = self.pnot()
        while self.at("and"):
            self.next()
            p = BoolOp("and", p, self.pnot())
        return p

    def pnot(self) -> Pred:
        if self.at("not"):
            self.next()
            return Not(self.pnot())
        if self.at("("):
            save = self.i
            try:
                self.next()
                p = self.pred()
                self.expect(")")
                return p
            except CascadeError:
                self.i = save
        a = self.iexpr()
        t = self.peek()
        if t.text not in ("==", "!=", "<", "<=", ">", ">="):
            raise self.error(
                "expected a comparison (==, !=, <, <=, >, >=) in the filter",
                "Write a filter such as `m : m <= p + (M - P)`.",
            )
        self.next()
        return Cmp(t.text, a, self.iexpr())


def _resolve_coords(c: Cascade) -> Cascade:
    """Lower-case names that are not scalars are rank variables used as values (`Coord`)."""
    scalars = {s.name for s in c.scalars}

    def fix(e: Expr) -> Expr:
        if isinstance(e, Name) and e.name[:1].islower() and e.name not in scalars:
            return Coord(e.name)
        if isinstance(e, Apply):
            return Apply(e.op, tuple(fix(a) for a in e.args), e.merge, e.loc)
        return e

    fixed = lambda es: tuple(replace(x, rhs=fix(x.rhs)) for x in es)  # noqa: E731
    return replace(c, init=fixed(c.init), main=fixed(c.main))


def parse(text: str, file: str = "<string>", validate: bool = True) -> Cascade:
    """Parse cascade text into a validated `Cascade` (raises `CascadeError` on bad input)."""
    c = _resolve_coords(_Parser(text, file).parse())
    object.__setattr__(c, "source", file)
    if validate:
        from einsim.validate import validate as _validate

        _validate(c)
    return c


def parse_file(path: str | Path) -> Cascade:
    """Parse and validate a `.ein` cascade file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise EinsimError(f"{p}: cannot read the cascade file ({exc.strerror}). Check the path.") from None
    return parse(text, str(p))
