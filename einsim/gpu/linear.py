"""Lowering of kernelized linear attention (pure; imports neither torch nor triton).

Input: a `Cascade`. Output: a `KernelPlan` with `linear=True`, or None when the cascade is not linear
attention (the softmax lowering in einsim.gpu.lower then names what it cannot do).

What the IR must say (Katharopoulos et al. 2020; never the file name):
- feature maps: the same unary operator applied to Q and to K (`FQ = elu1(Q)`, `FK = elu1(K)`);
- non-causal (K/V first): the state FK times V summed over the key rank (`KV[e, f]`) and FK summed over
  it (`Z[e]`); per query FQ times the state summed over the feature rank (`NUM[f, p]`, `DEN[p]`), then
  `NUM / DEN`. Kernels: a state pass over K and V (per key chunk, fp32 partial KV and Z), a sum of the
  chunk states, and an apply pass over Q that writes O.
- causal: the state is a running sum on an iterative key rank, initialized to 0
  (`S[e, f, m+1] = S[e, f, m] + FK[e, m] * V[f, m]`, `ZC[e, m+1] = ZC[e, m] + FK[e, m]`), and a query
  reads the generation `G(p)`: the state after the keys m < G(p). Which keys that is, `m - p <= hi`, is
  found as a band (einsim.gpu.band) of the predicate `m < G(p)`: `p + (M - P) + 1` gives the causal
  `hi = M - P`. The prefix sum is chunked: a state pass writes each key chunk's K^T V and Z, a scan pass
  turns them into exclusive prefix sums (in place), and the apply pass takes, for a query tile, the
  prefix state of the whole chunks before its first visible key boundary and adds the keys after it
  exactly, as masked φ(Q)·φ(K)ᵀ products (at most a chunk and a query tile of keys).
The feature map runs as the operator's `@triton.jit` implementation.
"""

from __future__ import annotations

from einsim.gpu.plan import KernelPlan, PassKernel
from einsim.ir import Access, Apply, Cascade, Cmp, Const, IBin, INum, IVar, accesses, ivars


def _product(e, a: str, b: str) -> bool:
    """e is a (reduced) product of exactly the tensors a and b."""
    acc = list(accesses(e.rhs))
    return (
        isinstance(e.rhs, Apply)
        and e.rhs.op == "mul"
        and len(acc) == 2
        and {x.tensor for x in acc} == {a, b}
        and bool(e.reduced_vars)
        and e.effective_reduce_op == "add"
    )


def _running_sum(c: Cascade, e, pos: int) -> tuple[str, ...] | None:
    """If `e` is `X[.., m+1] = X[.., m] + term` (X initialized to 0), the tensors of `term`, else None."""
    r = e.rhs
    ix = e.lhs.indices[pos].expr
    if not (
        isinstance(r, Apply)
        and r.op == "add"
        and len(r.args) == 2
        and isinstance(ix, IBin)
        and ix.op == "+"
        and isinstance(ix.a, IVar)
        and ix.b == INum(1)
        and not e.reduced_vars
    ):
        return None
    prev, term = r.args
    if not (isinstance(prev, Access) and prev.tensor == e.output and prev.indices[pos].expr == ix.a):
        return None
    init = [i for i in c.init if i.output == e.output]
    if len(init) != 1 or init[0].rhs != Const(0.0):
        return None
    if isinstance(term, Access):
        return (term.tensor,)
    if isinstance(term, Apply) and term.op == "mul" and all(isinstance(a, Access) for a in term.args):
        return tuple(a.tensor for a in term.args)  # type: ignore[union-attr]
    return None


def _err(c: Cascade, e, what: str):
    from einsim.errors import EinsimError

    return EinsimError(
        f"{c.source}: Einsum {e.name}: {what} is not supported by the GPU lowering of linear attention "
        "(einsim.gpu.linear): it lowers a running K^T V state and normalizer summed over the keys a query sees."
    )


def linear_plan(c: Cascade) -> KernelPlan | None:
    """The plan of a kernelized linear-attention cascade (non-causal or causal), or None if `c` is not one."""
    inputs = {t.name for t in c.inputs}
    if len(c.outputs) != 1 or len(inputs) != 3:
        return None
    out = c.outputs[0].name
    maps: dict[str, tuple[str, str]] = {}
    for e in c.main:
        r = e.rhs
        if (
            isinstance(r, Apply)
            and len(r.args) == 1
            and isinstance(r.args[0], Access)
            and r.args[0].tensor in inputs
            and not e.reduced_vars
        ):
            maps[e.output] = (r.args[0].tensor, r.op)
    if len(maps) != 2 or len({op for _, op in maps.values()}) != 1:
        return None
    op = next(iter(maps.values()))[1]
    by_out = {e.output: e for e in c.main}
    final = by_out.get(out)
    if final is None or not isinstance(final.rhs, Apply) or final.rhs.op != "div" or final.reduced_vars:
        return None
    num, den = (x.tensor for x in final.rhs.args)  # type: ignore[union-attr]
    if num not in by_out or den not in by_out:
        return None
    if c.iterative_tensors:
        return _causal_plan(c, maps, op, by_out, inputs, num, den, out)
    if any(e.filters for e in c.main):
        e = next(e for e in c.main if e.filters)
        raise _err(c, e, "a filter on linear attention (write the causal form as a running state)")
    fmaps = list(maps)
    for fq, fk in (fmaps, fmaps[::-1]):
        v = next(iter(inputs - {maps[fq][0], maps[fk][0]}))
        kv = next((e.output for e in c.main if _product(e, fk, v)), None)
        z = next(
            (e.output for e in c.main if list(x.tensor for x in accesses(e.rhs)) == [fk] and e.reduced_vars), None
        )
        if kv is None or z is None:
            continue
        if not (_product(by_out[num], fq, kv) and _product(by_out[den], fq, z)):
            continue
        names = (fq, fk, kv, z, num, den, out)
        if {e.output for e in c.main} != set(names):
            return None
        return _plan(c, maps, op, (fq, fk, v, out), ((fk, kv, z), (kv, z), (fq, num, den, out)))
    return None


def _plan(c: Cascade, maps, op: str, names, einsums, band=None, band_ranks=("M", "P")) -> KernelPlan:
    """The three launches (state, sum or prefix scan, apply) of a linear plan; `band` makes it causal."""
    fq, fk, v, out = names
    causal = band is not None
    kinds = ("linear-state", "linear-scan", "linear-causal-apply") if causal else (
        "linear-state", "linear-sum", "linear-apply")  # fmt: skip
    kernels = tuple(
        PassKernel(index=i + 1, einsums=e, kind=k, write_o=i == 2) for i, (e, k) in enumerate(zip(einsums, kinds))
    )
    return KernelPlan(
        cascade=c.name,
        kernels=kernels,
        q=maps[fq][0],
        k=maps[fk][0],
        v=v,
        out=out,
        causal=causal,
        grouped=False,
        score_fns=(op,),
        band=band,
        band_ranks=band_ranks,
        linear=True,
        source=c,
    )


def _causal_plan(c: Cascade, maps, op: str, by_out, inputs, num: str, den: str, out: str) -> KernelPlan | None:
    """Causal linear attention: running sums S (of FK·V) and ZC (of FK) on the key rank, read by the
    queries at a generation that the band of `m < G(p)` turns into `m - p <= hi`."""
    from einsim.gpu.band import band_of

    it = c.iterative_tensors
    sums = {}
    for name, pos in it.items():
        terms = _running_sum(c, by_out[name], pos)
        if terms is None:
            raise _err(c, by_out[name], "an iterative state that is not a running sum from 0 (X[m+1] = X[m] + ...)")
        sums[name] = terms
    fmaps = list(maps)
    for fq, fk in (fmaps, fmaps[::-1]):
        v = next(iter(inputs - {maps[fq][0], maps[fk][0]}))
        s = next((n for n, t in sums.items() if sorted(t) == sorted((fk, v))), None)
        zc = next((n for n, t in sums.items() if t == (fk,)), None)
        if s is None or zc is None or not (_product(by_out[num], fq, s) and _product(by_out[den], fq, zc)):
            continue
        if {e.output for e in c.main} != {fq, fk, s, zc, num, den, out} or set(it) != {s, zc}:
            return None
        # the generation each query reads: S[.., G(p)] in NUM and ZC[.., G(p)] in DEN, the same G
        gens = []
        for reader, state in ((num, s), (den, zc)):
            acc = next(a for a in accesses(by_out[reader].rhs) if a.tensor == state)
            gens.append(acc.indices[it[state]].expr)
        kvar = by_out[s].lhs.indices[it[s]].expr.a.name  # type: ignore[union-attr]
        qvars = [x for x in by_out[out].lhs_vars if x in ivars(gens[0])]
        if gens[0] != gens[1] or len(qvars) != 1:
            raise _err(c, by_out[num], "NUM and DEN reading the running states at different or query-free generations")
        band = band_of([Cmp("<", IVar(kvar), gens[0])], qvars[0], kvar.upper(), (), tuple(c.sizes))
        if band is None or band.hi is None or band.lo is not None:
            raise _err(c, by_out[num], "a generation of the running state that is not a causal prefix m - p <= hi")
        einsums = ((fk, s, zc), (s, zc), (fq, num, den, out))
        return _plan(c, maps, op, (fq, fk, v, out), einsums, band, (kvar.upper(), qvars[0].upper()))
    return None

