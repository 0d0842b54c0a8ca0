"""Nsight Compute for the GPU benchmark: metrics, launching ncu on the benchmark's child mode, and
splitting its raw CSV into per-case kernel records (imports nothing from torch or triton).

Input: the cases to profile (`studies.gpu_cases.Case`), grouped; the benchmark script, whose
`--ncu-child FILE` mode runs each case once between profiler start/stop, every launch preceded by a
marker kernel. Output: per case key (`key#rN` for repeated profiles) the kernels' metrics and the DRAM
bytes read (`dram__bytes_read.sum`) and written (L2 write sectors x 32: `dram__bytes_write.sum` misses
data still in L2, gpu.md §3), SM<-L2 bytes and ncu's duration. `--clock-control none` keeps the clocks
the timing runs saw.
"""

from __future__ import annotations

import csv
import glob
import io
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from studies.gpu_cases import Case

NCU_METRICS = [
    "dram__bytes_read.sum",
    "dram__bytes_write.sum",
    "lts__t_sectors_srcunit_tex_op_write.sum",
    "lts__t_sectors_srcunit_tex_op_read.sum",
    "gpu__time_duration.sum",
    "launch__registers_per_thread",
    "launch__occupancy_limit_registers",
    "launch__occupancy_limit_shared_mem",
    "launch__grid_size",
]
#: register spills (notes_gpu.md v21): local-memory sectors loaded and stored through L1, the loads' L1 hits,
#: and instructions executed (all warps) to hold against the compiled kernel's LDL/STL counts
LOCAL_METRICS = [
    "l1tex__t_sectors_pipe_lsu_mem_local_op_ld.sum",
    "l1tex__t_sectors_pipe_lsu_mem_local_op_ld_lookup_hit.sum",
    "l1tex__t_sectors_pipe_lsu_mem_local_op_st.sum",
    "l1tex__t_requests_pipe_lsu_mem_local_op_ld.sum",
    "smsp__inst_executed.sum",
]
MARKER = "einsim_ncu_marker"
CORE_METRICS = NCU_METRICS[:5]
PARSED_METRICS = NCU_METRICS + LOCAL_METRICS


def _num(x: str) -> float | None:
    x = x.replace(",", "").strip()
    try:
        return float(x)
    except ValueError:
        return None


def parse_ncu_csv(text: str, keys: list[str]) -> dict[str, dict]:
    """Split ncu's raw CSV (one row per kernel, in launch order) at marker kernels into cases."""
    lines = text.splitlines()
    start = next((i for i, ln in enumerate(lines) if ln.startswith('"ID"')), None)
    if start is None:
        return {}
    rows = list(csv.reader(io.StringIO("\n".join(lines[start:]))))
    header, body = rows[0], rows[1:]
    if body and body[0] and body[0][0] == "":
        body = body[1:]  # units row
    col = {h: i for i, h in enumerate(header)}
    name_col = col.get("Kernel Name", col.get("Function Name"))
    out: dict[str, dict] = {}
    idx = -1
    for r in body:
        if len(r) < len(header):
            continue
        name = r[name_col]
        if MARKER in name:
            idx += 1
            continue
        if idx < 0 or idx >= len(keys):
            continue
        rec = out.setdefault(keys[idx], {"kernels": []})
        rec["kernels"].append({"name": name[:80], **{m: _num(r[col[m]]) for m in PARSED_METRICS if m in col}})
    for rec in out.values():

        def tot(m: str, ks=rec["kernels"]) -> float:
            return sum(k.get(m) or 0.0 for k in ks)

        rec["dram_read_bytes"] = tot("dram__bytes_read.sum")
        rec["dram_write_bytes"] = 32 * tot("lts__t_sectors_srcunit_tex_op_write.sum")
        rec["dram_write_counter_bytes"] = tot("dram__bytes_write.sum")
        rec["l2_read_bytes"] = 32 * tot("lts__t_sectors_srcunit_tex_op_read.sum")
        rec["ncu_ms"] = tot("gpu__time_duration.sum") / 1e6
    return out


def _ncu_keys(cases: list[Case]) -> list[str]:
    """One key per marker: a case profiled `ncu_repeats` times gives `key`, `key#r1`, `key#r2`, ..."""
    return [c.key if i == 0 else f"{c.key}#r{i}" for c in cases for i in range(c.extra.get("ncu_repeats", 1))]


def ncu_binary() -> str | None:
    """Nsight Compute's command line, from PATH or the image's install folder (None: not installed)."""
    return shutil.which("ncu") or next(iter(sorted(glob.glob("/opt/nvidia/nsight-compute/*/ncu"))), None)


def ncu_command(ncu: str, metrics: list[str], log: str, child: list[str]) -> list[str]:
    """ncu profiling `child` (argv after the interpreter) between its profiler start/stop calls, clocks
    as the timing runs saw them, raw CSV in base units to `log`."""
    return [
        ncu, "--clock-control", "none", "--profile-from-start", "off", "--csv", "--page", "raw",
        "--print-units", "base", "--metrics", ",".join(metrics), "--log-file", log, sys.executable, *child,
    ]  # fmt: skip


def profile_child(metrics: list[str], child: list[str], log: str, timeout_s: float, raw_copy: str) -> str | None:
    """Run `child` (argv after the interpreter) under ncu (`ncu_command`), print the tail of its output
    and copy the raw CSV to `raw_copy`. Returns the CSV text ('' if ncu wrote none), None without ncu."""
    ncu = ncu_binary()
    if ncu is None:
        print("# ncu: not found")
        return None
    try:
        p = subprocess.run(ncu_command(ncu, metrics, log, child), capture_output=True, text=True,
                           timeout=max(10, timeout_s))  # fmt: skip
        print((p.stdout + p.stderr)[-1500:])
    except subprocess.TimeoutExpired:
        print("# ncu: timed out")
    text = open(log).read() if os.path.exists(log) else ""
    with open(raw_copy, "w") as f:
        f.write(text)
    return text


def run_ncu(
    groups: dict[str, list[Case]], out_dir: str, deadline: float, interpret: bool, extra: dict | None = None
) -> dict[str, dict]:
    """Profile each group of cases under ncu. `extra` names the groups that add counters to NCU_METRICS
    (e.g. LOCAL_METRICS); a metric this ncu lacks makes it profile nothing, and the group falls back to
    the standard list, then the core one."""
    ncu = ncu_binary()
    if ncu is None or interpret:
        print("# ncu: not run (no ncu or interpreter mode)")
        return {}
    results: dict[str, dict] = {}
    raw = []
    for name, cases in groups.items():
        tries = [NCU_METRICS + extra[name]] if extra and name in extra else []
        tries += [NCU_METRICS, CORE_METRICS]
        left = deadline - time.time()
        if left < 30 or not cases:
            print(f"# ncu group {name}: skipped ({left:.0f} s left)")
            continue
        path = os.path.join("/tmp", f"einsim_ncu_{name}.json")
        json.dump([asdict(c) for c in cases], open(path, "w"))
        log = os.path.join("/tmp", f"einsim_ncu_{name}.csv")
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gpu_benchmark.py")
        keys = _ncu_keys(cases)
        t0 = time.time()
        got, tail, text = {}, "", ""
        for metrics in tries:
            left = deadline - time.time() - 15
            if got or left < 10:
                break
            if tail:
                print(f"# ncu group {name}: nothing parsed; falling back to {metrics}")
                print(tail)
            if os.path.exists(log):
                os.remove(log)
            cmd = ncu_command(ncu, metrics, log, [script, "--ncu-child", path])
            try:
                p = subprocess.run(cmd, capture_output=True, text=True, timeout=left)
                tail = (p.stdout + p.stderr)[-1500:]
            except subprocess.TimeoutExpired as e:
                tail = f"timeout after {time.time() - t0:.0f} s: {str(e.stdout)[-500:]}"
            text = open(log).read() if os.path.exists(log) else ""
            got = parse_ncu_csv(text, keys)
        raw.append(f"### group {name}\n{text}")
        results.update(got)
        print(f"# ncu group {name}: {len(got)}/{len(keys)} profiles in {time.time() - t0:.0f} s")
        if len(got) < len(keys):
            print(tail)
    with open(os.path.join(out_dir, "ncu_raw.csv"), "w") as f:
        f.write("\n".join(raw))
    return results
