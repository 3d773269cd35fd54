"""The elementwise ops and 3-D convolution/pooling added for PyTorch parity: finite differences in
float64, and the values and gradients of PyTorch when it is importable."""

from __future__ import annotations

import numpy as np
import pytest

import giagrad
from giagrad import Tensor, gradcheck
from giagrad.nn import functional as F

RNG = np.random.default_rng(7)


def _away_from_integers(shape: tuple[int, ...]) -> np.ndarray:
    # steps (floor, round, sign, ...) are checked away from their jumps
    return RNG.integers(-3, 3, shape) + RNG.uniform(0.15, 0.35, shape) * RNG.choice([-1, 1], shape)


# name, giagrad function, the torch function's name, input values
ELEMENTWISE = [
    ("log2", lambda x: x.log2(), "log2", lambda s: RNG.uniform(0.2, 3.0, s)),
    ("exp2", lambda x: x.exp2(), "exp2", lambda s: RNG.uniform(-2.0, 2.0, s)),
    ("rsqrt", lambda x: x.rsqrt(), "rsqrt", lambda s: RNG.uniform(0.2, 3.0, s)),
    ("tan", lambda x: x.tan(), "tan", lambda s: RNG.uniform(-1.2, 1.2, s)),
    ("sign", lambda x: x.sign(), "sign", _away_from_integers),
    ("trunc", lambda x: x.trunc(), "trunc", _away_from_integers),
    ("floor", lambda x: x.floor(), "floor", _away_from_integers),
    ("ceil", lambda x: x.ceil(), "ceil", _away_from_integers),
    ("round", lambda x: x.round(), "round", _away_from_integers),
    ("softsign", lambda x: F.softsign(x), "nn.functional.softsign", lambda s: RNG.normal(0, 2, s)),
    ("celu", lambda x: F.celu(x, alpha=1.5), "nn.functional.celu", lambda s: RNG.normal(0, 2, s)),
]


def _torch_function(torch, dotted: str):
    target = torch
    for part in dotted.split("."):
        target = getattr(target, part)
    return target


@pytest.mark.parametrize("name, function, torch_name, values", ELEMENTWISE, ids=[c[0] for c in ELEMENTWISE])
@pytest.mark.parametrize("layout", ["contiguous", "strided"])
def test_elementwise_gradcheck(name, function, torch_name, values, layout):
    data = values((4, 6))
    if layout == "strided":
        data = np.asfortranarray(values((8, 6)))[::2]
    assert gradcheck(function, [Tensor(data, requires_grad=True)])


@pytest.mark.parametrize("name, function, torch_name, values", ELEMENTWISE, ids=[c[0] for c in ELEMENTWISE])
def test_elementwise_keeps_float32_and_is_a_tensor_method_and_function(name, function, torch_name, values):
    x = Tensor(values((3, 5)).astype(np.float32), requires_grad=True)
    out = function(x)
    assert out.dtype == np.float32
    out.sum().backward()
    assert x.grad.dtype == np.float32 and x.grad.shape == x.shape
    if "." not in torch_name:  # a tensor method and a giagrad.xxx function
        np.testing.assert_array_equal(getattr(giagrad, name)(x).data, out.data)


@pytest.mark.parametrize("name, function, torch_name, values", ELEMENTWISE, ids=[c[0] for c in ELEMENTWISE])
def test_elementwise_matches_pytorch(name, function, torch_name, values):
    torch = pytest.importorskip("torch")
    data = values((5, 7))
    data[0, :3] = [0.5, 1.5, -2.5]  # round half to even, as PyTorch
    x = Tensor(data, requires_grad=True)
    out = function(x)
    seed = RNG.normal(size=data.shape)
    out.backward(seed)
    tx = torch.tensor(data, requires_grad=True)
    kwargs = {"alpha": 1.5} if name == "celu" else {}
    tout = _torch_function(torch, torch_name)(tx, **kwargs)
    tout.backward(torch.tensor(seed))
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_celu_rejects_zero_alpha_and_integer_input():
    with pytest.raises(ValueError, match="alpha"):
        F.celu(giagrad.randn(3), alpha=0.0)
    with pytest.raises(TypeError, match="softsign"):
        giagrad.arange(3).softsign()


def test_activation_modules():
    x = giagrad.tensor([-1.0, 2.0])
    np.testing.assert_allclose(giagrad.nn.Softsign()(x).data, [-0.5, 2 / 3], rtol=1e-6)
    np.testing.assert_allclose(giagrad.nn.CELU(2.0)(x).data, [2 * np.expm1(-0.5), 2.0], rtol=1e-6)
    assert repr(giagrad.nn.CELU(2.0)) == "CELU(alpha=2.0)"


# ------------------------------------------------------------------------- 3-D conv and pooling


def _leaf(*shape: int) -> Tensor:
    return Tensor(RNG.normal(size=shape), requires_grad=True)


CONV3D = [
    dict(),
    dict(stride=2, padding=1),
    dict(stride=(1, 2, 1), padding=(1, 0, 1), dilation=(2, 1, 1)),
    dict(groups=2, padding="same"),
]


@pytest.mark.parametrize("options", CONV3D, ids=str)
def test_conv3d_gradcheck(options):
    x, w, b = _leaf(2, 4, 5, 4, 5), _leaf(4, 4 // options.get("groups", 1), 3, 2, 3), _leaf(4)
    assert gradcheck(lambda x, w, b: F.conv3d(x, w, b, **options), [x, w, b])


POOL3D = [
    ("max", dict(kernel_size=2)),
    ("max", dict(kernel_size=(2, 3, 2), stride=1, padding=1, dilation=(1, 1, 2))),
    ("max", dict(kernel_size=3, stride=2, ceil_mode=True)),
    ("avg", dict(kernel_size=2)),
    ("avg", dict(kernel_size=3, stride=2, padding=1, count_include_pad=False)),
    ("avg", dict(kernel_size=(3, 2, 3), stride=2, ceil_mode=True)),
]


def _pool(kind):
    return F.max_pool3d if kind == "max" else F.avg_pool3d


@pytest.mark.parametrize("kind, options", POOL3D, ids=str)
def test_pool3d_gradcheck(kind, options):
    x = _leaf(2, 3, 5, 6, 5)
    assert gradcheck(lambda x: _pool(kind)(x, **options), [x])


@pytest.mark.parametrize("options", CONV3D, ids=str)
def test_conv3d_matches_pytorch(options):
    torch = pytest.importorskip("torch")
    x, w, b = _leaf(2, 4, 5, 4, 5), _leaf(4, 4 // options.get("groups", 1), 3, 2, 3), _leaf(4)
    out = F.conv3d(x, w, b, **options)
    seed = RNG.normal(size=out.shape)
    out.backward(seed)
    tx, tw, tb = (torch.tensor(t.data, requires_grad=True) for t in (x, w, b))
    tout = torch.nn.functional.conv3d(tx, tw, tb, **options)
    tout.backward(torch.tensor(seed))
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-10, atol=1e-10)
    for ours, theirs in ((x, tx), (w, tw), (b, tb)):
        np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("kind, options", POOL3D, ids=str)
def test_pool3d_matches_pytorch(kind, options):
    torch = pytest.importorskip("torch")
    x = _leaf(2, 3, 5, 6, 5)
    out = _pool(kind)(x, **options)
    seed = RNG.normal(size=out.shape)
    out.backward(seed)
    tx = torch.tensor(x.data, requires_grad=True)
    tout = getattr(torch.nn.functional, f"{kind}_pool3d")(tx, **options)
    tout.backward(torch.tensor(seed))
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_3d_modules_shapes_repr_and_checks():
    conv = giagrad.nn.Conv3d(2, 4, 3, padding=1)
    assert conv.weight.shape == (4, 2, 3, 3, 3)
    x = giagrad.randn(1, 2, 4, 5, 6)
    assert conv(x).shape == (1, 4, 4, 5, 6)
    assert conv(x[0]).shape == (4, 4, 5, 6)  # without the batch dim
    assert giagrad.nn.MaxPool3d(2)(x).shape == (1, 2, 2, 2, 3)
    assert giagrad.nn.AvgPool3d(2, stride=1)(x).shape == (1, 2, 3, 4, 5)
    with pytest.raises(ValueError, match=r"\(N, C, D, H, W\)"):
        conv(giagrad.randn(2, 4, 5))
    with pytest.raises(TypeError, match="kernel_size"):
        giagrad.nn.MaxPool3d((2, 2))
