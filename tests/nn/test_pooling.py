"""nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d: shapes, repr, checks and gradients."""

import numpy as np
import pytest

import giagrad
import giagrad.nn.functional as F
from giagrad import nn


@pytest.mark.parametrize("layer, input_shape, output_shape", [
    (lambda: nn.MaxPool2d(2), (64, 32, 26, 26), (64, 32, 13, 13)),
    (lambda: nn.MaxPool2d(2), (2, 3, 11, 11), (2, 3, 5, 5)),  # the last row and column are dropped
    (lambda: nn.MaxPool2d(2, ceil_mode=True), (2, 3, 11, 11), (2, 3, 6, 6)),
    (lambda: nn.MaxPool2d(3, stride=1, padding=1), (1, 2, 5, 4), (1, 2, 5, 4)),
    (lambda: nn.MaxPool2d((3, 2), stride=(2, 1), dilation=2), (1, 2, 9, 6), (1, 2, 3, 4)),
    (lambda: nn.AvgPool2d(2), (2, 3, 8, 8), (2, 3, 4, 4)),
    (lambda: nn.AvgPool2d(3, 2, 1, ceil_mode=True), (2, 3, 6, 6), (2, 3, 4, 4)),
    (lambda: nn.AdaptiveAvgPool2d(1), (8, 64, 7, 7), (8, 64, 1, 1)),
    (lambda: nn.AdaptiveAvgPool2d((None, 3)), (2, 3, 7, 5), (2, 3, 7, 3)),
    (lambda: nn.MaxPool2d(2), (3, 6, 6), (3, 3, 3)),  # without the batch dim
])
def test_output_shapes(layer, input_shape, output_shape):
    assert layer()(giagrad.randn(*input_shape)).shape == output_shape


@pytest.mark.parametrize("layer, text", [
    # strings from PyTorch 2.13
    (lambda: nn.MaxPool2d(2), "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)"),
    (lambda: nn.MaxPool2d((3, 2), 1, 1, ceil_mode=True),
     "MaxPool2d(kernel_size=(3, 2), stride=1, padding=1, dilation=1, ceil_mode=True)"),
    (lambda: nn.AvgPool2d(2), "AvgPool2d(kernel_size=2, stride=2, padding=0)"),
    (lambda: nn.AvgPool2d(3, 2, 1, True, False), "AvgPool2d(kernel_size=3, stride=2, padding=1)"),
    (lambda: nn.AdaptiveAvgPool2d(1), "AdaptiveAvgPool2d(output_size=1)"),
    (lambda: nn.AdaptiveAvgPool2d((None, 3)), "AdaptiveAvgPool2d(output_size=(None, 3))"),
])
def test_repr_matches_pytorch(layer, text):
    assert repr(layer()) == text


def test_max_pool_values_and_gradient_routing():
    x = giagrad.Tensor([[[[1.0, 3.0, 2.0, 0.0],
                          [4.0, 0.0, 0.0, 2.0],
                          [0.0, 0.0, 5.0, 5.0],
                          [0.0, 0.0, 5.0, 1.0]]]], requires_grad=True)
    out = nn.MaxPool2d(2)(x)
    np.testing.assert_array_equal(out.data[0, 0], [[4.0, 2.0], [0.0, 5.0]])
    out.backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]))
    # tied windows (2 and 2, all zeros, three 5s) send theirs to the first maximum
    np.testing.assert_array_equal(x.grad[0, 0], [[0, 0, 2, 0], [1, 0, 0, 0], [3, 0, 4, 0], [0, 0, 0, 0]])


def test_max_pool_propagates_nan():
    x = giagrad.Tensor([[[[1.0, np.nan], [0.0, 2.0]]]])
    assert np.isnan(F.max_pool2d(x, 2).item())


def test_avg_pool_divisors():
    x = giagrad.ones(1, 1, 3, 3)
    # with padding 1, a 2x2 window at the corner covers one real pixel
    np.testing.assert_allclose(F.avg_pool2d(x, 2, 2, 1, count_include_pad=True).data[0, 0], [[0.25, 0.5], [0.5, 1.0]])
    np.testing.assert_allclose(F.avg_pool2d(x, 2, 2, 1, count_include_pad=False).data[0, 0], np.ones((2, 2)))
    np.testing.assert_allclose(F.avg_pool2d(x, 2, 2, 1, divisor_override=2).data[0, 0], [[0.5, 1.0], [1.0, 2.0]])


def test_adaptive_pool_to_the_input_size_is_the_identity():
    x = giagrad.randn(2, 3, 5, 4)
    np.testing.assert_allclose(F.adaptive_avg_pool2d(x, (5, 4)).data, x.data, rtol=1e-6)


@pytest.mark.parametrize("make", [
    lambda: nn.MaxPool2d(3, stride=2, padding=1),
    lambda: nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False),
    lambda: nn.AdaptiveAvgPool2d((3, 2)),
])
def test_module_gradcheck(make):
    x = giagrad.Tensor(np.random.default_rng(0).permutation(2 * 2 * 5 * 5).reshape(2, 2, 5, 5) / 7.0,
                       requires_grad=True)
    assert giagrad.gradcheck(make(), [x])


@pytest.mark.parametrize("make, error, message", [
    (lambda: nn.MaxPool2d(0), ValueError, "kernel_size must be at least 1"),
    (lambda: nn.MaxPool2d(2, padding=2), ValueError, "at most half of the kernel size"),
    (lambda: nn.MaxPool2d(2, return_indices=True), ValueError, "return_indices"),
    (lambda: nn.AvgPool2d(2, stride=0), ValueError, "stride must be at least 1"),
    (lambda: nn.AvgPool2d(3, padding=2), ValueError, "at most half"),
    (lambda: nn.AdaptiveAvgPool2d(0), ValueError, "output_size"),
    (lambda: nn.AdaptiveAvgPool2d((1, 2, 3)), ValueError, "output_size"),
])
def test_constructor_errors(make, error, message):
    with pytest.raises(error, match=message):
        make()


@pytest.mark.parametrize("call, error, message", [
    (lambda: F.max_pool2d(giagrad.randn(4, 4), 2), ValueError, r"4-D input .* got shape \(4, 4\)"),
    (lambda: F.max_pool2d(giagrad.randn(1, 1, 2, 2), 3), ValueError, "too small"),
    (lambda: F.avg_pool2d(giagrad.randn(1, 1, 4, 4), 2, divisor_override=0), ValueError, "divisor_override"),
    (lambda: F.avg_pool2d(giagrad.ones(1, 1, 4, 4, dtype="int64"), 2), TypeError, "floating"),
    (lambda: F.adaptive_avg_pool2d(giagrad.randn(2, 3, 4), (2, 2, 2)), TypeError, "output_size"),
])
def test_functional_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()
