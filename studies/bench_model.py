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


def _run(key):
    return simulate(*key)


def _t(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="BERT only")
    ap.add_argument("--jobs", type=int, default=1, help="processes for the sweep (the target is 2 cores)")
    ap.add_argument("--formula", action="store_true", help="compare with the artifact-style latency formula")
    ap.add_argument("--sensitivity", action="store_true", help="energy ratios vs global-buffer pJ/word")
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
    keys = [(c, m, s) for m in models for s in SEQ_LENS for c in CONFIGS]
    if args.jobs > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(args.jobs) as ex:
            res = dict(zip(keys, ex.map(_run, keys, chunksize=4)))
    else:
        res = {k: _run(k) for k in keys}
    sweep = time.perf_counter() - t0
    print(
        f"\nsweep ({args.jobs} proc): {len(models) * len(SEQ_LENS)} points x {len(CONFIGS)} configs in {sweep:.2f} s "
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
    art = [
        res[("fusemax", m, s)].energy_by_action_pj["2d_mac"] / res[("fusemax", m, s)].energy_pj_artifact
        for m in models
        for s in SEQ_LENS
    ]
    print(
        f"  share of FuseMax energy in 2D MACs: full accounting min {min(share):.1%} mean "
        f"{statistics.mean(share):.1%}; artifact accounting min {min(art):.1%} mean {statistics.mean(art):.1%}"
    )
    for base in ("flat", "unfused"):
        en = [
            res[("fusemax", m, s)].energy_pj_artifact / res[(base, m, s)].energy_pj_artifact
            for m in models
            for s in SEQ_LENS
        ]
        print(f"  artifact accounting: fusemax energy / {base} {statistics.mean(en):.1%}")
    if args.formula:
        _formula(models, res)
    if args.sensitivity:
        _sensitivity(models)
    print("\nutilization 2D / 1D by config and length (mean over models):")
    for c in CONFIGS:
        cells = []
        for s in SEQ_LENS:
            u2 = statistics.mean(res[(c, m, s)].util_2d for m in models)
            u1 = statistics.mean(res[(c, m, s)].util_1d for m in models)
            cells.append(f"{u2:.2f}/{u1:.2f}")
        print(f"  {c:18s} " + "  ".join(cells))
    return 0


def formula_cycles(config: str, r, B: int, H: int, E: int, F: int, seq: int) -> float:
    """The artifact's style of latency: per-Einsum cycles at its costs, perfect overlap (max) within a
    fused configuration, a sum over Unfused's phases; DRAM time = the simulated bytes / bandwidth."""
    R = C = 256
    T = B * H * seq * seq / (R * C)
    mem = r.dram_bytes / (400 * 2**30 / 940e6)
    if config in ("fusemax", "plus-architecture"):
        two = T * (E + 1 + 7 + 1 + F)
        one = T * (1 + 7 + 1 + 1 + 2 * F) + F * T / (seq / R)
        stall = 256 * T if config == "plus-architecture" else 0  # the artifact's fixed per-tile stall
        return max(two + stall, one + stall, mem)
    if config == "plus-cascade":
        return max(T * (E + F), T * (4 * R + 2 * F + 5), mem)
    if config == "flat":
        return max(T * (E + F), 4 * R * T, mem)
    d, bpc = r.dram_bytes_by_tensor, 400 * 2**30 / 940e6  # Unfused: serialized phases, each max(mem, compute)
    qk_w = B * H * seq * seq * 2
    m_qk = (d.get("Q", 0) + d.get("K", 0) + qk_w) / bpc
    m_sm = (d.get("QK", 0) - qk_w + d.get("A", 0) / 2) / bpc
    m_av = (d.get("A", 0) / 2 + d.get("V", 0) + d.get("AV", 0)) / bpc
    return max(E * T, m_qk) + max(4 * R * T, m_sm) + max(F * T, m_av)


def _formula(models: list[str], res: dict) -> None:
    print("\neinsim cycles / formula cycles (mean over models; > 1: what the formula leaves out):")
    for c in CONFIGS:
        cells = []
        for s in SEQ_LENS:
            vals = []
            for m in models:
                mm = MODELS[m]
                r = res[(c, m, s)]
                vals.append(r.cycles / formula_cycles(c, r, mm.B, mm.H, mm.E, mm.F, s))
            cells.append(f"{statistics.mean(vals):5.2f}")
        print(f"  {c:18s} " + "  ".join(cells))


def _sensitivity(models: list[str]) -> None:
    """Mean FuseMax/baseline energy when the global buffer costs a fraction of the default pJ/word."""
    from dataclasses import replace

    from einsim.model import get_arch

    print("\nenergy ratio vs global-buffer energy per word (scale of the artifact's stale value / 4):")
    for scale in (0.125, 0.25, 0.5, 1.0):
        row = []
        for base in ("flat", "unfused"):
            vals = []
            for m in models:
                for s in SEQ_LENS:
                    e = {}
                    for c, an in (("fusemax", "fusemax_cloud"), (base, "flat_cloud")):
                        a = get_arch(an)
                        t = a.energy
                        a = replace(
                            a,
                            energy=replace(
                                t,
                                gbuf_read_pj_per_word=t.gbuf_read_pj_per_word * scale,
                                gbuf_write_pj_per_word=t.gbuf_write_pj_per_word * scale,
                            ),
                        )
                        e[c] = simulate(c, m, s, a).energy_pj
                    vals.append(e["fusemax"] / e[base])
            row.append(f"vs {base} {statistics.mean(vals):.1%}")
        print(f"  x{scale:<6} " + "   ".join(row))


if __name__ == "__main__":
    sys.exit(main())
