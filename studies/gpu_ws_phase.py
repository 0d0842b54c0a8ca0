"""Where the two consumer warpgroups of a warp-specialized kernel stand against each other, tile by tile.

Why (notes_gpu.md v25): the SASS simulation of the FA1 / FA2 1-pass pair at D=128 has, for every compile, a
conflict-free steady state (the two warpgroups half a period apart, neither waiting for the other on the
tensor pipe) and convoys (about 512 SM cycles apart, each product queueing behind the other's). The measured
period of FA1's persistent compile is its conflict-free one (2673 SM cycles per tile simulated, 2674
measured at 1x16x8192), and the other three compiles' are their convoy periods. This probe reads the phase
in the hardware: the kernels' TIMELINE = 3 probe stores, for every query tile and each K/V tile of its loop,
every query row's SM clock (%clock64) as the tile starts, so the rows of one warpgroup against the other's
give their offset and each warpgroup's clock from tile to tile its period.

Registered before the call (the simulation, studies/results/gpu_ws_profile_h100_8192_p{1,0}/basins.txt):
FA1 persistent near half a period apart (the conflict-free basin: a start 900-1200 SM cycles apart); the
FA2 1-pass, both launches, and FA1 per tile in a convoy, the second warpgroup about 512 cycles behind the
first (their measured periods are the convoys').

The probe adds a clock read and a store per warp and K/V tile to each consumer loop (12-15 instructions of
455-544), so it also times each kernel with and without it, in turn: where the probe moves a kernel's time,
the phase it reads is the probed kernel's, not the plain one's.

On the GPU: `python studies/gpu_ws_phase.py --out DIR` writes DIR/gpu_ws_phase.json (per kernel and launch:
ms with and without the probe, and per query tile the two warpgroups' clocks at every K/V tile). On the CPU:
`python studies/gpu_ws_phase.py --show FILE` (the JSON, or it gzipped) prints, per kernel and launch, the
period (SM cycles per K/V tile, median of each warpgroup's clock differences) and the second warpgroup's
offset behind the first, modulo the period, as quartiles and as a share of tiles in each quarter of the
period.
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


def _probed(cascade: str, persistent: int):
    """(launch, phase tensor) of `cascade` at SHAPE with the TIMELINE = 3 probe."""
    import torch

    from einsim.gpu.runtime import phase_shape

    plan, shape = _plan_shape(cascade, SHAPE)
    t = launch_tiling(cascade, SHAPE, persistent)
    phase = torch.full(phase_shape(plan, shape, t), -1, device="cuda", dtype=torch.int64)
    return _launch(cascade, SHAPE, t, phase=phase), phase


def _warpgroup_clocks(phase) -> tuple[list, str]:
    """Per query tile, the two warpgroups' clocks at each K/V tile ([[a, b] per tile] per job), and where
    the second warpgroup's rows landed ('64..127' or '128..191'). A warpgroup's clock is its first row's."""
    bm = phase.shape[-1] // 2  # BLOCK_M: a warpgroup holds bm / 2 rows
    p = phase[0]
    second = bm if bool((p[:, :, bm] != -1).any()) else bm // 2
    a, b = p[:, :, 0], p[:, :, second]
    return [list(map(list, zip(x, y))) for x, y in zip(a.tolist(), b.tolist())], f"{second}..{second + bm // 2 - 1}"


def probe(path: Path) -> dict:
    import torch
    import triton

    if not torch.cuda.is_available():
        raise SystemExit("gpu_ws_phase.py --out needs a CUDA GPU; on the CPU, give --show FILE.")
    out = {"card": torch.cuda.get_device_name(), "shape": SHAPE, "rounds": ROUNDS, "cases": []}
    for label, cascade in KERNELS:
        for persistent in (1, 0):
            plain = _launch(cascade, SHAPE, launch_tiling(cascade, SHAPE, persistent))
            probed, phase = _probed(cascade, persistent)
            ms = {"plain": [], "probed": []}
            for r in range(ROUNDS):
                for name in ("plain", "probed")[:: -1 if r % 2 else 1]:
                    fn = plain if name == "plain" else probed
                    ms[name].append(float(triton.testing.do_bench(fn, warmup=25, rep=100, return_mode="median")))
            ref = plain().clone()
            phase.fill_(-1)
            same = bool(torch.equal(probed(), ref))  # the probe's stores leave the output as it is
            torch.cuda.synchronize()
            clocks, rows = _warpgroup_clocks(phase.cpu())
            out["cases"].append({"kernel": label, "persistent": persistent, "ms_rounds": ms, "same_output": same,
                                 "second_rows": rows, "clocks": clocks})  # fmt: skip
            path.write_text(json.dumps(out))
            print(json.dumps({"kernel": label, "persistent": persistent, "second_rows": rows, "same_output": same,
                              "ms": {k: statistics.median(v) for k, v in ms.items()}}), flush=True)  # fmt: skip
    return out


def summary(case: dict) -> dict:
    """A case's period (median over both warpgroups of the clock's step from one K/V tile to the next) and
    the second warpgroup's offset behind the first at each tile, modulo the period: quartiles, and the share
    of tiles in each quarter of the period. Tiles a warpgroup did not record (-1) are left out."""
    steps, offsets = [], []
    for job in case["clocks"]:
        for (a0, b0), (a1, b1) in zip(job, job[1:]):
            if min(a0, b0, a1, b1) >= 0:
                steps += [a1 - a0, b1 - b0]
    period = statistics.median(steps) if steps else 0.0
    for job in case["clocks"]:
        for a, b in job:
            if min(a, b) >= 0 and period > 0:
                offsets.append((b - a) % period)
    if not offsets:
        return {"period": period, "quartiles": (0.0, 0.0, 0.0), "quarters": (0.0,) * 4, "tiles": 0}
    q = statistics.quantiles(offsets, n=4) if len(offsets) > 1 else [offsets[0]] * 3
    quarters = tuple(sum(int(o * 4 // period) == i for o in offsets) / len(offsets) for i in range(4))
    return {"period": period, "quartiles": tuple(q), "quarters": quarters, "tiles": len(offsets)}


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
          f"{data['rounds']} rounds in turn with and without the probe; SM cycles")  # fmt: skip
    print("kernel      launch      ms plain  ms probed  period  offset q1/median/q3    share by quarter of period")
    for c in cases:
        s = summary(c)
        ms = {k: statistics.median(v) for k, v in c["ms_rounds"].items()}
        q1, med, q3 = s["quartiles"]
        quarters = " ".join(f"{x:4.0%}" for x in s["quarters"])
        print(f"{c['kernel']:<11} {'persistent' if c['persistent'] else 'per tile':<10} {ms['plain']:8.3f} "
              f"{ms['probed']:9.3f}  {s['period']:6.0f}  {q1:5.0f} {med:5.0f} {q3:5.0f}    {quarters}")  # fmt: skip


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, metavar="DIR", help="run on the GPU, writing DIR/gpu_ws_phase.json")
    ap.add_argument("--show", type=Path, metavar="FILE", help="print the table of a probe's JSON (on the CPU)")
    args = ap.parse_args(argv)
    out_or_show(ap, args, "gpu_ws_phase.json", probe, show)


if __name__ == "__main__":
    main()
