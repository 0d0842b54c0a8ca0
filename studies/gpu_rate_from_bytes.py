"""The co-resident rate q of each pass kernel read back from its plain launches' DRAM bytes (CPU only).

einsim.gpu.coresident advances the k-th oldest program of an SM at q^k, with q measured per compiled kernel
by the timeline probe's entry-and-exit mode (studies/gpu_timeline_probe.py). The probe adds code at a
program's entry and exit, and for one kernel, the 3-pass PV pass at D=64, that moved the schedule: its
probed launch read 6.97 K/V reads per head at 1x2x131072 on the H200, and the plain kernel 6.29 (notes_gpu.md v15).
This study asks every plain launch Nsight Compute measured what q its bytes imply, without the probe: for
each pass kernel the schedule applies to (a head has more programs than the device holds, and they share SMs),
it evaluates the model's K/V reads per head over a grid of q and interpolates the q whose reads equal the
measured ones. Where the reads barely move with q (a stream far past the L2's hit ramp, or one the L2
keeps), the bytes do not say q, and the row is marked so.

Inputs: the plain kernels of every timeline probe folder under studies/results (their ncu DRAM reads per
pass kernel) and the long-head records of studies/results/gpu_benchmark.json (N >= 65536; the median over
runs per card and shape). Output: a table per kernel key (pass label, head dim, causal) with the measured
reads, the model's at its q and the q the bytes imply, and per key the median q where the bytes say it,
the probe's q beside it, and the q that fits the calibration set best: the plain kernels of holdouts 1-4
(shapes no benchmark run measured), least squares in K/V MiB, so the long streams whose bytes move with q
decide. That q is einsim.gpu.coresident's MEASURED_YOUNG_RATE; the benchmark's records, the probe
folders' shapes and holdout 5 are out of sample for it.

    python studies/gpu_rate_from_bytes.py [--calibration] [--labels exp+normalize+PV] [--grid 0.40:1.00:0.05]

The full table as of notes_gpu.md v16 is committed as studies/results/gpu_rate_from_bytes.txt.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "studies" / "results"
#: q as the timeline probe's entry-and-exit mode read it from the first waves (notes_gpu.md v14-v15; what
#: einsim.gpu.coresident used before the rates were calibrated from bytes), by (pass label, head dim, causal)
PROBED_RATE = {
    ("online-softmax+PV+div", 64, False): 0.79,
    ("exp+sum+PV+div", 64, False): 0.74,
    ("exp+normalize+PV", 64, False): 0.53,
    ("max", 64, False): 0.68,
    ("exp+sum", 64, False): 0.49,
    ("max", 128, False): 1.0,
    ("exp+sum", 128, False): 1.0,
    ("online-softmax+PV+div", 64, True): 0.86,
    ("max", 64, True): 0.67,
    ("exp+sum", 64, True): 0.50,
    ("exp+normalize+PV", 64, True): 0.72,
}
#: the calibration set: the plain kernels of holdouts 1-4 (gpu_timeline_holdout, ..._holdout4 and
#: ..._entry_exit_holdout_*: shapes no benchmark run measured); holdout 5 was registered with the rates
#: they gave, so it stays out
CALIBRATION = re.compile(r"holdout[1-4]?(_|/|$)")
#: reads per head must move by at least this fraction between q - 0.1 and q + 0.1 for the bytes to say q
MIN_SENSITIVITY = 0.03


def probe_measurements() -> list[dict]:
    """(card, cascade, shape, tiling, per-kernel measured reads) of every timeline folder's plain kernels;
    one folder's repeat (e.g. holdout3/h200_repeat) is its own measurement."""
    from studies.gpu_timeline_probe import ALL_CASES, _setup

    out = []
    for path in sorted(RESULTS.glob("gpu_timeline_*/**/timeline_probe.json")):
        info = json.load(open(path))
        for rec in info["records"]:
            if rec["name"] not in ALL_CASES or not rec.get("ncu_plain"):
                continue
            plan, shape, t = _setup(rec["name"])
            reads = [k["dram_read_bytes"] for k in rec["ncu_plain"]]
            src = str(path.parent.relative_to(RESULTS))
            out.append(dict(card=info["env"]["card"], plan=plan, shape=shape, tiling=t, reads=reads, source=src))
    return out


def benchmark_measurements(min_run: int = 36, min_n: int = 65536) -> list[dict]:
    """The long-head einsim records of the benchmark runs from `min_run` on (the kernels compiled as the
    probes measured them: runs 36-43, notes_gpu.md v14-v15) with per-kernel ncu bytes: median over runs
    per (card, variant, shape, tiling)."""
    import einsim
    from einsim.gpu.lower import lower
    from einsim.gpu.plan import Shape
    from studies.gpu_cases import record_tiling

    groups = defaultdict(list)
    plans = {}
    for r in json.load(open(RESULTS / "gpu_benchmark.json")):
        if r.get("run", 0) < min_run or r.get("N", 0) < min_n:
            continue
        if not (r.get("kernels") and r.get("cascade") and r.get("tiling")):
            continue
        if r.get("window") or r["variant"].startswith("linear"):
            continue
        key = (r["card"], r["variant"], r["cascade"], r["B"], r["H"], r["G"], r["N_Q"], r["N"], r["D"],
               r["dtype"], tuple(r["tiling"]), r.get("lazy_rescale"))  # fmt: skip
        groups[key].append([k["dram__bytes_read.sum"] for k in r["kernels"]])
    out = []
    for (card, variant, f, B, H, G, nq, n, d, dt, tiling, lazy), rows in groups.items():
        if f not in plans:
            plans[f] = lower(einsim.parse_file(ROOT / "workloads" / "cascades" / f))
        plan = plans[f]
        if len(rows[0]) != len(plan.kernels) or any(len(x) != len(rows[0]) for x in rows):
            continue
        shape = Shape(B, H, nq, n, d, G if G != H else None, dt, ())
        reads = [statistics.median(col) for col in zip(*rows)]
        src = f"benchmark {variant} ({len(rows)} runs)"
        out.append(dict(card=card, plan=plan, shape=shape, tiling=record_tiling(list(tiling), lazy), reads=reads,
                        source=src))  # fmt: skip
    return out


def drifting_kernels(m: dict):
    """(pass kernel, resident programs per SM, model reads of that kernel) for the kernels of a
    measurement that the co-resident schedule applies to (einsim.gpu.model.drifting)."""
    from einsim.gpu.arch import arch_for
    from einsim.gpu.model import drifting, predict

    plan, shape, t = m["plan"], m["shape"], m["tiling"]
    arch = arch_for(m["card"])
    costs = predict(plan, shape, t, arch).kernels
    out = [(pk, k.ctas_per_sm, k.dram_read_bytes) for pk, k in zip(plan.kernels, costs)
           if drifting(plan, shape, t, arch, k.ctas_per_sm)]  # fmt: skip
    return arch, out


def implied_rate(qs: np.ndarray, reads: np.ndarray, measured: float) -> float | None:
    """The q (linear interpolation on the grid) whose reads equal `measured`; the crossing nearest the
    grid's upper end if there are several; None if the measured reads are outside the grid's range."""
    d = reads - measured
    cross = [i for i in range(len(qs) - 1) if d[i] == 0 or d[i] * d[i + 1] < 0]
    if d[-1] == 0:
        return float(qs[-1])
    if not cross:
        return None
    i = cross[-1]
    return float(qs[i] + (qs[i + 1] - qs[i]) * d[i] / (d[i] - d[i + 1]))


def _rows_of(args) -> list[dict]:
    """The rows of one measurement (a process pool's unit of work)."""
    from einsim.gpu.coresident import MEASURED_LAUNCH, kv_reads, young_rate
    from einsim.gpu.plan import lazy_applies

    m, qs, labels = args
    arch, ks = drifting_kernels(m)
    shape, t = m["shape"], m["tiling"]
    out = []
    for pk, c, model_read in ks:
        if labels and pk.label not in labels:
            continue
        lazy = lazy_applies(pk, t)
        q0 = young_rate(lazy, t, pk.label, shape.D, m["plan"].causal)
        at = kv_reads(m["plan"], pk, shape, t, arch, c, lazy).reads_per_head
        kv = shape.N_KV * shape.D * shape.elt_bytes * (1 + int(pk.do_pv)) * shape.B * shape.kv_heads
        rest = model_read - at * kv  # Q and row statistics, as the model counts them
        measured = (m["reads"][pk.index - 1] - rest) / kv
        grid = np.array([kv_reads(m["plan"], pk, shape, t, arch, c, lazy, rate=q).reads_per_head for q in qs])
        q_hat = implied_rate(qs, grid, measured)
        qc = q0 if q_hat is None else q_hat  # around the q the bytes say, so the set does not hang on the model's q
        lo, hi = (np.interp(x, qs, grid) for x in (max(qs[0], qc - 0.1), min(qs[-1], qc + 0.1)))
        sens = abs(hi - lo) / max(measured, 1e-9)
        launch = (
            ""
            if (t.block_m, t.block_n, t.num_warps, t.num_stages) == MEASURED_LAUNCH and not lazy
            else (f" [{t.block_m}x{t.block_n} w{t.num_warps} s{t.num_stages}{' lazy' if lazy else ''}]")
        )
        out.append(dict(key=(pk.label, shape.D, m["plan"].causal), card=m["card"], source=m["source"] + launch,
                        shape=f"{shape.B}x{shape.H}x{shape.N_KV}", q_model=q0, measured=measured, at_model=at,
                        q_bytes=q_hat, sensitive=sens >= MIN_SENSITIVITY, sensitivity=sens,
                        grid=grid, kv_mib=kv / 2**20))  # fmt: skip
    return out


def rows(measurements: list[dict], qs: np.ndarray, labels: set[str] | None, jobs: int = 1) -> list[dict]:
    """Every drifting pass kernel of every measurement: measured reads, the model's, the implied q."""
    work = [(m, qs, labels) for m in measurements]
    if jobs <= 1:
        return [r for w in work for r in _rows_of(w)]
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(jobs) as pool:
        return [r for rs in pool.map(_rows_of, work) for r in rs]


def fit_rate(rs: list[dict], qs: np.ndarray, step: float = 0.01) -> tuple[float, float]:
    """The q whose schedules read the measured K/V bytes of rows `rs` best: least squares in MiB (each
    row's reads interpolated between the grid's points), so the launches whose bytes are large and move
    with q decide, and one near its floor (a stream the L2 mostly keeps) barely counts. Returns (q, rms MiB)."""
    fine = np.round(np.arange(qs[0], qs[-1] + step / 2, step), 4)
    err = np.zeros(len(fine))
    for r in rs:
        err += ((np.interp(fine, qs, r["grid"]) - r["measured"]) * r["kv_mib"]) ** 2
    i = int(np.argmin(err))
    return float(fine[i]), float(np.sqrt(err[i] / max(len(rs), 1)))


def report(rs: list[dict], qs: np.ndarray) -> list[str]:
    lines = []
    by = defaultdict(list)
    for r in rs:
        by[r["key"]].append(r)
    for key in sorted(by, key=str):
        label, d, causal = key
        lines.append(f"# {label}, D={d}{', causal' if causal else ''}: the model's q {by[key][0]['q_model']:.2f}")
        lines.append("  card    shape          measured  model (its q)     q from bytes  source")
        for r in sorted(by[key], key=lambda r: (r["card"], r["shape"], r["source"])):
            qb = "outside grid" if r["q_bytes"] is None else f"{r['q_bytes']:.2f}"
            qb += "" if r["sensitive"] else " (insensitive)"
            lines.append(
                f"  {r['card'].replace('NVIDIA ', '')[:5]:<6} {r['shape']:<14} {r['measured']:>8.2f}  "
                f"{r['at_model']:>8.2f} ({100 * (r['at_model'] / r['measured'] - 1):+5.1f} %)  {qb:<22} {r['source']}"
            )
        told = [r["q_bytes"] for r in by[key] if r["sensitive"] and r["q_bytes"] is not None and "[" not in r["source"]]
        cal = [r for r in by[key] if calibrating(r)]
        if told:
            lines.append(
                f"  q from bytes where they say it: median {statistics.median(told):.2f}, "
                f"range {min(told):.2f}-{max(told):.2f} over {len(told)} measurements; "
                f"probe {PROBED_RATE.get(key, '-')}"
            )
        if cal:
            q, rms = fit_rate(cal, qs)
            lines.append(f"  calibration (holdouts 1-4, plain kernels): least squares q {q:.2f} over "
                         f"{len(cal)} launches (rms {rms:.1f} MiB)")  # fmt: skip
    return lines


def calibrating(r: dict) -> bool:
    """Whether a row belongs to the calibration set (`CALIBRATION`)."""
    return bool(CALIBRATION.search(r["source"].split(" ")[0])) and "[" not in r["source"]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--labels", default="", help="pass labels to read (comma-separated; default all)")
    ap.add_argument("--grid", default="0.40:1.00:0.05", help="q grid lo:hi:step")
    ap.add_argument("--no-benchmark", action="store_true", help="the timeline folders' plain kernels only")
    ap.add_argument("--calibration", action="store_true", help="the calibration set (the holdouts) only")
    ap.add_argument("--min-run", type=int, default=36, help="benchmark runs from this one (today's kernel code)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="processes")
    args = ap.parse_args(argv)
    try:
        lo, hi, step = map(float, args.grid.split(":"))
    except ValueError:
        lo = hi = step = 0.0
    if not (0 < lo < hi <= 1.0 and 0 < step <= hi - lo):
        ap.error(f"--grid {args.grid!r}: give lo:hi:step with 0 < lo < hi <= 1 and a step up to hi - lo, "
                 "e.g. 0.40:1.00:0.05.")  # fmt: skip
    qs = np.round(np.arange(lo, hi + step / 2, step), 4)
    ms = probe_measurements()
    if args.calibration:
        ms = [m for m in ms if CALIBRATION.search(m["source"])]
    elif not args.no_benchmark:
        ms += benchmark_measurements(args.min_run)
    labels = {x for x in args.labels.split(",") if x} or None
    known = {pk.label for m in ms for pk in m["plan"].kernels}
    if labels and not labels <= known:
        ap.error(f"--labels {args.labels!r}: {', '.join(sorted(labels - known))} is no pass kernel of the measured "
                 f"launches; they have {', '.join(sorted(known))}.")  # fmt: skip
    print("\n".join(report(rows(ms, qs, labels, max(1, args.jobs)), qs)))


if __name__ == "__main__":
    main()
