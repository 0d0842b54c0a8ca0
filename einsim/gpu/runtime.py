"""Launching a `KernelPlan` on torch tensors (imports torch and triton; import lazily).

Input: a plan from einsim.gpu.lower, tensors Q [B, H, N_Q, D], K and V [B, G, N_KV, D] (G divides H;
G < H only for plans whose cascade has a group rank), optionally a `Tiling`. Output: O [B, H, N_Q, D]
in Q's dtype. `prepare` allocates the output and the row statistics once and returns a closure that
launches every pass kernel (what the benchmark times); `attention` is the one-shot form.
Works on CUDA tensors and, under TRITON_INTERPRET=1, on CPU tensors.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Callable

import torch
import triton
import triton.language as tl

from einsim.errors import EinsimError
from einsim.gpu import kernels
from einsim.gpu.plan import (
    TIMELINE_FIELDS,
    KernelPlan,
    Shape,
    Tiling,
    choose_splits,
    choose_tiling,
    kernel_flags,
    launch_rows,
    linear_apply_programs,
    linear_launches,
    paired_deal,
    persistent_applies,
    ws_applies,
    ws_verified,
)

_TRITON_OPS: dict[str, object] = {}


#: SMs assumed off the GPU (the interpreter): split-K and persistent grids are sized by it
INTERPRETER_SMS = 132


def _sms(x: torch.Tensor) -> int:
    """SMs of the tensor's GPU (INTERPRETER_SMS off the GPU): split-K, linear and persistent grids."""
    return torch.cuda.get_device_properties(x.device).multi_processor_count if x.is_cuda else INTERPRETER_SMS


def register_triton_operator(name: str, fn: object) -> None:
    """Give the element-wise operator `name` (registered with einsim.register_operator) its
    `@triton.jit` implementation, used when a cascade applies it to the score."""
    from triton.runtime.interpreter import InterpretedFunction

    if not isinstance(fn, triton.runtime.JITFunction | InterpretedFunction):
        raise EinsimError(f"Triton implementation of operator {name!r} must be a @triton.jit function.")
    _TRITON_OPS[name] = fn


@triton.jit
def _relu(x):
    return tl.maximum(x, 0.0)


@triton.jit
def _square(x):
    return x * x


@triton.jit
def _abs(x):
    return tl.abs(x)


@triton.jit
def _neg(x):
    return -x


@triton.jit
def _elu1(x):
    return tl.where(x > 0, x + 1.0, tl.exp(tl.minimum(x, 0.0)))


for _n, _f in (("relu", _relu), ("square", _square), ("abs", _abs), ("neg", _neg), ("elu1", _elu1)):
    _TRITON_OPS[_n] = _f


def triton_operator(name: str) -> object:
    try:
        return _TRITON_OPS[name]
    except KeyError:
        raise EinsimError(
            f"Element-wise operator {name!r} on the score has no Triton implementation; register one with "
            "einsim.gpu.runtime.register_triton_operator(name, jit_fn)."
        ) from None


def _interpreting() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


_ALLOCATOR_SET = False


def _set_allocator() -> None:
    """Device-side tensor descriptors need global scratch from triton's allocator (set once)."""
    global _ALLOCATOR_SET
    if _ALLOCATOR_SET:
        return

    def alloc(size: int, alignment: int, stream):  # noqa: ARG001
        return torch.empty(size, device="cuda", dtype=torch.int8)

    triton.set_allocator(alloc)
    _ALLOCATOR_SET = True


def shape_of(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> Shape:
    B, H, NQ, D = q.shape
    Bk, G, NK, Dk = k.shape
    dt = {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}.get(q.dtype)
    if dt is None:
        raise EinsimError(f"GPU lowering supports fp32/fp16/bf16 inputs, not {q.dtype}.")
    if Bk != B or Dk != D or tuple(v.shape) != tuple(k.shape) or H % G:
        raise EinsimError(
            f"Shapes do not fit: Q {tuple(q.shape)}, K {tuple(k.shape)}, V {tuple(v.shape)}; "
            "expected Q [B,H,N_Q,D], K and V [B,G,N_KV,D] with G dividing H."
        )
    if D not in (16, 32, 64, 128, 256):
        raise EinsimError(f"Head dim {D} is not a power of two in 16..256; pad it.")
    return Shape(B, H, NQ, NK, D, G if G != H else None, dt)


def prepare(
    plan: KernelPlan,
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    tiling: Tiling | None = None,
    sizes: dict[str, int] | None = None,
    timeline: torch.Tensor | None = None,
    timeline_loop: bool = True,
    phase: torch.Tensor | None = None,
) -> tuple[Callable[[], torch.Tensor], torch.Tensor]:
    """Allocate O and the row statistics; return (launch_all_passes, O). `sizes` gives the cascade's
    sizes that are not tensor ranks (e.g. a sliding window's W). `timeline`: an int64 CUDA tensor of
    `timeline_shape(...)` that each launch's programs fill with where and when they ran (the kernel's
    TIMELINE probe; per-tile launches without warp specialization only); `timeline_loop` False records the
    SM, entry and exit only, leaving the K/V loop's code as it is without the probe. `phase`: an int64 CUDA
    tensor of `phase_shape(...)` that a warp-specialized launch fills with each consumer warpgroup's SM clock as
    each K/V tile of its loop starts (the kernels' TIMELINE = 3 probe; studies/gpu_ws_phase.py)."""
    shape = dataclasses.replace(shape_of(q, k, v), sizes=tuple(sorted((sizes or {}).items())))
    if shape.G is not None and not plan.grouped:
        raise EinsimError(
            f"Cascade {plan.cascade!r} has no group rank, so K/V must have as many heads as Q "
            f"({shape.H}), not {shape.G}."
        )
    if plan.linear:
        return _prepare_linear(plan, q, k, v, shape, tiling)
    band_hi, band_lo = plan.band_offsets(shape)  # raises for a missing size or a band without keys
    t = tiling or choose_tiling(plan, shape, interpret=_interpreting())
    B, H, NQ, NK, D = shape.B, shape.H, shape.N_Q, shape.N_KV, shape.D
    R = shape.R
    o = torch.empty_like(q)
    st_m = torch.empty((B, H, NQ), device=q.device, dtype=torch.float32)
    st_l = torch.empty((B, H, NQ), device=q.device, dtype=torch.float32)
    score_fn = kernels.identity
    if len(plan.score_fns) > 1:
        raise EinsimError(f"At most one element-wise operator on the score is lowered, got {plan.score_fns}.")
    if plan.score_fns:
        score_fn = triton_operator(plan.score_fns[0])
    scale = plan.scale(D)
    has_fn = bool(plan.score_fns) or scale <= 0  # a folded scale must keep the row max in place
    qk_scale = scale if has_fn else scale * kernels.LOG2E
    # TMA descriptors: compiled mode only, unit inner strides, 16-byte aligned rows and bases
    use_tma = (
        t.tma
        and not _interpreting()
        and all(x.stride(3) == 1 for x in (q, k, v))
        and all(
            (x.stride(2) * x.element_size()) % 16 == 0
            and (x.stride(1) * x.element_size()) % 16 == 0
            and (x.stride(0) * x.element_size()) % 16 == 0
            and x.data_ptr() % 16 == 0
            for x in (q, k, v)
        )
    )
    if use_tma:
        _set_allocator()
    use_ws = t.warp_specialize and use_tma and ws_applies(plan, shape, t)
    if use_ws and not ws_verified(t) and os.environ.get("EINSIM_EXPERIMENTAL_WS", "0") != "1":
        raise EinsimError(
            "Tiling.warp_specialize (triton warp specialization): only BLOCK_N 128 with 2 stages and 4 warps "
            "was verified correct on the H200 with triton 3.6 (BLOCK_N 64 / 3 stages returned wrong rows, and so "
            "did causal kernels before their mask was rewritten; studies/notes_gpu.md); use that, or set "
            "EINSIM_EXPERIMENTAL_WS=1 to launch another setting anyway (measurement only)."
        )
    rows, hp = launch_rows(shape, t)
    grid = kernels.grid(rows, t.block_m, B, hp)
    if timeline is not None:
        _check_timeline(timeline, plan, shape, t, use_ws, q)
    if phase is not None:
        _check_phase(phase, plan, shape, t, use_ws, q)
    # split-K: S key chunks in parallel, each writing its summary (max, sum, numerator; fp32)
    sms = _sms(q)
    n_split, chunk = choose_splits(plan, shape, t, sms)
    part_m = part_l = part_o = st_m
    if plan.split_k:
        grid = (*grid, n_split)
        part_m = torch.empty((B, hp, n_split, rows), device=q.device, dtype=torch.float32)
        part_l = torch.empty_like(part_m)
        part_o = torch.empty((B, hp, n_split, rows, D), device=q.device, dtype=torch.float32)
    elif persistent_applies(plan, t):  # a fixed grid of programs looping over the (query tile, head) jobs
        jobs = grid[0] * grid[1] // (2 if paired_deal(plan, shape, t) else 1)  # paired: a job is two tiles
        grid = (min(jobs, sms * t.persistent),)
    args = [
        q,
        k,
        v,
        o,
        st_m,
        st_l,
        part_m,
        part_l,
        part_o,
        _no_timeline(q.device) if timeline is None else None,
        qk_scale,
        *q.stride(),
        *k.stride(),
        *v.stride(),
        *o.stride(),
        H,
        R,
        NQ,
        NK,
        rows,
        hp,
        0 if band_hi is None else band_hi,
        0 if band_lo is None else band_lo,
        chunk,
        B * hp,
    ]
    launches = []
    for i, pk in enumerate(plan.kernels):
        flags = kernel_flags(plan, pk, shape, t, tma=use_tma, warp_spec=use_ws, has_score_fn=has_fn)
        flags["SCORE_FN"] = score_fn
        if timeline is not None:  # the kernel's probe: TL is this launch's [programs, fields] rows
            flags["TIMELINE"] = 1 if timeline_loop else 2
            args[9] = timeline[i]
        if phase is not None:  # the warp-specialized loop's probe: TL is this launch's [jobs, tiles, 2 x rows]
            flags["TIMELINE"] = 3
            args[9] = phase[i]
        launches.append((tuple(args), flags))

    def run() -> torch.Tensor:
        for a, flags in launches:
            kernels.attn_pass_kernel[grid](*a, **flags, num_warps=t.num_warps, num_stages=t.num_stages)
        if plan.split_k:
            kernels.combine_kernel[(rows, B * hp)](
                part_m, part_l, part_o, o, *o.stride(), R, NQ, rows, hp, n_split,
                HEAD_DIM=D, SPLIT_BLOCK=min(64, max(16, triton.next_power_of_2(n_split))), GROUP_ROWS=t.group_rows,
                num_warps=4,
            )  # fmt: skip
        return o

    return run, o


@functools.cache
def _no_timeline(device: torch.device) -> torch.Tensor:
    """The TL argument of launches that record no timeline: one int64 per device."""
    return torch.zeros(1, device=device, dtype=torch.int64)


def timeline_shape(plan: KernelPlan, shape: Shape, tiling: Tiling | None = None) -> tuple[int, int, int]:
    """(pass kernels, programs per launch, TIMELINE_FIELDS): the int64 tensor `prepare` fills."""
    t = tiling or choose_tiling(plan, shape)
    rows, hp = launch_rows(shape, t)
    g = kernels.grid(rows, t.block_m, shape.B, hp)
    return len(plan.kernels), g[0] * g[1], TIMELINE_FIELDS


def _check_timeline(timeline: torch.Tensor, plan: KernelPlan, shape: Shape, t: Tiling, ws: bool, q) -> None:
    why = None
    if _interpreting() or not q.is_cuda:
        why = "it reads %globaltimer and %smid, which only the GPU has (not the interpreter)"
    elif plan.split_k or persistent_applies(plan, t) or ws:
        why = "it records per-tile launches without warp specialization only (no split-K, persistent or WS)"
    elif timeline.dtype != torch.int64 or tuple(timeline.shape) != timeline_shape(plan, shape, t):
        why = f"it needs an int64 tensor of shape {timeline_shape(plan, shape, t)}, not {tuple(timeline.shape)}"
    if why:
        raise EinsimError(f"Cannot record a timeline of cascade {plan.cascade!r}: {why}.")


def phase_shape(plan: KernelPlan, shape: Shape, tiling: Tiling | None = None) -> tuple[int, int, int, int]:
    """(pass kernels, query tiles x head programs, K/V tiles, 2 x BLOCK_M): the int64 tensor `prepare` fills
    for `phase` (BLOCK_M slots per consumer warpgroup, each written by the thread that holds that row of
    the consumer's whole-tile row tensors)."""
    t = tiling or choose_tiling(plan, shape)
    passes, programs, _ = timeline_shape(plan, shape, t)  # a program per (query tile, head program)
    return passes, programs, shape.N_KV // t.block_n, 2 * t.block_m


def _check_phase(phase: torch.Tensor, plan: KernelPlan, shape: Shape, t: Tiling, ws: bool, q) -> None:
    why = None
    if _interpreting() or not q.is_cuda:
        why = "it reads %clock64, which only the GPU has (not the interpreter)"
    elif not ws or plan.split_k or paired_deal(plan, shape, t) or shape.N_KV % t.block_n:
        why = "it records warp-specialized launches over whole K/V tiles only (no split-K or paired deal)"
    elif phase.dtype != torch.int64 or tuple(phase.shape) != phase_shape(plan, shape, t):
        why = f"it needs an int64 tensor of shape {phase_shape(plan, shape, t)}, not {tuple(phase.shape)}"
    if why:
        raise EinsimError(f"Cannot record the warpgroups' phase of cascade {plan.cascade!r}: {why}.")


def _prepare_linear(plan: KernelPlan, q, k, v, shape, tiling: Tiling | None):
    """The launches of kernelized linear attention (einsim.gpu.linear_kernels): chunk states, their total
    (non-causal) or prefix scan (causal), the apply pass; `prepare` has checked the shapes (a linear plan
    has no group rank, so K/V have as many heads as Q)."""
    from einsim.gpu import linear_kernels as lk

    if any(x.stride(3) != 1 for x in (q, k, v)):
        raise EinsimError("Linear attention needs a unit stride along the head dim of Q, K and V.")
    hi, _ = plan.band_offsets(shape)  # causal: query p sees the keys m <= p + hi
    t = tiling or choose_tiling(plan, shape, interpret=_interpreting())
    B, H, NQ, NK, D = shape.B, shape.H, shape.N_Q, shape.N_KV, shape.D
    n_split, chunk = choose_splits(plan, shape, t, _sms(q))
    slots = n_split + 1  # the scan writes the total after the last chunk
    pkv = torch.empty((B * H, slots, D, D), device=q.device, dtype=torch.float32)
    pz = torch.empty((B * H, slots, D), device=q.device, dtype=torch.float32)
    o = torch.empty_like(q)
    fn = triton_operator(plan.score_fns[0])
    state, scan, apply = (
        (getattr(lk, x.kernel), {**x.flags, "num_warps": x.warps, "num_stages": x.stages})
        for x in linear_launches(plan, shape, t)
    )
    apply_grid = (triton.cdiv(NQ, t.block_m) if plan.causal else linear_apply_programs(shape, t, _sms(q)), B * H)

    def run() -> torch.Tensor:
        state[0][(B * H, n_split)](
            k, v, pkv, pz, k.stride(0), k.stride(1), k.stride(2), v.stride(0), v.stride(1), v.stride(2), H, NK,
            chunk, slots, FEATURE_FN=fn, **state[1],
        )  # fmt: skip
        scan[0][(B * H, D)](pkv, pz, n_split, slots, **scan[1])
        if not plan.causal:
            apply[0][apply_grid](
                q, o, pkv, pz, q.stride(0), q.stride(1), q.stride(2), o.stride(0), o.stride(1), o.stride(2), H, NQ,
                slots, FEATURE_FN=fn, **apply[1],
            )  # fmt: skip
            return o
        apply[0][apply_grid](
            q, k, v, o, pkv, pz, *q.stride()[:3], *k.stride()[:3], *v.stride()[:3], *o.stride()[:3], H, NQ, NK, hi,
            chunk, slots, FEATURE_FN=fn, **apply[1],
        )  # fmt: skip
        return o

    return run, o


def attention(
    plan: KernelPlan,
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    tiling: Tiling | None = None,
    sizes: dict[str, int] | None = None,
) -> torch.Tensor:
    """Run every pass of `plan` on (q, k, v) and return the output."""
    run, _ = prepare(plan, q, k, v, tiling, sizes)
    return run()
