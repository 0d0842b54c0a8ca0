"""Where the warp-specialized FA2 1-pass and FA1 kernels spend their time, instruction by instruction.

Why: at D=128 (warp specialization: a producer warpgroup of TMA loads, two consumer warpgroups of 64 query
rows each) FA1 runs as fast as the FA2 1-pass or faster (timed in rounds, up to 4.6 % at 1x16x16384; 4-9 %
in single timings, notes_gpu.md v18) although its consumer loop issues 19 % more instructions per K/V tile
(542 against 455), and the model orders them the other way (the flag count charges FA1's division of the
output every tile). This probe asks Nsight Compute where each kernel's consumer warps wait (notes v22).

On the GPU (one call; `--shape B H N D` after `--run` and `--time` for another shape than SHAPE, and
`--persistent 1` or `0` to launch persistent or a program per query tile instead of as einsim chooses):
    ncu --clock-control none -k regex:attn_pass --section SourceCounters --section WarpStateStats \
        --page source --print-source sass --csv python3 studies/gpu_ws_profile.py --run > $OUT/ws_source.csv
    gzip $OUT/ws_source.csv
    python3 studies/gpu_ws_profile.py --time > $OUT/ws_time.json
On the CPU: `python studies/gpu_ws_profile.py --compare DIR` (the folder holding both files) prints, per
kernel, each region of the consumer loop — the QK wgmma's issue, its wait (the WARPGROUP.DEPBAR), the
softmax up to the wait for the V tile, that wait (SYNCS.PHASECHK), the PV wgmma's issue, its wait and
the rest of the loop — as the share of the consumer warps' stall samples and as cycles per K/V tile
(the share times the measured time, per tile an SM runs), and the stall reasons of each. It also gives
the SM cycles per tile that the issue samples imply, and so the clock the loop ran at (`implied_clock`, notes
v23); with `--sim`, the SASS simulation's regions beside the measured ones (each consumer warpgroup running
its own copy of the loop, as compiled); with `--phase`, how far the simulated time moves when a few percent of
the issue slots are taken at random; with `--basins`, the steady states it settles into by how far apart
the two consumer warpgroups enter their loops (notes v25); with `--hold`, whether the convoy and the
conflict-free state each hold when issue slots are taken at random (notes v28). `--kernels causal` profiles the
causal 1-pass instead of the FA2/FA1 pair.

Assumption: warp-state samples are spread over warps in proportion to the time each spends in a state, so
a region's share of a consumer warpgroup's samples is its share of that warpgroup's time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LIB = ROOT / "workloads" / "cascades"
#: (label, cascade): the two kernels the model misorders
KERNELS = [("fa2-1pass", "cascade5_fa2.ein"), ("fa1", "flash_attention1.ein")]
#: the kernel sets `--kernels` names: the pair above, or the causal 1-pass (its launch: per tile or persistent
#: by shape, as einsim chooses)
KERNEL_SETS = {"fa": KERNELS, "causal": [("causal-1pass", "causal_fa2.ein")]}
#: (B, H, N, D) they run at unless `--shape` names another (1x16x16384: FA1 0.3-4.6 % ahead in rounds)
SHAPE = (1, 16, 16384, 128)
REGIONS = ("QK issue", "QK wait", "softmax", "V wait", "PV issue", "PV wait", "loop rest")


def _plan_shape(cascade: str, sh: tuple):
    import einsim
    from einsim.gpu.lower import lower
    from einsim.gpu.plan import Shape

    B, H, N, D = sh
    return lower(einsim.parse_file(str(LIB / cascade))), Shape(B, H, N, N, D)


def launch_tiling(cascade: str, sh: tuple, persistent: int | None = None):
    """einsim's launch of `cascade` at `sh` (B, H, N, D), persistent or a program per query tile as `persistent`
    says (None: as einsim chooses)."""
    import dataclasses

    from einsim.gpu.plan import choose_tiling

    t = choose_tiling(*_plan_shape(cascade, tuple(sh[:4])))
    return t if persistent is None else dataclasses.replace(t, persistent=persistent)


def _launch(cascade: str, sh: tuple, tiling=None, **probes):
    """The kernel's launch at `sh` (B, H, N, D) with `tiling` (None: einsim's choice); `probes` go to
    einsim.gpu.runtime.prepare (e.g. `phase=`)."""
    import torch

    from einsim.gpu.runtime import prepare

    plan, _ = _plan_shape(cascade, sh)
    B, H, N, D = sh
    g = torch.Generator(device="cuda").manual_seed(0)
    q, k, v = (torch.randn(B, H, N, D, device="cuda", generator=g, dtype=torch.bfloat16) for _ in range(3))
    fn, _ = prepare(plan, q, k, v, tiling, **probes)
    return fn


def run(sh: tuple, kernels: str = "fa", persistent: int | None = None) -> None:
    import torch

    for label, cascade in KERNEL_SETS[kernels]:
        out = _launch(cascade, sh, launch_tiling(cascade, sh, persistent))()
        torch.cuda.synchronize()
        print(f"ran {label} {sh} finite={bool(torch.isfinite(out).all())}", flush=True)


def time_kernels(sh: tuple, rounds: int, kernels: str = "fa", persistent: int | None = None) -> None:
    """Median ms of each kernel, timed in turn `rounds` times (order reversed every other round)."""
    import torch
    import triton

    fns = {label: _launch(cascade, sh, launch_tiling(cascade, sh, persistent)) for label, cascade in
           KERNEL_SETS[kernels]}  # fmt: skip
    times: dict[str, list[float]] = {k: [] for k in fns}
    for r in range(rounds):
        for label in list(fns)[:: -1 if r % 2 else 1]:
            times[label].append(float(triton.testing.do_bench(fns[label], warmup=25, rep=100, return_mode="median")))
    print(
        json.dumps(
            {
                "card": torch.cuda.get_device_name(),
                "shape": sh,
                "kernels": kernels,
                "persistent": persistent,
                "rounds": rounds,
                "ms_rounds": times,
                "ms": {k: statistics.median(v) for k, v in times.items()},
            },
            indent=1,
        )
    )


def _loop_exec(rows: list[tuple]) -> float:
    """How many times the consumer loops' instructions ran (once per K/V tile): the most any wgmma ran; 0 without
    one. Rows are (offset, SASS text, executed count, stall samples by reason), as Nsight Compute lists them."""
    return max((ex for _, text, ex, _ in rows if "HGMMA" in text), default=0)


def regions(rows: list[tuple]) -> dict[str, Counter]:
    """Stall samples of a warp-specialized attention kernel's consumer loops by region (REGIONS): each
    instruction belongs to the region its nearest marker above opens — a QK wgmma (accumulator RZ), a
    WARPGROUP.DEPBAR (the wait itself; what follows a QK wait is the softmax), a SYNCS.PHASECHK wait (the
    V tile's, once the softmax ran), a PV wgmma (operand B transposed). Instructions outside the consumer
    loops (producer, prologue, epilogue: executed fewer times than the loop's) are left out."""
    loop_exec = _loop_exec(rows)
    out: dict[str, Counter] = {r: Counter() for r in REGIONS}
    region = None
    for _, text, ex, stalls in rows:
        if "HGMMA" in text and ", RZ" in text and "tnspB" not in text:
            region = "QK issue"
        elif "HGMMA" in text and "tnspB" in text and region in ("softmax", "V wait", "PV issue"):
            region = "PV issue"
        elif "WARPGROUP.DEPBAR" in text and region in ("QK issue", "PV issue"):
            region = "QK wait" if region == "QK issue" else "PV wait"
        elif region == "QK wait":
            region = "softmax"
        elif region == "PV wait":
            region = "loop rest"
        if "SYNCS.PHASECHK" in text and region == "softmax":
            region = "V wait"
        elif region == "V wait" and "SYNCS" not in text and "BRA" not in text:
            region = "softmax" if "HGMMA" not in text else region
        if ex < loop_exec:
            if region == "loop rest":  # the consumer loop has ended (epilogue, then the producer's code)
                region = None
            continue
        if region is None:
            continue
        out[region]["instructions"] += 1
        for reason, v in stalls.items():
            out[region][reason] += v
    return out


def _samples(region: Counter) -> float:
    """A region's warp-state samples, all reasons (its "instructions" entry is a count, not samples)."""
    return sum(v for r, v in region.items() if r != "instructions")


def compare(folder: Path, sim: bool = False, phase: bool = False, basins: bool = False, hold: bool = False) -> None:
    from studies.gpu_sass_profile import ncu_kernels

    src, tim = folder / "ws_source.csv.gz", folder / "ws_time.json"
    try:
        kernels = ncu_kernels(src)
        timing = json.loads(tim.read_text())
    except (OSError, ValueError) as e:
        raise SystemExit(f"{folder}: cannot read ws_source.csv.gz and ws_time.json there ({e}). Give --compare the "
                         "folder the GPU call wrote them to (module docstring).") from None  # fmt: skip
    chosen = KERNEL_SETS.get(timing.get("kernels", "fa"))
    if chosen is None:
        raise SystemExit(f"{tim}: kernels {timing.get('kernels')!r} is not one of {sorted(KERNEL_SETS)}.")
    lacks = [k for k in ("card", "rounds", "ms") if k not in timing] + [
        label for label, _ in chosen if label not in timing.get("ms", {})
    ]
    if lacks:
        raise SystemExit(f"{tim}: no {', '.join(lacks)} in it; give the file `--time` wrote on the GPU.")
    if len(kernels) != len(chosen):
        raise SystemExit(f"{src}: {len(kernels)} kernels profiled, expected {len(chosen)} (one per kernel of the "
                         "set, in order); rerun the ncu command with -k regex:attn_pass.")  # fmt: skip
    from einsim.gpu.arch import arch_for

    arch = arch_for(timing["card"])
    sh = tuple(timing.get("shape", SHAPE))
    print(f"# {timing['card']}, {'x'.join(map(str, sh))}: consumer-loop regions, share of stall samples and cycles "
          f"per K/V tile (median of {timing['rounds']} rounds, at {arch.clock_hz / 1e9:.2f} GHz)")  # fmt: skip
    for (label, cascade), k in zip(chosen, kernels):
        plan, shape = _plan_shape(cascade, sh)
        t = launch_tiling(cascade, sh, timing.get("persistent"))
        tiles = shape.B * shape.H * (shape.N_Q // t.block_m) * (shape.N_KV // t.block_n)
        if plan.causal:  # the tiles on or below the diagonal
            n = shape.N_Q // t.block_m
            tiles = shape.B * shape.H * n * (n + 1) // 2
        tiles_per_sm = tiles / arch.sms
        ms = timing["ms"][label]
        cyc_tile = ms * 1e-3 * arch.clock_hz / tiles_per_sm
        by = regions(k["rows"])
        total = sum(map(_samples, by.values()))
        n_ins = sum(c["instructions"] for c in by.values())
        sm_cyc, mhz = implied_clock(by, ms * 1e-3 / tiles_per_sm)
        sim_cyc, sim_by = simulated_regions(plan, shape, t, arch) if sim else (0.0, {})
        sim_total = sum(map(_samples, sim_by.values()))
        print(f"{label:<10} {ms:.3f} ms  {cyc_tile:6.0f} cycles per tile  consumer-loop instructions {n_ins}")
        print(f"   issue-implied: {sm_cyc:.0f} SM cycles per tile, an SM clock of {mhz:.0f} MHz over the loop")
        waits = release_waits(k["rows"])
        if waits:
            print(f"   producer's waits for the consumers' releases (share of samples, in the order checked): K "
                  f"{waits[0]:.1%} then {waits[1]:.1%}, V {waits[2]:.1%} then {waits[3]:.1%}; on the second "
                  f"consumer {(waits[1] + waits[3]) / sum(waits):.2f} of it")  # fmt: skip
        print(f"   consumer-loop samples stalled on a full MIO queue: {mio_throttle_share(k['rows']):.1%}")
        if sim:
            print(f"   SASS simulation of the two consumer warpgroups: {sim_cyc:.0f} SM cycles per tile")
        if phase:
            spread = phase_spread(plan, shape, t, arch)
            if spread:
                print(f"   with {', '.join(f'{x:.0%}' for x in PHASE_STOLEN)} of issue slots taken at random (seeds "
                      f"{PHASE_SEEDS}): {min(spread):.0f}-{max(spread):.0f} SM cycles per tile, median "
                      f"{statistics.median(spread):.0f}")  # fmt: skip
        if basins:
            by_delay = basin_periods(plan, shape, t, arch)
            if by_delay:
                print("   simulated SM cycles per tile by the second warpgroup's delay entering its loop (delay: "
                      "cycles): " + ", ".join(f"{d}: {c:.0f}" for d, c in by_delay))  # fmt: skip
        for delay, share, per_seed in hold_periods(plan, shape, t, arch) if hold else ():
            print(f"   started {delay} SM cycles apart, {share:.0%} of issue slots taken at random (seeds "
                  f"{HOLD_SEEDS}): " + ", ".join(f"{c:.0f}" for c in per_seed) + " SM cycles per tile")  # fmt: skip
        head = f"   {'region':<10} {'instr':>5} {'share':>7} {'@clock':>7} {'SM cyc':>7}"
        print(head + (f" {'sim':>6}" if sim else ""))
        for name, c in by.items():
            s = _samples(c)
            top = ", ".join(f"{r} {v / s:.0%}" for r, v in c.most_common() if r != "instructions" and v > 0.1 * s)
            share = s / total
            line = f"   {name:<10} {c['instructions']:5d} {share:7.1%} {share * cyc_tile:7.0f} {share * sm_cyc:7.0f}"
            if sim:
                line += f" {_samples(sim_by.get(name, Counter())) / (sim_total or 1) * sim_cyc:6.0f}"
            print(f"{line}  {top}")


def _per_tile(loops: tuple, t, arch, lo: int, hi: int, profile: dict | None = None, **kw) -> float:
    """SM cycles per K/V tile of two consumer warpgroups, each running its copy of the loop (`loops`, one per
    slot; einsim.gpu.sass.slot_cycles with `kw`): the difference of `hi` and `lo` iterations, over their
    difference. `profile`, if given, is filled by the `hi` run."""
    from einsim.gpu import sass

    lat = arch.sass_load_latency_cycles
    long = sass.slot_cycles(loops[0], t.num_warps, [[hi]] * 2, lat, profile=profile, per_slot=loops, **kw)
    short = sass.slot_cycles(loops[0], t.num_warps, [[lo]] * 2, lat, per_slot=loops, **kw)
    return (long - short) / (hi - lo)


def simulated_regions(plan, shape, t, arch) -> tuple[float, dict[str, Counter]]:
    """The consumer loops as einsim.gpu.sass simulates them (each consumer warpgroup's own copy of the K/V
    loop, `sass.ws_consumer_loops`, run by a resident slot of `num_warps` warps): SM cycles per K/V tile (the
    difference of 24 and 8 iterations) and the simulated warp-state samples by region, over both copies. (0,
    {}) where the kernel cannot be compiled here."""
    loops = _consumer_loops(plan, shape, t)
    if not loops:
        return 0.0, {}
    profile: dict = {}
    per_tile = _per_tile(loops, t, arch, 8, 24, profile=profile)
    by: dict[str, Counter] = {r: Counter() for r in REGIONS}
    for body in loops:  # each copy's regions (its markers restart at its QK wgmma)
        for name, c in regions([(x.addr, x.text, 1.0, profile.get(x.addr, {})) for x in body]).items():
            by[name].update(c)
    return per_tile, by


def _consumer_loops(plan, shape, t) -> tuple:
    """The compiled kernel's two consumer loops (`sass.ws_consumer_loops`); () where it cannot be compiled."""
    from einsim.gpu import sass
    from studies.gpu_cases import compiled_reports

    reports = compiled_reports(plan, shape, t)
    loops = sass.ws_consumer_loops(reports[0].instructions) if reports else ()
    return loops if len(loops) == 2 else ()


#: `--phase`: the shares of issue slots taken at random, and the seeds, of the perturbed simulations
PHASE_STOLEN = (0.03, 0.08)
PHASE_SEEDS = (1, 2, 3)


def phase_spread(plan, shape, t, arch) -> list[float]:
    """SM cycles per K/V tile of the consumer loops simulated with PHASE_STOLEN of each SMSP's issue slots
    taken at random (`sass.slot_cycles`'s `stolen_issue`), one value per share and seed, each the difference
    of 40 and 8 iterations: how far the simulated time moves when the two warpgroups' lock-step is disturbed."""
    loops = _consumer_loops(plan, shape, t)
    return [_per_tile(loops, t, arch, 8, 40, stolen_issue=share, seed=seed) for share in PHASE_STOLEN
            for seed in PHASE_SEEDS] if loops else []  # fmt: skip


#: `--basins`: how many SM cycles after the first the second consumer warpgroup enters its loop
BASIN_DELAYS = tuple(range(0, 2850, 300))


def basin_periods(plan, shape, t, arch) -> list[tuple[int, float]]:
    """(delay, SM cycles per K/V tile) of the consumer loops, simulated with the second warpgroup entering its
    loop `delay` cycles after the first (15-cycle NOPs ahead of its copy), for each of BASIN_DELAYS; each the
    difference of 40 and 16 iterations. The two warpgroups share the tensor pipe, and the simulation keeps the
    relative phase they settle into: this lists its steady states and which start leads to each."""
    loops = _consumer_loops(plan, shape, t)
    return [(delay, _per_tile(_delayed(loops, delay), t, arch, 16, 40)) for delay in BASIN_DELAYS if loops]


def _delayed(loops: tuple, delay: int) -> tuple:
    """The two consumer loops with the second entering `delay` SM cycles after the first (15-cycle NOPs ahead
    of its copy)."""
    from einsim.gpu import sass

    lead = tuple(sass.Instr(-16 * (i + 1), "NOP", "NOP", 15, 7, 7, 0) for i in range(delay // 15))
    return (loops[0], lead + loops[1])


#: `--hold`: the starts (the second warpgroup's delay: a convoy, the conflict-free basin of BASIN_DELAYS), the
#: shares of issue slots taken at random, the seeds, and the iterations whose difference is timed
HOLD_DELAYS = (0, 1050)
HOLD_STOLEN = (0.03, 0.08)
HOLD_SEEDS = (1, 2)
HOLD_ITERATIONS = (16, 100)


def hold_periods(plan, shape, t, arch) -> list[tuple[int, float, list[float]]]:
    """(delay, stolen share, SM cycles per K/V tile for each of HOLD_SEEDS) of the consumer loops started
    HOLD_DELAYS apart with HOLD_STOLEN of the issue slots taken at random, over HOLD_ITERATIONS: whether each
    of the simulation's steady states holds under a perturbation, or decays into another (notes_gpu.md v28).
    A state that holds keeps its unperturbed period within a few percent."""
    loops = _consumer_loops(plan, shape, t)
    lo, hi = HOLD_ITERATIONS
    return [(delay, share, [_per_tile(_delayed(loops, delay), t, arch, lo, hi, stolen_issue=share, seed=seed)
                            for seed in HOLD_SEEDS])
            for delay in HOLD_DELAYS for share in HOLD_STOLEN] if loops else []  # fmt: skip


def release_waits(rows: list[tuple]) -> tuple[float, ...]:
    """The producer's waits for the consumers' releases of a K and of a V buffer, each as a share of the
    kernel's warp-state samples, in the order it checks them: (K, first-checked consumer), (K, second), (V,
    first), (V, second). Each is an mbarrier try-wait (SYNCS.PHASECHK) and its retry branch, run once per K/V
    tile; the consumers' own waits for a loaded tile are told apart by sharing one barrier between their two
    copies of the loop. () where there are not four. A buffer is refilled once both consumers released it, so
    the producer waits on the second-checked consumer only when that one releases last: near none of the
    wait there means one consumer runs behind the other at every tile (a convoy, the first-checked consumer
    last); about half means which one releases last keeps changing (they run apart, about half a period,
    or swap places; notes_gpu.md v27). Not intrusive: no probe in the kernel."""
    loop_exec = _loop_exec(rows)
    total = sum(sum(st.values()) for *_, st in rows)
    waits = []
    for (_, text, ex, st), nxt in zip(rows, rows[1:]):
        if "SYNCS.PHASECHK" in text and ex == loop_exec and "BRA" in nxt[1] and "[" in text:
            waits.append((text.split("[")[1].split("]")[0], (sum(st.values()) + sum(nxt[3].values())) / total))
    shared = Counter(bar for bar, _ in waits)
    own = tuple(share for bar, share in waits if shared[bar] == 1)
    return own if len(own) == 4 and total else ()


def mio_throttle_share(rows: list[tuple]) -> float:
    """The share of the consumer loops' warp-state samples (instructions run once per K/V tile, as in
    `regions`) stalled on a full MIO queue (Nsight Compute's "mio"): the queue that the special-function
    (MUFU) and wgmma instructions enter. It fills where both consumer warpgroups run their softmax at once, so
    it is a second reading of the phase beside `release_waits`: near none where the two run apart (notes v28).
    0 without samples."""
    loop_exec = _loop_exec(rows)
    loop = [st for _, _, ex, st in rows if ex == loop_exec and loop_exec]
    total = sum(sum(st.values()) for st in loop)
    return sum(st.get("mio", 0.0) for st in loop) / total if total else 0.0


def implied_clock(by: dict[str, Counter], seconds_per_tile: float) -> tuple[float, float]:
    """(SM cycles per K/V tile, MHz) that the consumer loops' warp-state samples imply: a warp is "selected"
    for one sample-cycle per instruction it issues, so its cycles per tile are its instructions per tile (the
    loop's instructions over its two consumer copies) over its share of selected samples; over the measured
    seconds per tile (each SM's share of the tiles) that is the clock the loop ran at. Assumes every
    instruction of the loop issues once per tile (no branch inside it taken)."""
    total = sum(map(_samples, by.values()))
    selected = sum(c.get("selected", 0) for c in by.values())
    per_warp = sum(c["instructions"] for c in by.values()) / 2
    if not total or not selected:
        return 0.0, 0.0
    cycles = per_warp / (selected / total)
    return cycles, cycles / seconds_per_tile / 1e6


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", action="store_true", help="launch each kernel once (on the GPU, under ncu)")
    ap.add_argument("--time", action="store_true", help="time the kernels in turn (on the GPU); prints JSON")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--shape", type=int, nargs=4, default=SHAPE, metavar=("B", "H", "N", "D"),
                    help="with --run / --time: the shape (default %(default)s)")  # fmt: skip
    ap.add_argument("--kernels", choices=sorted(KERNEL_SETS), default="fa",
                    help="with --run / --time: the FA2/FA1 pair (fa) or the causal 1-pass (causal)")  # fmt: skip
    ap.add_argument("--persistent", type=int, choices=(0, 1), default=None,
                    help="with --run / --time: launch persistent (1) or a program per query tile (0); default as "
                    "einsim chooses")  # fmt: skip
    ap.add_argument("--compare", type=Path, metavar="DIR", help="the regions table from the GPU call's files")
    ap.add_argument("--sim", action="store_true", help="with --compare: the SASS simulation's regions beside them")
    ap.add_argument("--phase", action="store_true",
                    help="with --compare: the simulation's spread, issue slots taken at random (slow)")  # fmt: skip
    ap.add_argument("--basins", action="store_true",
                    help="with --compare: the simulation's steady states by the warpgroups' offset (slow)")  # fmt: skip
    ap.add_argument("--hold", action="store_true",
                    help="with --compare: whether the simulation's convoy and conflict-free states hold under "
                    "issue slots taken at random (slow: minutes per kernel)")  # fmt: skip
    args = ap.parse_args(argv)
    if args.run or args.time:
        import torch

        if not torch.cuda.is_available():
            ap.error("--run and --time launch the kernels on a CUDA GPU; on the CPU, give --compare DIR")
    if args.run:
        run(tuple(args.shape), args.kernels, args.persistent)
    if args.time:
        time_kernels(tuple(args.shape), args.rounds, args.kernels, args.persistent)
    if args.compare:
        compare(args.compare, args.sim, args.phase, args.basins, args.hold)
    if not (args.run or args.time or args.compare):
        ap.error("give --run or --time (on the GPU) or --compare DIR (on the CPU)")


if __name__ == "__main__":
    main()
