"""The dependency graph of a cascade.

Input: a `Cascade`. Output: a networkx DiGraph whose nodes are Einsum names (attribute kind="einsum")
and input tensors (kind="input"); an edge producer -> consumer carries `tensor` (the tensor read) and
`carried` (True when the consumer reads the previous generation of an iterative tensor, i.e. the edge
closes a recurrence through an iterative rank). Removing carried edges leaves a DAG in a valid cascade.
"""

from __future__ import annotations

import networkx as nx

from einsim.ir import Cascade, IBin, IVar, accesses


def read_generation(cascade: Cascade, tensor: str, index_expr) -> str:
    """How a read of an iterative tensor at `index_expr` (its iterative position) is resolved.

    Returns "previous" (plain variable: the generation before the one being written), "same"
    (variable + constant: the generation written in this iteration) or "final" (no variable).
    """
    if isinstance(index_expr, IVar):
        return "previous"
    if isinstance(index_expr, IBin):
        return "same"
    return "final"


def build_graph(cascade: Cascade) -> nx.DiGraph:
    g = nx.DiGraph()
    for t in cascade.inputs:
        g.add_node(t.name, kind="input")
    writers: dict[tuple[str, str], str] = {}
    for e in cascade.einsums:
        g.add_node(e.name, kind="einsum", section=e.section)
        writers[(e.output, e.section)] = e.name
    iterative = cascade.iterative_tensors
    for e in cascade.einsums:
        for acc in accesses(e.rhs):
            t = acc.tensor
            if g.has_node(t) and g.nodes[t].get("kind") == "input":
                g.add_edge(t, e.name, tensor=t, carried=False)
                continue
            init_w, main_w = writers.get((t, "init")), writers.get((t, "main"))
            if t in iterative and e.section == "main":
                pos = iterative[t]
                gen = read_generation(cascade, t, acc.indices[pos].expr) if pos < len(acc.indices) else "final"
                if gen == "previous":
                    if init_w:
                        g.add_edge(init_w, e.name, tensor=t, carried=False)
                    if main_w and main_w != e.name:
                        g.add_edge(main_w, e.name, tensor=t, carried=True)
                    elif main_w == e.name:
                        g.add_edge(main_w, e.name, tensor=t, carried=True)
                    continue
                if main_w:
                    g.add_edge(main_w, e.name, tensor=t, carried=False)
                continue
            src = main_w if (e.section == "main" and main_w) else (init_w or main_w)
            if src is not None:
                g.add_edge(src, e.name, tensor=t, carried=False)
    return g


def acyclic_view(g: nx.DiGraph) -> nx.DiGraph:
    """The graph without carried (previous-generation) edges."""
    h = nx.DiGraph()
    h.add_nodes_from(g.nodes(data=True))
    h.add_edges_from((u, v, d) for u, v, d in g.edges(data=True) if not d.get("carried"))
    return h
