"""Where the two consumer warpgroups of a warp-specialized kernel stand against each other, tile by tile.

Why (notes_gpu.md v25): the SASS simulation of the FA1 / FA2 1-pass pair at D=128 has, for every compile, a
conflict-free steady state (the two warpgroups half a period apart, neither waiting for the other on the
tensor pipe) and convoys (about 512 SM cycles apart, each product queueing behind the other's). The measured
period of FA1's persistent compile is its conflict-free one (2673 SM cycles per tile simulated, 2674
measured at 1x16x8192), and the other three compiles' are their convoy periods. This probe reads the phase
in the hardware: the kernels' TIMELINE = 3 probe stores, for every query tile and each K/V tile of its loop,
each consumer warpgroup's SM clock (%clock64) as the tile starts, so one warpgroup's clock against the
other's gives their offset and each warpgroup's clock from tile to tile its period. (Its first form placed
the reads by query row; the compiled code showed, before any call, that triton's data partitioning keeps in
each consumer's loop a copy of the row tensors over all rows, so both warpgroups wrote every row. It now
places them by thread index.)

Registered before the call (the simulation, studies/results/gpu_ws_profile_h100_8192_p{1,0}/basins.txt):
FA1 persistent near half a period apart (the conflict-free basin: a start 900-1200 SM cycles apart); the
FA2 1-pass, both launches, and FA1 per tile in a convoy, the second warpgroup about 512 cycles behind the
first (their measured periods are the convoys').

The probe adds a clock read and a store per warp and K/V tile to each consumer loop, so it also times each
kernel with and without it, in turn: where the probe moves a kernel's time, the phase it reads is the probed
kernel's, not the plain one's.

`--stagger` asks whether the hardware stays where it is started: each kernel also runs with the second
consumer warpgroup spinning before each job's K/V loop (`Tiling.stagger_cycles`, einsim.gpu.kernels'
STAGGER; a thread holds two of its warpgroup's rows, so it waits twice the setting; the loop compiles as
without it), timed against the plain kernel and probed. Registered: if the simulation's steady states are the
hardware's, a start 900-1200 cycles apart (settings near 500 and -500, about 1000 cycles on top of where the
warpgroups enter unstaggered; 900-1300 at finer steps, notes v26) moves the FA2 1-pass towards its
conflict-free period (2379 SM cycles per tile persistent, 2558 per tile; 7-13 % faster than its convoy) and
leaves FA1 persistent where it is.

Outcome (H100, notes v26; results/gpu_ws_phase_h100/table.txt): within a job every compile settles into a
convoy 600-800 SM cycles apart; from each persistent program's second job on, FA1 and the FA2 1-pass both run
half a period apart, 6.5-7.8 % faster per tile. The registered phase held for FA1 persistent and both per-tile
launches, and failed for the FA2 1-pass persistent. A late start does not hold: each job settles back into a
convoy, and staggering every job costs FA1 persistent 8.5-9 %.

On the GPU: `python studies/gpu_ws_phase.py --out DIR [--stagger [CYCLES ...]]` writes DIR/gpu_ws_phase.json.gz
(per kernel, launch and stagger setting: ms with and without the probe, and per query tile the two
warpgroups' clocks at every K/V tile). On the CPU: `python studies/gpu_ws_phase.py --show FILE` (the JSON, or
it gzipped) prints, per kernel, launch and setting, the period (SM cycles per K/V tile, median of each
warpgroup's clock differences), the median lag of the second warpgroup and its offset modulo the period, as
quartiles and as a share of tiles in each quarter of the period; then, for the persistent launches, period
and lag of each program's first job against its later ones.
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from studies.gpu_clock_probe import out_or_show  # noqa: E402
from studies.gpu_ws_profile import KERNELS, _launch, _plan_shape, launch_tiling  # noqa: E402

#: (B, H, N, D): the shape both launches were profiled at (results/gpu_ws_profile_h100_8192_p{1,0})
SHAPE = (1, 16, 8192, 128)
ROUNDS = 5


#: `--stagger`'s settings (`Tiling.stagger_cycles`): the second consumer warpgroup spins this many SM cycles per
#: row it holds (two) before each job's K/V loop (negative: each persistent program's first job only); 1 spins
#: no time but runs the spin's code (its cost). The simulation's conflict-free state starts the two warpgroups
#: 900-1300 cycles apart (every compile: notes v26), settings 450-650 where they enter together
STAGGERS = (1, 350, 450, 500, 550, 650, -500)


def _probed(cascade: str, tiling):
    """(launch, phase tensor) of `cascade` at SHAPE with `tiling` and the TIMELINE = 3 probe."""
    import torch

    from einsim.gpu.runtime import phase_shape

    plan, shape = _plan_shape(cascade, SHAPE)
    phase = torch.full(phase_shape(plan, shape, tiling), -1, device="cuda", dtype=torch.int64)
    return _launch(cascade, SHAPE, tiling, phase=phase), phase


def _warpgroup_clocks(phase) -> tuple[list, str]:
    """Per query tile, the two consumer warpgroups' clocks at each K/V tile ([[a, b] per tile] per job,
    counted from the job's first clock; -1 where a warpgroup recorded none; a: the block's second-to-last
    warpgroup, b: its last), and which of the two consumers' slots were written ('0 1' when both). A
    warpgroup's clock is its first thread's."""
    import torch

    bm = phase.shape[-1] // 2  # BLOCK_M slots per consumer
    p = phase[0]
    a, b = p[:, :, 0], p[:, :, bm]
    written = " ".join(str(i) for i, x in enumerate((a, b)) if bool((x != -1).any()))
    big = torch.iinfo(torch.int64).max
    t0 = torch.minimum(torch.where(a >= 0, a, big).amin(1), torch.where(b >= 0, b, big).amin(1))[:, None]
    a, b = (torch.where(x >= 0, x - t0, -1) for x in (a, b))
    return [list(map(list, zip(x, y))) for x, y in zip(a.tolist(), b.tolist())], written


def probe(path: Path, staggers: tuple = ()) -> dict:
    """Each kernel and launch at SHAPE, plain and with every setting of `staggers` (those below 0 persistent
    only), each with and without the probe, timed in turn; every output checked against the plain kernel's.
    Writes `path` (gzipped where it ends in .gz) after each kernel and launch."""
    import dataclasses

    import torch
    import triton

    if not torch.cuda.is_available():
        raise SystemExit("gpu_ws_phase.py --out needs a CUDA GPU; on the CPU, give --show FILE.")
    out = {"card": torch.cuda.get_device_name(), "shape": SHAPE, "rounds": ROUNDS, "cases": []}
    for label, cascade in KERNELS:
        for persistent in (1, 0):
            base = launch_tiling(cascade, SHAPE, persistent)
            settings = [0, *(s for s in staggers if s > 0 or persistent)]
            fns, phases = {}, {}
            for st in settings:
                t = dataclasses.replace(base, stagger_cycles=st)
                fns[st, "plain"] = _launch(cascade, SHAPE, t)
                fns[st, "probed"], phases[st] = _probed(cascade, t)
            ms = {key: [] for key in fns}
            for r in range(ROUNDS):
                for key in list(fns)[:: -1 if r % 2 else 1]:
                    ms[key].append(float(triton.testing.do_bench(fns[key], warmup=25, rep=100, return_mode="median")))
            ref = fns[0, "plain"]().clone()
            for st in settings:
                same = bool(torch.equal(fns[st, "plain"](), ref))  # the spin leaves the output as it is
                phases[st].fill_(-1)
                same &= bool(torch.equal(fns[st, "probed"](), ref))  # and so do the probe's stores
                torch.cuda.synchronize()
                clocks, written = _warpgroup_clocks(phases[st].cpu())
                case = {"kernel": label, "persistent": persistent, "stagger_cycles": st, "same_output": same,
                        "ms_rounds": {"plain": ms[st, "plain"], "probed": ms[st, "probed"]},
                        "consumers_written": written}
                out["cases"].append({**case, "clocks": clocks})
                case["ms"] = {k: statistics.median(v) for k, v in case.pop("ms_rounds").items()}
                print(json.dumps(case), flush=True)
            text = json.dumps(out)
            if path.suffix == ".gz":
                path.write_bytes(gzip.compress(text.encode()))
            else:
                path.write_text(text)
    return out


def first_and_later(case: dict, programs: int, stride: int = 1) -> tuple[dict, dict]:
    """`summary` of a persistent case's jobs split in two: each program's first job (job index below
    `programs`: jobs p, p + P, ... run on program p) and its later ones. `stride`: the file keeps every
    stride-th job (its `job_stride`)."""
    jobs = case["clocks"]
    first = [j for i, j in enumerate(jobs) if i * stride < programs]
    later = [j for i, j in enumerate(jobs) if i * stride >= programs]
    return summary({"clocks": first}), summary({"clocks": later})


def summary(case: dict) -> dict:
    """A case's period (median over both warpgroups of the clock's step from one K/V tile to the next) and
    the second warpgroup's offset behind the first at each tile, modulo the period: quartiles, and the share
    of tiles in each quarter of the period; `lag`: the median offset itself. Tiles a warpgroup did not record
    (-1) are left out."""
    steps, offsets, lags = [], [], []
    for job in case["clocks"]:
        for (a0, b0), (a1, b1) in zip(job, job[1:]):
            if min(a0, b0, a1, b1) >= 0:
                steps += [a1 - a0, b1 - b0]
    period = statistics.median(steps) if steps else 0.0
    for job in case["clocks"]:
        for a, b in job:
            if min(a, b) >= 0 and period > 0:
                offsets.append((b - a) % period)
                lags.append(b - a)
    if not offsets:
        return {"period": period, "quartiles": (0.0, 0.0, 0.0), "quarters": (0.0,) * 4, "tiles": 0, "lag": 0.0}
    q = statistics.quantiles(offsets, n=4) if len(offsets) > 1 else [offsets[0]] * 3
    quarters = tuple(sum(int(o * 4 // period) == i for o in offsets) / len(offsets) for i in range(4))
    return {"period": period, "quartiles": tuple(q), "quarters": quarters, "tiles": len(offsets),
            "lag": statistics.median(lags)}  # fmt: skip


def show(path: Path) -> None:
    try:
        raw = Path(path).read_bytes()
        data = json.loads(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)
        cases = data["cases"]
        for c in cases:
            _ = (c["kernel"], c["persistent"], c["ms_rounds"]["plain"], c["ms_rounds"]["probed"], c["clocks"])
        _ = (data["card"], data["shape"], data["rounds"])
    except (OSError, EOFError, ValueError, KeyError, TypeError) as e:
        why = f"it has no field {e}" if isinstance(e, KeyError) else str(e)
        raise SystemExit(f"{path}: not the JSON gpu_ws_phase.py --out writes ({why}); give the file (or it "
                         "gzipped) that a GPU call wrote.") from None  # fmt: skip
    print(f"# {data['card']}, {'x'.join(map(str, data['shape']))}: FA1 / FA2 1-pass (warp-specialized), "
          f"{data['rounds']} rounds in turn with and without the probe; SM cycles. stagger: cycles the second "
          "warpgroup spins per row it holds before a job's K/V loop (-: a program's first job only); "
          "vs 0: its plain time over the unstaggered one's; lag: the second warpgroup's median offset")  # fmt: skip
    print("kernel      launch     stagger  ms plain   vs 0  ms probed  period   lag  offset q1/median/q3  "
          "share by quarter of period")
    plain0 = {}
    for c in cases:
        s = summary(c)
        ms = {k: statistics.median(v) for k, v in c["ms_rounds"].items()}
        st = c.get("stagger_cycles", 0)
        key = (c["kernel"], c["persistent"])
        if st == 0:
            plain0[key] = ms["plain"]
        vs = ms["plain"] / plain0[key] if key in plain0 else float("nan")
        q1, med, q3 = s["quartiles"]
        quarters = " ".join(f"{x:4.0%}" for x in s["quarters"])
        print(f"{c['kernel']:<11} {'persistent' if c['persistent'] else 'per tile':<10} {st:>7} {ms['plain']:9.3f} "
              f"{vs:6.3f} {ms['probed']:9.3f}  {s['period']:6.0f} {s['lag']:5.0f}  {q1:5.0f} {med:5.0f} {q3:5.0f}    "
              f"{quarters}{'' if c.get('same_output', True) else '  OUTPUT DIFFERS'}")  # fmt: skip
    from einsim.gpu.arch import arch_for

    sms, stride = arch_for(data["card"]).sms, data.get("job_stride", 1)
    print(f"persistent launches ({sms} programs), each program's first job against its later ones: period and lag")
    print("kernel      stagger   first: period   lag   later: period   lag")
    for c in cases:
        if c["persistent"]:
            first, later = first_and_later(c, sms, stride)
            print(f"{c['kernel']:<11} {c.get('stagger_cycles', 0):>7}  {first['period']:13.0f} {first['lag']:5.0f}  "
                  f"{later['period']:13.0f} {later['lag']:5.0f}")  # fmt: skip


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, metavar="DIR", help="run on the GPU, writing DIR/gpu_ws_phase.json.gz")
    ap.add_argument("--show", type=Path, metavar="FILE", help="print the table of a probe's JSON (on the CPU)")
    ap.add_argument("--stagger", type=int, nargs="*", metavar="CYCLES",
                    help=f"with --out: also run each kernel with these stagger settings (none named: {STAGGERS})")
    args = ap.parse_args(argv)
    staggers = () if args.stagger is None else tuple(args.stagger) or STAGGERS
    out_or_show(ap, args, "gpu_ws_phase.json.gz", lambda path: probe(path, staggers), show)


if __name__ == "__main__":
    main()
