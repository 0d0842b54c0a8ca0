"""Do wgmma's shared-memory operand reads show in Nsight Compute's shared-memory bank counters?

The SASS simulation (einsim.gpu.sass) charges each wgmma's shared-memory operands (B, and A where it is a
descriptor) to the SM's shared-memory data path. This probe measures, per kernel, the shared-memory bank
reads and writes from all requesters (`l1tex__data_bank_reads/writes`) beside the LSU's shared-memory
wavefronts (`l1tex__data_pipe_lsu_wavefronts_mem_shared_op_ld/st`), and prints them against the bytes the
SASS counts: the wgmma operand bytes (einsim.gpu.sass.wgmma_smem_bytes over the executed HGMMAs) and the
LSU's. If the bank reads exceed the LSU's reads by about the wgmma operand bytes, the tensor cores read
their operands through the same banks.

On the lent GPU (a child process per kernel runs under ncu):
    python3 studies/gpu_smem_probe.py --out $OUT
On the CPU, from a probe folder (the SASS side needs ptxas from the triton wheel):
    python studies/gpu_smem_probe.py --analyze studies/results/gpu_smem_probe_<card>
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

#: counters of every requester of the shared-memory banks, and of the LSU alone; the time and cycles
METRICS = [
    "l1tex__data_bank_reads.sum",
    "l1tex__data_bank_writes.sum",
    "l1tex__data_pipe_lsu_wavefronts_mem_shared_op_ld.sum",
    "l1tex__data_pipe_lsu_wavefronts_mem_shared_op_st.sum",
    "l1tex__data_bank_reads.avg.pct_of_peak_sustained_elapsed",
    "sm__cycles_elapsed.avg",
    "gpu__time_duration.sum",
]
#: (variant, cascade, B, H, N, D, tiling): the D=64 1-pass and 2-pass kernels as the benchmark launches them,
#: one with BLOCK_N 128, and a linear-attention launch (wgmma with A in registers)
KERNELS = [
    ("1-pass", "cascade5_fa2.ein", 4, 32, 4096, 64, (128, 64, 8, 3)),
    ("1-pass-bn128", "cascade5_fa2.ein", 4, 32, 4096, 64, (128, 128, 8, 2)),
    ("2-pass", "twopass_deferred.ein", 4, 32, 4096, 64, (128, 64, 8, 3)),
    ("1-pass-d128", "cascade5_fa2.ein", 4, 16, 4096, 128, (128, 64, 8, 3)),
]


def _case(k):
    from studies.gpu_cases import Case

    v, f, B, H, N, D, t = k
    return Case(v, B, H, H, N, N, D, False, cascade=f, group="smem-probe", tiling=t)


def child(index: int) -> None:
    """Runs under ncu: one launch of KERNELS[index] (warmed up outside the profiled range)."""
    import torch

    from studies.gpu_cases import library_plans, make_fn, make_inputs

    plans = library_plans(False)
    case = _case(KERNELS[index])
    q, k, v = make_inputs(case, 7, "cuda")
    run, _ = make_fn(case, plans, q, k, v)
    run()
    torch.cuda.synchronize()
    torch.cuda.cudart().cudaProfilerStart()
    run()
    torch.cuda.synchronize()
    torch.cuda.cudart().cudaProfilerStop()


def measure(out: Path) -> None:
    from studies.gpu_cases import environment
    from studies.gpu_ncu import ncu_binary

    out.mkdir(parents=True, exist_ok=True)
    env = environment("cuda")
    ncu = ncu_binary()
    results = {"card": env["card"], "kernels": {}}

    def profile(i: int, metrics: list[str]) -> tuple[list[dict], str]:
        cmd = [ncu, "--profile-from-start", "off", "--clock-control", "none", "--metrics", ",".join(metrics),
               "--csv", sys.executable, __file__, "--child", str(i)]  # fmt: skip
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
        text = p.stdout[p.stdout.find('"ID"') :] if '"ID"' in p.stdout else ""
        got = [r for r in csv.DictReader(io.StringIO(text)) if r.get("Metric Name") in metrics]
        rows = [{"kernel": r["Kernel Name"][:60], "metric": r["Metric Name"], "value": r["Metric Value"]} for r in got]
        return rows, (p.stderr or p.stdout)[-300:]

    for i, k in enumerate(KERNELS):
        rows, err = profile(i, METRICS)
        if not rows:  # a name this ncu does not know fails the pass: one metric per pass, losing only its column
            print(f"# {k[0]}: all metrics at once failed ({err!r}); one at a time", flush=True)
            for m in METRICS:
                got, err = profile(i, [m])
                rows += got or [{"kernel": "", "metric": m, "value": None, "error": err}]
        results["kernels"][k[0]] = rows
        print(f"# {k[0]}: " + "; ".join(f"{r['metric']}={r['value']}" for r in rows), flush=True)
    (out / "smem_probe.json").write_text(json.dumps(results, indent=1))


def analyze(folder: Path) -> list[str]:
    """The measured counters beside the SASS's wgmma operand bytes and LSU shared-memory bytes per launch."""
    import math

    from einsim.gpu.inspect import compile_report
    from einsim.gpu.plan import Shape, Tiling
    from einsim.gpu.sass import mma_loop, wgmma_smem_bytes
    from studies.gpu_cases import library_plans

    data = json.loads((folder / "smem_probe.json").read_text())
    plans = library_plans(False)
    lines = [f"# {data['card']}: per launch (bank reads/writes and LSU wavefronts as ncu counts them)"]
    for k in KERNELS:
        v, f, B, H, N, D, t = k
        plan = next(p for fn, p in plans.values() if fn == f)
        tiling = Tiling(*t)
        reps = compile_report(plan, Shape(B, H, N, N, D), tiling)
        tiles = B * H * math.ceil(N / tiling.block_m) * math.ceil(N / tiling.block_n)
        per_tile = sum(sum(wgmma_smem_bytes(x) for x in mma_loop(r.instructions) if x.base == "HGMMA") for r in reps)
        warpgroups = tiling.num_warps // 4
        wgmma = per_tile * tiles * warpgroups  # a warpgroup's HGMMAs per K/V tile, for each warpgroup
        vals = {}  # summed over the launch's kernels (the percentage: their mean)
        for m in METRICS:
            got = [float(str(r["value"]).replace(",", "")) for r in data["kernels"].get(v, [])
                   if r["metric"] == m and r["value"] not in (None, "")]  # fmt: skip
            vals[m] = (sum(got) / len(got) if "pct" in m else sum(got)) if got else None
        reads = vals["l1tex__data_bank_reads.sum"]
        lsu = vals["l1tex__data_pipe_lsu_wavefronts_mem_shared_op_ld.sum"]
        if reads is None or lsu is None:
            lines.append(f"{v:<14} wgmma operand bytes (SASS) {wgmma / 1e9:6.2f} GB; not measured")
            continue
        banks, lsu_b = reads * 4, lsu * 128  # a bank read is 4 bytes; an LSU wavefront up to 128
        lines.append(
            f"{v:<14} bank reads x 4 B {banks / 1e9:6.2f} GB;  wgmma operands (SASS) {wgmma / 1e9:6.2f} GB + LSU "
            f"wavefronts x 128 B {lsu_b / 1e9:5.2f} GB = {(wgmma + lsu_b) / 1e9:6.2f} GB (measured / counted "
            f"{banks / (wgmma + lsu_b):.3f}); bank reads at {vals[METRICS[4]]:.1f} % of peak; "
            f"{vals['gpu__time_duration.sum'] / 1e6:.3f} ms"
        )
    return lines


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.environ.get("OUT", "/tmp/einsim_smem_probe"))
    ap.add_argument("--child", type=int, default=None)
    ap.add_argument("--analyze", default=None)
    args = ap.parse_args(argv)
    if args.child is not None:
        child(args.child)
    elif args.analyze:
        if not (Path(args.analyze) / "smem_probe.json").is_file():
            ap.error(f"--analyze {args.analyze}: no smem_probe.json there; give the folder a GPU run wrote (--out)")
        print("\n".join(analyze(Path(args.analyze))))
    else:
        measure(Path(args.out))


if __name__ == "__main__":
    main()
