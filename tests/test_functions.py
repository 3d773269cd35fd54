"""Top-level functions (torch.xxx spellings), clone/new_*, numpy protocols and DLPack."""

from __future__ import annotations

import numpy as np
import pytest

import giagrad
from giagrad import Tensor


def test_from_numpy_shares_memory_and_as_tensor():
    a = np.zeros(3, dtype=np.float64)
    t = giagrad.from_numpy(a)
    a[0] = 5
    assert t.dtype == np.float64 and t.data[0] == 5
    assert giagrad.as_tensor(a).data is a
    assert giagrad.as_tensor(t) is t
    assert giagrad.as_tensor([1.0, 2.0]).dtype == np.float32
    assert giagrad.as_tensor(a, dtype=giagrad.float32).dtype == np.float32
    with pytest.raises(TypeError, match="numpy.ndarray"):
        giagrad.from_numpy([1, 2])
    with pytest.raises(RuntimeError, match="CPU only"):
        giagrad.as_tensor(a, device="cuda")


@pytest.mark.parametrize("name, args, kwargs", [
    ("sum", (), {"dim": 1}), ("mean", (), {}), ("exp", (), {}), ("log", (), {}), ("argmax", (), {"dim": 1}),
    ("softmax", (), {"dim": 1}), ("log_softmax", (1,), {}), ("flatten", (), {}), ("tanh", (), {}),
    ("sigmoid", (), {}), ("relu", (), {}), ("sqrt", (), {}), ("transpose", (0, 1), {}), ("clone", (), {}),
    ("unsqueeze", (0,), {}), ("amax", (), {"dim": 0}), ("sign", (), {}), ("floor", (), {}),
])
def test_method_functions_call_the_method(name, args, kwargs):
    x = giagrad.rand(3, 4) + 0.5
    np.testing.assert_array_equal(getattr(giagrad, name)(x, *args, **kwargs).data,
                                  getattr(x, name)(*args, **kwargs).data)


def test_functions_take_arrays_and_lists_and_record_gradients():
    assert giagrad.sum([[1.0, 2.0], [3.0, 4.0]]).item() == 10
    x = giagrad.randn(2, 3, requires_grad=True)
    w = giagrad.randn(3, 4, requires_grad=True)
    giagrad.matmul(x, w).sum().backward()
    np.testing.assert_allclose(x.grad, np.broadcast_to(w.data.sum(1), (2, 3)), rtol=1e-6)
    assert giagrad.max(x).shape == () and giagrad.max(x, dim=1).indices.shape == (2,)
    assert giagrad.allclose(x, x.clone()) and giagrad.equal(x, x) and giagrad.is_tensor(x)
    assert giagrad.isclose(x, x + 1).data.sum() == 0 and giagrad.numel(x) == 6


def test_existing_creation_and_combination_functions_are_there():
    for name in ["cat", "stack", "where", "maximum", "clamp", "full", "eye", "linspace", "zeros_like", "ones_like",
                 "full_like", "rand_like", "randn_like", "empty_like"]:
        assert callable(getattr(giagrad, name)), name


def test_clone_is_a_copy_in_the_graph():
    x = giagrad.randn(3, requires_grad=True)
    y = x.clone()
    assert not np.shares_memory(x.data, y.data) and y.grad_fn is not None
    (y * 2).sum().backward()
    np.testing.assert_array_equal(x.grad, [2, 2, 2])


def test_new_tensors_keep_dtype():
    x = giagrad.zeros(2, dtype=giagrad.float64)
    assert x.new_zeros(2, 3).dtype == np.float64 and x.new_zeros((2, 3)).shape == (2, 3)
    assert x.new_ones(4).data.sum() == 4 and x.new_ones(2, dtype=giagrad.long).dtype == np.int64
    assert x.new_full((2,), 7.0).data.tolist() == [7.0, 7.0] and x.new_empty(3).shape == (3,)
    assert x.new_tensor([1, 2]).dtype == np.float64
    assert x.new_zeros(2, requires_grad=True).requires_grad


def test_numpy_reductions_dispatch_to_the_tensor():
    x = giagrad.randn(3, 4)
    np.testing.assert_allclose(np.sum(x).item(), x.data.sum(), rtol=1e-5)
    np.testing.assert_allclose(np.mean(x, axis=1).data, x.data.mean(axis=1), rtol=1e-5)
    assert np.sum(x, axis=0, keepdims=True).shape == (1, 4)
    assert isinstance(np.mean(x), Tensor)
    assert x.sum(dtype=giagrad.float64).dtype == np.float64
    assert giagrad.arange(4).mean(dtype=giagrad.float32).item() == 1.5
    assert x.sum(axis=1).shape == (3,)  # PyTorch accepts numpy's names too
    with pytest.raises(TypeError, match="out="):
        np.sum(x, out=np.zeros(()))
    with pytest.raises(TypeError, match="dim or axis"):
        x.sum(0, axis=1)
    assert np.asarray(x) is x.data  # __array__


def test_dlpack_with_numpy_shares_memory():
    x = giagrad.randn(2, 3)
    back = np.from_dlpack(x)
    assert np.shares_memory(back, x.data)
    a = np.arange(6.0)
    t = giagrad.from_dlpack(a)
    a[0] = 42
    assert t.data[0] == 42 and x.__dlpack_device__() == (1, 0)


def test_dlpack_with_pytorch_both_ways():
    torch = pytest.importorskip("torch")
    x = giagrad.randn(2, 3)
    as_torch = torch.from_dlpack(x)
    as_torch[0, 0] = 7.0
    assert x.data[0, 0] == 7.0
    source = torch.arange(4.0)
    t = giagrad.from_dlpack(source)
    source[1] = -1.0
    assert t.data[1] == -1.0 and t.dtype == np.float32


def test_star_import_keeps_python_builtins():
    namespace: dict = {}
    exec("from giagrad import *", namespace)
    for name in ("sum", "max", "min", "abs", "round", "float", "int", "bool"):
        assert name not in namespace, name
    assert namespace["exp"] is giagrad.exp and namespace["device"] is giagrad.device
    assert giagrad.sum is not sum and giagrad.float is np.float32


def test_arithmetic_spellings_randperm_and_inference_mode():
    x = giagrad.tensor([1.0, 2.0])
    assert giagrad.add(x, 1).tolist() == [2.0, 3.0] and giagrad.pow(x, 2).tolist() == [1.0, 4.0]
    assert giagrad.mul(x, x).tolist() == [1.0, 4.0] and giagrad.div(x, 2).tolist() == [0.5, 1.0]
    assert giagrad.sub(x, x).tolist() == [0.0, 0.0] and giagrad.broadcast_to(x, (3, 2)).shape == (3, 2)
    giagrad.manual_seed(0)
    first = giagrad.randperm(10)
    giagrad.manual_seed(0)
    assert sorted(first.tolist()) == list(range(10)) and giagrad.randperm(10).tolist() == first.tolist()
    assert first.dtype == np.int64
    w = giagrad.ones(2, requires_grad=True)
    with giagrad.inference_mode():
        assert not (w * 2).requires_grad
    with giagrad.inference_mode(False):
        assert (w * 2).requires_grad
