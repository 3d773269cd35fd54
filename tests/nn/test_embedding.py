"""nn.Embedding: lookup, initialisation, padding_idx, from_pretrained, repr, checks."""

import numpy as np
import pytest

import giagrad
from giagrad import nn


def test_lookup_shape_and_values():
    emb = nn.Embedding(10, 3)
    ids = giagrad.tensor([[1, 2, 0], [4, 0, 9]])
    out = emb(ids)
    assert out.shape == (2, 3, 3) and out.dtype == np.float32
    np.testing.assert_array_equal(out.data[1, 2], emb.weight.data[9])


def test_initialisation_is_standard_normal_with_the_padding_row_zeroed():
    giagrad.manual_seed(0)
    emb = nn.Embedding(2000, 50, padding_idx=-1)
    assert emb.padding_idx == 1999
    np.testing.assert_array_equal(emb.weight.data[1999], 0)
    assert emb.weight.data.mean() == pytest.approx(0.0, abs=0.01)
    assert emb.weight.data.std() == pytest.approx(1.0, abs=0.01)


def test_repeated_ids_accumulate_and_the_padding_row_gets_no_gradient():
    emb = nn.Embedding(5, 2, padding_idx=0)
    emb(giagrad.tensor([[1, 1, 0], [3, 1, 0]])).sum().backward()
    np.testing.assert_array_equal(emb.weight.grad[:, 0], [0, 3, 0, 1, 0])
    assert emb.weight.grad.dtype == np.float32


@pytest.mark.parametrize("shape", [(0,), (7,), (3, 50), (2, 4, 33)])
def test_gradient_sums_every_lookup_of_a_row_as_add_at_does(shape):
    rng = np.random.default_rng(1)
    ids = rng.integers(0, 6, size=shape)
    grad = rng.standard_normal(shape + (4,)).astype(np.float32)
    emb = nn.Embedding(9, 4)
    emb(giagrad.tensor(ids)).backward(giagrad.tensor(grad))
    expected = np.zeros((9, 4), dtype=np.float32)
    np.add.at(expected, ids.reshape(-1), grad.reshape(-1, 4))
    np.testing.assert_allclose(emb.weight.grad, expected, rtol=1e-6, atol=1e-6)


def test_gradcheck_through_the_functional_form():
    weight = giagrad.Tensor(np.random.default_rng(0).standard_normal((4, 3)), requires_grad=True)
    ids = giagrad.tensor([3, 1, 3, 3])
    assert giagrad.gradcheck(lambda w: giagrad.nn.functional.embedding(ids, w, padding_idx=0), [weight])


def test_from_pretrained_freezes_by_default():
    table = giagrad.tensor([[1.0, 2.0], [3.0, 4.0]])
    emb = nn.Embedding.from_pretrained(table)
    assert not emb.weight.requires_grad
    np.testing.assert_array_equal(emb(giagrad.tensor([1])).data, [[3.0, 4.0]])
    assert nn.Embedding.from_pretrained(table, freeze=False).weight.requires_grad
    table.data[0, 0] = 9.0
    assert emb.weight.data[0, 0] == 1.0  # a copy


@pytest.mark.parametrize("layer, text", [
    # strings from PyTorch 2.13
    (lambda: nn.Embedding(10, 3), "Embedding(10, 3)"),
    (lambda: nn.Embedding(10, 3, padding_idx=-1), "Embedding(10, 3, padding_idx=9)"),
])
def test_repr_matches_pytorch(layer, text):
    assert repr(layer()) == text


@pytest.mark.parametrize("make, error, message", [
    (lambda: nn.Embedding(0, 3), ValueError, "num_embeddings"),
    (lambda: nn.Embedding(4, 3, padding_idx=4), ValueError, "padding_idx"),
    (lambda: nn.Embedding(4, 3)(giagrad.tensor([0.0, 1.0])), TypeError, "integer"),
    (lambda: nn.Embedding(4, 3)(giagrad.tensor([0, 4])), IndexError, r"\[0, 4\)"),
    (lambda: nn.Embedding(4, 3)(giagrad.tensor([-1])), IndexError, r"\[0, 4\)"),
])
def test_errors(make, error, message):
    with pytest.raises(error, match=message):
        make()
