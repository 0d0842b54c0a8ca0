"""Does the SASS compiled on the CPU (einsim.gpu.inspect.compile_report) match the SASS that runs on the GPU?

The SASS simulation (einsim.gpu.sass) and the issue bound read kernels compiled on the CPU with the launcher's
specialization re-created by hand. Nsight Compute counted 5.8-6.5 % more executed instructions than that
compile for the decode launches with 64- and 32-key tiles (notes_gpu.md, v11), and those launches are the
ones the simulation gets 11-19 % short. This probe settles whether the compiled code differs.

On the GPU (one call): `TRITON_CACHE_DIR=$OUT/tcache python3 studies/gpu_sass_probe.py --run` launches
each probe once (outputs checked finite) and leaves triton's cache — the cubins that ran — in that folder;
pack it with `tar czf $OUT/tcache.tgz -C $OUT tcache`. Under `ncu --section SourceCounters --page source
--print-source sass --csv` the same run gives each SASS instruction's executed count and stall samples.
On the CPU: `python studies/gpu_sass_probe.py --compare DIR` compiles the same launches with
compile_report and, per kernel, finds the GPU's cubin with the nearest SASS, and prints the instruction
counts (main loop, rest) of both and the first differing instructions.
"""

from __future__ import annotations

import argparse
import difflib
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LIB = ROOT / "workloads" / "cascades"
#: (cascade, (B, H, N_Q, N_KV, D), tiling as Tiling's positional fields or None for the default)
PROBES = [
    *(("cascade5_fa2.ein", (1, 8, 1, 65536, 128), (16, bn, 4, st, True)) for bn, st in ((128, 3), (64, 3), (32, 3))),
    ("cascade5_fa2.ein", (4, 16, 4096, 4096, 128), None),
    ("cascade5_fa2.ein", (4, 32, 4096, 4096, 64), None),
    ("linear_attention.ein", (4, 32, 4096, 4096, 64), None),
    ("linear_attention_causal.ein", (4, 32, 4096, 4096, 64), None),
    ("linear_attention_causal.ein", (4, 16, 4096, 4096, 128), None),
]


def probe_tiling(tt):
    from einsim.gpu.plan import Tiling

    if tt is None:
        return None
    block_m, block_n, warps, stages, group_rows = tt
    return Tiling(block_m, block_n, warps, stages, group_rows=group_rows)


def run(only: list[int] | None = None) -> None:
    import torch

    import einsim
    from einsim.gpu.lower import lower
    from einsim.gpu.runtime import prepare

    g = torch.Generator(device="cuda").manual_seed(0)
    for i, (name, (B, H, NQ, NK, D), tt) in enumerate(PROBES):
        if only and i not in only:
            continue
        plan = lower(einsim.parse_file(str(LIB / name)))
        q, k, v = (torch.randn(B, H, n, D, device="cuda", generator=g, dtype=torch.bfloat16) for n in (NQ, NK, NK))
        fn, _ = prepare(plan, q, k, v, probe_tiling(tt))
        out = fn()
        torch.cuda.synchronize()
        print(f"ran {name} {(B, H, NQ, NK, D)} {tt} finite={bool(torch.isfinite(out).all())}", flush=True)


def _gpu_sass(folder: Path) -> dict[str, str]:
    from einsim.gpu.inspect import _tool

    out = {}
    for cubin in sorted(folder.rglob("*.cubin")):
        out[str(cubin.relative_to(folder))] = subprocess.run(
            [_tool("cuobjdump"), "--dump-sass", str(cubin)], capture_output=True, text=True, check=True
        ).stdout
    return out


def _ops(sass: str) -> list[str]:
    from einsim.gpu.sass import parse

    return [x.text for x in parse(sass)]


def compare(folder: Path) -> None:
    import einsim
    from einsim.gpu.inspect import compile_report
    from einsim.gpu.lower import lower
    from einsim.gpu.plan import Shape
    from einsim.gpu.sass import loop_span, parse

    dumped = _gpu_sass(folder)
    if not dumped:
        raise SystemExit(
            f"{folder}: no .cubin files there. Give --compare the folder TRITON_CACHE_DIR pointed at during "
            "`--run` on the GPU (unpack the tcache.tgz that run wrote)."
        )
    gpu = {k: _ops(s) for k, s in dumped.items()}
    gpu_parsed = {k: parse(s) for k, s in dumped.items()}
    print(f"{len(gpu)} cubins from the GPU")
    for name, sh, tt in PROBES:
        plan = lower(einsim.parse_file(str(LIB / name)))
        for rep in compile_report(plan, Shape(*sh), probe_tiling(tt)):
            mine = [x.text for x in rep.instructions]
            best = max(gpu, key=lambda k: difflib.SequenceMatcher(None, mine, gpu[k], autojunk=False).quick_ratio())
            theirs = gpu_parsed[best]
            lo, hi = loop_span(theirs)
            same = mine == gpu[best]
            print(f"{name} {sh} {tt} {rep.label}: CPU loop {rep.loop_instructions} + {rep.other_instructions}; "
                  f"GPU ({best.split('/')[0][:8]}) loop {hi - lo + 1} + {len(theirs) - (hi - lo + 1)}; "
                  f"{'identical' if same else 'DIFFERENT'}")  # fmt: skip
            if not same:
                diff = list(difflib.unified_diff(mine, gpu[best], "cpu", "gpu", n=1, lineterm=""))
                print("\n".join("    " + d for d in diff[:40]))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", action="store_true", help="launch the probes (on the GPU)")
    ap.add_argument("--only", type=int, nargs="*", help="with --run: only these probes (indices into PROBES)")
    ap.add_argument("--compare", type=Path, metavar="DIR", help="compare the GPU's cubins in DIR with the CPU compile")
    args = ap.parse_args(argv)
    if args.run:
        run(args.only)
    if args.compare:
        compare(args.compare)
    if not (args.run or args.compare):
        ap.error("give --run (on the GPU) or --compare DIR (on the CPU)")


if __name__ == "__main__":
    main()
