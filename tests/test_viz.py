"""Graph pictures: files written in the requested format, dot text naming each op and shape."""

import re

import matplotlib
import pytest

matplotlib.use("Agg")

import giagrad  # noqa: E402
from giagrad.viz import draw_graph, to_dot  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def small_graph():
    giagrad.manual_seed(0)
    x = giagrad.randn(4, 3, requires_grad=True)
    w = giagrad.randn(3, 2, requires_grad=True)
    b = giagrad.zeros(2, requires_grad=True)
    hidden = (x @ w + b).relu()
    loss = (hidden * hidden).mean()
    return loss, {x: "x", w: "w", b: "b", loss: "loss"}


def test_to_dot_names_every_op_and_shape():
    loss, names = small_graph()
    dot = to_dot(loss, names=names)
    assert dot.startswith("digraph")
    for op in ["MatMul", "Add", "ReLU", "Mul", "Mean"]:
        assert f'label="{op}"' in dot
    for shape in ["(4, 3)", "(3, 2)", "(2,)", "(4, 2)", "()"]:
        assert shape in dot
    for name in ["x", "w", "b", "loss"]:
        assert f'label="{name}\\n' in dot
    # 5 ops and 8 tensors (x, w, b, four intermediate results, loss)
    assert len(re.findall(r"\[label=", dot)) == 5 + 8
    # into the ops: MatMul 2, Add 2, ReLU 1, Mul 2 (hidden used twice), Mean 1; out of each op: 1
    assert dot.count("->") == 8 + 5


def test_to_dot_of_a_leaf_is_one_node():
    x = giagrad.ones(2, 2)
    dot = to_dot(x)
    assert dot.count("[label=") == 1 and "->" not in dot


@pytest.mark.parametrize("suffix, magic, direction", [(".png", PNG_MAGIC, "TB"), (".svg", b"<?xml", "TB"),
                                                      (".png", PNG_MAGIC, "LR")])
def test_draw_graph_writes_the_format_of_the_suffix(tmp_path, suffix, magic, direction):
    loss, names = small_graph()
    path = tmp_path / f"graph{suffix}"
    draw_graph(loss, path, names=names, title="a small graph", direction=direction)
    data = path.read_bytes()
    assert data.startswith(magic)
    assert len(data) > 2000


def test_draw_graph_without_path_returns_a_figure():
    loss, _ = small_graph()
    figure = draw_graph(loss)
    assert figure.axes
    import matplotlib.pyplot as plt

    plt.close(figure)


def test_draw_graph_rejects_non_tensors_and_unknown_directions():
    with pytest.raises(TypeError, match="Tensor"):
        to_dot([1.0, 2.0])
    loss, _ = small_graph()
    with pytest.raises(ValueError, match="direction"):
        draw_graph(loss, direction="BT")


def test_svg_holds_the_labels(tmp_path):
    loss, names = small_graph()
    draw_graph(loss, tmp_path / "graph.svg", names=names)
    svg = (tmp_path / "graph.svg").read_text()
    for text in ("MatMul", "ReLU", "(4, 3) float32", "loss"):  # real text, searchable and selectable
        assert text in svg
