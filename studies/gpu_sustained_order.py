"""The FA1 / FA2 1-pass pair timed two ways: in 100-ms bursts in turn (as the benchmark times) and at the
card's sustained, power-limited clock.

Why (notes_gpu.md v24): at D=128 with warp specialization the model puts FA1 3.7 % behind the FA2 1-pass at
every shape, and the benchmark's rounds (runs 51-58) measured FA1 from 3 % slower to 6 % faster, the sign
changing between calls at one shape (4x16x4096: +3.0, +1.5, -3.5 %). Every prefill kernel runs at the H100's
700 W limit, at 1.59-1.83 GHz, and its clock moves with the power the card drew just before (v23). A
`do_bench` of 125 ms right after another kernel (the benchmark's rounds) or after a pause (its single
timings) falls inside that transient, so it may order two near-equal kernels by what ran before them.
This probe times each kernel of the pair both ways in the same process, in turn, order reversed every
other round:
- burst: `do_bench(warmup=25, rep=100)` straight after the other kernel's timing (the benchmark's rounds);
- sustained: the kernel runs back to back for `--sustain-s` seconds, then `do_bench(warmup=25, rep=300)`:
  timed at the clock its own power draw settles to;
and nvidia-smi samples the SM clock and board power every 20 ms throughout, so each timing window has the
clock it ran at. The card's clocks are left as they are (METHOD.md).

Registered before the call (commit of this file): the committed model predicts FA1 / FA2 1-pass = 1.037 at
the four shapes below. The pair counts as ordered by a protocol at a shape where the median over rounds of
the two kernels differs by more than 3 % (studies.gpu_validation.RANK_TIE); the model misorders it there if
its sign is FA1 faster.

On the GPU: `python studies/gpu_sustained_order.py --out DIR` writes DIR/gpu_sustained_order.json. On the CPU:
`python studies/gpu_sustained_order.py --show FILE` prints per shape and protocol each kernel's median ms,
FA1 / FA2 (ratio of the medians and the median of the per-round ratios), the rounds FA1 was faster in, the
median SM clock and power in the timing windows, and the model's ratio.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from studies.gpu_clock_probe import SmiSampler, out_or_show  # noqa: E402
from studies.gpu_ws_profile import KERNELS, _launch, _plan_shape, launch_tiling  # noqa: E402

#: (B, H, N, D): the shapes where the pair was timed in rounds (runs 51-58: 16384 and 4096 in the main group,
#: 12288 and 3072 in holdout E); einsim's launch at each (per-tile at 16K and 12K, persistent at 4K and 3K)
SHAPES = [(1, 16, 16384, 128), (2, 12, 12288, 128), (4, 16, 4096, 128), (5, 20, 3072, 128)]
#: `--grid`: (B, H, N, D, persistent) — K/V tiles per query tile (N / 128) from 8 to 128 at about the same work
#: per launch (~1 ms), each launched persistent (1) and a program per query tile (0). Question (notes v24): in
#: sustained timing FA1 led by 3.3-3.4 % at the persistent launches (24-32 tiles per query tile) and 1.1-1.3 %
#: at the per-tile ones (96-128); is it the launch or the length of a query tile's loop?
#: Answer (H100, notes v25; results/gpu_sustained_order_h100/table_grid.txt): the launch. Persistent, FA1 led by
#: 2.1-4.7 % at every length; a program per tile, the two tied (FA1 0.0-1.3 % behind).
GRID = [(b, h, n, 128, p) for b, h, n in ((32, 32, 1024), (8, 32, 2048), (4, 16, 4096), (1, 16, 8192), (1, 4, 16384))
        for p in (1, 0)]  # fmt: skip
PROTOCOLS = ("burst", "sustained")
#: the end of a sustained timing whose clock samples count: do_bench's window (studies.gpu_cases.SUSTAINED_REP_MS)
CLOCK_WINDOW_S = 0.35


def _timed(fn, protocol: str, sustain_s: float) -> tuple[float, float, float]:
    """(ms, window start, window end) of one timing of `fn` by `protocol` (studies.gpu_cases.bench: the
    benchmark's 100-ms window, or its sustained protocol). The window includes a sustained run's lead-in."""
    from studies.gpu_cases import bench

    t0 = time.time()
    ms = bench(fn, "cuda", sustain_s if protocol == "sustained" else 0.0)
    return ms, t0, time.time()


def probe(rounds: int, sustain_s: float, shapes: list, path: Path, stagger: int = 0) -> dict:
    """Time the pair at every shape (module docstring), writing `path` after each: a call cut short keeps the
    shapes it finished. `stagger`: both kernels launched with `Tiling.stagger_cycles` (gpu_ws_phase.py)."""
    import torch

    if not torch.cuda.is_available():
        raise SystemExit("gpu_sustained_order.py --out needs a CUDA GPU; on the CPU, give --show FILE with the JSON "
                         "a GPU call wrote.")  # fmt: skip
    out = {"card": torch.cuda.get_device_name(), "rounds": rounds, "sustain_s": sustain_s, "shapes": [],
           "stagger_cycles": stagger}  # fmt: skip
    for sh in shapes:
        fns = {label: _launch(cascade, sh[:4], _tiling(cascade, sh, stagger)) for label, cascade in KERNELS}
        for fn in fns.values():
            fn()
        torch.cuda.synchronize()
        rec = {"shape": sh, "timings": timed_rounds(fns, rounds, sustain_s)}
        out["shapes"].append(rec)
        path.write_text(json.dumps(out, indent=1))
        print(json.dumps({"shape": sh, "done": len(rec["timings"])}), flush=True)
        fns.clear()
        torch.cuda.empty_cache()
        time.sleep(1.0)
    return out


def timed_rounds(fns: dict, rounds: int, sustain_s: float) -> list[dict]:
    """Each function of `fns` (label -> launch) timed by each of PROTOCOLS, `rounds` times in turn, the order
    reversed every other round; each timing with the median SM clock and board power nvidia-smi sampled in
    its measuring window (a sustained run's last CLOCK_WINDOW_S)."""
    timings = []
    sampler = SmiSampler()
    for protocol in PROTOCOLS:
        for r in range(rounds):
            for label in list(fns)[:: -1 if r % 2 else 1]:
                ms, t0, t1 = _timed(fns[label], protocol, sustain_s)
                timings.append({"protocol": protocol, "round": r, "kernel": label, "ms": ms, "t0": t0, "t1": t1})
    samples = sampler.stop()
    for t in timings:
        lo = t["t0"] if t["protocol"] == "burst" else t["t1"] - CLOCK_WINDOW_S
        inside = [s for s in samples if lo <= s[0] <= t["t1"]]
        if inside:
            t["clock_mhz"] = statistics.median(s[1] for s in inside)
            t["power_w"] = statistics.median(s[2] for s in inside)
    return timings


def _tiling(cascade: str, sh: tuple, stagger: int = 0):
    """The launch of a SHAPES entry (einsim's) or of a GRID entry (einsim's, persistent or not as named), with
    `stagger` as its `stagger_cycles`."""
    import dataclasses

    return dataclasses.replace(launch_tiling(cascade, sh, sh[4] if len(sh) > 4 else None), stagger_cycles=stagger)


def model_ratio(sh: tuple, arch) -> float:
    """The committed model's FA1 / FA2 1-pass time at `sh`, each at its launch (`_tiling`)."""
    from einsim.gpu.model import predict
    from studies.gpu_cases import compiled_reports

    ms = []
    for _, cascade in KERNELS:
        plan, shape = _plan_shape(cascade, tuple(sh[:4]))
        t = _tiling(cascade, sh)
        ms.append(predict(plan, shape, t, arch, compiled_reports(plan, shape, t)).ms)
    return ms[1] / ms[0]


def summary(rec: dict, protocol: str) -> dict:
    """One shape's timings by `protocol`: per kernel the median ms, clock and power; FA1 / FA2 as the ratio of
    the medians and the median of the per-round ratios; the rounds FA1 ran faster in."""
    (a, _), (b, _) = KERNELS
    ts = [t for t in rec["timings"] if t["protocol"] == protocol]
    by = {k: sorted((t for t in ts if t["kernel"] == k), key=lambda t: t["round"]) for k in (a, b)}
    med = {k: statistics.median(t["ms"] for t in v) for k, v in by.items()}
    per_round = [y["ms"] / x["ms"] for x, y in zip(by[a], by[b])]
    clocks = {k: [t["clock_mhz"] for t in v if "clock_mhz" in t] for k, v in by.items()}
    power = {k: [t["power_w"] for t in v if "power_w" in t] for k, v in by.items()}
    return {
        "ms": med,
        "ratio": med[b] / med[a],
        "ratio_rounds": statistics.median(per_round),
        "fa1_faster": sum(r < 1 for r in per_round),
        "rounds": len(per_round),
        "clock_mhz": {k: statistics.median(v) if v else None for k, v in clocks.items()},
        "power_w": {k: statistics.median(v) if v else None for k, v in power.items()},
    }


def show(path: Path, tie: float = 0.03) -> None:
    from einsim.gpu.arch import arch_for

    try:
        data = json.loads(path.read_text())
        shapes, card = data["shapes"], data["card"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise SystemExit(
            f"{path}: not a gpu_sustained_order.json ({e}); give the file `--out` wrote on the GPU."
        ) from None
    arch = arch_for(card)
    stagger = data.get("stagger_cycles", 0)
    print(f"# {card}: {data['rounds']} rounds in turn per protocol; sustained = {data['sustain_s']} s back to back "
          f"first. FA1 / FA2 1-pass; 'order' with ties within {tie:.0%}"
          + (f"; both launched with stagger_cycles={stagger} (the model's ratio is without)" if stagger else ""))
    print(f"{'shape':<19} {'protocol':<9} {'FA2 ms':>7} {'FA1 ms':>7} {'ratio':>6} {'per-rd':>6} {'FA1<':>5} "
          f"{'FA2 MHz':>7} {'FA1 MHz':>7} {'W':>9}  {'model':>5}  order")  # fmt: skip
    (a, _), (b, _) = KERNELS
    for rec in shapes:
        sh = rec["shape"]
        pred = model_ratio(sh, arch)
        name = "x".join(map(str, sh[:4])) + ("" if len(sh) < 5 else " pers" if sh[4] else " tile")
        for protocol in PROTOCOLS:
            s = summary(rec, protocol)
            tied = abs(s["ratio"] - 1) <= tie * min(1.0, s["ratio"])
            order = "tie" if tied else ("as modelled" if (s["ratio"] > 1) == (pred > 1) else "MISORDERED")
            mhz = [f"{v:7.0f}" if v else "      -" for v in (s["clock_mhz"][a], s["clock_mhz"][b])]
            watts = "/".join(f"{v:.0f}" if v else "-" for v in (s["power_w"][a], s["power_w"][b]))
            print(f"{name:<19} {protocol:<9} {s['ms'][a]:7.3f} {s['ms'][b]:7.3f} {s['ratio']:6.3f} "
                  f"{s['ratio_rounds']:6.3f} {s['fa1_faster']:>2}/{s['rounds']:<2} {mhz[0]} {mhz[1]} {watts:>9}  "
                  f"{pred:5.3f}  {order}")  # fmt: skip


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, help="on the GPU: write gpu_sustained_order.json here")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--sustain-s", type=float, default=1.5, help="seconds back to back before a sustained timing")
    ap.add_argument("--grid", action="store_true", help="with --out: the GRID of launches instead of SHAPES")
    ap.add_argument("--show", type=Path, metavar="FILE", help="print the table of a probe's JSON (on the CPU)")
    ap.add_argument("--stagger", type=int, default=0, metavar="CYCLES",
                    help="with --out: launch both kernels with this Tiling.stagger_cycles (gpu_ws_phase.py)")
    args = ap.parse_args(argv)
    name = "gpu_sustained_order.json" if not args.stagger else f"gpu_sustained_order_stagger{args.stagger}.json"
    out_or_show(ap, args, name,
                lambda path: probe(args.rounds, args.sustain_s, GRID if args.grid else SHAPES, path, args.stagger),
                show)  # fmt: skip


if __name__ == "__main__":
    main()
