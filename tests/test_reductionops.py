"""Reductions: values against numpy, gradients by gradcheck, ties, zeros, dtypes and errors."""

import math

import numpy as np
import pytest

import giagrad
from giagrad import Tensor

RNG = np.random.default_rng(7)


@pytest.fixture
def leaf(laid_out_leaf):
    """``leaf(shape, layout, dtype, low, high)``: uniform values in a contiguous, transposed or strided array."""
    return lambda shape, layout="contiguous", dtype=np.float64, low=-2.0, high=2.0: laid_out_leaf(
        lambda size: RNG.uniform(low, high, size), shape, layout, dtype)


# name, function of the tensor, numpy reference, input shape
CASES = [
    ("sum", lambda t: t.sum(), lambda a: a.sum(), (3, 4)),
    ("sum dim keepdim", lambda t: t.sum(1, keepdim=True), lambda a: a.sum(1, keepdims=True), (3, 4)),
    ("mean tuple", lambda t: t.mean((0, 2)), lambda a: a.mean((0, 2)), (2, 3, 4)),
    ("max", lambda t: t.max(), lambda a: a.max(), (3, 4)),
    ("min", lambda t: t.min(), lambda a: a.min(), (3, 4)),
    ("max dim", lambda t: t.max(1).values, lambda a: a.max(1), (3, 4)),
    ("max dim keepdim", lambda t: t.max(-1, keepdim=True)[0], lambda a: a.max(-1, keepdims=True), (3, 4)),
    ("min dim", lambda t: t.min(0).values, lambda a: a.min(0), (3, 4)),
    ("amax", lambda t: t.amax(), lambda a: a.max(), (3, 4)),
    ("amax tuple", lambda t: t.amax((0, -1)), lambda a: a.max((0, 2)), (2, 3, 4)),
    ("amax keepdim", lambda t: t.amax(1, keepdim=True), lambda a: a.max(1, keepdims=True), (3, 4)),
    ("amin negative dim", lambda t: t.amin(-2), lambda a: a.min(-2), (3, 4)),
    ("var", lambda t: t.var(), lambda a: a.var(ddof=1), (3, 4)),
    ("var dim", lambda t: t.var(1), lambda a: a.var(1, ddof=1), (3, 4)),
    ("var unbiased=False", lambda t: t.var(0, unbiased=False, keepdim=True),
     lambda a: a.var(0, ddof=0, keepdims=True), (3, 4)),
    ("var correction=2 tuple", lambda t: t.var((0, 2), correction=2), lambda a: a.var((0, 2), ddof=2), (2, 3, 4)),
    ("std", lambda t: t.std(), lambda a: a.std(ddof=1), (3, 4)),
    ("std dim keepdim", lambda t: t.std(-1, keepdim=True), lambda a: a.std(-1, ddof=1, keepdims=True), (3, 4)),
    ("std correction=0", lambda t: t.std(0, correction=0), lambda a: a.std(0), (3, 4)),
    ("prod", lambda t: t.prod(), lambda a: a.prod(), (2, 3)),
    ("prod dim", lambda t: t.prod(1), lambda a: a.prod(1), (3, 4)),
    ("prod tuple keepdim", lambda t: t.prod((0, 2), keepdim=True), lambda a: a.prod((0, 2), keepdims=True),
     (2, 3, 2)),
    ("logsumexp", lambda t: t.logsumexp(), lambda a: np.log(np.exp(a).sum()), (3, 4)),
    ("logsumexp dim", lambda t: t.logsumexp(1), lambda a: np.log(np.exp(a).sum(1)), (3, 4)),
    ("logsumexp tuple keepdim", lambda t: t.logsumexp((0, 1), keepdim=True),
     lambda a: np.log(np.exp(a).sum((0, 1), keepdims=True)), (2, 3, 4)),
    ("norm", lambda t: t.norm(), lambda a: np.sqrt((a * a).sum()), (3, 4)),
    ("norm fro dim", lambda t: t.norm("fro", dim=1), lambda a: np.sqrt((a * a).sum(1)), (3, 4)),
    ("norm p=1", lambda t: t.norm(1, dim=0), lambda a: np.abs(a).sum(0), (3, 4)),
    ("norm p=3", lambda t: t.norm(3, dim=-1, keepdim=True),
     lambda a: (np.abs(a) ** 3).sum(-1, keepdims=True) ** (1 / 3), (3, 4)),
    ("norm p=inf", lambda t: t.norm(math.inf, dim=1), lambda a: np.abs(a).max(1), (3, 4)),
    ("norm p=-inf", lambda t: t.norm(-math.inf), lambda a: np.abs(a).min(), (3, 4)),
    ("norm tuple", lambda t: t.norm(dim=(0, 2)), lambda a: np.sqrt((a * a).sum((0, 2))), (2, 3, 4)),
    ("cumsum", lambda t: t.cumsum(1), lambda a: a.cumsum(1), (3, 4)),
    ("cumsum negative dim", lambda t: t.cumsum(-3), lambda a: a.cumsum(0), (2, 3, 4)),
]
IDS = [c[0] for c in CASES]


@pytest.mark.parametrize("name, fn, reference, shape", CASES, ids=IDS)
@pytest.mark.parametrize("layout", ["contiguous", "transposed", "strided"])
def test_gradcheck(leaf, name, fn, reference, shape, layout):
    x = leaf(shape, layout)
    np.testing.assert_allclose(fn(x).data, reference(x.data), rtol=1e-10, atol=1e-12)
    assert giagrad.gradcheck(fn, [x])


@pytest.mark.parametrize("name, fn, reference, shape", CASES, ids=IDS)
def test_float32_in_float32_out_and_grads(leaf, check_float32_grads, name, fn, reference, shape):
    x = leaf(shape, dtype=np.float32)
    out = fn(x)
    check_float32_grads(out, [x])
    np.testing.assert_allclose(out.data, reference(x.data.astype(np.float64)), rtol=1e-5, atol=1e-6)


def test_reductions_through_a_transposed_graph_input(leaf):
    x = leaf((4, 3))
    assert giagrad.gradcheck(lambda t: t.T.amax(1) * t.T.logsumexp(0).sum(), [x])
    assert giagrad.gradcheck(lambda t: t[::2].T.prod(0), [x])


# ---------------------------------------------------------------------------------- ties


def test_max_without_dim_splits_the_gradient_evenly_among_ties():
    x = giagrad.tensor([[1.0, 3.0, 3.0], [3.0, 0.0, 2.0]], requires_grad=True)
    x.max().backward()
    np.testing.assert_allclose(x.grad, [[0, 1 / 3, 1 / 3], [1 / 3, 0, 0]], rtol=1e-6)
    x.grad = None
    x.min().backward()
    np.testing.assert_allclose(x.grad, [[0, 0, 0], [0, 1, 0]])


def test_amax_over_dims_splits_ties_within_each_slice():
    x = giagrad.tensor([[5.0, 5.0, 1.0], [2.0, 2.0, 2.0]], requires_grad=True)
    x.amax(1).backward(np.array([1.0, 3.0], dtype=np.float32))
    np.testing.assert_allclose(x.grad, [[0.5, 0.5, 0], [1, 1, 1]], rtol=1e-6)
    x.grad = None
    x.amin(0).sum().backward()
    np.testing.assert_allclose(x.grad, [[0, 0, 1], [1, 1, 0]])


def test_max_along_a_dim_routes_the_gradient_to_the_returned_index():
    x = giagrad.tensor([[5.0, 5.0, 1.0], [2.0, 2.0, 2.0]], requires_grad=True)
    values, indices = x.max(dim=1)
    np.testing.assert_array_equal(indices.data, [0, 0])
    assert indices.dtype == np.int64 and not indices.requires_grad
    values.sum().backward()
    np.testing.assert_allclose(x.grad, [[1, 0, 0], [1, 0, 0]])
    x.grad = None
    values, indices = x.min(dim=0, keepdim=True)
    assert values.shape == (1, 3) and indices.shape == (1, 3)
    values.sum().backward()
    np.testing.assert_allclose(x.grad, [[0, 0, 1], [1, 1, 0]])


def test_max_along_a_dim_returns_a_named_tuple_and_max_of_a_tensor_is_maximum():
    x = giagrad.tensor([[1.0, 4.0], [3.0, 2.0]])
    result = x.max(0)
    assert type(result).__name__ == "ValuesIndices" and result._fields == ("values", "indices")
    np.testing.assert_array_equal(result.values.data, [3, 4])
    np.testing.assert_array_equal(x.max(giagrad.tensor([2.0, 2.0])).data, [[2, 4], [3, 2]])
    np.testing.assert_array_equal(x.min(giagrad.tensor(2.0)).data, [[1, 2], [2, 2]])
    assert x.max().item() == 4 and x.max().shape == ()


def test_norm_inf_splits_ties_between_opposite_signs():
    x = giagrad.tensor([-3.0, 3.0, 1.0], requires_grad=True)
    x.norm(math.inf).backward()
    np.testing.assert_allclose(x.grad, [-0.5, 0.5, 0])


# --------------------------------------------------------------------------- edge values


@pytest.mark.parametrize("p", [2, 1, 3, math.inf, "fro"])
def test_norm_of_a_zero_vector_has_zero_gradient(p):
    x = giagrad.zeros(4, dtype="float64", requires_grad=True)
    x.norm(p).backward()
    np.testing.assert_array_equal(x.grad, np.zeros(4))
    rows = giagrad.tensor(np.array([[0.0, 0.0], [3.0, 4.0]]), requires_grad=True)
    rows.norm(p, dim=1).sum().backward()
    assert np.all(np.isfinite(rows.grad)) and np.all(rows.grad[0] == 0)


def test_norm_p0_counts_non_zeros_with_zero_gradient():
    x = giagrad.tensor([0.0, 2.0, -1.0], requires_grad=True)
    out = x.norm(0)
    assert out.item() == 2
    out.backward()
    np.testing.assert_array_equal(x.grad, np.zeros(3))


@pytest.mark.parametrize("values, expected", [
    ([2.0, 3.0, 4.0], [12.0, 8.0, 6.0]),
    ([2.0, 0.0, 4.0], [0.0, 8.0, 0.0]),      # one zero: only it gets the product of the others
    ([0.0, 3.0, 0.0], [0.0, 0.0, 0.0]),      # two zeros: every partial product contains a zero
    ([0.0], [1.0]),
])
def test_prod_gradient_is_exact_with_zeros(values, expected):
    x = giagrad.tensor(values, dtype="float64", requires_grad=True)
    x.prod().backward()
    np.testing.assert_array_equal(x.grad, expected)


def test_prod_gradcheck_with_zeros_along_a_dim():
    x = Tensor(np.array([[0.0, 2.0, 3.0], [1.5, 0.0, 0.0], [1.0, -2.0, 0.5]]), requires_grad=True)
    assert giagrad.gradcheck(lambda t: t.prod(1), [x])
    assert giagrad.gradcheck(lambda t: t.prod(0, keepdim=True), [x])


def test_logsumexp_of_large_logits_is_finite_with_softmax_gradient():
    x = giagrad.tensor([[1000.0, 1000.0, -1000.0], [-1e3, 0.0, 1e3]], requires_grad=True)
    out = x.logsumexp(1)
    np.testing.assert_allclose(out.data, [1000 + math.log(2), 1000], rtol=1e-6)
    out.sum().backward()
    np.testing.assert_allclose(x.grad, [[0.5, 0.5, 0], [0, 0, 1]], atol=1e-7)
    big = Tensor(np.array([[1e3, 999.0, -1e3]]), requires_grad=True)
    assert giagrad.gradcheck(lambda t: t.logsumexp(1), [big])


def test_logsumexp_of_minus_infinity_or_nothing_is_minus_infinity():
    x = giagrad.tensor([[-math.inf, -math.inf], [0.0, -math.inf]])
    np.testing.assert_array_equal(x.logsumexp(1).data, [-math.inf, 0.0])
    np.testing.assert_array_equal(giagrad.zeros(2, 0).logsumexp(1).data, [-math.inf, -math.inf])


def test_reductions_over_an_empty_dim():
    x = giagrad.zeros(2, 0, requires_grad=True)
    np.testing.assert_array_equal(x.prod(1).data, [1, 1])
    np.testing.assert_array_equal(x.norm(dim=1).data, [0, 0])
    (x.prod(1).sum() + x.norm(dim=1).sum() + x.sum()).backward()
    assert x.grad.shape == (2, 0)


def test_std_of_a_constant_has_zero_gradient_like_pytorch():
    x = giagrad.ones(2, 3, dtype="float64", requires_grad=True)
    out = x.std(1)
    np.testing.assert_array_equal(out.data, [0, 0])
    out.sum().backward()
    np.testing.assert_array_equal(x.grad, np.zeros((2, 3)))


def test_var_with_correction_at_least_the_count_is_inf_or_nan():
    x = giagrad.tensor([1.0, 2.0])
    assert math.isinf(x.var(correction=2).item())
    assert math.isnan(giagrad.tensor([1.0]).var().item())


def test_reductions_of_a_zero_dim_tensor():
    x = giagrad.tensor(3.0, requires_grad=True)
    assert x.sum().item() == 3 and x.amax(0).item() == 3 and x.cumsum(0).shape == ()
    values, indices = x.max(0)
    assert values.item() == 3 and indices.item() == 0
    values.backward()
    assert x.grad == 1


def test_argmax_argmin():
    x = giagrad.tensor([[1.0, 9.0, 9.0], [7.0, 2.0, 0.0]])
    assert x.argmax().item() == 1 and x.argmin().item() == 5
    assert x.argmax().dtype == np.int64
    np.testing.assert_array_equal(x.argmax(1).data, [1, 0])
    np.testing.assert_array_equal(x.argmin(-1, keepdim=True).data, [[0], [2]])
    assert x.argmax(0).dtype == np.int64


def test_cumsum_of_integers_and_bools():
    np.testing.assert_array_equal(giagrad.tensor([1, 2, 3]).cumsum(0).data, [1, 3, 6])
    np.testing.assert_array_equal((giagrad.tensor([1.0, -1.0, 2.0]) > 0).cumsum(0).data, [1, 1, 2])


# -------------------------------------------------------------------------------- errors


@pytest.mark.parametrize("call, error, pattern", [
    (lambda x: x.amax(2), IndexError, r"amax: dim 2 .* 2 dims"),
    (lambda x: x.max(-3), IndexError, "max: dim -3"),
    (lambda x: x.min(5), IndexError, "min"),
    (lambda x: x.argmax(2), IndexError, "argmax"),
    (lambda x: x.var((0, 4)), IndexError, "var"),
    (lambda x: x.std(3), IndexError, "std"),
    (lambda x: x.prod(2), IndexError, "prod"),
    (lambda x: x.logsumexp(-3), IndexError, "logsumexp"),
    (lambda x: x.norm(dim=2), IndexError, "norm"),
    (lambda x: x.cumsum(2), IndexError, "cumsum"),
    (lambda x: x.amax((0, 0)), ValueError, "amax: dim .* repeats"),
    (lambda x: x.max(1.5), TypeError, "max: dim must be an integer"),
    (lambda x: x.norm("nuc"), ValueError, "norm: p"),
    (lambda x: x.var(0, unbiased=True, correction=0), ValueError, "var: give either"),
    (lambda x: giagrad.tensor([1, 2]).var(), TypeError, "var: input must be a floating"),
    (lambda x: giagrad.tensor([1, 2]).logsumexp(), TypeError, "logsumexp"),
    (lambda x: giagrad.zeros(0).amax(), ValueError, r"Amax.*\(0,\)"),
    (lambda x: giagrad.zeros(0, 3).max(0), IndexError, r"max: .*size 0"),
    (lambda x: giagrad.zeros(0).argmax(), ValueError, "argmax"),
])
def test_errors_name_the_op(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call(giagrad.ones(2, 3))
