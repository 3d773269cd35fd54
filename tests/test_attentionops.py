"""F.scaled_dot_product_attention: the fused node against finite differences and PyTorch."""

import numpy as np
import pytest

import giagrad
from giagrad import gradcheck
from giagrad.nn import functional as F

RNG = np.random.default_rng(0)
Q, K, V = RNG.standard_normal((2, 3, 5, 4)), RNG.standard_normal((2, 3, 6, 4)), RNG.standard_normal((2, 3, 6, 3))
BOOL_MASK = RNG.random((5, 6)) > 0.3
BOOL_MASK[:, 0] = True  # every query sees at least one key
HIDDEN_ROW = np.ones((5, 6), dtype=bool)
HIDDEN_ROW[2] = False  # query 2 sees no key: its output is 0, not NaN

# name: (q, k, v, keyword arguments) -- masks as numpy arrays
CASES = {
    "plain": (Q, K, V, {}),
    "causal_square": (Q, Q, Q, {"is_causal": True}),
    "causal_more_keys": (Q, K, V, {"is_causal": True}),
    "bool_mask": (Q, K, V, {"attn_mask": BOOL_MASK}),
    "float_mask_per_head": (Q, K, V, {"attn_mask": RNG.standard_normal((3, 5, 6))}),
    "fully_hidden_row": (Q, K, V, {"attn_mask": HIDDEN_ROW}),
    "scale": (Q, K, V, {"scale": 0.3}),
    "broadcast_batch_of_keys": (Q, K[:1], V[:1], {}),
    "unbatched_3d": (Q[0], K[0], V[0], {"is_causal": True}),
    "non_contiguous_query": (np.swapaxes(RNG.standard_normal((2, 3, 4, 5)), -1, -2), K, V, {}),
}


def _giagrad_args(kwargs):
    return {key: giagrad.tensor(value) if isinstance(value, np.ndarray) else value for key, value in kwargs.items()}


@pytest.mark.parametrize("name", CASES)
def test_gradcheck(name):
    q, k, v, kwargs = CASES[name]
    tensors = [giagrad.tensor(a, requires_grad=True) for a in (q, k, v)]
    assert gradcheck(lambda *x: F.scaled_dot_product_attention(*x, **_giagrad_args(kwargs)), tensors)


def test_gradcheck_of_a_learnable_float_mask():
    mask = giagrad.tensor(RNG.standard_normal((1, 5, 6)), requires_grad=True)
    tensors = [giagrad.tensor(a, requires_grad=True) for a in (Q, K, V)]
    assert gradcheck(lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m), [*tensors, mask])


@pytest.mark.parametrize("name", CASES)
def test_matches_pytorch(name, matches_torch):
    torch = pytest.importorskip("torch")
    q, k, v, kwargs = CASES[name]
    ours = [giagrad.tensor(a, requires_grad=True) for a in (q, k, v)]
    theirs = [torch.tensor(np.ascontiguousarray(a), requires_grad=True) for a in (q, k, v)]
    out = F.scaled_dot_product_attention(*ours, **_giagrad_args(kwargs))
    expected = torch.nn.functional.scaled_dot_product_attention(
        *theirs, **{key: torch.tensor(value) if isinstance(value, np.ndarray) else value
                    for key, value in kwargs.items()})
    matches_torch(out, expected, ours, theirs, tolerance=1e-10)


def test_a_query_that_sees_no_key_gets_zero_output_and_gradients():
    q, k, v = (giagrad.tensor(a, requires_grad=True) for a in (Q, K, V))
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=giagrad.tensor(HIDDEN_ROW))
    assert np.all(out.data[..., 2, :] == 0) and np.all(np.isfinite(out.data))
    out.sum().backward()
    assert np.all(q.grad[..., 2, :] == 0) and np.all(np.isfinite(k.grad))


def test_float32_stays_float32():
    q = giagrad.randn(2, 4, 8, requires_grad=True)
    out = F.scaled_dot_product_attention(q, q, q, is_causal=True)
    out.sum().backward()
    assert out.dtype == np.float32 and q.grad.dtype == np.float32


def test_dropout_is_seeded_and_unbiased():
    q = k = giagrad.tensor(np.zeros((1, 1, 2000, 2)))  # uniform weights 1/2000 everywhere
    v = giagrad.tensor(np.ones((1, 1, 2000, 1)))
    giagrad.manual_seed(3)
    first = F.scaled_dot_product_attention(q, k, v, dropout_p=0.25).numpy()
    giagrad.manual_seed(3)
    np.testing.assert_array_equal(first, F.scaled_dot_product_attention(q, k, v, dropout_p=0.25).numpy())
    assert abs(first.mean() - 1.0) < 0.01  # survivors scaled by 1 / (1 - p)


def test_gradcheck_with_dropout():
    def attention(q, k, v):
        giagrad.manual_seed(5)  # the same mask at every evaluation
        return F.scaled_dot_product_attention(q, k, v, dropout_p=0.3)

    assert gradcheck(attention, [giagrad.tensor(a, requires_grad=True) for a in (Q, K, V)])


@pytest.mark.parametrize("call, error, message", [
    (lambda q: F.scaled_dot_product_attention(q, q[..., :3], q), ValueError, "shapes do not fit"),
    (lambda q: F.scaled_dot_product_attention(q, q, q, attn_mask=np.ones((4, 4), bool), is_causal=True),
     ValueError, "either attn_mask or is_causal"),
    (lambda q: F.scaled_dot_product_attention(q, q, q, attn_mask=np.ones((3, 5), bool)), ValueError,
     "attn_mask of shape"),
    (lambda q: F.scaled_dot_product_attention(q, q, q, attn_mask=np.ones((5, 5), np.float32)), TypeError,
     "float attn_mask"),
    (lambda q: F.scaled_dot_product_attention(q, q, q, dropout_p=1.5), ValueError, "between 0 and 1"),
    (lambda q: F.scaled_dot_product_attention(q[0, 0, 0], q[0, 0, 0], q[0, 0, 0]), ValueError, "at least 2 dims"),
    (lambda q: F.scaled_dot_product_attention(q.long(), q.long(), q.long()), TypeError, "floating point"),
])
def test_bad_arguments_are_named(call, error, message):
    with pytest.raises(error, match=message):
        call(giagrad.tensor(Q[:, :, :5, :]))


@pytest.mark.parametrize("threads", [1, 2])
def test_float32_causal_attention_of_a_gpt_matches_pytorch_in_blocks_and_threads(threads):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    # (batch 12, heads 4, context 64, head size 32): many blocks of matrices, split between threads
    q, k, v = (rng.standard_normal((12, 4, 64, 32)).astype(np.float32) for _ in range(3))
    grad = rng.standard_normal(q.shape).astype(np.float32)
    previous = giagrad.get_num_threads()
    giagrad.set_num_threads(threads)
    try:
        ours = [giagrad.tensor(a, requires_grad=True) for a in (q, k, v)]
        out = F.scaled_dot_product_attention(*ours, is_causal=True)
        out.backward(giagrad.tensor(grad))
    finally:
        giagrad.set_num_threads(previous)
    theirs = [torch.tensor(a, requires_grad=True) for a in (q, k, v)]
    expected = torch.nn.functional.scaled_dot_product_attention(*theirs, is_causal=True)
    expected.backward(torch.tensor(grad))
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-5, atol=1e-5)
    for mine, reference in zip(ours, theirs):
        assert mine.grad.dtype == np.float32
        np.testing.assert_allclose(mine.grad, reference.grad.numpy(), rtol=1e-4, atol=1e-5)


def test_blocked_threaded_attention_with_dropout_does_not_depend_on_the_thread_count():
    rng = np.random.default_rng(4)
    arrays = [rng.standard_normal((8, 4, 64, 16)).astype(np.float32) for _ in range(3)]
    results = []
    previous = giagrad.get_num_threads()
    try:
        for threads in (1, 2):
            giagrad.set_num_threads(threads)
            giagrad.manual_seed(0)
            tensors = [giagrad.tensor(a, requires_grad=True) for a in arrays]
            out = F.scaled_dot_product_attention(*tensors, dropout_p=0.2, is_causal=True)
            out.sum().backward()
            results.append([out.data] + [t.grad for t in tensors])
    finally:
        giagrad.set_num_threads(previous)
    for first, second in zip(*results):
        np.testing.assert_array_equal(first, second)


def _reference_attention(q, k, v, mask):
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1]) + mask
    scores = scores - scores.max(axis=-1, keepdims=True)
    weights = np.exp(scores)
    return (weights / weights.sum(axis=-1, keepdims=True)) @ v


@pytest.mark.parametrize("size", [1.0, 30.0])  # small scores skip the shift by the row maximum; large ones need it
@pytest.mark.parametrize("mask_kind", ["causal", "finite"])
def test_float32_softmax_with_and_without_the_shift_matches_float64(size, mask_kind):
    rng = np.random.default_rng(5)
    q, k, v = (rng.standard_normal((3, 2, 16, 8)) * s for s in (size, size, 1.0))
    if mask_kind == "causal":
        mask = np.where(np.triu(np.ones((16, 16), bool), 1), -np.inf, 0.0)
        kwargs = {"is_causal": True}
    else:
        mask = rng.standard_normal((16, 16)) * 5  # a finite additive mask: the shifted way
        kwargs = {"attn_mask": giagrad.tensor(mask.astype(np.float32))}
    out = F.scaled_dot_product_attention(*(giagrad.tensor(a.astype(np.float32)) for a in (q, k, v)), **kwargs)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.data, _reference_attention(q, k, v, mask), rtol=2e-4, atol=2e-5)
