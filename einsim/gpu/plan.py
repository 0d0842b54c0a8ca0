"""Kernel plans: what the GPU lowering of a cascade launches (pure data; no torch, no triton).

Input: built by `einsim.gpu.lower.lower(cascade)`. Output: a `KernelPlan` — one `PassKernel` per pass
of the cascade over the key rank M, each a set of flags of the Triton pass skeleton
(einsim.gpu.kernels) — that the runtime launches and the GPU model (einsim.gpu.model) costs.
`Tiling` is the launch configuration chosen for a shape (`choose_tiling`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class PassKernel:
    """One pass of the cascade over M as one kernel launch.

    Every pass recomputes the score tile S = scale·Q·Kᵀ (the M-ranked tensors of the cascade are never
    materialized); the flags say what else it computes and which row statistics cross the pass
    boundary through global memory.
    """

    index: int
    #: names of the cascade's Einsums this kernel computes
    einsums: tuple[str, ...]
    #: loop-carried running max with rescaling (iterative rank; 1-pass cascades)
    online: bool = False
    #: the row max comes complete from an earlier pass
    read_m: bool = False
    do_exp: bool = False
    do_sum: bool = False
    do_pv: bool = False
    #: normalize every score by the complete row sum inside the loop (3-pass A = SN / SD)
    div_in_loop: bool = False
    #: deferred division of the output by the row sum after the loop
    div_out: bool = False
    #: the running output stays normalized: divided by the running sum at every tile (FlashAttention-1)
    norm_each: bool = False
    #: "softmax" (the pass skeleton), or a kernel of linear attention: "linear-state", "linear-sum" /
    #: "linear-apply", and for the causal form "linear-scan" / "linear-causal-apply"
    kind: str = "softmax"
    write_m: bool = False
    write_l: bool = False
    write_o: bool = False

    @property
    def reads_v(self) -> bool:
        return self.do_pv

    @property
    def dots(self) -> int:
        """Matrix products per score tile: QKᵀ, plus PV when the pass has one."""
        return 1 + int(self.do_pv)

    @property
    def label(self) -> str:
        if self.kind != "softmax":
            return {
                "linear-state": "feature-map+K^T V state",
                "linear-sum": "sum of chunk states",
                "linear-scan": "prefix-scan of chunk states",
                "linear-apply": "feature-map+Q state+div",
                "linear-causal-apply": "feature-map+Q prefix state+diagonal chunk+div",
            }[self.kind]
        parts = []
        if self.online and not self.do_exp:
            parts.append("max")
        elif self.online:
            parts.append("online-softmax")
        if self.do_exp and not self.online:
            parts.append("exp" if self.read_m else "exp(no max)")
        if self.do_sum and not self.online:
            parts.append("sum")
        if self.div_in_loop:
            parts.append("normalize")
        if self.do_pv:
            parts.append("PV")
        if self.div_out:
            parts.append("div")
        if self.norm_each:
            parts.append("div-each")
        return "+".join(parts)


@dataclass(frozen=True)
class KernelPlan:
    """The lowering of one attention cascade: its kernels and the properties that select flags."""

    cascade: str
    kernels: tuple[PassKernel, ...]
    #: names of the cascade's query, key, value and output tensors
    q: str
    k: str
    v: str
    out: str
    #: the score's filter has an upper bound m - p <= hi (causal `m <= p + (M - P)`: hi = M - P); masks
    #: plus skipping of fully masked tiles
    causal: bool
    #: K/V carry a group rank that Q refines (GQA/MQA): R query heads share one K/V head
    grouped: bool
    #: the score's constant factor: `scale_const` times the product of the cascade's scalars named in
    #: `scale_names` (e.g. `s = 1 / sqrt(E)`), evaluated for a head dim by `scale`
    scale_const: float = 1.0
    scale_names: tuple[str, ...] = ()
    #: element-wise operators applied to the scaled score, innermost first (at most one is launched)
    score_fns: tuple[str, ...] = ()
    #: the filter as a band lo <= m - p <= hi of affine size expressions (einsim.gpu.band.Band), or None
    band: Any = None
    #: names of the key and query ranks (the sizes the band's expressions use besides extra sizes)
    band_ranks: tuple[str, str] = ("M", "P")
    #: split-K / flash-decoding: chunk summaries over key chunks, merged by a combine kernel
    split_k: bool = False
    #: kernelized linear attention (einsim.gpu.linear): a K/V state pass, then a Q pass; no softmax
    linear: bool = False
    #: the cascade this plan lowers (for its scalars); not part of equality
    source: Any = field(default=None, compare=False, repr=False)

    @property
    def passes(self) -> int:
        return len(self.kernels)

    @property
    def stable(self) -> bool:
        """Exponentials are shifted by a row max (False for max-free, overflow-prone cascades); linear
        attention has no exponentials."""
        return self.linear or any(k.online or k.read_m for k in self.kernels)

    @property
    def window(self) -> bool:
        """The band has a lower bound (a sliding window)."""
        return self.band is not None and self.band.lo is not None

    @property
    def variant(self) -> str:
        """Short name: `1-pass`, `2-pass`, `3-pass`, with `-window` / `-causal` / `-gqa` suffixes."""
        if self.linear:
            return "linear-causal" if self.causal else "linear"
        name = f"{self.passes}-pass" + ("-splitk" if self.split_k else "")
        if self.window:
            name += "-window"
        elif self.causal:
            name += "-causal"
        if self.grouped:
            name += "-gqa"
        return name

    def band_offsets(self, shape: Shape) -> tuple[int | None, int | None]:
        """(hi, lo) of the band for a shape (None where unbounded); the key and query ranks take N_KV and
        N_Q, other sizes (a window W) come from `shape.sizes`. Raises `EinsimError` when a size is missing
        or when the band leaves a query without a key or reaches past the last key."""
        if self.band is None:
            return None, None
        from einsim.errors import EinsimError

        env = {self.band_ranks[0]: shape.N_KV, self.band_ranks[1]: shape.N_Q, **dict(shape.sizes)}
        try:
            hi, lo = self.band.offsets(env)
        except KeyError as e:
            n = e.args[0]
            raise EinsimError(
                f"Cascade {self.cascade!r}: its filter `{self.band}` needs the size {n}; pass it "
                f"(`--size {n}=1024` to einsim gpu, sizes={{{n!r}: 1024}} in Python)."
            ) from None
        if hi is not None and not 0 <= hi <= shape.N_KV - shape.N_Q:
            raise EinsimError(
                f"Cascade {self.cascade!r}: its filter `m - p <= {self.band.hi}` = {hi} at N_Q={shape.N_Q}, "
                f"N_KV={shape.N_KV}; the lowering needs 0 <= it <= N_KV - N_Q (every query sees a key, none past "
                "the last key): use N_KV >= N_Q for a causal cascade."
            )
        if lo is not None and (shape.N_Q - 1 + lo > shape.N_KV - 1 or hi is not None and lo > hi):
            raise EinsimError(
                f"Cascade {self.cascade!r}: its filter `m - p >= {self.band.lo}` = {lo} leaves queries without a "
                f"visible key at N_Q={shape.N_Q}, N_KV={shape.N_KV}; choose a wider window."
            )
        return hi, lo

    def scale(self, head_dim: int) -> float:
        """The score factor with every rank size of the embedding ranks set to `head_dim`."""
        out = self.scale_const
        if self.scale_names:
            from einsim.execute import eval_scalars

            sizes = {r: head_dim for r in ("E", "F", "D")}
            vals = eval_scalars(self.source, sizes)
            for n in self.scale_names:
                out *= vals[n]
        return out


@dataclass(frozen=True)
class Shape:
    """An attention problem: batch, query heads, K/V heads, query and key lengths, head dim, dtype."""

    B: int
    H: int
    N_Q: int
    N_KV: int
    D: int
    G: int | None = None
    dtype: str = "bf16"
    #: other sizes of the cascade (e.g. a window width W used only in a filter), as (name, value) pairs
    sizes: tuple[tuple[str, int], ...] = ()

    @property
    def kv_heads(self) -> int:
        return self.H if self.G is None else self.G

    @property
    def R(self) -> int:
        return self.H // self.kv_heads

    @property
    def elt_bytes(self) -> int:
        return {"fp32": 4, "fp16": 2, "bf16": 2}[self.dtype]

    def points(self, hi: int | None = None, lo: int | None = None) -> float:
        """Visible (query, key) pairs per head under the band lo <= m - p <= hi (None: unbounded)."""
        if hi is None and lo is None:
            return float(self.N_Q * self.N_KV)
        total = 0
        for p in range(self.N_Q):
            a = 0 if lo is None else max(0, p + lo)
            b = self.N_KV - 1 if hi is None else min(self.N_KV - 1, p + hi)
            total += max(0, b - a + 1)
        return float(total)

    def flops(self, causal: bool = False, band: tuple[int | None, int | None] | None = None) -> float:
        """Useful forward FLOPs by the usual convention: 4·B·H·N_Q·N_KV·D over the visible pairs only
        (causal: the bottom-right aligned triangle, hi = N_KV - N_Q; `band`: (hi, lo) offsets)."""
        hi, lo = band if band is not None else ((self.N_KV - self.N_Q) if causal else None, None)
        return 4.0 * self.B * self.H * self.points(hi, lo) * self.D


@dataclass(frozen=True)
class Tiling:
    """Launch configuration of every pass kernel of a plan for one shape."""

    block_m: int
    block_n: int
    num_warps: int
    num_stages: int
    #: stack the R query heads of a K/V group as tile rows (decode / GQA with few queries)
    group_rows: bool = False
    #: online passes rescale only when a row max grows by more than 2^8 (exact up to rounding); off by
    #: default: on the H200 it ran 4-8 % slower than rescaling every tile (studies/notes_gpu.md)
    lazy_rescale: bool = False
    #: load K/V tiles through TMA tensor descriptors (Hopper+; needs unit inner strides); the
    #: interpreter and non-contiguous inputs fall back to pointer loads
    tma: bool = False
    #: ask triton to warp-specialize the unmasked K/V loop (`tl.range(..., warp_specialize=True)`);
    #: ignored under the interpreter
    warp_specialize: bool = False
    #: split-K plans: key chunks run in parallel (0: `choose_splits` picks them to fill the SMs)
    splits: int = 0
    #: plans whose band has an upper bound (causal): launch the query tiles with the most K/V tiles
    #: first (longest-processing-time order, as FlashAttention-2 does), so the last programs to start are
    #: the short ones and the SMs finish together (`heavy_first` in `kernel_flags`)
    heavy_first: bool = True
    #: persistent launch: this many programs per SM, each looping over query tiles (0: a program per
    #: query tile, the hardware scheduler assigning them); not for split-K plans
    persistent: int = 0
    #: persistent causal launches deal pairs of query tiles, one heavy and one light (`paired_deal`);
    #: False deals single tiles (their drift re-reads K/V; kept to measure against)
    paired: bool = True
    #: online passes that rescale every tile compute the tile's PV product into a fresh accumulator and
    #: fold the rescale into one FMA after it (`pv_fma_applies`), instead of rescaling before the dot
    pv_fma: bool = False
    #: warp-specialized loops: the second consumer warpgroup spins this many SM cycles per row a thread holds
    #: (two) before each job's K/V loop (negative: each persistent program's first job only); 0: no spin. An
    #: experiment (studies/gpu_ws_phase.py --stagger): where the two warpgroups stand against each other sets
    #: whether they queue for the tensor pipe (notes_gpu.md v25, v26)
    stagger_cycles: int = 0
    #: experiment (studies/gpu_pingpong.py): FlashAttention-3's ping-pong schedule of the two consumer
    #: warpgroups (the kernels' PINGPONG): they take turns on the tensor cores, one's softmax under the other's
    #: products (warp-specialized online 1-pass loops with eager rescaling only: `pingpong_applies`). Exact,
    #: and 13-47 % slower on the H100: a turn can end only once its score product is done (notes_gpu.md v27)
    pingpong: bool = False


def launch_rows(shape: Shape, t: Tiling) -> tuple[int, int]:
    """(query rows per program column, head programs per batch) as the kernels are launched: stacked
    groups put the R query heads of a K/V head on the rows of one head program."""
    if t.group_rows:
        return shape.R * shape.N_Q, shape.kv_heads
    return shape.N_Q, shape.H


#: int64 fields of a program's row in a recorded timeline (the kernels' TIMELINE probe): its SM, entry,
#: TIMELINE_CHECKPOINTS times in its unmasked K/V loop, the loop's end, its exit (einsim.gpu.l2sim.replay)
TIMELINE_CHECKPOINTS = 8
TIMELINE_FIELDS = TIMELINE_CHECKPOINTS + 4

#: keys per prefix-state chunk of causal linear attention: the fastest of the chunk sizes measured at the
#: default launches (128 and 256 at D=64; 256, 512 and 1024 at D=128; runs 19-22, notes_gpu.md v10). The
#: model with the compiled kernels (the SASS simulation, v12) orders them as measured at 16K keys (run 29),
#: and within 3 % of the measured order at 8K
CAUSAL_LINEAR_CHUNK = 256


def choose_splits(plan: KernelPlan, shape: Shape, t: Tiling, sms: int = 132) -> tuple[int, int]:
    """(chunks S, keys per chunk) of a split-K plan: enough chunks that the programs (query-row tiles x
    batch x head programs x S) cover the SMs twice, each chunk a whole number of BLOCK_N tiles;
    `t.splits` overrides. (1, N_KV) for other plans."""
    if not (plan.split_k or plan.linear):
        return 1, shape.N_KV
    if plan.linear and plan.causal:
        # prefix-state chunks of CAUSAL_LINEAR_CHUNK keys (at least a query tile): shorter chunks shorten
        # every query tile's exact window, longer ones cut the states' bytes (D² fp32 per chunk)
        tiles = -(-shape.N_KV // t.block_n)
        per = -(-tiles // t.splits) if t.splits else -(-max(CAUSAL_LINEAR_CHUNK, t.block_m) // t.block_n)
        per = max(1, min(per, tiles))
        return -(-tiles // per), per * t.block_n
    rows, hp = launch_rows(shape, t)
    # linear attention: the state pass has a program per (batch, head, key chunk), no query tiles
    programs = shape.B * shape.H if plan.linear else -(-rows // t.block_m) * shape.B * hp
    tiles = -(-shape.N_KV // t.block_n)
    want = t.splits or -(-2 * sms // programs)
    per = -(-tiles // max(1, min(want, tiles)))
    if not t.splits:  # chunks of >= 512 keys: chunk summaries stay small next to the K/V they replace
        per = max(per, min(tiles, -(-512 // t.block_n)))
    return -(-tiles // per), per * t.block_n


def linear_apply_programs(shape: Shape, t: Tiling, sms: int = 132) -> int:
    """Programs per batch·head of the non-causal linear apply kernel: enough to cover the SMs twice, each
    loading the total state once and looping over every P-th query tile."""
    return max(1, min(-(-shape.N_Q // t.block_m), -(-2 * sms // (shape.B * shape.H))))


def ws_applies(plan: KernelPlan, shape: Shape, t: Tiling) -> bool:
    """Where triton 3.6's Hopper warp specialization of the K/V loop compiles: TMA descriptors for Q, K
    and V, one query head per tile row, a single pass (the max-only and normalize passes of 2-/3-pass
    cascades do not compile with it). Masked tiles (causal, ragged N_KV) run in one masked loop (a second
    loop over the descriptors breaks the specialization). Whether a setting is *correct* is
    `ws_verified`'s business."""
    return t.tma and plan.passes == 1 and not t.group_rows and not plan.split_k


#: chunk states the linear-attention scan program loads per round of loads
SCAN_CHUNKS = 32


@dataclass(frozen=True)
class LinearLaunch:
    """One launch of a linear-attention plan: its kernel in einsim.gpu.linear_kernels, warps, pipeline
    stages and constexpr flags (the feature map, a jit function, apart)."""

    kernel: str
    warps: int
    stages: int
    flags: dict


def linear_launches(plan: KernelPlan, shape: Shape, t: Tiling) -> tuple[LinearLaunch, ...]:
    """The state, sum-or-scan and apply launches of a linear plan, as the runtime launches them and
    einsim.gpu.inspect compiles them. The scan program handles one state row with 4 warps; the causal
    apply pass takes the prefix state 32 rows at a time (the D x D state never in registers whole)."""
    D = shape.D
    apply = (
        LinearLaunch("linear_causal_apply_kernel", t.num_warps, t.num_stages,
                     dict(HEAD_DIM=D, BLOCK_M=t.block_m, BLOCK_N=t.block_n, STATE_ROWS=min(32, D)))
        if plan.causal
        else LinearLaunch("linear_apply_kernel", t.num_warps, t.num_stages, dict(HEAD_DIM=D, BLOCK_M=t.block_m))
    )  # fmt: skip
    return (
        LinearLaunch("linear_state_kernel", t.num_warps, t.num_stages, dict(HEAD_DIM=D, BLOCK_N=t.block_n)),
        LinearLaunch("linear_scan_kernel", 4, 3, dict(HEAD_DIM=D, CHUNK_BLOCK=SCAN_CHUNKS, TOTAL_ONLY=not plan.causal)),
        apply,
    )


def kernel_flags(
    plan: KernelPlan, pk: PassKernel, shape: Shape, t: Tiling, *, tma: bool, warp_spec: bool, has_score_fn: bool
) -> dict:
    """The constexpr flags of the pass skeleton for one pass kernel (SCORE_FN, a jit function, apart)."""
    return dict(
        HEAD_DIM=shape.D,
        BLOCK_M=t.block_m,
        BLOCK_N=t.block_n,
        CAUSAL=plan.causal,
        GROUP_ROWS=t.group_rows,
        WINDOW=plan.window,
        EVEN_N=shape.N_KV % t.block_n == 0,
        ONLINE=pk.online,
        READ_M=pk.read_m,
        DO_EXP=pk.do_exp,
        DO_SUM=pk.do_sum,
        DO_PV=pk.do_pv,
        DIV_IN_LOOP=pk.div_in_loop,
        DIV_OUT=pk.div_out,
        NORM_EACH=pk.norm_each,
        WRITE_M=pk.write_m,
        WRITE_L=pk.write_l,
        WRITE_O=pk.write_o,
        HAS_SCORE_FN=has_score_fn,
        LAZY_RESCALE=lazy_applies(pk, t),
        TMA=tma,
        WARP_SPEC=warp_spec,
        SPLIT=plan.split_k,
        REVERSE_M=heavy_first(plan, t),
        PERSISTENT=persistent_applies(plan, t),
        PAIR_M=paired_deal(plan, shape, t),
        PV_FMA=pv_fma_applies(pk, t),
        STAGGER=t.stagger_cycles if warp_spec else 0,
        PINGPONG=warp_spec and pingpong_applies(pk, t),
    )


def pv_fma_applies(pk: PassKernel, t: Tiling) -> bool:
    """Whether an online pass adds the tile's PV product to the rescaled numerator by an FMA after the
    dot (`Tiling.pv_fma`): passes that rescale every tile, FA1's normalized output apart."""
    return t.pv_fma and pk.online and pk.do_exp and pk.do_pv and not pk.norm_each and not lazy_applies(pk, t)


def pingpong_applies(pk: PassKernel, t: Tiling) -> bool:
    """The ping-pong schedule needs the online pass with an exponent, a row sum and the PV product, rescaled
    every tile before the product (not lazily, not as an FMA after it); the caller checks warp
    specialization."""
    return t.pingpong and pk.online and pk.do_exp and pk.do_sum and pk.do_pv and not t.lazy_rescale and not t.pv_fma


def lazy_applies(pk: PassKernel, t: Tiling) -> bool:
    """Whether the pass rescales lazily: FA1's normalized output is rescaled at every tile regardless."""
    return t.lazy_rescale and not pk.norm_each


def persistent_applies(plan: KernelPlan, t: Tiling) -> bool:
    """Whether the launch is persistent: split-K plans use the third grid axis for key chunks instead."""
    return bool(t.persistent) and not plan.split_k


def paired_deal(plan: KernelPlan, shape: Shape, t: Tiling) -> bool:
    """Whether a persistent causal launch deals its query tiles in pairs (i, n - 1 - i) of one head
    program: query tile i visits about i + 1 K/V tiles, so every pair about n + 1 and the programs,
    dealt equal jobs round-robin, stay in step. Dealt one tile at a time they drift apart (their jobs
    differ up to n-fold), the running jobs spread over more heads than L2 holds and K/V is re-read
    (causal 4K, H100: 382-390 MiB read where 256 are needed, runs 23-34; notes_gpu.md v13). Needs an
    even number of query tiles."""
    rows, _ = launch_rows(shape, t)
    return t.paired and persistent_applies(plan, t) and heavy_first(plan, t) and -(-rows // t.block_m) % 2 == 0


def heavy_first(plan: KernelPlan, t: Tiling) -> bool:
    """Whether the kernels launch query tiles last-first: with an upper band bound (causal) query tile i
    visits about i + 1 K/V tiles, so reversing the launch order puts the heaviest programs first."""
    return t.heavy_first and plan.causal and not t.group_rows


def ws_verified(t: Tiling) -> bool:
    """The warp-specialized configuration checked correct on the device (H200, triton 3.6, with O
    stored through a descriptor): BLOCK_N 128, 2 stages, 4 warps per partition — non-causal, causal
    (mask rows relative to the tile; absolute rows were wrong in v5) and sliding-window kernels
    (results/gpu_ws_v6*.json). BLOCK_N 64 with 3 stages returned NaN/wrong rows there (a triton 3.6
    miscompile), so other settings are refused unless EINSIM_EXPERIMENTAL_WS=1 (studies/notes_gpu.md,
    v3-v7)."""
    return t.warp_specialize and t.tma and t.block_n == 128 and t.num_stages == 2 and t.num_warps == 4


def _pow2(x: int) -> int:
    return 1 << max(0, (x - 1).bit_length())


def choose_tiling(plan: KernelPlan, shape: Shape, interpret: bool = False) -> Tiling:
    """A fixed, GPU-legal configuration (blocks ≥ 16 so every `tl.dot` has K ≥ 16).

    Prefill: BLOCK_M 128, BLOCK_N 64, 8 warps, 3 stages (gpu.md §1.5; at D=64 8 warps beat 4 in the
    benchmark's tuning in every run on the H200: 1.23-1.28 vs 1.36-1.37 ms at 4K); at D=128
    a 1-pass plan (causal or not, any N_KV) uses TMA loads and triton's Hopper warp specialization
    (BLOCK_N 128, 2 stages: +15-16 % non-causal, +5-8 % causal on the H200, verified correct there).
    At D=64 warp specialization lost to the pointer kernel on the H200 except at 16K non-causal (+2 %).
    That kernel is launched persistent (one program per SM looping over the query tiles) where `_launch`
    finds it pays.
    Decode-like shapes (R·N_Q ≤ 64 query rows per K/V head) stack the group's heads as rows.
    In the interpreter smaller tiles keep CPU tests fast.
    """
    if plan.linear:
        # measured on the H200 (run 19, notes v10): at D=64, 4 warps (2-4 programs per SM, no spills) took
        # 0.60-0.62x the time of 8; at D=128 the D x D fp32 state needs 8 warps to stay out of local memory,
        # and causal query tiles of 128 rows halve the prefix-state loads (0.78x the time, no spills)
        if interpret:
            return Tiling(32, 32, 4, 1)
        if shape.D <= 64:
            return Tiling(64, 64, 4, 3)
        return Tiling(128 if plan.causal else 64, 64, 8, 3)
    rows_grouped = shape.R * shape.N_Q
    if rows_grouped <= 64:
        bm = max(16, _pow2(rows_grouped))
        return Tiling(bm, 64 if interpret else 128, 4, 3, group_rows=True)
    if interpret:
        return Tiling(64 if shape.N_Q >= 64 else 32, 32, 4, 1)
    if shape.D <= 64:
        return Tiling(128, 64, 8, 3)
    ws = Tiling(128, 128, 4, 2, tma=True, warp_specialize=True)
    if ws_applies(plan, shape, ws) and ws_verified(ws):
        return _launch(plan, shape, ws)
    return Tiling(128, 64, 8, 3)


#: predicted gain a persistent launch needs over a program per tile: the drift of persistent programs
#: costs DRAM reads the model does not count, for gains inside the timing noise below this (non-causal 16K
#: at D=128: 0.9 % predicted, 1-2 % measured, 285-299 MiB read where 256 are needed on the H100, runs 12-34)
PERSISTENT_MIN_GAIN = 0.03


def round_kv_bytes(plan: KernelPlan, shape: Shape, t: Tiling, programs: int) -> int:
    """K/V bytes of the heads one round of a persistent launch works on: the jobs of a K/V head (its query
    tiles, or pairs of them, over the head programs that share it) are consecutive in the deal, so
    `programs` running jobs span ceil(programs / jobs per head) heads, one more where they straddle."""
    rows, hp = launch_rows(shape, t)
    jobs = -(-rows // t.block_m) * (hp // shape.kv_heads)
    if paired_deal(plan, shape, t):
        jobs //= 2
    return (-(-programs // jobs) + 1) * shape.N_KV * shape.D * shape.elt_bytes * 2


def _launch(plan: KernelPlan, shape: Shape, t: Tiling) -> Tiling:
    """Persistent or a program per query tile (132 SMs, the H100/H200 rates): a persistent program saves
    the per-program launch work (+4-7 % at 4K, +19 % at 1K non-causal on the H200) and, causal, is dealt
    pairs of query tiles (`paired_deal`).

    Only where one round's K/V (`round_kv_bytes`) fits the L2 share a line read by every SM gets (half
    the H100's L2; a paired program reads its head's first K/V tiles again for the light tile), and
    where the model predicts at least PERSISTENT_MIN_GAIN: persistent programs drift apart over their
    jobs and re-read K/V from DRAM where the block scheduler's waves, restarted in launch order, do not
    (32 MiB heads: 6-8x, run 10; studies/notes_gpu.md, v9 and v13)."""
    import dataclasses

    from einsim.gpu.arch import H100_SXM, H200
    from einsim.gpu.model import predict

    dealt = dataclasses.replace(t, persistent=1)
    if plan.split_k or round_kv_bytes(plan, shape, dealt, H100_SXM.sms) > H100_SXM.l2_bytes // 2:
        return t
    gain = predict(plan, shape, t, H200).seconds / predict(plan, shape, dealt, H200).seconds - 1
    return dealt if gain >= PERSISTENT_MIN_GAIN else t
