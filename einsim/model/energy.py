"""Energy and area: action counts x per-action tables.

Inputs: per-Einsum operator counts (from the cascade via `einsim.op_counts`, scaled by B*H), the unit
each Einsum is bound to, per-level access counts, DRAM bytes, and the `Arch`. Outputs: energy per
action and per component (pJ) in two labelled accountings, and area per component (um^2).

- `full`: every PE's register-file accesses (2 operand reads + 1 result write per PE operation),
  every buffer word, every DRAM byte, plus leakage_w * seconds.
- `artifact`: as the FuseMax artifact counts: register-file accesses of ONE PE per array (per-instance
  counts), no leakage. Compute, buffer and DRAM are identical in both.
Operator cost: `mul` runs on the MAC; `exp` is 6 MAC + 1 add on a unit without an exponential unit and
1 exp-unit op + 1 add (the subtraction) on a unit with one.
"""

from __future__ import annotations

from dataclasses import dataclass

from einsim.errors import EinsimError
from einsim.model.spec import Arch

NEED = {"mac": "mac", "mul": "mac", "add": "add", "max": "max", "exp": "exp", "div": "div"}


def check_binding(arch: Arch, counts: dict[str, dict[str, int]], units: dict[str, str]) -> None:
    """Refuse a binding that puts an Einsum on a unit lacking one of its operators."""
    for name, cls in counts.items():
        unit = units.get(name)
        if unit is None:
            continue
        ops = arch.array2d.ops if unit == "2d" else arch.array1d.ops
        for c, v in cls.items():
            if v and c in NEED and NEED[c] not in ops:
                raise EinsimError(
                    f"Einsum `{name}` needs operator `{NEED[c]}` ({c}) but it is bound to the {unit.upper()} array "
                    f"of `{arch.name}`, whose PEs only have {list(ops)}. Bind it to the other array or add the "
                    f"operator to the arch spec."
                )


def actions(arch: Arch, counts: dict[str, dict[str, int]], units: dict[str, str]) -> dict[str, dict[str, int]]:
    """Per unit ("2d"/"1d"): hardware actions (mac, add, max, exp_unit, div) and PE operations."""
    out = {u: {"mac": 0, "add": 0, "max": 0, "exp_unit": 0, "div": 0, "pe_ops": 0} for u in ("2d", "1d")}
    for name, cls in counts.items():
        u = units.get(name)
        if u is None:
            continue
        a = out[u]
        has_unit = arch.array1d.has_exp_unit if u == "1d" else False
        a["mac"] += cls.get("mac", 0) + cls.get("mul", 0)
        a["add"] += cls.get("add", 0)
        a["max"] += cls.get("max", 0)
        a["div"] += cls.get("div", 0)
        e = cls.get("exp", 0)
        if has_unit:
            a["exp_unit"] += e
            a["add"] += e
        else:
            a["mac"] += 6 * e
            a["add"] += e
        a["pe_ops"] += sum(cls.get(k, 0) for k in ("mac", "mul", "add", "max", "div")) + 2 * e
    return out


@dataclass(frozen=True)
class Energy:
    by_action_pj: dict[str, float]
    by_component_pj: dict[str, float]
    by_component_pj_artifact: dict[str, float]
    total_pj: float
    total_pj_artifact: float


def energy(
    arch: Arch, acts: dict[str, dict[str, int]], gbuf_reads: int, gbuf_writes: int, dram_bytes: int, seconds: float
) -> Energy:
    t = arch.energy
    by_action: dict[str, float] = {}
    comp: dict[str, float] = {}
    for u in ("2d", "1d"):
        a = acts[u]
        e_mac, e_add = a["mac"] * t.mac_pj, a["add"] * t.add_pj
        e_max, e_exp, e_div = a["max"] * t.max_pj, a["exp_unit"] * t.exp_unit_pj, a["div"] * t.div_pj
        for k, v in (("mac", e_mac), ("add", e_add), ("max", e_max), ("exp_unit", e_exp), ("div", e_div)):
            by_action[f"{u}_{k}"] = v
        comp[f"{u}_compute"] = e_mac + e_add + e_max + e_exp + e_div
    rf2 = acts["2d"]["pe_ops"] * (2 * t.rf2d_read_pj + t.rf2d_write_pj)
    rf1 = acts["1d"]["pe_ops"] * (2 * t.rf1d_read_pj + t.rf1d_write_pj)
    by_action["2d_rf"] = rf2
    by_action["1d_rf"] = rf1
    by_action["gbuf_read"] = gbuf_reads * t.gbuf_read_pj_per_word
    by_action["gbuf_write"] = gbuf_writes * t.gbuf_write_pj_per_word
    by_action["dram"] = dram_bytes * t.dram_pj_per_byte
    comp["2d_rf"], comp["1d_rf"] = rf2, rf1
    comp["gbuf"] = by_action["gbuf_read"] + by_action["gbuf_write"]
    comp["dram"] = by_action["dram"]
    comp["leakage"] = t.leakage_w * seconds * 1e12
    art = dict(comp)
    art["2d_rf"] = rf2 / arch.array2d.pes
    art["1d_rf"] = rf1 / arch.array1d.pes
    art["leakage"] = 0.0
    return Energy(by_action, comp, art, sum(comp.values()), sum(art.values()))


def area(arch: Arch) -> dict[str, float]:
    """Area per component in um^2 (the adder inside a MAC is not counted separately)."""
    a, t = arch, arch.area
    pe2 = t.mac_um2 + (t.max_um2 if "max" in a.array2d.ops else 0.0) + t.rf2d_um2
    pe1 = t.mac_um2 + t.max_um2 + t.div_um2 + t.rf1d_um2 + (t.exp_unit_um2 if a.array1d.has_exp_unit else 0.0)
    return {
        "2d_array": a.array2d.pes * pe2,
        "1d_array": a.array1d.pes * pe1,
        "gbuf": a.gbuf_bytes / 2**20 * t.gbuf_um2_per_mib,
    }
