"""Lowering an attention cascade to GPU pass kernels (pure; imports neither torch nor triton).

Input: a `Cascade` (and optionally its `PassAnalysis` over the key rank M). Output: a `KernelPlan`
with one `PassKernel` per pass, whose flags select what the Triton pass skeleton
(einsim.gpu.kernels) computes.

How the IR decides (never the file name):
- Roles: the score is the Einsum that sum-reduces a product of two inputs over a shared rank (E);
  the other input sharing the score's key ranks is K, the third input V. Unary maps and scalar
  products of the score extend it (scalars become the scale; other operators become score functions
  run as `@triton.jit` functions). A max-reduction of the score over key ranks is a row max; an
  iterative `max` is the running max; `expsub(score, max)` the exponent; its sum over key ranks the
  row sum; `div` with key ranks the in-loop normalization; a product with V summed over key ranks the
  PV product; a `div` without key ranks the deferred division; iterative Einsums over the rescaled
  state (`expsub(max, max)`, products and sums of it) are the online bookkeeping, and an iterative
  output divided by the running sum at every step is FlashAttention-1's normalized output.
- Passes: `analyze_passes(cascade, rank="M")` groups the Einsums; each pass becomes one kernel.
  M-ranked tensors that cross a pass boundary are recomputed from Q and K; row statistics that cross
  one (the max, the sum) live in global memory.
- Filters: the filter of the score must select a band `lo <= m - p <= hi` of key and query
  coordinates with affine size bounds (einsim.gpu.band): the causal `m <= p + (M - P)` (hi = M - P) or a
  sliding window (plus lo = M - P - W + 1). Masked tiles are masked, tiles outside the band skipped.
  Group ranks on Q that K lacks make the plan grouped (GQA).
- Split-K: per-chunk maxima, sums and numerators over the inner partition M0 that a later max over the
  outer partition M1 combines (`e^(LM - GM)` rescales, sums over M1, deferred division) make the plan
  split-K (flash-decoding): the pass kernel runs on S key chunks in parallel and writes chunk summaries,
  a combine kernel merges them. When only the chunk sums are combined and a second pass normalizes
  `exp(score - LM) * e^(LM - GM)` (the partitioned 2-pass), the chunked max and sum are one online pass
  (its tiles are the chunks) that writes the row max and sum, and the second pass reads them.
Anything else raises `EinsimError` naming the Einsum and the construct.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from einsim.errors import EinsimError
from einsim.gpu.band import band_of
from einsim.gpu.linear import linear_plan
from einsim.gpu.plan import KernelPlan, PassKernel
from einsim.ir import (
    Access,
    Apply,
    Cascade,
    Const,
    Einsum,
    Expr,
    Name,
    accesses,
    ivars,
)


@dataclass
class _Roles:
    """What each tensor of the cascade is, as far as the lowering is concerned."""

    alias: dict[str, str] = field(default_factory=dict)
    score: set[str] = field(default_factory=set)
    maxes: set[str] = field(default_factory=set)
    exps: set[str] = field(default_factory=set)
    sums: set[str] = field(default_factory=set)
    numer: set[str] = field(default_factory=set)
    rescale: set[str] = field(default_factory=set)
    #: exponentials taken without subtracting a max (max-free, numerically unstable cascades)
    nomax: set[str] = field(default_factory=set)
    role: dict[str, str] = field(default_factory=dict)


def _err(c: Cascade, e: Einsum | None, what: str) -> EinsimError:
    where = f"{c.source}: Einsum {e.name}: " if e is not None else f"{c.source}: "
    return EinsimError(f"{where}{what} is not supported by the GPU lowering (einsim.gpu.lower).")


def _flatten_mul(x: Expr) -> list[Expr]:
    if isinstance(x, Apply) and x.op == "mul" and len(x.args) == 2:
        return _flatten_mul(x.args[0]) + _flatten_mul(x.args[1])
    return [x]


def _vars(acc: Access) -> set[str]:
    out: set[str] = set()
    for ix in acc.indices:
        out |= set(ivars(ix.expr))
    return out


def _query_key(a: list[Access], out_ranks: set[str]) -> tuple[Access, Access] | None:
    """(query, key) access of a two-operand score: the query's own ranks reach the cascade's output,
    the key's own ranks (the key rank, or its partition) do not."""
    if len(a) != 2:
        return None
    ex0, ex1 = _vars(a[0]) - _vars(a[1]), _vars(a[1]) - _vars(a[0])
    if ex0 and ex1 and ex0 <= out_ranks and not ex1 & out_ranks:
        return a[0], a[1]
    if ex0 and ex1 and ex1 <= out_ranks and not ex0 & out_ranks:
        return a[1], a[0]
    return None


def _classify(c: Cascade) -> tuple[_Roles, dict]:
    """Assign a role to every main Einsum; returns the roles and facts about Q/K/V and ranks."""
    r = _Roles()
    inputs = {t.name for t in c.inputs}
    if len(c.outputs) != 1:
        raise _err(c, None, f"a cascade with {len(c.outputs)} outputs (one attention output expected)")
    out = c.outputs[0].name
    for e in c.init:
        if e.section == "init" and isinstance(e.rhs, Access) and e.rhs.tensor in inputs:
            r.alias[e.output] = e.rhs.tensor
    iterative = set(c.iterative_tensors)
    # running outputs kept normalized (FlashAttention-1's RO = (rescaled RO + new numerator) / new sum):
    # numerators from the start, since their own update reads them before it is classified
    normed = {e.output for e in c.main if e.output in iterative and isinstance(e.rhs, Apply) and e.rhs.op == "div"}
    r.numer |= normed
    out_ranks = {rk.lower() for rk in c.tensor_ranks[out]}
    facts: dict = {"out": out, "scale_names": [], "scale_const": 1.0, "score_fns": [], "filters": []}

    def base(name: str) -> str:
        return r.alias.get(name, name)

    def accs(x: Expr) -> list[Access]:
        return list(accesses(x))

    for e in c.main:
        a = accs(e.rhs)
        names = [base(x.tensor) for x in a]
        ops = set(e.operators)
        red = e.effective_reduce_op
        if e.filters:
            facts["filters"].append((e, e.filters))
        # score: sum over a rank shared by two inputs of their product (with scalars)
        qk = _query_key(a, out_ranks)
        if "Q" not in facts and qk and all(n in inputs for n in names) and ops <= {"mul"} and e.reduced_vars:
            if qk[0] is not a[0]:
                a, names = a[::-1], names[::-1]
            factors = _flatten_mul(e.rhs)
            for f in factors:
                if isinstance(f, Name):
                    facts["scale_names"].append(f.name)
                elif isinstance(f, Const):
                    facts["scale_const"] *= f.value
                elif not isinstance(f, Access):
                    raise _err(c, e, f"a score factor {f!r}")
            facts["Q"], facts["K"] = names
            facts["q_acc"], facts["k_acc"] = a
            facts["key_vars"] = _vars(a[1]) - _vars(a[0])
            facts["score_einsum"] = e
            r.score.add(e.output)
            r.role[e.name] = "score"
            continue
        if not a:
            raise _err(c, e, "an Einsum that reads no tensor")
        src = {x.tensor for x in a}
        if (
            isinstance(e.rhs, Apply)
            and e.rhs.op == "exp"
            and len(e.rhs.args) == 1
            and isinstance(e.rhs.args[0], Access)
            and src <= r.score
            and not e.reduced_vars
        ):
            r.exps.add(e.output)  # exp(score) with no max: the shift is 0
            r.nomax.add(e.output)
            r.role[e.name] = "exp"
            continue
        if len(a) == 1 and src <= r.score and e.reduce_op is None and not e.reduced_vars:
            # element-wise map of the score: scalar products and unary operators
            outer = _flatten_mul(e.rhs)
            core = [x for x in outer if not isinstance(x, Name | Const)]
            if len(core) != 1:
                raise _err(c, e, "a map of the score that is not element-wise")
            x, fns = core[0], []
            while isinstance(x, Apply) and x.op != "mul":
                if len(x.args) != 1:
                    raise _err(c, e, f"operator {x.op!r} with {len(x.args)} operands on the score")
                fns.append(x.op)
                x = x.args[0]
            inner = _flatten_mul(x)
            if sum(isinstance(y, Access) for y in inner) != 1 or not all(
                isinstance(y, Access | Name | Const) for y in inner
            ):
                raise _err(c, e, "a map of the score that is not element-wise")
            scal_out = [y for y in outer if isinstance(y, Name | Const)]
            scal_in = [y for y in inner if isinstance(y, Name | Const)]
            if (fns and scal_out) or (facts["score_fns"] and (scal_in or scal_out)):
                raise _err(c, e, "a scalar factor applied after an operator on the score")
            for y in scal_in + scal_out:
                if isinstance(y, Name):
                    facts["scale_names"].append(y.name)
                else:
                    facts["scale_const"] *= y.value
            facts["score_fns"].extend(reversed(fns))
            r.score.add(e.output)
            r.role[e.name] = "score_map"
            continue
        key_vars = facts.get("key_vars", set())
        if "Q" in facts and e.reduced_vars and not set(e.reduced_vars) <= key_vars:
            raise _err(
                c,
                e,
                f"a reduction over {sorted(e.reduced_vars)} (attention reduces only over the key ranks "
                f"{sorted(key_vars)})",
            )
        if red == "max" and len(a) == 1 and src <= r.score:
            r.maxes.add(e.output)
            r.role[e.name] = "rowmax"
            continue
        if red == "max" and len(a) == 1 and src <= r.maxes and e.output not in iterative and e.reduced_vars:
            # a max over the outer key partition of per-chunk maxima (split-K / flash-decoding combine)
            r.maxes.add(e.output)
            r.role[e.name] = "combine_max"
            continue
        if e.output in iterative and ops == {"max"} and src <= r.maxes | {e.output}:
            r.maxes.add(e.output)
            r.role[e.name] = "runmax"
            continue
        if isinstance(e.rhs, Apply) and e.rhs.op == "expsub":
            x0, x1 = e.rhs.args
            if isinstance(x0, Access) and isinstance(x1, Access) and x1.tensor in r.maxes:
                if x0.tensor in r.score:
                    r.exps.add(e.output)
                    r.role[e.name] = "exp"
                    continue
                if x0.tensor in r.maxes:
                    r.rescale.add(e.output)
                    r.role[e.name] = "rescale"
                    continue
            raise _err(c, e, "an exponent that is not exp(score - max) or exp(max - max)")
        if (
            red == "add"
            and ops == {"mul"}
            and len(a) == 2
            and e.reduced_vars
            and src & r.rescale
            and src - r.rescale <= r.sums | r.numer
            and "combine_max" in r.role.values()
        ):
            # per-chunk sums / numerators rescaled by e^(chunk max - global max) and summed over chunks
            tgt = r.numer if src & r.numer else r.sums
            tgt.add(e.output)
            r.role[e.name] = "combine"
            continue
        if ops == {"mul"} and len(a) == 2 and src & r.exps and src & r.rescale and not e.reduced_vars:
            # exp(score - chunk max) * e^(chunk max - global max) = exp(score - global max): an exponent
            # (the partitioned 2-pass cascade's SN)
            r.exps.add(e.output)
            r.role[e.name] = "exp"
            continue
        if (
            red == "add"
            and not ops
            and len(a) == 1
            and e.reduced_vars
            and src <= r.sums | r.numer
            and "combine_max" in r.role.values()
        ):
            # a sum over chunks of already rescaled chunk sums (SD = sum over m1 of SPD)
            tgt = r.numer if src & r.numer else r.sums
            tgt.add(e.output)
            r.role[e.name] = "combine"
            continue
        if e.output in normed and ops == {"add", "div"} and src & r.numer and src & r.sums and not e.reduced_vars:
            # (rescaled running output + new numerator) / new running sum: the output stays normalized
            r.role[e.name] = "online_div"
            continue
        if e.output == out and not ops and red is None and len(a) == 1 and src <= normed and not e.reduced_vars:
            r.role[e.name] = "out_copy"  # the output is the normalized running output after the last step
            continue
        if ops <= {"mul", "add"} and src & (r.rescale | r.sums | r.numer) and not e.reduced_vars:
            # online bookkeeping: rescaling of running sums / numerators
            tgt = r.numer if src & r.numer else r.sums
            tgt.add(e.output)
            r.role[e.name] = "online"
            continue
        if red == "add" and not ops and len(a) == 1 and src <= r.exps and e.reduced_vars:
            r.sums.add(e.output)
            r.role[e.name] = "rowsum"
            continue
        if ops == {"div"} and len(a) == 2 and a[0].tensor in r.exps and a[1].tensor in r.sums:
            r.exps.add(e.output)
            r.role[e.name] = "normalize"
            continue
        if red == "add" and ops <= {"mul"} and len(a) == 2 and e.reduced_vars:
            vs = [x for x in a if base(x.tensor) in inputs and base(x.tensor) not in (facts.get("Q"), facts.get("K"))]
            ps = [x for x in a if x.tensor in r.exps]
            if len(vs) == 1 and len(ps) == 1:
                facts["V"] = base(vs[0].tensor)
                r.numer.add(e.output)
                r.role[e.name] = "pv"
                continue
        if ops == {"div"} and len(a) == 2 and a[0].tensor in r.numer and a[1].tensor in r.sums:
            r.role[e.name] = "div_out"
            continue
        raise _err(
            c,
            e,
            f"this Einsum (operators {sorted(ops) or ['none']}, reduce {red}), which plays none of the attention "
            "roles (score, score map, row/running max, exp(score - max), row sum, normalization, product "
            "with V, deferred division, online rescaling)",
        )
    for key in ("Q", "K", "V"):
        if key not in facts:
            raise _err(c, None, f"a cascade without a recognizable {key} input")
    roles = set(r.role.values())
    if roles & {"online", "rescale"} and not roles & {"runmax", "combine_max"}:
        raise _err(c, None, "rescaling of running sums without an iterative running max or a max over chunks")
    if "combine_max" in roles and not ("combine" in roles and roles & {"div_out", "normalize"}):
        raise _err(c, None, "a max over chunks without per-chunk sums combined over chunks and a division by them")
    # split-K: chunk numerators (products with V) are combined over chunks; when only the sums are (the
    # partitioned 2-pass), the chunked max and sum are one online pass and a second pass normalizes
    combined = {e.output for e in c.main if r.role.get(e.name) == "combine"}
    facts["split_k"] = bool(combined & r.numer)
    return r, facts


def lower(cascade: Cascade, analysis=None) -> KernelPlan:
    """The `KernelPlan` of an attention cascade: one pass kernel per pass over M."""
    c = cascade
    lin = linear_plan(c)
    if lin is not None:
        return lin
    roles, f = _classify(c)
    if analysis is None:
        from einsim import analyze_passes

        analysis = analyze_passes(c, rank="M")
    pass_of: dict[str, int | None] = dict(analysis.pass_of)
    n = int(analysis.passes)
    if n < 1 or n > 3:
        raise _err(c, None, f"a cascade of {n} passes over M (1, 2 or 3 are lowered)")

    # ranks: key vars are in K's access but not Q's; query vars in Q's but not K's
    qa, ka = f["q_acc"], f["k_acc"]
    q_vars = _vars(qa)
    k_vars = _vars(ka)
    key_vars = k_vars - q_vars
    query_vars = q_vars - k_vars
    grouped = len(query_vars) > 1
    p_var = "p" if "p" in query_vars else sorted(query_vars)[-1]
    if not key_vars:
        raise _err(c, f["score_einsum"], "a score with no key rank")

    # filters: the conjunction on each filtered Einsum must select a band lo <= m - p <= hi of the key
    # coordinate m (the causal filter: hi = M - P; a sliding window adds lo); all filtered Einsums agree
    shared = {v.upper() for v in q_vars & k_vars}
    key_rank = next((rk for rk in c.tensor_ranks[f["K"]] if rk not in shared), "M")
    parts = next((rd.factors for rd in c.ranks if rd.name == key_rank), ())
    band = None
    for e, preds in f["filters"]:
        b = band_of(list(preds), p_var, key_rank, parts, tuple(c.sizes))
        if b is None:
            from einsim.fmt import format_pred

            text = " and ".join(format_pred(x) for x in preds)
            raise _err(c, e, f"the filter `{text}` (only bands `lo <= m - p <= hi` of the key and query are lowered)")
        if band is not None and b != band:
            raise _err(c, e, f"a filter band `{b.lo} <= m - p <= {b.hi}` that differs from another Einsum's")
        band = b
    causal = band is not None and band.hi is not None

    # per-pass flags
    # Einsums with no M rank (a combine over chunks, a deferred division) run after the pass of their latest
    # input, in that kernel's epilogue (the last kernel if they read no pass's output)
    by_pass: dict[int, list[Einsum]] = {i: [] for i in range(1, n + 1)}
    produced_in: dict[str, int] = {}
    for e in c.main:
        k = pass_of.get(e.name)
        if k is None:
            ins = [produced_in[x.tensor] for x in accesses(e.rhs) if x.tensor in produced_in]
            k = max(ins) if ins else n
        by_pass.setdefault(int(k), []).append(e)
        produced_in.setdefault(e.output, int(k))

    def reads(es: list[Einsum]) -> set[str]:
        return {x.tensor for e in es for x in accesses(e.rhs)}

    def earlier(tensors: set[str], k: int) -> set[str]:
        return {t for t in tensors if produced_in.get(t, k) < k}

    # M-ranked tensors of earlier passes are recomputed: an exponent read later needs its max again
    plans = []
    for k in range(1, n + 1):
        es = by_pass[k]
        rs = {roles.role[e.name] for e in es}
        rd = reads(es)
        recompute_exp = bool(earlier(rd, k) & roles.exps)
        do_exp = "exp" in rs or recompute_exp
        online = bool(rs & {"runmax", "online", "online_div", "rescale"}) or ("rowmax" in rs and not do_exp)
        exp_out = {e.output for e in es if roles.role[e.name] == "exp"} | (earlier(rd, k) & roles.exps)
        exp_in = reads([e for e in c.main if e.output in exp_out])
        max_in = exp_in & roles.maxes
        read_m = do_exp and not online and not exp_out <= roles.nomax
        if read_m and not earlier(max_in, k):
            raise _err(c, es[0], f"pass {k} exponentiates without a complete or running max")
        plans.append((k, es, rs, do_exp, online, read_m, max_in))
    need_m = set().union(*(p[6] for p in plans if p[5]))
    need_l = {x.tensor for k, es, *_ in plans for e in es if roles.role[e.name] == "normalize" for x in accesses(e.rhs)}
    kernels = []
    for k, es, rs, do_exp, online, read_m, _ in plans:
        outs = {e.output for e in es}
        pk = PassKernel(
            index=k,
            einsums=tuple(e.name for e in es),
            online=online,
            read_m=read_m,
            do_exp=do_exp,
            do_sum="rowsum" in rs or ("online" in rs and do_exp),
            do_pv="pv" in rs,
            div_in_loop="normalize" in rs,
            div_out="div_out" in rs,
            norm_each="online_div" in rs,
            write_m=bool(outs & need_m),
            write_l=bool(outs & need_l & roles.sums) and "normalize" not in rs,
            write_o=f["out"] in outs,
        )
        if pk.div_in_loop and not any(kk.write_l for kk in kernels):
            raise _err(c, es[0], f"pass {k} normalizes by a row sum no earlier pass completes")
        if pk.write_o and not pk.do_pv:
            raise _err(c, es[0], f"pass {k} writes the output without a product with {f['V']}")
        kernels.append(pk)
    if not any(kk.write_o for kk in kernels):
        raise _err(c, None, "a cascade whose output is not produced by a PV pass")
    return KernelPlan(
        cascade=c.name,
        kernels=tuple(kernels),
        q=f["Q"],
        k=f["K"],
        v=f["V"],
        out=f["out"],
        causal=causal,
        grouped=grouped,
        scale_const=f["scale_const"],
        scale_names=tuple(f["scale_names"]),
        score_fns=tuple(f["score_fns"]),
        band=band,
        band_ranks=(key_rank, p_var.upper()),
        split_k=f["split_k"],
        source=c,
    )
