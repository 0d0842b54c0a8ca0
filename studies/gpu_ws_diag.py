# ruff: noqa: E501, B007, B023  (kept as run on the device; the lambdas are called at once by do_bench)
"""Diagnose triton 3.6's Hopper warp specialization of the 1-pass kernel (NaN outputs on the H200).

    python3 studies/gpu_ws_diag.py --out $OUT
For the warp-specialized tilings: is the NaN written by the kernel or left from the poison (run once
with the output poisoned by NaN, once zero-filled), which rows/columns, and the error of the rest;
and the same for a minimal tutorial-shaped kernel (descriptors for Q/K/V/O, no masks, no guards), to
tell a bug of einsim's kernel from one of the compiler. Writes gpu_ws_diag.json, prints a summary.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("EINSIM_EXPERIMENTAL_WS", "1")  # measure the (wrong) warp-specialized kernel too

import triton  # noqa: E402
import triton.language as tl  # noqa: E402


@triton.jit
def _tutorial_fwd(
    Q, K, V, O, N_CTX, qk_scale, HEAD_DIM: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, WS: tl.constexpr
):
    start_m = tl.program_id(0)
    y0 = tl.program_id(1) * N_CTX
    dq = tl.make_tensor_descriptor(
        Q + y0 * HEAD_DIM, shape=[N_CTX, HEAD_DIM], strides=[HEAD_DIM, 1], block_shape=[BLOCK_M, HEAD_DIM]
    )
    dk = tl.make_tensor_descriptor(
        K + y0 * HEAD_DIM, shape=[N_CTX, HEAD_DIM], strides=[HEAD_DIM, 1], block_shape=[BLOCK_N, HEAD_DIM]
    )
    dv = tl.make_tensor_descriptor(
        V + y0 * HEAD_DIM, shape=[N_CTX, HEAD_DIM], strides=[HEAD_DIM, 1], block_shape=[BLOCK_N, HEAD_DIM]
    )
    do = tl.make_tensor_descriptor(
        O + y0 * HEAD_DIM, shape=[N_CTX, HEAD_DIM], strides=[HEAD_DIM, 1], block_shape=[BLOCK_M, HEAD_DIM]
    )
    m_i = tl.zeros([BLOCK_M], dtype=tl.float32) - float("inf")
    l_i = tl.zeros([BLOCK_M], dtype=tl.float32) + 1.0
    acc = tl.zeros([BLOCK_M, HEAD_DIM], dtype=tl.float32)
    q = dq.load([start_m * BLOCK_M, 0])
    offk = 0
    for start_n in tl.range(0, N_CTX, BLOCK_N, warp_specialize=WS):
        k = dk.load([offk, 0]).T
        qk = tl.dot(q, k)
        m_ij = tl.maximum(m_i, tl.max(qk, 1) * qk_scale)
        qk = qk * qk_scale - m_ij[:, None]
        p = tl.math.exp2(qk)
        alpha = tl.math.exp2(m_i - m_ij)
        l_ij = tl.sum(p, 1)
        acc = acc * alpha[:, None]
        v = dv.load([offk, 0])
        acc = tl.dot(p.to(tl.bfloat16), v, acc)
        l_i = l_i * alpha + l_ij
        m_i = m_ij
        offk += BLOCK_N
    acc = acc / l_i[:, None]
    do.store([start_m * BLOCK_M, 0], acc.to(tl.bfloat16))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.environ.get("OUT", "/tmp"))
    args = ap.parse_args()
    import torch

    import einsim
    from einsim.gpu.lower import lower
    from einsim.gpu.plan import Tiling
    from einsim.gpu.runtime import _set_allocator, prepare

    _set_allocator()
    plan = lower(einsim.parse_file(os.path.join(ROOT, "workloads", "cascades", "cascade5_fa2.ein")))
    B, H, N, D = 4, 16, 4096, 128
    g = torch.Generator(device="cuda").manual_seed(3)
    q, k, v = (torch.randn(B, H, N, D, device="cuda", generator=g).to(torch.bfloat16) for _ in range(3))
    ref = torch.softmax((q[0, :2].double() @ k[0, :2].double().transpose(-1, -2)) * D**-0.5, -1) @ v[0, :2].double()
    res = {"card": torch.cuda.get_device_name(0), "triton": triton.__version__, "torch": torch.__version__}

    def stats(name, out):
        o = out[0, :2].double()
        nan = torch.isnan(o)
        finite = ~nan
        err = ((o[finite] - ref[finite]).norm() / ref[finite].norm()).item() if finite.any() else None
        rows = nan.any(-1)  # [2, N]
        cols = nan.any(-2)
        r = {
            "nan_frac": nan.double().mean().item(),
            "nan_rows_mod128": sorted({int(i) % 128 for i in rows.nonzero()[:, 1].tolist()})[:8],
            "nan_row_count": int(rows.sum()),
            "nan_cols": cols.nonzero()[:, 1].unique().tolist()[:8],
            "nan_col_count": int(cols.any(0).sum()),
            "err_finite": err,
            "zero_frac": (o == 0).double().mean().item(),
        }
        res[name] = r
        print(name, r, flush=True)

    for name, t in [
        ("einsim-ws-bn64-s3", Tiling(128, 64, 4, 3, tma=True, warp_specialize=True)),
        ("einsim-ws-bn128-s2", Tiling(128, 128, 4, 2, tma=True, warp_specialize=True)),
    ]:
        for fill in ("nan", "zero"):
            try:
                run, o = prepare(plan, q, k, v, t)
                o.fill_(float("nan") if fill == "nan" else 0.0)
                run()
                torch.cuda.synchronize()
                stats(f"{name}-{fill}", o)
            except Exception as e:  # noqa: BLE001
                res[f"{name}-{fill}"] = repr(e)[:300]
                print(name, fill, repr(e)[:300], flush=True)
    for ws in (False, True):
        for bn, st in ((64, 3), (128, 2)):
            for fill in ("nan", "zero"):
                name = f"tutorial-ws{int(ws)}-bn{bn}-s{st}-{fill}"
                try:
                    o = torch.full_like(q, float("nan") if fill == "nan" else 0.0)
                    _tutorial_fwd[(N // 128, B * H)](
                        q,
                        k,
                        v,
                        o,
                        N,
                        D**-0.5 * 1.4426950408889634,
                        HEAD_DIM=D,
                        BLOCK_M=128,
                        BLOCK_N=bn,
                        WS=ws,
                        num_warps=4 if ws else 8,
                        num_stages=st,
                    )
                    torch.cuda.synchronize()
                    stats(name, o)
                    if fill == "zero":
                        ms = triton.testing.do_bench(
                            lambda: _tutorial_fwd[(N // 128, B * H)](
                                q,
                                k,
                                v,
                                o,
                                N,
                                D**-0.5 * 1.4426950408889634,
                                HEAD_DIM=D,
                                BLOCK_M=128,
                                BLOCK_N=bn,
                                WS=ws,
                                num_warps=4 if ws else 8,
                                num_stages=st,
                            ),
                            return_mode="median",
                        )
                        res[name]["ms"] = ms
                        res[name]["tflops"] = 4 * B * H * N * N * D / ms / 1e9
                        print(name, f"{ms:.3f} ms {res[name]['tflops']:.0f} TF/s", flush=True)
                except Exception as e:  # noqa: BLE001
                    res[name] = repr(e)[:300]
                    print(name, repr(e)[:300], flush=True)
    with open(os.path.join(args.out, "gpu_ws_diag.json"), "w") as f:
        json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
