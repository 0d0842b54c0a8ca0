"""GPU architecture descriptions for the GPU model (pure data; no torch).

Input: nothing (constants) or a device name. Output: `GpuArch` records for the H100 SXM and the H200
with datasheet rates and the ceilings measured on this workplace's lent machines
(/work/shared/reference/gpu.md: [pub] datasheet, [here] measured).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GpuArch:
    """One GPU: compute units, rates, memory hierarchy and measured ceilings."""

    name: str
    sms: int
    #: SM clock under load (Hz): 1980 MHz read by nvidia-smi on both cards [here]
    clock_hz: float
    #: dense fp16/bf16 tensor-core FLOP/s (datasheet, at 1.83 GHz)
    tensor_flops: float
    #: special-function (MUFU ex2) results per clock per SM
    mufu_per_clk_sm: int
    #: fp32 lanes (FFMA/FMNMX/FADD issue) per clock per SM
    fp32_per_clk_sm: int
    #: HBM bandwidth, datasheet (B/s)
    hbm_peak_bw: float
    #: device-to-device copy, bytes read + written per second, measured [here]
    hbm_copy_bw: float
    l2_bytes: int
    smem_per_sm: int
    regs_per_sm: int
    #: largest per-K/V-head stream (bytes) that later waves of query tiles still find in L2; beyond it
    #: each wave of resident programs re-streams K/V from DRAM, in lockstep (gpu.md §3.3; einsim.gpu.model)
    l2_reuse_bytes: int
    #: achieved tensor-core rate inside attention tiles (FLOP/s); fitted, below `tensor_flops`
    mma_flops: float = 0.0
    #: SM <- L2 read bandwidth for K/V tile streams (B/s): the ceiling measured [here] by programs streaming
    #: an L2-resident buffer (studies/gpu_l2_bandwidth.py, results/gpu_l2_bandwidth). Until v17 it was 4.5e12,
    #: fitted to the max-only pass of run 1, which is bound by its wgmma operands instead (`smem_operand_bw`):
    #: query tiles of 64 rows, which stream the K/V tiles twice as often, ran 31-88 % faster than it allowed
    l2_read_bw: float = 10.0e12
    #: rate at which a pass's wgmmas stream their shared-memory operands (Q and the K/V tiles, read per
    #: warpgroup; Nsight Compute's bank reads match these bytes within 3 %, studies/gpu_smem_probe.py). Fitted:
    #: run 1's max-only pass, the value fitted there as an L2 rate (4.5e12 B/s of K tiles at BLOCK_N 64)
    #: re-expressed in the operand bytes that pass reads (4 per K byte): 68 B/clk/SM of the data path's 128
    smem_operand_bw: float = 18.0e12
    #: overlap of tensor, MUFU and fp32 work: the non-dominant parts cost
    #: serial_max / (resident programs per SM) ** overlap_exponent of their serial time; fitted to run 1
    serial_max: float = 1.2
    overlap_exponent: float = 0.75
    #: per-program prologue/epilogue (Q load, pipeline fill, O store) per wave of programs; fitted
    program_overhead_s: float = 2.5e-6
    #: fixed cost of one kernel launch inside a sequence of launches (s)
    launch_s: float = 4e-6
    #: effective latency of a program's pipelined K/V loads (s): a program streams at most its bytes in
    #: flight ((stages - 1) K/V tiles) per latency (Little's law), which binds when few programs run
    #: (decode of one sequence); fitted to run 9 (B=1 decode, 8-32 programs: 2.39-2.49 µs on the H200)
    load_latency_s: float = 2.4e-6
    #: a global load's latency in the SASS issue simulation of a program alone on an SM (einsim.gpu.sass,
    #: used with compiled reports where programs <= SMs): 1300 cycles at 1.98 GHz, fitted to the one
    #: decode launch whose loads are exposed (BLOCK_N 128, 2 stages: 0.890 ms, H100, notes_gpu.md v11);
    #: the other decode settings are bound by instruction issue and check it out of sample
    sass_load_latency_s: float = 6.566e-7
    #: one block-wide decision per K/V tile (lazy rescaling: does any row's max grow by more than 2^8?)
    #: is a cross-warp reduction through shared memory and a barrier that the program's warps wait at;
    #: co-resident programs fill the wait. Fitted to run 2 (median over its 24 compute-bound lazy
    #: records, 213-1089 ns); runs 3-8 check it (notes_gpu.md, v9)
    cta_sync_s: float = 3.4e-7
    #: the same law where the compiled kernel is given (`predict` with reports): the fp32 part is the issue
    #: time of the K/V loop's instructions (every warp's, one per cycle per SMSP; lazy rescaling's skipped
    #: block left out; warp-specialized kernels keep the flag count and its constants), with its own overlap constants,
    #: fitted to run 1 as the flag-count ones were (log-error sum 0.056 against 0.148; notes_gpu.md v19)
    issue_serial_max: float = 0.95
    issue_overlap_exponent: float = 0.65
    #: lazy rescaling's barrier wait per K/V tile and program slot under that law, paid like the other
    #: non-dominant parts (co-resident programs fill it). Fitted to run 3, the first run with today's lazy
    #: launches (BLOCK_N 64 at both head dims: 154-207 ns); run 2's D=128 lazy launches (BLOCK_N 128, no
    #: longer used) imply 267-1059 ns (notes_gpu.md v19)
    issue_cta_sync_s: float = 1.89e-7
    #: the L2's hit fraction for data every SM reads, against the LRU stack distance of the re-read
    #: (bytes): knots (bytes, fraction), 1 below the first and 0 past the last. Measured [here] by a
    #: cyclic scan of W bytes, each 8 KiB item read by 8 programs on different SMs, under Nsight Compute
    #: (studies/gpu_l2_curve.py; results/gpu_l2_curve_{h100,h200}). The hits fall off from about 0.47 to
    #: 0.6 of the L2, not at one size: read by one SM each, the same scan keeps hits up to 0.9 of it (a
    #: line read from both partitions is held in both). Empty: an exact LRU of half the L2
    l2_hit_curve: tuple[tuple[float, float], ...] = ()

    @property
    def sass_load_latency_cycles(self) -> int:
        """The SASS simulation's global-load latency in SM cycles."""
        return round(self.sass_load_latency_s * self.clock_hz)

    @property
    def mufu_rate(self) -> float:
        return self.sms * self.mufu_per_clk_sm * self.clock_hz

    @property
    def fp32_rate(self) -> float:
        return self.sms * self.fp32_per_clk_sm * self.clock_hz


H100_SXM = GpuArch(
    name="H100 SXM",
    sms=132,
    clock_hz=1.98e9,
    tensor_flops=989.4e12,
    mufu_per_clk_sm=16,
    fp32_per_clk_sm=128,
    hbm_peak_bw=3.35e12,
    hbm_copy_bw=3.0e12,
    l2_bytes=50 * 1024**2,
    smem_per_sm=228 * 1024,
    regs_per_sm=65536,
    l2_reuse_bytes=16 * 1024**2,
    mma_flops=989.4e12,
    l2_read_bw=10.28e12,
    l2_hit_curve=tuple(
        (w * 1024**2, h)
        for w, h in ((22, 1.0), (24, 0.994), (26, 0.683), (28, 0.273), (30, 0.062), (32, 0.016), (34, 0.009), (36, 0.0))
    ),
)

H200 = GpuArch(
    name="H200",
    sms=132,
    clock_hz=1.98e9,
    tensor_flops=989.4e12,
    mufu_per_clk_sm=16,
    fp32_per_clk_sm=128,
    hbm_peak_bw=4.8e12,
    hbm_copy_bw=4.22e12,
    l2_bytes=60 * 1024**2,
    smem_per_sm=228 * 1024,
    regs_per_sm=65536,
    l2_reuse_bytes=20 * 1024**2,
    mma_flops=989.4e12,
    l2_read_bw=10.99e12,
    l2_hit_curve=tuple(
        (w * 1024**2, h)
        for w, h in ((26, 1.0), (28, 0.979), (30, 0.702), (32, 0.389), (34, 0.188), (36, 0.029), (38, 0.016), (40, 0.0))
    ),
)

ARCHS = {"h100": H100_SXM, "h200": H200}


def arch_for(device_name: str) -> GpuArch:
    """The arch for a device name such as 'NVIDIA H100 80GB HBM3' (H100 when unknown)."""
    return H200 if "H200" in device_name.upper() else H100_SXM
