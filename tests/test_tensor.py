"""The Tensor's conveniences: conversions, shape queries, dtype casts, graph utilities, repr."""

import numpy as np
import pytest

import giagrad
from giagrad import Tensor


def test_shape_queries():
    x = giagrad.zeros(2, 3, 4)
    assert x.shape == (2, 3, 4) and x.size() == (2, 3, 4) and x.size(1) == 3 and x.size(-1) == 4
    assert x.ndim == 3 and x.dim() == 3 and x.numel() == 24 and len(x) == 2
    assert x.dtype == np.float32
    with pytest.raises(IndexError, match="size: dim 3"):
        x.size(3)
    with pytest.raises(TypeError, match="len"):
        len(giagrad.tensor(1.0))


def test_item_numpy_tolist_and_python_conversions():
    x = giagrad.tensor([[1.5, 2.0]])
    assert x.numpy() is x.data and x.tolist() == [[1.5, 2.0]]
    assert giagrad.tensor([3.5]).item() == 3.5 and isinstance(giagrad.tensor([3.5]).item(), float)
    assert giagrad.tensor(7).item() == 7 and isinstance(giagrad.tensor(7).item(), int)
    assert float(giagrad.tensor(2.5)) == 2.5 and int(giagrad.tensor(3)) == 3
    assert [10, 20, 30][giagrad.tensor(1)] == 20  # __index__
    assert np.asarray(x).dtype == np.float32 and np.asarray(x, dtype=np.float64).dtype == np.float64
    with pytest.raises(ValueError, match=r"item: .*\(1, 2\)"):
        x.item()
    with pytest.raises(TypeError, match="index"):
        [1, 2][giagrad.tensor(1.0)]


def test_bool_of_one_element_and_ambiguity_of_more():
    assert bool(giagrad.tensor([1.0])) and not bool(giagrad.tensor(0.0))
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(giagrad.ones(2))


def test_iteration_walks_the_first_dim():
    x = giagrad.arange(6).reshape(3, 2)
    assert [row.tolist() for row in x] == [[0, 1], [2, 3], [4, 5]]
    with pytest.raises(TypeError, match="0-d"):
        iter(giagrad.tensor(1.0))


@pytest.mark.parametrize("convert, dtype", [
    (lambda t: t.double(), np.float64),
    (lambda t: t.astype("float64"), np.float64),
    (lambda t: t.to(np.float16), np.float16),
    (lambda t: t.double().float(), np.float32),
])
def test_floating_casts_are_differentiable_and_gradients_come_back_in_the_input_dtype(convert, dtype):
    x = giagrad.tensor([1.0, -2.0], requires_grad=True)
    y = convert(x)
    assert y.dtype == dtype and y.requires_grad
    (y * 3).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad, [3, 3])


def test_cast_to_the_same_dtype_is_a_no_op_and_integer_casts_leave_the_graph():
    x = giagrad.tensor([1.7, -2.2], requires_grad=True)
    assert x.float() is x
    as_int = x.long()
    assert as_int.dtype == np.int64 and not as_int.requires_grad
    np.testing.assert_array_equal(as_int.data, [1, -2])


def test_detach_requires_grad_and_leaf_status():
    x = giagrad.ones(2)
    assert not x.requires_grad and x.is_leaf and x.grad_fn is None
    assert x.requires_grad_() is x and x.requires_grad
    y = x * 2
    assert not y.is_leaf and y.grad_fn is not None
    d = y.detach()
    assert d.is_leaf and not d.requires_grad and np.shares_memory(d.data, y.data)
    with pytest.raises(RuntimeError, match="non-leaf"):
        y.requires_grad_(False)
    assert x.requires_grad_(False) is x and not x.requires_grad


def test_retain_grad_keeps_an_intermediate_gradient():
    x = giagrad.tensor([1.0, 2.0], requires_grad=True)
    h = (x * 3).retain_grad()
    (h * h).sum().backward()
    np.testing.assert_allclose(h.grad, [6, 12])
    with pytest.raises(RuntimeError, match="retain_grad"):
        giagrad.ones(2).retain_grad()


def test_zero_grad_copy_fill_and_zero():
    x = giagrad.ones(3, requires_grad=True)
    (x * 2).sum().backward()
    x.zero_grad()
    assert x.grad is None
    y = giagrad.zeros(3)
    y.copy_(giagrad.tensor([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(y.data, [1, 2, 3])
    y.fill_(4.0)
    np.testing.assert_array_equal(y.data, [4, 4, 4])
    y.zero_()
    np.testing.assert_array_equal(y.data, [0, 0, 0])


@pytest.mark.parametrize("make, text", [
    (lambda: giagrad.tensor([1.0, 2.5]), "tensor([1. , 2.5])"),
    (lambda: giagrad.tensor([1, 2]), "tensor([1, 2])"),
    (lambda: giagrad.tensor([1.0], dtype="float64"), "tensor([1.], dtype=float64)"),
    (lambda: giagrad.tensor([1.0], requires_grad=True), "tensor([1.], requires_grad=True)"),
    (lambda: giagrad.tensor([1.0], requires_grad=True) * 2, "tensor([2.], grad_fn=<MulBackward>)"),
    (lambda: giagrad.tensor([[1.0, 2.0]]).sum(), "tensor(3.)"),
])
def test_repr_is_readable(make, text):
    assert repr(make()) == text


def test_tensors_hash_by_identity_and_compare_elementwise():
    a, b = giagrad.ones(2), giagrad.ones(2)
    assert len({a, b}) == 2
    assert (a == b).tolist() == [True, True]


def test_a_tensor_built_from_a_tensor_shares_nothing_with_the_graph():
    x = giagrad.ones(2, requires_grad=True)
    t = Tensor(x * 2)
    assert not t.requires_grad and t.grad_fn is None
