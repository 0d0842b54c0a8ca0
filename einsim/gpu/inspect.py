"""Compile a plan's kernels for Hopper on the CPU and read their resources (imports triton; no GPU).

Input: a `KernelPlan`, a `Shape` and optionally a `Tiling`. Output: one `KernelReport` per kernel launch
— registers, shared memory, spills from ptxas, counts of the SASS instructions that matter for attention
(HGMMA = wgmma, MUFU.EX2, FFMA, BAR.SYNC), and the instructions a warp issues per iteration of the
kernel's main loop and outside it, and the parsed SASS that the GPU model simulates (einsim.gpu.sass) — using
the ptxas/cuobjdump that ship with the triton wheel. Kernels are compiled as the launcher specializes
them: pointers 16-byte aligned, integer arguments divisible by 16 marked so. What costs no device time:
e.g. lazy rescaling adds 3 BAR.SYNC per K/V tile, which is why it ran slower on the H200
(studies/notes_gpu.md). Must run without TRITON_INTERPRET=1.

    python -m einsim.gpu.inspect workloads/cascades/cascade5_fa2.ein --D 128 --N 4096 [--lazy]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field

from einsim.errors import EinsimError
from einsim.gpu.plan import (
    KernelPlan,
    Shape,
    Tiling,
    choose_splits,
    choose_tiling,
    kernel_flags,
    launch_rows,
    linear_launches,
    ws_applies,
)
from einsim.gpu.sass import loop_span
from einsim.gpu.sass import parse as parse_sass

SASS_OPS = ("HGMMA", "MUFU.EX2", "FFMA", "FMUL", "BAR.SYNC")


@dataclass(frozen=True)
class KernelReport:
    """Resources and static instruction counts of one compiled pass kernel."""

    label: str
    registers: int
    shared_bytes: int
    spill_stores: int
    sass_counts: dict
    #: warps per program as compiled (warp specialization adds a producer warpgroup)
    warps: int = 0
    #: SASS instructions a warp issues per iteration of the kernel's main (last, longest) loop, and the
    #: static count of the rest (issued once per program: prologue, epilogue, unrolled loops)
    loop_instructions: int = 0
    other_instructions: int = 0
    #: the parsed SASS (einsim.gpu.sass): what the model's lone-program issue simulation runs
    instructions: tuple = field(default=(), repr=False, compare=False)

    def __str__(self) -> str:
        ops = " ".join(f"{k}={v}" for k, v in self.sass_counts.items())
        return (
            f"{self.label:<24} warps {self.warps:>2}  regs {self.registers:>3}  smem {self.shared_bytes:>6} B  "
            f"spills {self.spill_stores}  {ops}  loop {self.loop_instructions} + {self.other_instructions} instr"
        )


def _tool(name: str) -> str:
    import triton

    path = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin", name)
    if not os.path.exists(path):
        raise EinsimError(f"{name} not found in the triton wheel ({path}); install triton with its NVIDIA backend.")
    return path


def _int_args(shape: Shape, t: Tiling) -> dict[str, int]:
    """Integer launch arguments for contiguous Q/O [B, H, N_Q, D] and K/V [B, G, N_KV, D]."""
    H, G, NQ, NK, D = shape.H, shape.kv_heads, shape.N_Q, shape.N_KV, shape.D
    rows, hp = launch_rows(shape, t)
    q = dict(zip(("sqb", "sqh", "sqm", "sqd"), (H * NQ * D, NQ * D, D, 1)))
    k = dict(zip(("skb", "skh", "skn", "skd"), (G * NK * D, NK * D, D, 1)))
    v = dict(zip(("svb", "svh", "svn", "svd"), (G * NK * D, NK * D, D, 1)))
    o = dict(zip(("sob", "soh", "som", "sod"), (H * NQ * D, NQ * D, D, 1)))
    return {**q, **k, **v, **o, "H": H, "R": shape.R, "N_Q": NQ, "N_KV": NK, "ROWS": rows, "HP": hp,
            "HEAD_PROGRAMS": shape.B * hp}  # fmt: skip


def _compile(label: str, src, warps: int, stages: int, sm: int) -> KernelReport:
    """Compile one specialized kernel for sm_`sm`; read ptxas's resources and the SASS."""
    import triton
    from triton.backends.compiler import GPUTarget

    k = triton.compile(src, target=GPUTarget("cuda", sm, 32), options=dict(num_warps=warps, num_stages=stages))
    with tempfile.NamedTemporaryFile(suffix=".cubin") as f:
        f.write(k.asm["cubin"])
        f.flush()
        usage = subprocess.run(
            [_tool("cuobjdump"), "--dump-resource-usage", f.name], capture_output=True, text=True, check=True
        ).stdout
        sass = subprocess.run(
            [_tool("cuobjdump"), "--dump-sass", f.name], capture_output=True, text=True, check=True
        ).stdout
    regs = int(re.search(r"REG:(\d+)", usage).group(1))
    stack = int(re.search(r"STACK:(\d+)", usage).group(1))
    counts = {op: len(re.findall(rf"\b{re.escape(op)}\b", sass)) for op in SASS_OPS}
    instructions = parse_sass(sass)
    lo, hi = loop_span(instructions)
    loop = hi - lo + 1
    return KernelReport(
        label, regs, int(k.metadata.shared), stack, counts, int(k.metadata.num_warps), loop,
        len(instructions) - loop, instructions,
    )  # fmt: skip


#: compiled pass kernels by what their code depends on (see compile_report)
_COMPILED: dict = {}


def compile_report(
    plan: KernelPlan, shape: Shape, tiling: Tiling | None = None, sm: int = 90, timeline: int = 0
) -> list[KernelReport]:
    """Compile every kernel of `plan` for `shape` (as the runtime would launch it) for sm_`sm`;
    `timeline`: the kernel's TIMELINE probe (1: with loop checkpoints, 2: entry and exit only, 3: the
    warp-specialized loop's clock per consumer warpgroup and K/V tile)."""
    from triton.compiler import ASTSource

    from einsim.gpu import kernels

    if os.environ.get("TRITON_INTERPRET", "0") == "1":
        raise EinsimError("compile_report needs compiled mode: unset TRITON_INTERPRET.")
    t = tiling or choose_tiling(plan, shape)
    if plan.linear:
        return _linear_reports(plan, shape, t, sm)
    names = kernels.attn_pass_kernel.arg_names
    elt = {"bf16": "*bf16", "fp16": "*fp16", "fp32": "*fp32"}[shape.dtype]
    reports = []
    for pk in plan.kernels:
        const = kernel_flags(
            plan,
            pk,
            shape,
            t,
            tma=t.tma,
            warp_spec=t.warp_specialize and ws_applies(plan, shape, t),
            has_score_fn=bool(plan.score_fns) or plan.scale(shape.D) <= 0,  # as the runtime decides
        )
        const.update(SCORE_FN=kernels.identity, sqd=1, skd=1, svd=1, sod=1, TIMELINE=int(timeline))
        if plan.score_fns:
            from einsim.gpu.runtime import triton_operator

            const["SCORE_FN"] = triton_operator(plan.score_fns[0])
        sig = {}
        for n in names:
            if n in const:
                sig[n] = "constexpr"
            elif n in ("Q", "K", "V", "O"):
                sig[n] = elt
            elif n in ("MST", "LST", "PM", "PL", "PO"):
                sig[n] = "*fp32"
            elif n == "TL":
                sig[n] = "*i64"
            elif n == "qk_scale":
                sig[n] = "fp32"
            else:
                sig[n] = "i32"
        # what the launcher specializes at run time: pointers are 16-byte aligned, integers equal to 1
        # become constants, integers divisible by 16 carry the divisibility attribute
        values = _int_args(shape, t)
        hi, lo = plan.band_offsets(shape)
        values.update(BAND_HI=hi or 0, BAND_LO=lo or 0, CHUNK=choose_splits(plan, shape, t)[1])
        for n, v in values.items():
            if v == 1:
                const[n] = 1
                sig[n] = "constexpr"
        ptrs = ["Q", "K", "V", "O", "MST", "LST", "PM", "PL", "PO", "TL"]
        div16 = ptrs + [n for n, v in values.items() if v != 1 and v % 16 == 0]
        attrs = {(names.index(n),): [["tt.divisibility", 16]] for n in div16}
        # the compiled code depends on the constants, the signature and the divisibility marks alone: shapes
        # that agree on them (e.g. B, H and N multiples of 16) share one compile
        key = (pk.label, elt, frozenset(const.items()), frozenset(div16), t.num_warps, t.num_stages, sm)
        if key not in _COMPILED:
            src = ASTSource(kernels.attn_pass_kernel, sig, {(names.index(k),): v for k, v in const.items()}, attrs)
            _COMPILED[key] = _compile(pk.label, src, t.num_warps, t.num_stages, sm)
        reports.append(_COMPILED[key])
    return reports


def _linear_reports(plan: KernelPlan, shape: Shape, t: Tiling, sm: int) -> list[KernelReport]:
    """The launches of a linear-attention plan (einsim.gpu.runtime._prepare_linear), specialized alike."""
    from triton.compiler import ASTSource

    from einsim.gpu import linear_kernels as lk
    from einsim.gpu.runtime import triton_operator

    elt = {"bf16": "*bf16", "fp16": "*fp16", "fp32": "*fp32"}[shape.dtype]
    n_split, chunk = choose_splits(plan, shape, t)
    hi, _ = plan.band_offsets(shape)
    values = {**_int_args(shape, t), "CHUNK": chunk, "SLOTS": n_split + 1, "SLOT": n_split + 1, "NCHUNK": n_split,
              "HI": hi or 0}  # fmt: skip
    reports = []
    for pk, launch in zip(plan.kernels, linear_launches(plan, shape, t)):
        kern = getattr(lk, launch.kernel)
        consts = {**launch.flags, "FEATURE_FN": triton_operator(plan.score_fns[0])}
        names = kern.arg_names
        sig, const, div16 = {}, {}, []
        for n in names:
            if n in consts:
                sig[n], const[n] = "constexpr", consts[n]
            elif n in ("Q", "K", "V", "O"):
                sig[n] = elt
                div16.append(n)
            elif n in ("PKV", "PZ"):
                sig[n] = "*fp32"
                div16.append(n)
            elif values.get(n) == 1:
                sig[n], const[n] = "constexpr", 1
            else:
                sig[n] = "i32"
                if values.get(n, 1) % 16 == 0:
                    div16.append(n)
        attrs = {(names.index(n),): [["tt.divisibility", 16]] for n in div16}
        src = ASTSource(kern, sig, {(names.index(k),): v for k, v in const.items()}, attrs)
        reports.append(_compile(pk.label, src, launch.warps, launch.stages, sm))
    return reports


def main(argv=None) -> None:
    import einsim
    from einsim.cli_gpu import check_sizes
    from einsim.gpu.lower import lower

    ap = argparse.ArgumentParser(description="Compile a cascade's GPU kernels for sm_90 on the CPU; print resources.")
    ap.add_argument("cascade")
    ap.add_argument("--B", type=int, default=4)
    ap.add_argument("--H", type=int, default=16)
    ap.add_argument("--G", type=int, default=None)
    ap.add_argument("--N", type=int, default=4096)
    ap.add_argument("--NQ", type=int, default=None)
    ap.add_argument("--D", type=int, default=128)
    ap.add_argument("--dtype", default="bf16")
    ap.add_argument("--size", action="append", default=[], help="another size of the cascade, e.g. W=1024")
    ap.add_argument("--lazy", action="store_true", help="lazy (conditional) rescaling in online passes")
    ap.add_argument("--tiling", default=None, help="BLOCK_M,BLOCK_N,warps,stages (default: choose_tiling)")
    ap.add_argument("--tma", action="store_true", help="TMA descriptor loads")
    ap.add_argument("--ws", action="store_true", help="warp-specialize the K/V loop (needs --tma)")
    ap.add_argument("--persistent", type=int, default=None, help="persistent launch: programs per SM")
    ap.add_argument("--pv-fma", action="store_true", help="the rescale as an FMA after the PV product")
    args = ap.parse_args(argv)
    check_sizes(args)
    plan = lower(einsim.parse_file(args.cascade))
    sizes = tuple((n, int(v)) for n, v in (x.split("=", 1) for x in args.size))
    shape = Shape(args.B, args.H, args.NQ or args.N, args.N, args.D, args.G, args.dtype, sizes)
    t = choose_tiling(plan, shape)
    if args.tiling:
        fields = args.tiling.split(",")
        if len(fields) != 4 or not all(x.strip().isdigit() and int(x) > 0 for x in fields):
            raise EinsimError(
                f"--tiling {args.tiling!r}: expected four positive integers, BLOCK_M,BLOCK_N,warps,stages."
            )
        bm, bn, nw, ns = (int(x) for x in fields)
        t = dataclasses.replace(t, block_m=bm, block_n=bn, num_warps=nw, num_stages=ns)
    t = dataclasses.replace(
        t,
        lazy_rescale=args.lazy or t.lazy_rescale,
        tma=args.tma or t.tma,
        warp_specialize=args.ws or t.warp_specialize,
        pv_fma=args.pv_fma or t.pv_fma,
    )
    if args.persistent is not None:
        t = dataclasses.replace(t, persistent=args.persistent)
    print(f"{plan.variant}  {shape}  {t}")
    for rep in compile_report(plan, shape, t):
        print(rep)


if __name__ == "__main__":
    try:
        main()
    except EinsimError as e:  # bad input: one line and exit 2, no traceback (as `einsim gpu` answers)
        print(f"einsim.gpu.inspect: error: {e}", file=sys.stderr)
        sys.exit(2)
