"""The figure scripts on the reduced (--quick) grid with the real model, and the sweep/reproduce command
lines.

One module-scoped `einsim reproduce --quick` run computes every point once (cached in its store); the tests
then check each figure's files and values, run each script's own command line against the same store
(nothing is recomputed), and check that bad command-line input gives one paragraph and keeps finished results.
"""

from __future__ import annotations

import csv
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from einsim.cli import main as cli_main
from einsim.sweep import ResultStore, run_sweep
from einsim.sweep.executors import TRACE_ENV
from studies import _common as c
from studies import reproduce

ROOT = Path(__file__).resolve().parent.parent
FIG_NAMES = ("fig6a", "fig6b", "fig7", "fig8", "fig9", "fig10", "fig11", "fig12")


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("reproduce")
    paths = reproduce.reproduce(out, quick=True, jobs=2, progress=False)
    return out, paths


def _csv(path: Path) -> list[dict]:
    with open(path) as fh:
        return list(csv.DictReader(fh))


def test_reproduce_writes_every_figure_and_table(quick):
    out, paths = quick
    names = {p.name for p in paths}
    for fig in FIG_NAMES:
        assert f"{fig}.csv" in names and f"{fig}.png" in names
        assert (out / f"{fig}.png").stat().st_size > 10_000
        assert _csv(out / f"{fig}.csv")
    assert "provenance.json" in names
    for table in ("table1", "headline"):
        assert (out / f"{table}.csv").exists() and (out / f"{table}.md").exists()


def test_figure_values_are_sane(quick):
    out, _ = quick
    grid = c.QUICK
    for fig, field in (("fig6a", "util_1d"), ("fig6b", "util_2d")):
        rows = _csv(out / f"{fig}.csv")
        assert len(rows) == len(grid.models) * len(grid.seqs) * len(grid.configs)
        assert all(0.0 <= float(r[field]) <= 1.0 + 1e-9 for r in rows)
    for fig in ("fig8", "fig10"):
        rows = _csv(out / f"{fig}.csv")
        assert all(float(r["speedup_vs_unfused"]) == 1.0 for r in rows if r["config"] == "unfused")
        assert all(float(r["speedup_vs_unfused"]) > 1.0 for r in rows if r["config"] == "fusemax")
    for r in _csv(out / "fig7.csv"):  # the per-Einsum parts add up to at most the 2D utilization
        parts = sum(float(v) for k, v in r.items() if k.startswith("util_") and k != "util_2d")
        assert parts <= float(r["util_2d"]) + 1e-6
    fig12 = _csv(out / "fig12.csv")
    assert len(fig12) == len(grid.models) * len(grid.pareto_dims)
    for m in grid.models:  # a bigger array is bigger and faster
        pts = sorted((r for r in fig12 if r["model"] == m), key=lambda r: int(r["pe_dim"]))
        assert all(float(a["area_cm2"]) < float(b["area_cm2"]) for a, b in zip(pts, pts[1:]))
        assert all(float(a["seconds"]) > float(b["seconds"]) for a, b in zip(pts, pts[1:]))
    head = {(r["scope"], r["metric"], r["baseline"], r["energy_accounting"]): r for r in _csv(out / "headline.csv")}
    assert float(head[("attention", "speedup", "flat", "")]["einsim_arith"]) > 1.0
    assert float(head[("attention", "speedup", "flat", "")]["paper_arith"]) == 6.7
    table1 = (out / "table1.txt").read_text()
    assert "cascade5_fa2.ein" in table1 and "1-pass" in table1


def test_rerun_is_cached_and_recomputes_nothing(quick, monkeypatch, tmp_path):
    out, _ = quick
    trace = tmp_path / "trace"
    monkeypatch.setenv(TRACE_ENV, str(trace))
    reproduce.reproduce(out, quick=True, jobs=1, progress=False, only=["fig8", "fig12", "headline"])
    assert not trace.exists()


@pytest.mark.parametrize("name", [*FIG_NAMES, "table1", "headline"])
def test_each_script_runs_on_its_own(quick, name, capsys):
    out, _ = quick
    mod = importlib.import_module(f"studies.{name}")
    assert c.run_script(mod, ["--out", str(out), "--quick", "--no-progress"]) == 0
    printed = capsys.readouterr().out.split()
    assert printed and all(Path(p).name.startswith(name) and Path(p).exists() for p in printed)


def test_script_command_line_and_reproduce_cli(quick):
    out, _ = quick
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    r = subprocess.run(
        [sys.executable, "studies/fig6b.py", "--out", str(out), "--quick", "--no-progress"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[0].endswith("fig6b.csv")
    assert cli_main(["reproduce", "--out", str(out), "--quick", "--no-progress", "--only", "fig9,table1"]) == 0


def test_sweep_cli_runs_the_model_and_resumes(tmp_path, capsys):
    store, table = tmp_path / "s.sqlite", tmp_path / "s.csv"
    args = [
        "sweep",
        "config=fusemax,flat",
        "model=bert",
        "seq=1K,4K",
        "--store",
        str(store),
        "--csv",
        str(table),
        "--no-progress",
        "--jobs",
        "2",
    ]
    assert cli_main(args) == 0
    err = capsys.readouterr().err
    assert "4 points: 4 computed, 0 from" in err
    rows = _csv(table)
    assert len(rows) == 4 and {r["config"] for r in rows} == {"fusemax", "flat"}
    assert all(float(r["seconds"]) > 0 for r in rows)
    assert cli_main(args) == 0
    assert "4 points: 0 computed, 4 from" in capsys.readouterr().err
    png = tmp_path / "pareto.png"
    over = [
        "sweep",
        "config=fusemax",
        "model=bert",
        "seq=4K",
        "arch.gbuf_bytes=1MiB,16MiB",
        "arch.array2d.rows+arch.array2d.cols+arch.array1d.pes=32,64",
        "--store",
        str(store),
        "--pareto",
        str(png),
        "--no-progress",
    ]
    assert cli_main(over) == 0
    assert png.exists()


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["sweep", "config=fusemax", "model=bert", "seq=4K", "arch.no_such_field=1"], "no_such_field"),
        (["sweep", "config=fastest", "model=bert", "seq=4K"], "unknown configuration"),
        (["sweep", "config=fusemax", "model=gpt9", "seq=4K"], "gpt9"),
        (["sweep", "seq"], "no `=`"),
        (["sweep", "model=bert", "seq=4K", "--executor", "dask"], "--scheduler"),
        (["reproduce", "--only", "fig99"], "fig99"),
        (["sweep", "config=fusemax", "model=bert", "seq=1K", "--csv", "/proc/no/such.csv"], "cannot write"),
        (["reproduce", "--quick", "--only", "fig7", "--out", "/proc/no/such"], "cannot write"),
    ],
)
def test_bad_cli_input_is_one_paragraph_and_keeps_results(tmp_path, capsys, argv, needle):
    store = tmp_path / "s.sqlite"
    good = ["sweep", "config=fusemax", "model=bert", "seq=1K", "--store", str(store), "--no-progress"]
    assert cli_main(good) == 0
    capsys.readouterr()
    extra = ["--store", str(store), "--no-progress"] if argv[0] == "sweep" else ["--out", str(tmp_path)]
    if "--out" in argv:
        extra = []
    assert cli_main(argv + extra) == 2
    err = capsys.readouterr().err.strip()
    last = err.splitlines()[-1]  # a summary line may precede the error; the error is one paragraph
    assert needle in last and last.startswith("einsim ") and "Traceback" not in err
    with ResultStore(store) as st:  # the point computed before the bad command is still there
        assert sum(r.status == "ok" for r in st.records()) == 1


def test_dask_and_local_give_identical_model_results(tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    pts = c.attention_points(c.Grid(models=("bert",), seqs=(1024, 4096), configs=("fusemax", "flat", "unfused")))
    local = run_sweep("einsim.sweep.points:simulate", pts, tmp_path / "l.sqlite", jobs=2, progress=False)
    with (
        distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster,
        distributed.Client(cluster) as client,
    ):
        dask = run_sweep(
            "einsim.sweep.points:simulate",
            pts,
            tmp_path / "d.sqlite",
            executor="dask",
            client=client,
            progress=False,
        )
        cli = [
            "sweep",
            "config=fusemax,flat,unfused",
            "model=bert",
            "seq=1K,4K",
            "--store",
            str(tmp_path / "c.sqlite"),
            "--executor",
            "dask",
            "--scheduler",
            cluster.scheduler_address,
            "--no-progress",
        ]
        assert cli_main(cli) == 0
        rep = [
            "reproduce",
            "--out",
            str(tmp_path / "fig"),
            "--quick",
            "--only",
            "fig7",
            "--no-progress",
            "--executor",
            "dask",
            "--scheduler",
            cluster.scheduler_address,
        ]
        assert cli_main(rep) == 0 and (tmp_path / "fig" / "fig7.png").exists()
    assert dask.rows == local.rows and len(local.rows) == len(pts)
    with ResultStore(tmp_path / "c.sqlite") as st:
        by_cli = {(r.params["config"], r.params["seq"]): r.result["cycles"] for r in st.records()}
    assert by_cli == {(r["config"], r["seq"]): r["cycles"] for r in local.rows}


def test_cascade_is_a_sweep_axis(tmp_path, capsys):
    from einsim.sweep import grid

    pts = grid(cascade=["cascade4_3pass", "twopass_partitioned", "cascade5_fa2"], model=["bert"], seq=[1024, 65536])
    rows = run_sweep("einsim.sweep.points:cascade", pts, tmp_path / "c.sqlite", executor="serial", progress=False).rows
    by = {(r["cascade"], r["seq"]): r for r in rows}
    assert [by[(c, 1024)]["passes"] for c in ("cascade4_3pass", "twopass_partitioned", "cascade5_fa2")] == [3, 2, 1]
    one_pass = by[("cascade5_fa2", 1024)], by[("cascade5_fa2", 65536)]
    assert one_pass[0]["live_footprint_words"] == one_pass[1]["live_footprint_words"]  # O(1) in M
    assert by[("cascade4_3pass", 65536)]["live_footprint_words"] == 65536  # O(M)
    macs = 64 * 12 * 1024 * 1024 * (64 + 64)
    assert all(by[(c, 1024)]["ops_mac"] == macs for c in ("cascade4_3pass", "cascade5_fa2"))
    bad = [
        "sweep",
        "--fn",
        "einsim.sweep.points:cascade",
        "cascade=gqa_fa2",
        "model=bert",
        "seq=1K",
        "--store",
        str(tmp_path / "c.sqlite"),
        "--no-progress",
    ]
    assert cli_main(bad) == 2 and "G, R" in capsys.readouterr().err
    assert cli_main([*bad[:6], "G=4", "R=3", *bad[6:]]) == 0


def test_gpu_model_alternatives_keeps_its_conclusion(capsys):
    """studies/gpu_model_alternatives.py (no GPU, no compile): on the committed records the co-resident
    schedule (the model since v14) puts more long-head DRAM counts within ±10 % than lockstep waves, and
    lockstep more than the dephased alternative."""
    import re

    from studies.gpu_model_alternatives import main

    main(["--part", "A"])
    m = re.search(r"within ±10 %: model (\d+), lockstep (\d+), dephased (\d+) of (\d+)", capsys.readouterr().out)
    assert m, "no summary line"
    model, lockstep, dephased, n = map(int, m.groups())
    assert n > 50 and model > lockstep > dephased


def test_local_memory_sectors_per_warp_golden():
    """studies/gpu_prefill_holdout.py --spills: a warp's local load or store moves 32 lanes x its width,
    in 32-byte sectors (lanes interleaved word by word): LDL 4, LDL.64 8, LDL.128 16 — what Nsight Compute
    counted for every spilling kernel of runs 54-55 (notes_gpu.md v21)."""
    from einsim.gpu.sass import Instr
    from studies.gpu_prefill_holdout import _local_sectors

    ops = ("LDL", "LDL.64", "LDL.128", "STL", "LDS")
    ins = tuple(Instr(0x10 * i, op, f"{op} R1, [R2]", 1, 7, 7, 0) for i, op in enumerate(ops))
    assert _local_sectors(ins, "LDL") == 4 + 8 + 16
    assert _local_sectors(ins, "STL") == 4


def test_spill_counters_absent_is_one_line(tmp_path, capsys):
    """--spills over records without ncu's local-memory counters says so instead of failing."""
    import json

    from studies.gpu_prefill_holdout import main

    path = tmp_path / "records.json"
    path.write_text(json.dumps([{"group": "prefill-tilings-d", "run": 1, "ms": 1.0, "kernels": [{"name": "k"}]}]))
    main(["--spills", "--group", "prefill-tilings-d", "--results", str(path)])
    assert "no `prefill-tilings-d` records with local-memory counters" in capsys.readouterr().out


def test_pair_order_golden():
    """studies/gpu_validation.py's ranking by pairs, by hand: pairs measured within 3 % are ties; a pair
    is misordered when the model's order differs from the measured one."""
    from studies.gpu_validation import is_launch_setting, pair_order

    def rec(v, ms, pred):
        return {"variant": v, "ms": ms, "predicted_ms": pred}

    shape1 = [rec("a", 1.0, 1.0), rec("b", 1.1, 0.9), rec("c", 1.01, 2.0)]  # a-c tied; a-b, b-c misordered
    shape2 = [rec("d", 1.0, 1.0), rec("e", 2.0, 3.0)]  # in order
    lone = [rec("f", 1.0, 5.0)]  # one record: no pair
    shapes, ordered, pairs, bad, worst = pair_order([shape1, shape2, lone], 0.03)
    assert (shapes, ordered, pairs, bad) == (2, 1, 3, 2)
    assert worst == pytest.approx(0.1)
    assert is_launch_setting("1-pass-decode-bn64-s3-w8") and is_launch_setting("linear-causal-chunk256")
    assert not is_launch_setting("1-pass-splitk-gqa-decode") and not is_launch_setting("3-pass")


def test_ranking_splits_the_shapes_timed_in_rounds():
    """studies/gpu_validation.py's ranking: the by-kind split is printed again over the shapes timed in
    rounds alone (every record with a first-round timing), whose pair orders are the kernels' own."""
    from studies.gpu_validation import ranking

    def rec(run, variant, ms, pred, single=None):
        return {"run": run, "B": 1, "H": 16, "G": 16, "N_Q": 4096, "N": 4096, "D": 128, "causal": False,
                "window": 0, "group": "main", "variant": variant, "ms": ms, "predicted_ms": pred,
                "ms_single": single}  # fmt: skip

    rows = [
        rec(14, "1-pass", 1.00, 1.00), rec(14, "1-pass-fa1", 0.90, 1.05),  # single timings: misordered
        rec(51, "1-pass", 1.00, 1.00, 1.0), rec(51, "1-pass-fa1", 1.10, 1.05, 1.1),  # rounds: in order
    ]  # fmt: skip
    out = ranking(rows)
    at = out.index("  timed in rounds, by kind (pairs: measured more than 3% apart):")
    assert "1 of     2 shapes in order;    1 of      2 pairs misordered" in out[2]  # all shapes
    assert "1 of     1 shapes in order;    0 of      1 pairs misordered" in out[at + 1]
    assert not any("sustained" in line for line in out)  # no shape timed by the sustained protocol
    rows += [rec(61, "1-pass", 1.00, 1.00, 1.0), rec(61, "1-pass-fa1", 0.96, 1.05, 0.95)]  # sustained: misordered
    rows[-2]["sustain_s"] = rows[-1]["sustain_s"] = 1.0
    out = ranking(rows)
    at = out.index("  timed sustained in rounds, by kind (pairs: measured more than 3% apart):")
    assert "0 of     1 shapes in order;    1 of      1 pairs misordered" in out[at + 1]


def test_sustained_order_summary_golden():
    """studies/gpu_sustained_order.py: one shape's timings by protocol, by hand: medians, FA1 / FA2 as the
    ratio of medians and the median of per-round ratios, the rounds FA1 was faster in, clocks."""
    from studies.gpu_sustained_order import summary

    def t(protocol, r, kernel, ms, mhz=None):
        return {"protocol": protocol, "round": r, "kernel": kernel, "ms": ms, **({"clock_mhz": mhz} if mhz else {})}

    rec = {"shape": [1, 16, 16384, 128], "timings": [
        t("burst", 0, "fa2-1pass", 4.0), t("burst", 0, "fa1", 3.8),
        t("burst", 1, "fa1", 4.1), t("burst", 1, "fa2-1pass", 4.0),
        t("burst", 2, "fa2-1pass", 3.9), t("burst", 2, "fa1", 3.9),
        t("sustained", 0, "fa2-1pass", 4.0, 1600), t("sustained", 0, "fa1", 4.2, 1550),
    ]}  # fmt: skip
    s = summary(rec, "burst")
    assert s["ms"] == {"fa2-1pass": 4.0, "fa1": 3.9} and s["ratio"] == 3.9 / 4.0
    assert s["ratio_rounds"] == 1.0 and s["fa1_faster"] == 1 and s["rounds"] == 3  # 0.95, 1.025, 1.0
    assert s["clock_mhz"] == {"fa2-1pass": None, "fa1": None}
    s = summary(rec, "sustained")
    assert abs(s["ratio"] - 1.05) < 1e-12 and s["clock_mhz"] == {"fa2-1pass": 1600, "fa1": 1550}


def test_ws_phase_summary_golden():
    """studies/gpu_ws_phase.py: a case's period and the second warpgroup's offset behind the first, by hand.
    Two query tiles of four K/V tiles, both warpgroups stepping 1000 SM cycles a tile; the second 500 behind
    in the first tile's loop and 1250 behind (250 modulo the period) in the second's; a tile the second
    warpgroup did not record (-1) is left out, with the step into it."""
    from studies.gpu_ws_phase import summary

    first = [[t * 1000, t * 1000 + 500] for t in range(4)]
    second = [[10**6 + t * 1000, 10**6 + t * 1000 + 1250] for t in range(4)]
    second[3][1] = -1
    s = summary({"clocks": [first, second]})
    assert s["period"] == 1000 and s["tiles"] == 7  # 6 + 4 steps of 1000; 4 + 3 offsets
    assert s["quarters"] == (0.0, 3 / 7, 4 / 7, 0.0)  # 250 in the second quarter, 500 in the third
    assert s["quartiles"] == (250, 500, 500)


def test_ws_phase_first_and_later_jobs_golden():
    """studies/gpu_ws_phase.py: a persistent case's jobs split into each program's first job (index below the
    program count) and its later ones, by hand. Two programs, four jobs kept every other one (stride 2: jobs
    0, 2, 4, 6): jobs 0 only is a first job, lag 600 and steps of 3000; the later ones lag 1500 with steps of
    2800."""
    from studies.gpu_ws_phase import first_and_later

    def job(step, lag):
        return [[t * step, t * step + lag] for t in range(3)]

    case = {"clocks": [job(3000, 600), job(2800, 1500), job(2800, 1500), job(2800, 1500)]}
    first, later = first_and_later(case, programs=2, stride=2)
    assert (first["period"], first["lag"], first["tiles"]) == (3000, 600, 3)
    assert (later["period"], later["lag"], later["tiles"]) == (2800, 1500, 9)
    first, later = first_and_later(case, programs=4, stride=1)  # jobs 0-3 all first jobs
    assert first["tiles"] == 12 and later["tiles"] == 0


def test_ws_profile_regions_golden():
    """studies/gpu_ws_profile.py: a consumer loop's stall samples by region, by hand: the QK wgmma, its
    wait, the softmax, the V tile's barrier wait, the PV wgmma, its wait and the rest; code executed fewer
    times than the loop (epilogue, producer) is left out."""
    from studies.gpu_ws_profile import regions

    n = 100.0
    rows = [
        (0x00, "SYNCS.PHASECHK.TRANS64.TRYWAIT P0, [UR6+0x30110], R9", n, {"selected": 1}),  # before any QK
        (0x10, "HGMMA.64x128x16.F32.BF16 R24, gdesc[UR44], RZ, !UPT", n, {"wait": 2}),
        (0x20, "HGMMA.64x128x16.F32.BF16 R24, gdesc[UR16], R24, gsb0", n, {"mio": 3}),
        (0x30, "WARPGROUP.DEPBAR.LE gsb0, 0x0", n, {"barrier": 10}),
        (0x40, "FMNMX R16, R14, R13, !PT", n, {"wait": 4}),
        (0x50, "MUFU.EX2 R83, R83", n, {"selected": 5}),
        (0x60, "SYNCS.PHASECHK.TRANS64.TRYWAIT P0, [UR12+0x30100], R9", n, {"barrier": 6}),
        (0x70, "@!P0 BRA 0xa5b0", n, {"selected": 1}),
        (0x80, "FMUL R88, R88, R7", n, {"selected": 7}),
        (0x90, "HGMMA.64x128x16.F32.BF16 R88, R24, gdesc[UR16].tnspB, R88, gsb0", n, {"wait": 8}),
        (0xA0, "WARPGROUP.DEPBAR.LE gsb0, 0x0", n, {"barrier": 9}),
        (0xB0, "@!P2 SYNCS.ARRIVE.TRANS64.ART0 RZ, [UR11+0x30170], R7", n, {"barrier": 11}),
        (0xC0, "STG.E [R2], R4", 1.0, {"selected": 50}),  # epilogue: once
        (0xD0, "UTMALDG.2D [UR12], [UR6]", n, {"long_sb": 70}),  # the producer's loop: after the loop ended
    ]
    by = regions(rows)
    got = {k: sum(v for r, v in c.items() if r != "instructions") for k, c in by.items()}
    assert got == {"QK issue": 5, "QK wait": 10, "softmax": 16, "V wait": 7, "PV issue": 8, "PV wait": 9,
                   "loop rest": 11}  # fmt: skip


def test_ws_profile_release_waits_golden():
    """studies/gpu_ws_profile.py: the producer's waits for the consumers' releases, by hand. Of the try-waits
    run once per K/V tile, the consumers' waits for a loaded K tile share one barrier (0x30110, one copy per
    consumer) and are left out; the producer's four (each with its retry branch) are its shares of all 200
    samples, in address order. A kernel with fewer than four gives ()."""
    from studies.gpu_ws_profile import release_waits

    n = 64.0
    rows = [
        (0x00, "SYNCS.PHASECHK.TRANS64.TRYWAIT P0, [UR6+0x30110], R9", n, {"wait": 5}),  # consumer 0: K loaded
        (0x10, "@!P0 BRA 0x500", n, {"long_sb": 5}),
        (0x20, "HGMMA.64x128x16.F32.BF16 R24, gdesc[UR44], RZ, !UPT", n, {"wait": 30}),
        (0x30, "SYNCS.PHASECHK.TRANS64.TRYWAIT P0, [UR6+0x30110], R9", n, {"wait": 5}),  # consumer 1: K loaded
        (0x40, "@!P0 BRA 0x520", n, {"long_sb": 5}),
        (0x50, "SYNCS.PHASECHK.TRANS64.TRYWAIT P0, [UR18+0x30150], R3", n, {"wait": 2}),  # producer: K, first
        (0x60, "@!P0 BRA 0x540", n, {"long_sb": 38}),
        (0x70, "SYNCS.PHASECHK.TRANS64.TRYWAIT P0, [UR18+0x30140], R3", n, {"wait": 1}),  # K, second
        (0x80, "@!P0 BRA 0x560", n, {"long_sb": 9}),
        (0x90, "SYNCS.PHASECHK.TRANS64.TRYWAIT P0, [UR18+0x30170], R3", n, {"wait": 2}),  # V, first
        (0xA0, "@!P0 BRA 0x580", n, {"long_sb": 18}),
        (0xB0, "SYNCS.PHASECHK.TRANS64.TRYWAIT P0, [UR18+0x30160], R3", n, {"wait": 0}),  # V, second
        (0xC0, "@!P0 BRA 0x5a0", n, {"long_sb": 10}),
        (0xD0, "SYNCS.PHASECHK.TRANS64.TRYWAIT P0, [UR9+0x30180], R3", 2.0, {"wait": 50}),  # once per job: out
        (0xE0, "@!P0 BRA 0x5c0", 2.0, {"long_sb": 20}),
    ]
    assert release_waits(rows) == pytest.approx((0.2, 0.05, 0.1, 0.05))
    assert release_waits(rows[:9]) == ()


def test_ws_profile_mio_throttle_share_golden():
    """studies/gpu_ws_profile.py: the consumer loops' share of samples stalled on a full MIO queue, by hand: of
    the rows run once per K/V tile (64 times: the most any wgmma runs), 6 "mio" of 40 samples; the row run
    twice (the epilogue) is left out. No wgmma or no samples: 0."""
    from studies.gpu_ws_profile import mio_throttle_share

    rows = [
        (0x00, "HGMMA.64x128x16.F32.BF16 R24, gdesc[UR44], RZ, !UPT", 64.0, {"wait": 8, "mio": 2}),
        (0x10, "MUFU.EX2 R37, R37", 64.0, {"mio": 4, "selected": 6}),
        (0x20, "FADD R80, R20, R67", 64.0, {"not_selected": 20}),
        (0x30, "STS.128 [R3], R8", 2.0, {"mio": 50}),
    ]
    assert mio_throttle_share(rows) == pytest.approx(6 / 40)
    assert mio_throttle_share(rows[1:]) == 0.0
    assert mio_throttle_share([(0x00, "HGMMA.64x128x16.F32.BF16 R24, gdesc[UR44], RZ, !UPT", 64.0, {})]) == 0.0


def test_ws_profile_implied_clock_golden():
    """studies/gpu_ws_profile.py: the clock the consumer loops' samples imply, by hand: 802 instructions over
    two consumer copies (401 per warp and tile), selected on 100 of 1000 samples -> 4010 cycles per tile; at
    2 us per tile, 2005 MHz. No samples: zeros, not a division by zero."""
    from collections import Counter

    from studies.gpu_ws_profile import implied_clock

    by = {
        "softmax": Counter(instructions=800, selected=100, wait=400),
        "QK wait": Counter(instructions=2, barrier=500),
    }
    cycles, mhz = implied_clock(by, 2e-6)
    assert cycles == pytest.approx(4010.0)
    assert mhz == pytest.approx(2005.0)
    assert implied_clock({"softmax": Counter(instructions=4)}, 1e-6) == (0.0, 0.0)


def test_ws_profile_compare_names_an_unknown_kernel_set(tmp_path):
    """studies/gpu_ws_profile.py --compare: a time file naming a kernel set the script does not have is one
    line naming the sets, not a traceback."""
    import gzip
    import json

    from studies.gpu_ws_profile import compare

    with gzip.open(tmp_path / "ws_source.csv.gz", "wt") as f:
        f.write('"Kernel Name","attn_pass_kernel",\n')
    (tmp_path / "ws_time.json").write_text(json.dumps({"card": "NVIDIA H100", "kernels": "bogus", "rounds": 1}))
    with pytest.raises(SystemExit, match="'bogus' is not one of"):
        compare(tmp_path)


def test_clock_probe_show_table_and_bad_file(tmp_path, capsys):
    """studies/gpu_clock_probe.py --show: the sampled clocks as a table (a failed case and a case without
    samples each one line), and a file that is not a probe's JSON one line, not a traceback."""
    import json

    from studies.gpu_clock_probe import show

    data = {
        "card": "NVIDIA H100 80GB HBM3",
        "seconds": 2.5,
        "sample_ms": 20,
        "cases": [
            {"label": "fa2", "ms": 3.782, "clock_mhz": 1620.0, "clock_q1_mhz": 1470.0, "clock_q3_mhz": 1665.0,
             "power_w": 699.3},
            {"label": "odd", "ms": 1.0},
            {"label": "bad", "error": "RuntimeError: no"},
        ],
    }  # fmt: skip
    path = tmp_path / "gpu_clock_probe.json"
    path.write_text(json.dumps(data))
    show(path)
    out = capsys.readouterr().out.splitlines()
    assert out[2].split() == ["fa2", "3.782", "1620", "1470-1665", "699"]
    assert "(no clock samples)" in out[3] and "failed: RuntimeError: no" in out[4]
    path.write_text("[]")
    with pytest.raises(SystemExit, match="not a gpu_clock_probe.json"):
        show(path)


def test_variant_holdout_compare_against_a_registered_table(tmp_path):
    """studies/gpu_variant_holdout.py: a registered table read back, and a run's records held against it —
    errors, bytes and the order per shape (two variants 10 % apart that the table orders the other way)."""
    from studies.gpu_variant_holdout import GROUP, compare, registered

    table = tmp_path / "predicted.txt"
    table.write_text(
        "# variants-e: predicted on H100 SXM\n"
        "1-pass               2x12/12 N12288 D128 c0  ms   1.0900  dram_MB     300.0\n"
        "3-pass               2x12/12 N12288 D128 c0  ms   1.0000  dram_MB     600.0\n"
    )
    reg = registered(table)
    assert reg[("1-pass", 2, 12, 12, 12288, 128, 0)] == (1.09, 300.0e6)

    def rec(v, ms, rd):
        return {"group": GROUP, "run": 9, "card": "NVIDIA H100 80GB HBM3", "variant": v, "cascade": "x.ein", "B": 2,
                "H": 12, "G": 12, "N": 12288, "N_Q": 12288, "D": 128, "causal": False, "ms": ms,
                "dram_read_bytes": rd, "dram_write_bytes": 0}  # fmt: skip

    out = "\n".join(compare([rec("1-pass", 1.0, 300e6), rec("3-pass", 1.1, 500e6)], None, reg))
    assert "time: within ±10 % 2/2" in out and "DRAM bytes: within ±10 % 1/2" in out
    assert "misordered [('1-pass', '3-pass')]" in out and "0 of 1 shapes" in out
    missing = compare([rec("2-pass", 1.0, 1e6)], 9, reg)
    assert len(missing) == 1 and "no prediction for 1 of run 9's records" in missing[0]


def test_benchmark_launch_golden():
    """The launch the GPU benchmark gives an einsim case without one (studies.gpu_cases.benchmark_launch),
    which the holdout registrations must predict: the tuned 1-pass launch where the card was tuned, the
    lazy 1-pass at D=128 on the 2-/3-pass launch, einsim's own choice (None) otherwise."""
    from studies.gpu_cases import Case, benchmark_launch

    tuned = {64: (128, 64, 8, 3)}
    lazy128 = Case("1-pass-lazy", 2, 12, 12, 4096, 4096, 128, False, cascade="cascade5_fa2.ein")
    assert benchmark_launch(lazy128, tuned) == (128, 64, 8, 3, False, True)
    lazy64 = Case("1-pass-lazy", 2, 12, 12, 4096, 4096, 64, False, cascade="cascade5_fa2.ein")
    assert benchmark_launch(lazy64, tuned) == (128, 64, 8, 3, False, True)
    one64 = Case("1-pass", 2, 12, 12, 4096, 4096, 64, False, cascade="cascade5_fa2.ein")
    assert benchmark_launch(one64, tuned) == (128, 64, 8, 3, False, False)
    assert benchmark_launch(one64, {}) is None
    three = Case("3-pass", 2, 12, 12, 4096, 4096, 128, False, cascade="cascade4_3pass.ein")
    assert benchmark_launch(three, tuned) is None
    named = Case("1-pass-bm64-bn64-w4-s3", 2, 12, 12, 4096, 4096, 64, False, cascade="x.ein", tiling=(64, 64, 4, 3))
    assert benchmark_launch(named, tuned) == (64, 64, 4, 3)
    assert benchmark_launch(Case("sdpa-flash", 2, 12, 12, 4096, 4096, 64, False), tuned) is None


def test_pingpong_show_by_hand(tmp_path, capsys):
    """studies/gpu_pingpong.py --show: per shape and protocol the median ms of each variant and the ratios, by
    hand (FA2 1.0 and 2.0 ms -> 1.5; FA1 3.0; FA2 ping-pong 2.0; FA1 ping-pong 6.0: FA1/FA2 2.0, with the
    schedule 3.0, FA2 pp/plain 1.333, FA1 pp/plain 2.0); a file missing a field is one line, not a traceback."""
    from studies.gpu_pingpong import main

    ms = {"fa2-1pass": [1.0, 2.0], "fa1": [3.0, 3.0], "fa2-1pass-pp": [2.0, 2.0], "fa1-pp": [6.0, 6.0]}
    timings = [{"protocol": p, "round": r, "kernel": k, "ms": v[r]} for p in ("burst", "sustained")
               for k, v in ms.items() for r in range(2)]  # fmt: skip
    check = {"fa2-1pass-pp": {"equal": True, "rel_frobenius": 0.0}, "fa1-pp": {"equal": False, "rel_frobenius": 2e-3}}
    data = {"card": "GPU", "rounds": 2, "sustain_s": 1.0, "shapes": [{"shape": [1, 2, 3, 4], "check": check,
                                                                      "timings": timings}]}  # fmt: skip
    path = tmp_path / "p.json"
    path.write_text(json.dumps(data))
    main(["--show", str(path)])
    out = capsys.readouterr().out.splitlines()
    row = [line for line in out if line.startswith("1x2x3x4") and "sustained" in line][0].split()
    assert [float(x) for x in row[2:]] == pytest.approx([1.5, 3.0, 2.0, 6.0, 2.0, 3.0, 1.333, 2.0], abs=1e-3)
    assert "fa2-1pass-pp: equal, fa1-pp: rel 2.0e-03" in out[-1]
    del data["shapes"][0]["timings"]
    path.write_text(json.dumps(data))
    with pytest.raises(SystemExit, match="not a gpu_pingpong.json"):
        main(["--show", str(path)])
