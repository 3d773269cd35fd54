"""nn.Flatten and nn.Unflatten: shapes, gradients, errors and repr."""

import numpy as np
import pytest

import giagrad
from giagrad import nn


@pytest.mark.parametrize("start, end, shape, expected", [
    (1, -1, (2, 3, 4, 5), (2, 60)),
    (0, -1, (2, 3, 4), (24,)),
    (1, 2, (2, 3, 4, 5), (2, 12, 5)),
    (-2, -1, (2, 3, 4), (2, 12)),
    (2, 2, (2, 3, 4), (2, 3, 4)),
    (0, 0, (5,), (5,)),
])
def test_flatten_shapes(start, end, shape, expected):
    x = giagrad.randn(*shape)
    out = nn.Flatten(start, end)(x)
    assert out.shape == expected
    np.testing.assert_array_equal(out.data.reshape(-1), x.data.reshape(-1))


def test_flatten_defaults_keep_the_batch_dimension():
    assert nn.Flatten()(giagrad.zeros(64, 1, 28, 28)).shape == (64, 784)
    assert repr(nn.Flatten()) == "Flatten(start_dim=1, end_dim=-1)"


def test_flatten_errors():
    with pytest.raises(IndexError, match="(?i)flatten"):
        nn.Flatten(3)(giagrad.zeros(2, 3))
    with pytest.raises(ValueError, match="start_dim"):
        nn.Flatten(2, 1)(giagrad.zeros(2, 3, 4))


def test_flatten_and_unflatten_gradcheck():
    x = giagrad.randn(2, 3, 4, dtype=np.float64, requires_grad=True)
    assert giagrad.gradcheck(lambda x: nn.Flatten()(x) * giagrad.arange(12.0, dtype=np.float64), [x])
    y = giagrad.randn(2, 6, dtype=np.float64, requires_grad=True)
    assert giagrad.gradcheck(lambda y: nn.Unflatten(1, (2, 3))(y).sum(dim=2), [y])


@pytest.mark.parametrize("dim, sizes, shape, expected", [
    (1, (1, 28, 28), (64, 784), (64, 1, 28, 28)),
    (-1, (2, -1), (3, 8), (3, 2, 4)),
    (0, (2, 3), (6, 5), (2, 3, 5)),
    (1, [4], (2, 4), (2, 4)),
])
def test_unflatten_shapes(dim, sizes, shape, expected):
    assert nn.Unflatten(dim, sizes)(giagrad.zeros(*shape)).shape == expected


def test_unflatten_errors_and_repr():
    with pytest.raises(ValueError, match="Unflatten"):
        nn.Unflatten(1, (2, 5))(giagrad.zeros(3, 9))
    with pytest.raises(ValueError, match="Unflatten"):
        nn.Unflatten(1, (2, -1))(giagrad.zeros(3, 9))
    with pytest.raises(ValueError, match="one -1"):
        nn.Unflatten(1, (-1, -1))
    with pytest.raises(TypeError, match="tuple of ints"):
        nn.Unflatten(1, 5)
    assert repr(nn.Unflatten(1, (2, 5))) == "Unflatten(dim=1, unflattened_size=(2, 5))"


def test_flatten_then_unflatten_round_trip_inside_sequential():
    model = nn.Sequential(nn.Flatten(), nn.Unflatten(1, (3, 4)))
    x = giagrad.randn(2, 3, 4)
    np.testing.assert_array_equal(model(x).data, x.data)
