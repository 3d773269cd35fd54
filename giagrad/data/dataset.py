"""Datasets: map-style (``__getitem__`` + ``__len__``) and iterable, with PyTorch's names.

Batch indexing
--------------
A dataset backed by whole arrays may define ``get_batch(indices)``: given an int64 array of
indices it returns the whole batch at once (a tuple of numpy arrays with a leading batch
dimension, transforms applied), with one fancy-index per array instead of a Python loop over
items. :class:`~giagrad.data.DataLoader` uses it when the dataset offers it (see
:func:`supports_batch_indexing`) and no ``collate_fn`` was given. It plays the part of PyTorch's
``__getitems__``, except that the result is already collated.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterator, Sequence
from typing import Any, cast

import numpy as np

from giagrad import random as _random
from giagrad.tensor import Tensor

__all__ = [
    "Dataset", "IterableDataset", "TensorDataset", "Subset", "ConcatDataset", "random_split",
    "supports_batch_indexing",
]


def supports_batch_indexing(dataset: Any) -> bool:
    """Whether ``dataset.get_batch(indices)`` can fetch a whole batch with one fancy-index."""
    return callable(getattr(dataset, "get_batch", None)) and bool(getattr(dataset, "batch_indexable", True))


class Dataset:
    """A map-style dataset: ``dataset[i]`` is the i-th sample and ``len(dataset)`` their number.

    Subclass it and write ``__getitem__`` and ``__len__``. ``a + b`` concatenates two datasets.

    Examples
    --------
    >>> class Squares(Dataset):
    ...     def __len__(self): return 4
    ...     def __getitem__(self, i): return i, i * i
    >>> Squares()[3]
    (3, 9)
    """

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} has no __getitem__")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} has no __len__")

    def __add__(self, other: Dataset) -> ConcatDataset:
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    """A dataset read as a stream: write ``__iter__``. The DataLoader batches it in order.

    Examples
    --------
    >>> class Count(IterableDataset):
    ...     def __iter__(self): return iter(range(5))
    >>> list(Count())
    [0, 1, 2, 3, 4]
    """

    def __iter__(self) -> Iterator[Any]:
        raise NotImplementedError(f"{type(self).__name__} has no __iter__")

    def __len__(self) -> int:
        # TypeError, as len() of any unsized object: list(stream) and length_hint rely on it
        raise TypeError(f"{type(self).__name__} is an IterableDataset: it has no len()")

    def __getitem__(self, index: int) -> Any:
        raise TypeError(f"{type(self).__name__} is an IterableDataset: iterate over it instead of indexing")


class TensorDataset(Dataset):
    """Samples are rows of equally long tensors or arrays: ``dataset[i] = (a[i], b[i], ...)``.

    Parameters
    ----------
    *tensors : Tensor or numpy array
        All with the same first dimension. Arrays keep their dtype.

    Examples
    --------
    >>> ds = TensorDataset(giagrad.randn(10, 3), giagrad.arange(10))
    >>> x, y = ds[2]
    >>> x.shape, y.item()
    ((3,), 2)
    """

    def __init__(self, *tensors: Tensor | np.ndarray) -> None:
        if not tensors:
            raise ValueError("TensorDataset: needs at least one tensor")
        arrays = tuple(t.data if isinstance(t, Tensor) else np.asarray(t) for t in tensors)
        for array in arrays:
            if array.ndim == 0 or len(array) != len(arrays[0]):
                shapes = [a.shape for a in arrays]
                raise ValueError(f"TensorDataset: all tensors need the same first dimension, got shapes {shapes}")
        self.arrays = arrays
        self.tensors = tuple(t if isinstance(t, Tensor) else Tensor(a) for t, a in zip(tensors, arrays, strict=True))

    def __len__(self) -> int:
        return len(self.arrays[0])

    def __getitem__(self, index: int) -> tuple[Tensor, ...]:
        return tuple([Tensor(array[index]) for array in self.arrays])

    def get_batch(self, indices: np.ndarray) -> tuple[np.ndarray, ...]:
        """Rows ``indices`` of every array: one fancy-index each."""
        return tuple([np.take(array, indices, axis=0) for array in self.arrays])


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices`` (keeps the batch fast path when it has one).

    Examples
    --------
    >>> evens = Subset(TensorDataset(giagrad.arange(10)), [0, 2, 4])
    >>> len(evens), evens[1][0].item()
    (3, 2)
    """

    def __init__(self, dataset: Dataset, indices: Sequence[int] | np.ndarray) -> None:
        self.dataset = dataset
        self.indices = np.asarray(indices, dtype=np.int64).reshape(-1)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> Any:
        if isinstance(index, (list, np.ndarray)):
            return [self.dataset[int(i)] for i in self.indices[np.asarray(index)]]
        return self.dataset[int(self.indices[index])]

    @property
    def batch_indexable(self) -> bool:
        return supports_batch_indexing(self.dataset)

    def get_batch(self, indices: np.ndarray) -> Any:
        return cast(Any, self.dataset).get_batch(self.indices[indices])


class ConcatDataset(Dataset):
    """Several datasets one after the other.

    Examples
    --------
    >>> both = ConcatDataset([TensorDataset(giagrad.zeros(2)), TensorDataset(giagrad.ones(3))])
    >>> len(both), both[2][0].item()
    (5, 1.0)
    """

    def __init__(self, datasets: Sequence[Dataset]) -> None:
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: needs at least one dataset")
        for dataset in self.datasets:
            if isinstance(dataset, IterableDataset):
                raise TypeError("ConcatDataset: does not support IterableDataset")
        self.cumulative_sizes = np.cumsum([len(d) for d in self.datasets]).tolist()

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    @property
    def batch_indexable(self) -> bool:
        return all(supports_batch_indexing(dataset) for dataset in self.datasets)

    def get_batch(self, indices: np.ndarray) -> Any:
        """Each part's rows with its own ``get_batch``, merged back into the order of ``indices``."""
        indices = np.asarray(indices, dtype=np.int64)
        indices = np.where(indices < 0, indices + len(self), indices)
        which = np.searchsorted(self.cumulative_sizes, indices, side="right")
        starts = np.concatenate([[0], self.cumulative_sizes[:-1]])
        order = np.argsort(which, kind="stable")              # positions grouped by part
        parts = []
        for part in np.unique(which):
            local = indices[which == part] - starts[part]
            parts.append(self.datasets[part].get_batch(local))
        merged = _concatenate_batches(parts)
        return _take_batch(merged, np.argsort(order, kind="stable"))   # back to the order asked for

    def __getitem__(self, index: int) -> Any:
        if index < 0:
            if -index > len(self):
                raise IndexError(f"ConcatDataset: index {index} out of range for length {len(self)}")
            index += len(self)
        if index >= len(self):
            raise IndexError(f"ConcatDataset: index {index} out of range for length {len(self)}")
        which = bisect.bisect_right(self.cumulative_sizes, index)
        start = self.cumulative_sizes[which - 1] if which > 0 else 0
        return self.datasets[which][index - start]


def _concatenate_batches(parts: list[Any]) -> Any:
    first = parts[0]
    if len(parts) == 1:
        return first
    if isinstance(first, np.ndarray):
        return np.concatenate(parts)
    if isinstance(first, dict):
        return {key: _concatenate_batches([part[key] for part in parts]) for key in first}
    if isinstance(first, (tuple, list)):
        fields = [_concatenate_batches(list(field)) for field in zip(*parts, strict=True)]
        return tuple(fields) if isinstance(first, tuple) else fields
    raise TypeError(f"ConcatDataset: cannot merge batches of type {type(first).__name__}")


def _take_batch(batch: Any, order: np.ndarray) -> Any:
    if isinstance(batch, np.ndarray):
        return batch[order]
    if isinstance(batch, dict):
        return {key: _take_batch(value, order) for key, value in batch.items()}
    if isinstance(batch, (tuple, list)):
        fields = [_take_batch(field, order) for field in batch]
        return tuple(fields) if isinstance(batch, tuple) else fields
    raise TypeError(f"ConcatDataset: cannot reorder a batch of type {type(batch).__name__}")


def _split_lengths(total: int, lengths: Sequence[float]) -> list[int]:
    lengths = list(lengths)
    if not lengths:
        raise ValueError("random_split: lengths should not be empty")
    all_fractions = all(0 <= f <= 1 for f in lengths) and math.isclose(sum(lengths), 1.0) \
        and not all(isinstance(f, (int, np.integer)) for f in lengths)
    if all_fractions:
        # As PyTorch: floor each part, then hand the remainder out one by one, round-robin.
        counts = [int(math.floor(total * f)) for f in lengths]
        for i in range(total - sum(counts)):
            counts[i % len(counts)] += 1
        return counts
    if any(not isinstance(n, (int, np.integer)) or n < 0 for n in lengths):
        raise ValueError(f"random_split: lengths should be non-negative integers or fractions summing to 1, "
                         f"got {lengths}")
    if sum(lengths) != total:
        raise ValueError(f"random_split: the lengths {lengths} sum to {sum(lengths)}, "
                         f"not to the dataset's length {total}")
    return [int(n) for n in lengths]


def random_split(dataset: Dataset, lengths: Sequence[float], seed: int | None = None,
                 generator: np.random.Generator | None = None) -> list[Subset]:
    """Split a dataset at random into non-overlapping :class:`Subset` parts.

    Parameters
    ----------
    dataset : Dataset
        The dataset to split.
    lengths : sequence of int or float
        The parts' sizes, or fractions summing to 1 (each part gets ``floor(n * f)`` samples and the
        remainder is handed out one by one, round-robin from the first part, as in PyTorch).
    seed : int, optional
        Draw the permutation from ``np.random.default_rng(seed)``.
    generator : numpy.random.Generator, optional
        Or draw from this generator. With neither, giagrad's generator (``giagrad.manual_seed``).

    Examples
    --------
    >>> train, val = random_split(TensorDataset(giagrad.arange(10)), [0.8, 0.2], seed=0)
    >>> len(train), len(val)
    (8, 2)
    """
    if seed is not None and generator is not None:
        raise ValueError("random_split: give seed or generator, not both")
    counts = _split_lengths(len(dataset), lengths)
    if seed is not None:
        rng = np.random.default_rng(seed)
    else:
        rng = generator if generator is not None else _random.generator()
    permutation = rng.permutation(len(dataset))
    bounds = np.cumsum(counts)
    return [Subset(dataset, permutation[stop - count:stop]) for count, stop in zip(counts, bounds, strict=True)]
