"""The `einsim` command line: a thin argparse front over the Python API.

Each subcommand lives in its own module listed in COMMAND_MODULES; a module defines
`register(subparsers)`, which adds its parser and sets `func=handler` (handler(args) -> exit code).
Bad input raises `EinsimError`; main() prints its one-paragraph message (no traceback) and exits 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from einsim.errors import EinsimError

COMMAND_MODULES = [
    "einsim.cli_passes",
    "einsim.cli_sweep",
    "einsim.cli_map",
    "einsim.cli_gpu",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="einsim",
        description="einsim: extended-Einsum cascades for attention — check, analyse passes, simulate "
        "spatial accelerators, lower to GPU kernels.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except EinsimError as exc:
        print(f"einsim {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"einsim {args.command}: interrupted; results already written are kept.", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
