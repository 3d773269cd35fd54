"""nn.Dropout and nn.Dropout2d: training vs eval, repr, checks."""

import numpy as np
import pytest

import giagrad
from giagrad import nn


@pytest.mark.parametrize("cls", [nn.Dropout, nn.Dropout2d])
def test_identity_in_eval_mode(cls):
    layer = cls(0.5)
    x = giagrad.randn(4, 3, 2, 2)
    layer.eval()
    assert layer(x) is x
    layer.train()
    assert np.any(layer(x).data == 0)


def test_dropout_in_training_keeps_expected_values():
    giagrad.manual_seed(1)
    out = nn.Dropout(0.25)(giagrad.ones(100_000)).data
    assert set(np.unique(out)) <= {0.0, np.float32(1 / 0.75)}
    assert out.mean() == pytest.approx(1.0, abs=0.02)


def test_dropout_gradient_uses_the_same_mask():
    giagrad.manual_seed(2)
    x = giagrad.ones(1000, requires_grad=True)
    out = nn.Dropout(0.5)(x)
    out.sum().backward()
    np.testing.assert_array_equal(x.grad, out.data)
    assert x.grad.dtype == np.float32


def test_dropout2d_drops_channels():
    giagrad.manual_seed(0)
    out = nn.Dropout2d(0.5)(giagrad.ones(16, 8, 4, 4)).data.reshape(16, 8, 16)
    assert np.all(out.min(axis=2) == out.max(axis=2))


@pytest.mark.parametrize("layer, text", [
    # strings from PyTorch 2.13
    (lambda: nn.Dropout(), "Dropout(p=0.5, inplace=False)"),
    (lambda: nn.Dropout2d(0.2), "Dropout2d(p=0.2, inplace=False)"),
])
def test_repr_matches_pytorch(layer, text):
    assert repr(layer()) == text


@pytest.mark.parametrize("p, error", [(-0.5, ValueError), (1.01, ValueError), ("0.5", TypeError)])
def test_bad_probability(p, error):
    with pytest.raises(error, match="p|probability"):
        nn.Dropout(p)


def test_inplace_is_rejected_and_bad_ranks_too():
    with pytest.raises(ValueError, match="inplace"):
        nn.Dropout(0.5, inplace=True)
    with pytest.raises(ValueError, match="4-D input"):
        nn.Dropout2d()(giagrad.randn(3, 4))
