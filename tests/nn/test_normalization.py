"""nn.BatchNorm1d/2d, nn.LayerNorm, nn.GroupNorm: statistics, buffers, modes, repr, checks."""

import numpy as np
import pytest

import giagrad
from giagrad import nn


def test_batch_norm_buffers_and_parameters():
    bn = nn.BatchNorm2d(3)
    assert [name for name, _ in bn.named_parameters()] == ["weight", "bias"]
    assert [name for name, _ in bn.named_buffers()] == ["running_mean", "running_var", "num_batches_tracked"]
    assert set(bn.state_dict()) == {"weight", "bias", "running_mean", "running_var", "num_batches_tracked"}
    np.testing.assert_array_equal(bn.running_var.data, 1.0)
    assert bn.num_batches_tracked.dtype == np.int64


def test_batch_norm_training_updates_running_stats_like_pytorch():
    x = np.random.default_rng(0).standard_normal((8, 3, 4, 4)).astype(np.float32) * 2 + 5
    bn = nn.BatchNorm2d(3, momentum=0.2)
    out = bn(giagrad.Tensor(x))
    np.testing.assert_allclose(out.data.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(bn.running_mean.data, 0.2 * x.mean(axis=(0, 2, 3)), rtol=1e-5)
    np.testing.assert_allclose(bn.running_var.data, 0.8 + 0.2 * x.var(axis=(0, 2, 3), ddof=1), rtol=1e-5)
    assert int(bn.num_batches_tracked.item()) == 1
    assert bn.running_mean.dtype == np.float32


def test_momentum_none_is_a_cumulative_average():
    bn = nn.BatchNorm1d(2, momentum=None)
    batches = [np.random.default_rng(i).standard_normal((5, 2)).astype(np.float32) + i for i in range(3)]
    for batch in batches:
        bn(giagrad.Tensor(batch))
    expected = np.mean([b.mean(axis=0) for b in batches], axis=0)
    np.testing.assert_allclose(bn.running_mean.data, expected, rtol=1e-5)
    assert int(bn.num_batches_tracked.item()) == 3


def test_eval_mode_uses_running_statistics_and_does_not_update_them():
    bn = nn.BatchNorm1d(2)
    with giagrad.no_grad():
        bn.running_mean.copy_(np.array([1.0, -1.0]))
        bn.running_var.copy_(np.array([4.0, 0.25]))
    bn.eval()
    out = bn(giagrad.tensor([[3.0, 0.0], [1.0, -1.0]]))
    np.testing.assert_allclose(out.data, [[2 / np.sqrt(4 + 1e-5), 1 / np.sqrt(0.25 + 1e-5)], [0.0, 0.0]], rtol=1e-5)
    np.testing.assert_allclose(bn.running_mean.data, [1.0, -1.0])
    assert int(bn.num_batches_tracked.item()) == 0


def test_without_running_stats_eval_uses_the_batch():
    bn = nn.BatchNorm1d(2, track_running_stats=False, affine=False).eval()
    assert bn.running_mean is None and not list(bn.parameters())
    out = bn(giagrad.tensor([[1.0, 2.0], [3.0, 6.0]]))
    np.testing.assert_allclose(out.data, [[-1, -1], [1, 1]], rtol=1e-4)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5)])
def test_batch_norm1d_gradcheck(training, shape):
    bn = nn.BatchNorm1d(3).double()
    with giagrad.no_grad():
        bn.weight.copy_(np.array([0.5, 2.0, -1.0]))
        bn.running_var.copy_(np.array([0.5, 2.0, 1.5]))
    bn.train(training)
    x = giagrad.Tensor(np.random.default_rng(0).standard_normal(shape), requires_grad=True)
    assert giagrad.gradcheck(bn, [x])


def test_batch_norm2d_gradcheck_and_parameter_gradients():
    bn = nn.BatchNorm2d(2).double()
    x = giagrad.Tensor(np.random.default_rng(0).standard_normal((3, 2, 2, 3)), requires_grad=True)
    assert giagrad.gradcheck(bn, [x])
    bn.zero_grad()
    out = bn(x)
    (out * out).sum().backward()
    np.testing.assert_allclose(bn.bias.grad, 2 * out.data.sum(axis=(0, 2, 3)), atol=1e-12)


def test_state_dict_round_trip_with_buffers():
    source = nn.BatchNorm2d(2)
    source(giagrad.randn(4, 2, 3, 3) * 3)
    target = nn.BatchNorm2d(2)
    target.load_state_dict(source.state_dict())
    np.testing.assert_array_equal(target.running_var.data, source.running_var.data)
    assert int(target.num_batches_tracked.item()) == 1


def test_layer_norm():
    ln = nn.LayerNorm(4)
    assert ln.weight.shape == (4,) and ln.bias.shape == (4,)
    out = ln(giagrad.randn(2, 3, 4) * 5 + 2)
    np.testing.assert_allclose(out.data.mean(axis=-1), 0, atol=1e-5)
    np.testing.assert_allclose(out.data.var(axis=-1), 1, rtol=1e-3)
    x = giagrad.Tensor(np.random.default_rng(0).standard_normal((2, 3, 4)), requires_grad=True)
    assert giagrad.gradcheck(nn.LayerNorm((3, 4)).double(), [x])


def test_group_norm():
    gn = nn.GroupNorm(2, 4)
    out = gn(giagrad.randn(3, 4, 2, 2) * 3 + 1)
    grouped = out.data.reshape(3, 2, -1)
    np.testing.assert_allclose(grouped.mean(axis=-1), 0, atol=1e-5)
    x = giagrad.Tensor(np.random.default_rng(0).standard_normal((2, 4, 3)), requires_grad=True)
    assert giagrad.gradcheck(nn.GroupNorm(2, 4).double(), [x])


@pytest.mark.parametrize("layer, text", [
    # strings from PyTorch 2.13
    (lambda: nn.BatchNorm2d(32), "BatchNorm2d(32, eps=1e-05, momentum=0.1, affine=True, bias=True, "
                                 "track_running_stats=True)"),
    (lambda: nn.BatchNorm1d(3, momentum=None, affine=False),
     "BatchNorm1d(3, eps=1e-05, momentum=None, affine=False, bias=False, track_running_stats=True)"),
    (lambda: nn.LayerNorm(8), "LayerNorm((8,), eps=1e-05, elementwise_affine=True, bias=True)"),
    (lambda: nn.LayerNorm((3, 4), elementwise_affine=False),
     "LayerNorm((3, 4), eps=1e-05, elementwise_affine=False, bias=False)"),
    (lambda: nn.GroupNorm(2, 6), "GroupNorm(2, 6, eps=1e-05, affine=True, bias=True)"),
])
def test_repr_matches_pytorch(layer, text):
    assert repr(layer()) == text


@pytest.mark.parametrize("call, error, message", [
    (lambda: nn.BatchNorm2d(3)(giagrad.randn(2, 3, 4)), ValueError, r"expected 4D input, got shape \(2, 3, 4\)"),
    (lambda: nn.BatchNorm1d(3)(giagrad.randn(2, 3, 4, 4)), ValueError, "expected 2D or 3D input"),
    (lambda: nn.BatchNorm2d(3)(giagrad.randn(2, 4, 3, 3)), ValueError, r"BatchNorm2d\(3.*3 channels"),
    (lambda: nn.BatchNorm1d(3)(giagrad.randn(1, 3)), ValueError, "more than 1 value per channel"),
    (lambda: nn.BatchNorm1d(0), ValueError, "num_features"),
    (lambda: nn.BatchNorm1d(3, momentum=2.0), ValueError, "momentum"),
    (lambda: nn.LayerNorm(4)(giagrad.randn(2, 5)), ValueError, "does not end with normalized_shape"),
    (lambda: nn.GroupNorm(4, 6), ValueError, "divisible by num_groups"),
    (lambda: nn.GroupNorm(2, 4)(giagrad.randn(2, 6, 3)), ValueError, r"\(N, 4, \*\)"),
    (lambda: giagrad.nn.functional.batch_norm(giagrad.randn(2, 3), None, None), ValueError, "training=False"),
    (lambda: giagrad.nn.functional.batch_norm(giagrad.randn(2, 3), giagrad.zeros(3), giagrad.ones(3), training=True,
                                              momentum=None), TypeError, "momentum must be a number"),
])
def test_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()
