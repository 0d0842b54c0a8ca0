"""GPU lowering of attention cascades, and a GPU model that predicts their DRAM bytes and time.

Pure (no torch, no triton): `lower(cascade) -> KernelPlan` (einsim.gpu.lower), `choose_tiling`,
`Shape`, `Tiling` (einsim.gpu.plan), `predict(plan, shape, tiling, arch) -> Prediction`
(einsim.gpu.model) with `H100_SXM`, `H200` (einsim.gpu.arch). Importing this package imports neither.

Needs torch + triton (import the submodules explicitly): einsim.gpu.runtime (`prepare`, `attention`,
`register_triton_operator`), einsim.gpu.kernels (the Triton pass skeleton), einsim.gpu.inspect
(compile for sm_90 on the CPU and read registers / SASS counts).

    >>> import einsim
    >>> from einsim.gpu import lower
    >>> from einsim.taxonomy import LIBRARY_DIR
    >>> plan = lower(einsim.parse_file(LIBRARY_DIR / "twopass_deferred.ein"))
    >>> [k.label for k in plan.kernels]
    ['max', 'exp+sum+PV+div']
"""

from einsim.gpu.arch import ARCHS, H100_SXM, H200, GpuArch, arch_for
from einsim.gpu.lower import lower
from einsim.gpu.model import KernelCost, Prediction, predict
from einsim.gpu.plan import KernelPlan, PassKernel, Shape, Tiling, choose_tiling

__all__ = [
    "ARCHS",
    "GpuArch",
    "H100_SXM",
    "H200",
    "KernelCost",
    "KernelPlan",
    "PassKernel",
    "Prediction",
    "Shape",
    "Tiling",
    "arch_for",
    "choose_tiling",
    "lower",
    "predict",
]
