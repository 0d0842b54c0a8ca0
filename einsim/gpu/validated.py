"""How far the GPU model's predictions have been from the measured kernels, by card and kernel kind.

Input: a lowered cascade, its shape and launch (`kernel_kind` names the kind), and the table
`validated_errors.json` beside this module, written by `python studies/gpu_validation.py` from every
measured einsim record of studies/results/gpu_benchmark.json against the *current* model.
Output: an `ErrorBand` (frozen): the 10th, 50th and 90th percentiles of measured / predicted time over
the records of that card and kind, their count and runs, and how many fell within ±25 %.

What it is for: a prediction printed with the scatter its kind has shown on hardware, so that a user
comparing two cascades sees when their predicted gap is smaller than that scatter (the model then does
not rank them reliably: e.g. FA1 against the warp-specialized FA2 1-pass at D=128, notes_gpu.md v22-v26).
The table describes the model; nothing in the model reads it. Run 1 (the records the model's constants
were fitted to) is left out. A kind is the regime that decides which law times the kernel (linear
attention, split-K decode, decode, prefill by passes, warp specialization and band), not the cascade's name.
"""

from __future__ import annotations

import functools
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from einsim.gpu.plan import KernelPlan, Shape, Tiling, ws_applies

ERRORS_FILE = Path(__file__).with_name("validated_errors.json")
#: runs whose records fitted the model's constants (studies/notes_gpu.md, v1): not a validation
FITTED_RUNS = (1,)
TIME_TOL = 0.25


def kernel_kind(plan: KernelPlan, shape: Shape, t: Tiling) -> str:
    """The regime of a lowered cascade at a shape and launch, as the validation table groups records."""
    if plan.linear:
        return "linear attention, causal" if plan.causal else "linear attention"
    if plan.split_k:
        return "split-K decode"
    if shape.N_Q == 1:
        return "decode"
    parts = ["prefill", f"{plan.passes} passes" if plan.passes > 1 else "1 pass"]
    if t.warp_specialize and ws_applies(plan, shape, t):
        parts.append("warp-specialized")
    if plan.band is not None:
        parts.append("sliding window" if plan.window else "causal")
    return ", ".join(parts)


@dataclass(frozen=True)
class ErrorBand:
    """Measured / predicted time over the validated records of one card and kernel kind."""

    card: str
    kind: str
    records: int
    first_run: int
    last_run: int
    #: percentiles of measured_ms / predicted_ms (1.10: the kernels ran 10 % longer than predicted)
    ratio_p10: float
    ratio_median: float
    ratio_p90: float
    within_25_percent: int

    def line(self) -> str:
        return (
            f"validated on {self.card}, {self.kind}: measured / predicted time {self.ratio_p10:.2f}-"
            f"{self.ratio_p90:.2f} (10th-90th percentile, median {self.ratio_median:.2f}) over {self.records} "
            f"records of runs {self.first_run}-{self.last_run}; {self.within_25_percent} within ±25 %"
        )

    def to_dict(self) -> dict:
        return asdict(self)


def _percentile(xs: list[float], q: float) -> float:
    """The q-quantile of `xs`, interpolated linearly between order statistics."""
    return float(np.quantile(xs, q))


def error_bands(rows: list[dict]) -> list[ErrorBand]:
    """Bands from validation rows (dicts with `card` — an arch name —, `kind`, `run`, `ms` measured and
    `predicted_ms`), one per (card, kind), the fitted runs left out."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        if r["run"] in FITTED_RUNS or not r.get("ms") or not r.get("predicted_ms"):
            continue
        groups.setdefault((r["card"], r["kind"]), []).append(r)
    bands = []
    for (card, kind), rs in sorted(groups.items()):
        ratios = [r["ms"] / r["predicted_ms"] for r in rs]
        within = sum(abs(r["predicted_ms"] / r["ms"] - 1) <= TIME_TOL for r in rs)
        runs = [r["run"] for r in rs]
        bands.append(
            ErrorBand(
                card,
                kind,
                len(rs),
                min(runs),
                max(runs),
                round(_percentile(ratios, 0.1), 4),
                round(_percentile(ratios, 0.5), 4),
                round(_percentile(ratios, 0.9), 4),
                within,
            )
        )
    return bands


def write_error_bands(bands: list[ErrorBand], path: Path = ERRORS_FILE) -> Path:
    path.write_text(json.dumps([b.to_dict() for b in bands], indent=1) + "\n")
    _bands.cache_clear()
    return path


@functools.cache
def _bands(path: Path = ERRORS_FILE) -> dict[tuple[str, str], ErrorBand]:
    if not path.exists():
        return {}
    return {(b["card"], b["kind"]): ErrorBand(**b) for b in json.loads(path.read_text())}


def error_band(card: str, kind: str, path: Path = ERRORS_FILE) -> ErrorBand | None:
    """The validated band of a card (an arch name, e.g. "H100 SXM") and kind; None where no record of
    that kind was measured on that card."""
    return _bands(path).get((card, kind))
