"""The fused machine-learning ops of giagrad.mlops: linear, softmax and log-softmax."""

import numpy as np
import pytest

import giagrad
import giagrad.nn.functional as F
from giagrad import mlops


def leaf(*shape, dtype="float64"):
    return giagrad.randn(*shape, dtype=dtype, requires_grad=True)


@pytest.fixture(autouse=True)
def _seed():
    giagrad.manual_seed(0)


# ------------------------------------------------------------------------------------ linear


@pytest.mark.parametrize("input_shape", [(5, 3), (2, 4, 3), (3,), (2, 1, 2, 3)])
@pytest.mark.parametrize("with_bias", [True, False])
def test_linear_gradcheck(input_shape, with_bias):
    x, w = leaf(*input_shape), leaf(4, 3)
    if with_bias:
        b = leaf(4)
        assert giagrad.gradcheck(F.linear, [x, w, b])
    else:
        assert giagrad.gradcheck(F.linear, [x, w])


def test_linear_matches_numpy():
    x, w, b = leaf(6, 3), leaf(4, 3), leaf(4)
    np.testing.assert_allclose(F.linear(x, w, b).data, x.data @ w.data.T + b.data)
    x3 = leaf(2, 6, 3)
    np.testing.assert_allclose(F.linear(x3, w).data, x3.data @ w.data.T)


def test_linear_non_contiguous_input_and_weight():
    x = leaf(3, 5)  # x.T is a (5, 3) view with swapped strides
    w = leaf(3, 4)
    b = leaf(4)
    assert giagrad.gradcheck(lambda x, w, b: F.linear(x.T, w.T, b), [x, w, b])
    x3 = leaf(3, 2, 4)
    assert giagrad.gradcheck(lambda x, w: F.linear(x.permute(1, 2, 0), w), [x3, leaf(2, 3)])


def test_linear_gradient_only_where_needed():
    x = giagrad.randn(5, 3, dtype="float64")
    w, b = leaf(4, 3), leaf(4)
    F.linear(x, w, b).sum().backward()
    assert x.grad is None
    np.testing.assert_allclose(w.grad, np.ones((5, 4)).T @ x.data)
    np.testing.assert_allclose(b.grad, np.full(4, 5.0))


def test_linear_keeps_float32():
    x, w, b = leaf(5, 3, dtype="float32"), leaf(4, 3, dtype="float32"), leaf(4, dtype="float32")
    out = F.linear(x, w, b)
    assert out.dtype == np.float32
    out.sum().backward()
    assert x.grad.dtype == w.grad.dtype == b.grad.dtype == np.float32


@pytest.mark.parametrize(
    ("input_shape", "weight_shape", "bias_shape", "error", "message"),
    [
        ((5, 3), (4, 2), None, ValueError, r"linear: input of shape \(5, 3\) .* weight of shape \(4, 2\)"),
        ((5, 3), (4, 3, 1), None, ValueError, r"linear: weight must be 2-D"),
        ((), (4, 3), None, ValueError, r"linear: input of shape \(\)"),
        ((5, 3), (4, 3), (3,), ValueError, r"linear: bias must have shape \(4,\)"),
    ],
)
def test_linear_rejects_bad_shapes(input_shape, weight_shape, bias_shape, error, message):
    x, w = giagrad.randn(*input_shape), giagrad.randn(*weight_shape)
    b = None if bias_shape is None else giagrad.randn(*bias_shape)
    with pytest.raises(error, match=message):
        F.linear(x, w, b)


def test_linear_rejects_mixed_dtypes():
    with pytest.raises(TypeError, match="linear: input is float64 but weight is float32"):
        F.linear(giagrad.randn(2, 3, dtype="float64"), giagrad.randn(4, 3))
    with pytest.raises(TypeError, match="linear: input must be a floating point tensor"):
        F.linear(giagrad.tensor([[1, 2, 3]]), giagrad.randn(4, 3))


# ----------------------------------------------------------------------------- softmax


@pytest.mark.parametrize("function", [F.softmax, F.log_softmax])
@pytest.mark.parametrize(("shape", "dim"), [((4,), 0), ((3, 5), 1), ((3, 5), 0), ((2, 3, 4), -2), ((2, 3, 4), 2)])
def test_softmax_family_gradcheck(function, shape, dim):
    assert giagrad.gradcheck(lambda x: function(x, dim=dim), [leaf(*shape)])


@pytest.mark.parametrize("function", [F.softmax, F.log_softmax])
def test_softmax_family_gradcheck_non_contiguous(function):
    assert giagrad.gradcheck(lambda x: function(x.T, dim=1), [leaf(4, 3)])


def reference_log_softmax(x, axis):
    x = np.asarray(x, dtype=np.float64)
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax_family_values(dim):
    x = giagrad.randn(3, 4, dtype="float64") * 3
    expected = reference_log_softmax(x.data, dim)
    np.testing.assert_allclose(F.log_softmax(x, dim).data, expected, rtol=1e-12)
    np.testing.assert_allclose(F.softmax(x, dim).data, np.exp(expected), rtol=1e-12)
    np.testing.assert_allclose(F.softmax(x, dim).data.sum(axis=dim), 1.0)


def test_softmax_family_is_stable_for_huge_logits():
    x = giagrad.tensor([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4]], requires_grad=True)
    log_p = F.log_softmax(x, dim=1)
    np.testing.assert_allclose(log_p.data, [[0.0, -2e4, -1e4], [-np.log(3)] * 3], rtol=1e-6)
    (log_p * giagrad.tensor([[1.0, 2.0, 3.0], [1.0, 0.0, 0.0]])).sum().backward()
    assert np.all(np.isfinite(x.grad))
    p = F.softmax(giagrad.tensor([1e4, 1e4 - 1.0]), dim=0)
    assert np.all(np.isfinite(p.data)) and p.data.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("function", [F.softmax, F.log_softmax])
def test_softmax_family_keeps_float32(function):
    x = leaf(3, 4, dtype="float32")
    out = function(x, dim=1)
    assert out.dtype == np.float32
    (out * giagrad.randn(3, 4)).sum().backward()
    assert x.grad.dtype == np.float32


def test_softmax_of_a_scalar_is_one():
    assert F.softmax(giagrad.tensor(3.0), dim=0).item() == 1.0
    assert F.log_softmax(giagrad.tensor(3.0), dim=-1).item() == 0.0


def test_softmax_functions_take_the_axis_keyword():
    # Tensor.softmax(dim) calls Tensor.comm(mlops.Softmax, self, axis=dim)
    x = giagrad.tensor([[1.0, 2.0], [3.0, 5.0]])
    np.testing.assert_allclose(giagrad.Tensor.comm(mlops.Softmax, x, axis=-1).data, F.softmax(x, dim=1).data)
    np.testing.assert_allclose(giagrad.Tensor.comm(mlops.LogSoftmax, x, axis=0).data, F.log_softmax(x, dim=0).data)


@pytest.mark.parametrize("function", [F.softmax, F.log_softmax])
def test_softmax_family_rejects_bad_dims(function):
    name = function.__name__
    with pytest.raises(IndexError, match=rf"{name}: dim 2 is out of range for a tensor of shape \(3, 4\)"):
        function(giagrad.randn(3, 4), dim=2)
    with pytest.raises(TypeError, match=f"{name}: dim must be an integer"):
        function(giagrad.randn(3, 4), dim=None)
    with pytest.raises(TypeError, match=f"{name}: input must be a floating point tensor"):
        function(giagrad.tensor([1, 2]), dim=0)


def test_backward_through_a_sum_leaves_the_read_only_gradient_alone():
    # Sum hands backward a read-only broadcast view; the ops must not write into it
    x = leaf(3, 4)
    F.softmax(x, dim=1).sum().backward()
    np.testing.assert_allclose(x.grad, 0.0, atol=1e-12)  # each row of softmax sums to 1
    x.grad = None
    F.log_softmax(x, dim=1).sum().backward()
    np.testing.assert_allclose(x.grad, 1 - 4 * F.softmax(x, dim=1).data, rtol=1e-12)


def test_softmax_of_a_0d_tensor_is_one_class():
    x = giagrad.tensor(2.0, requires_grad=True)
    assert x.softmax(0).item() == 1.0 and x.log_softmax(-1).item() == 0.0
    x64 = giagrad.tensor(2.0, dtype="float64", requires_grad=True)
    assert giagrad.gradcheck(lambda t: t.softmax(0), [x64])
    assert giagrad.gradcheck(lambda t: t.log_softmax(0), [x64])
