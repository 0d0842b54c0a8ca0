"""The SM clock each kind of kernel runs at on the card as found: sampled by nvidia-smi while the kernel runs
back to back.

Why (notes_gpu.md v23): Nsight Compute's warp-state samples of the warp-specialized 1-pass kernels
(`studies/gpu_ws_profile.py`) put a consumer warp in the "selected" state (issuing) on 15-20 % of its
samples. One selected sample per issued instruction makes that 2770-2850 SM cycles per K/V tile, where the
measured time at the 1.98 GHz the model assumes gives 3800-4090: an implied clock of 1.35-1.5 GHz. The SASS
simulation of the two consumer warpgroups gives 2750-2840 cycles per tile, so it is not 30-40 % short, as it
looked at 1.98 GHz (v22). This probe reads the clock directly: for each case, nvidia-smi polls the SM clock
and the board power every 20 ms while the kernel runs back to back for `--seconds`; the median over the
middle of the run is the clock the kernel ran at. The card's clocks are left as they are (METHOD.md).

Cases: the warp-specialized FA2 1-pass and FA1 at D=128 (two shapes, per-tile and persistent launches), the
causal 1-pass at D=128 (per-tile and persistent paired launches), the D=64 1-pass and 3-pass (no warp
specialization), a decode over a 64K cache (8 SMs busy), and torch's 8192^3 bf16 matrix product.

On the GPU: `python studies/gpu_clock_probe.py --out DIR` writes DIR/gpu_clock_probe.json (per case: the
median and quartiles of the sampled SM clock, the median power, the kernel's median time by do_bench and
the cases' order). On the CPU: `python studies/gpu_clock_probe.py --show FILE` prints the table.
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LIB = ROOT / "workloads" / "cascades"
#: (label, cascade or "matmul", (B, H, N_Q, N_KV, D[, G])); einsim's default launch for each. `--cases more`
#: runs MORE_CASES: the other kernel families (linear attention, 2-/3-pass at D=128, GQA, sliding window, causal
#: D=64, split-K decode)
CASES = [
    ("fa2-1pass ws 1x16x16384 D128", "cascade5_fa2.ein", (1, 16, 16384, 16384, 128)),
    ("fa1 ws 1x16x16384 D128", "flash_attention1.ein", (1, 16, 16384, 16384, 128)),
    ("fa2-1pass ws persistent 5x20x3072 D128", "cascade5_fa2.ein", (5, 20, 3072, 3072, 128)),
    ("fa1 ws persistent 5x20x3072 D128", "flash_attention1.ein", (5, 20, 3072, 3072, 128)),
    ("causal ws 1x16x16384 D128", "causal_fa2.ein", (1, 16, 16384, 16384, 128)),
    ("causal ws persistent 4x16x4096 D128", "causal_fa2.ein", (4, 16, 4096, 4096, 128)),
    ("fa2-1pass 4x32x4096 D64", "cascade5_fa2.ein", (4, 32, 4096, 4096, 64)),
    ("3-pass 4x32x4096 D64", "cascade4_3pass.ein", (4, 32, 4096, 4096, 64)),
    ("decode 1x8x1x65536 D128", "decode_fa2.ein", (1, 8, 1, 65536, 128)),
    ("torch matmul 8192^3 bf16", "matmul", (8192, 8192, 8192)),
]
MORE_CASES = [
    ("linear 4x32x4096 D64", "linear_attention.ein", (4, 32, 4096, 4096, 64)),
    ("linear causal 4x32x4096 D64", "linear_attention_causal.ein", (4, 32, 4096, 4096, 64)),
    ("linear causal 4x16x4096 D128", "linear_attention_causal.ein", (4, 16, 4096, 4096, 128)),
    ("2-pass 4x32x4096 D64", "twopass_deferred.ein", (4, 32, 4096, 4096, 64)),
    ("3-pass 4x16x4096 D128", "cascade4_3pass.ein", (4, 16, 4096, 4096, 128)),
    ("gqa ws 1x32/8x16384 D128", "gqa_fa2.ein", (1, 32, 16384, 16384, 128, 8)),
    ("window ws 1x16x16384 D128", "sliding_window.ein", (1, 16, 16384, 16384, 128)),
    ("causal 4x32x4096 D64", "causal_fa2.ein", (4, 32, 4096, 4096, 64)),
    ("split-k decode 1x64x1x8192 D128", "splitk_flash_decoding.ein", (1, 64, 1, 8192, 128)),
    ("fa2-1pass ws 1x16x16384 D128 (again)", "cascade5_fa2.ein", (1, 16, 16384, 16384, 128)),
]
#: sizes a cascade needs beyond its tensors' ranks
SIZES = {"sliding_window.ein": {"W": 1024}}
SAMPLE_MS = 20


def _case_fn(cascade: str, dims: tuple):
    import torch

    g = torch.Generator(device="cuda").manual_seed(0)
    if cascade == "matmul":
        m, n, k = dims
        a = torch.randn(m, k, device="cuda", dtype=torch.bfloat16, generator=g)
        b = torch.randn(k, n, device="cuda", dtype=torch.bfloat16, generator=g)
        return lambda: a @ b
    import einsim
    from einsim.gpu.lower import lower
    from einsim.gpu.runtime import prepare

    B, H, NQ, NK, D, *G = dims
    q = torch.randn(B, H, NQ, D, device="cuda", dtype=torch.bfloat16, generator=g)
    k, v = (torch.randn(B, G[0] if G else H, NK, D, device="cuda", dtype=torch.bfloat16, generator=g) for _ in range(2))
    fn, _ = prepare(lower(einsim.parse_file(str(LIB / cascade))), q, k, v, sizes=SIZES.get(cascade))
    return fn


class SmiSampler:
    """nvidia-smi polling the SM clock and board power every SAMPLE_MS, with timestamps, from construction to
    `stop`; no samples where there is no nvidia-smi."""

    def __init__(self):
        cmd = ["nvidia-smi", "--query-gpu=timestamp,clocks.sm,power.draw", "--format=csv,noheader,nounits",
               "-lms", str(SAMPLE_MS)]  # fmt: skip
        try:
            self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        except OSError:
            self.proc = None

    def stop(self) -> list[tuple[float, float, float]]:
        """(unix time, SM clock MHz, board power W) of every sample."""
        if self.proc is None:
            return []
        self.proc.terminate()
        rows = []
        for line in self.proc.communicate(timeout=10)[0].splitlines():
            try:
                stamp, mhz, watts = (x.strip() for x in line.split(","))
                t = datetime.datetime.strptime(stamp, "%Y/%m/%d %H:%M:%S.%f").timestamp()
                rows.append((t, float(mhz), float(watts)))
            except ValueError:
                continue
        return rows


def _sampled(fn, seconds: float) -> list[tuple[float, float]]:
    """(SM clock MHz, board power W) every SAMPLE_MS while `fn` runs back to back for `seconds`."""
    from studies.gpu_cases import run_back_to_back

    sampler = SmiSampler()
    try:
        run_back_to_back(fn, seconds)
    finally:
        rows = sampler.stop()
    return [(mhz, watts) for _, mhz, watts in rows]


def probe(seconds: float, cases: list) -> dict:
    import torch
    import triton

    if not torch.cuda.is_available():
        raise SystemExit("gpu_clock_probe.py --out needs a CUDA GPU (it runs the kernels and polls nvidia-smi); "
                         "on the CPU, give --show FILE with the JSON a GPU call wrote.")  # fmt: skip
    out = {"card": torch.cuda.get_device_name(), "seconds": seconds, "sample_ms": SAMPLE_MS, "cases": []}
    for label, cascade, dims in cases:
        try:
            fn = _case_fn(cascade, dims)
            fn()
            torch.cuda.synchronize()
        except Exception as e:  # a case that cannot run is recorded, the others still run
            out["cases"].append({"label": label, "cascade": cascade, "dims": dims, "error": f"{type(e).__name__}: {e}"})
            print(json.dumps(out["cases"][-1]), flush=True)
            continue
        ms = float(triton.testing.do_bench(fn, warmup=25, rep=200, return_mode="median"))
        rows = _sampled(fn, seconds)
        mid = rows[len(rows) // 5 : len(rows) - len(rows) // 10] or rows
        clocks = sorted(r[0] for r in mid)
        rec = {"label": label, "cascade": cascade, "dims": dims, "ms": ms, "samples": len(mid)}
        if clocks:
            q = statistics.quantiles(clocks, n=4) if len(clocks) > 1 else [clocks[0]] * 3
            rec.update(
                clock_mhz=statistics.median(clocks),
                clock_q1_mhz=q[0],
                clock_q3_mhz=q[2],
                power_w=statistics.median(r[1] for r in mid),
            )
        out["cases"].append(rec)
        print(json.dumps(rec), flush=True)
        time.sleep(1.0)  # let the clock recover between cases
    return out


def show(path: Path) -> None:
    try:
        data = json.loads(path.read_text())
        cases = data["cases"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise SystemExit(f"{path}: not a gpu_clock_probe.json ({e}); give the file `--out` wrote on the GPU.") from None
    print(f"# {data.get('card')}: SM clock sampled every {data.get('sample_ms')} ms, {data.get('seconds')} s per case")
    print(f"{'case':<42} {'ms':>8} {'SM MHz':>7} {'q1-q3':>11} {'W':>5}")
    for c in cases:
        if "error" in c:
            print(f"{c['label']:<42} failed: {c['error'][:70]}")
            continue
        if "clock_mhz" not in c:
            print(f"{c['label']:<42} {c['ms']:8.3f}   (no clock samples)")
            continue
        quartiles = f"{c['clock_q1_mhz']:5.0f}-{c['clock_q3_mhz']:<5.0f}"
        print(f"{c['label']:<42} {c['ms']:8.3f} {c['clock_mhz']:7.0f} {quartiles} {c['power_w']:5.0f}")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, help="on the GPU: write gpu_clock_probe.json here")
    ap.add_argument("--seconds", type=float, default=2.5)
    ap.add_argument("--cases", choices=("main", "more"), default="main", help="with --out: CASES or MORE_CASES")
    ap.add_argument("--show", type=Path, metavar="FILE", help="print the table of a probe's JSON")
    args = ap.parse_args(argv)

    def run(path: Path) -> None:
        path.write_text(json.dumps(probe(args.seconds, CASES if args.cases == "main" else MORE_CASES), indent=1))

    out_or_show(ap, args, "gpu_clock_probe.json", run, show)


def out_or_show(ap: argparse.ArgumentParser, args, name: str, run, show) -> None:
    """A GPU probe's command line: `--out DIR` runs `run(DIR / name)` on the GPU (it writes that JSON) and
    prints it by `show`; `--show FILE` prints FILE on the CPU."""
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        run(args.out / name)
        show(args.out / name)
    elif args.show:
        show(args.show)
    else:
        ap.error("give --out DIR (on the GPU) or --show FILE (on the CPU)")


if __name__ == "__main__":
    main()
