"""The L2's hit fraction against reuse distance, measured: a cyclic scan of W bytes under Nsight Compute.

Why. einsim.gpu.coresident puts a long head's simulated schedule through an exact LRU that holds a
fixed share of the L2 (0.55, measured by replaying recorded schedules). An exact LRU turns a cyclic
stream from all hits to all misses where the stream outgrows that share: on the H200 the K-only passes
of 32 MiB heads sit on that cliff (9.9 / 5.0 / 1.6 K reads per head at 0.5 / 0.55 / 0.6 of the L2 where
7.1 were measured; notes_gpu.md v14). The real L2 is set-associative, hashed and split in two partitions,
so its hits need not fall off at one size. This measures how they do fall off.

What runs (on the lent machine, one call, about 1-2 min): for W = 8 ... 100 MiB (2 MiB steps to 46, then 4) and
READERS = 1 and 8, the scan kernel (studies/_gpu_l2_scan.py) reads a W-byte buffer `reps` = 4 times in
order, 8 KiB per program, each item read by READERS consecutive programs (on different SMs, as every
program of an attention launch reads every K/V tile). Two 32-warp programs fit an SM, so about 2 MiB are
in flight and every re-read has stack distance W. ncu (`--cache-control all`: L2 flushed before each
kernel, so the first scan misses) gives `dram__bytes_read.sum`; the hit fraction of the re-reads is
h(W) = 1 - (read / W - 1) / (reps - 1). Writes `l2_curve.json` under --out.

    PYTHONUNBUFFERED=1 timeout 300 python3 studies/gpu_l2_curve.py --out $OUT [--readers 1,8]   # GPU
    python studies/gpu_l2_curve.py --analyze studies/results/gpu_l2_curve_h200      # CPU: the table
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

MIB = 1024**2
ITEM_BYTES = 8192
REPS = 4
READERS = (1, 8)
SIZES_MIB = tuple(range(8, 48, 2)) + tuple(range(48, 101, 4))
METRICS = ["dram__bytes_read.sum", "lts__t_sectors_srcunit_tex_op_read.sum", "gpu__time_duration.sum"]


def cases(readers=READERS) -> list[tuple[int, int]]:
    """(readers, W bytes) of every scan, in profiling order."""
    return [(r, w * MIB) for r in readers for w in SIZES_MIB]


def hit_fraction(read_bytes: float, w_bytes: float, reps: int = REPS) -> float:
    """The re-reads' L2 hit fraction: the first scan misses (cold L2), the other reps - 1 miss 1 - h."""
    return 1.0 - (read_bytes / w_bytes - 1.0) / (reps - 1)


def _launch(x, out, readers: int, w_bytes: int):
    from studies._gpu_l2_scan import einsim_l2_scan

    n_items = w_bytes // ITEM_BYTES
    grid = (REPS * n_items * readers,)
    einsim_l2_scan[grid](x, out, n_items, ITEM=ITEM_BYTES // 2, READERS=readers, num_warps=32)


def ncu_child(path: str, readers=READERS) -> None:
    """Runs under ncu: per case a marker, then the scan."""
    import torch

    from studies._gpu_marker import einsim_ncu_marker

    marker = torch.zeros(1, device="cuda")
    x = torch.randn(max(SIZES_MIB) * MIB // 2, device="cuda", dtype=torch.float16)
    out = torch.empty(REPS * max(SIZES_MIB) * MIB // ITEM_BYTES * max(readers), device="cuda")
    for r, w in cases(readers):  # compile and warm outside the profiled range
        _launch(x, out, r, w)
    torch.cuda.synchronize()
    torch.cuda.cudart().cudaProfilerStart()
    for r, w in cases(readers):
        einsim_ncu_marker[(1,)](marker)
        _launch(x, out, r, w)
    torch.cuda.synchronize()
    torch.cuda.cudart().cudaProfilerStop()
    open(path, "w").write("done")


def measure(out: str, budget_s: float, readers=READERS) -> None:
    from studies.gpu_cases import environment
    from studies.gpu_ncu import parse_ncu_csv, profile_child

    t0 = time.time()
    os.makedirs(out, exist_ok=True)
    env = environment("cuda")
    print(f"# card: {env['card']}  L2 {env.get('l2_bytes')} B  torch {env['torch']}  triton {env['triton']}")
    child = [
        os.path.abspath(__file__),
        "--ncu-child",
        "/tmp/einsim_l2_curve_done",
        "--readers",
        ",".join(map(str, readers)),
    ]
    text = profile_child(
        METRICS, child, "/tmp/einsim_l2_curve_ncu.csv", budget_s - 20, os.path.join(out, "l2_curve_ncu.csv")
    )
    if text is None:
        return
    keys = [f"r{r}-w{w}" for r, w in cases(readers)]
    got = parse_ncu_csv(text, keys)
    recs = []
    for (r, w), key in zip(cases(readers), keys):
        g = got.get(key)
        if not g or not g["kernels"]:
            continue
        read = g["dram_read_bytes"]
        recs.append(
            {
                "readers": r,
                "w_bytes": w,
                "reps": REPS,
                "dram_read_bytes": read,
                "l2_read_bytes": g["l2_read_bytes"],
                "ncu_ms": g["ncu_ms"],
                "hit_fraction": hit_fraction(read, w),
            }
        )
    json.dump(
        {"env": env, "item_bytes": ITEM_BYTES, "records": recs}, open(os.path.join(out, "l2_curve.json"), "w"), indent=1
    )
    print(f"# {len(recs)}/{len(keys)} scans profiled in {time.time() - t0:.0f} s")
    analyze(out)


def load(folder: str) -> dict:
    return json.load(open(os.path.join(folder, "l2_curve.json")))


def curve(folder: str, readers: int = max(READERS)) -> tuple[tuple[float, float], ...]:
    """(W bytes, hit fraction) of one reader count, W ascending."""
    recs = [r for r in load(folder)["records"] if r["readers"] == readers]
    return tuple(
        (float(r["w_bytes"]), round(float(r["hit_fraction"]), 3)) for r in sorted(recs, key=lambda r: r["w_bytes"])
    )


def knots(folder: str, readers: int) -> tuple[tuple[float, float], ...]:
    """A `GpuArch.l2_hit_curve` from a scan run with `readers` readers per item, taken as the cards' knots
    are: 1 up to the last size whose re-reads hit >= 99 %, then the measured values (ncu's negative
    rounding as 0). Empty where the run has no scans with that many readers."""
    pts = curve(folder, readers)
    if not pts:
        return ()
    last_full = max((i for i, (_, h) in enumerate(pts) if h >= 0.99), default=0)
    return ((pts[last_full][0], 1.0),) + tuple((w, max(h, 0.0)) for w, h in pts[last_full + 1 :])


def analyze(folder: str) -> None:
    info = load(folder)
    l2 = info["env"].get("l2_bytes") or 0
    print(f"# {info['env']['card']} (L2 {l2 / MIB:.0f} MiB): re-read hit fraction of a cyclic scan of W bytes")
    by = {}
    for r in info["records"]:
        by.setdefault(r["w_bytes"], {})[r["readers"]] = r
    rs = sorted({r["readers"] for r in info["records"]})
    print("  W MiB  W/L2  " + "  ".join(f"hit (readers {r})  DRAM/W" for r in rs))
    for w in sorted(by):
        cells = []
        for r in rs:
            x = by[w].get(r)
            cells.append(f"{x['hit_fraction']:>15.3f}  {x['dram_read_bytes'] / w:6.2f}" if x else " " * 23)
        print(f"  {w / MIB:5.0f}  {w / l2 if l2 else 0:4.2f}  " + "  ".join(cells))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.environ.get("OUT", "/tmp/einsim_gpu_out"))
    ap.add_argument("--budget-s", type=float, default=280.0)
    ap.add_argument("--ncu-child", default=None)
    ap.add_argument("--analyze", default=None, help="folder with l2_curve.json (CPU)")
    ap.add_argument("--readers", default="1,8", help="programs reading each item per scan, e.g. 1,8 or 8,64")
    args = ap.parse_args(argv)
    try:
        readers = tuple(int(x) for x in args.readers.split(","))
    except ValueError:
        readers = ()
    if not readers or min(readers) < 1:
        ap.error(f"--readers {args.readers!r}: give positive integers, comma-separated, e.g. 1,8.")
    if args.ncu_child:
        ncu_child(args.ncu_child, readers)
    elif args.analyze:
        if not os.path.exists(os.path.join(args.analyze, "l2_curve.json")):
            ap.error(f"--analyze {args.analyze}: no l2_curve.json there. Give the folder a GPU run wrote (its --out).")
        analyze(args.analyze)
    else:
        measure(args.out, args.budget_s, readers)


if __name__ == "__main__":
    main()
