"""Samplers: counts, orders, replacement, weights, epochs and seeds."""

import numpy as np
import pytest

import giagrad
from giagrad.data import (
    BatchSampler,
    RandomSampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)


def test_sequential_sampler():
    assert list(SequentialSampler(range(4))) == [0, 1, 2, 3]
    assert len(SequentialSampler(range(4))) == 4


def test_random_sampler_is_a_permutation_reproducible_per_epoch():
    sampler = RandomSampler(range(50), seed=3)
    first = list(sampler)
    assert sorted(first) == list(range(50))
    assert list(sampler) == first                     # same epoch, same order
    sampler.set_epoch(1)
    second = list(sampler)
    assert second != first and sorted(second) == list(range(50))
    assert list(RandomSampler(range(50), seed=3)) == first


def test_random_sampler_with_replacement_and_num_samples():
    sampler = RandomSampler(range(5), replacement=True, num_samples=200, seed=0)
    drawn = np.array(list(sampler))
    assert len(sampler) == 200 and len(drawn) == 200
    assert drawn.min() >= 0 and drawn.max() <= 4
    assert len(np.unique(drawn)) == 5                 # repeats are what replacement means
    without = np.array(list(RandomSampler(range(5), num_samples=12, seed=0)))
    assert len(without) == 12                          # two whole permutations, then part of a third
    assert sorted(np.bincount(without).tolist()) == [2, 2, 2, 3, 3]


def test_random_sampler_uses_giagrad_generator_without_seed():
    giagrad.manual_seed(5)
    a = list(RandomSampler(range(30)))
    giagrad.manual_seed(5)
    assert list(RandomSampler(range(30))) == a


def test_random_sampler_with_generator():
    a = list(RandomSampler(range(30), generator=np.random.default_rng(1)))
    b = list(RandomSampler(range(30), generator=np.random.default_rng(1)))
    assert a == b


@pytest.mark.parametrize("kwargs, error", [
    ({"num_samples": 0}, ValueError),
    ({"replacement": 1}, TypeError),
    ({"seed": 1, "generator": np.random.default_rng(0)}, ValueError),
    ({"seed": -1}, ValueError),
    ({"generator": 3}, TypeError),
])
def test_random_sampler_argument_checks(kwargs, error):
    with pytest.raises(error):
        RandomSampler(range(3), **kwargs)


def test_subset_random_sampler():
    sampler = SubsetRandomSampler([4, 8, 15, 16, 23, 42], seed=0)
    assert sorted(sampler) == [4, 8, 15, 16, 23, 42]
    assert len(sampler) == 6


def test_weighted_random_sampler_distribution():
    weights = [0.0, 1.0, 3.0]
    counts = np.bincount(list(WeightedRandomSampler(weights, num_samples=20_000, seed=0)), minlength=3)
    assert counts[0] == 0
    assert abs(counts[2] / counts[1] - 3.0) < 0.3


def test_weighted_random_sampler_without_replacement():
    drawn = list(WeightedRandomSampler([1.0, 1.0, 5.0, 0.0], num_samples=3, replacement=False, seed=1))
    assert sorted(drawn) == [0, 1, 2]
    with pytest.raises(ValueError, match="without replacement"):
        WeightedRandomSampler([1.0, 0.0], num_samples=2, replacement=False)


@pytest.mark.parametrize("weights", [[-1.0, 2.0], [0.0, 0.0], [], [[1.0]], [float("nan")]])
def test_weighted_random_sampler_rejects_bad_weights(weights):
    with pytest.raises(ValueError):
        WeightedRandomSampler(weights, num_samples=1)


@pytest.mark.parametrize("n, size, drop_last, expected", [
    (10, 3, False, [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]),
    (10, 3, True, [[0, 1, 2], [3, 4, 5], [6, 7, 8]]),
    (9, 3, True, [[0, 1, 2], [3, 4, 5], [6, 7, 8]]),
    (2, 5, False, [[0, 1]]),
    (2, 5, True, []),
])
def test_batch_sampler(n, size, drop_last, expected):
    sampler = BatchSampler(SequentialSampler(range(n)), size, drop_last)
    assert list(sampler) == expected
    assert len(sampler) == len(expected)


def test_batch_sampler_over_a_plain_iterable():
    assert list(BatchSampler([5, 6, 7], 2, False)) == [[5, 6], [7]]


@pytest.mark.parametrize("size", [0, -1, 1.5, True])
def test_batch_sampler_rejects_bad_batch_size(size):
    with pytest.raises(ValueError):
        BatchSampler(SequentialSampler(range(3)), size, False)
