"""nn.init: statistics of each initialiser, dtypes, reproducibility, fans and errors."""

import math

import numpy as np
import pytest

import giagrad
from giagrad import nn
from giagrad.nn import init


def big(*shape, dtype=np.float32):
    return giagrad.empty(*shape, dtype=dtype)


@pytest.mark.parametrize("name, param, expected", [
    ("linear", None, 1.0), ("conv1d", None, 1.0), ("conv2d", None, 1.0), ("conv3d", None, 1.0),
    ("conv_transpose2d", None, 1.0), ("sigmoid", None, 1.0), ("tanh", None, 5 / 3),
    ("relu", None, math.sqrt(2)), ("leaky_relu", None, 1.4141428569978354),
    ("leaky_relu", 0.2, 1.3867504905630728), ("leaky_relu", 0, math.sqrt(2)), ("selu", None, 0.75),
])
def test_calculate_gain_matches_pytorch(name, param, expected):
    assert init.calculate_gain(name, param) == pytest.approx(expected, rel=1e-12)


def test_calculate_gain_errors():
    with pytest.raises(ValueError, match="unsupported nonlinearity 'swish'"):
        init.calculate_gain("swish")
    with pytest.raises(ValueError, match="negative_slope"):
        init.calculate_gain("leaky_relu", True)


@pytest.mark.parametrize("shape, fans", [
    ((30, 20), (20, 30)),                 # Linear (out, in)
    ((32, 16, 3, 5), (240, 480)),         # Conv2d (out, in, kh, kw)
    ((8, 4, 7), (28, 56)),                # Conv1d
    ((6, 2, 3, 3, 3), (54, 162)),         # Conv3d
    ((5, 1, 1, 1), (1, 5)),
])
def test_fans_count_the_receptive_field(shape, fans):
    assert init._calculate_fan_in_and_fan_out(big(*shape)) == fans


@pytest.mark.parametrize("fn", [init.xavier_uniform_, init.xavier_normal_, init.kaiming_uniform_,
                                init.kaiming_normal_, init.orthogonal_])
@pytest.mark.parametrize("shape", [(5,), ()])
def test_fan_based_initialisers_need_two_dims(fn, shape):
    with pytest.raises(ValueError, match="(2 dimensions|2 or more dimensions)"):
        fn(big(*shape))


def test_kaiming_mode_must_be_known():
    with pytest.raises(ValueError, match="mode 'fan_avg'"):
        init.kaiming_uniform_(big(3, 3), mode="fan_avg")


@pytest.mark.parametrize("fn, args, mean, std, bound", [
    (init.uniform_, (-2.0, 4.0), 1.0, 6 / math.sqrt(12), (-2.0, 4.0)),
    (init.normal_, (3.0, 0.5), 3.0, 0.5, None),
    (init.trunc_normal_, (0.0, 1.0, -2.0, 2.0), 0.0, 0.8796, (-2.0, 2.0)),
    (init.trunc_normal_, (1.0, 0.02, 0.96, 1.04), 1.0, 0.02 * 0.8796, (0.96, 1.04)),
])
def test_distribution_statistics(fn, args, mean, std, bound):
    giagrad.manual_seed(0)
    values = fn(big(400, 500), *args).data
    assert abs(values.mean() - mean) < 0.01 * std + 1e-6
    assert abs(values.std() - std) < 0.01 * std
    if bound is not None:
        assert values.min() >= bound[0] and values.max() <= bound[1]


@pytest.mark.parametrize("fn, shape, expected_std", [
    (init.xavier_uniform_, (300, 500), math.sqrt(2 / 800)),
    (init.xavier_normal_, (300, 500), math.sqrt(2 / 800)),
    (init.xavier_uniform_, (64, 32, 3, 3), math.sqrt(2 / ((32 + 64) * 9))),
    (init.kaiming_uniform_, (300, 500), math.sqrt(2 / 500)),
    (init.kaiming_normal_, (300, 500), math.sqrt(2 / 500)),
    (init.kaiming_normal_, (128, 64, 3, 3), math.sqrt(2 / (64 * 9))),
])
def test_fan_based_statistics(fn, shape, expected_std):
    giagrad.manual_seed(1)
    values = fn(big(*shape)).data
    assert abs(values.std() - expected_std) < 0.02 * expected_std
    assert abs(values.mean()) < 0.02 * expected_std
    if fn in (init.xavier_uniform_, init.kaiming_uniform_):
        assert np.abs(values).max() <= math.sqrt(3) * expected_std * (1 + 1e-6)


@pytest.mark.parametrize("mode, nonlinearity, fan, gain", [
    ("fan_in", "relu", 500, math.sqrt(2)),
    ("fan_out", "relu", 300, math.sqrt(2)),
    ("fan_in", "tanh", 500, 5 / 3),
])
def test_kaiming_mode_and_nonlinearity(mode, nonlinearity, fan, gain):
    giagrad.manual_seed(2)
    values = init.kaiming_uniform_(big(300, 500), mode=mode, nonlinearity=nonlinearity).data
    bound = gain * math.sqrt(3 / fan)
    assert np.abs(values).max() <= bound * (1 + 1e-6) and np.abs(values).max() > 0.99 * bound


def test_kaiming_a_sets_the_leaky_relu_slope():
    giagrad.manual_seed(0)
    values = init.kaiming_uniform_(big(100, 100), a=math.sqrt(5)).data
    assert np.abs(values).max() <= 1 / math.sqrt(100) + 1e-7


@pytest.mark.parametrize("shape", [(4, 7), (7, 4), (6, 6), (8, 3, 2, 2)])
def test_orthogonal_rows_or_columns_are_orthonormal(shape):
    giagrad.manual_seed(0)
    w = init.orthogonal_(big(*shape, dtype=np.float64), gain=2.0).data.reshape(shape[0], -1)
    rows, cols = w.shape
    gram = w @ w.T if rows <= cols else w.T @ w
    np.testing.assert_allclose(gram, 4.0 * np.eye(min(rows, cols)), atol=1e-10)


def test_orthogonal_is_uniform_thanks_to_the_sign_correction():
    # Without the sign correction QR gives a diagonal of R >= 0 bias: the first column's first
    # entry would be negative far more often than not. With it, the sign is a fair coin.
    signs = []
    for seed in range(200):
        giagrad.manual_seed(seed)
        signs.append(init.orthogonal_(big(3, 3, dtype=np.float64)).data[0, 0] > 0)
    assert 60 < sum(signs) < 140


def test_constant_zeros_ones_eye():
    t = big(3, 4)
    assert init.constant_(t, 0.25) is t and np.all(t.data == 0.25)
    assert not init.zeros_(t).data.any()
    assert np.all(init.ones_(t).data == 1)
    np.testing.assert_array_equal(init.eye_(t).data, np.eye(3, 4))
    with pytest.raises(ValueError, match="2-D"):
        init.eye_(big(2, 2, 2))


INITIALISERS = [
    lambda t: init.uniform_(t, -1, 1), lambda t: init.normal_(t, 0, 1), lambda t: init.trunc_normal_(t),
    lambda t: init.constant_(t, 0.5), init.zeros_, init.ones_, init.eye_, init.xavier_uniform_,
    init.xavier_normal_, init.kaiming_uniform_, init.kaiming_normal_, init.orthogonal_,
]


@pytest.mark.parametrize("fn", INITIALISERS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_in_place_dtype_kept_array_kept(fn, dtype):
    p = nn.Parameter(big(6, 5, dtype=dtype))
    array = p.data
    out = fn(p)
    assert out is p and p.data is array and p.dtype == dtype and p.requires_grad
    assert np.all(np.isfinite(p.data))


@pytest.mark.parametrize("fn", INITIALISERS)
def test_reproducible_with_manual_seed(fn):
    giagrad.manual_seed(42)
    first = fn(big(5, 5)).data.copy()
    giagrad.manual_seed(42)
    np.testing.assert_array_equal(fn(big(5, 5)).data, first)


def test_initialisers_work_on_parameters_that_require_grad_and_record_nothing():
    layer = nn.Linear(3, 3)
    out = layer(giagrad.randn(2, 3)).sum()
    init.normal_(layer.weight)
    assert layer.weight.grad_fn is None
    with pytest.raises(RuntimeError, match="modified in place"):
        out.backward()  # the graph saw the old weights


def test_zero_element_tensor_is_a_no_op_for_kaiming():
    t = big(0, 3)
    assert init.kaiming_uniform_(t) is t and init.kaiming_normal_(t) is t


def test_argument_errors():
    with pytest.raises(TypeError, match="Tensor"):
        init.normal_(np.zeros(3))
    with pytest.raises(TypeError, match="floating"):
        init.ones_(giagrad.zeros(3, dtype=np.int64))
    with pytest.raises(ValueError, match="a <= b"):
        init.uniform_(big(3), 1.0, 0.0)
    with pytest.raises(ValueError, match="std"):
        init.normal_(big(3), 0.0, -1.0)
    with pytest.raises(ValueError, match="a < b"):
        init.trunc_normal_(big(3), a=1.0, b=1.0)
    with pytest.raises(ValueError, match="interval nearer"):
        init.trunc_normal_(big(3), mean=0.0, std=1.0, a=8.0, b=9.0)
