"""Fit the issued-instruction law's constants (notes_gpu.md v19) from the committed measurements.

Input: studies/results/gpu_benchmark.json. Needs triton's ptxas (the kernels are compiled for sm_90 on the
CPU, einsim.gpu.inspect), no GPU. Output: printed fits —
- `issue_serial_max`, `issue_overlap_exponent`: the grid point with the least sum of squared log errors
  over run 1's eager prefill records (the run the flag law was fitted to), and that sum for the flag law;
- `issue_cta_sync_s`: the median over run 3's lazy records (the first run with today's lazy launches) of
  the barrier wait each implies, per K/V tile and program slot at the law's serial share; run 2's for
  comparison.

    python studies/gpu_fit_issue_law.py
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _cases(run: int, lazy: bool) -> list[tuple]:
    from einsim.gpu.model import lone_programs
    from studies.gpu_cases import compiled_reports
    from studies.gpu_validation import record_inputs

    out, plans = [], {}
    for r in json.loads((ROOT / "studies" / "results" / "gpu_benchmark.json").read_text()):
        if r["run"] != run or not r.get("cascade") or r.get("ms") is None or ("lazy" in r["variant"]) != lazy:
            continue
        plan, shape, t, arch = record_inputs(r, plans)
        if plan.linear or lone_programs(plan, shape, t, arch):
            continue
        reports = compiled_reports(plan, shape, t)
        if reports is None:
            raise SystemExit(
                f"gpu_fit_issue_law: the kernels of {r['cascade']} (run {run}, {r['variant']}) cannot be compiled "
                "for sm_90 here, and the fit needs their SASS: install triton with its NVIDIA backend "
                "(`pip install -e .[gpu]`) and unset TRITON_INTERPRET."
            )
        out.append((r, plan, shape, t, arch, reports))
    return out


def _log_sse(cases, serial_max: float | None, exponent: float | None) -> float:
    from einsim.gpu.model import predict

    total = 0.0
    for r, plan, shape, t, arch, reps in cases:
        if serial_max is None:  # the flag law at its constants
            ms = predict(plan, shape, t, arch).ms
        else:
            a = dataclasses.replace(arch, issue_serial_max=serial_max, issue_overlap_exponent=exponent)
            ms = predict(plan, shape, t, a, reps).ms
        total += math.log(ms / r["ms"]) ** 2
    return total


def _implied_sync(cases) -> list[float]:
    from einsim.gpu.model import _tiles_per_qtile, ctas_per_sm, overlap_units, predict
    from einsim.gpu.plan import launch_rows

    out = []
    for r, plan, shape, t, arch, reps in cases:
        a = dataclasses.replace(arch, issue_cta_sync_s=0.0)
        occ = ctas_per_sm(plan.kernels[0], shape, t, a)
        tiles = sum(_tiles_per_qtile(plan, shape, t)) * shape.B * launch_rows(shape, t)[1]
        serial = a.issue_serial_max / overlap_units(occ, t) ** a.issue_overlap_exponent
        extra_s = (r["ms"] - predict(plan, shape, t, a, reps).ms) * 1e-3
        out.append(extra_s / (serial * tiles / (a.sms * occ)))
    return out


def main(argv=None) -> None:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args(argv)
    fit = _cases(1, lazy=False)
    print(f"run 1: {len(fit)} eager prefill records; flag law log-error sum {_log_sse(fit, None, None):.3f}")
    serials, exponents = (0.8, 0.85, 0.9, 0.95, 1.0, 1.05, 1.1, 1.2, 1.3), (0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 1.0)
    grid = [(s, e) for s in serials for e in exponents]
    best = min(grid, key=lambda p: _log_sse(fit, *p))
    print(f"issue law: serial_max {best[0]}, overlap exponent {best[1]}, log-error sum {_log_sse(fit, *best):.3f}")
    for run in (3, 2):
        ns = sorted(v * 1e9 for v in _implied_sync(_cases(run, lazy=True)))
        med = statistics.median(ns)
        print(f"run {run} lazy barrier, ns per tile and slot: {[round(v) for v in ns]}; median {med:.0f}")


if __name__ == "__main__":
    main()
