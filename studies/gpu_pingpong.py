"""FlashAttention-3's ping-pong schedule in einsim's warp-specialized kernels: does it hold the two consumer
warpgroups apart, and what does it do to FA1 and the FA2 1-pass?

Why (notes_gpu.md v22-v27): at D=128 the two consumer warpgroups of the warp-specialized kernels share the
tensor cores. Nsight Compute's samples of the producer's waits (v27) say that the FA2 1-pass runs them in a
convoy, one close behind the other, its score products queueing behind the other warpgroup's PV products,
while FA1's persistent compile runs them apart; that is where FA1 gains its 3-6 % lead that the model does
not have. `Tiling.pingpong` (the kernels' PINGPONG) makes the schedule explicit, as FlashAttention-3 does:
two named barriers give the warpgroups turns on the tensor cores (a turn: one warpgroup's PV product of a tile
and its score product of the next), so one's softmax runs under the other's products.

Written here before the call (committed with its result): with the schedule, both kernels run the warpgroups
apart, so the FA2 1-pass gains more than FA1 (it has the longer convoy wait to lose) and leads FA1 at every
shape, as the model orders them (FA1 / FA2 = 1.037); outputs equal the plain kernels' bit for bit (the same
arithmetic in the same order, times 1.0).
Outcome (H100, notes v27; results/gpu_pingpong_h100/): outputs equal bit for bit, the FA2 1-pass ahead of FA1
by 10-24 %, but both slower than without the schedule (13-26 % and 38-47 %): a turn can end only once its
score product is done, so the turns serialize the products.

On the GPU: `python studies/gpu_pingpong.py --smoke` (each schedule once at a small shape: a deadlock shows
here, under a timeout) then `python studies/gpu_pingpong.py --out DIR` (DIR/gpu_pingpong.json: per shape,
each kernel plain and with the schedule, its output against the plain kernel's and its times, in turn,
order reversed every other round, in 100-ms bursts and sustained). On the CPU: `--show FILE`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from studies.gpu_clock_probe import out_or_show  # noqa: E402
from studies.gpu_sustained_order import PROTOCOLS, SHAPES, timed_rounds  # noqa: E402
from studies.gpu_ws_profile import KERNELS, _launch, launch_tiling  # noqa: E402

#: the variants timed at every shape: (label, cascade, pingpong)
VARIANTS = [(label + ("-pp" if pp else ""), cascade, pp) for pp in (False, True) for label, cascade in KERNELS]
SMOKE_SHAPES = [(1, 2, 1024, 128, 1), (1, 2, 1024, 128, 0)]


def _tiling(cascade: str, sh: tuple, pingpong: bool):
    return dataclasses.replace(launch_tiling(cascade, sh[:4], sh[4] if len(sh) > 4 else None), pingpong=pingpong)


def _chosen(only: str | None) -> list:
    if not only:
        return VARIANTS
    names = only.split(",")
    bad = [n for n in names if n not in {v[0] for v in VARIANTS}]
    if bad:
        raise SystemExit(f"--only {only}: unknown {', '.join(bad)}; choose from {', '.join(v[0] for v in VARIANTS)}.")
    return [v for v in VARIANTS if v[0] in names]


def smoke(only: str | None = None) -> None:
    """Each kernel (of `only`, comma-separated labels) with its schedule once, persistent and a program per tile,
    at a small shape."""
    import torch

    if not torch.cuda.is_available():
        raise SystemExit("gpu_pingpong.py --smoke needs a CUDA GPU; on the CPU, give --show FILE.")
    for sh in SMOKE_SHAPES:
        for label, cascade, pp in _chosen(only):
            out = _launch(cascade, sh[:4], _tiling(cascade, sh, pp))()
            torch.cuda.synchronize()
            print(f"smoke {label} {sh}: finite={bool(torch.isfinite(out).all())}", flush=True)


def probe(rounds: int, sustain_s: float, path: Path, only: str | None = None) -> dict:
    import torch

    if not torch.cuda.is_available():
        raise SystemExit("gpu_pingpong.py --out needs a CUDA GPU; on the CPU, give --show FILE.")
    out = {"card": torch.cuda.get_device_name(), "rounds": rounds, "sustain_s": sustain_s, "shapes": []}
    for sh in SHAPES:
        chosen = _chosen(only)
        fns = {label: _launch(cascade, sh[:4], _tiling(cascade, sh, pp)) for label, cascade, pp in chosen}
        outs = {label: fn().clone() for label, fn in fns.items()}
        torch.cuda.synchronize()
        rec = {"shape": sh, "check": {}, "timings": []}
        for label, _, pp in chosen:
            if pp and label[:-3] in outs:
                ref, got = outs[label[:-3]].float(), outs[label].float()
                rec["check"][label] = {
                    "equal": bool(torch.equal(outs[label], outs[label[:-3]])),
                    "max_abs_diff": float((got - ref).abs().max()),
                    "rel_frobenius": float((got - ref).norm() / ref.norm()),
                }
        rec["timings"] = timed_rounds(fns, rounds, sustain_s)
        out["shapes"].append(rec)
        path.write_text(json.dumps(out, indent=1))
        print(json.dumps({"shape": sh, "check": rec["check"]}), flush=True)
        fns.clear()
        outs.clear()
        torch.cuda.empty_cache()
        time.sleep(1.0)
    return out


def show(path: Path) -> None:
    try:
        lines = _table(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError, IndexError) as e:
        raise SystemExit(f"{path}: not a gpu_pingpong.json ({e!r}); give the file `--out` wrote on the GPU.") from None
    print("\n".join(lines))


def _table(data: dict) -> list[str]:
    """The table's lines (raises KeyError, TypeError or IndexError on a malformed file)."""
    out = []
    shapes, card = data["shapes"], data["card"]
    labels = [v[0] for v in VARIANTS]
    out.append(f"# {card}: {data['rounds']} rounds in turn per protocol (sustained: {data['sustain_s']} s back to back "
          "first); median ms; -pp: the ping-pong schedule")  # fmt: skip
    out.append(f"{'shape':<16} {'protocol':<9} " + " ".join(f"{k:>12}" for k in labels)
          + f" {'FA1/FA2':>8} {'pp FA1/FA2':>10} {'FA2 pp/plain':>12} {'FA1 pp/plain':>12}")  # fmt: skip
    for rec in shapes:
        sh = rec["shape"]
        name = "x".join(map(str, sh[:4]))
        for protocol in PROTOCOLS:
            med = {}
            for k in labels:
                v = [t["ms"] for t in rec["timings"] if t["protocol"] == protocol and t["kernel"] == k]
                med[k] = statistics.median(v) if v else float("nan")
            a, b, c, d = (med[k] for k in labels)
            out.append(f"{name:<16} {protocol:<9} " + " ".join(f"{med[k]:12.3f}" for k in labels)
                  + f" {b / a:8.3f} {d / c:10.3f} {c / a:12.3f} {d / b:12.3f}")  # fmt: skip
        checks = ", ".join(f"{k}: {'equal' if v['equal'] else 'rel ' + format(v['rel_frobenius'], '.1e')}"
                           for k, v in rec.get("check", {}).items())  # fmt: skip
        out.append(f"{'':<16} outputs against the plain kernels': {checks}")
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, help="on the GPU: write gpu_pingpong.json here")
    ap.add_argument("--smoke", action="store_true", help="on the GPU: run each schedule once at a small shape")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--sustain-s", type=float, default=1.0)
    ap.add_argument("--show", type=Path, metavar="FILE", help="print the table of a probe's JSON (on the CPU)")
    ap.add_argument("--only", help="comma-separated variants (fa2-1pass, fa1, fa2-1pass-pp, fa1-pp) to run")
    args = ap.parse_args(argv)
    _chosen(args.only)  # a variant it does not have: one line, before any GPU work
    if args.smoke:
        smoke(args.only)
        return
    out_or_show(ap, args, "gpu_pingpong.json", lambda path: probe(args.rounds, args.sustain_s, path, args.only), show)


if __name__ == "__main__":
    main()
