"""Activations: values and gradients against PyTorch, gradcheck, stability, dtypes and modules."""

import math

import numpy as np
import pytest

import giagrad
import giagrad.nn.functional as F
from giagrad import nn
from giagrad.mlops import gelu_float32_block, normal_cdf

EDGE_INPUTS = [-30.0, -8.0, -3.0, -1.5, -0.5, 0.0, 0.25, 1.0, 2.5, 3.0, 8.0, 30.0]

# Values and gradients (of the sum) at EDGE_INPUTS in float64, values from PyTorch 2.13.
# They include PyTorch's choice of gradient at the kinks: leaky_relu at 0, hardtanh at its
# ends, hardswish at -3 and 3.
PYTORCH_REFERENCE = {
    "gelu": (
        lambda x: F.gelu(x),
        [-0.0, -4.884981308351e-15, -0.00404969409489, -0.1002108019033, -0.154268769363, 0, 0.1496765814207,
         0.8413447460685, 2.484475836686, 2.995950305905, 8, 30],
        [-4.420938404636e-195, -3.980754600475e-14, -0.01194564720418, -0.12746919223, 0.1325048753438, 0.5,
         0.6953733548836, 1.083315470588, 1.037611085908, 1.011945647204, 1, 1],
    ),
    "gelu_tanh": (
        lambda x: F.gelu(x, approximate="tanh"),
        [-0.0, -0.0, -0.003637392081773, -0.1004284230198, -0.1542859901749, 0, 0.1496753507017, 0.8411919906083,
         2.48491573391, 2.996362607918, 8, 30],
        [0, 0, -0.01158416663097, -0.1277107931514, 0.1326300964654, 0.5, 0.6953540951511, 1.082964083846,
         1.037951576213, 1.011584166631, 1, 1],
    ),
    "elu_0.7": (
        lambda x: F.elu(x, alpha=0.7),
        [-0.6999999999999, -0.6997651761605, -0.6651490521425, -0.5438088878961, -0.2754285382012, 0, 0.25, 1, 2.5,
         3, 8, 30],
        [6.550336078188e-14, 0.0002348238395318, 0.0348509478575, 0.1561911121039, 0.4245714617988, 0.7, 1, 1, 1,
         1, 1, 1],
    ),
    "silu": (
        F.silu,
        [-2.807286890652e-12, -0.002682801043732, -0.1422776195327, -0.2736382857095, -0.1887703343991, 0,
         0.1405441252214, 0.73105857863, 2.310354549947, 2.857722380467, 7.997317198956, 30],
        [-2.713710660963e-12, -0.002346551235585, -0.08810410601517, -0.04129415429914, 0.2600388126973, 0.5,
         0.6237100215702, 0.9276705118715, 1.099401111342, 1.088104106015, 1.002346551236, 1.000000000003],
    ),
    "mish": (
        F.mish,
        [-2.807286890652e-12, -0.002683250882547, -0.1456474612756, -0.2980997421668, -0.2207437746517, 0,
         0.1695724096638, 0.8650983882673, 2.471392304558, 2.986535004968, 7.999998200645, 30],
        [-2.713710660963e-12, -0.002347394381605, -0.09339311453232, -0.06409781589226, 0.2895106779135, 0.6,
         0.7541726677206, 1.0490362201, 1.041129530131, 1.021106910929, 1.000003372584, 1],
    ),
    "softplus_beta2_threshold5": (
        lambda x: F.softplus(x, beta=2.0, threshold=5.0),
        [4.378255381348e-27, 5.626758419359e-08, 0.001237842568865, 0.02429367578687, 0.1566308437591,
         0.34657359028, 0.4870384920901, 1.063464005521, 2.503357674245, 3, 8, 30],
        [8.756510762697e-27, 1.125351620551e-07, 0.002472623156635, 0.04742587317757, 0.26894142137, 0.5,
         0.6224593312019, 0.8807970779779, 0.9933071490757, 1, 1, 1],
    ),
    "hardswish": (
        F.hardswish,
        [-0.0, -0.0, -0.0, -0.375, -0.2083333333333, 0, 0.1354166666667, 0.6666666666667, 2.291666666667, 3, 8, 30],
        [0, 0, 0, 0, 0.3333333333333, 0.5, 0.5833333333333, 0.8333333333333, 1.333333333333, 1, 1, 1],
    ),
    "leaky_relu_0.2": (
        lambda x: F.leaky_relu(x, 0.2),
        [-6, -1.6, -0.6, -0.3, -0.1, 0, 0.25, 1, 2.5, 3, 8, 30],
        [0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 1, 1, 1, 1, 1, 1],
    ),
    "hardtanh_-1.5_3": (
        lambda x: F.hardtanh(x, -1.5, 3.0),
        [-1.5, -1.5, -1.5, -1.5, -0.5, 0, 0.25, 1, 2.5, 3, 3, 3],
        [0, 0, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0],
    ),
    "relu": (
        F.relu,
        [0, 0, 0, 0, 0, 0, 0.25, 1, 2.5, 3, 8, 30],
        [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1],
    ),
}


@pytest.mark.parametrize("name", PYTORCH_REFERENCE)
def test_values_and_gradients_match_pytorch(name):
    function, values, gradients = PYTORCH_REFERENCE[name]
    x = giagrad.tensor(np.array(EDGE_INPUTS), requires_grad=True)
    y = function(x)
    # atol: PyTorch's exact gelu computes 1 + erf(x / sqrt(2)), which cancels for x < -5; giagrad
    # keeps the relative accuracy there (see test_gelu_tail_keeps_relative_accuracy)
    np.testing.assert_allclose(y.data, values, rtol=1e-11, atol=1e-14)
    y.sum().backward()
    np.testing.assert_allclose(x.grad, gradients, rtol=1e-11, atol=1e-14)


ACTIVATIONS = {
    "relu": F.relu,
    "leaky_relu": lambda x: F.leaky_relu(x, 0.1),
    "elu": lambda x: F.elu(x, alpha=1.3),
    "gelu": F.gelu,
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "silu": F.silu,
    "mish": F.mish,
    "softplus": F.softplus,
    "softplus_beta": lambda x: F.softplus(x, beta=0.5, threshold=3.0),
    "sigmoid": F.sigmoid,
    "tanh": F.tanh,
    "hardtanh": lambda x: F.hardtanh(x, -0.5, 2.0),
    "hardswish": F.hardswish,
    "softmax": lambda x: F.softmax(x, dim=-1),
    "log_softmax": lambda x: F.log_softmax(x, dim=0),
}

# Away from the kinks (finite differences are meaningless across one), from tiny to large |x|.
SMOOTH_INPUTS = [-40.0, -12.0, -5.5, -2.7, -1.1, -0.3, -1e-3, 2e-3, 0.4, 1.7, 2.9, 4.2, 9.0, 35.0]


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_gradcheck(name):
    function = ACTIVATIONS[name]
    x = giagrad.tensor(np.array(SMOOTH_INPUTS).reshape(2, 7), requires_grad=True)
    assert giagrad.gradcheck(function, [x])
    # a non-contiguous view
    assert giagrad.gradcheck(lambda t: function(t.T), [x])


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_float32_stays_float32(name):
    x = giagrad.tensor(np.array(SMOOTH_INPUTS, dtype=np.float32), requires_grad=True)
    y = ACTIVATIONS[name](x)
    assert y.dtype == np.float32
    (y * giagrad.randn(len(SMOOTH_INPUTS))).sum().backward()
    assert x.grad.dtype == np.float32


@pytest.mark.parametrize("name", ACTIVATIONS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_extreme_inputs_give_finite_values_and_gradients(name, dtype):
    x = giagrad.tensor(np.array([-1e30, -1e4, -100.0, 100.0, 1e4, 1e30], dtype=dtype), requires_grad=True)
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # no overflow or nan warnings either
        y = ACTIVATIONS[name](x)
        (y * giagrad.ones(6, dtype=dtype)).sum().backward()
    assert np.all(np.isfinite(y.data)) and np.all(np.isfinite(x.grad))


def test_sigmoid_is_exact_in_both_tails():
    x = giagrad.tensor([-745.0, -100.0, 100.0], dtype="float64")
    np.testing.assert_allclose(F.sigmoid(x).data, [math.exp(-745.0), math.exp(-100.0), 1.0], rtol=1e-12)


def test_normal_cdf_matches_math_erfc_to_1e_12_relative():
    x = np.concatenate([np.linspace(-37, 8, 4001), [-1e-8, 1e-8, 0.0]])
    expected = np.array([0.5 * math.erfc(-v / math.sqrt(2)) for v in x])
    np.testing.assert_allclose(normal_cdf(x), expected, rtol=2e-12, atol=0)


def test_float32_gelu_block_is_accurate_to_float32_resolution():
    x = np.concatenate([np.linspace(-45, 45, 9001), [-1e-8, 0.0, 1e-8, 3e38, -3e38]]).astype(np.float32)
    out, slope = np.empty_like(x), np.empty_like(x)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        gelu_float32_block(x, out, slope)
    wide = x.astype(np.float64)
    cdf = normal_cdf(wide)
    # |x| Phi's error of 4e-7, and the float32 rounding of the value itself
    exact = wide * cdf
    assert np.all(np.abs(out - exact) <= 4e-7 * np.abs(wide) + 2e-7 * np.abs(exact))
    density = np.exp(-0.5 * np.minimum(wide * wide, 1e4)) / math.sqrt(2 * math.pi)
    np.testing.assert_allclose(slope, cdf + wide * density, rtol=2e-6, atol=4e-7)
    # the left tail keeps some relative accuracy (Hastings' relative error grows slowly there):
    # x Phi(x) = -|x| Phi(-|x|), with no 1 - Phi to cancel as PyTorch's 1 + erf(x / sqrt(2)) does
    left = (x < -1) & (x > -12)
    np.testing.assert_allclose(out[left], exact[left], rtol=4e-2)
    without_slope = np.empty_like(x)
    gelu_float32_block(x, without_slope, None)
    np.testing.assert_array_equal(without_slope, out)


def test_float32_gelu_matches_the_float64_one():
    x = giagrad.tensor(np.linspace(-9, 9, 3001), dtype="float64", requires_grad=True)
    narrow = giagrad.tensor(x.data.astype(np.float32), requires_grad=True)
    F.gelu(x).sum().backward()
    F.gelu(narrow).sum().backward()
    assert narrow.grad.dtype == np.float32
    np.testing.assert_allclose(F.gelu(narrow).data, F.gelu(x).data, rtol=0, atol=4e-6)
    np.testing.assert_allclose(narrow.grad, x.grad, rtol=0, atol=1e-6)


def test_gelu_tail_keeps_relative_accuracy():
    # x * Phi(x) at x = -10 is about -7.6e-23: an absolute-error erf approximation would lose it
    x = giagrad.tensor([-10.0, -20.0], dtype="float64")
    expected = [v * 0.5 * math.erfc(-v / math.sqrt(2)) for v in (-10.0, -20.0)]
    np.testing.assert_allclose(F.gelu(x).data, expected, rtol=1e-11)


def test_gelu_rejects_an_unknown_approximation():
    with pytest.raises(ValueError, match="gelu: approximate must be 'none' or 'tanh', got 'erf'"):
        F.gelu(giagrad.randn(3), approximate="erf")
    with pytest.raises(ValueError, match="GELU: approximate"):
        nn.GELU("fast")


def test_activations_reject_integer_input():
    with pytest.raises(TypeError, match="relu: input must be a floating point tensor, got dtype int64"):
        F.relu(giagrad.tensor([1, -2]))


def test_hardtanh_and_softplus_reject_bad_options():
    with pytest.raises(ValueError, match="hardtanh: min_val"):
        F.hardtanh(giagrad.randn(3), min_val=2.0, max_val=1.0)
    with pytest.raises(ValueError, match="Hardtanh: min_val"):
        nn.Hardtanh(1.0, -1.0)
    with pytest.raises(ValueError, match="softplus: beta must be non-zero"):
        F.softplus(giagrad.randn(3), beta=0)


MODULES = [
    (nn.ReLU(), F.relu, "ReLU()"),
    (nn.ReLU(inplace=True), F.relu, "ReLU(inplace=True)"),
    (nn.LeakyReLU(), F.leaky_relu, "LeakyReLU(negative_slope=0.01)"),
    (nn.LeakyReLU(0.2, inplace=True), lambda x: F.leaky_relu(x, 0.2), "LeakyReLU(negative_slope=0.2, inplace=True)"),
    (nn.ELU(), F.elu, "ELU(alpha=1.0)"),
    (nn.ELU(0.5), lambda x: F.elu(x, 0.5), "ELU(alpha=0.5)"),
    (nn.GELU(), F.gelu, "GELU(approximate='none')"),
    (nn.GELU("tanh"), lambda x: F.gelu(x, "tanh"), "GELU(approximate='tanh')"),
    (nn.SiLU(), F.silu, "SiLU()"),
    (nn.Mish(), F.mish, "Mish()"),
    (nn.Softplus(), F.softplus, "Softplus(beta=1.0, threshold=20.0)"),
    (nn.Softplus(2, 10), lambda x: F.softplus(x, 2, 10), "Softplus(beta=2, threshold=10)"),
    (nn.Sigmoid(), F.sigmoid, "Sigmoid()"),
    (nn.Tanh(), F.tanh, "Tanh()"),
    (nn.Hardtanh(), F.hardtanh, "Hardtanh(min_val=-1.0, max_val=1.0)"),
    (nn.Hardtanh(-2, 2), lambda x: F.hardtanh(x, -2, 2), "Hardtanh(min_val=-2, max_val=2)"),
    (nn.Hardswish(), F.hardswish, "Hardswish()"),
    (nn.Softmax(dim=1), lambda x: F.softmax(x, 1), "Softmax(dim=1)"),
    (nn.LogSoftmax(dim=-1), lambda x: F.log_softmax(x, -1), "LogSoftmax(dim=-1)"),
]


@pytest.mark.parametrize(("module", "function", "text"), MODULES, ids=[text for _, _, text in MODULES])
def test_modules_call_their_function_and_print_like_pytorch(module, function, text):
    # reprs as PyTorch 2.13 prints them
    assert repr(module) == text
    x = giagrad.randn(3, 4) * 4
    np.testing.assert_array_equal(module(x).data, function(x).data)
    assert list(module.parameters()) == []


def test_activation_modules_in_a_sequential():
    model = nn.Sequential(nn.Linear(4, 8), nn.GELU(), nn.Linear(8, 3), nn.LogSoftmax(dim=1))
    x = giagrad.randn(5, 4)
    out = model(x)
    assert out.shape == (5, 3)
    np.testing.assert_allclose(np.exp(out.data).sum(axis=1), 1.0, rtol=1e-6)


@pytest.mark.parametrize("threads", [1, 2])
def test_float32_gelu_matches_pytorch_on_a_blocked_threaded_activation(threads):
    torch = pytest.importorskip("torch")
    # (12, 64, 512): a GPT's widest activation, many row blocks, split between threads when asked
    x = np.random.default_rng(0).normal(0, 2, (12, 64, 512)).astype(np.float32)
    grad = np.random.default_rng(1).normal(0, 1, x.shape).astype(np.float32)
    previous = giagrad.get_num_threads()
    giagrad.set_num_threads(threads)
    try:
        ours = giagrad.tensor(x, requires_grad=True)
        out = F.gelu(ours)
        out.backward(giagrad.tensor(grad))
    finally:
        giagrad.set_num_threads(previous)
    theirs = torch.tensor(x, requires_grad=True)
    expected = torch.nn.functional.gelu(theirs)
    expected.backward(torch.tensor(grad))
    assert out.dtype == ours.grad.dtype == np.float32
    # both are float32 evaluations of erf (a few units in the last place); |x| < 2e-6 covers them
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-6, atol=2e-6)
    np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-6, atol=2e-6)


def test_float32_gelu_of_a_non_contiguous_input_matches_float64():
    wide = np.random.default_rng(2).normal(0, 3, (300, 700))
    grad = np.random.default_rng(3).normal(size=(700, 300))
    narrow = giagrad.tensor(wide.astype(np.float32).T, requires_grad=True)  # a transposed view: many blocks
    exact = giagrad.tensor(wide.T.copy(), requires_grad=True)
    out, expected = F.gelu(narrow), F.gelu(exact)
    out.backward(giagrad.tensor(grad.astype(np.float32)))
    expected.backward(giagrad.tensor(grad))
    assert narrow.grad.shape == (700, 300) and narrow.grad.dtype == np.float32
    np.testing.assert_allclose(out.data, expected.data, rtol=0, atol=4e-6)
    np.testing.assert_allclose(narrow.grad, exact.grad, rtol=1e-6, atol=4e-6)


def test_gelu_without_grad_saves_nothing_and_gives_the_same_values():
    x = giagrad.tensor(np.linspace(-6, 6, 1001, dtype=np.float32).reshape(7, 143), requires_grad=True)
    with giagrad.no_grad():
        quiet = F.gelu(x)
    assert quiet._ctx is None
    np.testing.assert_array_equal(quiet.data, F.gelu(x).data)
