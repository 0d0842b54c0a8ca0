"""Compute operators and merge operators of the extended-Einsum language (EDGE).

Inputs: operator names as written in a cascade. Outputs: `Operator` records (arity, numpy
implementation, cost class, default merge) from one registry, and the 16 EDGE merge truth tables.

Modelling conventions (documented semantics, relied on by the executor and the analyzer):
- `expsub(a, b)` is FuseMax's fused sub-then-exp `e^(a - b)`; where `a` is -inf the result is 0 (also
  for `b` = -inf), so fully masked rows never produce NaN.
- `div(a, b)` defaults to FuseMax's merge "touch only points where the divisor is non-empty" (EDGE's
  truth table calls this take_right), and a zero divisor counts as empty; untouched points take the
  output tensor's empty value (so a fully masked softmax row gives 0, never 0/0).
- Cost classes are mac, mul, add, max, exp, div, other. A `mul` whose result is immediately
  sum-reduced is counted as one `mac` per iteration point by the analyzer.
User-defined element-wise operators are added with `register_operator`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from einsim.errors import EinsimError

COST_CLASSES = ("mac", "mul", "add", "max", "exp", "div", "other")

# EDGE merge operators: name -> (visit if (absent,absent), (absent,R), (L,absent), (L,R)).
MERGES: dict[str, tuple[bool, bool, bool, bool]] = {
    "pass": (True, True, True, True),  # 𝟙 pass-through
    "none": (False, False, False, False),
    "inter": (False, False, False, True),  # ∩
    "union": (False, True, True, True),  # ∪
    "left": (False, False, True, True),  # ← take_left (edge-core-ir)
    "right": (False, True, False, True),  # → take_right (FuseMax's ÷(←): divisor present)
    "left_only": (False, False, True, False),
    "right_only": (False, True, False, False),
    "xor": (False, True, True, False),
    "nor": (True, False, False, False),
    "xnor": (True, False, False, True),
    "not_right": (True, False, True, False),
    "not_left": (True, True, False, False),
    "implies_left": (True, False, True, True),
    "implies_right": (True, True, False, True),
    "nand": (True, True, True, False),
}
MERGE_ALIASES = {"𝟙": "pass", "∩": "inter", "∪": "union", "←": "left", "→": "right"}


def _expsub(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.broadcast_arrays(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))
    out = np.zeros(a.shape)
    live = a != -np.inf
    with np.errstate(over="ignore", invalid="ignore"):
        out[live] = np.exp(a[live] - b[live])
    return out


def _div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.divide(a, b)


@dataclass(frozen=True)
class Operator:
    """One compute operator: its name, arity, float64 numpy implementation and cost class."""

    name: str
    arity: int
    fn: Callable[..., np.ndarray] = field(compare=False, repr=False)
    cost_class: str
    default_merge: str = "pass"
    #: identity element when used as a reduction operator (None: not a reduction operator)
    identity: float | None = None
    #: numpy reduction for reduce actions (None: not usable as a reduction)
    reduce_fn: Callable[..., np.ndarray] | None = field(default=None, compare=False, repr=False)
    builtin: bool = True


_REGISTRY: dict[str, Operator] = {}


def _add(op: Operator) -> None:
    _REGISTRY[op.name] = op


_add(Operator("add", 2, np.add, "add", "union", 0.0, np.sum))
_add(Operator("sub", 2, np.subtract, "add", "union"))
_add(Operator("mul", 2, np.multiply, "mul", "inter", 1.0, np.prod))
_add(Operator("div", 2, _div, "div", "right"))
_add(Operator("max", 2, np.maximum, "max", "union", -np.inf, np.max))
_add(Operator("min", 2, np.minimum, "max", "union", np.inf, np.min))
_add(Operator("expsub", 2, _expsub, "exp", "pass"))
_add(Operator("exp", 1, np.exp, "exp", "left"))
_add(Operator("neg", 1, np.negative, "other", "left"))
_add(Operator("reciprocal", 1, lambda a: _div(1.0, a), "div", "left"))
_add(Operator("sqrt", 1, np.sqrt, "other", "left"))
_add(Operator("log", 1, np.log, "other", "left"))
_add(Operator("abs", 1, np.abs, "other", "left"))
_add(Operator("relu", 1, lambda a: np.maximum(a, 0.0), "max", "left"))
_add(Operator("elu1", 1, lambda a: np.where(a > 0, a + 1.0, np.exp(np.minimum(a, 0.0))), "exp", "left"))
_add(Operator("square", 1, np.square, "mul", "left"))

#: reduction operators accepted after `:: reduce`; aliases map to registry names
REDUCE_ALIASES = {"sum": "add", "+": "add", "max": "max", "min": "min", "prod": "mul"}


def get_operator(name: str) -> Operator | None:
    """The operator registered under `name`, or None."""
    return _REGISTRY.get(name)


def operator_names() -> tuple[str, ...]:
    return tuple(sorted(_REGISTRY))


def register_operator(
    name: str,
    arity: int,
    fn: Callable[..., np.ndarray],
    cost_class: str = "other",
    merge: str | None = None,
) -> Operator:
    """Register a user-defined element-wise operator usable in cascades as `name(x)` or `name(x, y)`.

    `fn` takes float64 arrays (broadcast against each other) and returns an array; `cost_class` is
    one of COST_CLASSES; `merge` is an EDGE merge name (default: `left` for unary, `inter` for binary).
    Re-registering a user operator replaces it; built-in operators cannot be replaced.
    """
    if not name.isidentifier():
        raise EinsimError(f"Operator name {name!r} is not an identifier; use letters, digits and '_'.")
    if arity not in (1, 2):
        raise EinsimError(f"Operator {name!r} has arity {arity}; user operators take 1 or 2 operands.")
    if cost_class not in COST_CLASSES:
        raise EinsimError(f"Operator {name!r}: cost class {cost_class!r} is not one of {', '.join(COST_CLASSES)}.")
    merge = merge or ("left" if arity == 1 else "inter")
    if merge not in MERGES:
        raise EinsimError(f"Operator {name!r}: merge {merge!r} is not one of {', '.join(MERGES)}.")
    old = _REGISTRY.get(name)
    if old is not None and old.builtin:
        raise EinsimError(f"Operator {name!r} is built in and cannot be redefined; choose another name.")
    op = Operator(name, arity, fn, cost_class, merge, builtin=False)
    _REGISTRY[name] = op
    return op
