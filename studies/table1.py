"""Table I: the pass taxonomy of the attention cascades (3-, 2- and 1-pass), from einsim's pass analyzer."""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from studies import _common as c

NAME = "table1"
CASCADES = c.ROOT / "workloads" / "cascades"


def points(grid: c.Grid) -> list[dict]:
    return []  # the pass analyzer is static: no model runs


def render(rows: list[dict], out: Path, grid: c.Grid) -> list[Path]:
    from einsim.taxonomy import taxonomy, taxonomy_table

    tax = taxonomy(sorted(CASCADES.glob("*.ein")))
    table = [
        {
            "class": cls,
            "algorithms": ", ".join(sorted({a for e in entries for a in e["algorithms"]})),
            "cascades": ", ".join(e["cascade"] for e in entries),
            "files": ", ".join(Path(e["file"]).name for e in entries),
        }
        for cls, entries in tax.items()
    ]
    out.mkdir(parents=True, exist_ok=True)
    csv = c.write_csv(out / f"{NAME}.csv", table, ["class", "algorithms", "cascades", "files"])
    body = [[r["class"], r["algorithms"], r["cascades"]] for r in table]
    md = c.write_markdown(
        out / f"{NAME}.md",
        ["passes over M", "published algorithms", "einsim cascades"],
        body,
        "Table I: attention cascades by passes over the M (key) fiber, derived by einsim's pass analyzer",
    )
    (out / f"{NAME}.txt").write_text(taxonomy_table(tax) + "\n" + _per_cascade() + "\n")
    return [csv, md]


def _per_cascade() -> str:
    """Every library cascade with its pass count over M (also those without an `#! algorithms:` header)."""
    from einsim.errors import EinsimError
    from einsim.parse import parse_file
    from einsim.passes import analyze_passes

    lines = ["", "Per cascade (einsim passes):"]
    for f in sorted(CASCADES.glob("*.ein")):
        try:
            a = analyze_passes(parse_file(f))
            lines.append(f"  {f.name:28s} {a.passes}-pass")
        except EinsimError as exc:
            lines.append(f"  {f.name:28s} not analysable: {exc}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(c.run_script(sys.modules[__name__]))
