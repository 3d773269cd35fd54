"""DistributedSampler: equal shares that cover the epoch, PyTorch's padding and dropping, epochs."""

from __future__ import annotations

import pytest

from giagrad.data import BatchSampler, DistributedSampler


def shares(n, replicas, **options):
    return [list(DistributedSampler(range(n), num_replicas=replicas, rank=rank, **options)) for rank in range(replicas)]


@pytest.mark.parametrize("n", [0, 1, 2, 7, 10, 11])
@pytest.mark.parametrize("replicas", [1, 2, 3, 4])
@pytest.mark.parametrize("drop_last", [False, True])
def test_equal_shares_that_cover_the_epoch(n, replicas, drop_last):
    parts = shares(n, replicas, seed=5, drop_last=drop_last)
    lengths = {len(part) for part in parts}
    assert len(lengths) == 1
    length = lengths.pop()
    assert length == len(DistributedSampler(range(n), num_replicas=replicas, rank=0, drop_last=drop_last))
    everything = [index for part in parts for index in part]
    if drop_last:
        assert length == n // replicas and len(set(everything)) == len(everything)
    else:
        assert length == -(-n // replicas) and (set(everything) == set(range(n)))


def test_padding_repeats_the_start_of_the_order_as_pytorch():
    assert shares(5, 2, shuffle=False) == [[0, 2, 4], [1, 3, 0]]
    assert shares(5, 2, shuffle=False, drop_last=True) == [[0, 2], [1, 3]]
    assert shares(2, 4, shuffle=False) == [[0], [1], [0], [1]]


def test_the_ranks_split_one_global_order_that_changes_with_the_epoch():
    samplers = [DistributedSampler(range(12), num_replicas=3, rank=rank, seed=1) for rank in range(3)]
    first = [list(sampler) for sampler in samplers]
    assert first == [list(sampler) for sampler in samplers]  # same epoch, same order
    one = DistributedSampler(range(12), num_replicas=1, rank=0, seed=1)
    interleaved = [first[rank][step] for step in range(4) for rank in range(3)]
    assert interleaved == list(one)  # together: the single-process order, step by step
    for sampler in samplers:
        sampler.set_epoch(1)
    assert [list(sampler) for sampler in samplers] != first
    assert sorted(i for sampler in samplers for i in sampler) == list(range(12))
    other_seed = DistributedSampler(range(12), num_replicas=3, rank=0, seed=2)
    assert list(other_seed) != first[0]


def test_batches_of_the_share():
    batches = list(BatchSampler(DistributedSampler(range(10), num_replicas=2, rank=1, shuffle=False), 2, False))
    assert batches == [[1, 3], [5, 7], [9]]


def test_defaults_without_a_process_group_are_one_replica():
    sampler = DistributedSampler(range(4), shuffle=False)
    assert (sampler.num_replicas, sampler.rank, list(sampler)) == (1, 0, [0, 1, 2, 3])


@pytest.mark.parametrize(("options", "error", "words"), [
    ({"num_replicas": 2, "rank": 2}, ValueError, "rank should be"),
    ({"num_replicas": 2, "rank": -1}, ValueError, "rank should be"),
    ({"num_replicas": 0, "rank": 0}, ValueError, "num_replicas"),
    ({"num_replicas": 2, "rank": 0, "shuffle": 1}, TypeError, "shuffle"),
    ({"num_replicas": 2, "rank": 0, "seed": -1}, ValueError, "seed"),
])
def test_bad_arguments(options, error, words):
    with pytest.raises(error, match=words):
        DistributedSampler(range(4), **options)


@pytest.mark.parametrize(("n", "replicas", "drop_last"), [(11, 3, False), (11, 3, True), (8, 4, False), (2, 4, False)])
def test_same_shares_as_pytorch_without_shuffling(n, replicas, drop_last):
    torch_data = pytest.importorskip("torch.utils.data")
    for rank in range(replicas):
        theirs = list(torch_data.DistributedSampler(range(n), num_replicas=replicas, rank=rank, shuffle=False,
                                                    drop_last=drop_last))
        ours = list(DistributedSampler(range(n), num_replicas=replicas, rank=rank, shuffle=False, drop_last=drop_last))
        assert ours == theirs
