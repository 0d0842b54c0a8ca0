"""GPU model of kernelized linear attention (einsim.gpu.linear): DRAM bytes and time per kernel.

Input: a linear `KernelPlan`, a `Shape`, the `Tiling` and a `GpuArch`. Output: a `Prediction`
(einsim.gpu.model) with one `KernelCost` per launch.

Assumptions:
- The products run on tf32 tensor cores (fp32 operands), at half the bf16 datasheet rate; the feature
  map costs one exponential per mapped element (elu1), at the MUFU rate. A kernel's compute is the
  larger of the two (they overlap), spread over the SMs its programs occupy.
- Bytes. The state pass reads K and V once and writes the fp32 chunk states (D² + D per chunk). The
  non-causal apply pass reads Q and the chunk states (DRAM once; L2 for the other query tiles) and writes
  O. Causal: the scan pass reads the chunk states and writes them back with one more slot (the total);
  it loads `SCAN_CHUNKS` chunks per round, so it also pays a load latency per round. The causal apply
  pass reads Q, each prefix state once (the query tiles of a chunk share it in L2) and K and V once
  more for the keys after the prefix boundary (the query tiles of a head run together, so their
  overlapping windows hit L2), and writes O.
- Time: the largest of compute and DRAM bytes over the copy bandwidth, plus a launch.
"""

from __future__ import annotations

import math

from einsim.gpu.arch import GpuArch
from einsim.gpu.model import KernelCost, Prediction
from einsim.gpu.plan import KernelPlan, Shape, Tiling, choose_splits

#: chunk states the causal scan program loads per round (einsim.gpu.runtime launches it with this)
SCAN_CHUNKS = 32


def window_tiles(shape: Shape, t: Tiling, hi: int, chunk: int) -> list[int]:
    """Causal apply: K/V tiles each query tile adds exactly — keys from its prefix boundary
    a = ⌊(p0 + hi + 1) / chunk⌋·chunk up to the last key its last row sees (p0 + BLOCK_M - 1 + hi)."""
    out = []
    for p0 in range(0, shape.N_Q, t.block_m):
        a = (p0 + hi + 1) // chunk * chunk
        end = min(p0 + t.block_m + hi, shape.N_KV)
        out.append(max(0, math.ceil((end - a) / t.block_n)))
    return out


def _cost(index, label, programs, mma, exps, reads, writes, arch: GpuArch, latency_s: float = 0.0) -> KernelCost:
    mma_s = mma / (arch.tensor_flops / 2)
    exp_s = exps / arch.mufu_rate
    compute = max(mma_s, exp_s) * max(1.0, arch.sms / max(programs, 1))  # idle SMs when programs are few
    dram_s = max((reads + writes) / arch.hbm_copy_bw, latency_s)
    z = 0.0
    return KernelCost(
        index, label, programs, 1, z, mma, exps, z, reads, writes, mma_s, exp_s, z, compute, z, dram_s,
        max(compute, dram_s) + arch.launch_s,
    )  # fmt: skip


def predict_linear(plan: KernelPlan, shape: Shape, t: Tiling, arch: GpuArch) -> Prediction:
    """Predicted DRAM bytes and time of the state, (scan,) and apply kernels of a linear-attention plan."""
    elt, B, H, D = shape.elt_bytes, shape.B, shape.H, shape.D
    bh = B * H
    n_split, chunk = choose_splits(plan, shape, t, arch.sms)
    state_bytes = (D * D + D) * 4
    part = bh * n_split * state_bytes
    kv_bytes = 2 * bh * shape.N_KV * D * elt
    q_bytes = bh * shape.N_Q * D * elt
    state, *rest = plan.kernels
    costs = [
        _cost(state.index, state.label, bh * n_split, 2.0 * bh * shape.N_KV * D * D, bh * shape.N_KV * D,
              kv_bytes, part, arch),
    ]  # fmt: skip
    if not plan.causal:
        (apply,) = rest
        programs = bh * math.ceil(shape.N_Q / t.block_m)
        mma = 2.0 * bh * shape.N_Q * D * D
        costs.append(_cost(apply.index, apply.label, programs, mma, bh * shape.N_Q * D, q_bytes + part, q_bytes, arch))
        return Prediction(tuple(costs))
    scan, apply = rest
    rounds = math.ceil(n_split / SCAN_CHUNKS)
    latency = rounds * arch.load_latency_s
    costs.append(_cost(scan.index, scan.label, bh * D, 0.0, 0.0, part, part + bh * state_bytes, arch, latency))
    hi, _ = plan.band_offsets(shape)
    win = window_tiles(shape, t, hi, chunk)
    slots_read = len({(p0 + hi + 1) // chunk for p0 in range(0, shape.N_Q, t.block_m)})
    mma = bh * sum(2.0 * t.block_m * D * D + n * 4.0 * t.block_m * t.block_n * D for n in win)
    exps = bh * sum(t.block_m * D + n * t.block_n * D for n in win)
    reads = q_bytes + kv_bytes + bh * slots_read * state_bytes
    costs.append(_cost(apply.index, apply.label, bh * len(win), mma, exps, reads, q_bytes, arch))
    return Prediction(tuple(costs))
