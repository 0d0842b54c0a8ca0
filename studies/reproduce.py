"""Regenerate every figure and table of the FuseMax paper with einsim.

`python studies/reproduce.py --out DIR [--quick]` or `einsim reproduce --out DIR [--quick]`. All model runs
of all figures form one sweep (parallel, with a progress bar, cached in DIR/einsim-sweep.sqlite); each figure
then writes its CSV and PNG from the results.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from datetime import UTC

from einsim.errors import EinsimError
from studies import _common as c

FIGURES = ("fig6a", "fig6b", "fig7", "fig8", "fig9", "fig10", "fig11", "fig12", "table1", "headline")


def reproduce(
    out: Path,
    quick: bool = False,
    jobs: int | None = None,
    progress: bool = True,
    only: list[str] | None = None,
    executor: str = "local",
    scheduler: str | None = None,
) -> list[Path]:
    """Compute all points the chosen figures need (once), then render each; returns the files written."""
    names = list(only or FIGURES)
    unknown = [n for n in names if n not in FIGURES]
    if unknown:
        raise EinsimError(f"unknown figure(s) {', '.join(unknown)}; choose from {', '.join(FIGURES)}.")
    grid = c.QUICK if quick else c.FULL
    modules = [importlib.import_module(f"studies.{n}") for n in names]
    seen, points = set(), []
    for m in modules:
        for p in m.points(grid):
            key = tuple(sorted(p.items()))
            if key not in seen:
                seen.add(key)
                points.append(p)
    out = Path(out)
    rows = c.compute(points, out, jobs, progress, executor, scheduler) if points else []
    paths: list[Path] = []
    for m in modules:
        paths += m.render(rows, out, grid)
    if only is None:
        paths.append(write_provenance(out, grid, len(points)))
    return paths


def write_provenance(out: Path, grid: c.Grid, n_points: int) -> Path:
    """DIR/provenance.json: what produced these files (git commit, model source hash, grid, machine)."""
    import json
    import os
    import platform
    import subprocess
    from dataclasses import asdict
    from datetime import datetime

    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=c.ROOT, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = bool(
            subprocess.run(
                ["git", "status", "--porcelain", "einsim", "archs", "workloads", "studies"],
                cwd=c.ROOT,
                capture_output=True,
                text=True,
                timeout=10,
            ).stdout.strip()
        )
    except (OSError, subprocess.SubprocessError):
        commit, dirty = "", False
    info = {
        "generated_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_commit": commit,
        "working_tree_modified": dirty,
        "model_source_hash": c.model_version(),
        "grid": asdict(grid),
        "model_points": n_points,
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
    }
    path = out / "provenance.json"
    path.write_text(json.dumps(info, indent=2) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="studies/reproduce.py", description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=c.ROOT / "studies" / "out", help="output folder")
    ap.add_argument("--quick", action="store_true", help="reduced grid for CI")
    ap.add_argument("--jobs", type=int, default=None, help="worker processes (default: all cores)")
    ap.add_argument("--only", default=None, help="comma-separated subset of " + ",".join(FIGURES))
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    try:
        only = args.only.split(",") if args.only else None
        for p in reproduce(args.out, args.quick, args.jobs, not args.no_progress, only):
            print(p)
    except EinsimError as exc:
        print(f"einsim reproduce: error: {exc}", file=sys.stderr)
        return 2
    print(f"done in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
