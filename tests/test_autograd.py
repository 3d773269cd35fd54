"""The engine's semantics: backward, graph freeing, accumulation, grad mode, in-place checks."""

import numpy as np
import pytest

import giagrad
from giagrad import Function, Tensor, operands


def leaf(*shape, dtype="float32"):
    return giagrad.randn(*shape, dtype=dtype, requires_grad=True)


def test_backward_accumulates_into_leaves_across_calls():
    x = leaf(3)
    (x * 2).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad, np.full(3, 5.0))


def test_a_leaf_used_twice_gets_the_sum_of_both_paths():
    x = giagrad.tensor([1.0, 2.0], requires_grad=True)
    (x * x + x).sum().backward()
    np.testing.assert_allclose(x.grad, [3.0, 5.0])


def test_non_scalar_backward_needs_a_gradient():
    x = leaf(2, 3)
    with pytest.raises(RuntimeError, match="one element"):
        (x * 2).backward()
    (x * 2).backward(np.ones((2, 3)))
    np.testing.assert_allclose(x.grad, np.full((2, 3), 2.0))


def test_gradient_of_the_wrong_shape_is_rejected():
    x = leaf(2, 3)
    with pytest.raises(ValueError, match=r"\(3,\)"):
        (x * 2).backward(np.ones(3))


def test_backward_on_a_tensor_without_grad_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        giagrad.ones(2).sum().backward()


def test_second_backward_through_a_freed_graph_raises():
    x = leaf(3)
    y = (x.exp() * 2).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_retain_graph_allows_a_second_backward():
    x = leaf(3)
    y = (x.exp() * 2).sum()
    y.backward(retain_graph=True)
    first = x.grad.copy()
    y.backward()
    np.testing.assert_allclose(x.grad, 2 * first, rtol=1e-6)


def test_intermediate_gradients_are_kept_only_when_asked():
    x = leaf(3)
    h = x * 2
    k = x * 3
    k.retain_grad()
    (h + k).sum().backward()
    assert h.grad is None
    np.testing.assert_allclose(k.grad, np.ones(3))


def test_a_100000_op_chain_needs_no_recursion():
    x = giagrad.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0
    y.backward()
    assert x.grad == pytest.approx(1.0)


def test_no_grad_records_nothing_and_restores_the_mode():
    x = leaf(2)
    with giagrad.no_grad():
        assert not giagrad.is_grad_enabled()
        y = x * 2
        with giagrad.enable_grad():
            z = x * 2
    assert giagrad.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad


def test_no_grad_as_a_decorator():
    @giagrad.no_grad()
    def double(t):
        return t * 2

    assert not double(leaf(2)).requires_grad
    assert giagrad.is_grad_enabled()


def test_only_floating_tensors_can_require_grad():
    with pytest.raises(TypeError, match="floating"):
        giagrad.tensor([1, 2], requires_grad=True)
    with pytest.raises(TypeError, match="floating"):
        giagrad.arange(3).requires_grad_()


@pytest.mark.parametrize("make", [
    lambda: giagrad.tensor([1.0, 2.0]),
    lambda: giagrad.tensor(2.5),
    lambda: giagrad.zeros(2, 3),
    lambda: giagrad.randn(2),
    lambda: giagrad.rand(2),
    lambda: giagrad.linspace(0, 1, 5),
    lambda: giagrad.eye(3),
    lambda: giagrad.full((2,), 1.5),
    lambda: giagrad.arange(0.0, 1.0, 0.25),
])
def test_float32_is_the_default_dtype(make):
    assert make().dtype == np.float32


def test_numpy_arrays_keep_their_dtype_and_integers_are_int64():
    assert giagrad.tensor(np.zeros(2, dtype=np.float64)).dtype == np.float64
    assert giagrad.tensor([1, 2]).dtype == np.int64
    assert giagrad.arange(3).dtype == np.int64


def test_gradients_keep_the_tensor_dtype_with_python_scalars_and_float64_seeds():
    x = leaf(3)
    y = (x * 2.5 + 1) / 3 - 0.5
    y.backward(np.ones(3, dtype=np.float64))
    assert y.dtype == np.float32
    assert x.grad.dtype == np.float32


def test_inplace_arithmetic_without_grad():
    x = giagrad.ones(3)
    x += 1
    x *= giagrad.tensor([1.0, 2.0, 3.0])
    x -= 1
    x /= 2
    np.testing.assert_allclose(x.data, [0.5, 1.5, 2.5])


def test_inplace_arithmetic_on_a_tensor_that_requires_grad_needs_no_grad():
    w = leaf(3)
    with pytest.raises(RuntimeError, match="no_grad"):
        w += 1
    with giagrad.no_grad():
        w -= 1


def test_inplace_change_of_a_saved_input_is_caught_at_backward():
    w = leaf(3)
    x = giagrad.ones(3)
    y = (w * x).sum()
    x += 1
    with pytest.raises(RuntimeError, match="modified in place"):
        y.backward()


def test_a_parameter_updated_in_place_between_forward_and_backward_is_caught():
    w = leaf(3)
    y = (w * w).sum()
    with giagrad.no_grad():
        w -= 0.1
    with pytest.raises(RuntimeError, match="modified in place"):
        y.backward()


def test_inplace_update_with_a_bad_shape_names_both_shapes():
    x = giagrad.ones(3)
    with pytest.raises(ValueError, match=r"\(3,\).*\(2,\)"):
        x += giagrad.ones(2)


def test_incompatible_shapes_name_the_op_and_the_shapes():
    with pytest.raises(ValueError, match=r"Add.*\(2,\).*\(3,\)"):
        giagrad.ones(2) + giagrad.ones(3)
    with pytest.raises(ValueError, match="MatMul"):
        giagrad.ones(2, 3) @ giagrad.ones(2, 3)


def test_comparisons_are_bool_and_not_differentiable():
    x = leaf(3)
    mask = x > 0
    assert mask.dtype == np.bool_ and not mask.requires_grad


def test_detach_shares_data_and_cuts_the_graph():
    x = leaf(3)
    d = (x * 2).detach()
    assert not d.requires_grad and d.grad_fn is None


def test_manual_seed_makes_random_tensors_reproducible():
    giagrad.manual_seed(123)
    a = giagrad.randn(4)
    giagrad.manual_seed(123)
    b = giagrad.randn(4)
    np.testing.assert_array_equal(a.data, b.data)


class Softsign(Function):
    """The documented extension example: softsign(x) = x / (1 + |x|)."""

    def forward(self, x):
        self.save_for_backward(x)
        return x / (1 + np.abs(x))

    def backward(self, grad):
        (x,) = self.saved_tensors
        return grad / (1 + np.abs(x)) ** 2


def test_a_user_defined_function_is_recorded_and_passes_gradcheck():
    x = giagrad.tensor([[-2.0, 0.5], [0.0, 3.0]], dtype="float64", requires_grad=True)
    y = Softsign.apply(x)
    assert isinstance(y.grad_fn, Softsign)
    assert giagrad.gradcheck(lambda t: Softsign.apply(t), [x])
    assert giagrad.gradcheck(lambda t: Tensor.comm(Softsign, t.T), [x])


def test_gradcheck_catches_a_wrong_gradient():
    class Wrong(Softsign):
        def backward(self, grad):
            return 1.01 * super().backward(grad)

    x = giagrad.randn(3, dtype="float64", requires_grad=True)
    with pytest.raises(giagrad.GradcheckError, match="input 0"):
        giagrad.gradcheck(lambda t: Wrong.apply(t), [x])


def test_gradcheck_refuses_float32_inputs():
    with pytest.raises(TypeError, match="float64"):
        giagrad.gradcheck(lambda t: t * 2, [leaf(2)])


def test_a_backward_returning_a_wrong_shape_is_named():
    class BadShape(Function):
        def forward(self, x):
            return x * 2

        def backward(self, grad):
            return grad.sum()

    with pytest.raises(RuntimeError, match="BadShape.backward"):
        BadShape.apply(leaf(3)).sum().backward()


def test_python_numbers_follow_the_floating_tensor_not_a_bool_condition():
    x = giagrad.ones(3)
    assert x.where(x > 0, 0).dtype == np.float32
    assert (2 * x).dtype == np.float32
    assert (x.double() + 1).dtype == np.float64


def test_python_numbers_are_shared_read_only_constants_that_keep_their_sign_and_type():
    x = giagrad.tensor([1.0, -2.0], requires_grad=True)
    a, b = x * 3, x * 3
    assert a._ctx.parents[1] is b._ctx.parents[1]  # one tensor for the number 3 in float32
    with pytest.raises(ValueError, match="read-only"):
        a._ctx.parents[1].data[...] = 4
    assert (x.double() * 3)._ctx.parents[1].dtype == np.float64  # its own constant per dtype
    ones = giagrad.ones(2)
    assert not np.signbit((ones * 0.0).data).any() and np.signbit((ones * -0.0).data).all()
    np.testing.assert_array_equal((x + 1.5).data, [2.5, -0.5])
    np.testing.assert_array_equal((x + 1).data, [2.0, -1.0])
    for step in range(3000):  # a number that changes at every step: the cache stays bounded
        x * (1.0 + step)
    assert len(operands._constants) <= 1024
    (x * x * 3).sum().backward()
    np.testing.assert_allclose(x.grad, [6.0, -12.0])


def test_a_bad_operand_names_the_op():
    with pytest.raises(TypeError, match="Add: unsupported operand"):
        giagrad.ones(2) + "a"


def test_mean_of_an_integer_tensor_raises_like_pytorch():
    with pytest.raises(TypeError, match="mean"):
        giagrad.arange(4).mean()


@pytest.mark.parametrize("uses", [1, 2, 3])
def test_gradients_written_into_optimizer_buffers_match_plain_ones(uses):
    # Backward copies parameter gradients into the optimizer's flat buffer (Tensor.grad_storage);
    # a layer applied several times must still sum correctly.
    from giagrad import nn, optim

    def grads(with_optimizer):
        giagrad.manual_seed(0)
        layer = nn.Linear(4, 4)
        if with_optimizer:
            optim.SGD(layer.parameters(), lr=0.1)
        x = giagrad.tensor(np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4))
        h = x
        for _ in range(uses):
            h = layer(h).tanh()
        h.sum().backward()
        return layer, [p.grad.copy() for p in layer.parameters()]

    plain_layer, plain = grads(False)
    buffered_layer, buffered = grads(True)
    for a, b in zip(plain, buffered):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    for p in buffered_layer.parameters():
        assert p.grad is p.grad_storage


def test_grad_storage_receives_the_first_gradient_and_a_stale_one_is_ignored():
    x = giagrad.tensor([1.0, 2.0], requires_grad=True)
    x.grad_storage = np.full(2, 7.0, dtype=np.float32)
    (x * 3).sum().backward()
    assert x.grad is x.grad_storage
    (x * 2).sum().backward()
    np.testing.assert_array_equal(x.grad_storage, [5.0, 5.0])
    y = giagrad.tensor([1.0, 2.0], dtype="float64", requires_grad=True)
    y.grad_storage = np.zeros(2, dtype=np.float32)  # of another dtype: not used
    (y * 3).sum().backward()
    assert y.grad is not y.grad_storage and y.grad.dtype == np.float64


def test_ops_write_into_grad_storage_and_a_second_use_adds_to_it():
    # Linear computes a parameter's gradient straight into its grad_storage (no copy); a weight used
    # twice in one graph gets the sum of both uses, as without storage.
    import giagrad.nn.functional as F

    rng = np.random.default_rng(0)
    x = giagrad.tensor(rng.standard_normal((5, 3)))
    w = giagrad.tensor(rng.standard_normal((3, 3)), requires_grad=True)
    b = giagrad.tensor(rng.standard_normal(3), requires_grad=True)
    expected = []
    for with_storage in (False, True):
        w.grad = b.grad = None
        if with_storage:
            w.grad_storage, b.grad_storage = np.zeros_like(w.data), np.zeros_like(b.data)
        (F.linear(F.linear(x, w, b).tanh(), w, b) ** 2).sum().backward()
        expected.append((w.grad.copy(), b.grad.copy()))
    assert w.grad is w.grad_storage and b.grad is b.grad_storage
    np.testing.assert_allclose(expected[1][0], expected[0][0], rtol=1e-6)
    np.testing.assert_allclose(expected[1][1], expected[0][1], rtol=1e-6)


def test_will_backward_tells_forward_whether_a_backward_may_follow():
    seen = []

    class Probe(Function):
        def forward(self, x):
            seen.append(self.will_backward())
            return x * 2

        def backward(self, grad):
            return grad * 2

    leaf, constant = giagrad.tensor([1.0], requires_grad=True), giagrad.tensor([1.0])
    Tensor.comm(Probe, leaf)
    Tensor.comm(Probe, constant)
    with giagrad.no_grad():
        Tensor.comm(Probe, leaf)
    Probe().forward(np.ones(1))  # called directly, not through comm: keep what backward needs
    assert seen == [True, False, False, True]


def test_float32_gelu_called_directly_keeps_its_slope_for_backward():
    from giagrad.mlops import GELU

    fn = GELU()
    x = np.array([-1.0, 0.5, 2.0], dtype=np.float32)
    fn.forward(x, "none")
    recorded = giagrad.tensor(x, requires_grad=True)
    giagrad.nn.functional.gelu(recorded).sum().backward()
    np.testing.assert_allclose(fn.backward(np.ones_like(x)), recorded.grad, rtol=1e-6)
