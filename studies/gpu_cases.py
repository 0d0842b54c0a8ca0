"""The cases of the GPU studies and how to run one (studies/gpu_benchmark.py and the probes).

Input: the library cascades (workloads/cascades) and a case (variant, shape, tiling). Output: the plans
that lower (`library_plans`), inputs, a callable per variant (einsim's kernels, SDPA with a named
backend, an unfused torch path), its error against float64 (`check`), its median time (`time_case`),
the model's prediction (`predict_case`) and the machine's description (`environment`). Torch and
triton are imported inside the functions, so the module imports on a machine without them.
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import json
import math
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


@dataclass
class Case:
    """One (variant, shape) to check, time and maybe profile."""

    variant: str
    B: int
    H: int
    G: int
    N_Q: int
    N_KV: int
    D: int
    causal: bool
    dtype: str = "bf16"
    cascade: str = ""  # library file for einsim variants
    group: str = "main"
    profile: bool = False
    tiling: tuple | None = None
    extra: dict = field(default_factory=dict)
    #: sliding-window width W (0: none); the window is causal: N_KV - N_Q - W < m - p <= N_KV - N_Q
    window: int = 0

    @property
    def key(self) -> str:
        w = f"|w{self.window}" if self.window else ""
        return (
            f"{self.variant}|{self.B}x{self.H}x{self.G}|{self.N_Q}x{self.N_KV}|{self.D}|{int(self.causal)}|{self.dtype}{w}"
        )

    def allowed(self, rows, device: str):
        """Boolean [rows, N_KV] mask of visible keys (causal / window), or None for full attention."""
        import torch

        if not self.causal:
            return None
        d = torch.arange(self.N_KV, device=device)[None, :] - rows[:, None]
        hi = self.N_KV - self.N_Q
        ok = d <= hi
        if self.window:
            ok &= d > hi - self.window
        return ok


def library_plans(interpret: bool):
    """Every library cascade that lowers, keyed by its plan's properties."""
    import einsim
    from einsim.gpu.lower import lower

    out = {}
    for path in sorted(glob.glob(os.path.join(ROOT, "workloads", "cascades", "*.ein"))):
        c = einsim.parse_file(path)
        try:
            plan = lower(c)
        except einsim.EinsimError as e:
            print(f"# not lowered: {os.path.basename(path)}: {e}")
            continue
        if not plan.stable:
            continue  # max-free cascades overflow on real data; lowered and tested, not benchmarked
        key = (plan.passes, plan.causal, plan.grouped, plan.score_fns, plan.window, plan.split_k)
        if not plan.linear and plan.scale(64) == 1.0 and plan.scale(128) == 1.0:
            continue  # keep the scaled variant of each structure
        if key in out and ALTERNATES.get(c.name):
            # another algorithm with the same pass structure (FA1, the partitioned 2-pass): keyed by its
            # variant name, a str, which none of the structure filters below matches
            key = ALTERNATES[c.name]
        out.setdefault(key, (os.path.basename(path), plan))
    return out


def structures(plans: dict) -> list:
    """The plans keyed by pass structure (not the alternates), sorted by key."""
    return sorted((k, v) for k, v in plans.items() if isinstance(k, tuple))


def prefill_variants(plans: dict, causal: bool = False, grouped: bool = False) -> list[tuple[str, str]]:
    """(variant name, library file) of every lowered plan with this band and grouping and no score
    function, window or split-K: `1-pass`, `2-pass`, `3-pass` (`-gqa` appended for grouped plans)."""
    return [
        (f"{k[0]}-pass" + ("-gqa" if grouped else ""), fname)
        for k, (fname, _) in structures(plans)
        if k[1] == causal and k[2] == grouped and not k[3] and not k[4] and not k[5]
    ]


def alternate_plans(plans: dict) -> list[tuple[str, str]]:
    """(variant name, library file) of the library's named alternates (FA1, the partitioned 2-pass)."""
    return sorted((k, f) for k, (f, _) in plans.items() if isinstance(k, str))


def one_pass_file(plans: dict, causal: bool = False, window: bool = False) -> str | None:
    """The library file of the plain 1-pass plan (no score function, one query head per K/V head, not
    split-K) with this band: non-causal, causal, or a sliding window (causal with a lower bound)."""
    return next(
        (
            f
            for k, (f, _) in structures(plans)
            if k[0] == 1 and k[1] == causal and not k[2] and not k[3] and k[4] == window and not k[5]
        ),
        None,
    )


def probe_parser(doc: str, budget_s: float) -> argparse.ArgumentParser:
    """The probe scripts' shared options: --out (the JSON's folder; $OUT on the lent machine) and
    --budget-s (stop starting entries after this many seconds)."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--out", default=os.environ.get("OUT", "/tmp/einsim_gpu_out"))
    ap.add_argument("--budget-s", type=float, default=budget_s)
    return ap


def start_probe(out: str, device: str = "cuda") -> tuple[dict, dict]:
    """Create `out`, print the card and versions, and return (environment, the library's plans)."""
    os.makedirs(out, exist_ok=True)
    env = environment(device)
    cudnn = f"  cudnn {env['cudnn']}" if env.get("cudnn") else ""
    print(f"# card: {env['card']}  torch {env['torch']}  triton {env['triton']}{cudnn}", flush=True)
    return env, library_plans(False)


def save_probe(out: str, name: str, env: dict, recs: list[dict], **extra) -> None:
    """Write {"env", **extra, "records"} to out/name (rewritten after every entry, so a hang loses one)."""
    with open(os.path.join(out, name), "w") as fh:
        json.dump({"env": env, **extra, "records": recs}, fh, indent=1, default=str)


def measure_entry(env: dict, shape_index: int, name: str, case: Case, plans, device: str, seed: int, t0: float,
                  window_field: bool = False) -> dict:  # fmt: skip
    """A probe entry: the case checked and timed (`measure`), as a record with its shape, name and the
    seconds since `t0`; printed. `window_field` records the window width (0 without one)."""
    rec = {"card": env["card"], "shape_index": shape_index, "name": name, "B": case.B, "H": case.H,
           "N_Q": case.N_Q, "N_KV": case.N_KV, "D": case.D, "causal": case.causal}  # fmt: skip
    if window_field:
        rec["window"] = case.window
    rec.update(dtype=case.dtype, tiling=case.tiling)
    rec.update(measure(case, plans, device, seed=seed))
    rec["t_s"] = round(time.time() - t0, 1)
    print_entry(rec)
    return rec


def print_entry(rec: dict) -> None:
    """One probe entry: its name, shape, TFLOP/s, error and any failure."""
    shape = f"{rec['B']}x{rec['H']} {rec['N_Q']}/{rec['N_KV']} D={rec['D']} causal={int(rec['causal'])}"
    print(
        f"{rec['name']:>14} {shape}: {rec.get('tflops', 0) or 0:6.1f} TF/s "
        f"err {rec.get('rel_err', float('nan')):.1e} {rec.get('error', '')[:120]}",
        flush=True,
    )


def print_cudnn_ratios(card: str, recs: list[dict]) -> None:
    """The probes' closing table: each record's TFLOP/s and its ratio to the `sdpa-cudnn` record of the
    same shape (records carry `shape_index`, `name`, the shape fields and what `measure` returned)."""
    print(f"\n# {card}: bf16, TFLOP/s (causal FLOPs halved), ratio to cuDNN of the same shape")
    for si in sorted({r["shape_index"] for r in recs}):
        rs = [r for r in recs if r["shape_index"] == si]
        cud = next((r.get("tflops") for r in rs if r["name"] == "sdpa-cudnn"), None)
        for r in rs:
            tf = r.get("tflops")
            ratio = f"{tf / cud:.2f}x" if tf and cud else "-"
            ok = "" if r.get("correct", True) else "WRONG"
            w = f" W={r['window']}" if "window" in r else ""
            print(
                f"{r['B']}x{r['H']} {r['N_Q']}/{r['N_KV']} D={r['D']} causal={int(r['causal'])}{w} {r['name']:>14} "
                f"{(tf or 0):6.0f} TF/s {ratio:>6} err {r.get('rel_err', float('nan')):.1e} {ok} "
                f"{r.get('error', '')[:100]}"
            )


#: relative Frobenius error against float64 that counts as correct (fp32 runs tf32 dots on the GPU)
TOLERANCE = {"bf16": 1e-2, "fp16": 1e-3, "fp32": 1e-2}


def measure(case: Case, plans, device: str, seed: int) -> dict:
    """Check one case against float64 (within TOLERANCE) and time it: `rel_err`, `correct`, `ms`,
    `tflops`, or `error` when it fails; frees the GPU's cached memory after."""
    import torch

    rec: dict = {}
    try:
        err = check(case, plans, device, seed=seed)
        rec.update(rel_err=err, correct=bool(err <= TOLERANCE[case.dtype]))
        rec.update(time_case(case, plans, device))
    except Exception as e:  # noqa: BLE001 — an unsupported configuration is a result, not a crash
        rec["error"] = repr(e)[:300]
    if device == "cuda":
        torch.cuda.empty_cache()
    return rec


#: cascades timed beside the first cascade of their pass structure, by cascade name -> variant name
ALTERNATES = {"flash_attention1": "1-pass-fa1", "twopass_partitioned": "2-pass-partitioned"}


def make_inputs(case: Case, seed: int, device: str):
    import torch

    dt = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[case.dtype]
    g = torch.Generator(device=device).manual_seed(seed)
    mk = lambda *s: torch.randn(*s, device=device, generator=g, dtype=torch.float32).to(dt)
    return (
        mk(case.B, case.H, case.N_Q, case.D),
        mk(case.B, case.G, case.N_KV, case.D),
        mk(case.B, case.G, case.N_KV, case.D),
    )


def make_fn(case: Case, plans, q, k, v):
    """(callable that runs the variant once and returns O, O buffer to poison or None)."""
    import torch
    import torch.nn.functional as F

    scale = case.D**-0.5
    base = case.variant.removesuffix("-decode")
    if case.cascade:
        from einsim.gpu.plan import Tiling
        from einsim.gpu.runtime import prepare

        plan = next(p for f, p in plans.values() if f == case.cascade)
        t = Tiling(*case.tiling) if case.tiling else None
        run, o = prepare(plan, q, k, v, t, {"W": case.window} if plan.window else None)
        return run, o
    gqa = case.G != case.H
    if base.startswith("sdpa-"):
        from torch.nn.attention import SDPBackend, sdpa_kernel

        backend = {
            "sdpa-flash": SDPBackend.FLASH_ATTENTION,
            "sdpa-cudnn": SDPBackend.CUDNN_ATTENTION,
            "sdpa-efficient": SDPBackend.EFFICIENT_ATTENTION,
        }[base]
        kk, vv = k, v
        kw = {}
        if gqa:
            if base == "sdpa-flash":
                kw["enable_gqa"] = True
            else:
                r = case.H // case.G
                kk, vv = k.repeat_interleave(r, 1), v.repeat_interleave(r, 1)

        if case.window:  # the window as a boolean mask (flash has none)
            kw["attn_mask"] = case.allowed(torch.arange(case.N_Q, device=q.device), q.device)

        def run():
            with sdpa_kernel([backend]):
                causal = case.causal and not case.window
                return F.scaled_dot_product_attention(q, kk, vv, is_causal=causal, scale=scale, **kw)

        return run, None
    if base == "torch-unfused":
        r = case.H // case.G
        B, H, NQ, NK, D = case.B, case.H, case.N_Q, case.N_KV, case.D
        q3 = q.reshape(B * H, NQ, D)
        mask = None
        if case.causal:
            mask = ~case.allowed(torch.arange(NQ, device=q.device), q.device)

        def run():
            kk = k.repeat_interleave(r, 1) if r > 1 else k
            vv = v.repeat_interleave(r, 1) if r > 1 else v
            s = torch.bmm(q3 * scale, kk.reshape(B * H, NK, D).transpose(1, 2))
            if mask is not None:
                s = s.masked_fill_(mask, float("-inf"))
            p = torch.softmax(s, dim=-1)
            return torch.bmm(p, vv.reshape(B * H, NK, D)).reshape(B, H, NQ, D)

        return run, None
    if base == "torch-linear":

        def run():  # feature maps in the input dtype, the state and the products in fp32
            fq, fk = _phi(q).float(), _phi(k).float()
            kv = torch.einsum("bhnd,bhne->bhde", fk, v.float())
            num = torch.einsum("bhnd,bhde->bhne", fq, kv)
            den = torch.einsum("bhnd,bhd->bhn", fq, fk.sum(2))
            return (num / den[..., None]).to(q.dtype)

        return run, None
    if base == "torch-linear-causal":
        return _torch_causal_linear(q, k, v), None
    raise ValueError(case.variant)


def _torch_causal_linear(q, k, v, chunk: int = 64):
    """Causal linear attention in torch, chunkwise (what one writes without a kernel, N_Q = N_KV, N a
    multiple of `chunk`): exclusive prefix sums (cumsum) of the chunk states for the earlier chunks, the
    masked quadratic form inside a chunk; fp32."""
    import torch

    B, H, N, D = q.shape
    c = N // chunk
    tril = torch.ones(chunk, chunk, device=q.device, dtype=torch.bool).tril()

    def run():
        fq = _phi(q).float().reshape(B, H, c, chunk, D)
        fk = _phi(k).float().reshape(B, H, c, chunk, D)
        vv = v.float().reshape(B, H, c, chunk, D)
        kv = torch.einsum("bhcnd,bhcne->bhcde", fk, vv)
        z = fk.sum(3)
        kv = kv.cumsum(2) - kv
        z = z.cumsum(2) - z
        a = torch.einsum("bhcnd,bhcmd->bhcnm", fq, fk).masked_fill_(~tril, 0.0)
        num = torch.einsum("bhcnd,bhcde->bhcne", fq, kv) + a @ vv
        den = torch.einsum("bhcnd,bhcd->bhcn", fq, z) + a.sum(-1)
        return (num / den[..., None]).reshape(B, H, N, D).to(q.dtype)

    return run


def check(case: Case, plans, device: str, seed: int) -> float:
    """Relative Frobenius error of a slice of the output against float64 (same rounded inputs)."""
    import torch

    q, k, v = make_inputs(case, seed, device)
    run, o = make_fn(case, plans, q, k, v)
    if o is not None:
        o.fill_(float("nan"))
    out = run()
    if device == "cuda":
        torch.cuda.synchronize()
    if torch.isnan(out).any():
        return float("nan")
    r = case.H // case.G
    heads = sorted({0, case.H - 1})
    rows = torch.arange(case.N_Q, device=device)
    if case.N_Q > 1024:
        rows = torch.cat([torch.randperm(case.N_Q, device=device)[:384], rows[-128:]])
    num = den = 0.0
    for h in heads:
        qq = q[0, h, rows].double()
        kk, vv = k[0, h // r].double(), v[0, h // r].double()
        if is_linear(case):
            a = _phi(qq) @ _phi(kk).T
            if case.causal:
                a = a.masked_fill(~case.allowed(rows, device), 0.0)
            ref = (a @ vv) / a.sum(1)[:, None]
        else:
            s = (qq @ kk.T) * case.D**-0.5
            if case.causal:
                s = s.masked_fill(~case.allowed(rows, device), float("-inf"))
            ref = torch.softmax(s, -1) @ vv
        num += ((out[0, h, rows].double() - ref) ** 2).sum().item()
        den += (ref**2).sum().item()
    return math.sqrt(num / den)


def time_case(case: Case, plans, device: str, sustain_s: float = 0.0) -> dict:
    """Median time (ms) and TFLOP/s of one case on fresh inputs (seed 42), and on the GPU the host's time
    per call (20 calls submitted without synchronizing): where it reaches `ms`, the launches, not the
    kernels, set the time (studies/gpu_launch_overhead.py). `sustain_s`: `bench`'s sustained protocol."""
    q, k, v = make_inputs(case, 42, device)
    run, _ = make_fn(case, plans, q, k, v)
    ms = bench(run, device, sustain_s)
    out = {"ms": ms, "tflops": flops(case) / (ms * 1e-3) / 1e12}
    if device == "cuda":
        out["host_ms_per_call"] = host_ms_per_call(run, 20)
    return out


def shape_of(case: Case) -> tuple:
    """The cases timed against each other in alternation (`retime_in_rounds`): one group, one shape."""
    return (case.group, case.B, case.H, case.G, case.N_Q, case.N_KV, case.D, case.causal, case.window, case.dtype)


def time_in_turns(
    runs: dict, device: str, rounds: int, reverse_first: bool = False, sustain_s: float = 0.0
) -> dict[str, list[float]]:
    """Time every callable of `runs` (name -> callable) once per round, `rounds` rounds, in turn: the order
    reversed every other round (from the first round if `reverse_first`), so no variant always runs
    first. Returns name -> its timings (ms), one per round. `sustain_s`: `bench`'s sustained protocol."""
    names = list(runs)
    out: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        for n in names[::-1] if (r % 2 == 0) == reverse_first else names:
            out[n].append(bench(runs[n], device, sustain_s))
    return out


def retime_in_rounds(
    cases: list[Case], records: dict, plans, device: str, rounds: int, deadline: float, sustain_s: float = 0.0
) -> int:
    """Time every shape's cases again, `rounds` - 1 more rounds in turn (`time_in_turns`; the first round,
    the benchmark's single timing, ran in list order, so the second is reversed), on the inputs
    `time_case` used; then each record's `ms` (and `tflops`) is the median over its rounds, `ms_single` the
    first and `ms_rounds` all of them. Why: within one process a kernel's do_bench median moves by up to
    8 % with the card's clock and power state, and the kernel timed after a pause (a compile, a check)
    runs faster (notes_gpu.md v9, v18), so single timings order near-equal variants by when they ran.
    `records` maps a case key to its record (timed ones carry `ms`); shapes with fewer than two timed
    cases are left alone, and so is every shape not reached by `deadline` (time.time()). Returns the
    number of shapes re-timed. `sustain_s`: `bench`'s sustained protocol."""
    import statistics

    if rounds < 2:
        return 0
    by: dict[tuple, list[Case]] = {}
    for c in cases:
        if records.get(c.key, {}).get("ms") is not None:
            by.setdefault(shape_of(c), []).append(c)
    done = 0
    for group in (g for g in by.values() if len(g) > 1):
        if time.time() > deadline:
            break
        runs = {}
        try:
            for c in group:
                q, k, v = make_inputs(c, 42, device)
                runs[c.key] = make_fn(c, plans, q, k, v)[0]
            for key, ms in time_in_turns(runs, device, rounds - 1, True, sustain_s).items():
                rec = records[key]
                rec["ms_rounds"] = [rec["ms"], *ms]
                rec["ms_single"] = rec["ms"]
                rec["ms"] = statistics.median(rec["ms_rounds"])
                rec["tflops"] = flops(next(c for c in group if c.key == key)) / (rec["ms"] * 1e-3) / 1e12
        except Exception as e:  # noqa: BLE001 — the single timings stand, for the whole shape
            for c in group:
                records[c.key]["rounds_error"] = repr(e)[:200]
        runs.clear()
        if device == "cuda":
            import torch

            torch.cuda.empty_cache()
        done += 1
    return done


def host_ms_per_call(run, calls: int) -> float:
    """The host's time per call of `run` (ms), `calls` calls submitted without synchronizing (then one)."""
    import torch

    t = time.perf_counter()
    for _ in range(calls):
        run()
    ms = (time.perf_counter() - t) / calls * 1e3
    torch.cuda.synchronize()
    return ms


def run_back_to_back(fn, seconds: float) -> None:
    """Launch `fn` back to back on the GPU for `seconds` (8 launches per synchronization)."""
    import torch

    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        for _ in range(8):
            fn()
        torch.cuda.synchronize()


#: do_bench's measuring window (ms) in the sustained protocol: several periods of the power limiter's clock
#: swings (q1-q3 of 1470-1665 MHz at 16K, studies/gpu_clock_probe.py)
SUSTAINED_REP_MS = 300


def bench(fn, device: str, sustain_s: float = 0.0) -> float:
    """Median ms of `fn` by `triton.testing.do_bench` (L2 flushed). `sustain_s` > 0: the sustained protocol —
    `fn` runs back to back for that long first, so the card's power-limited clock has settled to this
    kernel's own draw, then a window of SUSTAINED_REP_MS (notes_gpu.md v24); else a 100-ms window straight
    away, whose clock is whatever the work before left (v9, v18, v23). On the CPU: one wall-clock call."""
    if device == "cuda":
        import triton

        rep = 100
        if sustain_s > 0:
            run_back_to_back(fn, sustain_s)
            rep = SUSTAINED_REP_MS
        return float(triton.testing.do_bench(fn, warmup=25, rep=rep, return_mode="median"))
    t = time.perf_counter()
    fn()
    return (time.perf_counter() - t) * 1e3


def benchmark_launch(case: Case, tuned: dict) -> tuple | None:
    """The launch the benchmark gives an einsim case that names none (None: einsim's `choose_tiling`):
    the 1-pass prefill kernels at a head dim the benchmark tuned on the card (`tuned`: D -> BLOCK_M,
    BLOCK_N, warps, stages) take that launch, lazy rescaling on for the lazy variant; the lazy 1-pass at
    other head dims (D=128) the 2- and 3-pass kernels' launch, since einsim's default there (the
    warp-specialized kernel) does not rescale lazily."""
    if case.tiling is not None or not case.cascade:
        return case.tiling
    if case.variant.startswith("1-pass") and "decode" not in case.variant and case.D in tuned:
        return tuple(tuned[case.D]) + (False, case.variant == "1-pass-lazy")
    if case.variant == "1-pass-lazy":
        return (128, 64, 8, 3, False, True)
    return None


def predict_case(case: Case, plans, arch):
    from einsim.gpu.model import predict
    from einsim.gpu.plan import Shape, Tiling, choose_splits, choose_tiling

    plan = next(p for f, p in plans.values() if f == case.cascade)
    sizes = (("W", case.window),) if plan.window else ()
    shape = Shape(case.B, case.H, case.N_Q, case.N_KV, case.D, case.G if case.G != case.H else None, case.dtype, sizes)
    t = Tiling(*case.tiling) if case.tiling else choose_tiling(plan, shape)
    if case.variant.endswith("-lazy"):
        t = dataclasses.replace(t, lazy_rescale=True)
    if (plan.linear or plan.split_k) and not t.splits:  # the record pins the key chunks the launch used
        t = dataclasses.replace(t, splits=choose_splits(plan, shape, t, arch.sms)[0])
    pr = predict(plan, shape, t, arch, compiled_reports(plan, shape, t))
    return pr, t


_REPORTS: dict = {}


def record_tiling(t: list, lazy=None):
    """The `Tiling` a benchmark record ran with, from its `tiling` list (fields in `Tiling`'s order; older
    runs recorded fewer). Runs before heavy-first causal launches (run 10) recorded no flag and launched
    light-first; runs before the paired deal (run 35) dealt persistent causal jobs one tile at a time."""
    from einsim.gpu.plan import Tiling

    tma, ws = (len(t) > 6 and bool(t[6])), (len(t) > 7 and bool(t[7]))
    return Tiling(
        *t[:5],
        lazy_rescale=bool(t[5] if lazy is None and len(t) > 5 else lazy),
        tma=tma,
        warp_specialize=ws,
        splits=int(t[8]) if len(t) > 8 else 0,
        heavy_first=len(t) > 9 and bool(t[9]),
        persistent=int(t[10]) if len(t) > 10 else 0,
        paired=len(t) > 11 and bool(t[11]),
        pv_fma=len(t) > 12 and bool(t[12]),
    )


def compiled_reports(plan, shape, t):
    """The compiled kernels' facts (einsim.gpu.inspect) the model uses — linear plans' issue bound, the
    SASS simulation of decode programs that each have an SM to themselves, and the issued instructions of
    a prefill kernel's K/V loop — cached per (plan, shape, tiling); None where they cannot be had (the
    interpreter, no ptxas)."""
    key = (plan, shape, t)
    if key not in _REPORTS:
        from einsim.errors import EinsimError
        from einsim.gpu.inspect import compile_report

        try:
            _REPORTS[key] = tuple(compile_report(plan, shape, t))
        except EinsimError:
            _REPORTS[key] = None
    return _REPORTS[key]


def is_linear(case: Case) -> bool:
    """Linear-attention cases (einsim's `linear` plans and the torch baselines) have their own reference."""
    return case.variant.startswith(("linear", "torch-linear"))


def _phi(x):
    """The feature map of the library's linear attention: elu(x) + 1."""
    import torch.nn.functional as F

    return F.elu(x) + 1.0


def flops(case: Case) -> float:
    from einsim.gpu.plan import Shape

    sh = Shape(case.B, case.H, case.N_Q, case.N_KV, case.D)
    if is_linear(case):  # the two D x D products of linear attention
        return 2.0 * case.B * case.H * (case.N_KV + case.N_Q) * case.D**2
    if case.window:
        hi = case.N_KV - case.N_Q
        return sh.flops(band=(hi, hi - case.window + 1))
    return sh.flops(case.causal)


def _version(module: str) -> str | None:
    """A module's version, or None where it is not installed."""
    import importlib.util

    return __import__(module).__version__ if importlib.util.find_spec(module) else None


def environment(device: str) -> dict:
    import torch
    import triton

    env = {
        "torch": torch.__version__,
        "triton": triton.__version__,
        "python": platform.python_version(),
        "numpy": __import__("numpy").__version__,
        # the model's co-resident schedule needs numba; without it the run-time predictions keep lockstep
        "numba": _version("numba"),
        "cuda": torch.version.cuda,
        "host": platform.node(),
    }
    if device == "cuda":
        p = torch.cuda.get_device_properties(0)
        env.update(
            card=torch.cuda.get_device_name(0),
            sms=p.multi_processor_count,
            l2_bytes=getattr(p, "L2_cache_size", None),
            memory_bytes=p.total_memory,
            cudnn=torch.backends.cudnn.version(),
        )
        env["nvidia_smi_before"] = smi()
    else:
        env["card"] = "cpu-interpreter"
    return env


def smi() -> str:
    try:
        q = "name,clocks.sm,clocks.max.sm,clocks.mem,power.draw,power.limit,temperature.gpu,driver_version"
        return subprocess.run(
            ["nvidia-smi", f"--query-gpu={q}", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
        ).stdout.strip()
    except Exception as e:  # noqa: BLE001
        return repr(e)
