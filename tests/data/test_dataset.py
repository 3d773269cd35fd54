"""Datasets: TensorDataset, Subset, ConcatDataset, random_split."""

import numpy as np
import pytest

import giagrad
from giagrad.data import ConcatDataset, Dataset, Subset, TensorDataset, random_split, supports_batch_indexing


class Squares(Dataset):
    def __len__(self):
        return 6

    def __getitem__(self, index):
        return index, index * index


def test_tensor_dataset_items_and_batches():
    x = np.arange(12, dtype=np.float32).reshape(6, 2)
    y = np.arange(6)
    ds = TensorDataset(giagrad.tensor(x), y)
    assert len(ds) == 6
    xi, yi = ds[4]
    assert isinstance(xi, giagrad.Tensor) and xi.data.tolist() == [8.0, 9.0] and yi.item() == 4
    xb, yb = ds.get_batch(np.array([5, 0, 5]))
    assert xb.dtype == np.float32 and xb.tolist() == [[10, 11], [0, 1], [10, 11]] and yb.tolist() == [5, 0, 5]
    assert supports_batch_indexing(ds)


def test_tensor_dataset_checks_lengths():
    with pytest.raises(ValueError, match="first dimension"):
        TensorDataset(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError):
        TensorDataset()


def test_subset_keeps_batch_indexing_only_when_the_dataset_has_it():
    ds = TensorDataset(np.arange(10) * 10)
    sub = Subset(ds, [9, 1, 4])
    assert len(sub) == 3 and sub[0][0].item() == 90
    assert supports_batch_indexing(sub)
    assert sub.get_batch(np.array([2, 0]))[0].tolist() == [40, 90]
    assert not supports_batch_indexing(Subset(Squares(), [1, 2]))
    assert Subset(Squares(), [1, 2])[1] == (2, 4)


def test_concat_dataset():
    both = ConcatDataset([Squares(), TensorDataset(np.array([7, 8]))])
    assert len(both) == 8
    assert both[5] == (5, 25)
    assert both[6][0].item() == 7 and both[-1][0].item() == 8
    with pytest.raises(IndexError):
        both[8]
    assert len(Squares() + Squares()) == 12


@pytest.mark.parametrize("lengths, expected", [
    ([7, 3], [7, 3]),
    ([0.5, 0.5], [5, 5]),
    ([0.33, 0.33, 0.34], [4, 3, 3]),   # floors 3, 3, 3 then the remainder 1 to the first part
    ([0.25, 0.25, 0.25, 0.25], [3, 3, 2, 2]),
])
def test_random_split_sizes(lengths, expected):
    parts = random_split(TensorDataset(np.arange(10)), lengths, seed=0)
    assert [len(p) for p in parts] == expected
    everything = np.concatenate([p.indices for p in parts])
    assert sorted(everything.tolist()) == list(range(10))


def test_random_split_is_reproducible():
    a = random_split(Squares(), [3, 3], seed=1)
    b = random_split(Squares(), [3, 3], seed=1)
    assert a[0].indices.tolist() == b[0].indices.tolist()
    giagrad.manual_seed(2)
    c = random_split(Squares(), [3, 3])
    giagrad.manual_seed(2)
    assert random_split(Squares(), [3, 3])[0].indices.tolist() == c[0].indices.tolist()


@pytest.mark.parametrize("lengths", [[5, 4], [0.5, 0.6], [-1, 7]])
def test_random_split_rejects_bad_lengths(lengths):
    with pytest.raises(ValueError):
        random_split(Squares(), lengths, seed=0)


def test_concat_dataset_batch_indexing_keeps_the_order_asked_for():
    first = TensorDataset(np.arange(5) * 10, np.arange(5))
    second = TensorDataset(np.arange(4) * 10 + 100, np.arange(4) + 5)
    both = ConcatDataset([first, second])
    assert supports_batch_indexing(both)
    asked = np.array([7, 0, 5, 2, 8, -1])
    values, positions = both.get_batch(asked)
    assert values.tolist() == [120, 0, 100, 20, 130, 130]
    assert positions.tolist() == [7, 0, 5, 2, 8, 8]
    assert not supports_batch_indexing(ConcatDataset([first, Squares()]))
