"""The pipeline as a picture, drawn from a deployed state machine definition (networkx + matplotlib).

The graph is the definition's: one node per state, an edge per ``Next``/``Default``/``Choices`` (the
normal path) and per ``Catch`` (the failure path, dashed, labelled with the errors it catches). The
normal path from ``StartAt`` is laid out on the top row, states reached only through a Catch on the
row below, so what the picture shows is what Step Functions runs, not a drawing kept by hand.
"""

from __future__ import annotations

import networkx as nx
from matplotlib.figure import Figure

NORMAL, CATCH = "next", "catch"
COLOURS = {"Task": "#dbe9f6", "Succeed": "#d5f0d5", "Fail": "#f8d7d7", "Choice": "#fff1c9"}


def graph_of(definition: dict) -> nx.DiGraph:
    """The state machine as a directed graph; edges carry ``kind`` (next | catch) and a ``label``."""
    g = nx.DiGraph()
    for name, state in definition["States"].items():
        g.add_node(name, type=state["Type"], resource=_resource(state.get("Resource", "")),
                   retries=sum(r.get("MaxAttempts", 3) for r in state.get("Retry", [])))
    for name, state in definition["States"].items():
        for nxt in [state.get("Next"), state.get("Default")] + [c.get("Next") for c in state.get("Choices", [])]:
            if nxt:
                g.add_edge(name, nxt, kind=NORMAL, label="")
        for catch in state.get("Catch", []):
            if not g.has_edge(name, catch["Next"]):
                errors = catch.get("ErrorEquals", [])
                g.add_edge(name, catch["Next"], kind=CATCH, label="any error" if errors == ["States.ALL"] else ", ".join(errors))
    return g


def _resource(arn: str) -> str:
    if ":function:" in arn:
        return "λ " + arn.rsplit(":function:", 1)[1]
    if arn.startswith("arn:aws:states:::"):
        return arn.split(":::", 1)[1]
    return arn


def layout(g: nx.DiGraph, start: str) -> dict[str, tuple[float, float]]:
    """Normal path from ``start`` on row 0; states reached only through Catch on row -1, in path order."""
    normal = nx.DiGraph([(u, v) for u, v, k in g.edges(data="kind") if k == NORMAL])
    normal.add_node(start)
    main = list(nx.bfs_tree(normal, start))
    pos = {name: (float(i), 0.0) for i, name in enumerate(main)}
    rest = [n for n in g.nodes if n not in pos]
    entries = sorted({v for u, v, k in g.edges(data="kind") if k == CATCH and v in rest},
                     key=lambda v: min(pos.get(u, (99.0, 0.0))[0] for u, _ in g.in_edges(v)))
    failure_path = nx.DiGraph()
    failure_path.add_nodes_from(rest)
    failure_path.add_edges_from((u, v) for u, v in normal.edges if u in rest and v in rest)
    row: list[str] = []
    for entry in entries + rest:
        row += [n for n in nx.bfs_tree(failure_path, entry) if n not in row]
    for i, name in enumerate(row):
        pos[name] = (1.0 + i * 1.2, -1.0)
    return pos


def draw(definition: dict, title: str = "pipeline (deployed state machine definition)") -> Figure:
    g = graph_of(definition)
    pos = layout(g, definition["StartAt"])
    width = max(x for x, _ in pos.values()) + 1.5
    fig = Figure(figsize=(max(10.0, width * 2.1), 4.6))
    ax = fig.add_subplot()
    normal = [(u, v) for u, v, k in g.edges(data="kind") if k == NORMAL]
    catch = [(u, v) for u, v, k in g.edges(data="kind") if k == CATCH]
    nx.draw_networkx_edges(g, pos, edgelist=normal, ax=ax, arrows=True, arrowstyle="-|>", arrowsize=16,
                           node_size=5200, node_shape="s", width=1.6, edge_color="#34495e")
    nx.draw_networkx_edges(g, pos, edgelist=catch, ax=ax, arrows=True, arrowstyle="-|>", arrowsize=12,
                           node_size=5200, node_shape="s", width=1.0, edge_color="#c0392b", style="dashed",
                           connectionstyle="arc3,rad=0.08")
    for name, (x, y) in pos.items():
        data = g.nodes[name]
        detail = data["resource"] or data["type"]
        if data["retries"]:
            detail += f"\nretry ≤{data['retries']}"
        ax.text(x, y, f"{name}\n{detail}", ha="center", va="center", fontsize=7.5,
                bbox={"boxstyle": "round,pad=0.45", "fc": COLOURS.get(data["type"], "#eeeeee"), "ec": "#566573"})
    ax.text(0.0, -1.0, "failure path\n(Catch: any error)", ha="center", va="center", fontsize=8, color="#c0392b")
    ax.set_xlim(-0.7, width - 0.6)
    ax.set_ylim(-1.6, 0.6)
    ax.set_axis_off()
    ax.set_title(title, fontsize=11)
    fig.tight_layout()
    return fig
