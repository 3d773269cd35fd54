"""Elementwise ops, matmul and einsum: values, gradients (gradcheck), edge values, dtypes, errors."""

import numpy as np
import pytest

import giagrad
from giagrad import Tensor

RNG = np.random.default_rng(3)


@pytest.fixture
def leaf(laid_out_leaf):
    """``leaf(shape, layout, dtype, low, high)``: uniform values in a contiguous, transposed or strided array."""
    return lambda shape, layout="contiguous", dtype=np.float64, low=-2.0, high=2.0: laid_out_leaf(
        lambda size: RNG.uniform(low, high, size), shape, layout, dtype)


def sigmoid(a):
    return 1 / (1 + np.exp(-a))


# name, function, numpy reference, input shapes, lowest input value (domain of log, sqrt, ...)
CASES = [
    ("add", lambda x, y: x + y, np.add, [(3, 4), (3, 4)], -2),
    ("add broadcast", lambda x, y: x + y, np.add, [(3, 1), (4,)], -2),
    ("sub broadcast", lambda x, y: x - y, np.subtract, [(2, 1, 4), (3, 1)], -2),
    ("mul broadcast", lambda x, y: x * y, np.multiply, [(3, 1), (4,)], -2),
    ("div broadcast", lambda x, y: x / y, np.divide, [(4,), (3, 1)], 0.5),
    ("pow tensor", lambda x, y: x ** y, np.power, [(3, 1), (4,)], 0.5),
    ("pow scalar", lambda x: x ** 3, lambda a: a ** 3, [(3, 4)], -2),
    ("pow fractional", lambda x: x ** 0.5, np.sqrt, [(3, 4)], 0.5),
    ("radd", lambda x: 2.0 + x, lambda a: 2 + a, [(3,)], -2),
    ("rsub", lambda x: 2.0 - x, lambda a: 2 - a, [(3,)], -2),
    ("rmul", lambda x: 3 * x, lambda a: 3 * a, [(3,)], -2),
    ("rdiv", lambda x: 2.0 / x, lambda a: 2 / a, [(3,)], 0.5),
    ("rpow", lambda x: 2.0 ** x, lambda a: 2 ** a, [(3,)], -2),
    ("neg", lambda x: -x, np.negative, [(3, 4)], -2),
    ("exp", lambda x: x.exp(), np.exp, [(3, 4)], -2),
    ("log", lambda x: x.log(), np.log, [(3, 4)], 0.5),
    ("log1p", lambda x: x.log1p(), np.log1p, [(3, 4)], -0.5),
    ("sqrt", lambda x: x.sqrt(), np.sqrt, [(3, 4)], 0.1),
    ("abs", lambda x: x.abs(), np.abs, [(3, 4)], -2),
    ("sin", lambda x: x.sin(), np.sin, [(3, 4)], -2),
    ("cos", lambda x: x.cos(), np.cos, [(3, 4)], -2),
    ("tanh", lambda x: x.tanh(), np.tanh, [(3, 4)], -2),
    ("sigmoid", lambda x: x.sigmoid(), sigmoid, [(3, 4)], -2),
    ("relu", lambda x: x.relu(), lambda a: np.maximum(a, 0), [(3, 4)], -2),
    ("reciprocal", lambda x: x.reciprocal(), np.reciprocal, [(3, 4)], 0.5),
    ("square", lambda x: x.square(), np.square, [(3, 4)], -2),
    ("clamp", lambda x: x.clamp(-0.5, 0.7), lambda a: np.clip(a, -0.5, 0.7), [(3, 4)], -2),
    ("clamp min only", lambda x: giagrad.clamp(x, min=0.1), lambda a: np.maximum(a, 0.1), [(3, 4)], -2),
    ("maximum broadcast", giagrad.maximum, np.maximum, [(3, 1), (4,)], -2),
    ("minimum broadcast", giagrad.minimum, np.minimum, [(4,), (3, 1)], -2),
    ("maximum method", lambda x, y: x.maximum(y), np.maximum, [(3, 4), (3, 4)], -2),
    ("where", lambda x, y: giagrad.where(x.detach() > y.detach(), x, y), lambda a, b: np.where(a > b, a, b),
     [(3, 1), (4,)], -2),
    ("where scalar", lambda x: giagrad.where(x.detach() > 0, x, 0.0), lambda a: np.where(a > 0, a, 0),
     [(3, 4)], -2),
    ("where method", lambda x, y: x.where(y.detach() > 0, y), lambda a, b: np.where(b > 0, a, b), [(3, 4), (4,)], -2),
    ("matmul 2d", lambda x, y: x @ y, np.matmul, [(3, 4), (4, 2)], -2),
    ("matmul 1d 1d", lambda x, y: x @ y, np.matmul, [(4,), (4,)], -2),
    ("matmul 1d 2d", lambda x, y: x @ y, np.matmul, [(4,), (4, 2)], -2),
    ("matmul 2d 1d", lambda x, y: x.matmul(y), np.matmul, [(3, 4), (4,)], -2),
    ("matmul batched", lambda x, y: x @ y, np.matmul, [(2, 3, 4), (2, 4, 2)], -2),
    ("matmul broadcast batch", lambda x, y: x @ y, np.matmul, [(2, 1, 3, 4), (3, 4, 2)], -2),
    ("matmul batched 1d", lambda x, y: x @ y, np.matmul, [(2, 3, 4), (4,)], -2),
    ("einsum matmul", lambda x, y: giagrad.einsum("ij,jk->ik", x, y), np.matmul, [(3, 4), (4, 2)], -2),
    ("einsum batched", lambda x, y: giagrad.einsum("bij,bkj->bik", x, y),
     lambda a, b: np.einsum("bij,bkj->bik", a, b), [(2, 3, 4), (2, 2, 4)], -2),
    ("einsum outer", lambda x, y: giagrad.einsum("i,j", x, y), np.outer, [(3,), (4,)], -2),
    ("einsum sum out", lambda x: giagrad.einsum("ijk->j", x), lambda a: a.sum((0, 2)), [(2, 3, 4)], -2),
    ("einsum transpose", lambda x: giagrad.einsum("ij->ji", x), np.transpose, [(3, 4)], -2),
    ("einsum summed alone", lambda x, y: giagrad.einsum("ij,k->ik", x, y),
     lambda a, b: np.einsum("ij,k->ik", a, b), [(3, 4), (2,)], -2),
    ("einsum ellipsis broadcast", lambda x, y: giagrad.einsum("...ij,...jk->...ik", x, y), np.matmul,
     [(2, 1, 3, 4), (3, 4, 2)], -2),
    ("einsum size-1 broadcast", lambda x, y: giagrad.einsum("ij,ij->ij", x, y), np.multiply, [(1, 4), (3, 4)], -2),
    ("einsum diagonal", lambda x: giagrad.einsum("ii->i", x), np.diagonal, [(3, 3)], -2),
    ("einsum trace", lambda x: giagrad.einsum("ii", x), np.trace, [(3, 3)], -2),
    ("einsum batched diagonal", lambda x, y: giagrad.einsum("bii,bi->b", x, y),
     lambda a, b: np.einsum("bii,bi->b", a, b), [(2, 3, 3), (2, 3)], -2),
    ("einsum three operands", lambda x, y, z: giagrad.einsum("ij,jk,kl->il", x, y, z),
     lambda a, b, c: a @ b @ c, [(2, 3), (3, 4), (4, 2)], -2),
]
IDS = [c[0] for c in CASES]


@pytest.mark.parametrize("name, fn, reference, shapes, low", CASES, ids=IDS)
@pytest.mark.parametrize("layout", ["contiguous", "transposed", "strided"])
def test_gradcheck(leaf, name, fn, reference, shapes, low, layout):
    inputs = [leaf(shape, layout, low=low) for shape in shapes]
    np.testing.assert_allclose(fn(*inputs).data, reference(*[x.data for x in inputs]), rtol=1e-10, atol=1e-12)
    assert giagrad.gradcheck(fn, inputs)


@pytest.mark.parametrize("name, fn, reference, shapes, low", CASES, ids=IDS)
def test_float32_in_float32_out_and_grads(leaf, check_float32_grads, name, fn, reference, shapes, low):
    inputs = [leaf(shape, dtype=np.float32, low=low) for shape in shapes]
    out = fn(*inputs)
    check_float32_grads(out, inputs)
    np.testing.assert_allclose(out.data, reference(*[x.data.astype(np.float64) for x in inputs]),
                               rtol=1e-5, atol=1e-5)


def test_only_the_differentiable_operand_gets_a_gradient(leaf):
    x = leaf((3, 4))
    constant = Tensor(RNG.standard_normal((4,)))
    assert giagrad.gradcheck(lambda t: t * constant + constant / (t * t + 1), [x])
    assert constant.grad is None


# --------------------------------------------------------------------------- edge values


@pytest.mark.parametrize("op, expected", [
    (lambda x: x.abs(), [-1, 0, 1]),
    (lambda x: x.relu(), [0, 0, 1]),
    (lambda x: x.clamp(0.0, 2.0), [0, 1, 1]),     # an active bound passes the gradient, as PyTorch
    (lambda x: giagrad.maximum(x, giagrad.zeros(3)), [0, 0.5, 1]),
    (lambda x: giagrad.minimum(x, 0.0), [1, 0.5, 0]),
    (lambda x: x.square(), [-2, 0, 2]),
    (lambda x: x ** 2, [-2, 0, 2]),
])
def test_gradients_at_zero(op, expected):
    x = giagrad.tensor([-1.0, 0.0, 1.0], requires_grad=True)
    op(x).sum().backward()
    np.testing.assert_allclose(x.grad, expected)


def test_maximum_and_minimum_split_ties_evenly_with_broadcasting():
    x = giagrad.tensor([[1.0, 2.0], [3.0, 2.0]], requires_grad=True)
    y = giagrad.tensor([2.0, 2.0], requires_grad=True)
    giagrad.maximum(x, y).sum().backward()
    np.testing.assert_allclose(x.grad, [[0, 0.5], [1, 0.5]])
    np.testing.assert_allclose(y.grad, [1, 1])
    x.grad = y.grad = None
    giagrad.minimum(x, y).sum().backward()
    np.testing.assert_allclose(x.grad, [[1, 0.5], [0, 0.5]])
    np.testing.assert_allclose(y.grad, [1, 1])


def test_sigmoid_and_tanh_of_large_inputs_stay_finite():
    x = giagrad.tensor([-1000.0, -50.0, 0.0, 50.0, 1000.0], requires_grad=True)
    (x.sigmoid() + x.tanh()).sum().backward()
    np.testing.assert_allclose(x.sigmoid().data, [0, sigmoid(-50.0), 0.5, 1, 1], atol=1e-7)
    assert np.all(np.isfinite(x.grad))
    assert giagrad.gradcheck(lambda t: t.sigmoid(), [Tensor(np.array([-30.0, 30.0, 1e3]), requires_grad=True)])


def test_sqrt_at_zero_has_an_infinite_gradient_like_pytorch():
    x = giagrad.tensor([0.0, 4.0], requires_grad=True)
    x.sqrt().sum().backward()
    assert np.isinf(x.grad[0]) and x.grad[1] == pytest.approx(0.25)


def test_pow_tensor_exponent_at_zero_base_has_a_finite_exponent_gradient():
    x = giagrad.tensor([0.0, 2.0], requires_grad=True)
    y = giagrad.tensor([2.0, 3.0], requires_grad=True)
    (x ** y).sum().backward()
    np.testing.assert_allclose(y.grad, [0, 8 * np.log(2)], rtol=1e-6)
    np.testing.assert_allclose(x.grad, [0, 12])


def test_where_with_python_numbers_keeps_the_tensor_dtype():
    x = giagrad.randn(3, requires_grad=True)
    for out in (giagrad.where(x > 0, x, 0), giagrad.where(x > 0, 1, x), giagrad.where(x > 0, 1.5, x)):
        assert out.dtype == np.float32
    x64 = giagrad.randn(3, dtype="float64")
    assert giagrad.where(x64 > 0, x64, 0.5).dtype == np.float64


def test_comparisons_give_bool_tensors_without_graph(leaf):
    x = leaf((3,))
    for out in (x > 0, x >= 0, x < 0, x <= 0, x == x, x != 0):
        assert out.dtype == np.bool_ and not out.requires_grad


def test_einsum_takes_a_list_of_operands():
    a, b = giagrad.randn(2, 3), giagrad.randn(3)
    np.testing.assert_allclose(giagrad.einsum("ij,j->i", [a, b]).data, a.data @ b.data, rtol=1e-6)


# -------------------------------------------------------------------------------- errors


@pytest.mark.parametrize("call, error, pattern", [
    (lambda: giagrad.ones(2, 3) + giagrad.ones(4), ValueError, r"Add.*\(2, 3\), \(4,\)"),
    (lambda: giagrad.ones(2, 3) * giagrad.ones(3, 2), ValueError, "Mul"),
    (lambda: giagrad.maximum(giagrad.ones(2), giagrad.ones(3)), ValueError, r"Maximum.*\(2,\), \(3,\)"),
    (lambda: giagrad.ones(2, 3) @ giagrad.ones(2, 3), ValueError, r"MatMul.*\(2, 3\), \(2, 3\)"),
    (lambda: giagrad.ones(3) @ giagrad.ones(4), ValueError, "MatMul"),
    (lambda: giagrad.ones(2) + "a", TypeError, "unsupported operand of type str"),
    (lambda: giagrad.ones(2) * None, TypeError, "unsupported operand"),
    (lambda: giagrad.maximum(giagrad.ones(2), "a"), TypeError, "Maximum: unsupported operand of type str"),
    (lambda: giagrad.where(giagrad.ones(2), 1.0, 2.0), TypeError, "where: condition must be a bool"),
    (lambda: giagrad.clamp(np.ones(2), 0.0), TypeError, "clamp: input must be a Tensor"),
    (lambda: giagrad.ones(2).clamp(), ValueError, "clamp: at least one"),
    (lambda: giagrad.clamp(giagrad.ones(2), giagrad.zeros(2)), TypeError, "clamp: min must be a number"),
    (lambda: giagrad.einsum("ii->i", giagrad.ones(2, 3)), ValueError,
     r"einsum: index 'i' repeats in 'ii' over dims of different sizes \[2, 3\]"),
    (lambda: giagrad.einsum("ij,jk->ik", giagrad.ones(2, 3), giagrad.ones(2, 3)), ValueError,
     r"Einsum.*\(2, 3\), \(2, 3\)"),
    (lambda: giagrad.einsum("ij->ii", giagrad.ones(2, 2)), ValueError, "einsum: output subscripts 'ii' repeat"),
    (lambda: giagrad.einsum("ij->k", giagrad.ones(2, 2)), ValueError, "einsum: output index 'k' appears in no"),
    (lambda: giagrad.einsum("ijk", giagrad.ones(2, 2)), ValueError,
     r"einsum: subscripts 'ijk' do not match .*\(2, 2\)"),
    (lambda: giagrad.einsum("ij,jk", giagrad.ones(2, 2)), ValueError, "einsum: equation 'ij,jk' has 2 operands"),
    (lambda: giagrad.einsum("i1", giagrad.ones(2, 2)), ValueError, "einsum: subscripts 'i1' must be letters"),
    (lambda: giagrad.einsum("ij", np.ones((2, 2))), TypeError, "einsum: operand 0 is a ndarray"),
    (lambda: giagrad.einsum(3, giagrad.ones(2)), TypeError, "einsum: equation must be a string"),
])
def test_errors_name_the_op(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()
