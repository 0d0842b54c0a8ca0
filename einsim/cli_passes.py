"""`einsim check` and `einsim passes`: validate cascade files and print their pass analysis.

`einsim check FILE...` exits non-zero with the error paragraph on the first bad file.
`einsim passes FILE... [--rank m] [--json] [--taxonomy]` prints a table or a JSON list with one
object per cascade (cascade, file, rank, passes, levels, live_footprint, ops, ...); `--taxonomy`
prints the paper's Table I derived from the library (or from the files given).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from einsim.errors import EinsimError
from einsim.parse import parse_file
from einsim.passes import analyze_passes
from einsim.taxonomy import LIBRARY_DIR, taxonomy, taxonomy_table


def register(sub) -> None:
    p = sub.add_parser("check", help="validate cascade files", description="Parse and validate cascade files; "
                       "exit 2 with one error paragraph (file:line:col, text, fix) on the first bad one.")
    p.add_argument("files", nargs="+", metavar="FILE", help="cascade files (.ein)")
    p.set_defaults(func=_check)
    p = sub.add_parser("passes", help="pass analysis of cascades", description="Derive, from each cascade "
                       "alone, its passes over a rank and each partition level, the Einsums of each pass, the "
                       "live footprint per query and the operation counts.")
    p.add_argument("files", nargs="*", metavar="FILE", help="cascade files (default: the attention library)")
    p.add_argument("--rank", default=None, help="rank to analyse, e.g. m or M (default: the softmax rank M)")
    p.add_argument("--json", action="store_true", help="print a JSON list, one object per cascade")
    p.add_argument("--taxonomy", action="store_true", help="print Table I (3/2/1-pass classes) from the library")
    p.set_defaults(func=_passes)


def _files(args) -> list[Path]:
    files = [Path(f) for f in args.files] or sorted(LIBRARY_DIR.glob("*.ein"))
    for f in files:
        if not f.exists():
            raise EinsimError(f"{f}: no such cascade file. Check the path (library files are in {LIBRARY_DIR}).")
    return files


def _check(args) -> int:
    for f in _files(args):
        c = parse_file(f)
        print(f"{f}: ok ({c.name}: {len(c.einsums)} Einsums)")
    return 0


def _passes(args) -> int:
    files = _files(args)
    if args.taxonomy:
        t = taxonomy(files)
        print(json.dumps(t, indent=2) if args.json else taxonomy_table(t))
        return 0
    results = []
    for f in files:
        results.append(analyze_passes(parse_file(f), args.rank))
    if args.json:
        json.dump([r.to_dict() for r in results], sys.stdout, indent=2)
        print()
        return 0
    rows = []
    for r in results:
        ops = {k: v for k, v in r.ops.items() if v != 0}
        rows.append({
            "cascade": r.cascade,
            "rank": r.rank,
            "passes": r.passes,
            "levels": " ".join(f"{k}:{v}" for k, v in r.levels.items()),
            "live/query": str(r.live_footprint),
            "exp": str(ops.get("exp", 0)),
            "div": str(ops.get("div", 0)),
            "mac": str(ops.get("mac", 0)),
        })
    from einsim.table import render_table

    print(render_table(rows))
    return 0
