"""Convolution and pooling ops: gradients (gradcheck), reference values, dtypes and layouts."""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import giagrad
import giagrad.nn.functional as F
from giagrad import kernels
from giagrad.convops import adaptive_average_matrix, col2im, sliding_windows


def wave(*shape, step=0.7):
    """Deterministic inputs shared with the PyTorch reference computations below."""
    return giagrad.Tensor(np.sin(np.arange(np.prod(shape)) * step).reshape(shape))


def cosine(*shape, step=0.3):
    return giagrad.Tensor(np.cos(np.arange(np.prod(shape)) * step).reshape(shape))


# ------------------------------------------------------------------------------ helpers


def test_windows_and_col2im_are_adjoint():
    # <windows(x), p> == <x, col2im(p)> for any x and p: the backward of the gather is the scatter
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 7, 6, 2))  # batch-last (C, H, W, N)
    kernel, stride, dilation, out = (3, 2), (2, 1), (1, 2), (3, 4)
    windows = sliding_windows(x, kernel, stride, dilation, out)
    assert windows.shape == (3, 3, 2, 3, 4, 2)
    assert windows[1, 2, 1, 2, 3, 0] == x[1, 2 * 2 + 2 * 1, 3 * 1 + 1 * 2, 0]
    patches = rng.standard_normal(windows.shape)
    target = col2im(np.zeros_like(x), patches, stride, dilation)
    assert np.sum(windows * patches) == pytest.approx(np.sum(x * target))


def test_adaptive_windows_follow_pytorchs_formula():
    # 5 -> 3: windows [0, 2), [1, 4), [3, 5)
    matrix = adaptive_average_matrix(5, 3, np.dtype(np.float64))
    expected = np.array([[1 / 2, 1 / 2, 0, 0, 0], [0, 1 / 3, 1 / 3, 1 / 3, 0], [0, 0, 0, 1 / 2, 1 / 2]])
    np.testing.assert_allclose(matrix, expected)


# ---------------------------------------------------------------------------- gradients

CONV2D_CASES = [
    # (in, out, kernel, stride, padding, dilation, groups)
    (2, 3, (3, 3), 1, 0, 1, 1),
    (2, 3, (3, 2), 2, 1, 1, 1),
    (2, 2, (2, 3), (2, 1), (1, 2), 1, 1),
    (2, 3, (3, 3), 1, "same", 1, 1),
    (2, 3, (2, 2), 1, "same", 1, 1),  # even kernel: the extra pad goes after
    (2, 2, (3, 2), 1, "same", (2, 1), 1),
    (2, 3, (2, 2), 1, "valid", 2, 1),
    (4, 6, (3, 3), 2, 1, 1, 2),
    (4, 4, (3, 3), 1, 1, 1, 4),  # depthwise
]


@pytest.mark.parametrize("in_c, out_c, kernel, stride, padding, dilation, groups", CONV2D_CASES)
def test_conv2d_gradcheck(seeded_leaf, in_c, out_c, kernel, stride, padding, dilation, groups):
    x = seeded_leaf(2, in_c, 5, 6)
    w = seeded_leaf(out_c, in_c // groups, *kernel, seed=1)
    b = seeded_leaf(out_c, seed=2)
    assert giagrad.gradcheck(lambda x, w, b: F.conv2d(x, w, b, stride, padding, dilation, groups), [x, w, b])


def test_conv2d_gradcheck_without_bias_on_a_non_contiguous_input(seeded_leaf):
    base = seeded_leaf(5, 6, 2, 3)
    w = seeded_leaf(2, 3, 2, 2, seed=1)
    assert giagrad.gradcheck(lambda t, w: F.conv2d(t.permute(2, 3, 0, 1), w, stride=(1, 2)), [base, w])


def test_conv2d_gradient_of_the_input_alone(seeded_leaf):
    x = seeded_leaf(1, 2, 4, 4)
    w = giagrad.Tensor(np.random.default_rng(3).standard_normal((3, 2, 2, 2)))
    assert giagrad.gradcheck(lambda x: F.conv2d(x, w, padding=1), [x])


@pytest.mark.parametrize("stride, padding, dilation, groups", [(1, 0, 1, 1), (2, 1, 2, 2), (1, "same", 1, 1),
                                                               (1, "same", 2, 2)])
def test_conv1d_gradcheck(seeded_leaf, stride, padding, dilation, groups):
    x = seeded_leaf(2, 4, 9)
    w = seeded_leaf(6, 4 // groups, 3, seed=1)
    b = seeded_leaf(6, seed=2)
    assert giagrad.gradcheck(lambda x, w, b: F.conv1d(x, w, b, stride, padding, dilation, groups), [x, w, b])


@pytest.mark.parametrize("stride, padding, output_padding, groups, dilation", [
    (1, 0, 0, 1, 1),
    (2, 1, 1, 1, 1),
    ((2, 3), (0, 1), (1, 2), 2, 1),
    (2, 1, 0, 2, 2),
])
def test_conv_transpose2d_gradcheck(seeded_leaf, stride, padding, output_padding, groups, dilation):
    x = seeded_leaf(2, 4, 3, 4)
    w = seeded_leaf(4, 6 // groups, 3, 2, seed=1)
    b = seeded_leaf(6, seed=2)
    assert giagrad.gradcheck(
        lambda x, w, b: F.conv_transpose2d(x, w, b, stride, padding, output_padding, groups, dilation), [x, w, b])


@pytest.mark.parametrize("kernel, stride, padding, dilation, ceil_mode", [
    (2, None, 0, 1, False),  # the tiling fast path
    (2, None, 0, 1, True),  # a partial last window
    (3, 1, 1, 1, False),  # overlapping, padded
    (3, 2, 1, 1, True),
    ((3, 2), (2, 1), (1, 0), (1, 2), True),
])
def test_max_pool2d_gradcheck(kernel, stride, padding, dilation, ceil_mode):
    # distinct values, so finite differences never cross a tie
    x = giagrad.Tensor(np.random.default_rng(0).permutation(2 * 2 * 7 * 7).reshape(2, 2, 7, 7) / 10.0,
                       requires_grad=True)
    assert giagrad.gradcheck(lambda x: F.max_pool2d(x, kernel, stride, padding, dilation, ceil_mode), [x])


def test_max_pool2d_routes_ties_to_the_first_maximum_and_accumulates_overlaps():
    x = giagrad.Tensor(np.zeros((1, 1, 3, 3)), requires_grad=True)
    F.max_pool2d(x, 2, stride=1).sum().backward()
    # every window is all zeros: each sends its gradient to its top-left element
    np.testing.assert_array_equal(x.grad[0, 0], [[1, 1, 0], [1, 1, 0], [0, 0, 0]])
    y = giagrad.Tensor([[[[0.0, 5.0, 1.0], [2.0, 3.0, 4.0], [1.0, 1.0, 0.0]]]], requires_grad=True)
    F.max_pool2d(y, 2, stride=1).sum().backward()
    np.testing.assert_array_equal(y.grad[0, 0], [[0, 2, 0], [0, 1, 1], [0, 0, 0]])


def test_max_pool2d_padding_never_wins():
    x = giagrad.Tensor(-np.ones((1, 1, 2, 2)))
    out = F.max_pool2d(x, 2, stride=1, padding=1)
    np.testing.assert_array_equal(out.data, -np.ones((1, 1, 3, 3)))


@pytest.mark.parametrize("kernel, stride, padding, ceil_mode, count_include_pad", [
    (2, None, 0, False, True),
    (3, 2, 1, False, True),
    (3, 2, 1, False, False),
    (3, 2, 1, True, True),
    (3, 2, 1, True, False),
    ((3, 2), 1, (1, 0), True, False),
])
def test_avg_pool2d_gradcheck(seeded_leaf, kernel, stride, padding, ceil_mode, count_include_pad):
    x = seeded_leaf(2, 2, 6, 5)
    assert giagrad.gradcheck(lambda x: F.avg_pool2d(x, kernel, stride, padding, ceil_mode, count_include_pad), [x])


@pytest.mark.parametrize("output_size", [1, 3, (4, 2), (5, None), (7, 6)])
def test_adaptive_avg_pool2d_gradcheck(seeded_leaf, output_size):
    x = seeded_leaf(2, 2, 5, 6)
    assert giagrad.gradcheck(lambda x: F.adaptive_avg_pool2d(x, output_size), [x])


# ------------------------------------------------------------------- values from PyTorch


def test_conv2d_matches_pytorch():
    x, w = wave(2, 4, 5, 5), cosine(6, 2, 3, 3)
    b = giagrad.Tensor(np.array([0.1, -0.2, 0.3, 0.0, 0.5, -0.5]))
    out = F.conv2d(x, w, b, stride=2, padding=1, groups=2)
    assert out.shape == (2, 6, 3, 3)
    # values from PyTorch 2.13
    np.testing.assert_allclose(out.data[0, :, 0, 0], [2.1518265012371027, 0.9863982890884498, -0.24582941700716493,
                                                      1.576913591150708, 2.464286874343721, 0.41652417975645906])
    np.testing.assert_allclose(out.data[1, 5, 2], [-1.9745977739672163, -2.073685190931633, -0.38668321320774857])


def test_conv2d_same_padding_with_dilation_matches_pytorch():
    out = F.conv2d(wave(2, 4, 5, 5), cosine(4, 4, 2, 3), padding="same", dilation=(2, 1))
    assert out.shape == (2, 4, 5, 5)
    # values from PyTorch 2.13
    np.testing.assert_allclose(out.data[0, 1, 2], [1.7035724224783035, 2.8776929039314822, 4.8423686623965025,
                                                   4.529602774838924, 3.397320119699827])


def test_conv_transpose2d_matches_pytorch():
    out = F.conv_transpose2d(wave(2, 4, 5, 5), cosine(4, 3, 3, 3, step=0.2), stride=2, padding=1, output_padding=1)
    assert out.shape == (2, 3, 10, 10)
    # values from PyTorch 2.13
    np.testing.assert_allclose(out.data[1, 2, 3, :5], [-2.446958245980733, -4.921620110762016, -2.850314981235286,
                                                       -4.434515787519657, -1.9131240434147492])


def test_pooling_matches_pytorch():
    x = wave(2, 4, 5, 5)
    # values from PyTorch 2.13
    np.testing.assert_allclose(F.max_pool2d(x, 3, 2, 1, ceil_mode=True).data[0, 0], [
        [0.644217687237691, 0.9854497299884601, 0.8632093666488739],
        [0.9881682338770003, 0.9881682338770003, 0.669569762196601],
        [0.9906073556948704, 0.8457468311429343, 0.669569762196601]])
    np.testing.assert_allclose(F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False).data[0, 0], [
        [-0.14453532821637916, 0.0012636268274638744, 0.14593619485420176],
        [-0.23934627610506762, -0.20968014586253594, 0.006893217521198536],
        [-0.00562982557129571, -0.13281633724376385, -0.14161141033694274]])
    np.testing.assert_allclose(F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=True).data[0, 0], [
        [-0.06423792365172407, 0.0008424178849759163, 0.0648605310463119],
        [-0.15956418407004508, -0.20968014586253594, 0.004595478347465691],
        [-0.0025021446983536488, -0.0885442248291759, -0.06293840459419678]])
    np.testing.assert_allclose(F.adaptive_avg_pool2d(x, (3, 2)).data[0, 0], [
        [-0.09585736591689818, 0.09779031613015582],
        [-0.24245205260038796, -0.07829239018287718],
        [-0.05625634296275228, -0.14691073280651695]])


CNN_CHAINS = {
    # the Fashion-MNIST recipe's block: conv (no bias), batch norm, ReLU, 2x2 max pool
    "recipe": dict(conv=dict(padding=1), bias=False, batch_norm=True),
    # LeNet's block: conv with bias, ReLU, max pool over an odd size (the last row is left out)
    "lenet": dict(conv=dict(), bias=True, batch_norm=False),
    "strided_grouped_dilated": dict(conv=dict(stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2), bias=True,
                                    batch_norm=True),
}


@pytest.mark.parametrize("dtype, rtol", [("float64", 1e-10), ("float32", 2e-4)])
@pytest.mark.parametrize("name", list(CNN_CHAINS))
def test_cnn_block_values_and_gradients_match_pytorch(name, dtype, rtol):
    torch = pytest.importorskip("torch")
    case = CNN_CHAINS[name]
    rng = np.random.default_rng(0)
    arrays = {"x": rng.standard_normal((4, 4, 11, 11)), "w": rng.standard_normal((6, 4 // case["conv"].get("groups", 1),
                                                                                   3, 3)),
              "b": rng.standard_normal(6), "gamma": rng.standard_normal(6), "beta": rng.standard_normal(6),
              "g": rng.standard_normal(1)}
    arrays = {k: v.astype(dtype) for k, v in arrays.items()}

    def block(lib, functional, t):
        out = functional.conv2d(t["x"], t["w"], t["b"] if case["bias"] else None, **case["conv"])
        if case["batch_norm"]:
            out = functional.batch_norm(out, None, None, t["gamma"], t["beta"], training=True)
        out = functional.max_pool2d(functional.relu(out), 2)
        weights = lib.sin(lib.arange(out.numel() if lib is torch else out.data.size, dtype=out.dtype))
        return (out * weights.reshape(out.shape)).sum()

    ours = {k: giagrad.Tensor(v, requires_grad=True) for k, v in arrays.items()}
    theirs = {k: torch.tensor(v, requires_grad=True) for k, v in arrays.items()}
    loss = block(giagrad, F, ours)
    reference = block(torch, torch.nn.functional, theirs)
    loss.backward()
    reference.backward()
    np.testing.assert_allclose(loss.data, reference.detach().numpy(), rtol=rtol)
    used = ["x", "w"] + (["b"] if case["bias"] else []) + (["gamma", "beta"] if case["batch_norm"] else [])
    for key in used:
        assert ours[key].grad.dtype == np.dtype(dtype)
        scale = max(np.abs(theirs[key].grad.numpy()).max(), 1.0)  # (a bias before batch norm gets ~0)
        np.testing.assert_allclose(ours[key].grad, theirs[key].grad.numpy(), rtol=rtol, atol=rtol * scale,
                                   err_msg=key)


def test_max_pool2d_nan_windows_pass_no_gradient():
    x = giagrad.Tensor(np.array([[[[1.0, np.nan, 5.0, 2.0], [0.0, 3.0, 1.0, 0.0]]]]), requires_grad=True)
    out = F.max_pool2d(x, 2)
    assert np.isnan(out.data[0, 0, 0, 0]) and out.data[0, 0, 0, 1] == 5.0
    out.sum().backward()
    np.testing.assert_array_equal(x.grad[0, 0], [[0, 0, 1, 0], [0, 0, 0, 0]])


def test_max_pool3d_with_more_than_255_offsets_routes_to_the_maximum():
    # 7 x 7 x 7 = 343 offsets: more than a byte can index
    x = giagrad.Tensor(np.random.default_rng(2).permutation(8 * 8 * 8).reshape(1, 1, 8, 8, 8) / 7.0,
                       requires_grad=True)
    out = F.max_pool3d(x, 7, stride=1)
    out.sum().backward()
    expected = np.zeros((8, 8, 8))
    for i, j, k in np.ndindex(2, 2, 2):
        window = x.data[0, 0, i:i + 7, j:j + 7, k:k + 7]
        a, b, c = np.unravel_index(np.argmax(window), window.shape)
        expected[i + a, j + b, k + c] += 1
    np.testing.assert_array_equal(x.grad[0, 0], expected)


# ------------------------------------------------------------------------ dtypes, shapes

FLOAT32_OPS = {
    "conv2d": lambda x, w: F.conv2d(x, w, padding=1),
    "conv1d": lambda x, w: F.conv1d(x.reshape(2, 3, 16), w[:, :, 0], stride=2),
    "conv_transpose2d": lambda x, w: F.conv_transpose2d(x, w.permute(1, 0, 2, 3), stride=2),
    "max_pool2d": lambda x, w: F.max_pool2d(x, 2),
    "max_pool2d_overlap": lambda x, w: F.max_pool2d(x, 3, 1, 1),
    "avg_pool2d": lambda x, w: F.avg_pool2d(x, 3, 2, 1),
    "adaptive_avg_pool2d": lambda x, w: F.adaptive_avg_pool2d(x, 3),
}


@pytest.mark.parametrize("name", list(FLOAT32_OPS))
def test_float32_in_float32_out_and_gradients(seeded_leaf, check_float32_grads_of_square_sum, name):
    x = seeded_leaf(2, 3, 4, 4, dtype="float32")
    w = seeded_leaf(5, 3, 3, 3, dtype="float32", seed=1)
    out = FLOAT32_OPS[name](x, w)
    check_float32_grads_of_square_sum(out, x, w)


def test_unbatched_inputs_keep_their_shape():
    x = giagrad.randn(3, 6, 6)
    assert F.conv2d(x, giagrad.randn(4, 3, 3, 3)).shape == (4, 4, 4)
    assert F.max_pool2d(x, 2).shape == (3, 3, 3)
    assert F.avg_pool2d(x, 2).shape == (3, 3, 3)
    assert F.conv1d(giagrad.randn(3, 8), giagrad.randn(2, 3, 3)).shape == (2, 6)


def test_gradients_accumulate_across_two_uses_of_one_weight(seeded_leaf):
    x = seeded_leaf(1, 2, 4, 4)
    w = seeded_leaf(2, 2, 3, 3, seed=1)
    assert giagrad.gradcheck(lambda x, w: F.conv2d(F.conv2d(x, w, padding=1), w), [x, w])


def test_pooling_gradcheck_on_non_contiguous_inputs():
    base = giagrad.Tensor(np.random.default_rng(4).permutation(5 * 6 * 2 * 2).reshape(5, 6, 2, 2) / 9.0,
                          requires_grad=True)
    assert giagrad.gradcheck(lambda t: F.max_pool2d(t.permute(2, 3, 0, 1), 2, stride=1), [base])
    assert giagrad.gradcheck(lambda t: F.avg_pool2d(t.permute(2, 3, 0, 1), 3, stride=2, padding=1), [base])


# ------------------------------------------------------ generated cases vs a direct formula


def reference_conv2d(x, w, stride, padding, dilation, groups):
    """The definition, one output pixel at a time (slow, obviously right)."""
    n, c, h, width = x.shape
    out_c, group_c, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding[0], padding[0]), (padding[1], padding[1])))
    oh = (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (width + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    out = np.zeros((n, out_c, oh, ow))
    per_group = out_c // groups
    for o in range(out_c):
        channels = slice((o // per_group) * group_c, (o // per_group + 1) * group_c)
        for i in range(oh):
            for j in range(ow):
                rows = slice(i * stride[0], i * stride[0] + dilation[0] * (kh - 1) + 1, dilation[0])
                cols = slice(j * stride[1], j * stride[1] + dilation[1] * (kw - 1) + 1, dilation[1])
                out[:, o, i, j] = np.einsum("nchw,chw->n", xp[:, channels, rows, cols], w[o])
    return out


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 2), groups=st.sampled_from([1, 2]), group_c=st.integers(1, 2), per_group=st.integers(1, 2),
       h=st.integers(1, 7), width=st.integers(1, 7), kh=st.integers(1, 3), kw=st.integers(1, 3),
       stride=st.tuples(st.integers(1, 3), st.integers(1, 3)), padding=st.tuples(st.integers(0, 2), st.integers(0, 2)),
       dilation=st.tuples(st.integers(1, 2), st.integers(1, 2)), seed=st.integers(0, 2**16))
def test_conv2d_matches_the_definition(n, groups, group_c, per_group, h, width, kh, kw, stride, padding, dilation,
                                       seed):
    assume(dilation[0] * (kh - 1) + 1 <= h + 2 * padding[0] and dilation[1] * (kw - 1) + 1 <= width + 2 * padding[1])
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, groups * group_c, h, width))
    w = rng.standard_normal((groups * per_group, group_c, kh, kw))
    out = F.conv2d(giagrad.Tensor(x), giagrad.Tensor(w), None, stride, padding, dilation, groups)
    np.testing.assert_allclose(out.data, reference_conv2d(x, w, stride, padding, dilation, groups), atol=1e-12)


def test_conv2d_skips_the_input_gradient_when_the_input_needs_none(seeded_leaf, monkeypatch):
    # a first layer: the images need no gradient, so neither its product nor col2im runs
    import giagrad.convops as convops

    def fail(*args, **kwargs):
        raise AssertionError("col2im ran for an input that needs no gradient")

    monkeypatch.setattr(convops, "col2im", fail)
    images = giagrad.Tensor(np.random.default_rng(0).standard_normal((2, 1, 6, 6)))
    w = seeded_leaf(3, 1, 3, 3)
    F.conv2d(images, w, padding=1).sum().backward()
    assert images.grad is None and w.grad.shape == (3, 1, 3, 3)


# ------------------------------------------------------------------ on several threads
# Convolution, pooling and batch norm split their passes over blocks of channels
# (giagrad.kernels): the same values and gradients on one thread or several.


def _conv_chain(x, w, gamma, beta):
    """conv (padded, strided) -> batch norm -> ReLU -> max pool, a batch-last chain end to end."""
    out = F.conv2d(x, w, padding=1, stride=(1, 2))
    out = F.batch_norm(out, None, None, gamma, beta, training=True)
    out = F.max_pool2d(out.relu(), 2)
    eval_out = F.batch_norm(out, giagrad.Tensor(np.full(4, 0.1)), giagrad.Tensor(np.full(4, 2.0)), gamma, beta)
    return (eval_out * giagrad.Tensor(np.linspace(-1, 1, eval_out.data.size).reshape(eval_out.shape))).sum()


def _values_and_grads(seeded_leaf):
    x, w = seeded_leaf(3, 2, 6, 8), seeded_leaf(4, 2, 3, 3, seed=1)
    gamma, beta = seeded_leaf(4, seed=2), seeded_leaf(4, seed=3)
    loss = _conv_chain(x, w, gamma, beta)
    loss.backward()
    return [loss.data] + [t.grad for t in (x, w, gamma, beta)]


def test_split_and_serial_steps_agree(seeded_leaf, monkeypatch):
    monkeypatch.setattr(kernels, "_num_threads", 1)
    serial = _values_and_grads(seeded_leaf)
    monkeypatch.setattr(kernels, "_num_threads", 3)
    monkeypatch.setattr(kernels, "PARALLEL_MIN_ELEMENTS", 0)
    split = _values_and_grads(seeded_leaf)
    for a, b in zip(serial, split):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_split_steps_pass_gradcheck(seeded_leaf, monkeypatch):
    monkeypatch.setattr(kernels, "_num_threads", 3)
    monkeypatch.setattr(kernels, "PARALLEL_MIN_ELEMENTS", 0)
    x, w = seeded_leaf(2, 2, 5, 6), seeded_leaf(4, 2, 3, 3, seed=1)
    gamma, beta = seeded_leaf(4, seed=2), seeded_leaf(4, seed=3)
    assert giagrad.gradcheck(_conv_chain, [x, w, gamma, beta])
