"""Losses: values against PyTorch, gradcheck over every option, stability, dtypes, errors, modules."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import giagrad
import giagrad.nn.functional as F
from giagrad import nn


def t64(values, requires_grad=False):
    return giagrad.tensor(np.asarray(values, dtype=np.float64), requires_grad=requires_grad)


def seeded(seed=0):
    return np.random.default_rng(seed)


# ------------------------------------------------------------------- reference values from PyTorch

LOGITS = [[2.0, -1.0, 0.5, 0.0], [0.3, 0.8, -2.0, 1.0], [-0.5, 0.1, 0.2, 3.0], [1.5, 1.5, -1.0, 0.0]]
CLASS_WEIGHT = [1.0, 2.0, 0.5, 1.5]
PROBABILITIES = [[0.7, 0.1, 0.1, 0.1], [0.0, 0.5, 0.25, 0.25], [0.25, 0.25, 0.25, 0.25], [0.0, 0.0, 1.0, 0.0]]
BINARY_TARGET = [[1.0, 0.0, 1.0], [0.0, 1.0, 0.3]]
LOGITS_2x3 = [[3.0, -2.0, 0.5], [-0.5, 0.0, 4.0]]
POS_WEIGHT = [2.0, 0.5, 3.0]
REGRESSION_INPUT = [0.2, -0.4, 1.5, -3.0, 0.7, 2.0]
REGRESSION_TARGET = [0.0, 0.1, -0.5, 0.0, 0.7, 0.5]

# name: (loss of the input, input, loss value(s), gradient of the loss's sum); values from PyTorch 2.13
PYTORCH_REFERENCE = {
    "cross_entropy_weight_ignore_index_label_smoothing_mean": (
        lambda x: F.cross_entropy(x, giagrad.tensor([0, 3, -1, 2]), weight=t64(CLASS_WEIGHT), ignore_index=-1,
                                  label_smoothing=0.1),
        LOGITS, 1.20736509313,
        [[-0.0657158596806, -0.00458745391868, 0.0499686090843, 0.0203347045149],
         [0.0948987153776, 0.153534207861, 0.00618325917222, -0.254616182411],
         [0.0, 0.0, 0.0, 0.0],
         [0.0748114724508, 0.0664781391174, -0.147341725398, 0.00605211383011]],
    ),
    "cross_entropy_weight_ignore_index_label_smoothing_none": (
        lambda x: F.cross_entropy(x, giagrad.tensor([0, 3, -1, 2]), weight=t64(CLASS_WEIGHT), ignore_index=-1,
                                  label_smoothing=0.1, reduction="none"),
        LOGITS, [0.59465832195, 1.33471189797, 0.0, 1.69272505947],
        [[-0.197147579042, -0.013762361756, 0.149905827253, 0.0610041135448],
         [0.284696146133, 0.460602623583, 0.0185497775167, -0.763848547232],
         [0.0, 0.0, 0.0, 0.0],
         [0.224434417352, 0.199434417352, -0.442025176195, 0.0181563414903]],
    ),
    "cross_entropy_probabilities_weight_label_smoothing": (
        lambda x: F.cross_entropy(x, t64(PROBABILITIES), weight=t64(CLASS_WEIGHT), label_smoothing=0.2),
        LOGITS, 2.0139474919,
        [[0.0481032282153, -0.055012553362, 0.028510630438, -0.0216013052913],
         [0.0636117647275, -0.0995129145432, -0.0236191224747, 0.0595202722904],
         [-0.0542657680561, -0.109996251168, -0.0146682931291, 0.178930312354],
         [0.0579923353387, 0.0454923353387, -0.100463636751, -0.00302103392664]],
    ),
    "nll_loss_weight_ignore_index": (
        lambda x: F.nll_loss(x, giagrad.tensor([0, 3, -1, 2]), weight=t64(CLASS_WEIGHT), ignore_index=-1),
        LOGITS, -1.0,
        [[-1 / 3, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, -0.5], [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, -1 / 6, 0.0]],
    ),
    "bce_with_logits_pos_weight": (
        lambda z: F.binary_cross_entropy_with_logits(z, t64(BINARY_TARGET), pos_weight=t64(POS_WEIGHT)),
        LOGITS_2x3, 0.882670687643,
        [[-0.0158086243925, 0.0198671536704, -0.188770334399], [0.0629234447997, -0.0416666666667, 0.11187034401]],
    ),
    "bce_with_logits_pos_weight_weight_sum": (
        lambda z: F.binary_cross_entropy_with_logits(z, t64(BINARY_TARGET), weight=t64([[1.0], [2.0]]),
                                                     pos_weight=t64(POS_WEIGHT), reduction="sum"),
        LOGITS_2x3, 8.94571458499,
        [[-0.0948517463551, 0.119202922022, -1.13262200639], [0.755081337596, -0.5, 1.34244412812]],
    ),
    "bce_clamps_logs_at_minus_100": (
        lambda p: F.binary_cross_entropy(p, t64(BINARY_TARGET)),
        [[0.0, 0.3, 1.0], [0.9, 0.5, 0.01]], 17.4568322514,
        # at p = 0 the gradient is -1 / (6 * 1e-12): PyTorch prints -166666667333 (its 1e-12 is a float32)
        [[-1 / 6e-12, 0.238095238095, 0.0], [1.66666666667, -0.333333333333, -4.88215488215]],
    ),
    "kl_div_batchmean": (
        lambda q: F.kl_div(q, t64([[0.2, 0.5, 0.3], [0.0, 0.4, 0.6]]), reduction="batchmean"),
        np.log([[0.2312239, 0.62853172, 0.14024438], [0.24472847, 0.09003057, 0.66524096]]), None,
        [[-0.1, -0.25, -0.15], [0.0, -0.2, -0.3]],
    ),
    "smooth_l1_beta_0.5": (
        lambda a: F.smooth_l1_loss(a, t64(REGRESSION_TARGET), beta=0.5),
        REGRESSION_INPUT, 1.00666666667,
        [0.0666666666667, -0.166666666667, 0.166666666667, -0.166666666667, 0.0, 0.166666666667],
    ),
    "huber_delta_1.5_none": (
        lambda a: F.huber_loss(a, t64(REGRESSION_TARGET), delta=1.5, reduction="none"),
        REGRESSION_INPUT, [0.02, 0.125, 1.875, 3.375, 0.0, 1.125],
        [0.2, -0.5, 1.5, -1.5, 0.0, 1.5],
    ),
    "huber_delta_1.5_mean": (
        lambda a: F.huber_loss(a, t64(REGRESSION_TARGET), delta=1.5),
        REGRESSION_INPUT, 1.08666666667,
        [0.0333333333333, -0.0833333333333, 0.25, -0.25, 0.0, 0.25],
    ),
}


@pytest.mark.parametrize("name", PYTORCH_REFERENCE)
def test_values_and_gradients_match_pytorch(name):
    loss_of, input_values, expected_loss, expected_grad = PYTORCH_REFERENCE[name]
    x = t64(input_values, requires_grad=True)
    loss = loss_of(x)
    if expected_loss is not None:
        np.testing.assert_allclose(loss.data, expected_loss, rtol=1e-10)
    loss.sum().backward()
    np.testing.assert_allclose(x.grad, expected_grad, rtol=1e-9, atol=1e-12)


def test_kl_div_batchmean_value_from_pytorch():
    # values from PyTorch 2.13: log-probabilities of softmax([1, 2, 0.5]) and softmax([0, -1, 1])
    log_q = F.log_softmax(t64([[1.0, 2.0, 0.5], [0.0, -1.0, 1.0]]), dim=1)
    target = t64([[0.2, 0.5, 0.3], [0.0, 0.4, 0.6]])
    assert F.kl_div(log_q, target, reduction="batchmean").item() == pytest.approx(0.309655033739, rel=1e-10)
    log_target = np.log(t64([[0.2, 0.5, 0.3], [0.1, 0.3, 0.6]]).data)
    loss = F.kl_div(log_q, t64(log_target), reduction="sum", log_target=True)
    assert loss.item() == pytest.approx(0.294376009631, rel=1e-10)


# ------------------------------------------------------------------------------------- gradcheck


def class_indices(shape, classes, ignore_index=None, seed=0):
    indices = seeded(seed).integers(0, classes, size=shape)
    if ignore_index is not None:
        indices = np.where(seeded(seed + 1).random(shape) < 0.3, ignore_index, indices)
    return giagrad.tensor(indices)


def probabilities(shape, axis=1, seed=0):
    p = seeded(seed).random(shape) + 0.05
    return t64(p / p.sum(axis=axis, keepdims=True))


CE_CASES = {
    "2d": dict(shape=(5, 4)),
    "4d": dict(shape=(2, 3, 2, 2)),
    "1d": dict(shape=(4,)),
    "weight": dict(shape=(5, 4), weight=True),
    "ignore_index": dict(shape=(6, 4), ignore_index=-100),
    "ignore_a_real_class": dict(shape=(6, 4), ignore_index=2),
    "label_smoothing": dict(shape=(5, 4), label_smoothing=0.15),
    "all_options_4d": dict(shape=(2, 3, 2, 2), weight=True, ignore_index=1, label_smoothing=0.3),
    "probabilities": dict(shape=(5, 4), probabilities=True),
    "probabilities_4d_weight_smoothing": dict(shape=(2, 3, 2, 2), probabilities=True, weight=True,
                                              label_smoothing=0.2),
    "probabilities_1d": dict(shape=(4,), probabilities=True),
}


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("case", CE_CASES)
def test_cross_entropy_gradcheck(case, reduction):
    options = CE_CASES[case]
    shape = options["shape"]
    classes = shape[1] if len(shape) > 1 else shape[0]
    x = t64(seeded(3).standard_normal(shape) * 2, requires_grad=True)
    weight = t64(seeded(4).random(classes) + 0.5) if options.get("weight") else None
    kwargs = dict(weight=weight, reduction=reduction, label_smoothing=options.get("label_smoothing", 0.0))
    if options.get("probabilities"):
        target = probabilities(shape, axis=1 if len(shape) > 1 else 0)
        target.requires_grad_()  # soft targets get a gradient too
        assert giagrad.gradcheck(lambda x, t: F.cross_entropy(x, t, **kwargs), [x, target])
    else:
        ignore_index = options.get("ignore_index")
        target = class_indices(shape[:1] + shape[2:] if len(shape) > 1 else (), classes, ignore_index)
        if ignore_index is not None:
            kwargs["ignore_index"] = ignore_index
        assert giagrad.gradcheck(lambda x: F.cross_entropy(x, target, **kwargs), [x])


def test_cross_entropy_gradcheck_non_contiguous_logits():
    x = t64(seeded(5).standard_normal((4, 6)), requires_grad=True)
    target = class_indices((6,), 4)
    assert giagrad.gradcheck(lambda x: F.cross_entropy(x.T, target, label_smoothing=0.1), [x])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize(("shape", "weight", "ignore_index"),
                         [((5, 4), False, None), ((5, 4), True, 3), ((2, 3, 2, 2), True, -100), ((4,), False, None)])
def test_nll_loss_gradcheck(shape, weight, ignore_index, reduction):
    classes = shape[1] if len(shape) > 1 else shape[0]
    x = t64(seeded(6).standard_normal(shape), requires_grad=True)
    target = class_indices(shape[:1] + shape[2:] if len(shape) > 1 else (), classes, ignore_index)
    kwargs = dict(weight=t64(seeded(7).random(classes) + 0.5) if weight else None, reduction=reduction)
    if ignore_index is not None:
        kwargs["ignore_index"] = ignore_index
    assert giagrad.gradcheck(lambda x: F.nll_loss(x, target, **kwargs), [x])


REGRESSION_LOSSES = {
    "mse": F.mse_loss,
    "l1": F.l1_loss,
    "smooth_l1": F.smooth_l1_loss,
    "smooth_l1_beta_0.3": lambda x, t, **kw: F.smooth_l1_loss(x, t, beta=0.3, **kw),
    "smooth_l1_beta_0": lambda x, t, **kw: F.smooth_l1_loss(x, t, beta=0.0, **kw),
    "huber": F.huber_loss,
    "huber_delta_0.4": lambda x, t, **kw: F.huber_loss(x, t, delta=0.4, **kw),
}


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", REGRESSION_LOSSES)
def test_regression_loss_gradcheck_for_input_and_target(name, reduction):
    loss = REGRESSION_LOSSES[name]
    # differences spread over both sides of every kink, but never within 1e-3 of one
    x = t64([[0.9, -0.75, 2.0], [0.1, -1.5, 0.35]], requires_grad=True)
    target = t64([[0.0, 0.5, -0.6], [0.55, -0.2, 0.0]], requires_grad=True)
    assert giagrad.gradcheck(lambda x, t: loss(x, t, reduction=reduction), [x, target])
    assert giagrad.gradcheck(lambda x: loss(x.T, target.T.detach(), reduction=reduction), [x])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weight_shape", [None, (3,), (4, 1)])
def test_binary_cross_entropy_gradcheck(weight_shape, reduction):
    p = t64(seeded(8).random((4, 3)) * 0.9 + 0.05, requires_grad=True)
    y = t64(seeded(9).random((4, 3)), requires_grad=True)
    weight = None if weight_shape is None else t64(seeded(10).random(weight_shape) + 0.5)
    assert giagrad.gradcheck(lambda p, y: F.binary_cross_entropy(p, y, weight=weight, reduction=reduction), [p, y])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weight_shape", [None, (4, 1)])
@pytest.mark.parametrize("pos_weight_shape", [None, (3,), ()])
def test_binary_cross_entropy_with_logits_gradcheck(pos_weight_shape, weight_shape, reduction):
    x = t64(seeded(11).standard_normal((4, 3)) * 3, requires_grad=True)
    y = t64(seeded(12).random((4, 3)), requires_grad=True)
    weight = None if weight_shape is None else t64(seeded(13).random(weight_shape) + 0.5)
    pos_weight = None if pos_weight_shape is None else t64(seeded(14).random(pos_weight_shape) * 3 + 0.2)

    def loss(x, y):
        return F.binary_cross_entropy_with_logits(x, y, weight=weight, reduction=reduction, pos_weight=pos_weight)

    assert giagrad.gradcheck(loss, [x, y])


@pytest.mark.parametrize("reduction", ["mean", "batchmean", "sum", "none"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div_gradcheck(log_target, reduction):
    log_q = t64(np.log(probabilities((3, 4), seed=15).data), requires_grad=True)
    target = probabilities((3, 4), seed=16)
    if log_target:
        target = t64(np.log(target.data))
    target.requires_grad_()
    assert giagrad.gradcheck(lambda q, t: F.kl_div(q, t, reduction=reduction, log_target=log_target), [log_q, target])


# ---------------------------------------------------------------------------- behaviour details


@pytest.mark.parametrize("sign", [1.0, -1.0])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cross_entropy_is_finite_for_huge_logits(sign, dtype):
    x = giagrad.tensor(np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4], [1e4, 1e4, -1e4]], dtype=dtype) * sign,
                       requires_grad=True)
    target = giagrad.tensor([1, 0, 2])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss = F.cross_entropy(x, target, label_smoothing=0.1)
        loss.backward()
    assert np.isfinite(loss.item()) and np.all(np.isfinite(x.grad))
    if sign > 0:  # every target is on the losing side by 1e4 or more
        assert loss.item() > 1e3
    np.testing.assert_allclose(x.grad.sum(axis=1), 0.0, atol=1e-6)  # softmax - q sums to zero per row


def test_cross_entropy_of_a_perfect_prediction_is_zero():
    x = giagrad.tensor([[1e4, 0.0, 0.0]], requires_grad=True)
    loss = F.cross_entropy(x, giagrad.tensor([0]))
    loss.backward()
    assert loss.item() == 0.0 and np.all(x.grad == 0)


def test_bce_with_logits_is_finite_for_huge_logits():
    x = giagrad.tensor([1e4, -1e4, 1e4, -1e4], requires_grad=True)
    y = giagrad.tensor([1.0, 0.0, 0.0, 1.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss = F.binary_cross_entropy_with_logits(x, y, reduction="none", pos_weight=giagrad.tensor(2.0))
        loss.sum().backward()
    np.testing.assert_allclose(loss.data, [0.0, 0.0, 1e4, 2e4])
    np.testing.assert_allclose(x.grad, [0.0, 0.0, 1.0, -2.0])


def test_cross_entropy_equals_nll_of_log_softmax():
    x = t64(seeded(17).standard_normal((3, 5, 2)), requires_grad=True)
    target = class_indices((3, 2), 5, ignore_index=-100)
    weight = t64(seeded(18).random(5) + 0.5)
    fused = F.cross_entropy(x, target, weight=weight)
    composed = F.nll_loss(F.log_softmax(x, dim=1), target, weight=weight)
    np.testing.assert_allclose(fused.data, composed.data, rtol=1e-12)


def test_cross_entropy_of_one_hot_probabilities_equals_class_indices():
    x = t64(seeded(19).standard_normal((6, 4)))
    target = class_indices((6,), 4)
    as_probabilities = F.one_hot(target, 4).astype(np.float64)
    np.testing.assert_allclose(F.cross_entropy(x, as_probabilities, label_smoothing=0.2).data,
                               F.cross_entropy(x, target, label_smoothing=0.2).data, rtol=1e-12)


def test_mean_with_every_target_ignored_is_nan_with_zero_gradient():
    # as PyTorch: 0 / 0 for the loss; no target, so no gradient
    x = giagrad.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    loss = F.cross_entropy(x, giagrad.tensor([-100, -100]))
    assert np.isnan(loss.item())
    loss.backward()
    np.testing.assert_array_equal(x.grad, 0.0)


def test_ignored_rows_are_never_read():
    # nan logits where the target is ignored (e.g. padding) leak into neither loss nor gradient
    x = giagrad.tensor([[np.nan, np.nan, np.nan], [0.5, 1.0, -1.0]], requires_grad=True)
    target = giagrad.tensor([-100, 1])
    loss = F.cross_entropy(x, target, weight=giagrad.tensor([1.0, 2.0, 3.0]), label_smoothing=0.2)
    loss.backward()
    assert np.isfinite(loss.item())
    np.testing.assert_array_equal(x.grad[0], 0.0)
    assert np.all(np.isfinite(x.grad))


def test_nll_loss_reads_only_the_target_entries():
    x = giagrad.tensor([[-np.inf, -0.5], [-0.1, np.nan]], requires_grad=True)
    assert F.nll_loss(x, giagrad.tensor([1, 0])).item() == pytest.approx(0.3)


LOSSES_FOR_DTYPE = {
    "cross_entropy": lambda x: F.cross_entropy(x, giagrad.tensor([0, 2, 1]),
                                               weight=giagrad.tensor([1.0, 2.0, 0.5, 1.0]), label_smoothing=0.1),
    "cross_entropy_probabilities": lambda x: F.cross_entropy(x, giagrad.full((3, 4), 0.25)),
    "nll_loss": lambda x: F.nll_loss(x, giagrad.tensor([0, 2, 1]), weight=giagrad.tensor([1.0, 2.0, 0.5, 1.0])),
    "mse_loss": lambda x: F.mse_loss(x, giagrad.zeros(3, 4)),
    "l1_loss": lambda x: F.l1_loss(x, giagrad.zeros(3, 4)),
    "smooth_l1_loss": lambda x: F.smooth_l1_loss(x, giagrad.zeros(3, 4), beta=0.5),
    "huber_loss": lambda x: F.huber_loss(x, giagrad.zeros(3, 4), delta=0.5),
    "bce": lambda x: F.binary_cross_entropy(x.sigmoid(), giagrad.ones(3, 4), weight=giagrad.full((4,), 2.0)),
    "bce_with_logits": lambda x: F.binary_cross_entropy_with_logits(x, giagrad.ones(3, 4), weight=giagrad.ones(4),
                                                                    pos_weight=giagrad.full((4,), 2.0)),
    "kl_div": lambda x: F.kl_div(F.log_softmax(x, 1), giagrad.full((3, 4), 0.25), reduction="batchmean"),
}


@pytest.mark.parametrize("name", LOSSES_FOR_DTYPE)
def test_float32_stays_float32_even_with_float64_targets_and_weights(name):
    x = giagrad.randn(3, 4, requires_grad=True)
    loss = LOSSES_FOR_DTYPE[name](x)
    assert loss.dtype == np.float32
    loss.backward()
    assert x.grad.dtype == np.float32
    # a float64 target or weight does not promote the loss either
    assert F.mse_loss(x, t64(np.zeros((3, 4)))).dtype == np.float32
    assert F.cross_entropy(x, giagrad.tensor([0, 1, 2]), weight=t64(np.ones(4))).dtype == np.float32


def test_one_hot():
    out = F.one_hot(giagrad.tensor([[0, 2], [1, 1]]))
    assert out.dtype == np.int64 and out.shape == (2, 2, 3) and not out.requires_grad
    np.testing.assert_array_equal(out.data, [[[1, 0, 0], [0, 0, 1]], [[0, 1, 0], [0, 1, 0]]])
    assert F.one_hot(giagrad.tensor([1]), num_classes=4).tolist() == [[0, 1, 0, 0]]
    assert F.one_hot(giagrad.tensor(np.zeros(0, dtype=np.int64)), num_classes=2).shape == (0, 2)


# --------------------------------------------------------------------------------------- errors

X = giagrad.randn(4, 3)
ERROR_CASES = [
    (lambda: F.cross_entropy(X, giagrad.tensor([[0], [1], [2], [0]])), ValueError,
     r"cross_entropy: expected a class-index target of shape \(4,\) for input of shape \(4, 3\).* got \(4, 1\)"),
    (lambda: F.cross_entropy(X, giagrad.tensor([0.0, 1.0, 2.0, 0.0])), TypeError,
     r"cross_entropy: target of shape \(4,\) has the shape of class indices but dtype float32"),
    (lambda: F.cross_entropy(X, giagrad.zeros(4, 5)), ValueError,
     r"cross_entropy: target of shape \(4, 5\) fits input of shape \(4, 3\) neither as class indices"),
    (lambda: F.cross_entropy(X, giagrad.tensor([0, 1, 3, 0])), IndexError,
     r"cross_entropy: target class index 3 is out of range for 3 classes \(input shape \(4, 3\)\)"),
    (lambda: F.cross_entropy(X, giagrad.tensor([0, -1, 2, 0])), IndexError,
     r"cross_entropy: target class index -1 is out of range.*ignore_index=-100"),
    (lambda: F.cross_entropy(X, giagrad.tensor([True, False, True, True])), TypeError,
     r"cross_entropy: target must hold integer class indices or floating class probabilities, got dtype bool"),
    (lambda: F.cross_entropy(X, giagrad.tensor([0, 1, 2, 0]), weight=giagrad.ones(4)), ValueError,
     r"cross_entropy: weight must have shape \(3,\) for input of shape \(4, 3\), got \(4,\)"),
    (lambda: F.cross_entropy(X, giagrad.tensor([0, 1, 2, 0]), label_smoothing=1.5), ValueError,
     r"cross_entropy: label_smoothing must be in \[0, 1\]"),
    (lambda: F.cross_entropy(X, giagrad.tensor([0, 1, 2, 0]), reduction="avg"), ValueError,
     r"cross_entropy: reduction must be one of 'mean', 'sum', 'none', got 'avg'"),
    (lambda: F.cross_entropy(giagrad.tensor(1.0), giagrad.tensor(0)), ValueError,
     r"cross_entropy: input must have a class dimension"),
    (lambda: F.cross_entropy(giagrad.tensor([[1, 2]]), giagrad.tensor([0])), TypeError,
     r"cross_entropy: input must be a floating point tensor"),
    (lambda: F.cross_entropy(giagrad.randn(2, 3, 4), giagrad.tensor([0, 1])), ValueError,
     r"expected a class-index target of shape \(2, 4\) for input of shape \(2, 3, 4\)"),
    (lambda: F.nll_loss(X, giagrad.tensor([0.0, 1.0, 2.0, 0.0])), TypeError,
     r"nll_loss: target must be an integer tensor of class indices, got dtype float32"),
    (lambda: F.nll_loss(X, giagrad.tensor([0, 1, 7, 0]), ignore_index=7), None, None),
    (lambda: F.nll_loss(X, giagrad.tensor([0, 1, 8, 0]), ignore_index=7), IndexError,
     r"nll_loss: target class index 8 is out of range for 3 classes"),
    (lambda: F.mse_loss(X, giagrad.zeros(4, 1)), ValueError,
     r"mse_loss: target of shape \(4, 1\) does not match input of shape \(4, 3\)"),
    (lambda: F.l1_loss(giagrad.zeros(4), giagrad.zeros(4, 1)), ValueError, r"l1_loss: target of shape \(4, 1\)"),
    (lambda: F.smooth_l1_loss(X, X, beta=-1.0), ValueError, r"smooth_l1_loss: beta must be non-negative"),
    (lambda: F.huber_loss(X, X, delta=0.0), ValueError, r"huber_loss: delta must be positive"),
    (lambda: F.binary_cross_entropy(X, X), ValueError,
     r"binary_cross_entropy: input must hold probabilities in \[0, 1\].*binary_cross_entropy_with_logits"),
    (lambda: F.binary_cross_entropy(giagrad.tensor([0.5, np.nan]), giagrad.zeros(2)), ValueError,
     r"binary_cross_entropy: input must hold probabilities"),
    (lambda: F.binary_cross_entropy(X.sigmoid(), X, weight=giagrad.ones(4)), ValueError,
     r"binary_cross_entropy: weight of shape \(4,\) does not broadcast to the input's shape \(4, 3\)"),
    (lambda: F.binary_cross_entropy_with_logits(X, X, pos_weight=giagrad.ones(2)), ValueError,
     r"binary_cross_entropy_with_logits: pos_weight of shape \(2,\) does not broadcast"),
    (lambda: F.binary_cross_entropy_with_logits(X, giagrad.zeros(3)), ValueError,
     r"binary_cross_entropy_with_logits: target of shape \(3,\) does not match input of shape \(4, 3\)"),
    (lambda: F.kl_div(X, X, reduction="batch"), ValueError,
     r"kl_div: reduction must be one of 'mean', 'batchmean', 'sum', 'none'"),
    (lambda: F.one_hot(giagrad.tensor([0, 3]), num_classes=3), IndexError,
     r"one_hot: class values must be in \[0, 3\), got values from 0 to 3"),
    (lambda: F.one_hot(giagrad.tensor([-1, 0])), IndexError, r"one_hot: class values must be in"),
    (lambda: F.one_hot(giagrad.tensor([0.0, 1.0])), TypeError, r"one_hot: expected an integer tensor"),
    (lambda: F.one_hot(giagrad.tensor(np.zeros(0, dtype=np.int64))), ValueError, r"one_hot: cannot infer"),
    (lambda: nn.CrossEntropyLoss(reduction="avg"), ValueError, r"CrossEntropyLoss: reduction must be one of"),
    (lambda: nn.KLDivLoss(reduction="batch"), ValueError, r"KLDivLoss: reduction must be one of"),
    (lambda: nn.CrossEntropyLoss(label_smoothing=-0.1), ValueError, r"CrossEntropyLoss: label_smoothing"),
    (lambda: nn.HuberLoss(delta=-1.0), ValueError, r"HuberLoss: delta must be positive"),
]


@pytest.mark.parametrize(("make", "error", "message"), ERROR_CASES)
def test_bad_arguments_get_clear_errors(make, error, message):
    if error is None:  # a valid call beside the invalid ones
        make()
        return
    with pytest.raises(error, match=message):
        make()


# -------------------------------------------------------------------------------------- modules

MODULE_CASES = [
    (nn.MSELoss(reduction="sum"), lambda x, t: F.mse_loss(x, t, reduction="sum"), "float"),
    (nn.L1Loss(), F.l1_loss, "float"),
    (nn.SmoothL1Loss(beta=0.5), lambda x, t: F.smooth_l1_loss(x, t, beta=0.5), "float"),
    (nn.HuberLoss(reduction="none", delta=0.5), lambda x, t: F.huber_loss(x, t, reduction="none", delta=0.5), "float"),
    (nn.CrossEntropyLoss(weight=giagrad.tensor([1.0, 2.0, 3.0]), ignore_index=1, label_smoothing=0.1),
     lambda x, t: F.cross_entropy(x, t, weight=giagrad.tensor([1.0, 2.0, 3.0]), ignore_index=1, label_smoothing=0.1),
     "index"),
    (nn.NLLLoss(reduction="sum"), lambda x, t: F.nll_loss(x, t, reduction="sum"), "index"),
    (nn.BCELoss(weight=giagrad.tensor([1.0, 2.0, 3.0])),
     lambda x, t: F.binary_cross_entropy(x, t, weight=giagrad.tensor([1.0, 2.0, 3.0])), "probability"),
    (nn.BCEWithLogitsLoss(pos_weight=giagrad.tensor([1.0, 2.0, 3.0])),
     lambda x, t: F.binary_cross_entropy_with_logits(x, t, pos_weight=giagrad.tensor([1.0, 2.0, 3.0])), "float"),
    (nn.KLDivLoss(reduction="batchmean", log_target=True),
     lambda x, t: F.kl_div(x, t, reduction="batchmean", log_target=True), "float"),
]


@pytest.mark.parametrize(("module", "function", "target_kind"), MODULE_CASES,
                         ids=[type(m).__name__ for m, _, _ in MODULE_CASES])
def test_loss_modules_call_their_function(module, function, target_kind):
    x = giagrad.rand(4, 3)
    target = {"float": giagrad.randn(4, 3), "probability": giagrad.rand(4, 3), "index": giagrad.tensor([0, 1, 2, 1])}
    np.testing.assert_array_equal(module(x, target[target_kind]).data, function(x, target[target_kind]).data)
    assert repr(module) == f"{type(module).__name__}()"  # as PyTorch prints losses
    assert list(module.parameters()) == []


def test_loss_weights_are_buffers_that_follow_the_dtype():
    loss_fn = nn.BCEWithLogitsLoss(weight=giagrad.ones(3), pos_weight=giagrad.full((3,), 2.0))
    assert list(loss_fn.state_dict()) == ["weight", "pos_weight"]
    loss_fn.double()
    assert loss_fn.pos_weight.dtype == np.float64
    assert "weight" not in nn.CrossEntropyLoss().state_dict()  # None buffers are not saved


def test_a_training_step_with_cross_entropy_loss():
    giagrad.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))
    loss_fn = nn.CrossEntropyLoss()
    x, y = giagrad.randn(32, 4), giagrad.tensor(np.arange(32) % 3)
    loss = loss_fn(model(x), y)
    loss.backward()
    assert all(p.grad is not None and p.grad.dtype == np.float32 for p in model.parameters())


# ------------------------------------------------------------- generated cases against a reference


def reference_cross_entropy(x, target, weight, ignore_index, label_smoothing, reduction):
    """PyTorch's definition, written plainly: one row (sample, position) at a time."""
    classes = x.shape[1] if x.ndim > 1 else x.shape[0]
    rows = np.moveaxis(x, 1, -1).reshape(-1, classes) if x.ndim > 1 else x[None]
    weight = np.ones(classes) if weight is None else weight
    if target.dtype.kind == "f":
        targets = np.moveaxis(target, 1, -1).reshape(-1, classes) if x.ndim > 1 else target[None]
    else:
        targets = target.reshape(-1)
    losses, divisor = [], 0.0
    for i, row in enumerate(rows):
        log_p = row - row.max() - np.log(np.exp(row - row.max()).sum())
        if target.dtype.kind == "f":
            q = targets[i] * (1 - label_smoothing) + label_smoothing / classes
            losses.append(-(weight * q * log_p).sum())
            divisor += 1
        elif targets[i] == ignore_index:
            losses.append(0.0)
        else:
            t = targets[i]
            smooth = -(weight * log_p).sum() / classes
            losses.append((1 - label_smoothing) * -weight[t] * log_p[t] + label_smoothing * smooth)
            divisor += weight[t]
    losses = np.array(losses)
    if reduction == "none":
        return losses.reshape(x.shape[:1] + x.shape[2:] if x.ndim > 1 else ())
    if reduction == "sum":
        return losses.sum()
    with np.errstate(invalid="ignore"):  # every target ignored: 0 / 0 = nan, as in PyTorch
        return losses.sum() / divisor


@settings(max_examples=60, deadline=None)
@given(
    shape=st.sampled_from([(3, 4), (1, 2), (4,), (2, 3, 2), (2, 2, 1, 3)]),
    probabilities_target=st.booleans(),
    weighted=st.booleans(),
    ignore_index=st.sampled_from([-100, 0, 1]),
    label_smoothing=st.sampled_from([0.0, 0.1, 1.0]),
    reduction=st.sampled_from(["mean", "sum", "none"]),
    seed=st.integers(0, 2**16),
)
def test_cross_entropy_matches_a_plain_reference(shape, probabilities_target, weighted, ignore_index,
                                                 label_smoothing, reduction, seed):
    rng = seeded(seed)
    classes = shape[1] if len(shape) > 1 else shape[0]
    x = rng.standard_normal(shape) * 3
    if probabilities_target:
        target = rng.random(shape)
        target /= target.sum(axis=1 if len(shape) > 1 else 0, keepdims=True)
    else:
        target = rng.integers(0, classes, size=shape[:1] + shape[2:] if len(shape) > 1 else ())
        target = np.where(rng.random(target.shape) < 0.25, ignore_index, target)
    weight = rng.random(classes) + 0.25 if weighted else None
    got = F.cross_entropy(t64(x), giagrad.tensor(target), weight=None if weight is None else t64(weight),
                          ignore_index=ignore_index, label_smoothing=label_smoothing, reduction=reduction)
    expected = reference_cross_entropy(x, np.asarray(target), weight, ignore_index, label_smoothing, reduction)
    np.testing.assert_allclose(got.data, expected, rtol=1e-10, atol=1e-12)
