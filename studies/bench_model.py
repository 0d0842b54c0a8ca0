"""Benchmark of the spatial-array model (not a timed test): time per point from 1K to 1M, the whole
24-point x 5-config sweep, and the paper's headline means as the model computes them.

Run: `.venv/bin/python studies/bench_model.py [--quick]`. Ratios compare against a baseline run in the
same process: the same point simulated without repeat skipping (only where that is affordable).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from einsim.model import CONFIGS, simulate
from einsim.model.configs import op_counts_for
from workloads.models import MODELS, SEQ_LENS


def _t(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="BERT only")
    args = ap.parse_args(argv)
    simulate("fusemax", "bert", 1024)  # warm caches (cascade parsing, op counts)
    print("time per point (BERT), seconds; baseline = same point without repeat skipping")
    print(f"{'seq':>8s} " + " ".join(f"{c:>18s}" for c in CONFIGS) + f" {'fusemax no-skip':>16s} {'ratio':>7s}")
    for seq in SEQ_LENS:
        row = []
        for c in CONFIGS:
            op_counts_for.cache_clear()
            _, dt = _t(lambda c=c, seq=seq: simulate(c, "bert", seq))
            row.append(dt)
        base = ""
        if seq <= 4096:
            _, db = _t(lambda seq=seq: simulate("fusemax", "bert", seq, skip=False))
            base = f"{db:16.3f} {db / row[-1]:7.1f}x"
        print(f"{seq:8d} " + " ".join(f"{x:18.3f}" for x in row) + f" {base}")
    models = ["bert"] if args.quick else list(MODELS)
    t0 = time.perf_counter()
    res = {(c, m, s): simulate(c, m, s) for m in models for s in SEQ_LENS for c in CONFIGS}
    sweep = time.perf_counter() - t0
    print(
        f"\nsweep: {len(models) * len(SEQ_LENS)} points x {len(CONFIGS)} configs in {sweep:.2f} s "
        f"({sweep / len(res) * 1e3:.1f} ms per run)"
    )
    print("\nattention, arithmetic means over the points (paper: 6.7x / 10x faster, 79% / 77% energy):")
    for base in ("flat", "unfused", "plus-cascade", "plus-architecture"):
        sp = [res[(base, m, s)].seconds / res[("fusemax", m, s)].seconds for m in models for s in SEQ_LENS]
        en = [res[("fusemax", m, s)].energy_pj / res[(base, m, s)].energy_pj for m in models for s in SEQ_LENS]
        print(
            f"  fusemax vs {base:18s} speedup {statistics.mean(sp):6.2f}x (geomean "
            f"{statistics.geometric_mean(sp):5.2f}x)  energy {statistics.mean(en):6.1%}"
        )
    share = [
        res[("fusemax", m, s)].energy_by_action_pj["2d_mac"] / res[("fusemax", m, s)].energy_pj
        for m in models
        for s in SEQ_LENS
    ]
    print(f"  share of FuseMax energy in 2D MACs: min {min(share):.1%}, mean {statistics.mean(share):.1%}")
    print("\nutilization 2D / 1D by config and length (mean over models):")
    for c in CONFIGS:
        cells = []
        for s in SEQ_LENS:
            u2 = statistics.mean(res[(c, m, s)].util_2d for m in models)
            u1 = statistics.mean(res[(c, m, s)].util_1d for m in models)
            cells.append(f"{u2:.2f}/{u1:.2f}")
        print(f"  {c:18s} " + "  ".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
