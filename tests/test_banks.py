"""einsim.gpu.banks: the lanes' shared-memory addresses followed through hand-made SASS, and the
wavefronts of each access worked out by hand (32 banks of 4 bytes)."""

from __future__ import annotations

import pytest

from einsim.gpu.banks import conflict_factors, lane_addresses, wavefronts
from einsim.gpu.sass import parse, program_cycles


def _sass(*lines: str):
    """Instructions 0x10 apart, without encodings (no stalls, no scoreboards)."""
    return parse("\n".join(f"        /*{16 * i:04x}*/                   {t} ;" for i, t in enumerate(lines)))


def test_the_state_kernels_reduction_is_eight_way_conflicted():
    # linear attention's state kernel: row = tid & 7, address = row * 128 + the window base (uniform):
    # 8 distinct words, all in bank 0 (128 bytes apart), each read by 4 lanes -> 8 wavefronts against 1
    ins = _sass(
        "S2R R14, SR_TID.X",
        "LOP3.LUT R99, R14, 0x7, RZ, 0xc0, !PT",
        "LEA R99, R99, UR6, 0x7",
        "LDS R105, [R99+0x10]",
        "EXIT",
    )
    op, lanes = lane_addresses(ins)[0x30]
    assert op == "LDS" and lanes == tuple((i & 7) * 128 + 0x10 for i in range(32))
    assert wavefronts(op, lanes) == (8, 1)
    assert conflict_factors(ins) == {0x30: 8.0}


@pytest.mark.parametrize(
    ("op", "stride", "expected"),
    [
        ("LDS", 4, (1, 1)),  # consecutive words: one per bank
        ("LDS", 0, (1, 1)),  # one word for every lane: a broadcast
        ("LDS", 8, (2, 1)),  # every other word: lanes l and l + 16 share a bank
        ("LDS.128", 16, (4, 4)),  # 4 phases of 8 lanes x 4 words = 32 consecutive words each
        ("LDS.64", 16, (4, 2)),  # 2 phases of 16 lanes; words 4l, 4l + 1: lanes l and l + 8 share banks
        ("LDSM.16.M88.4", 16, (4, 4)),  # 4 matrices of 8 contiguous 16-byte rows
        ("LDSM.16.M88.4", 128, (32, 4)),  # rows 128 bytes apart: 8 rows on the same 4 banks per matrix
        ("LDSM.16.M88.2", 16, (2, 2)),  # two matrices (rows from lanes 0-15)
    ],
)
def test_wavefronts_by_access_width(op, stride, expected):
    assert wavefronts(op, tuple(stride * i for i in range(32))) == expected


def test_uniform_offsets_are_followed_and_unknown_scales_are_not():
    ins = _sass(
        "S2R R2, SR_TID.X",
        "IMAD.SHL.U32 R3, R2, 0x4, RZ",  # tid * 4
        "IADD3 R4, R3, UR4, RZ",  # + a uniform register: the same lane pattern
        "STS [R4], R7",
        "IMAD R5, R2, UR5, RZ",  # tid * an unknown stride: not followed
        "STS [R5], R7",
        "EXIT",
    )
    got = lane_addresses(ins)
    assert got[0x30] == ("STS", tuple(4 * i for i in range(32)))
    assert 0x50 not in got


def test_a_predicate_result_before_the_register_and_shifts():
    # LOP3 with a predicate result first (P3, R0 = tid & 0x1f); SHF.R.U32.HI takes the high operand
    ins = _sass(
        "S2R R1, SR_TID.X",
        "LOP3.LUT P3, R0, R1, 0x1f, RZ, 0xc0, !PT",
        "SHF.R.U32.HI R2, RZ, 0x2, R0",  # lane >> 2
        "LEA.HI R3, R0, RZ, RZ, 0x1e",  # RZ + (lane >> 2)
        "SGXT.U32 R4, R0, 0x3",  # lane & 7
        "IMAD R5, R2, 0x20, R4",  # (lane >> 2) * 32 + (lane & 7)
        "STS [R5], R7",
        "STS [R3], R7",
        "EXIT",
    )
    got = lane_addresses(ins)
    assert got[0x60][1] == tuple((i >> 2) * 32 + (i & 7) for i in range(32))
    assert got[0x70][1] == tuple(i >> 2 for i in range(32))


def test_paths_that_agree_up_to_an_offset_keep_the_lane_pattern():
    # two paths set R4 to tid*4 plus different constants, then join: the pattern survives, an offset is
    # unknown; a value with different patterns on the two paths is not followed
    ins = _sass(
        "S2R R2, SR_TID.X",
        "@P0 BRA 0x60",
        "IMAD.SHL.U32 R4, R2, 0x4, RZ",
        "IMAD.SHL.U32 R6, R2, 0x8, RZ",
        "BRA 0x80",
        "NOP",
        "IMAD R4, R2, 0x4, 0x100",
        "IMAD.SHL.U32 R6, R2, 0x10, RZ",
        "STS [R4], R7",
        "STS [R6], R7",
        "EXIT",
    )
    got = lane_addresses(ins)
    assert [a - got[0x80][1][0] for a in got[0x80][1]] == [4 * i for i in range(32)]
    assert 0x90 not in got


def test_the_simulation_serves_a_conflicted_access_that_many_times_longer():
    # one warp: an LDS whose result the FADD waits for (scoreboard 0). S2R at 0, LOP3 at 1 and LEA at 3
    # (the ALU takes 2 cycles per instruction), the LDS at 4: conflict-free (tid * 4) it leaves the data
    # path at 5 (128 bytes), 8-way conflicted (row * 128) at 12; the FADD issues the shared-memory
    # latency later, then EXIT
    from einsim.gpu.sass import VARIABLE_LATENCY_CYCLES, Instr

    def kernel(address_line):
        head = _sass("S2R R14, SR_TID.X", "LOP3.LUT R99, R14, 0x7, RZ, 0xc0, !PT", address_line)
        return head + (
            Instr(0x30, "LDS", "LDS R105, [R99]", 1, 0, 7, 0),
            Instr(0x40, "FADD", "FADD R1, R105, R1", 1, 7, 7, 0b1),
            Instr(0x50, "EXIT", "EXIT", 1, 7, 7, 0),
        )

    free, conflicted = kernel("LEA R99, R14, UR6, 0x2"), kernel("LEA R99, R99, UR6, 0x7")
    assert conflict_factors(free) == {} and conflict_factors(conflicted) == {0x30: 8.0}
    lds = VARIABLE_LATENCY_CYCLES["LDS"]
    assert program_cycles(free, 1, 0, 100) == 5 + lds + 2
    assert program_cycles(conflicted, 1, 0, 100) == 12 + lds + 2
