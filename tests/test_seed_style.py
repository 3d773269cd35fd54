"""The seed's contract for writing an operation runs beside the current one.

The original giagrad's "Autograd" page documents ``giagrad.mlops.ReLU`` as below: an instance is
applied with ``Tensor.comm(ReLU(), t)``, ``forward`` receives the input tensors, and ``backward``
adds into its parents' ``.grad`` and returns nothing. The class is copied as the page writes it.
"""

import numpy as np
import pytest
from numpy.typing import NDArray

import giagrad
from giagrad import mlops
from giagrad.tensor import Function, Tensor


class ReLU(Function):
    def __init__(self):
        super().__init__()

    def forward(self, t1) -> NDArray:
        self.save_for_backward(t1)
        return np.maximum(t1.data, 0)

    def backward(self, partial: NDArray):
        p = self.parents[0]
        if p.requires_grad:
            p.grad += partial * (p.data > 0).astype(int)


class Scale(Function):
    """A seed-style op with an option given to its constructor, and two parents."""

    def __init__(self, factor):
        super().__init__()
        self.factor = factor

    def forward(self, t1, t2) -> NDArray:
        self.save_for_backward(t1, t2)
        return self.factor * t1.data * t2.data

    def backward(self, partial: NDArray):
        a, b = self.parents
        if a.requires_grad:
            a.grad += partial * self.factor * b.data
        if b.requires_grad:
            b.grad += partial * self.factor * a.data


VALUES = np.array([[-1.5, -0.2, 0.3], [0.7, -2.0, 1.1]])


def test_the_seeds_relu_on_a_leaf():
    x = giagrad.tensor(VALUES, dtype="float32", requires_grad=True)
    y = Tensor.comm(ReLU(), x)
    np.testing.assert_array_equal(y.data, np.maximum(VALUES, 0).astype(np.float32))
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, (VALUES > 0).astype(np.float32))
    assert x.grad.dtype == np.float32


def test_the_seeds_relu_on_a_non_leaf_passes_the_gradient_on():
    x = giagrad.tensor(VALUES, dtype="float64", requires_grad=True)
    h = x * 3.0
    (Tensor.comm(ReLU(), h) * 2.0).sum().backward()
    np.testing.assert_allclose(x.grad, 6.0 * (VALUES > 0))
    assert h.grad is None  # a non-leaf keeps no gradient unless it retains it


@pytest.mark.parametrize("style", ["seed", "current"])
def test_gradcheck_covers_both_styles(style):
    def relu(t):
        return Tensor.comm(ReLU(), t) if style == "seed" else Tensor.comm(mlops.ReLU, t)

    x = giagrad.tensor(VALUES, dtype="float64", requires_grad=True)
    assert giagrad.gradcheck(lambda t: relu(t * 1.5 + 0.1).exp(), [x])
    a = giagrad.tensor(VALUES, dtype="float64", requires_grad=True)
    b = giagrad.tensor(VALUES[::-1].copy(), dtype="float64", requires_grad=True)
    assert giagrad.gradcheck(lambda s, t: Tensor.comm(Scale(0.5), relu(s), t.tanh()), [a, b])


def test_a_graph_mixing_both_styles_matches_the_current_style_alone():
    def build(style_of_first, style_of_second):
        giagrad.manual_seed(0)
        w = giagrad.randn(3, 3, dtype="float64", requires_grad=True)
        x = giagrad.tensor(VALUES, dtype="float64", requires_grad=True)
        first = Tensor.comm(ReLU(), x @ w) if style_of_first == "seed" else (x @ w).relu()
        second = Tensor.comm(ReLU(), first - 0.5) if style_of_second == "seed" else (first - 0.5).relu()
        (second * first + x).sum().backward()
        return x.grad, w.grad

    expected = build("current", "current")
    for styles in (("seed", "current"), ("current", "seed"), ("seed", "seed")):
        for got, want in zip(build(*styles), expected):
            np.testing.assert_allclose(got, want)


def test_a_parent_used_twice_by_a_seed_style_node():
    x = giagrad.tensor([1.0, -2.0, 3.0], dtype="float64", requires_grad=True)
    Tensor.comm(Scale(2.0), x, x).sum().backward()
    np.testing.assert_allclose(x.grad, 4.0 * x.data)
    h = x + 1.0
    x.grad = None
    Tensor.comm(Scale(1.0), h, h).sum().backward()
    np.testing.assert_allclose(x.grad, 2.0 * (x.data + 1.0))


def test_the_class_with_keywords_and_an_instance_with_constructor_options():
    x = giagrad.tensor([[1.0, 2.0], [3.0, 5.0]], requires_grad=True)
    by_class = Tensor.comm(mlops.Softmax, x, axis=1)
    by_instance = Tensor.comm(Scale(3.0), x, x)
    np.testing.assert_allclose(by_class.data.sum(axis=1), [1.0, 1.0], rtol=1e-6)
    np.testing.assert_allclose(by_instance.data, 3.0 * x.data ** 2)


def test_an_instance_applied_twice_makes_two_nodes():
    relu = ReLU()
    x = giagrad.tensor([1.0, -1.0], requires_grad=True)
    y = giagrad.tensor([-3.0, 2.0], requires_grad=True)
    a, b = Tensor.comm(relu, x), Tensor.comm(relu, y)
    assert a.grad_fn is not b.grad_fn
    (a + b).sum().backward()
    np.testing.assert_array_equal(x.grad, [1.0, 0.0])
    np.testing.assert_array_equal(y.grad, [0.0, 1.0])


def test_retain_graph_and_accumulation_across_backwards():
    x = giagrad.tensor([2.0, -1.0], requires_grad=True)
    h = x * 2.0
    h.retain_grad()
    y = Tensor.comm(ReLU(), h).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_array_equal(x.grad, [4.0, 0.0])
    np.testing.assert_array_equal(h.grad, [2.0, 0.0])
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_no_grad_records_nothing():
    x = giagrad.tensor([2.0, -1.0], requires_grad=True)
    with giagrad.no_grad():
        y = Tensor.comm(ReLU(), x)
    assert y.grad_fn is None and not y.requires_grad
    np.testing.assert_array_equal(y.data, [2.0, 0.0])


def test_an_input_that_needs_no_grad_is_left_alone():
    x = giagrad.tensor([2.0, -1.0])
    w = giagrad.tensor([1.0, 3.0], requires_grad=True)
    Tensor.comm(Scale(1.0), x, w).sum().backward()
    assert x.grad is None
    np.testing.assert_array_equal(w.grad, [2.0, -1.0])


def test_the_historical_names_import():
    from giagrad.mlops import ReLU as LibraryReLU
    from giagrad.tensor import Function as TensorFunction

    assert issubclass(LibraryReLU, TensorFunction) and TensorFunction is giagrad.Function
    assert callable(Tensor.comm)
