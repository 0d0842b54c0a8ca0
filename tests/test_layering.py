"""einsim/ never imports archs/, workloads/ or studies/ (they reach it only as entry-point plugins),
and `import einsim` pulls in neither torch nor triton."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_einsim_does_not_import_repository_packages():
    bad = []
    for f in (ROOT / "einsim").rglob("*.py"):
        for n, line in enumerate(f.read_text().splitlines(), 1):
            if re.match(r"\s*(from|import)\s+(archs|workloads|studies)\b", line):
                bad.append(f"{f.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not bad, "\n".join(bad)


def test_import_einsim_is_light():
    code = "import sys, einsim, einsim.gpu; print(sorted(m for m in ('torch', 'triton') if m in sys.modules))"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_named_archs_and_models_arrive_as_plugins():
    from einsim.registry import arch_registry, model_registry

    assert {"fusemax_cloud", "flat_cloud", "unfused", "fusemax_edge", "flat_edge"} <= set(arch_registry())
    assert {"bert", "trxl", "t5", "xlm"} <= set(model_registry())
