"""Lowering of kernelized linear attention (pure; imports neither torch nor triton).

Input: a `Cascade`. Output: a `KernelPlan` with `linear=True` and two kernels, or None when the
cascade is not linear attention (the softmax lowering in einsim.gpu.lower then names what it cannot do).

What the IR must say (Katharopoulos et al. 2020, non-causal, K/V first; never the file name):
- feature maps: the same unary operator applied to Q and to K (`FQ = elu1(Q)`, `FK = elu1(K)`);
- the state: FK times V summed over the key rank (`KV[e, f]`) and FK summed over it (`Z[e]`);
- per query: FQ times the state summed over the feature rank (`NUM[f, p]`, `DEN[p]`), then `NUM / DEN`.
No filter (the causal form needs a prefix scan of the state, which is not lowered). The kernels: a
state pass over K and V (per key chunk, fp32 partial KV and Z) and an apply pass over Q that sums the
partial states and writes O. The feature map runs as the operator's `@triton.jit` implementation.
"""

from __future__ import annotations

from einsim.gpu.plan import KernelPlan, PassKernel
from einsim.ir import Access, Apply, Cascade, accesses


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


def linear_plan(c: Cascade) -> KernelPlan | None:
    """The plan of a non-causal kernelized linear-attention cascade, or None if `c` is not one."""
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
    if c.iterative_tensors or any(e.filters for e in c.main):
        from einsim.errors import EinsimError

        e = next(e for e in c.main if e.output in c.iterative_tensors or e.filters)
        raise EinsimError(
            f"{c.source}: Einsum {e.name}: linear attention with a running state or a filter "
            "is not supported by the GPU lowering (einsim.gpu.lower): the causal form needs a prefix scan of "
            "the K^T V state; the non-causal form (state summed over all keys first) lowers."
        )
    op = next(iter(maps.values()))[1]
    by_out = {e.output: e for e in c.main}
    final = by_out.get(out)
    if final is None or not isinstance(final.rhs, Apply) or final.rhs.op != "div" or final.reduced_vars:
        return None
    num, den = (x.tensor for x in final.rhs.args)  # type: ignore[union-attr]
    fmaps = list(maps)
    for fq, fk in (fmaps, fmaps[::-1]):
        v = next(iter(inputs - {maps[fq][0], maps[fk][0]}))
        kv = next((e.output for e in c.main if _product(e, fk, v)), None)
        z = next(
            (e.output for e in c.main if list(x.tensor for x in accesses(e.rhs)) == [fk] and e.reduced_vars), None
        )
        if kv is None or z is None or num not in by_out or den not in by_out:
            continue
        if not (_product(by_out[num], fq, kv) and _product(by_out[den], fq, z)):
            continue
        names = (fq, fk, kv, z, num, den, out)
        if {e.output for e in c.main} != set(names):
            return None
        state = PassKernel(index=1, einsums=(fk, kv, z), kind="linear-state")
        apply = PassKernel(index=2, einsums=(fq, num, den, out), kind="linear-apply", write_o=True)
        return KernelPlan(
            cascade=c.name,
            kernels=(state, apply),
            q=maps[fq][0],
            k=maps[fk][0],
            v=v,
            out=out,
            causal=False,
            grouped=False,
            score_fns=(op,),
            linear=True,
            source=c,
        )
    return None
