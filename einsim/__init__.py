"""einsim: extended-Einsum cascades for attention, their pass analysis, a cycle-level spatial-array
model and GPU lowering.

The public surface: `parse`, `parse_file`, `format_cascade`, `validate`, `execute`,
`analyze_passes`, `op_counts`, `register_operator`, `EinsimError`. Importing einsim needs numpy,
sympy and networkx only (torch/triton are imported lazily by `einsim.gpu`).
"""

from einsim.errors import CascadeError, EinsimError
from einsim.execute import execute, reference_attention
from einsim.fmt import format_cascade
from einsim.ir import Cascade, Einsum
from einsim.operators import register_operator
from einsim.parse import parse, parse_file
from einsim.passes import PassAnalysis, analyze_passes, op_counts
from einsim.validate import validate

__all__ = [
    "Cascade",
    "CascadeError",
    "Einsum",
    "EinsimError",
    "PassAnalysis",
    "analyze_passes",
    "execute",
    "format_cascade",
    "op_counts",
    "parse",
    "parse_file",
    "reference_attention",
    "register_operator",
    "validate",
]
