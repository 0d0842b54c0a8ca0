"""Event-driven tile-operation engine with per-unit timelines and exact repeat skipping.

Inputs: a `Stream` (see `binding.py`, `flat.py`): a sequence of steps, each a list of `Op`s. An op is a
contiguous block of `n` issue slots on one unit ("2d", "1d", "dram"); its deps say
`op.start >= src.start + off` (offsets are computed from instruction positions and link latencies by
the stream). Ops on a unit issue in program order: `start = max(unit_free, max(dep.start + off))`,
`unit_free = start + n`. The DRAM channel is such a unit, so bandwidth is a resource on the timeline.

Output: `Timeline` (total cycles, busy slots per unit, per-Einsum slot counts, DRAM bytes per tensor).

Repeat skipping: the stream's epochs are given as a nested run-length list. After each repetition of a
body the engine compares the state (unit-free times + starts of the ops the future can reference); when
state(k) == state(k-p) + c for a constant c and a period p <= MAX_PERIOD repetitions, every later group
of p repetitions also shifts by exactly c (the dynamics are max-plus and translation invariant), so
whole periods are added in one step and the remainder is simulated. This is exact, which
`tests/test_model_engine.py` checks against the unskipped run. Counters (busy slots, per-Einsum slots,
DRAM bytes, stall causes) grow by their per-period increment.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Op:
    """One tile operation: `n` issue slots on `unit`; `work` = (einsum, slots) charged to utilization."""

    name: str
    unit: str
    n: int
    deps: tuple[tuple[tuple[int, str], int], ...] = ()
    work: tuple[tuple[str, int], ...] = ()
    dram: tuple[tuple[str, int], ...] = ()
    """(tensor, bytes) moved by a DRAM op."""
    long: bool = False
    """May be referenced beyond the stream's lookback, with offset `n`, by ops on the 2D array."""


class Stream(Protocol):
    lookback_steps: int
    n_steps: int

    def ops(self, step: int) -> list[Op]: ...

    def signature(self, step: int) -> tuple: ...


_PRUNED = -(2**62)


@dataclass
class _State:
    unit_free: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    starts: dict[tuple[int, str], int] = field(default_factory=dict)
    long: dict[tuple[int, str], int] = field(default_factory=dict)
    busy: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    work: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    dram: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    step: int = 0
    ops_simulated: int = 0
    record: dict | None = None
    stall: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    unit_of: dict[str, str] = field(default_factory=dict)
    strict: bool = False
    pruned_long: set = field(default_factory=set)


@dataclass(frozen=True)
class Timeline:
    """Result of a run: cycles, busy issue slots per unit, slots per Einsum, DRAM bytes per tensor."""

    cycles: int
    busy_slots: dict[str, int]
    work_slots: dict[str, int]
    dram_bytes: dict[str, int]
    ops_simulated: int
    skipped_repeats: int
    stall_cycles: dict[str, int] = field(default_factory=dict)
    """Idle cycles of a unit before an op, by the unit it waited for ("2d<-1d": 2D waited for the 1D)."""
    op_starts: dict[tuple[int, str], int] | None = None
    """Start of every op (only with `run(..., record=True)`, which also disables skipping)."""


def epochs_rle(stream, epoch_steps: int, block_epochs: int, n_blocks: int, edge_epochs: int | None = None) -> list:
    """Nested run-length list of epochs for `run`: blocks of `block_epochs` epochs of `epoch_steps` steps,
    then the remaining steps as a tail. Epoch kinds are the tuples of step signatures, so two epochs with
    the same kind issue identical (time-shifted) ops. Interior epochs of a block and interior blocks are
    assumed regular; their first and last members are compared to check it."""

    if edge_epochs is None:
        edge_epochs = getattr(stream, "edge_epochs", 3)

    def esig(e: int) -> tuple:
        return tuple(stream.signature(s) for s in range(e * epoch_steps, (e + 1) * epoch_steps))

    def block(b: int) -> tuple:
        first = b * block_epochs
        if block_epochs <= 2 * edge_epochs + 2:
            return tuple(_rle([esig(first + k) for k in range(block_epochs)]))
        head = [esig(first + k) for k in range(edge_epochs)]
        mid = esig(first + edge_epochs)
        if esig(first + block_epochs - edge_epochs - 1) != mid:  # not regular: enumerate (slow, exact)
            return tuple(_rle([esig(first + k) for k in range(block_epochs)]))
        tail = [esig(first + block_epochs - edge_epochs + k) for k in range(edge_epochs)]
        return tuple(_rle(head) + [(mid, block_epochs - 2 * edge_epochs)] + _rle(tail))

    if n_blocks <= 6:
        blocks = [block(b) for b in range(n_blocks)]
    else:
        inner = block(2)
        if block(n_blocks - 4) != inner:  # not regular: enumerate every block (slow, exact)
            blocks = [block(b) for b in range(n_blocks)]
        else:
            blocks = [block(0), block(1)] + [inner] * (n_blocks - 5) + [block(n_blocks - k) for k in (3, 2, 1)]
    items = [(list(k), c) for k, c in _rle(blocks)]
    first_tail = n_blocks * block_epochs * epoch_steps
    tail = tuple(stream.signature(s) for s in range(first_tail, stream.n_steps))
    if tail:
        items.append((tail, 1))
    return items


def _rle(seq: list) -> list:
    out: list = []
    for x in seq:
        if out and out[-1][0] == x:
            out[-1] = (x, out[-1][1] + 1)
        else:
            out.append((x, 1))
    return out


def run(stream, epochs: list, skip: bool = True, record: bool = False, strict: bool = False) -> Timeline:
    """Simulate `epochs` (nested run-length list: `(kind, count)` with kind a tuple of step signatures,
    or `(list_of_items, count)`) of `stream`; `skip=False` simulates every repetition."""
    st = _State()
    st.strict = strict
    skipped = [0]
    if record:
        skip = False
        st.record = {}
    _run_items(stream, epochs, st, skip, skipped)
    cycles = max(st.unit_free.values(), default=0)
    return Timeline(
        cycles=int(cycles),
        busy_slots=dict(st.busy),
        work_slots=dict(st.work),
        dram_bytes=dict(st.dram),
        ops_simulated=st.ops_simulated,
        skipped_repeats=skipped[0],
        stall_cycles=dict(st.stall),
        op_starts=st.record,
    )


def _run_epoch(stream, kind: tuple, st: _State) -> None:
    starts, unit_free = st.starts, st.unit_free
    for _ in range(len(kind)):
        s = st.step
        for op in stream.ops(s):
            free = t = unit_free[op.unit]
            cause = None
            for key, off in op.deps:
                v = starts.get(key, _PRUNED) + off  # only dominated long-range loads are pruned
                if st.strict and key not in starts and key not in st.pruned_long:
                    raise AssertionError(f"step {s} op {op.name} references pruned {key}: lookback too small")
                if v > t:
                    t, cause = v, key[1]
            if cause is not None and op.n:
                st.stall[f"{op.unit}<-{st.unit_of.get(cause, '?')}"] += t - free
            st.unit_of[op.name] = op.unit
            starts[(s, op.name)] = t
            if st.record is not None:
                st.record[(s, op.name)] = t
            if op.long:
                st.long[(s, op.name)] = op.n
            if op.n:
                unit_free[op.unit] = t + op.n
                st.busy[op.unit] += op.n
            for k, v in op.work:
                st.work[k] += v
            for k, v in op.dram:
                st.dram[k] += v
            st.ops_simulated += 1
        st.step += 1
    _prune(stream, st)


def _prune(stream, st: _State) -> None:
    lo = st.step - stream.lookback_steps - 1
    old = [k for k in st.starts if k[0] < lo]
    for k in old:
        if k in st.long and st.starts[k] + st.long[k] > st.unit_free["2d"]:
            continue  # a pending long-range load that can still delay the 2D array
        del st.starts[k]
        if st.long.pop(k, None) is not None and st.strict:
            st.pruned_long.add(k)


def _snapshot(st: _State) -> tuple[tuple, list[int]]:
    keys = sorted(st.starts)
    units = sorted(st.unit_free)
    shape = (tuple((k[0] - st.step, k[1]) for k in keys), tuple(units))
    values = [st.starts[k] for k in keys] + [st.unit_free[u] for u in units]
    return shape, values


def _counters(st: _State) -> tuple[dict, dict, dict, dict]:
    return dict(st.busy), dict(st.work), dict(st.dram), dict(st.stall)


def _run_items(stream, items: list, st: _State, skip: bool, skipped: list[int]) -> None:
    for body, count in items:
        _repeat(stream, body, count, st, skip, skipped)


MAX_PERIOD = 16
"""Longest period (in repetitions of a body) the repeat detector looks for."""


def _repeat(stream, body, count: int, st: _State, skip: bool, skipped: list[int]) -> None:
    hist: list[tuple[tuple, list[int], tuple, int]] = []  # (shape, values, counters, step) after each rep
    i = 0
    while i < count:
        if isinstance(body, list):
            _run_items(stream, body, st, skip, skipped)
        else:
            _run_epoch(stream, body, st)
        i += 1
        if not skip or i == count:
            continue
        shape, values = _snapshot(st)
        counts = _counters(st)
        for k in range(1, min(MAX_PERIOD, len(hist)) + 1):
            pshape, pvalues, pcounts, pstep = hist[-k]
            if pshape != shape or len(pvalues) != len(values):
                continue
            deltas = {b - a for a, b in zip(pvalues, values)}
            if len(deltas) != 1:
                continue
            # state(i) = state(i-k) + c: every later group of k repetitions shifts by c as well
            jumps = (count - i) // k
            if jumps:
                _advance(st, deltas.pop() * jumps, (st.step - pstep) * jumps, counts, pcounts, jumps)
                skipped[0] += jumps * k
                i += jumps * k
            hist.clear()
            break
        else:
            hist.append((shape, values, counts, st.step))
            if len(hist) > MAX_PERIOD:
                hist.pop(0)


def _advance(st: _State, dt: int, dsteps: int, counts, prev_counts, rest: int) -> None:
    """Jump `rest` periods ahead: times shift by dt, steps by dsteps, counters grow by rest x (one period)."""
    st.starts = {(k[0] + dsteps, k[1]): v + dt for k, v in st.starts.items()}
    st.long = {(k[0] + dsteps, k[1]): v for k, v in st.long.items()}
    st.pruned_long |= {(k[0] + dsteps, k[1]) for k in st.pruned_long}  # dominated before and after
    for u in list(st.unit_free):
        st.unit_free[u] += dt
    st.step += dsteps
    for cur, prv, tgt in zip(counts, prev_counts, (st.busy, st.work, st.dram, st.stall)):
        for k in set(cur) | set(prv):
            tgt[k] += (cur.get(k, 0) - prv.get(k, 0)) * rest
