"""Properties of the spatial-array model: bounds, monotonicity, energy identity, errors, CLI contract."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest

import archs
from einsim.cli import main as cli_main
from einsim.errors import EinsimError
from einsim.model import (
    CONFIGS,
    pareto_point,
    parse_seq,
    simulate,
    simulate_end_to_end,
    simulate_linear,
    with_overrides,
)
from einsim.model.configs import CASCADE, UNITS, op_counts_for
from einsim.model.spec import Arch, Array2D, load_arch_toml

SMALL = ["2,2,64,64,1024,1024", "1,3,64,64,4096,4096", "2,1,128,128,2048,2048", "1,2,64,64,65536,65536"]


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("model", SMALL)
def test_bounds(config, model):
    r = simulate(config, model)
    assert 0.0 <= r.util_2d <= 1.0 and 0.0 <= r.util_1d <= 1.0
    for e in r.per_einsum.values():
        assert 0.0 <= e.util <= 1.0
    counts = op_counts_for(CASCADE[config], r.seq, r.seq, 64, 64, 256, 1)
    arch = archs.get_arch("fusemax_cloud" if config in ("fusemax", "plus-architecture") else "flat_cloud")
    B, H, E, F, M, P = (int(x) for x in model.split(","))
    macs = B * H * M * P * (E + F)
    assert r.cycles >= macs / arch.array2d.pes  # cycles >= work / PEs
    assert r.cycles >= r.busy_2d_cycles and r.cycles >= r.busy_1d_cycles and r.cycles >= r.busy_dram_cycles
    assert counts  # the cascade supplied the per-Einsum work


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("model", SMALL[:3] + ["1,2,64,64,16384,16384"])
def test_more_bandwidth_or_buffer_is_never_slower(config, model):
    a = archs.get_arch("fusemax_cloud" if config in ("fusemax", "plus-architecture") else "flat_cloud")
    base = simulate(config, model, arch=a).cycles
    for more in (
        replace(a, dram_bytes_per_s=a.dram_bytes_per_s * 2),
        replace(a, gbuf_bytes=a.gbuf_bytes * 2),
        replace(a, dram_bytes_per_s=a.dram_bytes_per_s * 8, gbuf_bytes=a.gbuf_bytes * 4),
    ):
        assert simulate(config, model, arch=more).cycles <= base


def test_less_bandwidth_makes_flat_memory_bound_at_long_sequences():
    a = archs.get_arch("flat_cloud")
    fast = simulate("flat", "1,1,64,64,262144,262144", arch=a)
    slow = simulate("flat", "1,1,64,64,262144,262144", arch=replace(a, dram_bytes_per_s=a.dram_bytes_per_s / 4))
    assert fast.mapping["spill_fraction"] > 0 and slow.cycles > 1.5 * fast.cycles


@pytest.mark.parametrize("config", CONFIGS)
def test_energy_is_counts_times_table(config):
    r = simulate(config, "2,2,64,64,2048,2048")
    arch = archs.get_arch("fusemax_cloud" if config in ("fusemax", "plus-architecture") else "flat_cloud")
    t = arch.energy
    counts = op_counts_for(CASCADE[config], 2048, 2048, 64, 64, 256, 4)
    units = UNITS[config]
    mac = add = mx = ex = dv = 0
    for name, c in counts.items():
        has_unit = units[name] == "1d" and arch.array1d.has_exp_unit
        mac += c["mac"] + c["mul"] + (0 if has_unit else 6 * c["exp"])
        add += c["add"] + c["exp"]
        mx += c["max"]
        ex += c["exp"] if has_unit else 0
        dv += c["div"]
    compute = mac * t.mac_pj + add * t.add_pj + mx * t.max_pj + ex * t.exp_unit_pj + dv * t.div_pj
    comp = r.energy_by_component_pj
    assert math.isclose(comp["2d_compute"] + comp["1d_compute"], compute, rel_tol=1e-12)
    assert math.isclose(comp["dram"], r.dram_bytes * t.dram_pj_per_byte, rel_tol=1e-12)
    assert math.isclose(r.energy_pj, sum(comp.values()), rel_tol=1e-12)
    assert math.isclose(r.energy_pj_artifact, sum(r.energy_by_component_pj_artifact.values()), rel_tol=1e-12)
    assert r.energy_pj_artifact <= r.energy_pj


def test_paper_trends_at_64k():
    f = simulate("fusemax", "bert", "64K")
    fl = simulate("flat", "bert", "64K")
    pa = simulate("plus-architecture", "bert", "64K")
    assert f.util_2d > 0.95 and fl.util_2d < 0.2 and pa.util_2d < 0.5 * f.util_2d
    assert fl.util_1d > 0.95  # FLAT is bound by its 1D softmax
    assert fl.seconds / f.seconds > 4
    assert f.energy_pj_artifact == pytest.approx(pa.energy_pj_artifact)  # no leakage: same work, same energy


def test_end_to_end_and_linear():
    lin = simulate_linear("bert", "4K")
    assert 0.9 < lin["util_2d"] <= 1.0 and set(lin["per_layer"]) == {"Q", "K", "V", "O", "FFN1", "FFN2"}
    e = simulate_end_to_end("fusemax", "bert", "4K")
    assert 0 < e["attention_share"] < 1


def test_bad_specs_are_refused():
    with pytest.raises(EinsimError, match="rows"):
        Array2D(rows=0)
    with pytest.raises(EinsimError, match="gbuf_bytes"):
        Arch(gbuf_bytes=-1)
    with pytest.raises(EinsimError, match="1D array"):
        with_overrides(archs.get_arch("fusemax_cloud"), **{"array1d.pes": 128})
    with pytest.raises(EinsimError, match="needs operator `max`"):
        simulate("fusemax", "bert", "1K", arch="flat_cloud")  # LM on a 2D array without max
    with pytest.raises(EinsimError, match="smallest tile"):
        simulate("fusemax", "bert", "1K", arch=replace(archs.get_arch("fusemax_cloud"), gbuf_bytes=4096))
    with pytest.raises(EinsimError, match="register-file"):
        simulate(
            "fusemax", "bert", "1K", arch=with_overrides(archs.get_arch("fusemax_cloud"), **{"array2d.rf_entries": 3})
        )
    with pytest.raises(EinsimError, match="Unknown model"):
        simulate("fusemax", "gpt9", "1K")
    with pytest.raises(EinsimError, match="Unknown configuration"):
        simulate("fastmax", "bert", "1K")
    with pytest.raises(EinsimError, match="Unknown architecture field"):
        with_overrides(archs.get_arch("fusemax_cloud"), **{"array2d.colz": 3})


def test_toml_arch(tmp_path):
    p = tmp_path / "small.toml"
    p.write_text('base = "fusemax_cloud"\ngbuf_bytes = 1048576\n[array2d]\nrows = 64\ncols = 64\n[array1d]\npes = 64\n')
    a = load_arch_toml(p)
    assert a.array2d.rows == 64 and a.gbuf_bytes == 2**20 and a.name == "small"
    assert simulate("fusemax", "bert", "1K", arch=str(p)).arch == "small"
    bad = tmp_path / "bad.toml"
    bad.write_text("[array2d]\nrows = -4\n")
    with pytest.raises(EinsimError, match="rows"):
        archs.get_arch(str(bad))


def test_seq_parsing():
    assert parse_seq("16K") == 16384 == parse_seq("16384") == parse_seq(16384)
    assert parse_seq("1M") == 2**20


def test_cli_json_contract(capsys):
    assert cli_main(["map", "--config", "fusemax", "--model", "bert", "--seq", "1K", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    for k in (
        "config",
        "model",
        "seq",
        "cycles",
        "seconds",
        "util_2d",
        "util_1d",
        "dram_bytes",
        "energy_pj",
        "energy_pj_artifact",
        "area_um2",
        "per_einsum",
    ):
        assert k in d
    assert d["seq"] == 1024 and d["per_einsum"]["BQK"]["unit"] == "2d"
    assert set(d["per_einsum"]["SLN"]) >= {"unit", "busy_cycles", "util"}


def test_cli_default_and_errors(capsys):
    assert cli_main(["map"]) == 0
    out = capsys.readouterr().out
    assert "fusemax" in out and "flat" in out and "16384" in out
    assert cli_main(["map", "--model", "nope"]) == 2
    assert "Unknown model" in capsys.readouterr().err


def test_pareto_point_and_doc_example():
    import doctest

    import einsim.model

    p = pareto_point("1,2,64,64,4096,4096", 4096, 16)
    assert p["dim"] == 16 and p["area_um2"] > 0 and p["seconds"] > 0 and p["gbuf_bytes"] >= 64 * 1024
    bigger = pareto_point("1,2,64,64,4096,4096", 4096, 32)
    assert bigger["seconds"] < p["seconds"] and bigger["area_um2"] > p["area_um2"]
    assert doctest.testmod(einsim.model).failed == 0


def test_buffer_and_rf_checks_hold_for_the_chosen_mapping():
    for model, seq in (("bert", 1024), ("xlm", 65536), ("1,1,64,64,256,256", 256)):
        r = simulate("fusemax", model, seq)
        a = archs.get_arch("fusemax_cloud")
        m = r.mapping
        E = F = 128 if model == "xlm" else 64
        need = m["kv_slots"] * 256 * (E + F) * 2 + m["P1"] * 256 * (2 * E + F + 2) * 2
        assert need <= a.gbuf_bytes and m["lag"] + 3 <= a.array2d.rf_entries


def test_flat_search_and_memory_bound_regime():
    short = simulate("flat", "bert", "4K")
    long = simulate("flat", "bert", "1M")
    assert short.mapping["spill_fraction"] == 0 and short.util_1d > 0.99
    assert long.mapping["spill_fraction"] > 0.5 and long.util_1d < 0.9  # memory-bound once QK spills
    assert long.stall_breakdown_cycles.get("2d<-dram", 0) > 0
    assert short.mapping["mappings_searched"] > 4


@pytest.mark.parametrize("config", ["fusemax", "plus-architecture", "flat", "unfused", "plus-cascade"])
def test_simulated_work_matches_the_cascade(config):
    """Every Einsum's issue slots x PEs equal its operator counts from the cascade file x slot cost."""
    B, H, E, F, M, P = 2, 2, 64, 64, 2048, 2048
    r = simulate(config, f"{B},{H},{E},{F},{M},{P}")
    arch = archs.get_arch("fusemax_cloud" if config in ("fusemax", "plus-architecture") else "flat_cloud")
    counts = op_counts_for(CASCADE[config], M, P, E, F, 256, B * H)
    for name, stat in r.per_einsum.items():
        c = counts[name]
        pes = arch.array2d.pes if stat.unit == "2d" else arch.array1d.pes
        ex = arch.array2d.exp_slots if stat.unit == "2d" else arch.array1d.exp_slots
        if config == "plus-cascade" and name in ("SLN", "PRM"):
            ex += 1  # exp unit + the subtraction on FLAT's 1D array
        mul = c["mul"] if name not in ("BQK", "QK") else 0  # the 1/sqrt(E) scale is folded into Q
        want = c["mac"] + mul + c["add"] + c["max"] + c["div"] + ex * c["exp"]
        assert stat.busy_cycles * pes == pytest.approx(want, rel=1e-9), name


def test_cli_overrides_and_leakage(capsys):
    args = [
        "map",
        "--config",
        "fusemax",
        "--seq",
        "4K",
        "--json",
        "--set",
        "array2d.rows=128",
        "--set",
        "array2d.cols=128",
        "--set",
        "array1d.pes=128",
    ]
    assert cli_main(args) == 0
    small = json.loads(capsys.readouterr().out)
    big = simulate("fusemax", "bert", "4K")
    assert small["cycles"] > 3.5 * big.cycles and small["area_um2"] < big.area_um2
    assert cli_main(["map", "--set", "array2d.rows"]) == 2
    assert cli_main(["map", "--set", "array2d.nope=3"]) == 2
    leak = {"energy.leakage_w": 50.0}
    f = simulate("fusemax", "bert", "4K", overrides=leak)
    a = simulate("plus-architecture", "bert", "4K", overrides=leak)
    assert a.energy_pj > f.energy_pj and a.energy_pj_artifact == pytest.approx(f.energy_pj_artifact)


@pytest.mark.parametrize("model", ["64,12,64,64,16384,1", "1,1,64,64,3000000,256", "2,2,128,128,4096,512", "bert"])
def test_the_binding_never_loses_to_plus_architecture(model):
    seq = None if "," in model else "4K"
    f, a = simulate("fusemax", model, seq), simulate("plus-architecture", model, seq)
    assert f.cycles < a.cycles
