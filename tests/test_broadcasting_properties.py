"""Generated cases (hypothesis): broadcasting binary ops and reductions over random dims.

Every example checks the values against numpy, the gradients with gradcheck, and that each
gradient has its input's shape. Shapes stay tiny so the whole file runs in seconds.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, mutually_broadcastable_shapes

import giagrad
from giagrad import Tensor

BINARY = {
    "add": (lambda x, y: x + y, np.add),
    "sub": (lambda x, y: x - y, np.subtract),
    "mul": (lambda x, y: x * y, np.multiply),
    "div": (lambda x, y: x / y, np.divide),
    "maximum": (giagrad.maximum, np.maximum),
    "minimum": (giagrad.minimum, np.minimum),
}

SETTINGS = settings(max_examples=25, deadline=None)


def random_leaf(shape, seed, away_from_zero=False, dtype=np.float64):
    values = np.random.default_rng(seed).uniform(-2, 2, shape)
    if away_from_zero:
        values = np.where(values < 0, values - 0.5, values + 0.5)
    return Tensor(values.astype(dtype), requires_grad=True)


@pytest.mark.parametrize("name", list(BINARY))
@SETTINGS
@given(shapes=mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3),
       seed=st.integers(0, 2**32 - 1))
def test_binary_ops_broadcast_values_and_gradients(name, shapes, seed):
    op, reference = BINARY[name]
    (x_shape, y_shape), out_shape = shapes
    x = random_leaf(x_shape, seed)
    y = random_leaf(y_shape, seed + 1, away_from_zero=name == "div")
    out = op(x, y)
    assert out.shape == out_shape
    np.testing.assert_allclose(out.data, reference(x.data, y.data), rtol=1e-12)
    assert giagrad.gradcheck(op, [x, y])
    assert x.grad.shape == x_shape and y.grad.shape == y_shape


@pytest.mark.parametrize("name", ["add", "mul", "maximum"])
@SETTINGS
@given(shapes=mutually_broadcastable_shapes(num_shapes=2, min_dims=1, max_dims=3, max_side=3),
       seed=st.integers(0, 2**32 - 1))
def test_binary_ops_keep_float32(name, shapes, seed):
    op, _ = BINARY[name]
    (x_shape, y_shape), _ = shapes
    x = random_leaf(x_shape, seed, dtype=np.float32)
    y = random_leaf(y_shape, seed + 1, dtype=np.float32)
    out = op(x, y)
    out.backward(np.ones(out.shape))
    assert out.dtype == x.grad.dtype == y.grad.dtype == np.float32


REDUCTIONS = {
    "sum": (lambda t, d, k: t.sum(d, keepdim=k), lambda a, d, k: a.sum(d, keepdims=k)),
    "mean": (lambda t, d, k: t.mean(d, keepdim=k), lambda a, d, k: a.mean(d, keepdims=k)),
    "amax": (lambda t, d, k: t.amax(d, keepdim=k), lambda a, d, k: a.max(d, keepdims=k)),
    "var": (lambda t, d, k: t.var(d, keepdim=k, correction=0), lambda a, d, k: a.var(d, keepdims=k)),
    "logsumexp": (lambda t, d, k: t.logsumexp(d, keepdim=k),
                  lambda a, d, k: np.log(np.exp(a).sum(d, keepdims=k))),
    "prod": (lambda t, d, k: t.prod(d, keepdim=k), lambda a, d, k: a.prod(d, keepdims=k)),
    "norm": (lambda t, d, k: t.norm(dim=d, keepdim=k), lambda a, d, k: np.sqrt((a * a).sum(d, keepdims=k))),
}


@st.composite
def shape_and_dims(draw):
    shape = draw(array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=3))
    dims = draw(st.lists(st.integers(-len(shape), len(shape) - 1), unique_by=lambda d: d % len(shape),
                         min_size=1, max_size=len(shape)))
    return shape, tuple(dims)


@pytest.mark.parametrize("name", list(REDUCTIONS))
@SETTINGS
@given(case=shape_and_dims(), keepdim=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_reductions_over_random_dims(name, case, keepdim, seed):
    op, reference = REDUCTIONS[name]
    shape, dims = case
    x = random_leaf(shape, seed)
    axes = tuple(d % len(shape) for d in dims)
    np.testing.assert_allclose(op(x, dims, keepdim).data, reference(x.data, axes, keepdim), rtol=1e-10)
    assert giagrad.gradcheck(lambda t: op(t, dims, keepdim), [x])
