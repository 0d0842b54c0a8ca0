"""`einsim gpu`: lower cascades to GPU pass kernels and print the GPU model's prediction.

`einsim gpu FILE... [--B 4 --H 16 --G 8 --N 4096 --NQ 1 --D 128 --dtype bf16 --size W=1024 --arch h100|h200]
[--json] [--compile]` prints, per cascade, its kernels (one per pass, with the skeleton's flags) and the
predicted DRAM bytes and time per kernel for the shape; a cascade the lowering cannot handle prints
its error (the construct) and the command exits 2. `--compile` also compiles every kernel for sm_90 on
the CPU and prints registers, shared memory and SASS counts (needs triton; no GPU), and the prediction then
uses them: the SASS simulation of one SM's resident programs (linear attention) or of a program that has
an SM to itself (decode), bank conflicts included, and otherwise the issued instructions of the compiled
K/V loop (prefill). Neither needs torch.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

from einsim.errors import EinsimError
from einsim.parse import parse_file


def register(sub) -> None:
    p = sub.add_parser(
        "gpu",
        help="lower cascades to GPU kernels; predict DRAM bytes and time",
        description="Lower each cascade to Triton pass kernels (flags from its pass analysis) and print the GPU "
        "model's DRAM bytes and time per kernel for one attention shape.",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="cascade files (.ein)")
    p.add_argument("--B", type=int, default=4, help="batch (default 4)")
    p.add_argument("--H", type=int, default=16, help="query heads (default 16)")
    p.add_argument("--G", type=int, default=None, help="K/V heads for grouped cascades (default: H)")
    p.add_argument("--N", type=int, default=4096, help="keys M (default 4096)")
    p.add_argument("--NQ", type=int, default=None, help="queries P (default: N)")
    p.add_argument("--D", type=int, default=128, help="head dim E = F (default 128)")
    p.add_argument("--dtype", default="bf16", choices=("bf16", "fp16", "fp32"))
    p.add_argument(
        "--size", action="append", default=[], metavar="NAME=V", help="another size, e.g. a window W=1024 (repeatable)"
    )
    p.add_argument("--arch", default="h100", choices=("h100", "h200"))
    p.add_argument("--json", action="store_true", help="print a JSON list, one object per cascade")
    p.add_argument("--compile", action="store_true", help="also compile for sm_90 on the CPU (needs triton)")
    p.set_defaults(func=_gpu)


def check_sizes(args) -> None:
    """Refuse a size flag (--B, --H, --G, --N, --NQ, --D) below one, naming it (also used by
    `python -m einsim.gpu.inspect`)."""
    for flag in ("B", "H", "G", "N", "NQ", "D"):
        value = getattr(args, flag, None)
        if value is not None and value < 1:
            raise EinsimError(f"--{flag} {value}: sizes must be positive integers (e.g. --{flag} 1).")


def _gpu(args) -> int:
    from einsim.gpu.arch import ARCHS
    from einsim.gpu.lower import lower
    from einsim.gpu.model import lone_programs, predict
    from einsim.gpu.plan import Shape, choose_tiling
    from einsim.gpu.validated import error_band, kernel_kind

    arch = ARCHS[args.arch]
    check_sizes(args)
    sizes = []
    for x in args.size:
        name, _, val = x.partition("=")
        if not name or not val.strip().isdigit():
            raise EinsimError(f"--size {x!r}: expected NAME=INTEGER, e.g. --size W=1024.")
        sizes.append((name.strip(), int(val)))
    out, failed = [], False
    for f in args.files:
        if not Path(f).exists():
            raise EinsimError(f"{f}: no such cascade file.")
        try:
            plan = lower(parse_file(f))
        except EinsimError as e:
            failed = True
            out.append({"file": f, "error": str(e)})
            continue
        G = args.G if plan.grouped else None
        shape = Shape(args.B, args.H, args.NQ or args.N, args.N, args.D, G, args.dtype, tuple(sizes))
        t = choose_tiling(plan, shape)
        try:
            reports = None
            if args.compile:  # SASS-simulated time (linear, decode), issued instructions (prefill)
                from einsim.gpu.inspect import compile_report

                reports = compile_report(plan, shape, t)
            pr = predict(plan, shape, t, arch, reports)
        except EinsimError as e:
            failed = True
            out.append({"file": f, "error": str(e)})
            continue
        rec = {
            "file": f,
            "cascade": plan.cascade,
            "variant": plan.variant,
            "shape": dataclasses.asdict(shape),
            "tiling": dataclasses.asdict(t),
            "kernels": [
                {**dataclasses.asdict(pk), "label": pk.label, "predicted": dataclasses.asdict(kc), "bound": kc.bound}
                for pk, kc in zip(plan.kernels, pr.kernels)
            ]
            + [  # split-K's combine kernel
                {"index": kc.index, "label": kc.label, "einsums": [], "predicted": dataclasses.asdict(kc)}
                | {"bound": kc.bound}
                for kc in pr.kernels[len(plan.kernels) :]
            ],
            "predicted_ms": pr.ms,
            "predicted_dram_read_bytes": pr.dram_read_bytes,
            "predicted_dram_write_bytes": pr.dram_write_bytes,
            # useful FLOPs: softmax attention 4·B·H·N_Q·N_KV·D over the band; linear attention its two
            # D x D products, 2·B·H·(N_KV + N_Q)·D²
            "tflops": (
                2.0 * shape.B * shape.H * (shape.N_KV + shape.N_Q) * shape.D**2
                if plan.linear
                else shape.flops(band=plan.band_offsets(shape))
            )
            / pr.seconds
            / 1e12,
        }
        rec["lone_programs"] = lone_programs(plan, shape, t, arch)
        rec["kind"] = kernel_kind(plan, shape, t)
        band = error_band(arch.name, rec["kind"])
        rec["validated"] = band.to_dict() if band else None
        if reports is not None:
            rec["compiled"] = [str(r) for r in reports]
        out.append(rec)
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        for rec in out:
            if "error" in rec:
                msg = rec["error"]
                print(msg if msg.startswith(str(rec["file"])) else f"{rec['file']}: {msg}", file=sys.stderr)
                continue
            print(f"{rec['file']}: {rec['variant']} on {arch.name}, {rec['shape']}, tiling {rec['tiling']}")
            for k in rec["kernels"]:
                p = k["predicted"]
                print(
                    f"  pass {k['index']} {k['label']:<22} {p['seconds'] * 1e3:8.3f} ms"
                    f"  read {p['dram_read_bytes'] / 1e6:8.1f} MB  write {p['dram_write_bytes'] / 1e6:7.1f} MB"
                    f"  {k['bound']}  ({', '.join(k['einsums'])})"
                )
            for line in rec.get("compiled", []):
                print(f"    sm_90: {line}")
            print(f"  total {rec['predicted_ms']:.3f} ms = {rec['tflops']:.0f} TFLOP/s")
            band = rec["validated"]
            if band:
                print(
                    f"  measured / predicted time for {band['kind']} on {band['card']}: {band['ratio_p10']:.2f}-"
                    f"{band['ratio_p90']:.2f} (10th-90th percentile, median {band['ratio_median']:.2f}; "
                    f"{band['records']} records, runs {band['first_run']}-{band['last_run']})"
                )
            else:
                print(f"  no measured records of this kind ({rec['kind']}) on {arch.name}")
            if rec["variant"].startswith("linear") and "compiled" not in rec:
                print("  (linear attention's kernels are issue-bound: add --compile to simulate them from their SASS)")
            elif rec["lone_programs"] and "compiled" not in rec:
                print("  (each program has an SM to itself: add --compile to time it from its SASS, not Little's law)")
            print()
        _unresolved_pairs(out)
    return 2 if failed else 0


def _unresolved_pairs(out: list[dict]) -> None:
    """With several cascades: name the pairs whose predicted times differ by less than the measured
    scatter of their kinds (half the wider 10th-90th percentile band), which the model does not rank
    reliably."""
    recs = [r for r in out if "error" not in r and r.get("validated")]
    lines = []
    for i, a in enumerate(recs):
        for b in recs[i + 1 :]:
            spread = max(r["validated"]["ratio_p90"] - r["validated"]["ratio_p10"] for r in (a, b)) / 2
            gap = abs(a["predicted_ms"] - b["predicted_ms"]) / min(a["predicted_ms"], b["predicted_ms"])
            if gap < spread:
                lines.append(f"  {a['file']} and {b['file']}: {gap:.1%} apart, within ±{spread:.0%}")
    if lines:
        print("predicted closer than the measured scatter of their kinds (the model does not rank these reliably):")
        print("\n".join(lines))
