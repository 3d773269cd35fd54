"""DataLoader: batching, len, drop_last, shuffling per epoch, resuming, collate, iterable datasets."""

from collections import namedtuple

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import giagrad
from giagrad.data import (
    BatchSampler,
    DataLoader,
    Dataset,
    IterableDataset,
    SequentialSampler,
    Subset,
    TensorDataset,
    default_collate,
)
from giagrad.data.transforms import Compose, Flatten, Normalize, ToTensor


class Samples(Dataset):
    """A map-style dataset read sample by sample (no get_batch)."""

    def __init__(self, n=10):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, index):
        return np.full(2, index, dtype=np.float32), index


class Stream(IterableDataset):
    def __iter__(self):
        return iter([(np.float32(i), i) for i in range(7)])


def arrays_dataset(n=10):
    return TensorDataset(np.arange(n * 2, dtype=np.float32).reshape(n, 2), np.arange(n))


def labels(loader):
    return [y.data.tolist() for _, y in loader]


@pytest.mark.parametrize("dataset_factory", [arrays_dataset, Samples], ids=["batch-indexed", "per-sample"])
@pytest.mark.parametrize("batch_size, drop_last, expected", [
    (4, False, [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]),
    (4, True, [[0, 1, 2, 3], [4, 5, 6, 7]]),
    (5, True, [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]),
    (20, False, [list(range(10))]),
    (20, True, []),
])
def test_batching_len_and_drop_last(dataset_factory, batch_size, drop_last, expected):
    loader = DataLoader(dataset_factory(), batch_size=batch_size, drop_last=drop_last)
    assert labels(loader) == expected
    assert len(loader) == len(expected)


@pytest.mark.parametrize("dataset_factory", [arrays_dataset, Samples], ids=["batch-indexed", "per-sample"])
def test_batches_are_tensors_with_kept_dtypes(dataset_factory):
    x, y = next(iter(DataLoader(dataset_factory(), batch_size=3)))
    assert isinstance(x, giagrad.Tensor) and isinstance(y, giagrad.Tensor)
    assert x.shape == (3, 2) and x.dtype == np.float32
    assert y.dtype == np.int64


def test_fast_path_fetches_one_batch_per_call():
    class Counting(TensorDataset):
        items = 0
        batches = 0

        def __getitem__(self, index):
            Counting.items += 1
            return super().__getitem__(index)

        def get_batch(self, indices):
            Counting.batches += 1
            return super().get_batch(indices)

    loader = DataLoader(Counting(np.zeros((10, 2)), np.arange(10)), batch_size=4, shuffle=True, seed=0)
    assert loader.uses_batch_indexing
    list(loader)
    assert (Counting.items, Counting.batches) == (0, 3)
    list(DataLoader(Counting(np.zeros((10, 2)), np.arange(10)), batch_size=4, collate_fn=default_collate))
    assert Counting.items == 10                       # a user's collate_fn gets samples


def test_shuffle_is_reproducible_and_new_each_epoch():
    loader = DataLoader(arrays_dataset(40), batch_size=8, shuffle=True, seed=7)
    epoch0, epoch1 = labels(loader), labels(loader)
    assert epoch0 != epoch1
    assert sorted(sum(epoch0, [])) == list(range(40))
    again = DataLoader(arrays_dataset(40), batch_size=8, shuffle=True, seed=7)
    assert labels(again) == epoch0 and labels(again) == epoch1
    other_seed = DataLoader(arrays_dataset(40), batch_size=8, shuffle=True, seed=8)
    assert labels(other_seed) != epoch0


def test_same_order_batch_indexed_and_per_sample():
    a = DataLoader(arrays_dataset(30), batch_size=7, shuffle=True, seed=1)
    b = DataLoader(Samples(30), batch_size=7, shuffle=True, seed=1)
    assert labels(a) == labels(b)


def test_resume_after_epoch_k_sees_the_same_batches():
    uninterrupted = DataLoader(arrays_dataset(30), batch_size=4, shuffle=True, seed=3)
    runs = [labels(uninterrupted) for _ in range(4)]
    first = DataLoader(arrays_dataset(30), batch_size=4, shuffle=True, seed=3)
    labels(first), labels(first)
    state = first.state_dict()
    assert state == {"epoch": 2}
    resumed = DataLoader(arrays_dataset(30), batch_size=4, shuffle=True, seed=3)
    resumed.load_state_dict(state)
    assert [labels(resumed), labels(resumed)] == runs[2:]
    resumed.set_epoch(1)
    assert labels(resumed) == runs[1]


@pytest.mark.parametrize("use_generator", [False, True])
def test_unseeded_state_replays_the_epoch_it_was_taken_in(use_generator):
    # Without a seed, the state keeps the generator as the epoch began: a loader restored in the
    # middle of that epoch (set_epoch back to it, as the trainer does) draws the same order.
    def make():
        generator = np.random.default_rng(8) if use_generator else None
        return DataLoader(arrays_dataset(30), batch_size=4, shuffle=True, generator=generator)

    giagrad.manual_seed(2)
    loader = make()
    first = labels(loader)
    batches = iter(loader)
    next(batches)                                   # in the middle of epoch 1
    state = loader.state_dict()
    assert state["epoch"] == 2 and state["sampler"]["epoch"] == 1
    rest = [batch[1].data.tolist() for batch in batches]
    following = labels(loader)

    giagrad.manual_seed(99)                         # whatever the generators did meanwhile
    resumed = make()
    resumed.load_state_dict(state)
    resumed.set_epoch(1)
    assert [batch[1].data.tolist() for batch in resumed][1:] == rest
    if use_generator:                               # the loader's own generator continues too
        assert labels(resumed) == following
    assert first != rest


def test_seeded_state_is_only_the_epoch():
    loader = DataLoader(arrays_dataset(10), batch_size=4, shuffle=True, seed=0)
    labels(loader)
    assert loader.state_dict() == {"epoch": 1}


def test_shuffle_without_seed_follows_manual_seed():
    giagrad.manual_seed(11)
    a = labels(DataLoader(arrays_dataset(20), batch_size=5, shuffle=True))
    giagrad.manual_seed(11)
    assert labels(DataLoader(arrays_dataset(20), batch_size=5, shuffle=True)) == a


def test_shuffle_with_generator():
    a = labels(DataLoader(arrays_dataset(20), batch_size=5, shuffle=True, generator=np.random.default_rng(0)))
    b = labels(DataLoader(arrays_dataset(20), batch_size=5, shuffle=True, generator=np.random.default_rng(0)))
    assert a == b


def test_sampler_and_batch_sampler_arguments():
    loader = DataLoader(arrays_dataset(), batch_size=3, sampler=[9, 8, 7, 6])
    assert labels(loader) == [[9, 8, 7], [6]]
    loader = DataLoader(arrays_dataset(), batch_sampler=[[1, 2], [0]])
    assert labels(loader) == [[1, 2], [0]] and len(loader) == 2
    loader = DataLoader(Samples(), batch_sampler=BatchSampler(SequentialSampler(range(5)), 2, True))
    assert labels(loader) == [[0, 1], [2, 3]]


@pytest.mark.parametrize("kwargs, error", [
    ({"batch_size": 0}, ValueError),
    ({"batch_size": -2}, ValueError),
    ({"batch_size": 2.5}, ValueError),
    ({"shuffle": True, "sampler": [0, 1]}, ValueError),
    ({"batch_sampler": [[0]], "batch_size": 2}, ValueError),
    ({"batch_sampler": [[0]], "drop_last": True}, ValueError),
    ({"batch_sampler": [[0]], "shuffle": True}, ValueError),
    ({"seed": 1, "generator": np.random.default_rng(0)}, ValueError),
    ({"seed": -1}, ValueError),
    ({"shuffle": 1}, TypeError),
    ({"collate_fn": 3}, TypeError),
])
def test_argument_checks(kwargs, error):
    with pytest.raises(error):
        DataLoader(arrays_dataset(), **kwargs)


def test_iterable_dataset():
    loader = DataLoader(Stream(), batch_size=3)
    assert labels(loader) == [[0, 1, 2], [3, 4, 5], [6]]
    assert labels(DataLoader(Stream(), batch_size=3, drop_last=True)) == [[0, 1, 2], [3, 4, 5]]
    with pytest.raises(TypeError):
        len(loader)
    with pytest.raises(ValueError):
        DataLoader(Stream(), shuffle=True)
    with pytest.raises(ValueError):
        DataLoader(Stream(), sampler=[0])


def test_subset_keeps_the_fast_path_in_the_loader():
    loader = DataLoader(Subset(arrays_dataset(), [3, 1, 4]), batch_size=2)
    assert loader.uses_batch_indexing
    assert labels(loader) == [[3, 1], [4]]


Point = namedtuple("Point", ["x", "y"])


def test_default_collate_structures():
    batch = default_collate([
        {"image": np.zeros((2, 2), np.float32), "label": 1, "name": "a", "pair": (1.5, np.int32(2))},
        {"image": np.ones((2, 2), np.float32), "label": 0, "name": "b", "pair": (2.5, np.int32(3))},
    ])
    assert set(batch) == {"image", "label", "name", "pair"}
    assert batch["image"].shape == (2, 2, 2) and batch["image"].dtype == np.float32
    assert batch["label"].dtype == np.int64 and batch["label"].data.tolist() == [1, 0]
    assert batch["name"] == ["a", "b"]
    assert isinstance(batch["pair"], tuple)
    assert batch["pair"][0].dtype == np.float32 and batch["pair"][1].dtype == np.int32
    listed = default_collate([[1, giagrad.tensor([1.0])], [2, giagrad.tensor([2.0])]])
    assert isinstance(listed, list) and listed[1].shape == (2, 1)
    point = default_collate([Point(1, True), Point(2, False)])
    assert isinstance(point, Point) and point.y.dtype == np.bool_


@pytest.mark.parametrize("batch, error", [
    ([], ValueError),
    ([object(), object()], TypeError),
    ([(1, 2), (1,)], RuntimeError),
])
def test_default_collate_errors(batch, error):
    with pytest.raises(error):
        default_collate(batch)


def test_loader_with_transform_pipeline_on_tensor_dataset_batches():
    images = np.random.default_rng(0).integers(0, 256, (8, 4, 4), dtype=np.uint8)

    class Images(TensorDataset):
        transform = Compose([ToTensor(), Normalize((0.5,), (0.25,)), Flatten()])

        def get_batch(self, indices):
            x, y = super().get_batch(indices)
            return self.transform.apply_batch(x), y

    x, _ = next(iter(DataLoader(Images(images, np.arange(8)), batch_size=8)))
    expected = (images.reshape(8, 16) / 255.0 - 0.5) / 0.25
    assert x.dtype == np.float32
    np.testing.assert_allclose(x.data, expected, rtol=1e-5, atol=1e-5)


def test_any_indexable_sequence_is_a_dataset():
    loader = DataLoader([(1.0, 0), (2.0, 1), (3.0, 0)], batch_size=2)
    x, y = next(iter(loader))
    assert x.dtype == np.float32 and x.data.tolist() == [1.0, 2.0] and y.data.tolist() == [0, 1]
    assert len(loader) == 2


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 40), batch_size=st.integers(1, 12), drop_last=st.booleans(), shuffle=st.booleans(),
       seed=st.integers(0, 2**32 - 1))
def test_every_index_once_in_batches_of_the_right_size(n, batch_size, drop_last, shuffle, seed):
    loader = DataLoader(TensorDataset(np.arange(n)), batch_size=batch_size, drop_last=drop_last,
                        shuffle=shuffle, seed=seed if shuffle else None)
    batches = [b.data.tolist() for (b,) in loader]
    assert len(batches) == len(loader)
    assert all(len(b) == batch_size for b in batches[:-1])
    seen = sum(batches, [])
    if drop_last:
        assert len(seen) == n - n % batch_size and len(set(seen)) == len(seen)
    else:
        assert sorted(seen) == list(range(n))
    if not shuffle:
        assert seen == sorted(seen)


def test_concat_dataset_fast_path_matches_per_sample_path():
    from giagrad.data import ConcatDataset

    both = ConcatDataset([arrays_dataset(7), arrays_dataset(5)])
    fast = DataLoader(both, batch_size=4, shuffle=True, seed=2)
    slow = DataLoader(both, batch_size=4, shuffle=True, seed=2, collate_fn=default_collate)
    assert fast.uses_batch_indexing and not slow.uses_batch_indexing
    for (xf, yf), (xs, ys) in zip(fast, slow, strict=True):
        np.testing.assert_array_equal(xf.data, xs.data)
        np.testing.assert_array_equal(yf.data, ys.data)
