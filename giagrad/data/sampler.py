"""Samplers: which dataset indices an epoch visits, and in what order.

A sampler is iterable over indices and has a length, as in PyTorch. Each sampler here also gives
the whole epoch at once as a numpy array (:meth:`Sampler.index_array`), which lets
:class:`BatchSampler` cut batches as array slices instead of collecting Python ints one by one.

Reproducibility
---------------
Random samplers take ``seed`` or ``generator`` (a ``numpy.random.Generator``), never both:

- ``seed``: epoch ``e`` draws from ``np.random.default_rng([seed, e])``. An epoch's order depends
  only on the seed and the epoch number, so a run resumed at epoch ``k`` (``set_epoch(k)``, or the
  DataLoader's ``load_state_dict``) sees exactly the batches of an uninterrupted run.
- ``generator``: draws from that generator, continuing its stream.
- neither: draws from ``giagrad.random.generator()`` (seeded by ``giagrad.manual_seed``; a
  checkpoint that saves ``giagrad.get_rng_state()`` makes a resumed run repeat the same draws).

Without a seed, ``state_dict()`` keeps the generator's state at the start of the last epoch, so
that a run resumed in the middle of an epoch (a trainer's ``interrupted.npz``) sees the same
order for the rest of it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence, Sized
from typing import Any

import numpy as np

from giagrad import random as _random
from giagrad.tensor import Tensor

__all__ = [
    "Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler", "WeightedRandomSampler",
    "BatchSampler", "DistributedSampler",
]


class Sampler:
    """Base class: iterate over dataset indices; ``len`` is how many an epoch yields."""

    def __iter__(self) -> Iterator[int]:
        return iter(self.index_array().tolist())

    def __len__(self) -> int:
        raise TypeError(f"{type(self).__name__} has no length")

    def index_array(self) -> np.ndarray:
        """The indices of one epoch as an int64 array (a random sampler draws a new epoch)."""
        raise NotImplementedError(f"{type(self).__name__} has no index_array")


def _check_positive_int(name: str, value: Any, owner: str) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{owner}: {name} should be a positive integer, got {value!r}")
    return int(value)


class _EpochRandomness:
    """Where a random sampler draws from: ``[seed, epoch]``, a given generator, or giagrad's.

    Without a seed, the order of an epoch depends on the generator's state when the epoch
    starts, so :meth:`state_dict` keeps that state (and, for a generator given by the user,
    its current state too): a loader restored in the middle of that epoch rewinds the generator
    to that state and draws the same order again.
    """

    def __init__(self, seed: int | None, generator: np.random.Generator | None, owner: str) -> None:
        if seed is not None and generator is not None:
            raise ValueError(f"{owner}: give seed or generator, not both")
        if seed is not None and (not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0):
            raise ValueError(f"{owner}: seed should be a non-negative integer, got {seed!r}")
        if generator is not None and not isinstance(generator, np.random.Generator):
            raise TypeError(f"{owner}: generator should be a numpy.random.Generator, got {type(generator).__name__}")
        self.seed = None if seed is None else int(seed)
        self.generator = generator
        self.epoch = 0
        self._epoch_start: tuple[int, dict[str, Any]] | None = None  # (epoch, generator state as it began)
        self._replay: tuple[int, dict[str, Any]] | None = None  # the same, restored by load_state_dict

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose order the next iteration draws (matters only with ``seed``)."""
        self.epoch = int(epoch)

    def _rng(self) -> np.random.Generator:
        if self.seed is not None:
            return np.random.default_rng([self.seed, self.epoch])
        # fetched each time: manual_seed replaces giagrad's generator
        generator = self.generator if self.generator is not None else _random.generator()
        replay, self._replay = self._replay, None
        if replay is not None and replay[0] == self.epoch:
            # Resumed in the middle of this epoch: rewind the generator to where the epoch began,
            # so that it draws the same order (a trainer then puts giagrad's generator back
            # where the checkpoint left it).
            generator.bit_generator.state = replay[1]
        self._epoch_start = (self.epoch, dict(generator.bit_generator.state))
        return generator

    def replayed_state(self, epoch: int) -> dict[str, Any] | None:
        """giagrad's generator as ``epoch`` began, when a loaded state will replay that epoch, else None.

        DataLoader workers take their seeds from it, so that a resumed epoch gets the same ones.
        """
        if self.generator is None and self._replay is not None and self._replay[0] == epoch:
            return self._replay[1]
        return None

    def state_dict(self) -> dict[str, Any]:
        """What a resume needs to draw the same orders: empty with a seed (the epoch says it all)."""
        if self.seed is not None:
            return {}
        state: dict[str, Any] = {}
        if self._epoch_start is not None:
            state["epoch"], state["generator_state"] = self._epoch_start
        if self.generator is not None:  # giagrad's own generator is saved by the trainer
            state["generator_now"] = self.generator.bit_generator.state
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (before iterating again)."""
        if self.seed is not None or not state:
            return
        generator = self.generator if self.generator is not None else _random.generator()
        kind = generator.bit_generator.state["bit_generator"]
        for key in ("generator_state", "generator_now"):
            saved = state.get(key)
            if saved is not None and (not isinstance(saved, dict) or saved.get("bit_generator") != kind):
                raise ValueError(f"{type(self).__name__}.load_state_dict: {key} is not the state of a {kind} "
                                 f"generator, got {saved!r:.80}")
        if "generator_state" in state:
            self._replay = (int(state["epoch"]), state["generator_state"])
        if "generator_now" in state and self.generator is not None:
            self.generator.bit_generator.state = state["generator_now"]


class SequentialSampler(Sampler):
    """Indices ``0, 1, ..., len(data_source) - 1`` in order.

    Examples
    --------
    >>> list(SequentialSampler(range(3)))
    [0, 1, 2]
    """

    def __init__(self, data_source: Sized) -> None:
        self.data_source = data_source

    def __len__(self) -> int:
        return len(self.data_source)

    def index_array(self) -> np.ndarray:
        return np.arange(len(self.data_source), dtype=np.int64)


class RandomSampler(Sampler, _EpochRandomness):
    """Indices in random order: a permutation, or ``num_samples`` draws with replacement.

    Parameters
    ----------
    data_source : sized
        The dataset (only its length is used).
    replacement : bool
        Draw with replacement (then ``num_samples`` may exceed the dataset's length).
    num_samples : int, optional
        How many indices an epoch yields; default ``len(data_source)``. Without replacement and
        larger than the dataset, whole permutations are concatenated (as PyTorch does).
    seed, generator
        Where the randomness comes from (see the module docstring).

    Examples
    --------
    >>> sampler = RandomSampler(range(5), seed=0)
    >>> sorted(sampler)
    [0, 1, 2, 3, 4]
    """

    def __init__(self, data_source: Sized, replacement: bool = False, num_samples: int | None = None,
                 generator: np.random.Generator | None = None, seed: int | None = None) -> None:
        if not isinstance(replacement, bool):
            raise TypeError(f"RandomSampler: replacement should be a bool, got {replacement!r}")
        if num_samples is not None:
            _check_positive_int("num_samples", num_samples, "RandomSampler")
        _EpochRandomness.__init__(self, seed, generator, "RandomSampler")
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __len__(self) -> int:
        return self.num_samples

    def index_array(self) -> np.ndarray:
        n, count, rng = len(self.data_source), self.num_samples, self._rng()
        if n == 0:
            return np.empty(0, dtype=np.int64)
        if self.replacement:
            return rng.integers(0, n, size=count, dtype=np.int64)
        if count <= n:
            return rng.permutation(n)[:count].astype(np.int64, copy=False)
        rounds = -(-count // n)
        return np.concatenate([rng.permutation(n) for _ in range(rounds)])[:count].astype(np.int64, copy=False)


class SubsetRandomSampler(Sampler, _EpochRandomness):
    """The given indices in a random order (a new one each epoch).

    Examples
    --------
    >>> sorted(SubsetRandomSampler([7, 3, 9], seed=1))
    [3, 7, 9]
    """

    def __init__(self, indices: Sequence[int], generator: np.random.Generator | None = None,
                 seed: int | None = None) -> None:
        _EpochRandomness.__init__(self, seed, generator, "SubsetRandomSampler")
        self.indices = np.asarray(indices, dtype=np.int64).reshape(-1)

    def __len__(self) -> int:
        return len(self.indices)

    def index_array(self) -> np.ndarray:
        return self.indices[self._rng().permutation(len(self.indices))]


class WeightedRandomSampler(Sampler, _EpochRandomness):
    """Indices ``0..len(weights)-1`` drawn with probability proportional to ``weights``.

    Parameters
    ----------
    weights : sequence of float
        Non-negative weights (need not sum to one), one per index.
    num_samples : int
        How many indices an epoch yields.
    replacement : bool
        With replacement (default); without it ``num_samples`` may not exceed the number of
        non-zero weights.

    Examples
    --------
    >>> sampler = WeightedRandomSampler([0.0, 1.0, 3.0], num_samples=4, seed=0)
    >>> 0 in list(sampler)
    False
    """

    def __init__(self, weights: Sequence[float], num_samples: int, replacement: bool = True,
                 generator: np.random.Generator | None = None, seed: int | None = None) -> None:
        _check_positive_int("num_samples", num_samples, "WeightedRandomSampler")
        if not isinstance(replacement, bool):
            raise TypeError(f"WeightedRandomSampler: replacement should be a bool, got {replacement!r}")
        weights_array = np.asarray(weights.data if isinstance(weights, Tensor) else weights, dtype=np.float64)
        if weights_array.ndim != 1 or weights_array.size == 0:
            raise ValueError(f"WeightedRandomSampler: weights should be a non-empty 1-D sequence, "
                             f"got shape {weights_array.shape}")
        if not np.all(np.isfinite(weights_array)) or np.any(weights_array < 0) or weights_array.sum() <= 0:
            raise ValueError("WeightedRandomSampler: weights should be finite, non-negative and not all zero")
        if not replacement and num_samples > np.count_nonzero(weights_array):
            raise ValueError(f"WeightedRandomSampler: cannot draw {num_samples} samples without replacement "
                             f"from {np.count_nonzero(weights_array)} non-zero weights")
        _EpochRandomness.__init__(self, seed, generator, "WeightedRandomSampler")
        self.weights = weights_array
        self.num_samples = int(num_samples)
        self.replacement = replacement

    def __len__(self) -> int:
        return self.num_samples

    def index_array(self) -> np.ndarray:
        probabilities = self.weights / self.weights.sum()
        drawn = self._rng().choice(len(self.weights), size=self.num_samples, replace=self.replacement,
                                   p=probabilities)
        return drawn.astype(np.int64, copy=False)


class BatchSampler(Sampler):
    """Group another sampler's indices into batches (lists of ints) of ``batch_size``.

    Parameters
    ----------
    sampler : Sampler or iterable of int
        Where the indices come from.
    batch_size : int
        Indices per batch.
    drop_last : bool
        Drop the last batch when it is smaller than ``batch_size``.

    Examples
    --------
    >>> list(BatchSampler(SequentialSampler(range(5)), batch_size=2, drop_last=False))
    [[0, 1], [2, 3], [4]]
    """

    def __init__(self, sampler: Sampler | Any, batch_size: int, drop_last: bool) -> None:
        _check_positive_int("batch_size", batch_size, "BatchSampler")
        if not isinstance(drop_last, bool):
            raise ValueError(f"BatchSampler: drop_last should be a bool, got {drop_last!r}")
        self.sampler = sampler
        self.batch_size = int(batch_size)
        self.drop_last = drop_last

    def set_epoch(self, epoch: int) -> None:
        """Pass the epoch on to the wrapped sampler."""
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)

    def index_batches(self) -> Iterator[np.ndarray]:
        """Yield the batches of one epoch as int64 arrays (slices of one index array)."""
        if hasattr(self.sampler, "index_array"):
            indices = self.sampler.index_array()
        else:
            indices = np.fromiter(iter(self.sampler), dtype=np.int64)
        size = self.batch_size
        stop = len(indices) - len(indices) % size if self.drop_last else len(indices)
        for start in range(0, stop, size):
            yield indices[start:start + size]

    def __iter__(self) -> Iterator[list[int]]:  # type: ignore[override]  # batches, as in PyTorch
        for batch in self.index_batches():
            yield batch.tolist()

    def __len__(self) -> int:
        if self.drop_last:
            return len(self.sampler) // self.batch_size
        return -(-len(self.sampler) // self.batch_size)


class DistributedSampler(Sampler, _EpochRandomness):
    """The share of a dataset one process of a data-parallel job visits, as PyTorch's.

    The epoch's order (a permutation drawn from ``[seed, epoch]`` when ``shuffle``, else
    ``0..n-1``) is padded by repeating its first indices, or cut with ``drop_last``, to a multiple
    of ``num_replicas``; replica ``rank`` takes every ``num_replicas``-th index from position
    ``rank``. Every replica gets the same number of samples (a job whose ranks ran different
    numbers of steps would hang), and together they cover the epoch. With a batch of ``b`` per
    replica, step ``k`` of the ``N`` replicas together sees exactly batch ``k`` of one process
    reading the same order in batches of ``N * b``.

    Call ``set_epoch(epoch)`` before each epoch for a new order (the ``DataLoader`` and the
    ``Trainer`` do it), with the same seed on every replica.

    Parameters
    ----------
    dataset : sized
        Only its length is used.
    num_replicas, rank : int, optional
        Default: the process group's world size and rank (1 and 0 without one).
    shuffle : bool
        A new random order each epoch (default) or the dataset's order.
    seed : int
        The same on every replica.
    drop_last : bool
        Drop the tail that does not divide evenly instead of padding with repeated indices.

    Examples
    --------
    >>> list(DistributedSampler(range(5), num_replicas=2, rank=1, shuffle=False))
    [1, 3, 0]
    """

    def __init__(self, dataset: Sized, num_replicas: int | None = None, rank: int | None = None,
                 shuffle: bool = True, seed: int = 0, drop_last: bool = False) -> None:
        if num_replicas is None or rank is None:
            from giagrad import distributed

            initialized = distributed.is_initialized()
            if num_replicas is None:
                num_replicas = distributed.get_world_size() if initialized else 1
            if rank is None:
                rank = distributed.get_rank() if initialized else 0
        _check_positive_int("num_replicas", num_replicas, "DistributedSampler")
        if not isinstance(rank, (int, np.integer)) or isinstance(rank, bool) or not 0 <= rank < num_replicas:
            raise ValueError(f"DistributedSampler: rank should be an integer in [0, {num_replicas - 1}], got {rank!r}")
        for name, flag in (("shuffle", shuffle), ("drop_last", drop_last)):
            if not isinstance(flag, bool):
                raise TypeError(f"DistributedSampler: {name} should be a bool, got {flag!r}")
        _EpochRandomness.__init__(self, seed, None, "DistributedSampler")
        self.dataset = dataset
        self.num_replicas = int(num_replicas)
        self.rank = int(rank)
        self.shuffle = shuffle
        self.drop_last = drop_last

    @property
    def num_samples(self) -> int:
        """How many indices each replica gets per epoch."""
        n = len(self.dataset)
        if self.drop_last:
            return n // self.num_replicas
        return -(-n // self.num_replicas)

    @property
    def total_size(self) -> int:
        return self.num_samples * self.num_replicas

    def __len__(self) -> int:
        return self.num_samples

    def index_array(self) -> np.ndarray:
        n = len(self.dataset)
        order = self._rng().permutation(n) if self.shuffle else np.arange(n)
        order = order.astype(np.int64, copy=False)
        total = self.total_size
        if total > n and n > 0:  # pad by repeating the start (several times if the dataset is tiny)
            order = np.resize(order, total)
        return order[:total][self.rank::self.num_replicas]
