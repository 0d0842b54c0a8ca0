"""`einsim map`: simulate attention on a spatial accelerator (FuseMax, FLAT and the paper's baselines).

With no arguments it compares FuseMax and FLAT on BERT at 16K. `--config/--model/--seq/--arch` pick one
point; `--json` prints the Report's JSON object; `--e2e` adds the linear layers of one encoder layer.
"""

from __future__ import annotations

import argparse
import json

from einsim.errors import EinsimError
from einsim.model import CONFIGS, parse_seq, simulate, simulate_end_to_end
from einsim.model.configs import DEFAULT_ARCH, check_config


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "map",
        help="simulate attention on FuseMax / FLAT / the paper's baselines",
        description="Simulate attention (cycle-level, tile-operation granularity) on a spatial accelerator. "
        "Without --config, compares FuseMax and FLAT (or --configs) on the chosen model and length.",
    )
    p.add_argument("--config", choices=CONFIGS, help="one configuration to run (default: compare fusemax and flat)")
    p.add_argument(
        "--configs",
        default="fusemax,flat",
        help="comma-separated configurations to compare when --config is absent (default fusemax,flat)",
    )
    p.add_argument("--model", default="bert", help="bert, trxl, t5, xlm, or B,H,E,F,M,P (default bert)")
    p.add_argument("--seq", default="16K", help="sequence length M = P, e.g. 16384, 16K or 1M (default 16K)")
    p.add_argument(
        "--arch",
        default=None,
        help="architecture for every configuration run: a name (fusemax_cloud, flat_cloud, unfused, fusemax_edge, "
        "flat_edge) or a TOML file; `cloud` / `edge` give each configuration its own cloud / edge part "
        "(default: cloud)",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override an architecture field (dotted path, repeatable), e.g. --set array2d.rows=128 "
        "--set array2d.cols=128 --set array1d.pes=128 --set gbuf_bytes=8388608 --set dram_bytes_per_s=8.6e11",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object (a list when comparing)")
    p.add_argument("--list", action="store_true", help="list configurations, models and architectures, then exit")
    p.add_argument("--e2e", action="store_true", help="also report end-to-end time of one encoder layer")
    p.set_defaults(func=handler)


def _overrides(items: list[str]) -> dict:
    """["array2d.rows=128", ...] -> {"array2d.rows": 128, ...} (ints, floats, true/false, strings)."""
    out: dict = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise EinsimError(f"--set expects FIELD=VALUE, got `{item}` (e.g. --set array2d.rows=128).")
        low = text.strip().lower()
        value: object
        if low in ("true", "false"):
            value = low == "true"
        else:
            try:
                value = int(text)
            except ValueError:
                try:
                    value = float(text)
                except ValueError:
                    value = text
        out[key.strip()] = value
    return out


def _family_arch(config: str, arch: str | None) -> str | None:
    """`cloud`/`edge` -> the configuration's own part of that family; anything else unchanged."""
    if arch not in ("cloud", "edge"):
        return arch
    own = DEFAULT_ARCH[check_config(config)]
    return own.replace("_cloud", f"_{arch}")


def handler(args: argparse.Namespace) -> int:
    if args.list:
        from einsim.registry import arch_registry, model_registry

        ARCHS, MODELS = arch_registry(), model_registry()

        print("configurations:", ", ".join(CONFIGS))
        print(
            "models:", ", ".join(f"{k} (B={m.B} H={m.H} E={m.E} F={m.F})" for k, m in MODELS.items()), "or B,H,E,F,M,P"
        )
        print("architectures:", ", ".join(ARCHS), "or a .toml file (fields of einsim.model.spec.Arch)")
        return 0
    seq = parse_seq(args.seq)
    model = args.model if "," not in args.model else args.model
    configs = [args.config] if args.config else [c.strip() for c in args.configs.split(",") if c.strip()]
    seq_arg = None if "," in args.model else seq
    arch_of = {c: _family_arch(c, args.arch) for c in configs}
    ov = _overrides(args.set)
    reports = [simulate(c, model, seq_arg, arch_of[c], overrides=ov) for c in configs]
    e2e = [simulate_end_to_end(c, model, seq_arg, arch_of[c], ov) for c in configs] if args.e2e else None
    if args.json:
        objs = [r.to_dict() for r in reports]
        if e2e:
            for o, e in zip(objs, e2e):
                o["end_to_end"] = e
        print(json.dumps(objs[0] if len(objs) == 1 else objs, indent=1))
        return 0
    if len(reports) == 1:
        print(reports[0])
        if e2e:
            print(f"  end-to-end {e2e[0]['seconds']:.4f} s (attention share {e2e[0]['attention_share']:.1%})")
        return 0
    base = reports[-1]
    print(f"{reports[0].model}, seq {reports[0].seq}: attention (base for ratios: {base.config})")
    print(
        f"{'config':18s} {'arch':14s} {'seconds':>12s} {'speedup':>8s} {'util2D':>7s} {'util1D':>7s} "
        f"{'DRAM GiB':>9s} {'energy J':>10s} {'E/base':>7s} {'area cm2':>9s}"
    )
    for i, r in enumerate(reports):
        print(
            f"{r.config:18s} {r.arch:14s} {r.seconds:12.5f} {base.seconds / r.seconds:8.2f} {r.util_2d:7.3f} "
            f"{r.util_1d:7.3f} {r.dram_bytes / 2**30:9.3f} {r.energy_pj / 1e12:10.4f} "
            f"{r.energy_pj / base.energy_pj:7.3f} {r.area_um2 / 1e8:9.3f}"
        )
        if e2e:
            print(f"{'':18s} end-to-end {e2e[i]['seconds']:.5f} s, attention share {e2e[i]['attention_share']:.1%}")
    return 0
