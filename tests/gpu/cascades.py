"""Cascade texts the GPU tests lower (besides the library in workloads/cascades/)."""

TWO_PASS = """
cascade twopass "3-pass plus deferred division"
input Q[E, P], K[E, M], V[F, M]
output AV[F, P]
scalar s = 1 / sqrt(E)
einsums:
  QK[m, p] = s * Q[e, p] * K[e, m]
  GM[p] = QK[m, p] :: reduce[m] max
  SN[m, p] = e^(QK[m, p] - GM[p])
  SD[p] = SN[m, p]
  SNV[f, p] = SN[m, p] * V[f, m]
  AV[f, p] = SNV[f, p] / SD[p]
"""

CAUSAL_ONE_PASS = """
cascade causal1 "Cascade 5 with the causal filter"
input Q[E, P], K[E, M], V[F, M]
output AV[F, P]
tensor BQK[M1, M0, P] empty -inf
tensor LM[M1, P] empty -inf
tensor RM[M1, P] empty -inf
rank M = M1 * M0
scalar s = 1 / sqrt(E)
init:
  BK[e, m1, m0] = K[e, m1*M0 + m0]
  BV[f, m1, m0] = V[f, m1*M0 + m0]
  RM[m1 : m1 == 0, p] = -inf
  RD[m1 : m1 == 0, p] = 0
  RNV[f, m1 : m1 == 0, p] = 0
einsums:
  BQK[m1, m0 : m1*M0 + m0 <= p + (M - P), p] = s * Q[e, p] * BK[e, m1, m0]
  LM[m1, p] = BQK[m1, m0, p] :: reduce[m0] max
  RM[m1+1, p] = max(RM[m1, p], LM[m1, p])
  SLN[m1, m0, p] = e^(BQK[m1, m0, p] - RM[m1+1, p])
  SLD[m1, p] = SLN[m1, m0, p]
  SLNV[f, m1, p] = SLN[m1, m0, p] * BV[f, m1, m0]
  PRM[m1, p] = e^(RM[m1, p] - RM[m1+1, p])
  SPD[m1, p] = RD[m1, p] * PRM[m1, p]
  RD[m1+1, p] = SLD[m1, p] + SPD[m1, p]
  SPNV[f, m1, p] = RNV[f, m1, p] * PRM[m1, p]
  RNV[f, m1+1, p] = SLNV[f, m1, p] + SPNV[f, m1, p]
  AV[f, p] = RNV[f, M1, p] / RD[M1, p]
stop m1 >= M1
"""


def three_pass(
    filter_text: str = "",
    q="Q[e, p]",
    k="K[e, m]",
    v="V[f, m]",
    decl="input Q[E, P], K[E, M], V[F, M]",
    out="AV[f, p]",
    out_decl="output AV[F, P]",
    score_map: str = "",
    name="threepass",
) -> str:
    """Cascade 4 with an optional filter on QK, other index lists (GQA) and a map of the score."""
    src = "QK"
    lines = [f"  QK[m{filter_text}, {out.split('[')[1].split(']')[0].replace('f, ', '')}] = s * {q} * {k}"]
    pre = out.split("[")[1].split("]")[0].replace("f, ", "")
    if score_map:
        lines.append(f"  QS[m, {pre}] = {score_map.format(x=f'QK[m, {pre}]')}")
        src = "QS"
    body = "\n".join(
        lines
        + [
            f"  GM[{pre}] = {src}[m, {pre}] :: reduce[m] max",
            f"  SN[m, {pre}] = e^({src}[m, {pre}] - GM[{pre}])",
            f"  SD[{pre}] = SN[m, {pre}]",
            f"  A[m, {pre}] = SN[m, {pre}] / SD[{pre}]",
            f"  {out} = A[m, {pre}] * {v}",
        ]
    )
    return f"""
cascade {name}
{decl}
{out_decl}
tensor QK[M, {pre.upper()}] empty -inf
scalar s = 1 / sqrt(E)
einsums:
{body}
"""


CAUSAL_THREE_PASS = three_pass(" : m <= p + (M - P)", name="causal3")
GQA_THREE_PASS = three_pass(
    q="Q[g, r, e, p]",
    k="K[g, e, m]",
    v="V[g, f, m]",
    decl="input Q[G, R, E, P], K[G, E, M], V[G, F, M]",
    out="AV[g, r, f, p]",
    out_decl="output AV[G, R, F, P]",
    name="gqa3",
)
RELU_THREE_PASS = three_pass(score_map="relu({x})", name="relu3")
WINDOW_THREE_PASS = three_pass(" : m <= p and p <= m + 4", name="window3")
