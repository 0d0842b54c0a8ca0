"""Shared helpers: cascade inputs from (q, k, v) tensors and the float64 oracle."""

from __future__ import annotations

import numpy as np

import einsim


def oracle(cascade, plan, q, k, v, m0: int = 16, sizes: dict | None = None) -> np.ndarray:
    """float64 output of `einsim.execute` on the rounded inputs, laid out like q: [B, H, N_Q, D]."""
    q64, k64, v64 = (x.double().cpu().numpy() for x in (q, k, v))
    B, H, NQ, D = q64.shape
    G = k64.shape[1]
    R = H // G
    out = np.empty((B, H, NQ, D))
    q_ranks = cascade.tensor_ranks[plan.q]
    for b in range(B):
        if plan.grouped:
            qi = q64[b].reshape(G, R, NQ, D).transpose(0, 1, 3, 2)  # [G, R, E, P]
            ki = k64[b].transpose(0, 2, 1)  # [G, E, M]
            vi = v64[b].transpose(0, 2, 1)
            res = einsim.execute(cascade, {plan.q: qi, plan.k: ki, plan.v: vi}, {"M0": m0, **(sizes or {})})[plan.out]
            out[b] = res.transpose(0, 1, 3, 2).reshape(H, NQ, D)
            continue
        assert len(q_ranks) == 2, q_ranks
        for h in range(H):
            g = h // R
            inp = {plan.q: q64[b, h].T, plan.k: k64[b, g].T, plan.v: v64[b, g].T}
            out[b, h] = einsim.execute(cascade, inp, {"M0": m0, **(sizes or {})})[plan.out].T
    return out


def rel_err(out, ref: np.ndarray) -> float:
    o = out.double().cpu().numpy()
    assert not np.isnan(o).any(), "output has NaN (an unwritten element?)"
    return float(np.linalg.norm(o - ref) / np.linalg.norm(ref))
