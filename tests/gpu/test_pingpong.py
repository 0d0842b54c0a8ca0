"""FlashAttention-3's ping-pong schedule (Tiling.pingpong, the kernels' PINGPONG): where it applies, what it
compiles to for sm_90 (CPU, ptxas from the triton wheel), and on a GPU that it computes the plain kernel's
output. studies/gpu_pingpong.py measures it (notes_gpu.md v27)."""

from __future__ import annotations

import dataclasses
import os

import pytest

import einsim
from einsim.gpu.lower import lower
from einsim.gpu.plan import Tiling, pingpong_applies

from .test_lowering import LIB, _run_compiled


def _pass(file: str):
    return lower(einsim.parse_file(LIB / file)).kernels


def test_the_schedule_applies_to_online_one_pass_kernels_that_rescale_before_the_product():
    t = Tiling(128, 128, 4, 2, tma=True, warp_specialize=True, pingpong=True)
    (fa2,) = _pass("cascade5_fa2.ein")
    (fa1,) = _pass("flash_attention1.ein")
    assert pingpong_applies(fa2, t) and pingpong_applies(fa1, t)
    assert not pingpong_applies(fa2, dataclasses.replace(t, pingpong=False))
    assert not pingpong_applies(fa2, dataclasses.replace(t, lazy_rescale=True))
    assert not pingpong_applies(fa2, dataclasses.replace(t, pv_fma=True))
    assert not any(pingpong_applies(k, t) for k in _pass("cascade4_3pass.ein"))  # max and sum passes, no product


def test_each_consumer_passes_each_barrier_once_per_turn():
    """Named barriers count threads, so every consumer thread must pass each barrier instruction once (the
    helpers handle a thread's two rows in one instance): per consumer loop one bar.arrive (after the score
    product) and one bar.sync (before the PV product), on registers (8 + c, 9 - c); outside the loops, per
    consumer, the program's begin (the second warpgroup's credit at barrier 8, then a sync) and its close (an
    arrive, and the first warpgroup's sync at barrier 8), at both launches. The plain kernel has none of them."""
    code = """
import dataclasses
import einsim
from einsim.gpu import sass
from einsim.gpu.inspect import compile_report
from einsim.gpu.lower import lower
from einsim.gpu.plan import Shape, choose_tiling
for f in ("cascade5_fa2.ein", "flash_attention1.ein"):
    plan = lower(einsim.parse_file(LIB + "/" + f))
    sh = Shape(1, 16, 8192, 8192, 128)
    for persistent in (1, 0):
        t = dataclasses.replace(choose_tiling(plan, sh), persistent=persistent)
        plain = compile_report(plan, sh, t)[0].instructions
        assert not any(x.base == "BAR" and "0x100" in x.text for x in plain)
        ins = compile_report(plan, sh, dataclasses.replace(t, pingpong=True))[0].instructions
        loops = sass.ws_consumer_loops(ins)
        assert len(loops) == 2, (f, persistent)
        for body in loops:
            bars = [".".join(x.op.split(".")[:2]) for x in body if x.base == "BAR" and "0x100" in x.text]
            assert sorted(bars) == ["BAR.ARV", "BAR.SYNC"], (f, persistent, bars)
        outside = [x for x in ins if x.base == "BAR" and "0x100" in x.text and not any(x in b for b in loops)]
        constant = [x for x in outside if "0x8, 0x100" in x.text]
        # per consumer: the credit (arrive 8) and the close's sync at 8; the producer's copy, if any, predicated off
        assert len(constant) >= 4, (f, persistent, [x.text for x in outside])
print("ok")
"""
    _run_compiled(code)


@pytest.mark.gpu
@pytest.mark.parametrize("cascade", ["cascade5_fa2.ein", "flash_attention1.ein"])
@pytest.mark.parametrize("persistent", [1, 0])
def test_gpu_the_schedule_computes_the_plain_kernels_output(cascade, persistent):
    """Bit for bit: the same arithmetic in the same order (and a product with 1.0)."""
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    from einsim.gpu.plan import Shape, choose_tiling
    from einsim.gpu.runtime import prepare

    plan = lower(einsim.parse_file(os.path.join(LIB, cascade)))
    shape = Shape(2, 4, 2048, 2048, 128)
    t = dataclasses.replace(choose_tiling(plan, shape), persistent=persistent)
    g = torch.Generator(device="cuda").manual_seed(5)
    q, k, v = (torch.randn(2, 4, 2048, 128, device="cuda", generator=g, dtype=torch.bfloat16) for _ in range(3))
    plain, _ = prepare(plan, q, k, v, t)
    ref = plain().clone()
    run, o = prepare(plan, q, k, v, dataclasses.replace(t, pingpong=True))
    o.fill_(float("nan"))
    assert torch.equal(run(), ref)


def _deadlocks(programs: list[list[tuple]]) -> int:
    """End states with a warp still waiting, over every interleaving of 8 warps (4 per consumer warpgroup,
    each running its warpgroup's program) on named barriers that count warps: a phase of barrier 8 or 9
    completes at 8 arrivals (256 threads) whether they come from bar.sync ('S') or bar.arrive ('A'); 'L' is
    the warpgroup's own 4-warp barrier (triton's, once per tile)."""
    seqs = [programs[w // 4] for w in range(8)]
    start = (tuple([0] * 8), (), tuple([-1] * 8))
    seen, stack, stuck = set(), [start], 0
    while stack:
        state = stack.pop()
        if state in seen:
            continue
        seen.add(state)
        pos, bars, wait = state
        count = {b: (c, ph) for b, c, ph in bars}
        moved = False
        for w in range(8):
            if wait[w] >= 0:  # waiting on the barrier of its last op: free once that phase completed
                op, b = seqs[w][pos[w] - 1]
                if count.get(f"L{w // 4}" if op == "L" else b, (0, 0))[1] > wait[w]:
                    stack.append((pos, bars, wait[:w] + (-1,) + wait[w + 1 :]))
                    moved = True
                continue
            if pos[w] == len(seqs[w]):
                continue
            op, b = seqs[w][pos[w]]
            key, need = (f"L{w // 4}", 4) if op == "L" else (b, 8)
            c, ph = count.get(key, (0, 0))
            new = dict(count)
            new[key] = (0, ph + 1) if c + 1 == need else (c + 1, ph)
            waiting = ph if c + 1 < need and op in "SL" else -1
            state = (
                pos[:w] + (pos[w] + 1,) + pos[w + 1 :],
                tuple(sorted((k, *v) for k, v in new.items())),
                wait[:w] + (waiting,) + wait[w + 1 :],
            )
            stack.append(state)
            moved = True
        stuck += not moved and not all(p == len(s) for p, s in zip(pos, seqs))
    return stuck


def _program(c: int, jobs: int, tiles: int, credit_per_job: bool) -> list[tuple]:
    """Consumer warpgroup c's barrier operations (kernels' PINGPONG): the turns begin (the second warpgroup's
    credit at barrier 8, each waits at 8 + c), per tile the triton barrier, an arrive at the other's barrier
    after the score product and a wait at its own before the PV product; at the end an arrive at the other's
    and the first warpgroup's wait at 8. `credit_per_job`: begin and end at every job (the first form)."""
    me, other = str(8 + c), str(9 - c)
    begin = ([("A", "8")] if c == 1 else []) + [("S", me)]
    end = [("A", other)] + ([("S", "8")] if c == 0 else [])
    body = [op for _ in range(tiles) for op in (("L", ""), ("A", other), ("S", me))]
    if credit_per_job:
        return [op for _ in range(jobs) for op in begin + body + end]
    return begin + body * jobs + end


def test_the_turns_cannot_deadlock_but_a_credit_per_job_can():
    """The schedule's barrier protocol over every interleaving of the consumer warps (two jobs of two tiles):
    with the turns begun once per program and running on across its jobs (the kernels' form) no interleaving
    deadlocks; with a credit and a close at every job (the first form, which hung on the H100) the second
    warpgroup's next credit can complete barrier 8's phase with its own close, and some interleavings hang."""
    assert _deadlocks([_program(c, 2, 2, credit_per_job=False) for c in (0, 1)]) == 0
    assert _deadlocks([_program(c, 2, 2, credit_per_job=True) for c in (0, 1)]) > 0
