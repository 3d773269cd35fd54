"""Normalization, dropout and embedding ops: gradients (gradcheck), statistics, reference values."""

import numpy as np
import pytest

import giagrad
import giagrad.nn.functional as F


def wave(*shape, step=0.7):
    return giagrad.Tensor(np.sin(np.arange(np.prod(shape)) * step).reshape(shape))


# ----------------------------------------------------------------------------- batch norm


@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5), (2, 3, 3, 4)])
def test_batch_norm_training_gradcheck(seeded_leaf, shape):
    x, w, b = seeded_leaf(*shape), seeded_leaf(3, seed=1), seeded_leaf(3, seed=2)
    assert giagrad.gradcheck(lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), [x, w, b])


@pytest.mark.parametrize("shape", [(6, 3), (2, 3, 3, 4)])
def test_batch_norm_eval_gradcheck(seeded_leaf, shape):
    x, w, b = seeded_leaf(*shape), seeded_leaf(3, seed=1), seeded_leaf(3, seed=2)
    mean = giagrad.Tensor(np.array([0.5, -1.0, 0.0]))
    var = giagrad.Tensor(np.array([2.0, 0.5, 1.0]))
    assert giagrad.gradcheck(lambda x, w, b: F.batch_norm(x, mean, var, w, b, training=False), [x, w, b])


def test_batch_norm_eval_uses_the_running_statistics():
    x = giagrad.Tensor(np.array([[1.0, 2.0], [3.0, 6.0]]))
    out = F.batch_norm(x, giagrad.Tensor(np.array([1.0, 2.0])), giagrad.Tensor(np.array([4.0, 16.0])),
                       training=False, eps=0.0)
    np.testing.assert_allclose(out.data, [[0.0, 0.0], [1.0, 1.0]])


def test_batch_norm_training_normalises_and_updates_running_statistics_as_pytorch():
    x = np.random.default_rng(0).standard_normal((5, 3, 4)) * 3 + 1
    running_mean = giagrad.Tensor(np.array([0.1, 0.2, 0.3]))
    running_var = giagrad.Tensor(np.array([1.0, 2.0, 3.0]))
    out = F.batch_norm(giagrad.Tensor(x), running_mean, running_var, training=True, momentum=0.3, eps=0.0)
    np.testing.assert_allclose(out.data.mean(axis=(0, 2)), 0.0, atol=1e-12)
    np.testing.assert_allclose(out.data.var(axis=(0, 2)), 1.0)  # normalised with the biased variance
    batch_mean, unbiased_var = x.mean(axis=(0, 2)), x.var(axis=(0, 2), ddof=1)
    np.testing.assert_allclose(running_mean.data, 0.7 * np.array([0.1, 0.2, 0.3]) + 0.3 * batch_mean)
    np.testing.assert_allclose(running_var.data, 0.7 * np.array([1.0, 2.0, 3.0]) + 0.3 * unbiased_var)


def test_batch_norm_matches_pytorch():
    out = F.batch_norm(wave(2, 4, 5, 5), None, None, training=True)
    # values from PyTorch 2.13
    np.testing.assert_allclose(out.data[0, 0, 0], [-0.050901200762152606, 0.8544941289290237, 1.334067887874167,
                                                   1.1622690436946859, 0.41989727723917925], rtol=1e-6)


# --------------------------------------------------------------------- layer and group norm


@pytest.mark.parametrize("normalized_shape", [4, (3, 4)])
def test_layer_norm_gradcheck(seeded_leaf, normalized_shape):
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else normalized_shape
    x, w, b = seeded_leaf(2, 3, 4), seeded_leaf(*shape, seed=1), seeded_leaf(*shape, seed=2)
    assert giagrad.gradcheck(lambda x, w, b: F.layer_norm(x, normalized_shape, w, b), [x, w, b])


@pytest.mark.parametrize("affine", ["weight", "none", "both"])
@pytest.mark.parametrize("transposed", [False, True])
def test_layer_norm_gradcheck_weight_only_no_affine_and_non_contiguous(seeded_leaf, affine, transposed):
    x, w, b = seeded_leaf(3, 2, 5), seeded_leaf(5, seed=1), seeded_leaf(5, seed=2)

    def call(x, w, b):
        x = x.permute(1, 0, 2) if transposed else x  # a non-contiguous input
        return F.layer_norm(x, 5, w if affine != "none" else None, b if affine == "both" else None)

    assert giagrad.gradcheck(call, [x, w, b])


@pytest.mark.parametrize("weighted", [True, False])
def test_float32_layer_norm_matches_pytorch(weighted):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = rng.normal(3, 2, (12, 64, 128)).astype(np.float32)  # a GPT's residual stream, offset from 0
    weight = rng.normal(1, 0.3, 128).astype(np.float32)
    grad = rng.normal(0, 1, x.shape).astype(np.float32)
    ours = [giagrad.tensor(x, requires_grad=True), giagrad.tensor(weight, requires_grad=True)]
    out = F.layer_norm(ours[0], 128, ours[1] if weighted else None)
    out.backward(giagrad.tensor(grad))
    theirs = [torch.tensor(x, requires_grad=True), torch.tensor(weight, requires_grad=True)]
    expected = torch.nn.functional.layer_norm(theirs[0], (128,), theirs[1] if weighted else None)
    expected.backward(torch.tensor(grad))
    assert out.dtype == ours[0].grad.dtype == np.float32
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ours[0].grad, theirs[0].grad.numpy(), rtol=1e-4, atol=1e-5)
    if weighted:
        np.testing.assert_allclose(ours[1].grad, theirs[1].grad.numpy(), rtol=1e-4, atol=1e-3)


def test_layer_norm_normalises_each_sample():
    out = F.layer_norm(giagrad.Tensor(np.array([[1.0, 2.0, 3.0], [10.0, 10.0, 40.0]])), 3, eps=0.0)
    np.testing.assert_allclose(out.data, [[-np.sqrt(1.5), 0.0, np.sqrt(1.5)], [-np.sqrt(0.5), -np.sqrt(0.5),
                                                                               np.sqrt(2.0)]])


@pytest.mark.parametrize("shape, groups", [((2, 6, 3, 2), 3), ((3, 4, 5), 2), ((2, 4), 4), ((2, 4, 3), 1)])
def test_group_norm_gradcheck(seeded_leaf, shape, groups):
    x, w, b = seeded_leaf(*shape), seeded_leaf(shape[1], seed=1), seeded_leaf(shape[1], seed=2)
    assert giagrad.gradcheck(lambda x, w, b: F.group_norm(x, groups, w, b), [x, w, b])


def test_group_norm_matches_pytorch():
    out = F.group_norm(wave(2, 4, 5, 5), 2)
    # values from PyTorch 2.13
    np.testing.assert_allclose(out.data[1, 3, 4], [-1.3609805916494426, -1.1779449232372112, -0.4272031823897893,
                                                   0.5381590595090414, 1.2641168558930767], rtol=1e-6)


# -------------------------------------------------------------------------------- dropout


def test_dropout_gradcheck_with_a_fixed_mask(seeded_leaf):
    x = seeded_leaf(4, 5)

    def dropped(x):
        giagrad.manual_seed(3)  # the same mask at every evaluation
        return F.dropout(x, p=0.4)

    assert giagrad.gradcheck(dropped, [x])


def test_dropout2d_gradcheck_with_a_fixed_mask(seeded_leaf):
    x = seeded_leaf(3, 4, 2, 2)

    def dropped(x):
        giagrad.manual_seed(5)
        return F.dropout2d(x, p=0.5)

    assert giagrad.gradcheck(dropped, [x])


def test_dropout_mask_statistics():
    giagrad.manual_seed(0)
    out = F.dropout(giagrad.ones(200_000), p=0.3).data
    kept = out != 0
    assert kept.mean() == pytest.approx(0.7, abs=0.005)
    np.testing.assert_allclose(out[kept], 1 / 0.7, rtol=1e-6)
    assert out.mean() == pytest.approx(1.0, abs=0.01)  # inverted: the expectation is unchanged


def test_dropout2d_zeroes_whole_channels():
    giagrad.manual_seed(0)
    out = F.dropout2d(giagrad.ones(64, 32, 3, 3), p=0.5).data
    per_channel = out.reshape(64, 32, 9)
    assert np.all(per_channel.min(axis=2) == per_channel.max(axis=2))
    assert set(np.unique(out)) == {0.0, 2.0}
    assert (per_channel[:, :, 0] == 0).mean() == pytest.approx(0.5, abs=0.05)


def test_dropout_is_identity_in_eval_and_for_p_zero_and_all_zero_for_p_one():
    x = giagrad.randn(10, 10)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x
    assert F.dropout2d(x.reshape(1, 10, 10), 0.5, training=False).shape == (1, 10, 10)
    np.testing.assert_array_equal(F.dropout(x, 1.0).data, 0.0)


def test_dropout_is_reproducible_with_manual_seed():
    x = giagrad.ones(50)
    giagrad.manual_seed(7)
    first = F.dropout(x).data
    giagrad.manual_seed(7)
    np.testing.assert_array_equal(F.dropout(x).data, first)


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_dropout_rejects_a_bad_probability(p):
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.dropout(giagrad.ones(3), p)
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.dropout2d(giagrad.ones(1, 3, 2, 2), p)


# ------------------------------------------------------------------------------ embedding


def test_embedding_gradcheck_with_repeated_indices(seeded_leaf):
    weight = seeded_leaf(5, 3)
    indices = giagrad.Tensor(np.array([[0, 2, 2], [4, 0, 2]]))
    assert giagrad.gradcheck(lambda w: F.embedding(indices, w), [weight])


def test_embedding_accumulates_repeats_and_skips_the_padding_row(seeded_leaf):
    weight = seeded_leaf(5, 3)
    indices = giagrad.Tensor(np.array([[0, 2, 2], [4, 0, 1]]))
    out = F.embedding(indices, weight, padding_idx=-3)  # row 2
    np.testing.assert_array_equal(out.data[0, 1], weight.data[2])
    out.sum().backward()
    np.testing.assert_array_equal(weight.grad[:, 0], [2, 1, 0, 0, 1])


def test_embedding_checks_its_indices():
    weight = giagrad.randn(4, 2)
    with pytest.raises(TypeError, match="integer"):
        F.embedding(giagrad.Tensor([0.0, 1.0]), weight)
    with pytest.raises(IndexError, match=r"\[0, 4\)"):
        F.embedding(giagrad.Tensor(np.array([0, 4])), weight)
    with pytest.raises(ValueError, match="padding_idx"):
        F.embedding(giagrad.Tensor(np.array([0])), weight, padding_idx=4)


# ------------------------------------------------------------------------------- float32

FLOAT32_OPS = {
    "batch_norm_train": lambda x, w: F.batch_norm(x, None, None, w, w, training=True),
    "batch_norm_eval": lambda x, w: F.batch_norm(x, giagrad.zeros(3), giagrad.ones(3), w, w),
    "layer_norm": lambda x, w: F.layer_norm(x, 4),
    "group_norm": lambda x, w: F.group_norm(x, 3, w, w),
    "dropout": lambda x, w: F.dropout(x, 0.3),
    "dropout2d": lambda x, w: F.dropout2d(x, 0.3),
}


@pytest.mark.parametrize("name", list(FLOAT32_OPS))
def test_float32_in_float32_out_and_gradients(seeded_leaf, check_float32_grads_of_square_sum, name):
    x, w = seeded_leaf(2, 3, 4, 4, dtype="float32"), seeded_leaf(3, dtype="float32", seed=1)
    out = FLOAT32_OPS[name](x, w)
    check_float32_grads_of_square_sum(out, x, w)


def test_float32_embedding(seeded_leaf):
    weight = seeded_leaf(4, 2, dtype="float32")
    out = F.embedding(giagrad.Tensor(np.array([1, 1, 3])), weight)
    out.sum().backward()
    assert out.dtype == np.float32 and weight.grad.dtype == np.float32


def test_float32_running_statistics_stay_float32():
    mean, var = giagrad.zeros(3), giagrad.ones(3)
    F.batch_norm(giagrad.randn(4, 3), mean, var, training=True)
    assert mean.dtype == np.float32 and var.dtype == np.float32


@pytest.mark.parametrize("call, input_shape, param_shape", [
    (lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), (4, 1, 3), (1,)),  # one channel
    (lambda x, w, b: F.batch_norm(x, None, None, w, None, training=True), (4, 2, 3), (2,)),  # weight only
    (lambda x, w, b: F.batch_norm(x, None, None, None, b, training=True), (4, 2), (2,)),  # bias only
    (lambda x, w, b: F.layer_norm(x, (1, 4), w, b), (2, 1, 4), (1, 4)),  # a size-1 normalized dim
    (lambda x, w, b: F.layer_norm(x, 3, None, b), (2, 3), (3,)),
])
def test_normalization_gradcheck_with_unusual_parameter_shapes(seeded_leaf, call, input_shape, param_shape):
    x, w, b = seeded_leaf(*input_shape), seeded_leaf(*param_shape, seed=1), seeded_leaf(*param_shape, seed=2)
    assert giagrad.gradcheck(call, [x, w, b])
