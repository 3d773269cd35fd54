"""Shape and movement ops: values against numpy, gradients by gradcheck, dtypes and errors."""

import numpy as np
import pytest

import giagrad

RNG = np.random.default_rng(11)


@pytest.fixture
def leaf(laid_out_leaf):
    """``leaf(shape, layout, dtype)``: standard-normal values in a contiguous, transposed or strided array."""
    return lambda shape, layout="contiguous", dtype=np.float64: laid_out_leaf(RNG.standard_normal, shape, layout, dtype)


def weighted_cat(pieces, dim):
    """Join pieces with different weights, so a gradient sent to the wrong piece is caught."""
    return giagrad.cat([p * (i + 1) for i, p in enumerate(pieces)], dim)


INDEX = np.array([2, 0, 2, 2])  # repeated indices: their gradients must add up

# name, function of the tensor, numpy reference, input shape
CASES = [
    ("reshape", lambda t: t.reshape(4, 3), lambda a: a.reshape(4, 3), (3, 4)),
    ("view -1", lambda t: t.contiguous().view(-1, 2), lambda a: a.reshape(-1, 2), (3, 4)),
    ("flatten", lambda t: t.flatten(), lambda a: a.reshape(-1), (2, 3, 2)),
    ("flatten from 1", lambda t: t.flatten(1), lambda a: a.reshape(2, 6), (2, 3, 2)),
    ("flatten 0..-2", lambda t: t.flatten(0, -2), lambda a: a.reshape(6, 2), (2, 3, 2)),
    ("squeeze", lambda t: t.squeeze(), lambda a: a.squeeze(), (3, 1, 2, 1)),
    ("squeeze dim", lambda t: t.squeeze(-1), lambda a: a.squeeze(-1), (3, 1, 2, 1)),
    ("squeeze tuple", lambda t: t.squeeze((0, 1)), lambda a: a.squeeze(1), (3, 1, 2, 1)),
    ("unsqueeze", lambda t: t.unsqueeze(1), lambda a: a[:, None], (3, 4)),
    ("unsqueeze -1", lambda t: t.unsqueeze(-1), lambda a: a[..., None], (3, 4)),
    ("permute", lambda t: t.permute(2, 0, 1), lambda a: a.transpose(2, 0, 1), (2, 3, 4)),
    ("transpose", lambda t: t.transpose(0, -1), lambda a: a.swapaxes(0, 2), (2, 3, 4)),
    ("T", lambda t: t.T, lambda a: a.T, (3, 4)),
    ("expand", lambda t: t.expand(2, 3, 4), lambda a: np.broadcast_to(a, (2, 3, 4)), (3, 1)),
    ("expand -1", lambda t: t.expand(-1, 5), lambda a: np.broadcast_to(a, (3, 5)), (3, 1)),
    ("broadcast_to", lambda t: t.broadcast_to((2, 3, 4)), lambda a: np.broadcast_to(a, (2, 3, 4)), (4,)),
    ("getitem int", lambda t: t[1], lambda a: a[1], (3, 4)),
    ("getitem negative int", lambda t: t[:, -1], lambda a: a[:, -1], (3, 4)),
    ("getitem slice", lambda t: t[1:, ::2], lambda a: a[1:, ::2], (3, 4)),
    ("getitem negative step", lambda t: t[::-1, 3:0:-2], lambda a: a[::-1, 3:0:-2], (3, 4)),
    ("getitem None Ellipsis", lambda t: t[None, ..., 1], lambda a: a[None, ..., 1], (2, 3, 4)),
    ("getitem repeated indices", lambda t: t[INDEX], lambda a: a[INDEX], (3, 4)),
    ("getitem list", lambda t: t[[0, 0, 1], 1:], lambda a: a[[0, 0, 1], 1:], (3, 4)),
    ("getitem tensor index", lambda t: t[:, giagrad.tensor([3, 3, 0])], lambda a: a[:, [3, 3, 0]], (3, 4)),
    ("getitem two arrays", lambda t: t[[0, 2, 0], [1, 1, 1]], lambda a: a[[0, 2, 0], [1, 1, 1]], (3, 4)),
    ("getitem bool mask", lambda t: t[t.detach() > 0], lambda a: a[a > 0], (3, 4)),
    ("getitem bool rows", lambda t: t[np.array([True, False, True])], lambda a: a[[0, 2]], (3, 4)),
    ("cat", lambda t: weighted_cat([t, t[:1], t * t], 0), lambda a: np.concatenate([a, 2 * a[:1], 3 * a * a]), (3, 4)),
    ("cat -1", lambda t: weighted_cat([t, t[:, :2]], -1), lambda a: np.concatenate([a, 2 * a[:, :2]], -1), (3, 4)),
    ("stack", lambda t: giagrad.stack([t, 2 * t, t[::-1]], 1), lambda a: np.stack([a, 2 * a, a[::-1]], 1), (3, 4)),
    ("stack -1", lambda t: giagrad.stack([t, t.exp()], -1), lambda a: np.stack([a, np.exp(a)], -1), (3, 4)),
    ("split", lambda t: weighted_cat(t.split(3, 1), 1),
     lambda a: np.concatenate([a[:, :3], 2 * a[:, 3:]], 1), (2, 5)),
    ("split sections", lambda t: weighted_cat(t.split([1, 0, 4], -1), -1),
     lambda a: np.concatenate([a[:, :1], 3 * a[:, 1:]], 1), (2, 5)),
    ("chunk", lambda t: weighted_cat(t.chunk(2, 0), 0), lambda a: np.concatenate([a[:2], 2 * a[2:]]), (3, 4)),
    ("unbind", lambda t: weighted_cat([p[None] for p in t.unbind(1)], 0), lambda a: a.T * [[1], [2], [3], [4]],
     (3, 4)),
    ("pad constant", lambda t: t.pad((1, 2)), lambda a: np.pad(a, ((0, 0), (1, 2))), (3, 4)),
    ("pad value two dims", lambda t: giagrad.pad(t, (0, 1, 2, 0), value=1.5),
     lambda a: np.pad(a, ((2, 0), (0, 1)), constant_values=1.5), (3, 4)),
    ("pad negative crops", lambda t: t.pad((-1, 1, 0, -2)), lambda a: np.pad(a[:1, 1:], ((0, 0), (0, 1))), (3, 4)),
    ("pad reflect", lambda t: t.pad((2, 1, 1, 1), mode="reflect"),
     lambda a: np.pad(a, ((1, 1), (2, 1)), mode="reflect"), (3, 4)),
    ("pad replicate", lambda t: t.pad((3, 1), mode="replicate"), lambda a: np.pad(a, ((0, 0), (3, 1)), mode="edge"),
     (3, 4)),
    ("pad circular", lambda t: t.pad((0, 4, 2, 0), mode="circular"),
     lambda a: np.pad(a, ((2, 0), (0, 4)), mode="wrap"), (3, 4)),
    ("flip", lambda t: t.flip(0), lambda a: a[::-1], (3, 4)),
    ("flip dims", lambda t: t.flip((0, -1)), lambda a: a[::-1, :, ::-1], (2, 3, 4)),
    ("repeat", lambda t: t.repeat(2, 3), lambda a: np.tile(a, (2, 3)), (3, 4)),
    ("repeat new dims", lambda t: t.repeat(2, 1, 2), lambda a: np.tile(a, (2, 1, 2)), (3, 4)),
    ("contiguous", lambda t: t.T.contiguous(), lambda a: a.T, (3, 4)),
]
IDS = [c[0] for c in CASES]


@pytest.mark.parametrize("name, fn, reference, shape", CASES, ids=IDS)
@pytest.mark.parametrize("layout", ["contiguous", "transposed", "strided"])
def test_gradcheck(leaf, name, fn, reference, shape, layout):
    x = leaf(shape, layout)
    np.testing.assert_allclose(fn(x).data, reference(x.data), rtol=1e-12)
    assert giagrad.gradcheck(fn, [x])


@pytest.mark.parametrize("name, fn, reference, shape", CASES, ids=IDS)
def test_float32_in_float32_out_and_grads(leaf, check_float32_grads, name, fn, reference, shape):
    x = leaf(shape, dtype=np.float32)
    out = fn(x)
    check_float32_grads(out, [x])


def test_repeated_indices_accumulate_their_gradients():
    x = giagrad.zeros(4, requires_grad=True)
    x[giagrad.tensor([1, 1, 3, 1])].sum().backward()
    np.testing.assert_array_equal(x.grad, [0, 3, 0, 1])
    y = giagrad.zeros(2, 3, requires_grad=True)
    y[[0, 0], [2, 2]].backward(np.array([1.0, 2.0], dtype=np.float32))
    np.testing.assert_array_equal(y.grad, [[0, 0, 3], [0, 0, 0]])


def test_split_chunk_and_unbind_return_tuples_of_the_right_shapes():
    x = giagrad.randn(5, 7)
    assert [p.shape for p in x.split(3, 1)] == [(5, 3), (5, 3), (5, 1)]
    assert [p.shape for p in x.split([2, 3], 0)] == [(2, 7), (3, 7)]
    assert [p.shape for p in x.chunk(3, 1)] == [(5, 3), (5, 3), (5, 1)]
    assert [p.shape for p in giagrad.randn(6).chunk(4)] == [(2,), (2,), (2,)]  # fewer, as in PyTorch
    assert isinstance(x.split(2), tuple) and isinstance(x.chunk(2), tuple)
    assert [p.shape for p in x.unbind(1)] == [(5,)] * 7


def test_iteration_len_and_unpacking_use_getitem():
    x = giagrad.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    first, second = x
    assert len(x) == 2 and [row.tolist() for row in x] == [[1, 2], [3, 4]]
    (first * 2 + second).sum().backward()
    np.testing.assert_array_equal(x.grad, [[2, 2], [1, 1]])


def test_expand_and_broadcast_to_are_views_without_copies():
    x = giagrad.tensor([[1.0], [2.0]])
    e = x.expand(2, 1000)
    assert e.shape == (2, 1000) and np.shares_memory(e.data, x.data)
    assert x.expand(2, 1) is x


def test_contiguous_returns_self_when_already_contiguous():
    x = giagrad.randn(3, 4)
    assert x.contiguous() is x and x.is_contiguous()
    t = x.T
    assert not t.is_contiguous() and t.contiguous().is_contiguous()


def test_setitem_outside_the_graph():
    x = giagrad.zeros(2, 3)
    x[0, 1:] = 5.0
    x[giagrad.tensor([1])] = giagrad.tensor([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(x.data, [[0, 5, 5], [1, 2, 3]])
    w = giagrad.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="setitem.*no_grad"):
        w[0] = 1.0
    with giagrad.no_grad():
        w[0] = 1.0
    assert w.data[0] == 1


def test_setitem_marks_a_saved_input_as_modified():
    w = giagrad.ones(3, requires_grad=True)
    x = giagrad.ones(3)
    y = (w * x).sum()
    x[0] = 2.0
    with pytest.raises(RuntimeError, match="modified in place"):
        y.backward()


def test_cat_and_stack_of_different_inputs_send_each_its_part(leaf):
    a = leaf((2, 3))
    b = leaf((1, 3))
    assert giagrad.gradcheck(lambda s, t: giagrad.cat([s, t, s], 0) ** 2, [a, b])
    c = leaf((2, 3))
    assert giagrad.gradcheck(lambda s, t: giagrad.stack([s, t], 0) ** 2, [a, c])


def test_cat_of_a_single_tensor_is_the_tensor():
    x = giagrad.randn(2)
    assert giagrad.cat([x]) is x


@pytest.mark.parametrize("method", ["softmax", "log_softmax"])
def test_softmax_methods(leaf, method):
    x = leaf((3, 4))
    assert giagrad.gradcheck(lambda t: getattr(t, method)(1), [x])
    assert giagrad.gradcheck(lambda t: getattr(t, method)(-2), [leaf((3, 4), "transposed")])
    big = giagrad.tensor([[1000.0, 0.0, -1000.0]], requires_grad=True)
    out = getattr(big, method)(-1)
    assert out.dtype == np.float32 and np.all(np.isfinite(out.data))
    out.sum().backward()
    assert big.grad.dtype == np.float32 and np.all(np.isfinite(big.grad))
    reference = np.exp(x.data - x.data.max(1, keepdims=True))
    reference /= reference.sum(1, keepdims=True)
    if method == "log_softmax":
        reference = np.log(reference)
    np.testing.assert_allclose(getattr(x, method)(1).data, reference, rtol=1e-10)


# -------------------------------------------------------------------------------- errors


@pytest.mark.parametrize("call, error, pattern", [
    (lambda x: x.flatten(3), IndexError, "flatten: dim 3"),
    (lambda x: x.flatten(2, 1), ValueError, "flatten: start_dim"),
    (lambda x: x.squeeze(4), IndexError, "squeeze"),
    (lambda x: x.unsqueeze(4), IndexError, "unsqueeze: dim 4"),
    (lambda x: x.unsqueeze(-5), IndexError, "unsqueeze"),
    (lambda x: x.expand(2, 4, 5), ValueError, r"expand: cannot expand shape \(2, 3, 4\)"),
    (lambda x: x.expand(4), ValueError, "expand"),
    (lambda x: x.expand(-1, 2, 3, 4), ValueError, "expand"),
    (lambda x: x.broadcast_to((3, 4)), ValueError, r"broadcast_to: shape \(2, 3, 4\)"),
    (lambda x: x[2], IndexError, r"Getitem: index 2 is out of bounds .* \(2, 3, 4\)"),
    (lambda x: x[:, [0, 5]], IndexError, r"Getitem.*\(2, 3, 4\)"),
    (lambda x: x[0, 0, 0, 0], IndexError, "Getitem"),
    (lambda x: x[np.array([True, False, True])], IndexError, "Getitem"),
    (lambda x: x[giagrad.tensor([0.5])], IndexError, "getitem: tensors used as indices must be integer or bool"),
    (lambda x: x["a"], IndexError, "getitem: unsupported index of type str"),
    (lambda x: giagrad.cat([x, giagrad.ones(2, 4, 4)], 0), ValueError, r"cat: shapes .*\(2, 3, 4\).*dim 0"),
    (lambda x: giagrad.cat([x, giagrad.ones(3, 4)]), ValueError, "cat: shapes"),
    (lambda x: giagrad.cat([x, x], 3), IndexError, "cat: dim 3"),
    (lambda x: giagrad.cat([]), TypeError, "cat: expected a non-empty list"),
    (lambda x: giagrad.cat(x), TypeError, "cat: expected"),
    (lambda x: giagrad.cat([x, x.data]), TypeError, "cat: element 1 is a ndarray"),
    (lambda x: giagrad.stack([x, giagrad.ones(2, 3, 5)]), ValueError, "stack: all tensors must have the same shape"),
    (lambda x: giagrad.stack([x, x], 4), IndexError, "stack: dim 4"),
    (lambda x: x.split([1, 1], 1), ValueError, r"split: sections \[1, 1\] .* 3"),
    (lambda x: x.split(0), ValueError, "split: split_size must be positive"),
    (lambda x: x.split(1, 3), IndexError, "split: dim 3"),
    (lambda x: x.chunk(0), ValueError, "chunk: chunks"),
    (lambda x: x.pad((1,)), ValueError, "pad: pad must be an even number"),
    (lambda x: x.pad((1, 1) * 4), ValueError, "pad"),
    (lambda x: x.pad((1, 1), mode="bogus"), ValueError, "pad: mode"),
    (lambda x: x.pad((4, 0), mode="reflect"), ValueError, r"pad: reflect padding of \(4, 0\) is too large"),
    (lambda x: x.pad((-1, 0), mode="replicate"), ValueError, "pad: negative widths"),
    (lambda x: x.pad((-3, -2)), ValueError, "pad: widths"),
    (lambda x: giagrad.pad(x.data, (1, 1)), TypeError, "pad: input must be a Tensor"),
    (lambda x: x.flip(3), IndexError, "flip: dim 3"),
    (lambda x: x.repeat(2, 2), ValueError, r"repeat: needs at least 3 non-negative sizes for shape \(2, 3, 4\)"),
    (lambda x: x.softmax(3), IndexError, "softmax: dim 3"),
    (lambda x: giagrad.tensor([1, 2]).log_softmax(0), TypeError, "log_softmax"),
])
def test_errors_name_the_op(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call(giagrad.ones(2, 3, 4))
