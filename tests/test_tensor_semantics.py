"""No silent wrong answers: views and in-place changes, numpy(), dtype promotion, indexing,
empty and 0-d inputs, sizes, gradcheck's verdicts (each case as PyTorch defines it)."""

from __future__ import annotations

import numpy as np
import pytest

import giagrad
from giagrad import no_grad
from giagrad.autograd import Function

# ----------------------------------------------------------------- 1. views share a version


def _through_reshape(x: giagrad.Tensor) -> None:
    view = x.reshape(2, 2)
    with no_grad():
        view += 10


def _through_slice(x: giagrad.Tensor) -> None:
    with no_grad():
        x[0:2][...] = 50


def _through_detach(x: giagrad.Tensor) -> None:
    x.detach()[0] = 50  # no_grad not even needed: detached tensors do not require grad


def _through_transpose_and_squeeze(x: giagrad.Tensor) -> None:
    with no_grad():
        x.reshape(4, 1).T.squeeze(0).unsqueeze(1)[1] = 50


def _through_permute_and_view(x: giagrad.Tensor) -> None:
    with no_grad():
        x.view(2, 2).permute(1, 0)[0, 0] = 3


def _through_optimizer_style_fill(x: giagrad.Tensor) -> None:
    with no_grad():
        x[1:].fill_(0)


@pytest.mark.parametrize("change", [_through_reshape, _through_slice, _through_detach,
                                    _through_transpose_and_squeeze, _through_permute_and_view,
                                    _through_optimizer_style_fill])
def test_in_place_change_through_a_view_is_detected(change):
    a = giagrad.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    x = a * 1
    loss = (x * x).sum()
    change(x)
    with pytest.raises(RuntimeError, match="modified in place"):
        loss.backward()


def test_in_place_change_of_a_leaf_through_detach_is_detected():
    a = giagrad.tensor([1.0, 2.0], requires_grad=True)
    loss = (a * a).sum()
    a.detach()[0] = 5
    with pytest.raises(RuntimeError, match="modified in place"):
        loss.backward()


def test_saved_output_changed_in_place_is_detected():
    a = giagrad.tensor([1.0, 2.0], requires_grad=True)
    y = a.exp()
    with no_grad():
        y += 1
    with pytest.raises(RuntimeError, match="output of Exp"):
        y.backward(giagrad.ones(2))


def test_views_share_the_version_and_unrelated_tensors_do_not():
    x = giagrad.zeros(2, 3)
    view, other = x[0], giagrad.zeros(2, 3)
    assert x._version == 0
    view += 1
    assert x._version == view._version == 1 and other._version == 0
    assert x.detach()._version == 1
    assert x.numpy()[0].tolist() == [1.0, 1.0, 1.0]


def test_expand_shares_the_version():
    base = giagrad.zeros(1, 3)
    wide = base.expand(4, 3)
    base += 1
    assert wide._version == 1


def test_unchanged_graph_still_runs_backward_after_an_unrelated_in_place_change():
    a = giagrad.tensor([1.0, 2.0], requires_grad=True)
    loss = (a * a).sum()
    unrelated = giagrad.zeros(2)
    unrelated += 1
    loss.backward()
    np.testing.assert_allclose(a.grad, [2.0, 4.0])


# ------------------------------------------------------ 2. in-place arithmetic on non-leaves


def test_in_place_arithmetic_on_a_non_leaf_is_recorded():
    a = giagrad.tensor([1.0, 2.0], requires_grad=True)
    c = a * 2
    c += 1
    c *= c
    c /= 2
    c -= a
    c.sum().backward()
    # c = (2a + 1)^2 / 2 - a  ->  dc/da = 2 (2a + 1) - 1
    np.testing.assert_allclose(a.grad, 2 * (2 * np.array([1.0, 2.0]) + 1) - 1)
    assert isinstance(c.grad_fn, giagrad.mathops.Sub)


def test_in_place_matches_pytorch_with_another_tensor_that_requires_grad():
    a = giagrad.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = giagrad.tensor([3.0, 4.0, 5.0], requires_grad=True)
    c = a * 1
    c *= b  # the old value of c must be kept for b's gradient
    c.sum().backward()
    np.testing.assert_allclose(a.grad, [3.0, 4.0, 5.0])
    np.testing.assert_allclose(b.grad, [1.0, 2.0, 3.0])


def test_in_place_into_a_plain_tensor_from_one_that_requires_grad():
    w = giagrad.tensor([1.0, 2.0], requires_grad=True)
    total = giagrad.zeros(2)
    total += w * 3
    total.sum().backward()
    np.testing.assert_allclose(w.grad, [3.0, 3.0])


def test_in_place_on_a_leaf_that_requires_grad_raises_outside_no_grad():
    w = giagrad.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
        w += 1
    with no_grad():
        w += 1
    np.testing.assert_allclose(w.data, [2.0, 3.0])


def test_in_place_on_a_non_leaf_invalidates_a_node_that_saved_it():
    a = giagrad.tensor([1.0, 2.0], requires_grad=True)
    y = a.exp()
    y += 1
    with pytest.raises(RuntimeError, match="output of Exp"):
        y.sum().backward()


def test_in_place_on_a_non_leaf_with_views_is_refused_not_wrong():
    a = giagrad.tensor([1.0, 2.0], requires_grad=True)
    c = a * 2
    view = c[0:1]
    with pytest.raises(RuntimeError, match="view"):
        view += 1


def test_in_place_int_tensor_with_float_raises_like_pytorch():
    x = giagrad.tensor([1, 2])
    with pytest.raises(RuntimeError, match="__iadd__"):
        x += 0.5


# ------------------------------------------------------------------------------- 3. numpy()


def test_numpy_on_a_tensor_that_requires_grad_raises():
    w = giagrad.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"detach\(\)\.numpy\(\)"):
        w.numpy()
    with pytest.raises(RuntimeError, match="requires grad"):
        np.asarray(w)
    assert w.detach().numpy() is w.data
    assert float(np.sum(w).item()) == 3.0  # numpy's reductions call the tensor's own


# --------------------------------------------------------------------------- 8. gradcheck


class _NanGradient(Function):
    def forward(self, x):
        with np.errstate(invalid="ignore"):
            return np.sqrt(x)

    def backward(self, grad):
        return np.full_like(grad, np.nan)


def test_gradcheck_treats_matching_nans_as_agreement():
    x = giagrad.tensor([-1.0, -4.0], dtype=np.float64, requires_grad=True)
    assert giagrad.gradcheck(lambda t: _NanGradient.apply(t), [x])


def test_gradcheck_names_elements_with_plain_ints():
    x = giagrad.tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(giagrad.GradcheckError) as caught:
        giagrad.gradcheck(lambda t: _NanGradient.apply(t), [x])
    assert "(0, 0)" in str(caught.value) and "np.int64" not in str(caught.value)


# ------------------------------------------------------------------ 6. 0-d and 0-size inputs


def test_logsumexp_of_a_0d_tensor_is_the_value():
    x = giagrad.tensor(1.5, dtype=np.float64, requires_grad=True)
    assert x.logsumexp().item() == 1.5 and x.logsumexp(0).item() == 1.5
    assert giagrad.gradcheck(lambda t: t.logsumexp(), [x])


def test_prod_backward_over_a_0_size_tensor():
    z = giagrad.zeros(2, 0, 3, requires_grad=True)
    z.prod(2).sum().backward()
    assert z.grad.shape == (2, 0, 3)
    w = giagrad.zeros(0, 3, requires_grad=True)
    out = w.prod(0)  # an empty product is 1, as in PyTorch
    np.testing.assert_array_equal(out.data, [1.0, 1.0, 1.0])
    out.sum().backward()
    assert w.grad.shape == (0, 3)


@pytest.mark.parametrize("op", [
    lambda t: t.softmax(0), lambda t: t.log_softmax(0), lambda t: t.softmax(1),
    lambda t: giagrad.nn.functional.log_softmax(t, 0), lambda t: giagrad.nn.functional.softmax(t, 0),
])
def test_softmax_family_of_a_0_size_tensor_is_empty(op):
    x = giagrad.zeros(0, 3, requires_grad=True)
    out = op(x)
    assert out.shape == (0, 3) and out.dtype == np.float32
    out.sum().backward()
    assert x.grad.shape == (0, 3)


def test_argmax_over_a_non_empty_dim_of_a_0_size_tensor_is_empty():
    assert giagrad.zeros(0, 3).argmax(1).shape == (0,)
    with pytest.raises(ValueError, match="argmax"):
        giagrad.zeros(0, 3).argmax(0)
    with pytest.raises(ValueError, match="argmax"):
        giagrad.zeros(0, 3).argmax()


# ---------------------------------------------------------------------- 7. sizes as floats


@pytest.mark.parametrize("name, call", [
    ("reshape", lambda: giagrad.zeros(6).reshape(3.7, 2)),
    ("view", lambda: giagrad.zeros(6).view(3.0, 2)),
    ("zeros", lambda: giagrad.zeros(2.7)),
    ("ones", lambda: giagrad.ones((2.0, 3))),
    ("full", lambda: giagrad.full((2.5,), 1.0)),
    ("randn", lambda: giagrad.randn(2.0)),
    ("rand", lambda: giagrad.rand(2, 1.5)),
    ("expand", lambda: giagrad.zeros(1, 3).expand(2.0, 3)),
    ("repeat", lambda: giagrad.zeros(3).repeat(2.0)),
    ("new_zeros", lambda: giagrad.zeros(3).new_zeros(2.0)),
    ("new_full", lambda: giagrad.zeros(3).new_full((2.0,), 1.0)),
])
def test_sizes_given_as_floats_raise(name, call):
    with pytest.raises(TypeError, match=f"{name}: sizes must be integers"):
        call()


def test_sizes_accept_numpy_ints_and_integer_tensors():
    assert giagrad.zeros(np.int64(2), 3).shape == (2, 3)
    assert giagrad.zeros(6).reshape(giagrad.tensor(3), 2).shape == (3, 2)


# ------------------------------------------------------------------ 4. dtype promotion


# (case, expression over a module, expected dtype): the expression is written once for giagrad
# and PyTorch (the same names), so the parity test runs it on torch when it is importable.
PROMOTION_CASES = [
    ("int + float", lambda g: _i(g) + 0.5, "float32"),
    ("int / int", lambda g: _i(g) / 2, "float32"),
    ("int / int tensor", lambda g: _i(g) / _i(g), "float32"),
    ("int.sqrt", lambda g: _i(g).sqrt(), "float32"),
    ("int.exp", lambda g: _i(g).exp(), "float32"),
    ("int.sigmoid", lambda g: _i(g).sigmoid(), "float32"),
    ("int ** 0.5", lambda g: _i(g) ** 0.5, "float32"),
    ("int ** 2", lambda g: _i(g) ** 2, "int64"),
    ("int * 2", lambda g: _i(g) * 2, "int64"),
    ("int + True", lambda g: _i(g) + True, "int64"),
    ("0.5 - int", lambda g: 0.5 - _i(g), "float32"),
    ("clamp(int, 0.5)", lambda g: _i(g).clamp(0.5), "float32"),
    ("clamp(int, 1)", lambda g: _i(g).clamp(1), "int64"),
    ("where(int, f32)", lambda g: g.where(_i(g) > 1, _i(g), _f(g)), "float32"),
    ("where(int, 0.5)", lambda g: g.where(_i(g) > 1, _i(g), 0.5), "float32"),
    ("maximum(int, f32)", lambda g: g.maximum(_i(g), _f(g)), "float32"),
    ("cat(int, f32)", lambda g: g.cat([_i(g), _f(g)]), "float32"),
    ("stack(int, f32)", lambda g: g.stack([_i(g), _f(g)]), "float32"),
    ("cat(f32, f64)", lambda g: g.cat([_f(g), _d(g)]), "float64"),
    ("int + f32", lambda g: _i(g) + _f(g), "float32"),
    ("f32 + f64", lambda g: _f(g) + _d(g), "float64"),
    ("f32 + 0-d f64", lambda g: _f(g) + g.tensor(1.0, dtype=g.float64), "float32"),
    ("int32 + 5", lambda g: g.tensor([1, 2], dtype=g.int32) + 5, "int32"),
    ("f32 * 2", lambda g: _f(g) * 2, "float32"),
]


def _i(g):
    return g.tensor([1, 2])


def _f(g):
    return g.tensor([1.0, 2.0])


def _d(g):
    return g.tensor([1.0, 2.0], dtype=g.float64)


@pytest.mark.parametrize("name, expression, expected", PROMOTION_CASES, ids=[c[0] for c in PROMOTION_CASES])
def test_dtype_promotion_follows_pytorch(name, expression, expected):
    assert expression(giagrad).dtype == np.dtype(expected)


@pytest.mark.parametrize("name, expression, expected", PROMOTION_CASES, ids=[c[0] for c in PROMOTION_CASES])
def test_dtype_promotion_table_matches_torch(name, expression, expected):
    torch = pytest.importorskip("torch")
    assert str(expression(torch).dtype) == f"torch.{expected}"


@pytest.mark.parametrize("left, right", [(_f, _d), (_d, _f), (lambda g: g.ones(2, 2), _i)])
def test_matmul_with_mismatched_dtypes_raises_like_pytorch(left, right):
    with pytest.raises(RuntimeError, match="MatMul: expected operands of one dtype"):
        left(giagrad) @ right(giagrad)


def test_einsum_with_mismatched_dtypes_raises_like_pytorch():
    with pytest.raises(RuntimeError, match="Einsum: expected operands of one dtype"):
        giagrad.einsum("i,i->", giagrad.tensor([1, 2]), giagrad.tensor([1.0, 2.0]))


def test_promotion_keeps_the_gradient_in_each_input_dtype():
    x = giagrad.tensor([1.0, 2.0], requires_grad=True)
    y = x * giagrad.tensor([3, 4])  # int operand: float32 result, float32 gradient
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad, [3.0, 4.0])
    w = giagrad.tensor([1.0, 2.0], dtype=np.float64, requires_grad=True)
    z = giagrad.tensor([1.0, 2.0], requires_grad=True) + w
    assert z.dtype == np.float64
    z.sum().backward()
    assert w.grad.dtype == np.float64


# ------------------------------------------------------------------- 5. advanced indexing

# (index, PyTorch's result shape on a (3, 4, 5) tensor): integers select first, then the arrays.
INDEX_CASES = [
    ((1, slice(None), [0, 2]), (4, 2)),  # numpy: (2, 4)
    ((slice(None), 1, [0, 2]), (3, 2)),
    (([0, 1], slice(None), 1), (2, 4)),
    (([0, 1], 1, [0, 2]), (2,)),
    ((Ellipsis, 1, None, [0, 2]), (3, 1, 2)),  # numpy: (2, 3, 1)
    ((1, slice(None), [True, False, True, False, True]), (4, 3)),
    ((None, 2, slice(1, 3), [[0, 1], [1, 1]]), (1, 2, 2, 2)),
    ((-1, Ellipsis, [4, 0, 4]), (4, 3)),
]


@pytest.mark.parametrize("index, shape", INDEX_CASES)
def test_advanced_indexing_places_dims_as_pytorch(index, shape):
    values = np.arange(60.0).reshape(3, 4, 5)
    x = giagrad.tensor(values)
    assert x[index].shape == shape
    # setitem follows the same placement: a value of the result's shape fits
    target = giagrad.tensor(values.copy())
    target[index] = np.full(shape, -1.0)
    assert np.all(target[index].numpy() == -1.0)


@pytest.mark.parametrize("index, shape", INDEX_CASES)
def test_advanced_indexing_matches_torch(index, shape):
    torch = pytest.importorskip("torch")
    values = np.arange(60.0).reshape(3, 4, 5)
    torch_index = tuple(torch.tensor(i) if isinstance(i, list) else i for i in index)
    np.testing.assert_array_equal(giagrad.tensor(values)[index].numpy(), torch.tensor(values)[torch_index].numpy())


@pytest.mark.parametrize("index", [(1, slice(None), [0, 2, 2]), ([2, 2], slice(1, 3), 0), (Ellipsis, 1, [4, 4, 0])])
def test_advanced_indexing_gradient_with_repeated_indices(index):
    x = giagrad.tensor(np.random.default_rng(0).standard_normal((3, 4, 5)), requires_grad=True)
    assert giagrad.gradcheck(lambda t: t[index] * t[index], [x])


def test_a_tensor_made_from_a_tensor_shares_its_version_when_it_shares_its_array():
    a = giagrad.tensor([1.0, 2.0], requires_grad=True)
    loss = (a * a).sum()
    alias = giagrad.Tensor(a)
    assert alias.data is a.data
    with no_grad():
        alias += 1
    with pytest.raises(RuntimeError, match="modified in place"):
        loss.backward()
