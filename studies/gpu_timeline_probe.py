"""Where and when every program of a long-head launch ran, and whether that schedule explains its DRAM reads.

The GPU model counts K/V DRAM reads as lockstep waves of resident programs. The D=64 pointer kernels with
32-64 MiB K/V heads read up to twice that (runs 4-37; notes_gpu.md v6-v13), and no timing mechanism tried
in `einsim.gpu.l2sim` reproduces it. This probe records the schedule itself: each program of a pass
kernel writes its SM (%smid) and %globaltimer at entry, at 8 checkpoints of its K/V loop, after the loop
and at exit (the kernels' TIMELINE flag, `einsim.gpu.runtime.prepare(..., timeline=...)`). Then
`einsim.gpu.l2sim.replay` orders every K/V tile access by those times through the same LRU L2 the
simulation uses: if the replay gives the measured bytes, the re-reads are the schedule's (and the L2
model holds); if not, the L2 model is what is missing.

On the lent machine (one call, about 3 min): `PYTHONUNBUFFERED=1 timeout 420 python3
studies/gpu_timeline_probe.py --out $OUT`. Per case: the plain and the instrumented kernels timed
(do_bench median: what the probe costs), 3 recorded timelines, and one Nsight Compute profile of each
(DRAM bytes read per pass kernel, with the timeline of that very execution). Writes `timeline_probe.json`
and `timeline_probe.npz` under --out.

On the CPU: `python studies/gpu_timeline_probe.py --analyze DIR` prints, per case and pass kernel, the
measured K/V reads per head against lockstep and the replay of each recorded timeline, how the
co-resident programs of an SM are phased, and the rate q their first wave gives (einsim.gpu.coresident).

Options: `--entry-exit` records the SM, entry and exit only (TIMELINE=2: the K/V loop's code as without
the probe, so the plain kernel's own schedule; replayed with each program's tiles spread evenly between
its entry and exit); `--cases holdout` ... `holdout5` run shapes no benchmark run measured; `--predict
h100|h200` prints the model's DRAM reads for `--cases` (what studies/results/gpu_timeline_holdout*/
predicted.txt registered before those ran); `--shares 0.55,curve` replays through exact LRUs or the
card's measured L2 hit curve; `--compare [--scan DIR:READERS]` holds the current model (or it with another
scan's L2 curve) against a run's plain kernels.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

# name: (cascade file, B, H, N, D, tiling fields as studies.gpu_cases.record_tiling reads them, or None for
# the default launch). Tiling fields: block_m, block_n, num_warps, num_stages, group_rows, lazy_rescale
CASES = {
    "1p-d64-262k": ("cascade5_fa2.ein", 1, 1, 262144, 64, None),
    "2p-d64-262k": ("twopass_deferred.ein", 1, 1, 262144, 64, None),
    "3p-d64-262k": ("cascade4_3pass.ein", 1, 1, 262144, 64, None),
    "1p-lazy-d64-262k": ("cascade5_fa2.ein", 1, 1, 262144, 64, [128, 64, 8, 3, False, True]),
    "1p-4w-d64-262k": ("cascade5_fa2.ein", 1, 1, 262144, 64, [128, 64, 4, 3, False, False]),
    "1p-bn128-d64-262k": ("cascade5_fa2.ein", 1, 1, 262144, 64, [128, 128, 8, 3, False, False]),
    "1p-bm64-4w-d64-262k": ("cascade5_fa2.ein", 1, 1, 262144, 64, [64, 64, 4, 3, False, False]),
    "1p-d64-131k-h2": ("cascade5_fa2.ein", 1, 2, 131072, 64, None),
    "3p-d64-131k-h2": ("cascade4_3pass.ein", 1, 2, 131072, 64, None),
    "3p-d128-65k-h4": ("cascade4_3pass.ein", 1, 4, 65536, 128, None),
    "2p-d128-131k": ("twopass_deferred.ein", 1, 1, 131072, 128, None),
}
#: shapes none of the benchmark runs measured, their DRAM registered before they ran (notes_gpu.md v14):
#: `holdout` with the model's first form (one q, half the L2), `holdout2` with v14's, `holdout3`-`4` with
#: v15's (the L2's hit curve), `holdout5` with q read from the plain kernels' bytes (v16); rows of
#: (set, name, cascade file, B, H, N, D), default launches
HOLDOUTS = [
    row.split()
    for row in """
    holdout h-1p-d64-524k cascade5_fa2.ein 1 1 524288 64
    holdout h-1p-d64-196k cascade5_fa2.ein 1 1 196608 64
    holdout h-2p-d64-131k twopass_deferred.ein 1 1 131072 64
    holdout h-1p-d64-65k-h4 cascade5_fa2.ein 1 4 65536 64
    holdout h-1p-causal-d64-262k causal_fa2.ein 1 1 262144 64
    holdout h-3p-d128-131k-h2 cascade4_3pass.ein 1 2 131072 128
    holdout2 h2-1p-d64-393k cascade5_fa2.ein 1 1 393216 64
    holdout2 h2-2p-d64-393k twopass_deferred.ein 1 1 393216 64
    holdout2 h2-3p-d64-196k cascade4_3pass.ein 1 1 196608 64
    holdout2 h2-1p-d64-65k-h8 cascade5_fa2.ein 1 8 65536 64
    holdout2 h2-3p-d128-262k cascade4_3pass.ein 1 1 262144 128
    holdout2 h2-3p-causal-d64-262k causal_3pass.ein 1 1 262144 64
    holdout3 h3-2p-d64-229k twopass_deferred.ein 1 1 229376 64
    holdout3 h3-2p-d64-295k twopass_deferred.ein 1 1 294912 64
    holdout3 h3-3p-d64-245k cascade4_3pass.ein 1 1 245760 64
    holdout3 h3-3p-d64-213k cascade4_3pass.ein 1 1 212992 64
    holdout3 h3-2p-d128-123k twopass_deferred.ein 1 1 122880 128
    holdout3 h3-1p-d64-147k-h2 cascade5_fa2.ein 1 2 147456 64
    holdout4 h4-1p-causal-d64-393k causal_fa2.ein 1 1 393216 64
    holdout4 h4-1p-causal-d64-131k-h2 causal_fa2.ein 1 2 131072 64
    holdout4 h4-3p-causal-d64-196k causal_3pass.ein 1 1 196608 64
    holdout4 h4-3p-causal-d64-393k causal_3pass.ein 1 1 393216 64
    holdout4 h4-1p-d64-262k-b2 cascade5_fa2.ein 2 1 262144 64
    holdout4 h4-3p-d64-164k cascade4_3pass.ein 1 1 163840 64
    holdout5 h5-1p-causal-d64-328k causal_fa2.ein 1 1 327680 64
    holdout5 h5-1p-causal-d64-262k-b2 causal_fa2.ein 2 1 262144 64
    holdout5 h5-3p-d64-180k cascade4_3pass.ein 1 1 180224 64
    holdout5 h5-3p-d64-147k-h2 cascade4_3pass.ein 1 2 147456 64
    holdout5 h5-3p-causal-d64-197k-h2 causal_3pass.ein 1 2 196608 64
    holdout5 h5-3p-causal-d64-328k causal_3pass.ein 1 1 327680 64
    """.strip().splitlines()
]
CASE_SETS = {"probe": CASES} | {
    k: {n: (f, *map(int, nums), None) for h, n, f, *nums in HOLDOUTS if h == k}
    for k in ("holdout", "holdout2", "holdout3", "holdout4", "holdout5")
}
ALL_CASES = {n: c for cases in CASE_SETS.values() for n, c in cases.items()}
REPS = 3
METRICS = ["dram__bytes_read.sum", "lts__t_sectors_srcunit_tex_op_read.sum", "gpu__time_duration.sum"]


def _setup(name: str):
    """(plan, shape, tiling) of a case, as the runtime launches it."""
    import dataclasses

    import einsim
    from einsim.gpu.lower import lower
    from einsim.gpu.plan import Shape, choose_tiling
    from studies.gpu_cases import record_tiling

    f, B, H, N, D, fields = ALL_CASES[name]
    plan = lower(einsim.parse_file(os.path.join(ROOT, "workloads", "cascades", f)))
    shape = Shape(B, H, N, N, D, None, "bf16")
    t = record_tiling(fields) if fields else choose_tiling(plan, shape)
    return plan, shape, dataclasses.replace(t, persistent=0, paired=False)


def _runs(name: str, loop: bool = True):
    """(plain launch, instrumented launch, its timeline buffer) of a case on fresh inputs; `loop` False:
    entry and exit only (the K/V loop's code unchanged)."""
    import torch

    from einsim.gpu.runtime import prepare, timeline_shape
    from studies.gpu_cases import Case, make_inputs

    plan, shape, t = _setup(name)
    case = Case(name, shape.B, shape.H, shape.H, shape.N_Q, shape.N_KV, shape.D, plan.causal)
    q, k, v = make_inputs(case, 42, "cuda")
    plain, _ = prepare(plan, q, k, v, t)
    buf = torch.zeros(timeline_shape(plan, shape, t), device="cuda", dtype=torch.int64)
    probed, _ = prepare(plan, q, k, v, t, timeline=buf, timeline_loop=loop)
    return plain, probed, buf


def ncu_child(path: str) -> None:
    """Runs under ncu: per case, a marker, the plain launch, a marker, the instrumented one (its timeline
    saved to `path`.npz)."""
    import torch

    from studies._gpu_marker import einsim_ncu_marker

    marker = torch.zeros(1, device="cuda")
    saved = {}
    job = json.load(open(path))
    for name in job["names"]:
        try:
            plain, probed, buf = _runs(name, job["loop"])
            plain()
            probed()
            torch.cuda.synchronize()
            buf.zero_()
            ok = True
        except Exception as e:  # noqa: BLE001 — the markers keep the other cases' kernels in place
            print(f"# ncu child failed {name}: {e!r}", flush=True)
            ok = False
        torch.cuda.cudart().cudaProfilerStart()
        einsim_ncu_marker[(1,)](marker)
        if ok:
            plain()
        einsim_ncu_marker[(1,)](marker)
        if ok:
            probed()
        torch.cuda.synchronize()
        torch.cuda.cudart().cudaProfilerStop()
        if ok:
            saved[name] = buf.cpu().numpy()
            print(f"# profiled {name}", flush=True)
            del plain, probed, buf
        torch.cuda.empty_cache()
        np.savez_compressed(path + ".npz", **saved)


def measure(out: str, budget_s: float, names: list[str], loop: bool = True) -> None:
    import torch
    import triton

    from studies.gpu_cases import environment
    from studies.gpu_ncu import parse_ncu_csv, profile_child

    t0 = time.time()
    os.makedirs(out, exist_ok=True)
    env = environment("cuda")
    print(f"# card: {env['card']}  torch {env['torch']}  triton {env['triton']}", flush=True)
    recs, timelines = [], {}
    for name in names:
        if time.time() - t0 > 0.5 * budget_s:
            print(f"# {name}: skipped (budget)")
            continue
        rec = {"name": name, "card": env["card"], "timeline_loop": loop}
        try:
            plain, probed, buf = _runs(name, loop)
            rec["ms_plain"] = float(triton.testing.do_bench(plain, warmup=25, rep=100, return_mode="median"))
            rec["ms_timeline"] = float(triton.testing.do_bench(probed, warmup=25, rep=100, return_mode="median"))
            reps = []
            for _ in range(REPS):
                buf.zero_()
                probed()
                torch.cuda.synchronize()
                reps.append(buf.cpu().numpy())
            timelines[name] = np.stack(reps)
            recs.append(rec)
            print(f"{name:>20}: plain {rec['ms_plain']:8.3f} ms, timeline {rec['ms_timeline']:8.3f} ms", flush=True)
            del plain, probed, buf
        except Exception as e:  # noqa: BLE001 — recorded, the next case runs
            print(f"{name:>20}: failed {e!r}"[:400], flush=True)
        torch.cuda.empty_cache()
        np.savez_compressed(os.path.join(out, "timeline_probe.npz"), **timelines)
        json.dump({"env": env, "records": recs}, open(os.path.join(out, "timeline_probe.json"), "w"), indent=1)
    path = "/tmp/einsim_timeline_cases.json"
    json.dump({"names": [r["name"] for r in recs], "loop": loop}, open(path, "w"))
    child = [os.path.abspath(__file__), "--ncu-child", path]
    left = budget_s - (time.time() - t0)
    text = profile_child(
        METRICS, child, "/tmp/einsim_timeline_ncu.csv", left - 10, os.path.join(out, "timeline_probe_ncu.csv")
    )
    if text is None:
        return
    keys = [f"{r['name']}|{m}" for r in recs for m in ("plain", "timeline")]
    got = parse_ncu_csv(text, keys)
    for r in recs:
        for m in ("plain", "timeline"):
            g = got.get(f"{r['name']}|{m}")
            if g:
                r[f"ncu_{m}"] = [
                    {"dram_read_bytes": k.get("dram__bytes_read.sum"), "ns": k.get("gpu__time_duration.sum")}
                    for k in g["kernels"]
                ]
    if os.path.exists(path + ".npz"):
        with np.load(path + ".npz") as z:
            for name in z.files:
                timelines[f"{name}|ncu"] = z[name][None]
    np.savez_compressed(os.path.join(out, "timeline_probe.npz"), **timelines)
    json.dump({"env": env, "records": recs}, open(os.path.join(out, "timeline_probe.json"), "w"), indent=1)
    print(f"# done in {time.time() - t0:.0f} s")


def phase_stats(tl: np.ndarray) -> dict:
    """How the programs sharing an SM are phased: per program, the start offset to the latest earlier start
    on its SM, as a fraction of the median program duration (0: co-resident programs start together; 1/c
    with c resident programs: evenly staggered), and the spread of program durations."""
    sm, start, end = tl[:, 0], tl[:, 1].astype(np.float64), tl[:, -1].astype(np.float64)
    dur = end - start
    med = float(np.median(dur))
    offs = []
    for s in np.unique(sm):
        st = np.sort(start[sm == s])
        offs.extend(np.diff(st) / med)
    offs = np.array(offs)
    return {
        "median_program_ms": med / 1e6,
        "duration_p10_p90": (float(np.percentile(dur, 10) / med), float(np.percentile(dur, 90) / med)),
        "start_gap_hist": np.histogram(offs, bins=[0, 0.05, 0.2, 0.4, 0.6, 0.8, 1.2, 10])[0].tolist(),
        "sms": int(len(np.unique(sm))),
    }


def first_wave_rate(tl: np.ndarray, ntiles: np.ndarray | None = None) -> tuple[int, float, list[float]]:
    """(programs per SM, q, their mean end times over the first one's): the co-resident programs that
    start an SM's first wave end apart; q is the rate of a program relative to the next older one
    (einsim.gpu.coresident) whose schedule gives those end times (a grid over 0.30..1.00). `ntiles`: the
    K/V tiles of every program (launch order, as `tl`'s rows): the schedule runs each SM's first wave
    with its own programs' lengths (causal programs of one wave differ by up to 2 x SMs x BLOCK_M /
    BLOCK_N tiles, which equal lengths would read as a faster younger program); None: equal lengths."""
    from einsim.gpu.coresident import schedule

    sm, start, end = tl[:, 0], tl[:, 1].astype(np.float64), tl[:, -1].astype(np.float64)
    t0, dur = start.min(), float(np.median(end - start))
    waves = []  # per SM: its first wave's programs (launch order) and their end times over the first end
    for s in np.unique(sm):
        idx = np.flatnonzero((sm == s) & (start - t0 < 0.02 * dur))
        if len(idx) > 1:
            e = end[idx] - t0
            waves.append((idx, e / e.min()))
    if not waves:
        return 1, 1.0, [1.0]  # one program per SM: nothing shares it
    c = int(np.median([len(i) for i, _ in waves]))
    waves = [(i, r) for i, r in waves if len(i) == c]
    got = np.mean([np.sort(r) for _, r in waves], axis=0)
    # equal lengths: the mean sorted end ratios; given lengths: every SM's programs, in launch order
    fits = [(np.full(c, 1000), got, True)] if ntiles is None else [(ntiles[i], r, False) for i, r in waves]
    best = (np.inf, 1.0)
    for q in np.arange(0.30, 1.0001, 0.01):
        err = 0.0
        for n, r, by_rank in fits:
            _, _, e = schedule(np.asarray(n, dtype=np.int64), 1, c, float(q))
            e = np.sort(e) if by_rank else e
            err += float(np.sum((e / e.min() - r) ** 2))
        best = min(best, (err, round(float(q), 2)))
    return c, best[1], [round(float(x), 2) for x in got]


def launch_rate(tl: np.ndarray, ntiles: np.ndarray, sms: int, c: int) -> tuple[float, float]:
    """(q, error): the rate whose schedule (einsim.gpu.coresident, the whole launch, scaled to the recorded
    makespan) puts every program's start and end nearest the recorded ones (a grid over 0.40..1.00); error:
    their mean distance, in median program durations. A check of the first wave's q on all programs."""
    from einsim.gpu.coresident import schedule

    start, end = tl[:, 1].astype(np.float64), tl[:, -1].astype(np.float64)
    start, end = start - start.min(), end - start.min()
    dur = float(np.median(end - start))
    best = (np.inf, 1.0)
    for q in np.arange(0.40, 1.0001, 0.02):
        _, s, e = schedule(np.asarray(ntiles, dtype=np.int64), sms, c, float(q))
        k = end.max() / e.max()
        err = float(np.mean(np.abs(s * k - start)) + np.mean(np.abs(e * k - end))) / dur
        best = min(best, (err, round(float(q), 2)))
    return best[1], best[0]


def linear_checkpoints(tl: np.ndarray, ntiles: np.ndarray) -> np.ndarray:
    """An entry-and-exit timeline (`--entry-exit`) with its loop checkpoints filled in as if every program
    ran its K/V tiles at one speed from entry to exit (the loop's end at the exit): a replay of the plain
    kernel's recorded order and lengths of programs, without their speed changes inside."""
    from einsim.gpu.plan import TIMELINE_CHECKPOINTS

    out = tl.copy()
    start, end = tl[:, 1].astype(np.float64), tl[:, 3 + TIMELINE_CHECKPOINTS].astype(np.float64)
    n = np.maximum(np.asarray(ntiles, dtype=np.float64), 1.0)
    seg = np.maximum(np.ceil(n / TIMELINE_CHECKPOINTS), 1.0)
    for k in range(TIMELINE_CHECKPOINTS):
        out[:, 2 + k] = np.round(start + (end - start) * np.minimum(k * seg, n) / n).astype(np.int64)
    out[:, 2 + TIMELINE_CHECKPOINTS] = tl[:, 3 + TIMELINE_CHECKPOINTS]
    return out


def analyze(folder: str, capacities=(0.5, 1.0)) -> None:
    from einsim.gpu.arch import arch_for
    from einsim.gpu.l2sim import build_jobs, replay, simulate

    info = json.load(open(os.path.join(folder, "timeline_probe.json")))
    card = info["env"]["card"]
    arch = arch_for(card)
    z = np.load(os.path.join(folder, "timeline_probe.npz"))
    print(f"# {card}: K/V DRAM reads per head, per pass kernel — measured (ncu), lockstep (the model), and")
    shares = " / ".join("the measured hit curve" if c is None else f"{c:g}" for c in capacities)
    print(f"# the replay of recorded timelines through an LRU of {shares} of the L2 (3 runs; ncu's own run)")
    for rec in info["records"]:
        name = rec["name"]
        plan, shape, t = _setup(name)
        stream_q = shape.B * shape.H * shape.N_Q * shape.D * 2
        print(f"\n{name} ({plan.variant}, {shape.B}x{shape.H}x{shape.N_KV} D={shape.D}, BM{t.block_m} BN{t.block_n} "
              f"{t.num_warps}w{' lazy' if t.lazy_rescale else ''}): plain {rec['ms_plain']:.2f} ms, "
              f"instrumented {rec['ms_timeline']:.2f} ms")  # fmt: skip
        for i, pk in enumerate(plan.kernels):
            kv = shape.N_KV * shape.D * 2 * (1 + int(pk.do_pv)) * shape.B * shape.H
            lock = simulate(plan, pk, shape, t, arch).reads_per_head
            meas = []
            for m in ("plain", "timeline"):
                ks = rec.get(f"ncu_{m}")
                if ks and i < len(ks) and ks[i]["dram_read_bytes"]:
                    # reads beyond Q (and the row statistics, < 1 %), per K/V stream
                    meas.append(f"{m} {(ks[i]['dram_read_bytes'] - stream_q) / kv:5.2f}")
            reps = []
            _, _, ntiles = build_jobs(plan, shape, t)
            loop = rec.get("timeline_loop", True)
            for key in (name, f"{name}|ncu") if loop else (f"{name}|ncu",):
                if key not in z.files:
                    continue
                for r, tl in enumerate(z[key]):
                    row = tl[i] if loop else linear_checkpoints(tl[i], ntiles)
                    if not row[:, 1].all():
                        continue
                    got = [
                        replay(plan, pk, shape, t, arch, row, None if c is None else c * arch.l2_bytes).reads_per_head
                        for c in capacities
                    ]
                    tag = ("ncu" if key.endswith("ncu") else f"r{r}") + ("" if loop else " (entry-exit, linear)")
                    reps.append(tag + " " + "/".join(f"{g:5.2f}" for g in got))
            print(f"  {pk.label:<24} measured {', '.join(meas) or '-'}; lockstep {lock:5.2f}; replay {'; '.join(reps)}")
            if f"{name}|ncu" in z.files:
                ps = phase_stats(z[f"{name}|ncu"][0][i])
            elif name in z.files:
                ps = phase_stats(z[name][0][i])
            else:
                continue
            tl = z[f"{name}|ncu"][0][i] if f"{name}|ncu" in z.files else z[name][0][i]
            c, q, ends = first_wave_rate(tl, ntiles)
            whole = ""
            if c > 1 and len(ntiles) > c * arch.sms:
                qw, err = launch_rate(tl, ntiles, arch.sms, c)
                whole = f"; whole launch: q = {qw:.2f} (starts and ends off by {err:.3f} of a program)"
            print(f"  {'':<24} program {ps['median_program_ms']:.2f} ms (p10/p90 {ps['duration_p10_p90'][0]:.2f}/"
                  f"{ps['duration_p10_p90'][1]:.2f}), start gaps on an SM in program lengths "
                  f"[0,.05,.2,.4,.6,.8,1.2,∞): {ps['start_gap_hist']}, {ps['sms']} SMs; first wave: "
                  f"{c} per SM ending at {' : '.join(map(str, ends))}, q = {q:.2f}{whole}")  # fmt: skip


def compare(folder: str, hit_curve=None) -> None:
    """The current model's DRAM read bytes of every case a probe run measured, against the plain kernels'
    (ncu), per case and per pass kernel (K/V reads per head). `hit_curve`: another L2 hit curve in
    place of the card's (studies.gpu_l2_curve.knots)."""
    import dataclasses

    from einsim.gpu.arch import arch_for
    from einsim.gpu.model import predict

    info = json.load(open(os.path.join(folder, "timeline_probe.json")))
    arch = arch_for(info["env"]["card"])
    if hit_curve is not None:
        arch = dataclasses.replace(arch, l2_hit_curve=hit_curve)
    print(f"# {info['env']['card']}: DRAM read bytes, the plain kernels (ncu) against the current model"
          + ("" if hit_curve is None else " with another L2 hit curve"))  # fmt: skip
    ok = 0
    for rec in info["records"]:
        plan, shape, t = _setup(rec["name"])
        costs = predict(plan, shape, t, arch).kernels
        meas = [k["dram_read_bytes"] for k in rec["ncu_plain"]]
        q = shape.B * shape.H * shape.N_Q * shape.D * 2
        per = []
        for pk, k, m in zip(plan.kernels, costs, meas):
            kv = shape.N_KV * shape.D * 2 * (1 + int(pk.do_pv)) * shape.B * shape.kv_heads
            per.append(f"{pk.label} {(m - q) / kv:.2f} vs {(k.dram_read_bytes - q) / kv:.2f}")
        pred = sum(k.dram_read_bytes for k in costs)
        err = pred / sum(meas) - 1
        ok += abs(err) <= 0.10
        print(f"{rec['name']:>22}: measured {sum(meas) / 2**20:7.0f} MiB, predicted {pred / 2**20:7.0f} "
              f"({100 * err:+5.1f} %)  [{'; '.join(per)}]")  # fmt: skip
    print(f"# within ±10 %: {ok} of {len(info['records'])}")


def predict_cases(names: list[str], card: str) -> None:
    """The model's DRAM read bytes per pass kernel (MiB) and K/V reads per head, lockstep beside it, and
    (where the co-resident schedule applies) the reads through an exact LRU of 0.55 of the L2 instead of
    the measured hit curve (the model before v15)."""
    from einsim.gpu.arch import arch_for
    from einsim.gpu.coresident import kv_reads
    from einsim.gpu.model import _kv_streams, drifting, predict
    from einsim.gpu.plan import lazy_applies

    arch = arch_for(card)
    print(f"# {arch.name}: predicted DRAM reads per pass kernel, MiB (K/V reads per head; lockstep waves;")
    print("# the schedule through an exact LRU of 0.55 of the L2)")
    for name in names:
        plan, shape, t = _setup(name)
        costs = predict(plan, shape, t, arch).kernels
        q = shape.B * shape.H * shape.N_Q * shape.D * 2
        cells = []
        for pk, k in zip(plan.kernels, costs):
            kv = shape.N_KV * shape.D * 2 * (1 + int(pk.do_pv)) * shape.B * shape.kv_heads
            slots = k.ctas_per_sm * arch.sms
            lock = _kv_streams(plan, shape, t, slots, kv / (shape.B * shape.kv_heads), arch)
            old = "-"
            if drifting(plan, shape, t, arch, k.ctas_per_sm):
                r = kv_reads(plan, pk, shape, t, arch, k.ctas_per_sm, lazy_applies(pk, t), 0.55 * arch.l2_bytes)
                old = f"{r.reads_per_head:.2f}"
            cells.append(
                f"{pk.label} {k.dram_read_bytes / 2**20:.0f} ({(k.dram_read_bytes - q) / kv:.2f}; {lock:.2f}; {old})"
            )
        print(f"{name:>22}: {', '.join(cells)}")


def _shares(text: str, ap: argparse.ArgumentParser) -> list[float | None]:
    """L2 shares (exact LRUs) to replay at; `curve` (None) is the card's measured hit curve."""
    try:
        shares = [None if x.strip() == "curve" else float(x) for x in text.split(",")]
    except ValueError:
        shares = []
    if not shares or not all(x is None or 0 < x <= 1 for x in shares):
        ap.error(
            f"--shares {text!r}: give fractions of the L2 in (0, 1] or `curve`, comma-separated, e.g. 0.5,0.55,curve."
        )
    return shares


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.environ.get("OUT", "/tmp/einsim_gpu_out"))
    ap.add_argument("--budget-s", type=float, default=380.0)
    ap.add_argument("--ncu-child", default=None)
    ap.add_argument("--analyze", default=None, help="folder with timeline_probe.{json,npz} (CPU)")
    ap.add_argument("--cases", choices=tuple(CASE_SETS), default="probe", help="the probe's kernels or a holdout set")
    ap.add_argument(
        "--predict",
        default=None,
        choices=("h100", "h200"),
        help="print the model's DRAM bytes of --cases on this card (CPU)",
    )
    ap.add_argument("--entry-exit", action="store_true", help="record entry and exit only (the loop's code as is)")
    ap.add_argument(
        "--shares",
        default="0.5,1.0",
        help="--analyze: the L2 shares (exact LRUs) to replay at, or `curve` (the measured hit curve), e.g. 0.55,curve",
    )
    ap.add_argument("--compare", action="store_true", help="--analyze: the current model against the plain kernels")
    ap.add_argument(
        "--scan",
        default=None,
        metavar="DIR:READERS",
        help="--compare: the L2 hit curve of a gpu_l2_curve.py run (folder:readers) instead of the card's",
    )
    args = ap.parse_args(argv)
    if args.ncu_child:
        ncu_child(args.ncu_child)
    elif args.analyze:
        missing = [
            f
            for f in ("timeline_probe.json", "timeline_probe.npz")
            if not os.path.exists(os.path.join(args.analyze, f))
        ]
        if missing:
            ap.error(
                f"--analyze {args.analyze}: no {' or '.join(missing)} there. Give the folder a probe run wrote "
                "(its --out, e.g. studies/results/gpu_timeline_probe_h200)."
            )
        if args.scan and not args.compare:
            ap.error("--scan replaces the card's L2 curve in --compare; add --compare.")
        if args.compare:
            hc = None
            if args.scan:
                from studies.gpu_l2_curve import knots

                d, _, r = args.scan.rpartition(":")
                if r.isdigit() and os.path.exists(os.path.join(d, "l2_curve.json")):
                    hc = knots(d, int(r))
                if not hc:
                    ap.error(f"--scan {args.scan!r}: give a gpu_l2_curve.py folder and a reader count it scanned, "
                             "e.g. studies/results/gpu_l2_curve_readers_h200:128.")  # fmt: skip
            compare(args.analyze, hc)
        else:
            analyze(args.analyze, tuple(_shares(args.shares, ap)))
    elif args.predict:
        predict_cases(list(CASE_SETS[args.cases]), args.predict)
    else:
        names = list(CASE_SETS[args.cases])
        measure(args.out, args.budget_s, names, not args.entry_exit)


if __name__ == "__main__":
    main()
