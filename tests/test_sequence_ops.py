"""The tensor ops of sequence models: triangles, masks, gather/scatter, sorting, view, sampling.

One table of cases runs each op in giagrad (gradients checked against finite differences in
float64) and, when PyTorch is importable, in PyTorch (values and gradients compared).
"""

import numpy as np
import pytest

import giagrad
from giagrad import gradcheck

RNG = np.random.default_rng(0)
X34 = RNG.standard_normal((3, 4))
X245 = RNG.standard_normal((2, 4, 5))
TIES = np.array([[1.0, 3.0, 3.0, -2.0], [0.5, 0.5, 0.5, 0.5], [2.0, -1.0, 4.0, 4.0]])
REPEATED = np.array([[0, 0, 3], [1, 1, 1], [2, 0, 2]])  # repeated indices along dim 1
MASK = RNG.random((3, 4)) > 0.5
COLUMN_MASK = np.array([True, False, True, False])  # broadcasts over rows

# name: (giagrad function of tensors, torch function of tensors, float64 inputs)
CASES = {
    "tril": (lambda x: x.tril(), lambda x: x.tril(), [X34]),
    "tril_diagonal_-1_batched": (lambda x: x.tril(-1), lambda x: x.tril(-1), [X245]),
    "triu_diagonal_1": (lambda x: x.triu(1), lambda x: x.triu(1), [X34]),
    "triu_non_contiguous": (lambda x: x.T.triu(), lambda x: x.T.triu(), [X34]),
    "masked_fill": (lambda x: x.masked_fill(MASK, -1.5), lambda x: x.masked_fill(_t(MASK), -1.5), [X34]),
    "masked_fill_broadcast_mask": (lambda x: x.masked_fill(COLUMN_MASK, 0.0),
                                   lambda x: x.masked_fill(_t(COLUMN_MASK), 0.0), [X34]),
    "masked_fill_tensor_value": (lambda x, v: x.masked_fill(MASK, v), lambda x, v: x.masked_fill(_t(MASK), v),
                                 [X34, np.array(2.0)]),
    "gather_repeated_dim1": (lambda x: x.gather(1, giagrad.tensor(REPEATED)),
                             lambda x: x.gather(1, _t(REPEATED)), [X34]),
    "gather_dim0_smaller_index": (lambda x: x.gather(0, giagrad.tensor([[2, 0], [2, 2]])),
                                  lambda x: x.gather(0, _t(np.array([[2, 0], [2, 2]]))), [X34]),
    "gather_negative_dim_3d": (lambda x: x.gather(-1, giagrad.tensor(np.zeros((2, 4, 2), dtype=np.int64))),
                               lambda x: x.gather(-1, _t(np.zeros((2, 4, 2), dtype=np.int64))), [X245]),
    "scatter": (lambda x, s: x.scatter(1, giagrad.tensor([[3, 1], [0, 2], [1, 0]]), s),
                lambda x, s: x.scatter(1, _t(np.array([[3, 1], [0, 2], [1, 0]])), s),
                [X34, RNG.standard_normal((3, 2))]),
    "scatter_src_larger_than_index": (lambda x, s: x.scatter(1, giagrad.tensor([[3, 1], [0, 2], [1, 0]]), s),
                                      None, [X34, RNG.standard_normal((3, 3))]),
    "scatter_value": (lambda x: x.scatter(0, giagrad.tensor([[2, 0, 1, 1]]), 7.0),
                      lambda x: x.scatter(0, _t(np.array([[2, 0, 1, 1]])), 7.0), [X34]),
    "scatter_add_repeated": (lambda x, s: x.scatter_add(1, giagrad.tensor(REPEATED), s),
                             lambda x, s: x.scatter_add(1, _t(REPEATED), s), [X34, RNG.standard_normal((3, 3))]),
    "scatter_add_dim0": (lambda x, s: x.scatter_add(0, giagrad.tensor([[0, 0, 2, 2], [0, 1, 2, 0]]), s),
                         lambda x, s: x.scatter_add(0, _t(np.array([[0, 0, 2, 2], [0, 1, 2, 0]])), s),
                         [X34, RNG.standard_normal((2, 4))]),
    "sort_values": (lambda x: x.sort(dim=1).values, lambda x: x.sort(dim=1, stable=True).values, [X34]),
    "sort_descending_ties": (lambda x: x.sort(descending=True).values,
                             lambda x: x.sort(descending=True, stable=True).values, [TIES]),
    "sort_dim0_3d": (lambda x: x.sort(dim=0).values, lambda x: x.sort(dim=0, stable=True).values, [X245]),
    "topk": (lambda x: x.topk(2).values, lambda x: x.topk(2).values, [X34]),
    "topk_smallest_dim0": (lambda x: x.topk(2, dim=0, largest=False).values,
                           lambda x: x.topk(2, dim=0, largest=False).values, [X34]),
    "view": (lambda x: x.view(4, 3) * 2, lambda x: x.view(4, 3) * 2, [X34]),
    "view_inferred": (lambda x: x.view(-1, 5), lambda x: x.view(-1, 5), [X245]),
    "contiguous_of_transpose": (lambda x: x.transpose(0, 1).contiguous().view(-1),
                                lambda x: x.transpose(0, 1).contiguous().view(-1), [X34]),
    "split_sizes": (lambda x: x.split([1, 3], dim=1)[1], lambda x: x.split([1, 3], dim=1)[1], [X34]),
    "chunk": (lambda x: x.chunk(3, dim=1)[1], lambda x: x.chunk(3, dim=1)[1], [X34]),
}


# Ties are not differentiable: finite differences reorder them (PyTorch's gradients are checked).
NOT_GRADCHECKED = {"sort_descending_ties"}


def _t(array):
    import torch

    return torch.tensor(array)


@pytest.mark.parametrize("name", CASES)
def test_gradcheck(name):
    if name in NOT_GRADCHECKED:
        pytest.skip("not differentiable at ties")
    function, _, inputs = CASES[name]
    assert gradcheck(function, [giagrad.tensor(a, requires_grad=True) for a in inputs])


@pytest.mark.parametrize("name", CASES)
def test_matches_pytorch(name, matches_torch):
    torch = pytest.importorskip("torch")
    function, torch_function, inputs = CASES[name]
    if torch_function is None:
        pytest.skip("PyTorch's scatter backward rejects a src larger than index")
    ours = [giagrad.tensor(a, requires_grad=True) for a in inputs]
    theirs = [torch.tensor(a, requires_grad=True) for a in inputs]
    matches_torch(function(*ours), torch_function(*theirs), ours, theirs, tolerance=1e-12)


@pytest.mark.parametrize("name, ours, theirs", [
    ("argsort", lambda x: x.argsort(dim=1), lambda x: x.argsort(dim=1, stable=True)),
    ("argsort_descending_ties", lambda x: x.argsort(descending=True),
     lambda x: x.argsort(descending=True, stable=True)),
    ("sort_indices", lambda x: x.sort(dim=0).indices, lambda x: x.sort(dim=0, stable=True).indices),
    ("topk_indices", lambda x: x.topk(3).indices, lambda x: x.topk(3).indices),
])
def test_indices_match_pytorch(name, ours, theirs):
    torch = pytest.importorskip("torch")
    data = TIES if "ties" in name else X34
    np.testing.assert_array_equal(ours(giagrad.tensor(data)).numpy(), theirs(torch.tensor(data)).numpy())


def test_arange_and_one_hot_match_pytorch():
    torch = pytest.importorskip("torch")
    from giagrad.nn import functional as F

    np.testing.assert_array_equal(giagrad.arange(2, 11, 3).numpy(), torch.arange(2, 11, 3).numpy())
    labels = np.array([[0, 3], [2, 2]])
    np.testing.assert_array_equal(F.one_hot(giagrad.tensor(labels), 5).numpy(),
                                  torch.nn.functional.one_hot(torch.tensor(labels), 5).numpy())


def test_triangles_keep_infinities_outside_the_triangle_finite():
    x = giagrad.tensor(np.full((3, 3), -np.inf))
    assert np.all(x.tril().numpy()[np.triu_indices(3, 1)] == 0)


def test_sorting_values_and_indices_agree():
    values, indices = giagrad.tensor(TIES).sort(dim=1, descending=True)
    np.testing.assert_array_equal(values.numpy(), np.take_along_axis(TIES, indices.numpy(), axis=1))
    assert indices.dtype == np.int64 and values.dtype == np.float64


def test_topk_values_are_the_largest_in_order():
    values, indices = giagrad.tensor(X34).topk(3, dim=1)
    np.testing.assert_array_equal(values.numpy(), -np.sort(-X34, axis=1)[:, :3])


def test_view_refuses_what_would_need_a_copy():
    with pytest.raises(RuntimeError, match="view: .*reshape"):
        giagrad.tensor(X34).T.view(12)
    with pytest.raises(RuntimeError, match="view: shape"):
        giagrad.tensor(X34).view(5, 3)


@pytest.mark.parametrize("call, error, message", [
    (lambda x: x.gather(1, giagrad.tensor([[4]] * 3)), IndexError, "gather: index values"),
    (lambda x: x.gather(1, giagrad.tensor([0, 1])), ValueError, "gather: index has 1 dims"),
    (lambda x: x.gather(0, giagrad.tensor([[0, 1, 0, 1, 0]])), ValueError, "gather: index of shape"),
    (lambda x: x.gather(1, giagrad.tensor([[0.5]])), TypeError, "gather: index must be an integer"),
    (lambda x: x.scatter(1, giagrad.tensor([[0, 1, 2]] * 3), giagrad.ones(3, 2, dtype=np.float64)), ValueError,
     "scatter: index of shape"),
    (lambda x: x.scatter_add(1, giagrad.tensor([[0]]), "a"), TypeError, "scatter_add: src must be"),
    (lambda x: x.masked_fill(np.ones(4), 0.0), TypeError, "masked_fill: mask must be a bool"),
    (lambda x: x.masked_fill(np.ones((2, 4), bool), 0.0), ValueError, "masked_fill: mask of shape"),
    (lambda x: x.topk(5), ValueError, "topk: k must be"),
    (lambda x: x.sum().tril(), ValueError, "tril: needs a tensor with at least 2 dims"),
])
def test_bad_arguments_are_named(call, error, message):
    with pytest.raises(error, match=message):
        call(giagrad.tensor(X34))


class TestMultinomial:
    def test_frequencies_follow_the_weights_with_replacement(self):
        giagrad.manual_seed(0)
        draws = giagrad.tensor([1.0, 0.0, 3.0]).multinomial(20000, replacement=True).numpy()
        assert draws.shape == (20000,) and draws.dtype == np.int64
        counts = np.bincount(draws, minlength=3) / 20000
        np.testing.assert_allclose(counts, [0.25, 0.0, 0.75], atol=0.015)

    def test_without_replacement_each_category_at_most_once_per_row(self):
        giagrad.manual_seed(1)
        draws = giagrad.tensor(np.ones((5, 6))).multinomial(6).numpy()
        assert draws.shape == (5, 6)
        assert all(sorted(row) == list(range(6)) for row in draws)

    def test_seeded_generator_makes_it_reproducible(self):
        weights = giagrad.tensor([[0.2, 0.3, 0.5], [0.9, 0.05, 0.05]])
        giagrad.manual_seed(7)
        first = weights.multinomial(4, replacement=True).numpy()
        giagrad.manual_seed(7)
        np.testing.assert_array_equal(first, weights.multinomial(4, replacement=True).numpy())

    def test_never_draws_a_zero_weight(self):
        giagrad.manual_seed(2)
        draws = giagrad.tensor([0.0, 1.0, 0.0, 1e-3]).multinomial(5000, replacement=True).numpy()
        assert set(np.unique(draws)) <= {1, 3}

    @pytest.mark.parametrize("weights, count, replacement, message", [
        ([1.0, -1.0], 1, True, "non-negative"),
        ([0.0, 0.0], 1, True, "not all zero"),
        ([1.0, 0.0, 1.0], 3, False, "without replacement"),
        ([[[1.0]]], 1, True, "1-D or 2-D"),
        ([1.0], 0, True, "num_samples"),
    ])
    def test_bad_weights(self, weights, count, replacement, message):
        with pytest.raises(ValueError, match=message):
            giagrad.tensor(weights).multinomial(count, replacement=replacement)
