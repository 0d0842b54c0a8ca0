"""GPU model of kernelized linear attention (einsim.gpu.linear): DRAM bytes and time per kernel.

Input: a linear `KernelPlan`, a `Shape`, the `Tiling` and a `GpuArch`. Output: a `Prediction`
(einsim.gpu.model) with one `KernelCost` per launch: chunk states, their sum (non-causal) or prefix scan
(causal), the apply pass.

Assumptions:
- Products run on tf32 tensor cores (fp32 operands) at half the bf16 datasheet rate, except the causal
  window's products, which take the input dtype (full rate); the feature map costs one exponential per
  mapped element (elu1) at the MUFU rate. A kernel's compute is the larger of the two, spread over the
  SMs its programs occupy.
- Bytes. The state pass reads K and V once and writes the fp32 chunk states (D² + D per chunk). The sum
  or scan reads them and writes the total (and, causal, the prefix states). The non-causal apply pass
  reads Q and writes O; its programs read the total state from L2. The causal apply pass reads Q, each
  prefix state once (the query tiles of a chunk share it in L2) and K and V once more for the keys past
  the prefix boundary (the query tiles of a head run together, so their overlapping windows hit L2),
  and writes O.
- Latency. These kernels run one 8-warp program per SM (their D x D fp32 state or accumulator fills the
  registers), so loads are hidden only by the loop's pipeline: a program keeps (stages - 1) loop
  iterations of loads in flight per `arch.load_latency_s` (Little's law, as for decode in
  einsim.gpu.model), and the loads before its loop (the state of an apply program) cost one latency per
  wave of programs.
- Time: the largest of compute, DRAM bytes over min(copy bandwidth, the latency-bound rate) and L2 bytes
  over `arch.l2_read_bw`, plus the serial latencies and a launch.
"""

from __future__ import annotations

import math

from einsim.gpu.arch import GpuArch
from einsim.gpu.model import KernelCost, Prediction
from einsim.gpu.plan import KernelPlan, Shape, Tiling, choose_splits, linear_apply_programs

#: chunk states the scan program loads per round (einsim.gpu.runtime launches it with this)
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


def _cost(
    pk, programs: int, arch: GpuArch, *, tf32: float = 0.0, bf16: float = 0.0, exps: float = 0.0,
    reads: float = 0.0, writes: float = 0.0, l2_bytes: float = 0.0, inflight: float = math.inf,
    resident: int = 1, serial_rounds: int = 0,
) -> KernelCost:  # fmt: skip
    """One kernel: `inflight` bytes per program per load latency, `resident` programs per SM, and
    `serial_rounds` load latencies before the loop of every program."""
    mma_s = tf32 / (arch.tensor_flops / 2) + bf16 / arch.tensor_flops
    exp_s = exps / arch.mufu_rate
    compute = max(mma_s, exp_s) * max(1.0, arch.sms / max(programs, 1))  # idle SMs when programs are few
    slots = min(programs, arch.sms * resident)
    bw = min(arch.hbm_copy_bw, slots * inflight / arch.load_latency_s)
    dram_s = (reads + writes) / bw
    l2_s = l2_bytes / arch.l2_read_bw
    waves = math.ceil(programs / slots)
    seconds = max(compute, dram_s, l2_s) + waves * serial_rounds * arch.load_latency_s + arch.launch_s
    return KernelCost(
        pk.index, pk.label, programs, resident, 0.0, tf32 + bf16, exps, 0.0, reads, writes, mma_s, exp_s, 0.0,
        compute, l2_s, dram_s, seconds,
    )  # fmt: skip


def predict_linear(plan: KernelPlan, shape: Shape, t: Tiling, arch: GpuArch) -> Prediction:
    """Predicted DRAM bytes and time of the kernels of a linear-attention plan."""
    elt, D = shape.elt_bytes, shape.D
    bh = shape.B * shape.H
    n_split, chunk = choose_splits(plan, shape, t, arch.sms)
    state_bytes = (D * D + D) * 4
    part = bh * n_split * state_bytes
    kv_bytes = 2 * bh * shape.N_KV * D * elt
    q_bytes = bh * shape.N_Q * D * elt
    deep = max(1, t.num_stages - 1)
    state, middle, apply = plan.kernels
    costs = [
        _cost(state, bh * n_split, arch, tf32=2.0 * bh * shape.N_KV * D * D, exps=bh * shape.N_KV * D,
              reads=kv_bytes, writes=part, inflight=deep * 2 * t.block_n * D * elt),
    ]  # fmt: skip
    rounds = math.ceil(n_split / SCAN_CHUNKS)
    writes = bh * state_bytes + (part if plan.causal else 0)
    costs.append(_cost(middle, bh * D, arch, reads=part, writes=writes, resident=16, serial_rounds=rounds))
    if not plan.causal:
        programs = bh * linear_apply_programs(shape, t, arch.sms)
        costs.append(
            _cost(apply, programs, arch, tf32=2.0 * bh * shape.N_Q * D * D, exps=bh * shape.N_Q * D, reads=q_bytes,
                  writes=q_bytes, l2_bytes=programs * state_bytes, inflight=deep * t.block_m * D * elt,
                  serial_rounds=1)
        )  # fmt: skip
        return Prediction(tuple(costs))
    hi, _ = plan.band_offsets(shape)
    win = window_tiles(shape, t, hi, chunk)
    slots_read = len({(p0 + hi + 1) // chunk for p0 in range(0, shape.N_Q, t.block_m)})
    tile_kv = 2 * t.block_n * D * elt
    costs.append(
        _cost(apply, bh * len(win), arch, tf32=bh * len(win) * 2.0 * t.block_m * D * D,
              bf16=bh * sum(win) * 4.0 * t.block_m * t.block_n * D,
              exps=bh * sum(t.block_m * D + n * t.block_n * D for n in win),
              reads=q_bytes + kv_bytes + bh * slots_read * state_bytes, writes=q_bytes,
              l2_bytes=bh * (len(win) * state_bytes + sum(win) * tile_kv), inflight=deep * tile_kv, serial_rounds=1)
    )  # fmt: skip
    return Prediction(tuple(costs))
