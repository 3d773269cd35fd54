"""Module forward pre-hooks, forward hooks and full backward hooks, and their handles."""

from __future__ import annotations

import numpy as np
import pytest

import giagrad
from giagrad import nn


def test_forward_pre_hook_sees_and_replaces_args():
    layer = nn.Linear(3, 2)
    seen = []
    handle = layer.register_forward_pre_hook(lambda module, args: seen.append((module, args[0].shape)))
    layer(giagrad.randn(4, 3))
    assert seen == [(layer, (4, 3))]
    handle.remove()
    layer(giagrad.randn(4, 3))
    assert len(seen) == 1
    with layer.register_forward_pre_hook(lambda module, args: giagrad.zeros(1, 3)):
        np.testing.assert_allclose(layer(giagrad.randn(4, 3)).data, layer.bias.data[None], rtol=1e-6)
    assert layer(giagrad.randn(4, 3)).shape == (4, 2)  # removed on leaving the with block


def test_forward_hook_replaces_output_and_runs_in_order():
    layer = nn.Linear(3, 2)
    order = []
    layer.register_forward_hook(lambda m, args, out: order.append("second"))
    layer.register_forward_hook(lambda m, args, out: order.append("first"), prepend=True)
    handle = layer.register_forward_hook(lambda m, args, out: out * 0)
    assert np.all(layer(giagrad.randn(2, 3)).data == 0) and order == ["first", "second"]
    handle.remove()
    assert np.any(layer(giagrad.randn(2, 3)).data != 0)


def test_hooks_with_kwargs():
    class Scale(nn.Module):
        def forward(self, x, factor=1.0):
            return x * factor

    module = Scale()
    module.register_forward_pre_hook(lambda m, args, kwargs: (args, {"factor": 3.0}), with_kwargs=True)
    outputs = []
    module.register_forward_hook(lambda m, args, kwargs, out: outputs.append(kwargs["factor"]), with_kwargs=True)
    assert module(giagrad.ones(2)).data.tolist() == [3.0, 3.0] and outputs == [3.0]


def test_hook_must_be_callable():
    with pytest.raises(TypeError, match="callable"):
        nn.Linear(2, 2).register_forward_hook("not a function")


def test_full_backward_hook_gets_input_and_output_gradients():
    layer = nn.Linear(3, 2).double()
    calls = []
    layer.register_full_backward_hook(lambda m, grad_input, grad_output: calls.append((m, grad_input, grad_output)))
    x = giagrad.randn(4, 3, dtype=giagrad.float64, requires_grad=True)
    seed = np.random.default_rng(0).normal(size=(4, 2))
    layer(x).backward(seed)
    ((module, grad_input, grad_output),) = calls
    assert module is layer
    np.testing.assert_allclose(grad_output[0], seed)
    np.testing.assert_allclose(grad_input[0], seed @ layer.weight.data)
    np.testing.assert_allclose(x.grad, grad_input[0])


def test_full_backward_hook_when_the_input_needs_no_grad():
    layer = nn.Linear(3, 2)
    calls = []
    layer.register_full_backward_hook(lambda m, gi, go: calls.append((gi, go[0].shape)))
    layer(giagrad.randn(4, 3)).sum().backward()
    assert calls == [((None,), (4, 2))]


def test_full_backward_hook_replaces_grad_input_and_is_removable():
    model = nn.Sequential(nn.Linear(3, 3), nn.ReLU(), nn.Linear(3, 1))
    x = giagrad.randn(5, 3, requires_grad=True)
    handle = model[2].register_full_backward_hook(lambda m, gi, go: (gi[0] * 0,))
    model(x).sum().backward()
    assert np.all(x.grad == 0) and np.all(model[0].weight.grad == 0)
    assert model[2].weight.grad is not None and np.any(model[2].weight.grad != 0)
    handle.remove()
    x.grad = None
    model(x).sum().backward()
    assert np.any(x.grad != 0)


def test_full_backward_hook_under_no_grad_and_with_retain_graph():
    layer = nn.Linear(2, 2)
    calls = []
    layer.register_full_backward_hook(lambda m, gi, go: calls.append(1))
    with giagrad.no_grad():
        layer(giagrad.randn(1, 2))
    x = giagrad.randn(1, 2, requires_grad=True)
    out = layer(x).sum()
    out.backward(retain_graph=True)
    out.backward()
    assert calls == [1, 1]


def test_full_backward_hook_matches_pytorch():
    torch = pytest.importorskip("torch")
    ours, theirs = [], []
    layer = nn.Conv2d(2, 3, 3).double()
    tlayer = torch.nn.Conv2d(2, 3, 3).double()
    with torch.no_grad():
        tlayer.weight.copy_(torch.from_numpy(layer.weight.data))
        tlayer.bias.copy_(torch.from_numpy(layer.bias.data))
    layer.register_full_backward_hook(lambda m, gi, go: ours.append((gi[0], go[0])))
    tlayer.register_full_backward_hook(lambda m, gi, go: theirs.append((gi[0].numpy(), go[0].numpy())))
    data = np.random.default_rng(1).normal(size=(2, 2, 5, 5))
    (layer(giagrad.tensor(data, requires_grad=True)) ** 2).sum().backward()
    (tlayer(torch.tensor(data, requires_grad=True)) ** 2).sum().backward()
    for (gi, go), (tgi, tgo) in zip(ours, theirs):
        np.testing.assert_allclose(gi, tgi, rtol=1e-10)
        np.testing.assert_allclose(go, tgo, rtol=1e-10)
