"""GPU model of kernelized linear attention (einsim.gpu.linear): DRAM bytes and time per kernel.

Input: a linear `KernelPlan`, a `Shape`, the `Tiling` and a `GpuArch`. Output: a `Prediction`
(einsim.gpu.model) with one `KernelCost` per launch: chunk states, their sum (non-causal) or prefix scan
(causal), the apply pass.

Assumptions:
- Products with the fp32 state (φ(Q) times K^T V) run on tf32 tensor cores at half the bf16 datasheet
  rate; the others (the state pass's φ(K)ᵀV, the causal window's) take the input dtype (full rate). The
  feature map costs one exponential per mapped element (elu1) at the MUFU rate. A kernel's compute is
  the larger of the two, spread over the SMs its programs occupy.
- Bytes. The state pass reads K and V once and writes the fp32 chunk states (D² + D per chunk). The sum
  or scan reads them and writes the total (and, causal, the prefix states). The non-causal apply pass
  reads Q and writes O; its programs read the total state from L2. The causal apply pass reads Q, each
  prefix state once (the query tiles of a chunk share it in L2) and K and V once more for the keys past
  the prefix boundary (the query tiles of a head run together, so their overlapping windows hit L2),
  and writes O.
- Latency. These kernels run one or two programs per SM (their D x D fp32 state or accumulator fills
  the registers), so loads are hidden only by the loop's pipeline: a program keeps (stages - 1) loop
  iterations of loads in flight per `arch.load_latency_s` (Little's law, as for decode in
  einsim.gpu.model), and the loads before its loop (the state of an apply program) cost one latency per
  wave of programs.
- Instruction issue, when the compiled kernels are given (`reports`, from einsim.gpu.inspect: registers,
  shared memory, the SASS): one SM's resident programs are simulated from their SASS (einsim.gpu.sass:
  four sub-partitions, one shared-memory queue, bank conflicts from the lanes' addresses, scoreboard
  latencies). Resident programs per SM follow from registers (allocated in 8s per thread), shared memory
  (+1 KiB per program) and threads; the launch's programs are dealt round-robin to the SMs' resident
  slots, SM 0's slots run their first `SIMULATED_PROGRAMS_PER_SLOT` programs (their own loop trip counts)
  and the time is scaled to all of SM 0's programs by their instructions. (Until v12 a law — 4·min(1,
  w / 8) instructions per cycle for w warps per scheduler — stood here: 56 of the 82 distinct linear
  records of runs 20-24 within ±25 %; the simulation has 212 of the 214 of runs 19-34, notes_gpu.md v12.)
- Time: the largest of compute (the larger of the roofline and the issue time), DRAM bytes over
  min(copy bandwidth, the latency-bound rate) and L2 bytes over `arch.l2_read_bw`, plus the serial
  latencies and a launch. With the compiled kernels the simulation has run the loads at their latency,
  so the latency-bound rate and the serial latencies are dropped (as for decode in einsim.gpu.model).
"""

from __future__ import annotations

import functools
import math

from einsim.gpu.arch import GpuArch
from einsim.gpu.model import KernelCost, Prediction
from einsim.gpu.plan import (
    SCAN_CHUNKS,
    KernelPlan,
    Shape,
    Tiling,
    choose_splits,
    linear_apply_programs,
    linear_launches,
)
from einsim.gpu.sass import slot_cycles

#: programs simulated per resident slot (the rest scaled): the first carries the start-up, the second the
#: steady state
SIMULATED_PROGRAMS_PER_SLOT = 2


def window_tiles(shape: Shape, t: Tiling, hi: int, chunk: int) -> list[int]:
    """Causal apply: K/V tiles each query tile adds exactly — keys from its prefix boundary
    a = ⌊(p0 + hi + 1) / chunk⌋·chunk up to the last key its last row sees (p0 + BLOCK_M - 1 + hi)."""
    out = []
    for p0 in range(0, shape.N_Q, t.block_m):
        a = (p0 + hi + 1) // chunk * chunk
        end = min(p0 + t.block_m + hi, shape.N_KV)
        out.append(max(0, math.ceil((end - a) / t.block_n)))
    return out


def resident_programs(report, warps: int, arch: GpuArch) -> int:
    """Programs per SM that registers (allocated in 8s per thread), shared memory (+1 KiB reserved per
    program) and threads allow."""
    threads = 32 * warps
    regs = -(-report.registers // 8) * 8
    return max(1, min(arch.regs_per_sm // (regs * threads), arch.smem_per_sm // (report.shared_bytes + 1024),
                      2048 // threads, 32))  # fmt: skip


def resident_slots(iterations: list[float], report, warps: int, arch: GpuArch) -> tuple[list[list[int]], float]:
    """SM 0's resident program slots (the launch's programs dealt round-robin to the SMs' slots): the loop
    trip counts of each slot's first SIMULATED_PROGRAMS_PER_SLOT programs, and the factor that scales the
    simulated programs to all of SM 0's: the busiest slot's instructions (loop trips x loop body + the rest,
    per program) over those of its simulated programs — programs' trip counts vary (the causal apply's
    windows), so a count of programs would misweigh them."""
    k = min(resident_programs(report, warps, arch), math.ceil(len(iterations) / arch.sms))
    per_slot = [iterations[j :: arch.sms * k] for j in range(k)]
    simulated = [[round(n) for n in slot[:SIMULATED_PROGRAMS_PER_SLOT]] for slot in per_slot]

    def work(programs) -> float:  # instructions a warp issues: the loop n times and the rest once, per program
        return sum(n * report.loop_instructions + report.other_instructions for n in programs)

    busiest = max(range(k), key=lambda j: work(per_slot[j]))
    return simulated, work(per_slot[busiest]) / max(work(simulated[busiest]), 1)


def issue_seconds(iterations: list[float], report, warps: int, arch: GpuArch) -> float:
    """Time of a launch whose programs (in launch order) run `iterations` of the compiled loop, from the
    SASS simulation of SM 0's resident programs (einsim.gpu.sass.slot_cycles)."""
    if not iterations:
        return 0.0
    simulated, scale = resident_slots(iterations, report, warps, arch)
    cycles = _slot_cycles(report.instructions, warps, tuple(map(tuple, simulated)), arch.sass_load_latency_cycles)
    return cycles * scale / arch.clock_hz


@functools.lru_cache(maxsize=1024)
def _slot_cycles(ins: tuple, warps: int, slots: tuple, latency: int) -> int:
    """slot_cycles, remembered: the same kernel and slots recur across shapes, launches and cards."""
    return slot_cycles(ins, warps, [list(s) for s in slots], latency)


def kernel_iterations(plan: KernelPlan, shape: Shape, t: Tiling, sms: int) -> tuple[list[float], ...]:
    """Main-loop trip count of every program of the three launches (state, scan, apply), in launch order:
    the state pass's key tiles per chunk, the scan's rounds of SCAN_CHUNKS chunks, and the apply pass's
    query tiles (non-causal) or exact-window key tiles (causal)."""
    bh = shape.B * shape.H
    n_split, chunk = choose_splits(plan, shape, t, sms)
    tiles, per = math.ceil(shape.N_KV / t.block_n), chunk // t.block_n
    if plan.causal:
        win = window_tiles(shape, t, plan.band_offsets(shape)[0], chunk)
        apply_iters = [float(n) for _ in range(bh) for n in win]  # grid (query tiles, heads)
    else:
        n_qt, apply_p = math.ceil(shape.N_Q / t.block_m), linear_apply_programs(shape, t, sms)
        apply_iters = [float(len(range(p, n_qt, apply_p))) for _ in range(bh) for p in range(apply_p)]
    return (
        [float(min(per, tiles - s * per)) for s in range(n_split) for _ in range(bh)],  # grid (heads, chunks)
        [float(math.ceil(n_split / SCAN_CHUNKS))] * (bh * shape.D),
        apply_iters,
    )


def _cost(
    pk, programs: int, arch: GpuArch, *, tf32: float = 0.0, bf16: float = 0.0, exps: float = 0.0,
    reads: float = 0.0, writes: float = 0.0, l2_bytes: float = 0.0, inflight: float = math.inf,
    resident: int = 1, serial_rounds: int = 0, issue_s: float = 0.0,
) -> KernelCost:  # fmt: skip
    """One kernel: `inflight` bytes per program per load latency, `resident` programs per SM,
    `serial_rounds` load latencies before the loop of every program, and its instruction issue time."""
    mma_s = tf32 / (arch.tensor_flops / 2) + bf16 / arch.tensor_flops
    exp_s = exps / arch.mufu_rate
    compute = max(mma_s, exp_s) * max(1.0, arch.sms / max(programs, 1))  # idle SMs when programs are few
    compute = max(compute, issue_s)
    slots = min(programs, arch.sms * resident)
    # the SASS simulation (issue_s) runs the programs' loads at their latency: no latency terms beside it
    bw = arch.hbm_copy_bw if issue_s else min(arch.hbm_copy_bw, slots * inflight / arch.load_latency_s)
    dram_s = (reads + writes) / bw
    l2_s = l2_bytes / arch.l2_read_bw
    waves = math.ceil(programs / slots)
    serial_s = 0.0 if issue_s else waves * serial_rounds * arch.load_latency_s
    seconds = max(compute, dram_s, l2_s) + serial_s + arch.launch_s
    return KernelCost(
        pk.index, pk.label, programs, resident, 0.0, tf32 + bf16, exps, 0.0, reads, writes, mma_s, exp_s, 0.0,
        compute, l2_s, dram_s, seconds, issue_s,
    )  # fmt: skip


def predict_linear(plan: KernelPlan, shape: Shape, t: Tiling, arch: GpuArch, reports=None) -> Prediction:
    """Predicted DRAM bytes and time of the kernels of a linear-attention plan; `reports` (one
    einsim.gpu.inspect.KernelReport per kernel, as compiled for this shape and tiling) add the simulated
    issue time (`issue_seconds`)."""
    elt, D = shape.elt_bytes, shape.D
    bh = shape.B * shape.H
    n_split, chunk = choose_splits(plan, shape, t, arch.sms)
    state_bytes = (D * D + D) * 4
    part = bh * n_split * state_bytes
    kv_bytes = 2 * bh * shape.N_KV * D * elt
    q_bytes = bh * shape.N_Q * D * elt
    deep = max(1, t.num_stages - 1)
    rounds = math.ceil(n_split / SCAN_CHUNKS)
    iterations = kernel_iterations(plan, shape, t, arch.sms)
    apply_iters = iterations[2]
    warps = tuple(x.warps for x in linear_launches(plan, shape, t))
    issue = [0.0] * 3
    resident = [1, 16, 1]
    if reports is not None:
        issue = [issue_seconds(it, r, w, arch) for it, r, w in zip(iterations, reports, warps)]
        resident = [resident_programs(r, w, arch) for r, w in zip(reports, warps)]
    state, middle, apply = plan.kernels
    costs = [
        _cost(state, bh * n_split, arch, bf16=2.0 * bh * shape.N_KV * D * D, exps=bh * shape.N_KV * D,
              reads=kv_bytes, writes=part, inflight=deep * 2 * t.block_n * D * elt, resident=resident[0],
              issue_s=issue[0]),
    ]  # fmt: skip
    writes = bh * state_bytes + (part if plan.causal else 0)
    costs.append(
        _cost(middle, bh * D, arch, reads=part, writes=writes, resident=resident[1], serial_rounds=rounds,
              issue_s=issue[1])
    )  # fmt: skip
    if not plan.causal:
        programs = len(apply_iters)
        costs.append(
            _cost(apply, programs, arch, tf32=2.0 * bh * shape.N_Q * D * D, exps=bh * shape.N_Q * D, reads=q_bytes,
                  writes=q_bytes, l2_bytes=programs * state_bytes, inflight=deep * t.block_m * D * elt,
                  resident=resident[2], serial_rounds=1, issue_s=issue[2])
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
              l2_bytes=bh * (len(win) * state_bytes + sum(win) * tile_kv), inflight=deep * tile_kv,
              resident=resident[2], serial_rounds=1, issue_s=issue[2])
    )  # fmt: skip
    return Prediction(tuple(costs))
