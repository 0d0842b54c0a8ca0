"""Attention workload shapes: the `Model` dataclass and `get_model(name)`.

Input: a registered model name (see einsim.registry; the repository registers workloads/models.py:
BERT, TrXL, T5, XLM at B = 64) or a shape string `B,H,E,F,M,P`. Output: a frozen `Model`;
`Model.with_seq(n)` sets M = P = n. Unknown names raise EinsimError.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from einsim.errors import EinsimError
from einsim.registry import model_registry

SEQ_LENS = (1024, 4096, 16384, 65536, 262144, 1048576)


@dataclass(frozen=True)
class Model:
    """Attention shape: B batch, H heads, E = Q/K head dim, F = V head dim, M keys, P queries,
    D model width and S FFN width (for the linear layers)."""

    name: str
    B: int
    H: int
    E: int
    F: int
    D: int
    S: int
    M: int = 16384
    P: int = 16384

    def __post_init__(self) -> None:
        for k in ("B", "H", "E", "F", "D", "S", "M", "P"):
            v = getattr(self, k)
            if not isinstance(v, int) or v <= 0:
                raise EinsimError(f"Model `{self.name}`: {k} = {v!r}; every shape must be a positive integer.")

    def with_seq(self, seq: int) -> Model:
        return replace(self, M=seq, P=seq)


ALIASES = {"bert-base": "bert", "trxl-wt103": "trxl", "t5-small": "t5"}


def get_model(name: str) -> Model:
    """A named model (bert, trxl, t5, xlm) or `B,H,E,F,M,P` (D = H*E, S = 4*D)."""
    key = ALIASES.get(name.lower(), name.lower())
    models = model_registry()
    if key in models:
        return models[key]
    parts = name.split(",")
    if len(parts) == 6:
        try:
            B, H, E, F, M, P = (int(x) for x in parts)
        except ValueError:
            pass
        else:
            return Model(f"custom_{B}x{H}x{E}x{F}", B=B, H=H, E=E, F=F, D=H * E, S=4 * H * E, M=M, P=P)
    raise EinsimError(
        f"Unknown model `{name}`. Use one of {sorted(models)} or a shape `B,H,E,F,M,P` such as 64,12,64,64,4096,4096."
    )
