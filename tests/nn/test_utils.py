"""Gradient clipping against values computed with PyTorch, in-place behaviour and errors."""

import math

import numpy as np
import pytest

import giagrad
from giagrad import optim
from giagrad.nn.utils import clip_grad_norm_, clip_grad_value_

GRAD_A = [[1.0, -2.0, 3.0], [0.5, 0.0, -1.0]]
GRAD_B = [2.0, -4.0, 1.0, 0.25]


def parameters(dtype="float64"):
    a = giagrad.zeros(2, 3, dtype=dtype, requires_grad=True)
    b = giagrad.zeros(4, dtype=dtype, requires_grad=True)
    a.grad = np.array(GRAD_A, dtype=dtype)
    b.grad = np.array(GRAD_B, dtype=dtype)
    return a, b


# values from PyTorch 2.13: torch.nn.utils.clip_grad_norm_([a, b], 2.5, norm_type) in float64
TORCH_CASES = [
    (2.0, 6.025985396596975, 0.41486983797570676),
    (1.0, 14.75, 0.16949151393277873),
    (3.0, 4.793460785830283, 0.5215437426433913),
    (math.inf, 4.0, 0.624999843750039),
    ("inf", 4.0, 0.624999843750039),
]


@pytest.mark.parametrize(("norm_type", "norm", "first_grad"), TORCH_CASES)
def test_clip_grad_norm_matches_pytorch(norm_type, norm, first_grad):
    a, b = parameters()
    total = clip_grad_norm_([a, b], 2.5, norm_type=norm_type)
    assert isinstance(total, giagrad.Tensor) and total.shape == ()
    assert float(total) == pytest.approx(norm, rel=1e-12)
    coefficient = first_grad  # the first gradient element is 1.0
    np.testing.assert_allclose(a.grad, np.array(GRAD_A) * coefficient, rtol=1e-12)
    np.testing.assert_allclose(b.grad, np.array(GRAD_B) * coefficient, rtol=1e-12)


def test_clip_grad_norm_leaves_small_gradients_and_keeps_the_arrays():
    a, b = parameters()
    grads = a.grad, b.grad
    total = clip_grad_norm_([a, b], 100.0)
    assert float(total) == pytest.approx(math.sqrt(15.25 + 21.0625))
    np.testing.assert_array_equal(a.grad, GRAD_A)
    clip_grad_norm_([a, b], 1.0)
    assert a.grad is grads[0] and b.grad is grads[1]
    squares = float((a.grad**2).sum() + (b.grad**2).sum())
    assert math.sqrt(squares) == pytest.approx(1.0, rel=1e-5)


def test_clip_grad_norm_float32_stays_float32_and_works_on_optimizer_buffers():
    a, b = parameters("float32")
    optimizer = optim.SGD([a, b], lr=1.0)
    views = a.grad, b.grad
    total = clip_grad_norm_(iter([a, b]), 1.0)
    assert total.dtype == np.float32 and a.grad.dtype == np.float32
    assert a.grad is views[0] and b.grad is views[1]
    optimizer.step()
    np.testing.assert_allclose(np.concatenate([a.data.ravel(), b.data]),
                               -np.concatenate([np.ravel(GRAD_A), GRAD_B]) / 6.025985396596975, rtol=1e-5)


def test_clip_grad_norm_skips_missing_gradients_and_accepts_one_tensor():
    a, b = parameters()
    b.grad = None
    total = clip_grad_norm_(a, 1.0)
    assert float(total) == pytest.approx(math.sqrt(15.25))
    assert float(clip_grad_norm_([b], 1.0)) == 0.0


def test_clip_grad_norm_nonfinite():
    a, b = parameters()
    a.grad[0, 0] = np.nan
    with pytest.raises(RuntimeError, match="non-finite"):
        clip_grad_norm_([a, b], 1.0, error_if_nonfinite=True)
    np.testing.assert_array_equal(b.grad, GRAD_B)  # nothing changed before the error
    clip_grad_norm_([a, b], 1.0)
    assert np.isnan(b.grad).all()  # as PyTorch: the NaN norm spreads


def test_clip_grad_norm_rejects_a_negative_order():
    a, _ = parameters()
    with pytest.raises(ValueError, match="norm_type"):
        clip_grad_norm_(a, 1.0, norm_type=-1.0)


def test_clip_grad_value():
    a, b = parameters("float32")
    grad = a.grad
    clip_grad_value_([a, b], 1.5)
    assert a.grad is grad and a.grad.dtype == np.float32
    np.testing.assert_array_equal(a.grad, np.clip(GRAD_A, -1.5, 1.5))
    np.testing.assert_array_equal(b.grad, [1.5, -1.5, 1.0, 0.25])
    with pytest.raises(ValueError, match="clip_value"):
        clip_grad_value_(a, -1.0)
