"""Rank sizes: derive every rank's size from input shapes, given sizes and partition declarations.

Input: a `Cascade`, input arrays (optional) and a dict of given sizes. Output: a complete dict of rank
sizes (partition factors derived, e.g. M1 = M / M0), or an `EinsimError` naming the conflicting rank.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from einsim.errors import EinsimError
from einsim.ir import Cascade
from einsim.validate import known_ranks


def resolve_sizes(
    c: Cascade, sizes: Mapping[str, int] | None = None, inputs: Mapping[str, np.ndarray] | None = None
) -> dict[str, int]:
    out: dict[str, int] = {}

    def put(rank: str, n: int, why: str) -> None:
        n = int(n)
        if n <= 0:
            raise EinsimError(f"{c.source}: rank {rank} has size {n} ({why}); sizes must be positive integers.")
        if rank in out and out[rank] != n:
            raise EinsimError(
                f"{c.source}: rank {rank} is used with two sizes, {out[rank]} and {n} ({why}). "
                f"Give inputs and sizes that agree on {rank}."
            )
        out[rank] = n

    for k, v in (sizes or {}).items():
        put(k, v, "given size")
    for t in c.inputs:
        if inputs is not None and t.name in inputs:
            arr = np.asarray(inputs[t.name])
            if arr.ndim != len(t.ranks):
                raise EinsimError(
                    f"{c.source}: input {t.name} is declared with ranks [{', '.join(t.ranks)}] but the array given "
                    f"has {arr.ndim} dimension(s) (shape {arr.shape}). Pass an array of shape "
                    f"({', '.join(t.ranks)})."
                )
            for r, n in zip(t.ranks, arr.shape):
                put(r, n, f"shape of input {t.name}")
    changed = True
    while changed:
        changed = False
        for rd in c.ranks:
            known = [f for f in rd.factors if f in out]
            if rd.name in out and len(known) == len(rd.factors) - 1:
                prod = int(np.prod([out[f] for f in known]))
                (missing,) = [f for f in rd.factors if f not in out]
                if out[rd.name] % prod:
                    raise EinsimError(
                        f"{c.source}: rank {rd.name} = {' * '.join(rd.factors)} cannot be partitioned: {rd.name} = "
                        f"{out[rd.name]} is not a multiple of {prod}. Choose factor sizes that divide {rd.name}."
                    )
                put(missing, out[rd.name] // prod, f"partition of {rd.name}")
                changed = True
            elif rd.name not in out and len(known) == len(rd.factors):
                put(rd.name, int(np.prod([out[f] for f in rd.factors])), "product of its partition")
                changed = True
            elif rd.name in out and len(known) == len(rd.factors):
                prod = int(np.prod([out[f] for f in rd.factors]))
                if prod != out[rd.name]:
                    raise EinsimError(
                        f"{c.source}: rank {rd.name} = {out[rd.name]} but {' * '.join(rd.factors)} = {prod}. "
                        "Give partition sizes whose product is the rank's size."
                    )
    missing = sorted(r for r in known_ranks(c) if r not in out and r != "?")
    if missing:
        raise EinsimError(
            f"{c.source}: no size for rank(s) {', '.join(missing)}. Pass them, e.g. sizes={{'{missing[0]}': 64}}."
        )
    return out
