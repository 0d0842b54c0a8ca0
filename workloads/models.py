"""The transformer workloads of the FuseMax/FLAT evaluation (B = 64), registered with einsim through
the `einsim.models` entry point. Shapes: BERT-Base, TrXL-wt103, T5-small (encoder), XLM.
"""

from __future__ import annotations

from einsim.model.workload import ALIASES, SEQ_LENS, Model, get_model

MODELS: dict[str, Model] = {
    "bert": Model("bert", B=64, H=12, E=64, F=64, D=768, S=3072),
    "trxl": Model("trxl", B=64, H=16, E=64, F=64, D=1024, S=4096),
    "t5": Model("t5", B=64, H=8, E=64, F=64, D=512, S=2048),
    "xlm": Model("xlm", B=64, H=16, E=128, F=128, D=2048, S=8192),
}

__all__ = ["ALIASES", "MODELS", "SEQ_LENS", "Model", "get_model"]
