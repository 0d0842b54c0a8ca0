"""Regression table of einsim's models: `python -m einsim.model.regress [--update]`.

Computes a fixed set of points and compares them with tests/regression_model.json (or rewrites it with
--update; review the diff).
- The spatial-array model: keys "config|model|seq"; values are the headline numbers plus the per-Einsum
  busy cycles and the energy breakdown.
- The GPU model (einsim.gpu.model, without compiled reports, so no triton is needed): keys
  "gpu|cascade file|B,H,N_Q,N_KV,D|arch" for every library cascade that lowers at a prefill and a
  decode shape; values are the launch tiling and, per kernel, its time, DRAM bytes and bound.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from einsim.model import CONFIGS, simulate

ROOT = Path(__file__).resolve().parents[2]
PATH = ROOT / "tests" / "regression_model.json"
POINTS = [(m, s) for m in ("bert", "xlm") for s in (1024, 65536)] + [("t5", 1048576)]
#: the GPU model's points: (B, H, N_Q, N_KV, D) at prefill and decode, on both cards
GPU_SHAPES = [(4, 16, 4096, 4096, 128), (4, 32, 4096, 4096, 64), (1, 8, 1, 65536, 128)]


def gpu_points(cascades: Path = ROOT / "workloads" / "cascades") -> dict[str, dict]:
    """The GPU model's predictions for every cascade file under `cascades` that lowers."""
    import dataclasses

    from einsim.errors import EinsimError
    from einsim.gpu.arch import ARCHS
    from einsim.gpu.lower import lower
    from einsim.gpu.model import predict
    from einsim.gpu.plan import Shape, choose_tiling
    from einsim.parse import parse_file

    out = {}
    for f in sorted(cascades.glob("*.ein")):
        try:
            plan = lower(parse_file(f))
        except EinsimError:
            continue
        for B, H, nq, nk, d in GPU_SHAPES:
            shape = Shape(B, H, nq, nk, d, 8 if plan.grouped else None, "bf16", (("W", 1024),) if plan.window else ())
            t = choose_tiling(plan, shape)
            for name, arch in sorted(ARCHS.items()):
                pr = predict(plan, shape, t, arch)
                out[f"gpu|{f.name}|{B},{H},{nq},{nk},{d}|{name}"] = {
                    "tiling": dataclasses.asdict(t),
                    "kernels": {
                        f"{k.index} {k.label}": {"seconds": k.seconds, "dram_read_bytes": k.dram_read_bytes,
                                  "dram_write_bytes": k.dram_write_bytes, "bound": k.bound}
                        for k in pr.kernels
                    },
                }  # fmt: skip
    return out


def compute() -> dict[str, dict]:
    out = gpu_points()
    for m, s in POINTS:
        for c in CONFIGS:
            r = simulate(c, m, s)
            out[f"{c}|{m}|{s}"] = {
                "cycles": r.cycles,
                "util_2d": r.util_2d,
                "util_1d": r.util_1d,
                "dram_bytes": r.dram_bytes,
                "energy_pj": r.energy_pj,
                "energy_pj_artifact": r.energy_pj_artifact,
                "busy_cycles": {k: v.busy_cycles for k, v in r.per_einsum.items()},
                "energy_by_component_pj": r.energy_by_component_pj,
                "mapping": r.mapping,
            }
    return out


def diff(old: dict, new: dict, rel: float = 1e-9) -> list[str]:
    """Human-readable differences between two tables (empty when they agree)."""
    msgs = []

    def walk(a, b, path):
        if isinstance(a, dict) and isinstance(b, dict):
            for k in sorted(set(a) | set(b)):
                if k not in a or k not in b:
                    msgs.append(f"{path}/{k}: only in {'new' if k in b else 'old'}")
                else:
                    walk(a[k], b[k], f"{path}/{k}")
        elif isinstance(a, float) or isinstance(b, float):
            if not math.isclose(a, b, rel_tol=rel, abs_tol=1e-12):
                msgs.append(f"{path}: {a} -> {b}")
        elif a != b:
            msgs.append(f"{path}: {a} -> {b}")

    walk(old, new, "")
    return msgs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--update", action="store_true", help="rewrite tests/regression_model.json")
    args = ap.parse_args(argv)
    new = compute()
    if args.update:
        PATH.write_text(json.dumps(new, indent=1, sort_keys=True) + "\n")
        print(f"wrote {len(new)} points to {PATH}")
        return 0
    msgs = diff(json.loads(PATH.read_text()), new)
    print("\n".join(msgs) if msgs else f"{len(new)} points agree with {PATH}")
    return 1 if msgs else 0


if __name__ == "__main__":
    sys.exit(main())
