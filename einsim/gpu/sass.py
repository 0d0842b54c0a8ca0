"""Issue timing of one program from its SASS (pure Python: no GPU, no triton).

Input: the SASS listing of a compiled kernel (`cuobjdump --dump-sass`, as einsim.gpu.inspect produces
it, with each instruction's two 64-bit encoding words), the warps of one program, the trip count of its
main loop and a global-load latency in cycles. Output: the cycles one program takes on an SM it has to
itself — the launch regime of decode, where there are fewer programs than SMs — or co-resident programs.

Model (Hopper, sm_90), one SM simulated cycle by cycle: warp w runs on sub-partition (SMSP) w mod 4.
- Each instruction's control code — the high encoding word's bits 41-57, as ptxas writes them: stall
  count, write and read scoreboard barrier, wait mask — carries the fixed-latency dependencies the compiler
  resolved: a warp issues its next instruction `stall` cycles later at the earliest, and not before every
  scoreboard barrier in its wait mask is released. NOPs are instructions like any other (ptxas pads
  mma.sync chains with them).
- Variable-latency results release their barrier after a latency by class (`VARIABLE_LATENCY_CYCLES`,
  round figures of public Hopper microbenchmarks; global loads take the `load_latency` argument, local
  loads — a spilled register's reload — an L1 hit's).
- cp.async groups (LDGSTS ... LDGDEPBAR; `DEPBAR.LE SB0, n`): a group completes a load latency after its
  last copy left the data path; DEPBAR waits until at most n groups are outstanding (the software
  pipeline's stages). wgmma (HGMMA) is asynchronous: it queues on the SMSP's tensor pipe (N/2 cycles for
  an m64nNk16) without holding issue, and `WARPGROUP.DEPBAR` waits for the warp's last one to drain.
  Its shared-memory operands (B, K x N; A, 64 x K, where it is a descriptor and not registers) stream
  through the SM's shared-memory data path below (B read once per warpgroup, each warp carrying a
  quarter; Nsight Compute's shared-memory bank reads match these bytes within 3 %, notes_gpu.md v17):
  they join the data path's queue when the wgmma issues, and the wgmma ends no earlier than they do.
- Each SMSP issues one instruction per cycle, from the warp that issued last if it can (greedy), else the
  first ready one; its pipes accept a warp instruction every `PIPE_CYCLES` cycles (FP32 on the two FMA
  pipes 32 lanes, the ALU 16, integer multiplies on fmaheavy 16, MUFU and conversions 4, mma.sync one
  m16n8k16 per 8 cycles).
- Shared-memory, shuffle and global memory instructions go through one queue per SM (the MIO and the
  shared-memory/L1 data path, 128 bytes per cycle: 32 lanes x the bytes per lane): issue does not wait
  for the data path, the result does (its latency counts from when the path has served it), and a warp
  waits to issue one while the queue's backlog exceeds `MIO_QUEUE_CYCLES`. The SMSPs take turns first.
  A bank-conflicted access takes its wavefronts over the conflict-free number times as long
  (einsim.gpu.banks, from the lanes' addresses).
  Contention there desynchronizes the SMSPs, which then wait for each other at barriers.
- `BAR.SYNC` waits for all warps of the program.
- The main loop is the longest backward-branch span (`loop_span`); the program runs the code before it
  once, the loop `iterations` times and the code after it once (straight-line: every other instruction
  counts once, as einsim.gpu.inspect counts them).
Checked against Nsight Compute's per-instruction stall samples (`studies/gpu_sass_profile.py`). Not
modelled: the read latency of global memory instructions' address
operands, contention for L2/DRAM bandwidth (the GPU model's other terms), instruction-cache misses and
divergence.
"""

from __future__ import annotations

import functools
import random
import re
from dataclasses import dataclass

from einsim.errors import EinsimError
from einsim.gpu.banks import conflict_factors

#: cycles before a variable-latency result's scoreboard barrier is released (global loads: the argument)
VARIABLE_LATENCY_CYCLES = {
    "LDS": 30,
    "LDSM": 30,
    # a local load (a register spill's reload): an L1 hit. The spilled bytes of a program are a few tens
    # of KB and stay in L1 beside the shared-memory carve-out; the latency is L1's, not global memory's
    # (holdout C, run 53: with the global-load latency the 255-register kernels simulated 1.6-2.5x slow)
    "LDL": 33,
    "STS": 20,
    "SHFL": 25,
    "MUFU": 20,
    "HMMA": 32,
    "S2R": 25,
    "S2UR": 25,
    "LDC": 30,
    "ULDC": 30,
    "R2UR": 12,
    "MATCH": 20,
    "ATOMS": 30,
    "F2F": 12,
    "I2F": 12,
    "F2I": 12,
    "I2FP": 12,
    "F2IP": 12,
    "POPC": 12,
    "FLO": 12,
    "BREV": 12,
}
#: other variable-latency instructions (stores, async copies' register reads, ...)
DEFAULT_LATENCY_CYCLES = 20
#: a read barrier (the source registers may be overwritten) is released this many cycles after issue
READ_LATENCY_CYCLES = 8
#: wgmma results are ready this long after the tensor pipe finishes
HGMMA_DRAIN_CYCLES = 20
#: a slot's next program starts this long after the previous one ends (block launch)
LAUNCH_GAP_CYCLES = 300
GLOBAL_LOADS = ("LDG", "LD", "ATOM")
#: loads whose results come through L1TEX (a wait on them is Nsight Compute's long scoreboard)
L1TEX_LOADS = GLOBAL_LOADS + ("LDL",)
#: the FMA pipes (fmaheavy + fmalite: 32 FP32 lanes per SMSP); fp16x2 arithmetic runs there too
_FP32 = {"FFMA", "FMUL", "FADD", "FCHK", "FRND", "DADD", "DMUL", "DFMA", "HADD2", "HMUL2", "HFMA2", "FSWZADD"}
#: integer multiplies run on fmaheavy alone (16 lanes), beside the ALU
_IMAD = {"IMAD", "IMUL"}
#: the ALU (16 lanes): integer, logic, comparisons, min/max, selects, moves, FP32-to-16-bit packing
_INT = {
    "IADD3", "ISETP", "LOP3", "SHF", "SEL", "PRMT", "LEA", "VIADD", "IABS", "IMNMX", "FSEL", "P2R", "R2P",
    "PLOP3", "MOV", "CS2R", "SGXT", "BMSK", "IADD", "VOTE", "F2FP", "HSETP2", "MOV32I", "FMNMX", "FSETP",
}  # fmt: skip
_XU = {"MUFU", "F2F", "I2F", "F2I", "I2FP", "F2IP", "POPC", "FLO", "BREV"}
_MEMORY = {
    "LDS", "STS", "LDSM", "STSM", "SHFL", "LDG", "STG", "LDGSTS", "ATOMS", "RED", "ATOM", "LDL", "STL", "LD", "ST"
}  # fmt: skip
#: a simulation longer than this has stalled (a wait the model cannot release)
MAX_CYCLES = 500_000_000
#: cycles a pipe is busy per warp instruction on one SMSP
PIPE_CYCLES = {"fp32": 1, "int": 2, "imad": 2, "uniform": 1, "xu": 8, "mma": 8}
#: sub-partitions (SMSPs) of an SM: each issues one instruction per cycle and has its own pipes
SMSPS = 4
#: the SM's shared-memory/L1 data path (MIO), shared by its SMSPs: bytes per cycle (32 banks x 4 bytes)
MIO_BYTES_PER_CYCLE = 128
#: the MIO queue accepts a memory instruction while its backlog is at most this many cycles (else the
#: warp waits: Nsight Compute's "MIO throttle")
MIO_QUEUE_CYCLES = 32


@dataclass(frozen=True)
class Instr:
    """One SASS instruction: address, opcode (with modifiers), text, and its control code."""

    addr: int
    op: str
    text: str
    stall: int
    write_bar: int  # 7: none
    read_bar: int  # 7: none
    wait_mask: int

    @property
    def base(self) -> str:
        return self.op.split(".")[0]

    @property
    def guarded(self) -> bool:
        """Executed only where a predicate (P0-P6, not the always-true PT) holds."""
        return re.match(r"@!?U?P[0-6]\s", self.text) is not None

    @property
    def operands(self) -> list[str]:
        """The operands after the opcode, destination first."""
        rest = self.text.split(self.op, 1)[1] if self.op in self.text else ""
        return [o.strip() for o in rest.split(",")] if rest.strip() else []


def parse(sass: str) -> tuple[Instr, ...]:
    """The instructions of a SASS listing in address order, with the control code decoded from the second
    encoding word (the line after the instruction). NOPs are kept — ptxas pads mma.sync dependencies with
    them, and they issue like any instruction (Nsight Compute counts them executed; 16 per loop iteration
    in the 64-key decode kernel, notes v12) — except the alignment padding after the kernel's last
    instruction."""
    lines = sass.splitlines()
    out = []
    for i, line in enumerate(lines):
        m = re.match(r"\s*/\*([0-9a-f]{4,})\*/\s+(.*?)\s*;\s*(?:/\* (0x[0-9a-f]+) \*/)?", line)
        if not m:
            continue
        nxt = re.search(r"/\* (0x[0-9a-f]+) \*/", lines[i + 1]) if i + 1 < len(lines) else None
        text = m.group(2)
        op = re.sub(r"^@!?U?P[T0-9]+\s+", "", text).split()[0]
        ctrl = (1, 7, 7, 0)  # a listing without encodings: no stall, no scoreboard
        if nxt and m.group(3):
            hi = int(nxt.group(1), 16)
            ctrl = (hi >> 41) & 0xF, (hi >> 46) & 7, (hi >> 49) & 7, (hi >> 52) & 0x3F
        out.append(Instr(int(m.group(1), 16), op, text, *ctrl))
    while out and out[-1].base == "NOP":
        out.pop()
    return tuple(out)


def _branch_target(x: Instr) -> int | None:
    """The address a branch instruction jumps to (None: not a branch)."""
    m = re.search(r"\bBRA\s+(0x[0-9a-f]+)", x.text)
    return int(m.group(1), 16) if m else None


def loops(ins: tuple[Instr, ...]) -> list[tuple[int, int]]:
    """Indices (first, last) of every backward-branch loop, in the order of their branches: the span from
    a branch's target up to the branch. The final self-branch is not a loop."""
    out = []
    for x in ins:
        start = _branch_target(x)
        if start is not None and start < x.addr:
            idx = [j for j, y in enumerate(ins) if start <= y.addr <= x.addr]
            out.append((idx[0], idx[-1]))
    return out


def loop_span(ins: tuple[Instr, ...]) -> tuple[int, int]:
    """Indices (first, last) of the longest backward-branch loop (`loops`; the first of equal ones), or
    (0, -1) if there is none."""
    return max(loops(ins), key=lambda s: s[1] - s[0], default=(0, -1))


def _pipe(x: Instr) -> tuple[str, int]:
    b = x.base
    if b in _FP32:
        return "fp32", PIPE_CYCLES["fp32"]
    if b.startswith("U") or b == "R2UR":
        return "uniform", PIPE_CYCLES["uniform"]
    if b in _INT:
        return "int", PIPE_CYCLES["int"]
    if b in _IMAD:
        return "imad", PIPE_CYCLES["imad"]
    if b in _XU:
        return "xu", PIPE_CYCLES["xu"]
    if b == "HMMA":
        return "mma", PIPE_CYCLES["mma"]
    if b == "HGMMA":
        m = re.search(r"HGMMA\.64x(\d+)x", x.op)
        return "mma", (int(m.group(1)) if m else 64) // 2
    if b in _MEMORY:  # 32 lanes x the bytes per lane, at 32 bytes per cycle: the bytes per lane in cycles
        m = re.search(r"\.(8|16|32|64|128)\b", x.op)
        lane_bytes = max(1, int(m.group(1)) // 8) if m else 4
        if b == "LDSM":
            m = re.search(r"\.x(\d)", x.op)
            lane_bytes = 4 * (int(m.group(1)) if m else 4)
        return "memory", lane_bytes
    return "", 0


def wgmma_smem_bytes(x: Instr) -> int:
    """Bytes a warpgroup's wgmma (HGMMA.64xNxK) reads from shared memory: the B operand (K x N), and the A
    operand (64 x K) where it is a descriptor (`gdesc[...]`) rather than registers. B is read once for the
    warpgroup: the four SMSPs' tensor cores share it."""
    m = re.search(r"HGMMA\.64x(\d+)x(\d+)\.F32\.(\w+)", x.op)
    if not m:
        return 0
    n, k, elt = int(m.group(1)), int(m.group(2)), 4 if m.group(3) == "TF32" else 2
    ops = x.operands
    a_in_smem = len(ops) > 1 and ops[1].startswith("gdesc")
    return (64 * k * elt if a_in_smem else 0) + k * n * elt


def _latency(x: Instr, load_latency: int) -> int:
    if x.base in GLOBAL_LOADS:
        return load_latency
    return VARIABLE_LATENCY_CYCLES.get(x.base, DEFAULT_LATENCY_CYCLES)


def program_cycles(ins: tuple[Instr, ...], warps: int, iterations: int, load_latency: int) -> int:
    """Cycles for one program of `warps` warps to run the code before the main loop, the loop `iterations`
    times and the code after it, alone on its SM."""
    return slot_cycles(ins, warps, [[iterations]], load_latency)


def _program(ins: tuple[Instr, ...], iterations: int) -> tuple[Instr, ...]:
    lo, hi = loop_span(ins)
    return ins[:lo] + ins[lo : hi + 1] * max(0, iterations) + ins[hi + 1 :] if hi >= lo else ins


def slot_cycles(
    ins: tuple[Instr, ...],
    warps: int,
    slot_iterations: list[list[int]],
    load_latency: int,
    hgmma_drain: int = HGMMA_DRAIN_CYCLES,
    profile: dict | None = None,
    by_age: bool = False,
    program_starts: list | None = None,
    smem_operands: bool = True,
    per_slot: tuple[tuple[Instr, ...], ...] | None = None,
    stolen_issue: float = 0.0,
    seed: int = 0,
) -> int:
    """Cycles for resident program slots sharing one SM: slot s runs programs of `warps` warps each back
    to back, their main loops `slot_iterations[s]` times; between two programs of a slot its warps meet,
    and the next program starts LAUNCH_GAP_CYCLES later with its scoreboards clear. Warp w of the SM (slot
    s's warps are s·warps … s·warps + warps − 1) runs on SMSP w mod 4. One slot with one program is a
    program alone on its SM (`program_cycles`).

    `profile`, if given, is filled as Nsight Compute's per-instruction warp-state samples are: for every
    warp and cycle, the address of the instruction it is at (issued or waiting to issue; -1 between
    programs) gets one count under a reason — selected, not_selected, wait (a stall count),
    short_scoreboard, long_scoreboard (a global load or cp.async group), barrier, mio_throttle,
    math_pipe_throttle, gmma. `by_age`: issue the oldest program's warps first; `program_starts`, if
    given (one list per slot), gets the cycle each slot's programs after the first start. `per_slot`: slot s
    runs `per_slot[s]` instead of `ins` (a warp-specialized kernel's consumer warpgroups each run their own
    copy of the loop, scheduled apart by ptxas: `ws_consumer_loops`). `stolen_issue`: in each cycle each SMSP
    loses its issue slot with this probability (a warp outside the simulation issuing, e.g. a producer's
    barrier polls; drawn from a generator seeded with `seed`) — a perturbation for asking how far the
    simulated time of resident programs that lock into step moves."""
    boundary = None  # a program boundary in a slot's sequence
    conflicts = conflict_factors(ins)  # shared-memory accesses that take more than one pass of the banks
    if per_slot is not None:
        if len(per_slot) != len(slot_iterations):
            raise ValueError(f"per_slot has {len(per_slot)} programs for {len(slot_iterations)} slots")
        for code in per_slot:
            conflicts.update(conflict_factors(code))
    seqs = []
    for s, its in enumerate(slot_iterations):
        code = ins if per_slot is None else per_slot[s]
        seq: list = []
        for k, n in enumerate(its):
            seq += [boundary] if k else []
            seq += _program(code, n)
        seqs.append(seq)
    total = warps * len(seqs)
    slot = [w // warps for w in range(total)]
    on_smsp = [[w for w in range(total) if w % SMSPS == p] for p in range(SMSPS)]
    pc, ready = [0] * total, [0] * total
    bars = [[0.0] * 6 for _ in range(total)]
    tensor_done = [0] * total
    groups: list[list[float]] = [[] for _ in range(total)]
    open_group = [0.0] * total
    pipe_free: list[dict[str, int]] = [{} for _ in range(SMSPS)]
    mio_free = 0.0  # when the SM's shared-memory/LSU data path has drained its queue
    arrived: list[set[int]] = [set() for _ in seqs]
    done = [not seqs[slot[w]] for w in range(total)]
    last = [ws[0] if ws else 0 for ws in on_smsp]
    waiting = ["wait"] * total  # why a warp not ready yet waits: its last stall count, or a barrier
    from_l1tex = [[False] * 6 for _ in range(total)]  # a barrier set by a global load: a long scoreboard
    started = [0] * len(seqs)  # the cycle each slot's current program started
    rng = random.Random(seed)
    cycle = 0
    while not all(done):
        if cycle > MAX_CYCLES:
            raise EinsimError(
                f"the SASS simulation ran past {MAX_CYCLES} cycles without finishing (warps stuck at instructions "
                f"{sorted(set(pc))}); a barrier or wait this model does not know? Report the kernel."
            )
        for k in range(SMSPS):  # the SMSPs take turns first at the shared data path
            p = (cycle + k) % SMSPS
            issued = stolen_issue > 0 and rng.random() < stolen_issue  # the slot went to a warp not simulated
            others = [v for v in on_smsp[p] if v != last[p]]
            if by_age:  # the oldest program's warps first (its start cycle; ties: slot order)
                others.sort(key=lambda v: (started[slot[v]], v))
            for w in [last[p], *others] if on_smsp[p] else []:
                if done[w]:
                    continue
                seq, s = seqs[slot[w]], slot[w]
                x = seq[pc[w]]
                if ready[w] > cycle:
                    if profile is not None:
                        _note(profile, x, waiting[w])
                    continue
                if x is boundary or (x.base == "BAR" and "SYNC" in x.op):  # the program's warps meet
                    if issued:  # after this SMSP's issue (or a stolen slot): the warp arrives next cycle
                        if profile is not None:
                            _note(profile, x, "barrier")
                        continue
                    arrived[s].add(w)
                    if len(arrived[s]) < warps:
                        ready[w], waiting[w] = cycle + 1, "barrier"
                        if profile is not None:
                            _note(profile, x, "barrier")
                        continue
                    for v in range(s * warps, (s + 1) * warps):
                        pc[v], ready[v] = pc[v] + 1, cycle + (LAUNCH_GAP_CYCLES if x is boundary else 2)
                        waiting[v] = "barrier"
                        if x is boundary and v == s * warps:
                            started[s] = cycle + LAUNCH_GAP_CYCLES
                            if program_starts is not None:
                                program_starts[s].append(started[s])
                        if x is boundary:
                            bars[v], groups[v], open_group[v], tensor_done[v] = [0.0] * 6, [], 0.0, 0
                        done[v] = pc[v] >= len(seq)
                    arrived[s].clear()
                    continue
                why = ""
                pipe, busy = _pipe(x)
                if any(bars[w][b] > cycle for b in range(6) if x.wait_mask >> b & 1):
                    long = any(bars[w][b] > cycle and from_l1tex[w][b] for b in range(6) if x.wait_mask >> b & 1)
                    why = "long_scoreboard" if long else "short_scoreboard"
                elif x.base == "WARPGROUP" and "DEPBAR" in x.op and tensor_done[w] > cycle:
                    why = "gmma"
                elif x.base == "DEPBAR":
                    m = re.search(r"SB0,\s*(0x[0-9a-f]+|\d+)", x.text)
                    keep = int(m.group(1), 0) if m else 0
                    waited = groups[w][: len(groups[w]) - keep] if keep else groups[w]
                    why = "long_scoreboard" if waited and max(waited) > cycle else ""
                if not why and pipe == "memory" and mio_free - cycle > MIO_QUEUE_CYCLES:  # the queue is full
                    why = "mio_throttle"
                elif not why and pipe and pipe != "memory" and x.base != "HGMMA" and pipe_free[p].get(pipe, 0) > cycle:
                    why = "math_pipe_throttle"
                elif not why and issued:
                    why = "not_selected"
                if why:
                    if profile is not None:
                        _note(profile, x, why)
                    continue
                finish = float(cycle)  # when the instruction leaves its pipe (memory: the SM's data path)
                if pipe == "memory":
                    finish = max(float(cycle), mio_free) + busy * 32 / MIO_BYTES_PER_CYCLE * conflicts.get(x.addr, 1.0)
                    mio_free = finish
                elif x.base == "HGMMA":  # asynchronous: queued on the SMSP's tensor pipe, issue does not wait
                    finish = max(float(cycle), pipe_free[p].get(pipe, 0)) + busy
                    if smem_operands:  # its shared-memory operands join the data path's queue as it issues
                        mio_free = max(float(cycle), mio_free) + wgmma_smem_bytes(x) / SMSPS / MIO_BYTES_PER_CYCLE
                        finish = max(finish, mio_free)
                    pipe_free[p][pipe] = finish
                elif pipe:
                    pipe_free[p][pipe] = cycle + busy
                if x.write_bar != 7:
                    bars[w][x.write_bar] = finish + _latency(x, load_latency)
                    from_l1tex[w][x.write_bar] = x.base in L1TEX_LOADS
                if x.read_bar != 7:
                    bars[w][x.read_bar] = finish + READ_LATENCY_CYCLES
                    from_l1tex[w][x.read_bar] = False
                if x.base == "HGMMA":
                    tensor_done[w] = finish + hgmma_drain
                elif x.base == "LDGSTS":
                    open_group[w] = max(open_group[w], finish + load_latency)
                elif x.base == "LDGDEPBAR":
                    groups[w].append(open_group[w])
                    open_group[w] = 0.0
                ready[w], waiting[w] = cycle + max(x.stall, 1), "wait"
                pc[w] += 1
                done[w] = pc[w] >= len(seq)
                last[p] = w
                issued = True
                if profile is None:
                    break
                _note(profile, x, "selected")
        cycle += 1
    return cycle


def _note(profile: dict, x: Instr | None, why: str) -> None:
    at = profile.setdefault(x.addr if x is not None else -1, {})
    at[why] = at.get(why, 0) + 1


@functools.lru_cache(maxsize=256)
def lone_program_cycles(ins: tuple[Instr, ...], warps: int, load_latency: int) -> tuple[float, float]:
    """(fixed cycles, cycles per loop iteration) of one program alone on an SM: simulated at 2 and 6
    iterations (the steady state of the software pipeline), so n iterations take fixed + n·per."""
    a, b = program_cycles(ins, warps, 2, load_latency), program_cycles(ins, warps, 6, load_latency)
    per = (b - a) / 4
    return a - 2 * per, per


def mma_loop(ins: tuple[Instr, ...]) -> tuple[Instr, ...]:
    """The shortest backward-branch loop that holds a wgmma (HGMMA): an attention kernel's K/V tile loop
    (in a persistent or warp-specialized kernel, the loops around it hold it too), as it runs in the
    steady state: a forward branch to a place inside it is taken, so the block it skips is left out. In
    einsim's kernels that branch is lazy rescaling's (the rescale of the running sum and output runs only
    when a row's max grows by more than 2^8: in the first tiles of a row block, not after). A branch that
    leaves the loop is not taken: in a warp-specialized kernel, the retry of an mbarrier wait whose data
    has not yet arrived. () if there is none."""
    bodies = [ins[a : b + 1] for a, b in loops(ins)]
    body = min((b for b in bodies if any(y.base == "HGMMA" for y in b)), key=len, default=())
    end = body[-1].addr if body else -1
    kept, skip_to = [], -1
    for x in body:
        if x.addr < skip_to:
            continue
        kept.append(x)
        target = _branch_target(x)
        if target is not None and x.addr < target <= end:
            skip_to = target
    return tuple(kept)


def ws_consumer_loops(ins: tuple[Instr, ...]) -> tuple[tuple[Instr, ...], ...]:
    """The K/V loop of each consumer warpgroup of a warp-specialized kernel, in address order, each as
    `mma_loop` gives it. Triton emits one copy of the consumer loop per warpgroup, each synchronizing its
    four warps on its own named barrier (`BAR.SYNC 0xN, 0x80`), and ptxas schedules the copies apart; the
    copy of a warpgroup is the shortest loop holding wgmmas whose only barrier is that one. () for a kernel
    without such loops."""
    by_barrier: dict[str, tuple[int, int]] = {}
    for a, b in loops(ins):
        body = ins[a : b + 1]
        bars = {x.text.split(None, 1)[1] for x in body if x.base == "BAR" and not x.guarded}
        if len(bars) != 1 or not any(x.base == "HGMMA" for x in body):
            continue
        (bar,) = bars
        if not bar.endswith(", 0x80"):
            continue
        if bar not in by_barrier or b - a < by_barrier[bar][1] - by_barrier[bar][0]:
            by_barrier[bar] = (a, b)
    return tuple(mma_loop(ins[a : b + 1]) for a, b in sorted(by_barrier.values()))


@functools.lru_cache(maxsize=512)
def resident_loop_cycles(body: tuple[Instr, ...], warps: int, programs: int, load_latency: int) -> float:
    """Cycles per iteration of a loop `body` (`mma_loop`) that `programs` resident programs of `warps` warps
    each run together on one SM, in the steady state: the SM completes `programs` iterations (one per
    program) in that many cycles. Simulated at 8 and 24 iterations per program."""
    lo, hi = 8, 24
    a = slot_cycles(body, warps, [[lo]] * programs, load_latency)
    b = slot_cycles(body, warps, [[hi]] * programs, load_latency)
    return (b - a) / (hi - lo)
