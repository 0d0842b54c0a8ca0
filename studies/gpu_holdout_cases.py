"""The launch-setting holdouts of the GPU benchmark (studies/gpu_benchmark.py): prefill launches the
kernels had not been timed with, each group registered with the prefill models' predictions before it ran
(studies/gpu_prefill_holdout.py; notes_gpu.md v17, v20, v21).

Input: the lowered library plans (`studies.gpu_cases.library_plans`). Output: the benchmark cases of the
groups `prefill-tilings` (runs 46-47), `prefill-tilings-b` (48-50), `prefill-tilings-c` (53, 55) and
`prefill-tilings-d` (54-55; profiled with Nsight Compute's local-memory counters, studies/gpu_ncu.py); and
the fifth holdout, `variants-e` (notes v22): every einsim prefill variant at the launch einsim chooses, at
shapes no run had timed, to hold the variant ranking and the time and DRAM predictions out of sample.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from studies.gpu_cases import Case, alternate_plans, prefill_variants  # noqa: E402

#: launch settings (BLOCK_M, BLOCK_N, warps, stages) the prefill kernels had not been timed with, per head
#: dim, beside the defaults; registered with both prefill time models' predictions before they ran
#: (studies/gpu_prefill_holdout.py, notes_gpu.md v17). D=128 without warp specialization.
PREFILL_TILINGS = {64: [(64, 64, 4, 3), (128, 128, 8, 2), (128, 64, 4, 3)], 128: [(64, 64, 4, 3), (128, 128, 8, 2)]}
#: ... and the 1-pass kernels at D=128 with the 2- and 3-pass kernels' default launch (no warp specialization)
PREFILL_TILINGS_D128_ONE_PASS = [(128, 64, 8, 3)]
#: the second holdout's launch settings (group `prefill-tilings-b`)
PREFILL_TILINGS_B = [(64, 64, 4, 3), (64, 128, 4, 2), (128, 64, 8, 3), (128, 128, 8, 2)]
#: the third holdout (group `prefill-tilings-c`, notes v20): 64-row tiles beside the 128-row default at two
#: shapes no launch holdout ran at, registered with the issue law's overlap counted by programs and by rows
PREFILL_TILINGS_C = [(64, 64, 4, 3), (64, 64, 4, 4), (64, 128, 4, 2), (128, 64, 8, 3), (128, 64, 4, 3)]
PREFILL_SHAPES_C = ((2, 32, 8192, 64), (8, 16, 2048, 128))
#: the fourth (group `prefill-tilings-d`, notes v21): launches whose K/V loop reloads spilled registers
#: (255 registers: 4-warp 128-row tiles at D=128, 256-row tiles of 8 warps, FA1's 128x128 tiles at D=64)
#: beside launches of the same shape that do not spill, registered with the spill-aware issue law
SPILLS = "prefill-tilings-d"
PREFILL_TILINGS_D = {
    (2, 32, 4096, 128): [(128, 64, 4, 2), (128, 128, 4, 2), (256, 64, 8, 2), (128, 32, 4, 3), (128, 64, 8, 2)],
    (8, 16, 4096, 64): [(128, 128, 4, 2), (128, 64, 4, 2), (128, 128, 8, 2)],
}


#: the fifth holdout (group `variants-e`): (B, H, G, N, D, causal) — head counts, sequence lengths and
#: batch sizes no run had timed (N a multiple of 128, not all powers of two), grouped and causal included
VARIANTS_E = "variants-e"
VARIANT_SHAPES_E = (
    (3, 24, 24, 6144, 64, False),
    (2, 12, 12, 12288, 128, False),
    (5, 20, 20, 3072, 128, False),
    (2, 24, 24, 6144, 128, True),
    (4, 40, 40, 2560, 64, True),
    (2, 32, 8, 8192, 128, False),
)


def _non_causal_variants(plans) -> list[tuple[str, str]]:
    """Every non-causal, non-grouped einsim prefill variant: the 1-, 2- and 3-pass plans, the alternates
    (FA1, the partitioned 2-pass) and the lazy 1-pass, as (variant name, library file)."""
    variants = prefill_variants(plans) + alternate_plans(plans)
    one_pass = [f for v, f in variants if v == "1-pass"]
    return variants + ([("1-pass-lazy", one_pass[0])] if one_pass else [])


def variant_holdout_cases(plans, interpret: bool) -> list[Case]:
    """The fifth holdout: at each of VARIANT_SHAPES_E, every lowered einsim prefill plan with that shape's
    band and grouping (no score function, no window, not split-K) at the launch einsim chooses — for
    non-causal, non-grouped shapes also FA1, the partitioned 2-pass and the lazy 1-pass — and SDPA flash and
    cuDNN beside them; profiled for DRAM bytes."""
    if interpret:
        return []
    cases = []
    for B, H, G, n, d, causal in VARIANT_SHAPES_E:
        grouped = G != H
        variants = _non_causal_variants(plans) if not (causal or grouped) else prefill_variants(plans, causal, grouped)
        for v, f in variants:
            cases.append(Case(v, B, H, G, n, n, d, causal, cascade=f, group=VARIANTS_E, profile=True))
        for v in ("sdpa-flash", "sdpa-cudnn"):
            cases.append(Case(v, B, H, G, n, n, d, causal, group=VARIANTS_E, profile=True))
    return cases


def prefill_tiling_cases(plans, interpret: bool) -> list[Case]:
    """The launch-setting holdouts. `prefill-tilings`: every non-causal, non-grouped einsim prefill variant
    (and the lazy 1-pass) at one shape per head dim (4x32x4096 D=64, 4x16x4096 D=128), under PREFILL_TILINGS;
    `prefill-tilings-b`: the 1-, 2- and 3-pass at two other shapes under PREFILL_TILINGS_B; `prefill-tilings-c`:
    those and FA1 at PREFILL_SHAPES_C under PREFILL_TILINGS_C; `prefill-tilings-d`: the 1- and 2-pass and FA1
    under PREFILL_TILINGS_D, launches that spill registers beside launches that do not."""
    if interpret:
        return []
    variants = _non_causal_variants(plans)
    cases = []
    for (B, H, n, d), tilings in (((4, 32, 4096, 64), PREFILL_TILINGS[64]), ((4, 16, 4096, 128), PREFILL_TILINGS[128])):
        for v, f in variants:
            extra = PREFILL_TILINGS_D128_ONE_PASS if d == 128 and v in ("1-pass", "1-pass-fa1") else []
            for bm, bn, w, st in tilings + extra:
                t = (bm, bn, w, st, False, v == "1-pass-lazy")
                cases.append(Case(f"{v}-bm{bm}-bn{bn}-w{w}-s{st}", B, H, H, n, n, d, False, cascade=f,
                                  group="prefill-tilings", tiling=t))  # fmt: skip
    # registered after runs 46-47 with the model that bounds a pass by its wgmma operand bytes (notes v17):
    # other shapes, 64-row tiles beside 128-row ones, the 1-, 2- and 3-pass kernels
    plain = [(v, f) for v, f in variants if v in ("1-pass", "2-pass", "3-pass")]
    for B, H, n, d in ((1, 32, 16384, 64), (2, 16, 8192, 128)):
        for v, f in plain:
            for bm, bn, w, st in PREFILL_TILINGS_B:
                cases.append(Case(f"{v}-bm{bm}-bn{bn}-w{w}-s{st}", B, H, H, n, n, d, False, cascade=f,
                                  group="prefill-tilings-b", tiling=(bm, bn, w, st)))  # fmt: skip
    for B, H, n, d in PREFILL_SHAPES_C:
        for v, f in plain + [(v, f) for v, f in variants if v == "1-pass-fa1"]:
            for bm, bn, w, st in PREFILL_TILINGS_C:
                cases.append(Case(f"{v}-bm{bm}-bn{bn}-w{w}-s{st}", B, H, H, n, n, d, False, cascade=f,
                                  group="prefill-tilings-c", tiling=(bm, bn, w, st)))  # fmt: skip
    spill = [(v, f) for v, f in variants if v in ("1-pass", "2-pass", "1-pass-fa1")]
    for (B, H, n, d), tilings in PREFILL_TILINGS_D.items():
        for v, f in spill:
            for bm, bn, w, st in tilings:
                cases.append(Case(f"{v}-bm{bm}-bn{bn}-w{w}-s{st}", B, H, H, n, n, d, False, cascade=f,
                                  group=SPILLS, tiling=(bm, bn, w, st), profile=True))  # fmt: skip
    return cases
