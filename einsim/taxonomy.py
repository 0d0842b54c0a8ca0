"""Table I of FuseMax (3-pass / 2-pass / 1-pass attention) derived from the cascade library.

Input: cascade files. The pass class of each comes from `analyze_passes`; the published
algorithms a cascade stands for come from its `#! algorithms: A, B` header line (metadata only —
it never influences the analysis). Output: {"3-pass": [...], "2-pass": [...], "1-pass": [...]}.
"""

from __future__ import annotations

from pathlib import Path

from einsim.parse import parse_file
from einsim.passes import analyze_passes

LIBRARY_DIR = Path(__file__).resolve().parent.parent / "workloads" / "cascades"


def algorithms_of(path: Path) -> list[str]:
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#! algorithms:"):
            return [a.strip() for a in line.split(":", 1)[1].split(",") if a.strip()]
    return []


def taxonomy(files: list[Path] | None = None) -> dict[str, list[dict]]:
    files = files or sorted(LIBRARY_DIR.glob("*.ein"))
    out: dict[str, list[dict]] = {}
    for f in files:
        algos = algorithms_of(f)
        if not algos:
            continue
        a = analyze_passes(parse_file(f))
        out.setdefault(f"{a.passes}-pass", []).append({"cascade": a.cascade, "file": str(f), "algorithms": algos})
    return dict(sorted(out.items(), key=lambda kv: -int(kv[0].split("-")[0])))


def taxonomy_table(t: dict[str, list[dict]]) -> str:
    lines = ["Table I: attention cascades by passes over M (derived by einsim's pass analyzer)", ""]
    for cls, entries in t.items():
        algos = sorted({a for e in entries for a in e["algorithms"]})
        casc = ", ".join(e["cascade"] for e in entries)
        lines.append(f"{cls:7s} {', '.join(algos)}")
        lines.append(f"{'':7s} (cascades: {casc})")
    return "\n".join(lines)
