"""Tensor.register_hook and anomaly detection (giagrad.autograd.detect_anomaly)."""

from __future__ import annotations

import numpy as np
import pytest

import giagrad
from giagrad.autograd import detect_anomaly, is_anomaly_enabled, set_detect_anomaly
from giagrad.hooks import RemovableHandle
from giagrad.nn.hooks import RemovableHandle as ModuleHandle


def test_leaf_hook_sees_the_summed_gradient_once_and_may_replace_it():
    w = giagrad.tensor([1.0, 2.0], requires_grad=True)
    seen = []

    def hook(grad):
        seen.append(grad)
        return grad * 10

    handle = w.register_hook(hook)
    (w * w + w).sum().backward()  # two uses of w: one call with 2w + 1
    assert len(seen) == 1 and isinstance(seen[0], giagrad.Tensor)
    np.testing.assert_allclose(seen[0].numpy(), [3.0, 5.0])
    np.testing.assert_allclose(w.grad, [30.0, 50.0])
    assert w.grad.dtype == np.float32
    handle.remove()
    w.grad = None
    (w * w).sum().backward()
    np.testing.assert_allclose(w.grad, [2.0, 4.0])


def test_non_leaf_hook_changes_what_flows_on_and_what_retain_grad_keeps():
    a = giagrad.tensor([1.0, 2.0], requires_grad=True)
    b = a * 3
    calls = []
    b.register_hook(lambda grad: calls.append(grad.numpy().copy()))  # returns None: gradient kept
    b.register_hook(lambda grad: giagrad.ones(2))  # replaces it
    b.retain_grad()
    (b * b).sum().backward()
    np.testing.assert_allclose(calls[0], [6.0, 12.0])
    np.testing.assert_allclose(b.grad, [1.0, 1.0])
    np.testing.assert_allclose(a.grad, [3.0, 3.0])


def test_hook_on_the_root_and_on_a_leaf_root():
    x = giagrad.tensor(2.0, requires_grad=True)
    x.register_hook(lambda grad: grad * 5)
    x.backward()
    assert x.grad == 5.0
    y = x * 1
    y.register_hook(lambda grad: grad * 2)
    y.backward()
    assert x.grad == 5.0 + 2.0 * 5.0  # y's hook, then x's


def test_hook_errors_are_clear():
    with pytest.raises(RuntimeError, match="doesn't require grad"):
        giagrad.zeros(2).register_hook(lambda grad: grad)
    w = giagrad.zeros(2, requires_grad=True)
    w.register_hook(lambda grad: giagrad.zeros(3))
    with pytest.raises(RuntimeError, match="shape"):
        (w * 1).sum().backward()
    with pytest.raises(TypeError, match="callable"):
        w.register_hook(3)


def test_tensor_and_module_hooks_share_one_handle_class():
    assert ModuleHandle is RemovableHandle
    handle = giagrad.zeros(1, requires_grad=True).register_hook(lambda grad: None)
    assert isinstance(handle, RemovableHandle)


def test_detect_anomaly_names_the_op_and_where_its_forward_ran():
    x = giagrad.tensor([-1.0, 4.0], requires_grad=True)
    with detect_anomaly():
        assert is_anomaly_enabled()
        with np.errstate(invalid="ignore"):
            y = x.sqrt()  # the line the error must point at
        with pytest.raises(RuntimeError, match="Sqrt returned nan") as caught:
            y.sum().backward()
    assert not is_anomaly_enabled()
    assert "y = x.sqrt()" in str(caught.value) and "test_autograd_hooks.py" in str(caught.value)


def test_without_anomaly_mode_nan_flows_silently_and_nothing_is_recorded():
    x = giagrad.tensor([-1.0, 4.0], requires_grad=True)
    with np.errstate(invalid="ignore"):
        y = x.sqrt()
    assert y.grad_fn.forward_stack is None
    y.sum().backward()
    assert np.isnan(x.grad[0])


def test_set_detect_anomaly_and_finite_backward_pass():
    set_detect_anomaly(True)
    try:
        x = giagrad.tensor([1.0, 4.0], requires_grad=True)
        x.sqrt().sum().backward()
        np.testing.assert_allclose(x.grad, [0.5, 0.25])
    finally:
        set_detect_anomaly(False)
