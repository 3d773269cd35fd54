"""Pictures of the computational graph behind a tensor.

``draw_graph(y, "graph.png")`` draws, with matplotlib alone (no Graphviz binary needed), one box
per tensor (its name when you give one, its shape and dtype) and one oval per operation, with
arrows along the data flow: inputs at the top, the result at the bottom (or left to right). ``to_dot(y)`` returns the
same graph as Graphviz text for those who have Graphviz (``dot -Tpng graph.dot -o graph.png``).

Examples
--------
>>> import giagrad
>>> from giagrad.viz import draw_graph, to_dot
>>> x = giagrad.randn(3, 2, requires_grad=True)
>>> w = giagrad.randn(2, 1, requires_grad=True)
>>> loss = (x @ w).relu().mean()
>>> draw_graph(loss, "graph.png", names={x: "x", w: "w", loss: "loss"})   # doctest: +SKIP
>>> print(to_dot(loss, names={x: "x", w: "w", loss: "loss"}))              # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from giagrad.autograd import Function, TensorBase, _topological_order
from giagrad.tensor import Tensor

__all__ = ["draw_graph", "to_dot"]

# Drawing more boxes than this gives an unreadable picture; the graph of a whole network is
# better inspected by printing its modules.
MAX_NODES = 400


@dataclass
class _Node:
    key: str  # stable identifier, also used as the Graphviz node name
    label: str
    kind: str  # "leaf" (a tensor made by the user), "tensor" (an op's result) or "op"
    layer: int = 0
    row: float = 0.0
    inputs: list[str] = field(default_factory=list)


def _tensor_label(tensor: Tensor, names: Mapping[Tensor, str]) -> str:
    shape = str(tuple(tensor.shape))
    # `names.get(tensor)` would hash fine, but a Tensor's `==` is elementwise: look up by identity.
    name = next((label for key, label in names.items() if key is tensor), None)
    text = f"{shape} {tensor.dtype}"
    return f"{name}\n{text}" if name else text


def _build(root: Tensor, names: Mapping[Tensor, str]) -> dict[str, _Node]:
    """The nodes of the graph in data-flow order, each knowing its layer (distance from inputs)."""
    if not isinstance(root, Tensor):
        raise TypeError(f"viz: expected a Tensor, got {type(root).__name__}")
    nodes: dict[str, _Node] = {}

    keys: dict[int, str] = {}  # id of a tensor or Function -> a short readable key

    def key_of(obj: Any, prefix: str) -> str:
        if id(obj) not in keys:
            keys[id(obj)] = f"{prefix}{len(keys)}"
        return keys[id(obj)]

    def tensor_node(tensor: TensorBase) -> _Node:
        tensor = cast(Tensor, tensor)  # every tensor of a graph is a giagrad.Tensor
        key = key_of(tensor, "t")
        if key not in nodes:
            kind = "leaf" if tensor._ctx is None else "tensor"
            nodes[key] = _Node(key, _tensor_label(tensor, names), kind)
        return nodes[key]

    order = [root] if root._ctx is None else _topological_order(root)
    if 2 * len(order) > MAX_NODES:
        raise ValueError(f"viz: the graph has {len(order)} operations; drawing is limited to {MAX_NODES // 2}")
    for tensor in order:  # every tensor comes after those it was computed from
        out = tensor_node(tensor)
        fn: Function | None = tensor._ctx
        if fn is None:
            continue
        op = _Node(key_of(fn, "op"), type(fn).__name__, "op")
        for parent in fn.parents:
            source = tensor_node(parent)
            op.inputs.append(source.key)
            op.layer = max(op.layer, source.layer + 1)
        nodes[op.key] = op
        out.inputs.append(op.key)
        out.layer = op.layer + 1
    # A leaf sits one column before its first use, so a constant does not trail far behind.
    first_use: dict[str, int] = {}
    for node in nodes.values():
        for key in node.inputs:
            first_use[key] = min(first_use.get(key, node.layer), node.layer)
    for key, layer in first_use.items():
        if nodes[key].kind == "leaf":
            nodes[key].layer = layer - 1
    return nodes


def _mean_input_row(node: _Node, nodes: dict[str, _Node], layer: int) -> float:
    rows = [nodes[key].row for key in node.inputs if nodes[key].layer < layer]
    return sum(rows) / len(rows) if rows else 0.0


def to_dot(tensor: Tensor, names: Mapping[Tensor, str] | None = None) -> str:
    """The graph behind ``tensor`` as Graphviz ``dot`` text.

    Parameters
    ----------
    tensor : Tensor
        Usually a loss; its recorded graph (the ``_ctx`` nodes) is walked back to the leaves.
    names : mapping of Tensor to str, optional
        Labels for some tensors (``{x: "x", loss: "loss"}``).

    Returns
    -------
    str
        A ``digraph`` with a box per tensor (shape and dtype), an oval per op and edges along
        the data flow. Render it with ``dot -Tpng graph.dot -o graph.png``.
    """
    nodes = _build(tensor, names or {})
    lines = ["digraph giagrad {", "  rankdir=LR;", '  node [fontname="Helvetica", fontsize=11];']
    styles = {
        "leaf": 'shape=box, style="rounded,filled", fillcolor="#cfe3f7"',
        "tensor": 'shape=box, style="rounded,filled", fillcolor="#eeeeee"',
        "op": 'shape=ellipse, style=filled, fillcolor="#fde3b5"',
    }
    for node in nodes.values():
        label = node.label.replace('"', r"\"").replace("\n", r"\n")
        lines.append(f'  {node.key} [label="{label}", {styles[node.kind]}];')
    for node in nodes.values():
        for key in node.inputs:
            lines.append(f"  {key} -> {node.key};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def draw_graph(tensor: Tensor, path: str | os.PathLike[str] | None = None,
               names: Mapping[Tensor, str] | None = None, title: str | None = None,
               direction: str = "TB") -> Any:
    """Draw the graph behind ``tensor`` with matplotlib; save it when ``path`` is given.

    Parameters
    ----------
    tensor : Tensor
        The result whose history to draw (up to ``MAX_NODES / 2`` operations).
    path : str or PathLike, optional
        Where to write the picture; the suffix picks the format (``.png``, ``.svg``, ``.pdf``).
    names : mapping of Tensor to str, optional
        Labels for some tensors (``{x: "x", loss: "loss"}``); others show shape and dtype only.
    title : str, optional
        A title above the graph.
    direction : {"TB", "LR"}
        Data flowing from top to bottom (the default: long chains stay readable at page width)
        or from left to right.

    Returns
    -------
    matplotlib.figure.Figure
        The figure (closed after saving when ``path`` is given, so it holds no window open).
    """
    import matplotlib
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    if direction not in ("TB", "LR"):
        raise ValueError(f"draw_graph: direction must be 'TB' or 'LR', got {direction!r}")
    nodes = _build(tensor, names or {})
    columns: dict[int, list[_Node]] = {}
    for node in nodes.values():
        columns.setdefault(node.layer, []).append(node)
    # Order each column by the mean row of its inputs (one barycentre pass), which removes most
    # crossings in the small graphs this draws, then centre the column vertically.
    for layer in sorted(columns):
        column = columns[layer]
        if layer > 0:
            column.sort(key=lambda node, layer=layer: _mean_input_row(node, nodes, layer))  # type: ignore[misc]
        for index, node in enumerate(column):
            node.row = index - (len(column) - 1) / 2

    box_w, box_h = 2.0, 0.78
    colours = {"leaf": "#cfe3f7", "tensor": "#eeeeee", "op": "#fde3b5"}
    layers = max(columns) + 1
    widest = max(len(c) for c in columns.values())
    if direction == "LR":  # layers from left to right, rows stacked vertically
        layer_step, row_step = 2.5, 1.25
        centre = {node.key: (node.layer * layer_step, -node.row * row_step) for node in nodes.values()}
        size = (max(4.0, layer_step * layers), max(2.0, row_step * widest + 0.6))
    else:  # "TB": layers from top to bottom, rows side by side
        layer_step, row_step = 1.05, 2.35
        centre = {node.key: (node.row * row_step, -node.layer * layer_step) for node in nodes.values()}
        size = (max(4.0, row_step * widest + 0.4), max(2.0, layer_step * layers + 0.6))
    figure = new_figure(size, for_file=path is not None)
    ax = figure.subplots()
    heights = {node.key: box_h * (0.7 if node.kind == "op" else 1.0) for node in nodes.values()}
    for node in nodes.values():
        x, y = centre[node.key]
        style = "round,pad=0.02,rounding_size=0.26" if node.kind == "op" else "round,pad=0.02,rounding_size=0.08"
        h = heights[node.key]
        ax.add_patch(FancyBboxPatch((x - box_w / 2, y - h / 2), box_w, h, boxstyle=style,
                                    facecolor=colours[node.kind], edgecolor="#555555", linewidth=1.0))
        weight = "bold" if node.kind == "op" else "normal"
        ax.text(x, y, node.label, ha="center", va="center", fontsize=10, fontweight=weight)
    for node in nodes.values():
        for index, key in enumerate(node.inputs):
            (x0, y0), (x1, y1) = centre[key], centre[node.key]
            if direction == "LR":  # from the right side of the source to the left side of the target
                start, end = (x0 + box_w / 2, y0), (x1 - box_w / 2, y1)
            else:  # from the bottom of the source to the top of the target
                start, end = (x0, y0 - heights[key] / 2), (x1, y1 + heights[node.key] / 2)
            # An input used twice (x * x) gets two arrows, bent apart so that both show.
            repeats = node.inputs.count(key)
            bend = 0.0 if repeats == 1 else (0.3 if node.inputs.index(key) == index else -0.3)
            ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=12, color="#444444",
                                         linewidth=1.0, shrinkA=2, shrinkB=2, connectionstyle=f"arc3,rad={bend}"))
    xs = [c[0] for c in centre.values()]
    ys = [c[1] for c in centre.values()]
    ax.set_xlim(min(xs) - box_w / 2 - 0.2, max(xs) + box_w / 2 + 0.2)
    ax.set_ylim(min(ys) - box_h, max(ys) + box_h)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title)
    figure.tight_layout()
    if path is not None:
        # SVG keeps its labels as text (searchable, selectable) rather than as glyph outlines
        with matplotlib.rc_context({"svg.fonttype": "none"}):
            figure.savefig(os.fspath(path), dpi=110)
    return figure


def new_figure(figsize: tuple[float, float], for_file: bool) -> Any:
    """A matplotlib figure to draw on, without touching the user's backend.

    For a file it is a plain ``Figure`` on the Agg canvas, unknown to pyplot: nothing to close,
    no window, and ``matplotlib.use`` never called (a notebook or GUI session keeps its backend).
    Otherwise it is a pyplot figure, so that ``plt.show()`` shows it.

    Examples
    --------
    >>> figure = new_figure((6.4, 4.8), for_file=True)
    >>> ax = figure.subplots()
    """
    if for_file:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        figure = Figure(figsize=figsize)
        FigureCanvasAgg(figure)
        return figure
    import matplotlib.pyplot as plt

    return plt.figure(figsize=figsize)
