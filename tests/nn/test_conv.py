"""nn.Conv1d, nn.Conv2d, nn.ConvTranspose2d: shapes, initialisation, repr, checks and gradients."""

import math

import numpy as np
import pytest

import giagrad
import giagrad.nn.functional as F
from giagrad import nn


@pytest.mark.parametrize("layer, input_shape, output_shape", [
    (lambda: nn.Conv2d(1, 32, 3), (64, 1, 28, 28), (64, 32, 26, 26)),
    (lambda: nn.Conv2d(3, 8, 3, padding="same"), (2, 3, 7, 6), (2, 8, 7, 6)),
    (lambda: nn.Conv2d(3, 8, (3, 2), stride=2, padding=1, dilation=(1, 2)), (2, 3, 9, 9), (2, 8, 5, 5)),
    (lambda: nn.Conv2d(4, 8, 3, groups=4, bias=False), (2, 4, 5, 5), (2, 8, 3, 3)),
    (lambda: nn.Conv2d(3, 8, 3), (3, 5, 5), (8, 3, 3)),  # without the batch dim
    (lambda: nn.Conv1d(16, 33, 3, stride=2), (20, 16, 50), (20, 33, 24)),
    (lambda: nn.Conv1d(4, 4, 4, padding="same", groups=2), (2, 4, 9), (2, 4, 9)),
    (lambda: nn.ConvTranspose2d(16, 8, 3, stride=2, padding=1, output_padding=1), (4, 16, 7, 7), (4, 8, 14, 14)),
    (lambda: nn.ConvTranspose2d(4, 6, (2, 3), groups=2), (1, 4, 3, 3), (1, 6, 4, 5)),
])
def test_output_shapes(layer, input_shape, output_shape):
    assert layer()(giagrad.randn(*input_shape)).shape == output_shape


@pytest.mark.parametrize("make, weight_shape", [
    (lambda: nn.Conv2d(6, 12, (3, 5), groups=3), (12, 2, 3, 5)),
    (lambda: nn.Conv1d(6, 12, 5), (12, 6, 5)),
    (lambda: nn.ConvTranspose2d(6, 12, 3, groups=2), (6, 6, 3, 3)),
])
def test_pytorch_default_initialisation(make, weight_shape):
    giagrad.manual_seed(0)
    layer = make()
    assert layer.weight.shape == weight_shape and layer.weight.dtype == np.float32
    fan_in = weight_shape[1] * math.prod(weight_shape[2:])
    bound = 1 / math.sqrt(fan_in)  # kaiming_uniform_(a=sqrt(5)) gives the same bound as the bias
    for values in (layer.weight.data, layer.bias.data):
        assert np.abs(values).max() <= bound
        assert np.abs(values).max() > 0.8 * bound  # spread over the whole range
    assert layer.bias.shape == (layer.out_channels,)


def test_initialisation_is_seeded():
    giagrad.manual_seed(3)
    first = nn.Conv2d(2, 4, 3).weight.data.copy()
    giagrad.manual_seed(3)
    np.testing.assert_array_equal(nn.Conv2d(2, 4, 3).weight.data, first)


def test_parameters_and_bias_false():
    assert [name for name, _ in nn.Conv2d(1, 2, 3).named_parameters()] == ["weight", "bias"]
    layer = nn.Conv2d(1, 2, 3, bias=False)
    assert layer.bias is None and [name for name, _ in layer.named_parameters()] == ["weight"]


@pytest.mark.parametrize("layer, text", [
    # strings from PyTorch 2.13
    (lambda: nn.Conv2d(1, 32, 3), "Conv2d(1, 32, kernel_size=(3, 3), stride=(1, 1))"),
    (lambda: nn.Conv2d(4, 8, (3, 2), stride=2, padding=1, dilation=2, groups=2, bias=False),
     "Conv2d(4, 8, kernel_size=(3, 2), stride=(2, 2), padding=(1, 1), dilation=(2, 2), groups=2, bias=False)"),
    (lambda: nn.Conv2d(4, 8, 3, padding="same"), "Conv2d(4, 8, kernel_size=(3, 3), stride=(1, 1), padding=same)"),
    (lambda: nn.Conv1d(4, 8, 3, padding="valid"), "Conv1d(4, 8, kernel_size=(3,), stride=(1,), padding=valid)"),
    (lambda: nn.ConvTranspose2d(4, 8, 3, stride=2, output_padding=1),
     "ConvTranspose2d(4, 8, kernel_size=(3, 3), stride=(2, 2), output_padding=(1, 1))"),
])
def test_repr_matches_pytorch(layer, text):
    assert repr(layer()) == text


@pytest.mark.parametrize("make, error, message", [
    (lambda: nn.Conv2d(3, 6, 3, groups=2), ValueError, "in_channels .3. must be divisible by groups"),
    (lambda: nn.Conv2d(4, 6, 3, groups=4), ValueError, "out_channels .6. must be divisible by groups"),
    (lambda: nn.Conv2d(4, 6, 3, groups=0), ValueError, "groups must be a positive integer"),
    (lambda: nn.Conv2d(0, 6, 3), ValueError, "in_channels must be a positive integer"),
    (lambda: nn.Conv2d(1, 6, 0), ValueError, "kernel_size must be at least 1"),
    (lambda: nn.Conv2d(1, 6, (3, 3, 3)), TypeError, "kernel_size must be an int or a tuple of 2 ints"),
    (lambda: nn.Conv2d(1, 6, 3, stride=2, padding="same"), ValueError, "not supported for strided"),
    (lambda: nn.Conv2d(1, 6, 3, padding="full"), ValueError, "'valid' or 'same'"),
    (lambda: nn.Conv2d(1, 6, 3, padding=-1), ValueError, "padding must be at least 0"),
    (lambda: nn.Conv2d(1, 6, 3, padding_mode="reflect"), ValueError, "padding_mode 'reflect' is not supported"),
    (lambda: nn.ConvTranspose2d(1, 6, 3, stride=2, output_padding=2), ValueError, "output_padding"),
    (lambda: nn.Conv2d(1, 6, 3, dtype="int32"), TypeError, "floating dtype"),
])
def test_constructor_errors(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_forward_errors_name_the_layer_the_channels_and_the_shape():
    conv = nn.Conv2d(3, 16, 3)
    with pytest.raises(ValueError, match=r"Conv2d\(3, 16.*in_channels=3.*\(8, 1, 28, 28\)"):
        conv(giagrad.randn(8, 1, 28, 28))
    with pytest.raises(ValueError, match=r"4-D input .* got shape \(8, 3\)"):
        conv(giagrad.randn(8, 3))
    with pytest.raises(TypeError, match="must be a Tensor"):
        conv(np.zeros((1, 3, 5, 5), dtype=np.float32))
    with pytest.raises(ValueError, match="larger than the padded input"):
        conv(giagrad.randn(1, 3, 2, 5))
    with pytest.raises(ValueError, match=r"Conv1d.*in_channels=4"):
        nn.Conv1d(4, 2, 3)(giagrad.randn(2, 3, 9))


@pytest.mark.parametrize("call, error, message", [
    (lambda: F.conv2d(giagrad.randn(1, 3, 5, 5), giagrad.randn(4, 3, 3)), ValueError, "weight must be 4-D"),
    (lambda: F.conv2d(giagrad.randn(1, 4, 5, 5), giagrad.randn(4, 2, 3, 3), groups=3), ValueError, "divisible"),
    (lambda: F.conv2d(giagrad.randn(1, 3, 5, 5), giagrad.randn(4, 3, 3, 3), giagrad.randn(3)), ValueError,
     r"bias must have shape \(4,\)"),
    (lambda: F.conv2d(giagrad.randn(1, 3, 5, 5), giagrad.randn(4, 3, 3, 3, dtype="float64")), TypeError,
     "weight is float64 but the input is float32"),
    (lambda: F.conv2d(giagrad.ones(1, 3, 5, 5, dtype="int64"), giagrad.randn(4, 3, 3, 3)), TypeError, "floating"),
    (lambda: F.conv2d(giagrad.randn(1, 3, 5, 5), giagrad.randn(4, 3, 3, 3), stride=0), ValueError,
     "stride must be at least 1"),
    (lambda: F.conv_transpose2d(giagrad.randn(1, 3, 5, 5), giagrad.randn(4, 2, 3, 3)), ValueError,
     "expected input with 4 channels"),
    (lambda: F.conv_transpose2d(giagrad.randn(1, 4, 1, 1), giagrad.randn(4, 2, 1, 1), padding=1), ValueError,
     "leaves no output"),
])
def test_functional_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize("make, input_shape", [
    (lambda: nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2), (2, 4, 5, 5)),
    (lambda: nn.Conv1d(2, 3, 3, padding="same", dilation=2), (2, 2, 7)),
    (lambda: nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1, output_padding=1), (1, 2, 3, 3)),
])
def test_module_gradcheck_in_float64(make, input_shape):
    # gradcheck perturbs copies of its inputs, so the module's own parameters are checked through
    # the input gradient here and through the functional form in tests/test_convops.py
    layer = make().double()
    x = giagrad.Tensor(np.random.default_rng(0).standard_normal(input_shape), requires_grad=True)
    assert layer.weight.dtype == np.float64
    assert giagrad.gradcheck(layer, [x])


def test_module_backward_fills_float32_parameter_gradients():
    conv = nn.Conv2d(2, 3, 3, padding=1)
    conv(giagrad.randn(4, 2, 6, 6)).sum().backward()
    assert conv.weight.grad.shape == (3, 2, 3, 3) and conv.weight.grad.dtype == np.float32
    np.testing.assert_allclose(conv.bias.grad, np.full(3, 4 * 6 * 6))


def test_state_dict_round_trip():
    source, target = nn.Conv2d(2, 3, 3), nn.Conv2d(2, 3, 3)
    target.load_state_dict(source.state_dict())
    x = giagrad.randn(1, 2, 5, 5)
    np.testing.assert_array_equal(target(x).data, source(x).data)


def test_conv_transpose2d_output_size_picks_the_output_padding():
    up = nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1)
    x = giagrad.randn(1, 2, 7, 7)
    assert up(x).shape == (1, 3, 13, 13)
    assert up(x, output_size=(14, 13)).shape == (1, 3, 14, 13)
    assert up(x, output_size=(1, 3, 14, 14)).shape == (1, 3, 14, 14)
    with pytest.raises(ValueError, match="range from 13 to 14"):
        up(x, output_size=(15, 15))
