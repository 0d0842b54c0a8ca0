"""Fig. 6a: 1D-array utilization of the five configurations, 4 models x 6 sequence lengths (attention
only)."""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from studies import _common as c

NAME = "fig6a"
points, render = c.utilization_figure(NAME, "util_1d", "1D array utilization")

if __name__ == "__main__":
    sys.exit(c.run_script(sys.modules[__name__]))
