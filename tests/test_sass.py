"""einsim.gpu.sass: the control-code decoding and the one-program issue simulation, on hand-made SASS
whose cycle counts are worked out by hand."""

from __future__ import annotations

import pytest

from einsim.gpu.sass import (
    PIPE_CYCLES,
    READ_LATENCY_CYCLES,
    VARIABLE_LATENCY_CYCLES,
    Instr,
    lone_program_cycles,
    loop_span,
    parse,
    program_cycles,
    slot_cycles,
)

NONE = 7  # no scoreboard barrier


def _hi(stall=1, wbar=NONE, rbar=NONE, wait=0) -> int:
    """The high encoding word with a control code (bits 41-57 as ptxas writes them)."""
    return (stall << 41) | (wbar << 46) | (rbar << 49) | (wait << 52)


def _listing(rows) -> str:
    """A cuobjdump-style listing: (address, instruction, control fields) -> two lines per instruction."""
    out = []
    for addr, text, ctrl in rows:
        out.append(f"        /*{addr:04x}*/                   {text} ;      /* 0x0000000000007a02 */")
        out.append(f"                                                       /* 0x{_hi(**ctrl):016x} */")
    return "\n".join(out)


def _ins(op, stall=1, wbar=NONE, rbar=NONE, wait=0, text=None, addr=0) -> Instr:
    return Instr(addr, op, text or op, stall, wbar, rbar, wait)


def test_parse_decodes_the_control_code():
    sass = _listing(
        [
            (0x0, "LDS R4, [R2]", dict(stall=2, wbar=0)),
            (0x10, "NOP", {}),
            (0x20, "@P0 FADD R5, R4, R4", dict(stall=4, rbar=3, wait=0b000001)),
        ]
    )
    lds, nop, fadd = parse(sass)
    assert nop.base == "NOP"  # NOPs issue (ptxas pads mma.sync dependencies with them)
    assert (lds.addr, lds.op, lds.stall, lds.write_bar, lds.read_bar, lds.wait_mask) == (0, "LDS", 2, 0, NONE, 0)
    got = (fadd.addr, fadd.op, fadd.stall, fadd.write_bar, fadd.read_bar, fadd.wait_mask)
    assert got == (0x20, "FADD", 4, NONE, 3, 1)
    assert fadd.base == "FADD"


def test_parse_drops_the_padding_after_the_last_instruction():
    sass = _listing([(0x0, "NOP", dict(stall=3)), (0x10, "EXIT", {}), (0x20, "BRA 0x20", {}), (0x30, "NOP", {})])
    assert [x.base for x in parse(sass)] == ["NOP", "EXIT", "BRA"]


def test_a_nop_holds_its_warp_for_its_stall_count():
    assert program_cycles((_ins("NOP", stall=5), _ins("FADD")), 1, 0, 100) == 6


def test_parse_without_encodings_means_no_stall_and_no_scoreboard():
    (x,) = parse("        /*0000*/                   IMAD R2, R3, R4, RZ ;")
    assert (x.stall, x.write_bar, x.read_bar, x.wait_mask) == (1, NONE, NONE, 0)


def test_loop_span_is_the_longest_backward_branch():
    ins = (
        _ins("MOV", addr=0x0),
        _ins("IMAD", addr=0x10),
        _ins("FADD", addr=0x20),
        _ins("BRA", text="@P0 BRA 0x10", addr=0x30),
        _ins("EXIT", addr=0x40),
        _ins("BRA", text="BRA 0x50", addr=0x50),  # the final self-branch: not a loop
    )
    assert loop_span(ins) == (1, 3)
    assert loop_span(ins[:3]) == (0, -1)


def test_stall_counts_and_the_fp32_pipe():
    # three independent FADDs, one cycle apart: issued at 0, 1, 2
    assert program_cycles((_ins("FADD"),) * 3, 1, 0, 100) == 3
    # a stall count of 4 after the first: issued at 0, 4, 5
    assert program_cycles((_ins("FADD", stall=4), _ins("FADD"), _ins("FADD")), 1, 0, 100) == 6


def test_the_integer_pipe_takes_two_cycles_per_warp_instruction():
    # IMADs at 0, 2, 4 (16 lanes per SMSP), even with a stall count of 1
    assert PIPE_CYCLES["int"] == 2
    assert program_cycles((_ins("IMAD"),) * 3, 1, 0, 100) == 5
    # integer multiplies run on fmaheavy, the rest on the ALU: alternating, they issue every cycle
    assert program_cycles((_ins("IMAD"), _ins("IADD3")) * 2, 1, 0, 100) == 4


def test_a_scoreboard_wait_lasts_the_producers_latency():
    # LDS (4 bytes per lane: 128 bytes, one cycle of the SM's data path) issued at 0 leaves the path at 1
    # and sets barrier 0 a shared-memory latency later; the FADD waiting on it issues then
    lds = _ins("LDS", wbar=0)
    use = _ins("FADD", wait=0b1)
    assert program_cycles((lds, use), 1, 0, 100) == 1 + VARIABLE_LATENCY_CYCLES["LDS"] + 1
    # a global load takes the load latency argument
    assert program_cycles((_ins("LDG", wbar=2), _ins("FADD", wait=0b100)), 1, 0, 250) == 1 + 250 + 1
    # a read barrier is released sooner
    assert program_cycles((_ins("STS", rbar=1), _ins("IMAD", wait=0b10)), 1, 0, 100) == 1 + READ_LATENCY_CYCLES + 1
    # a local load (a spilled register's reload) hits L1: its latency is L1's, not the load latency argument
    assert program_cycles((_ins("LDL", wbar=2), _ins("FADD", wait=0b100)), 1, 0, 250) == 1 + 33 + 1


def test_the_sms_four_sub_partitions_share_one_shared_memory_data_path():
    # a 4-warp program: one warp per SMSP, each issues LDS.128 (512 bytes: 4 cycles at 128 bytes per cycle)
    # at cycle 0; the path serves them one after another (done at 4, 8, 12, 16), so the last warp's FADD
    # issues at 16 + the LDS latency
    lds = _ins("LDS.128", wbar=0)
    use = _ins("FADD", wait=0b1)
    assert program_cycles((lds, use), 4, 0, 100) == 16 + VARIABLE_LATENCY_CYCLES["LDS"] + 1


def test_a_full_memory_queue_throttles_issue(monkeypatch):
    from einsim.gpu import sass

    # with a queue of 8 cycles, LDS.128s (4 cycles each) issue at 0, 1, 2 (backlog 4, 7, 10 > 8 after the
    # third), then at 4 and 8: one per 4 cycles, the data path's rate
    monkeypatch.setattr(sass, "MIO_QUEUE_CYCLES", 8)
    assert program_cycles((_ins("LDS.128"),) * 5, 1, 0, 100) == 9


def test_cp_async_groups_wait_at_depbar_for_all_but_the_newest():
    copy, commit = _ins("LDGSTS"), _ins("LDGDEPBAR")
    wait0 = _ins("DEPBAR", text="DEPBAR.LE SB0, 0x0")
    wait1 = _ins("DEPBAR", text="DEPBAR.LE SB0, 0x1")
    # one group (copy issued at 0 leaves the data path at 1, done at 301): DEPBAR.LE SB0, 0 waits for it
    assert program_cycles((copy, commit, wait0), 1, 0, 300) == 302
    # two groups (copies issued at 0 and 2, done at 301 and 303): keeping one outstanding waits only for
    # the first -> issued at 301; waiting for both -> 303
    assert program_cycles((copy, commit, copy, commit, wait1), 1, 0, 300) == 302
    assert program_cycles((copy, commit, copy, commit, wait0), 1, 0, 300) == 304


def test_two_warps_share_an_smsps_issue_slot_and_all_meet_at_the_barrier():
    # 8 warps, two per SMSP (w and w + 4), each: FADD (stall 3), BAR.SYNC, FADD. On each SMSP warp w issues
    # at 0, warp w + 4 at 1; all reach the barrier by 4, released at 4 and ready at 6; FADDs at 6 and 7
    body = (_ins("FADD", stall=3), _ins("BAR.SYNC.DEFER_BLOCKING", text="BAR.SYNC.DEFER_BLOCKING 0x0"), _ins("FADD"))
    assert program_cycles(body, 8, 0, 100) == 8
    # with one warp per SMSP nothing waits: the FADDs at 0, the barrier at 3, released, FADDs at 5
    assert program_cycles(body, 4, 0, 100) == 6


def test_the_loop_runs_its_iterations_and_lone_cycles_are_linear_in_them():
    # before the loop: one FADD; the loop: an LDG whose result the next FADD waits for, then the branch
    ins = (
        _ins("FADD", addr=0x0),
        _ins("LDG", wbar=0, addr=0x10),
        _ins("FADD", wait=0b1, addr=0x20),
        _ins("BRA", text="@P0 BRA 0x10", addr=0x30),
        _ins("EXIT", addr=0x40),
    )
    # per iteration: LDG at t (leaves the data path at t + 1), FADD at t + 51, BRA at t + 52, next LDG at
    # t + 53
    assert program_cycles(ins, 1, 3, 50) == 1 + 3 * 53 + 1
    fixed, per = lone_program_cycles(ins, 1, 50)
    assert per == pytest.approx(53) and fixed + 3 * per == pytest.approx(program_cycles(ins, 1, 3, 50))


def test_a_simulation_past_the_cycle_cap_is_an_error_not_a_hang(monkeypatch):
    from einsim.errors import EinsimError
    from einsim.gpu import sass

    monkeypatch.setattr(sass, "MAX_CYCLES", 1000)
    with pytest.raises(EinsimError, match="did not finish|without finishing"):
        program_cycles((_ins("LDG", wbar=0), _ins("FADD", wait=0b1)), 1, 0, 10**6)


def test_co_resident_slots_share_the_issue_slot_and_programs_follow_each_other():
    from einsim.gpu.sass import LAUNCH_GAP_CYCLES

    fadd = (_ins("FADD"),)
    # two slots of one warp run on SMSPs 0 and 1: both FADDs at 0; a fifth slot shares SMSP 0 with the first
    assert slot_cycles(fadd, 1, [[0], [0]], 100) == 1
    assert slot_cycles(fadd, 1, [[0]] * 5, 100) == 2
    # one slot, two programs: the FADD at 0, the boundary at 1, the next program's FADD a launch gap later
    assert slot_cycles(fadd, 1, [[0, 0]], 100) == 1 + LAUNCH_GAP_CYCLES + 1
    assert slot_cycles(fadd, 1, [[0]], 100) == program_cycles(fadd, 1, 0, 100) == 1


def test_profiling_does_not_change_the_timing_and_counts_every_warp_cycle():
    # two warps per SMSP contend for issue, a shared-memory round trip, a barrier: the profile holds one
    # count per warp and cycle, `selected` once per issued instruction, and the cycles are unchanged
    body = (
        _ins("LDS.128", wbar=0, addr=0x0),
        _ins("FADD", wait=0b1, stall=2, addr=0x10),
        _ins("BAR.SYNC.DEFER_BLOCKING", text="BAR.SYNC.DEFER_BLOCKING 0x0", addr=0x20),
        _ins("FADD", addr=0x30),
    )
    profile: dict = {}
    cycles = slot_cycles(body, 8, [[0]], 100, profile=profile)
    assert cycles == program_cycles(body, 8, 0, 100)
    counts = {}
    for reasons in profile.values():
        for why, n in reasons.items():
            counts[why] = counts.get(why, 0) + n
    assert counts["selected"] == 8 * 3  # LDS, FADD, FADD per warp (the barrier is not an issue)
    assert counts["short_scoreboard"] > 0 and counts["not_selected"] > 0 and counts["barrier"] > 0
    # every warp is counted every cycle until it finishes: no more than warps x cycles
    assert sum(counts.values()) <= 8 * cycles


def test_wgmma_queues_on_the_tensor_pipe_without_holding_issue():
    from einsim.gpu.sass import HGMMA_DRAIN_CYCLES

    # two m64n64k16 wgmmas (32 cycles of the SMSP's tensor pipe each) issue at 0 and 1 and finish at 32 and
    # 64; WARPGROUP.DEPBAR (issued at 2 at the earliest) waits for the last plus the drain
    mma = _ins("HGMMA.64x64x16.F32.BF16")
    wait = _ins("WARPGROUP.DEPBAR.LE", text="WARPGROUP.DEPBAR.LE gsb0, 0x0")
    assert program_cycles((mma, mma, wait), 1, 0, 100) == 64 + HGMMA_DRAIN_CYCLES + 1
    # an FADD after the wgmmas is not held up by them
    assert program_cycles((mma, mma, _ins("FADD")), 1, 0, 100) == 3


def test_wgmma_smem_bytes_counts_b_once_and_a_only_from_a_descriptor():
    """B (K x N) is read once per warpgroup; A (64 x K) only where it is a descriptor (hand-computed)."""
    from einsim.gpu.sass import wgmma_smem_bytes

    ss = _ins("HGMMA.64x128x16.F32.BF16", text="HGMMA.64x128x16.F32.BF16 R24, gdesc[UR12], RZ, !UPT")
    rs = _ins("HGMMA.64x64x16.F32.BF16", text="HGMMA.64x64x16.F32.BF16 R24, R88, gdesc[UR12].tnspB, R24")
    tf = _ins("HGMMA.64x32x8.F32.TF32", text="HGMMA.64x32x8.F32.TF32 R24, gdesc[UR4], R24")
    assert wgmma_smem_bytes(ss) == 64 * 16 * 2 + 16 * 128 * 2  # 2048 + 4096
    assert wgmma_smem_bytes(rs) == 16 * 64 * 2  # A in registers: B alone
    assert wgmma_smem_bytes(tf) == 64 * 8 * 4 + 8 * 32 * 4
    assert wgmma_smem_bytes(_ins("FFMA")) == 0


def _wgmma_loop(n: int) -> tuple:
    """A K/V loop of n m64n32k16 wgmmas with both operands in shared memory, then a wait and the back branch."""
    text = "HGMMA.64x32x16.F32.BF16 R24, gdesc[UR4], R24"
    body = [_ins("HGMMA.64x32x16.F32.BF16", text=text, addr=0x10 * i) for i in range(n)]
    body.append(_ins("WARPGROUP.DEPBAR.LE", text="WARPGROUP.DEPBAR.LE gsb0, 0x0", addr=0x10 * n))
    body.append(_ins("BRA", text="BRA 0x0", addr=0x10 * (n + 1)))
    return tuple(body)


def test_wgmma_operands_bind_the_data_path():
    """Four warps (one per SMSP) each queue n m64n32k16 wgmmas: the tensor pipe takes 32 / 2 = 16 cycles
    each; their operands (2048 + 1024 bytes per warpgroup, a quarter per warp) take 3072 / 4 / 128 = 6
    cycles of the shared data path per warp, 24 for the four, queued as they issue: the loop runs at the
    data path's pace, n x 24 cycles an iteration (the drain hides behind the next iteration's reads).
    Without the operand reads it is tensor-bound: n x 16, plus the drain before the wait and the branch."""
    from einsim.gpu.sass import HGMMA_DRAIN_CYCLES, resident_loop_cycles

    n = 8
    assert resident_loop_cycles(_wgmma_loop(n), 4, 1, 100) == pytest.approx(n * 24)
    without = slot_cycles(_wgmma_loop(n), 4, [[24]], 100, smem_operands=False)
    without -= slot_cycles(_wgmma_loop(n), 4, [[8]], 100, smem_operands=False)
    assert without / 16 == pytest.approx(n * 16 + HGMMA_DRAIN_CYCLES + 2)


def test_mma_loop_takes_the_forward_branch():
    """The steady-state K/V loop leaves out what a forward branch inside it skips (lazy rescaling's block)."""
    from einsim.gpu.sass import mma_loop

    ins = (
        _ins("MOV", addr=0x00),
        _ins("HGMMA.64x64x16.F32.BF16", text="HGMMA.64x64x16.F32.BF16 R24, gdesc[UR4], R24", addr=0x10),
        _ins("BRA", text="@!P0 BRA 0x50", addr=0x20),
        _ins("FMUL", addr=0x30),  # the rescale, skipped in the steady state
        _ins("FMUL", addr=0x40),
        _ins("FADD", addr=0x50),
        _ins("BRA", text="@P1 BRA 0x10", addr=0x60),
        _ins("EXIT", addr=0x70),
    )
    assert [x.addr for x in mma_loop(ins)] == [0x10, 0x20, 0x50, 0x60]
    assert mma_loop(ins[:1] + ins[-1:]) == ()


def test_mma_loop_does_not_take_a_branch_out_of_the_loop():
    """A forward branch whose target lies past the loop (a warp-specialized kernel's retry of an mbarrier
    wait) is not taken in the steady state: the loop keeps the instructions after it."""
    from einsim.gpu.sass import mma_loop

    ins = (
        _ins("SYNCS.PHASECHK.TRANS64.TRYWAIT", addr=0x00),
        _ins("BRA", text="@!P0 BRA 0x80", addr=0x10),  # to the retry block after the loop
        _ins("HGMMA.64x64x16.F32.BF16", text="HGMMA.64x64x16.F32.BF16 R24, gdesc[UR4], R24", addr=0x20),
        _ins("FMUL", addr=0x30),
        _ins("BRA", text="@P1 BRA 0x0", addr=0x40),
        _ins("EXIT", addr=0x50),
        _ins("SYNCS.PHASECHK.TRANS64.TRYWAIT", addr=0x80),
        _ins("BRA", text="BRA 0x10", addr=0x90),
    )
    assert [x.addr for x in mma_loop(ins)] == [0x00, 0x10, 0x20, 0x30, 0x40]


def test_per_slot_code_runs_each_slot_its_own_program():
    # slot 0 (warp 0, SMSP 0) waits 5 cycles then adds: 6 cycles; slot 1 (SMSP 1) adds once: 1 cycle
    slow, fast = (_ins("NOP", stall=5), _ins("FADD")), (_ins("FADD"),)
    assert slot_cycles(slow, 1, [[0], [0]], 100, per_slot=(slow, fast)) == 6
    assert slot_cycles(fast, 1, [[0], [0]], 100, per_slot=(fast, fast)) == 1
    assert slot_cycles(fast, 1, [[0], [0]], 100, per_slot=(fast, slow)) == slot_cycles(slow, 1, [[0]], 100) == 6
    with pytest.raises(ValueError, match="per_slot"):
        slot_cycles(fast, 1, [[0], [0]], 100, per_slot=(fast,))


def test_stolen_issue_slots_delay_a_program_by_about_their_share():
    # 400 back-to-back adds of one warp: 400 cycles; with half of the issue slots taken at random, each add
    # waits a geometric number of cycles (mean 2): about 800, the same for the same seed
    adds = (_ins("FADD"),) * 400
    assert slot_cycles(adds, 1, [[0]], 100, stolen_issue=0.0) == 400
    half = slot_cycles(adds, 1, [[0]], 100, stolen_issue=0.5, seed=7)
    assert half == slot_cycles(adds, 1, [[0]], 100, stolen_issue=0.5, seed=7)
    assert 700 < half < 900


def test_ws_consumer_loops_are_the_loops_each_warpgroup_synchronizes_alone():
    from einsim.gpu.sass import ws_consumer_loops

    def bar(n, addr):
        return _ins("BAR.SYNC.DEFER_BLOCKING", text=f"BAR.SYNC.DEFER_BLOCKING 0x{n}, 0x80", addr=addr)

    mma = "HGMMA.64x128x16.F32.BF16"
    ins = (
        _ins("MOV", addr=0x00),
        bar(2, 0x10),  # warpgroup 1's loop: 0x10-0x40
        _ins(mma, addr=0x20),
        _ins("FADD", addr=0x30),
        _ins("BRA", text="@P0 BRA 0x10", addr=0x40),
        bar(3, 0x50),  # warpgroup 2's loop: 0x50-0x90
        _ins(mma, addr=0x60),
        _ins("FMUL", addr=0x70),
        _ins("FADD", addr=0x80),
        _ins("BRA", text="@P1 BRA 0x50", addr=0x90),
        _ins("FADD", addr=0xA0),  # a loop without a wgmma: not a consumer loop
        _ins("BRA", text="@P2 BRA 0xa0", addr=0xB0),
        _ins("BRA", text="@P3 BRA 0x0", addr=0xC0),  # the persistent loop around both: two barriers
        _ins("EXIT", addr=0xD0),
    )
    a, b = ws_consumer_loops(ins)
    assert [x.addr for x in a] == [0x10, 0x20, 0x30, 0x40]
    assert [x.addr for x in b] == [0x50, 0x60, 0x70, 0x80, 0x90]
    assert ws_consumer_loops(ins[:5]) == (ins[1:5],)  # one warpgroup's loop alone
    assert ws_consumer_loops((_ins("FADD"),)) == ()
