"""nn.Linear and nn.Identity: shapes, dtypes, PyTorch's default initialisation, gradients, errors."""

import math

import numpy as np
import pytest

import giagrad
from giagrad import nn


def test_linear_shapes_dtype_and_parameters():
    layer = nn.Linear(5, 3)
    assert layer.weight.shape == (3, 5) and layer.bias.shape == (3,)
    assert layer.weight.dtype == np.float32 and isinstance(layer.weight, nn.Parameter)
    out = layer(giagrad.randn(4, 5))
    assert out.shape == (4, 3) and out.dtype == np.float32
    assert layer(giagrad.randn(2, 6, 5)).shape == (2, 6, 3)
    assert layer(giagrad.randn(5)).shape == (3,)


def test_linear_computes_x_weight_transpose_plus_bias():
    layer = nn.Linear(4, 2)
    x = giagrad.randn(3, 4)
    expected = x.data @ layer.weight.data.T + layer.bias.data
    np.testing.assert_allclose(layer(x).data, expected, rtol=1e-6)


def test_linear_without_bias():
    layer = nn.Linear(4, 2, bias=False)
    assert layer.bias is None and [n for n, _ in layer.named_parameters()] == ["weight"]
    x = giagrad.randn(3, 4)
    np.testing.assert_allclose(layer(x).data, x.data @ layer.weight.data.T, rtol=1e-6)
    assert repr(layer) == "Linear(in_features=4, out_features=2, bias=False)"


def test_linear_repr_is_pytorchs():
    assert repr(nn.Linear(784, 128)) == "Linear(in_features=784, out_features=128, bias=True)"


def test_linear_dtype_argument():
    layer = nn.Linear(2, 2, dtype=np.float64)
    assert layer.weight.dtype == np.float64 and layer.bias.dtype == np.float64
    with pytest.raises(TypeError, match="floating"):
        nn.Linear(2, 2, dtype=np.int64)


def test_linear_default_initialisation_bounds_and_spread():
    giagrad.manual_seed(0)
    fan_in = 400
    layer = nn.Linear(fan_in, 300)
    bound = 1 / math.sqrt(fan_in)
    for values in (layer.weight.data, layer.bias.data):
        assert np.abs(values).max() <= bound
        assert np.abs(values).max() > 0.95 * bound
    # uniform on [-b, b] has std b / sqrt(3)
    assert abs(layer.weight.data.std() - bound / math.sqrt(3)) < 0.02 * bound
    assert abs(layer.weight.data.mean()) < 0.01 * bound


def test_linear_initialisation_is_reproducible_with_manual_seed():
    giagrad.manual_seed(3)
    first = nn.Linear(6, 4)
    giagrad.manual_seed(3)
    second = nn.Linear(6, 4)
    np.testing.assert_array_equal(first.weight.data, second.weight.data)
    np.testing.assert_array_equal(first.bias.data, second.bias.data)


def calling_with(layer, names):
    """``fn(x, *values)`` for gradcheck: runs ``layer`` with its parameters ``names`` set to ``values``."""
    def run(x, *values):
        for name, value in zip(names, values):
            # gradcheck passes the parameter itself, then perturbed plain-tensor copies of it
            setattr(layer, name, value if isinstance(value, nn.Parameter) else nn.Parameter(value))
        return layer(x)
    return run


@pytest.mark.parametrize("shape", [(3, 5), (2, 6, 5), (5,)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_gradcheck_in_double(shape, bias):
    layer = nn.Linear(5, 4, bias=bias).double()
    x = giagrad.randn(*shape, dtype=np.float64, requires_grad=True)
    names = ["weight", "bias"] if bias else ["weight"]
    assert giagrad.gradcheck(calling_with(layer, names), [x, *(getattr(layer, n) for n in names)])


def test_linear_gradcheck_with_non_contiguous_input():
    layer = nn.Linear(3, 2).double()
    x = giagrad.randn(3, 4, dtype=np.float64, requires_grad=True)
    assert giagrad.gradcheck(lambda x: layer(x.T), [x])


def test_linear_float32_gradients_keep_dtype():
    layer = nn.Linear(3, 2)
    x = giagrad.randn(4, 3, requires_grad=True)
    layer(x).sum().backward()
    assert layer.weight.grad.dtype == np.float32 and layer.bias.grad.dtype == np.float32
    assert x.grad.dtype == np.float32


@pytest.mark.parametrize("shape", [(4, 6), (6,), (2, 3, 4)])
def test_linear_wrong_input_size_names_layer_and_shapes(shape):
    layer = nn.Linear(5, 2)
    with pytest.raises(ValueError, match=r"Linear.*in_features=5.*" + str(shape[-1])):
        layer(giagrad.randn(*shape))


def test_linear_scalar_input_is_rejected():
    with pytest.raises(ValueError, match="Linear"):
        nn.Linear(1, 1)(giagrad.tensor(1.0))


@pytest.mark.parametrize("bad", [-1, 2.5, True, "3"])
def test_linear_rejects_bad_sizes(bad):
    with pytest.raises(ValueError, match="Linear"):
        nn.Linear(bad, 2)


def test_linear_reset_parameters_draws_new_values():
    layer = nn.Linear(3, 3)
    before = layer.weight.data.copy()
    array = layer.weight.data
    layer.reset_parameters()
    assert layer.weight.data is array and not np.array_equal(before, layer.weight.data)


def test_zero_input_features():
    layer = nn.Linear(0, 3)
    np.testing.assert_array_equal(layer.bias.data, 0)
    assert layer(giagrad.zeros(2, 0)).shape == (2, 3)


def test_identity_returns_its_input_and_ignores_arguments():
    x = giagrad.randn(2, 3)
    assert nn.Identity(54, unused="x")(x) is x
    assert repr(nn.Identity()) == "Identity()"
