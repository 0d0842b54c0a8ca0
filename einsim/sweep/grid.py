"""Parameter products: the points of a sweep, as a list of plain dicts.

`grid(model=["bert", "xlm"], seq=[1024, 4096])` is the Cartesian product of its axes, in row-major order
(the last axis varies fastest). An axis named with `+` ("arch.pe_rows+arch.pe_cols") sets every named
field to the same value, e.g. square arrays. `parse_axis("seq=1K..1M:x4")` turns command-line
text into an axis.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from einsim.errors import EinsimError

_SUFFIX = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "KI": 1024, "MI": 1024**2, "GI": 1024**3}
_NUM = re.compile(r"^([+-]?\d+(?:\.\d*)?(?:[eE][+-]?\d+)?)([KMG]i?)?(B)?$", re.IGNORECASE)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def grid(**axes: Sequence[Any]) -> list[dict[str, Any]]:
    """All combinations of the axes' values; an axis name "a+b" sets a and b to the same value.

    >>> grid(model=["bert", "xlm"], seq=[1024, 4096])[1]
    {'model': 'bert', 'seq': 4096}
    >>> grid(**{"arch.rows+arch.cols": [16, 32]})
    [{'arch.rows': 16, 'arch.cols': 16}, {'arch.rows': 32, 'arch.cols': 32}]
    """
    return product(axes)


def product(axes: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Same as `grid`, from a mapping (so axis names need not be identifiers)."""
    names = list(axes)
    values = []
    for name in names:
        vals = axes[name]
        if isinstance(vals, str | bytes) or not isinstance(vals, Iterable):
            vals = [vals]
        vals = list(vals)
        if not vals:
            raise EinsimError(f"sweep axis `{name}` has no values. Give at least one value, e.g. {name}=1,2.")
        values.append(vals)
    points = []
    for combo in itertools.product(*values):
        point: dict[str, Any] = {}
        for name, val in zip(names, combo):
            for field in name.split("+"):
                point[field.strip()] = val
        points.append(point)
    return points


def parse_value(text: str) -> Any:
    """One command-line value: an int (with K/M/G binary suffixes: 16K = 16384, 16MiB = 16777216 bytes), a
    float, true/false/none, or else the string itself.

    >>> [parse_value(t) for t in ["16K", "1M", "0.5", "1e9", "true", "bert", "16MiB"]]
    [16384, 1048576, 0.5, 1000000000, True, 'bert', 16777216]
    """
    t = text.strip()
    low = t.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    m = _NUM.match(t)
    if m:
        num, suffix, _ = m.groups()
        mult = _SUFFIX[(suffix or "").upper()]
        val = float(num) * mult
        if val.is_integer() and ("." not in num or suffix or "e" in num.lower()):
            return int(val)
        return val
    return t


def parse_axis(text: str) -> tuple[str, list[Any]]:
    """Parse `NAME=V1,V2,...` or `NAME=A..B` (doubling) or `NAME=A..B:xK` (times K) into (name, values).

    >>> parse_axis("seq=1K..16K:x4")
    ('seq', [1024, 4096, 16384])
    >>> parse_axis("config=fusemax,flat")
    ('config', ['fusemax', 'flat'])
    """
    if "=" not in text:
        raise EinsimError(
            f"sweep axis `{text}` has no `=`. Write NAME=V1,V2 (e.g. seq=1K,4K or model=bert,xlm), "
            f"NAME=A..B for doubling steps or NAME=A..B:x4 for steps of 4."
        )
    name, _, rhs = text.partition("=")
    name = name.strip()
    for field in name.split("+"):
        if not _NAME.match(field.strip()):
            raise EinsimError(
                f"sweep axis name `{name}` is not valid: use identifiers, dotted for architecture fields "
                f"(arch.global_buffer_bytes) and joined by + to set several fields to one value."
            )
    rhs = rhs.strip()
    if not rhs:
        raise EinsimError(f"sweep axis `{name}` has no values. Write {name}=V1,V2,...")
    values: list[Any] = []
    for part in rhs.split(","):
        part = part.strip()
        if ".." in part:
            values.extend(_parse_range(name, part))
        elif part:
            values.append(parse_value(part))
    if not values:
        raise EinsimError(f"sweep axis `{name}` has no values. Write {name}=V1,V2,...")
    return name, values


def _parse_range(name: str, part: str) -> list[Any]:
    lo_t, _, rest = part.partition("..")
    hi_t, _, step_t = rest.partition(":")
    lo, hi = parse_value(lo_t), parse_value(hi_t)
    step = 2.0
    if step_t:
        s = step_t.strip().lower().lstrip("x")
        step = parse_value(s) if s else 0
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (lo, hi, step)):
        raise EinsimError(
            f"range `{part}` of sweep axis `{name}` must be numeric, like 1K..1M or 1K..1M:x4 "
            f"(geometric steps; the default step is x2)."
        )
    if lo <= 0 or hi < lo or step <= 1:
        raise EinsimError(
            f"range `{part}` of sweep axis `{name}` must satisfy 0 < start <= end and step > 1 "
            f"(a geometric range such as 1K..1M:x4)."
        )
    out: list[Any] = []
    v = lo
    while v <= hi * (1 + 1e-12):
        out.append(int(v) if float(v).is_integer() else v)
        v = v * step
        if len(out) > 10_000:
            raise EinsimError(f"range `{part}` of sweep axis `{name}` has more than 10000 values; use a larger step.")
    return out
