"""The result of one simulated run: a frozen `Report` with units in every field name.

`str(report)` prints a table; `to_dict()` gives the JSON contract of `einsim map --json` (config, model,
seq, cycles, seconds, util_2d, util_1d, dram_bytes, energy_pj (full), energy_pj_artifact, area_um2,
per_einsum -> {unit, busy_cycles, util}) plus breakdowns; `to_json()`, `to_pandas()` (per-Einsum rows).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class EinsumStat:
    unit: str
    busy_cycles: float
    """Cycles the Einsum keeps its whole array busy (PE-operations / PEs)."""
    util: float
    pe_ops: int


@dataclass(frozen=True)
class Report:
    config: str
    model: str
    seq: int
    arch: str
    cycles: int
    seconds: float
    util_2d: float
    util_1d: float
    busy_2d_cycles: int
    busy_1d_cycles: int
    busy_dram_cycles: int
    stall_2d_cycles: int
    stall_1d_cycles: int
    dram_bytes: int
    dram_bytes_by_tensor: dict[str, int]
    accesses: dict[str, dict[str, dict[str, int]]]
    """tensor -> level (rf, gbuf, dram) -> {reads, writes, bytes} (rf: words over all PEs)."""
    per_einsum: dict[str, EinsumStat]
    energy_pj: float
    energy_pj_artifact: float
    energy_by_component_pj: dict[str, float]
    energy_by_component_pj_artifact: dict[str, float]
    energy_by_action_pj: dict[str, float]
    area_um2: float
    area_by_component_um2: dict[str, float]
    mapping: dict[str, object] = field(default_factory=dict)
    stall_breakdown_cycles: dict[str, int] = field(default_factory=dict)
    """Idle cycles of each unit by what it waited for: "2d<-1d" = the 2D array waited for a 1D result,
    "x<-dram" for a transfer, "x<-tail/start" = idle before its first or after its last op."""
    simulated_ops: int = 0
    skipped_repeats: int = 0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["per_einsum"] = {k: asdict(v) for k, v in self.per_einsum.items()}
        return d

    def to_json(self, **kw) -> str:
        return json.dumps(self.to_dict(), **kw)

    def to_pandas(self):
        import pandas as pd

        rows = [
            {"config": self.config, "model": self.model, "seq": self.seq, "einsum": k, **asdict(v)}
            for k, v in self.per_einsum.items()
        ]
        return pd.DataFrame(rows)

    def __str__(self) -> str:
        lines = [
            f"{self.config} on {self.arch}: {self.model}, seq {self.seq}",
            f"  cycles {self.cycles:,}  ({self.seconds * 1e3:.3f} ms)"
            f"   util 2D {self.util_2d:.3f}  1D {self.util_1d:.3f}",
            f"  busy cycles 2D {self.busy_2d_cycles:,} 1D {self.busy_1d_cycles:,} DRAM {self.busy_dram_cycles:,};"
            f" stall 2D {self.stall_2d_cycles:,} 1D {self.stall_1d_cycles:,}",
            f"  DRAM {self.dram_bytes / 2**30:.3f} GiB   energy {self.energy_pj / 1e12:.4f} J (full), "
            f"{self.energy_pj_artifact / 1e12:.4f} J (artifact)   area {self.area_um2 / 1e8:.3f} cm^2",
            f"  {'einsum':8s} {'unit':4s} {'busy cycles':>16s} {'util':>7s}",
        ]
        for k, v in self.per_einsum.items():
            lines.append(f"  {k:8s} {v.unit:4s} {v.busy_cycles:16,.0f} {v.util:7.4f}")
        if self.stall_breakdown_cycles:
            lines.append(
                "  idle by cause: " + ", ".join(f"{k} {v:,}" for k, v in self.stall_breakdown_cycles.items() if v)
            )
        comp = ", ".join(
            f"{k} {v / max(self.energy_pj, 1e-30):.1%}" for k, v in self.energy_by_component_pj.items() if v
        )
        lines.append(f"  energy share: {comp}")
        return "\n".join(lines)
