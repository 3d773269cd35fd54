"""DataLoader: batches of giagrad Tensors from a dataset, shuffled reproducibly.

Two ways a batch is made:

- **batch indexing** (the fast path): when the dataset has ``get_batch(indices)``
  (``TensorDataset``, ``MNIST``, ``FashionMNIST``, and ``Subset``/``ConcatDataset`` of them)
  and no ``collate_fn`` is given, a batch is one fancy-index of the dataset's arrays plus
  batch-level transforms;
- **per sample**: otherwise ``dataset[i]`` for each index, then ``collate_fn`` (default
  :func:`default_collate`) merges the samples.

Epochs, shuffling and resuming
------------------------------
The loader counts epochs: each ``iter(loader)`` starts the next one (the first is epoch 0). With
``shuffle=True, seed=s`` the order of epoch ``e`` is drawn from ``np.random.default_rng([s, e])``:
a new order every epoch, the same orders in every run. ``state_dict()`` holds the epoch counter;
a training run resumed after epoch ``k`` with ``load_state_dict`` (or ``set_epoch(k)``) sees the
same batches as an uninterrupted one. With ``generator=`` the loader draws from that numpy
generator; with neither, from ``giagrad.random.generator()`` (seeded by ``giagrad.manual_seed``),
whose state a trainer checkpoint saves. Without a seed, ``state_dict()`` also keeps the
generator's state at the start of the epoch, so that a run resumed in the middle of an epoch
sees the rest of that epoch's order, exactly as without the interruption.
"""

from __future__ import annotations

import collections.abc
import functools
import numbers
from collections.abc import Callable, Iterator
from typing import Any, cast

import numpy as np

from giagrad.data import _workers
from giagrad.data.dataset import Dataset, IterableDataset, supports_batch_indexing
from giagrad.data.sampler import BatchSampler, RandomSampler, SequentialSampler
from giagrad.dtypes import DEFAULT_FLOAT
from giagrad.tensor import Tensor

__all__ = ["DataLoader", "default_collate", "default_convert", "get_worker_info"]

get_worker_info = _workers.get_worker_info


def default_collate(batch: list[Any]) -> Any:
    """Merge a list of samples into a batch, as PyTorch's ``default_collate`` does.

    - Tensors and numpy arrays are stacked along a new first dimension (dtypes kept);
    - Python ints become an int64 tensor, bools a bool tensor, Python floats a float32 tensor
      (PyTorch makes float64; giagrad keeps its float32 default), numpy scalars keep their dtype;
    - strings and bytes stay a list;
    - tuples, lists, named tuples and dicts are collated field by field, keeping their kind.

    Examples
    --------
    >>> x, y = default_collate([(np.zeros(2, np.float32), 1), (np.ones(2, np.float32), 0)])
    >>> x.shape, y.dtype
    ((2, 2), dtype('int64'))
    """
    if not batch:
        raise ValueError("default_collate: the batch is empty")
    first = batch[0]
    if isinstance(first, Tensor):
        return Tensor(np.stack([sample.data for sample in batch]))
    if isinstance(first, np.ndarray):
        if first.dtype.kind in "USO":
            raise TypeError(f"default_collate: cannot collate arrays of dtype {first.dtype}")
        return Tensor(np.stack(batch))
    if isinstance(first, np.generic):
        return Tensor(np.array(batch, dtype=first.dtype))
    if isinstance(first, bool):
        return Tensor(np.array(batch, dtype=np.bool_))
    if isinstance(first, numbers.Integral):
        return Tensor(np.array(batch, dtype=np.int64))
    if isinstance(first, numbers.Real):
        return Tensor(np.array(batch, dtype=DEFAULT_FLOAT))
    if isinstance(first, (str, bytes)):
        return list(batch)
    if isinstance(first, collections.abc.Mapping):
        collated = {key: default_collate([sample[key] for sample in batch]) for key in first}
        if type(first) is dict:
            return collated
        try:
            return cast(Any, type(first))(collated)
        except TypeError:  # a mapping type that cannot be built from a dict
            return collated
    if isinstance(first, tuple) and hasattr(first, "_fields"):  # named tuple
        return type(first)(*(default_collate(list(field)) for field in zip(*batch, strict=True)))
    if isinstance(first, collections.abc.Sequence):
        size = len(first)
        if any(len(sample) != size for sample in batch):
            raise RuntimeError("default_collate: each sample in the batch should have the same number of fields")
        fields = [default_collate(list(field)) for field in zip(*batch, strict=True)]
        return tuple(fields) if isinstance(first, tuple) else fields
    raise TypeError(f"default_collate: cannot collate samples of type {type(first).__name__}; "
                    f"pass a collate_fn")


def default_convert(batch: Any) -> Any:
    """Turn an already collated batch (numpy arrays, maybe inside tuples/lists/dicts) into Tensors."""
    if isinstance(batch, np.ndarray):
        return Tensor(batch)
    if isinstance(batch, tuple):
        return tuple([default_convert(part) for part in batch])
    if isinstance(batch, list):
        return [default_convert(part) for part in batch]
    if isinstance(batch, dict):
        return {key: default_convert(value) for key, value in batch.items()}
    return batch


def _check_seed(seed: Any) -> None:
    if seed is not None and (not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0):
        raise ValueError(f"DataLoader: seed should be a non-negative integer, got {seed!r}")


class DataLoader:
    """Iterate over a dataset in batches of giagrad Tensors.

    Parameters
    ----------
    dataset : Dataset or IterableDataset
        Where samples come from.
    batch_size : int
        Samples per batch (default 1). PyTorch's ``batch_size=None`` (no batching) is not supported.
    shuffle : bool
        A new random order every epoch (reproducible with ``seed``).
    sampler : Sampler or iterable of int, optional
        The order of indices; excludes ``shuffle``.
    batch_sampler : iterable of index lists, optional
        Whole batches of indices; excludes ``batch_size``, ``shuffle``, ``sampler`` and ``drop_last``.
    drop_last : bool
        Drop the last incomplete batch.
    collate_fn : callable, optional
        Merges a list of samples into a batch (default :func:`default_collate`). Giving one turns
        off batch indexing: the dataset is read sample by sample.
    seed : int, optional
        With ``shuffle``, epoch ``e``'s order comes from ``np.random.default_rng([seed, e])``.
    generator : numpy.random.Generator, optional
        With ``shuffle``, draw the orders from this generator instead.
    num_workers : int
        Worker processes that make batches in parallel (0: in this process). The sampler still
        runs here and the batches come in sampler order; see ``giagrad.data._workers`` for the
        seeding, error and shutdown rules. Pays off when making a batch is slow (per-sample
        transforms such as random crops); batch indexing of in-memory arrays is faster without.
    prefetch_factor : int, optional
        Batches in flight per worker (default 2; only with ``num_workers > 0``).
    persistent_workers : bool
        Keep the workers alive between epochs (only with ``num_workers > 0``).
    worker_init_fn : callable, optional
        Called as ``worker_init_fn(worker_id)`` in each worker after seeding, before any batch.
    timeout : float
        Seconds to wait for a batch from the workers before raising (0: wait for ever).
    multiprocessing_context : str or context, optional
        The start method; by default ``fork`` where available (Linux, macOS), else ``spawn``.
    pin_memory : bool
        Accepted for PyTorch compatibility and ignored (there is no GPU to copy to).

    Examples
    --------
    >>> data = TensorDataset(giagrad.randn(100, 3), giagrad.arange(100))
    >>> loader = DataLoader(data, batch_size=32, shuffle=True, seed=0)
    >>> len(loader)
    4
    >>> for x, y in loader:
    ...     pass                      # x: (32, 3) float32, y: (32,) int64 (the last batch has 4)
    >>> loader.state_dict()           # one epoch done: the next iteration is epoch 1
    {'epoch': 1}
    """

    def __init__(self, dataset: Dataset, batch_size: int = 1, shuffle: bool = False, sampler: Any = None,
                 batch_sampler: Any = None, drop_last: bool = False, collate_fn: Callable[[list], Any] | None = None,
                 seed: int | None = None, generator: np.random.Generator | None = None, num_workers: int = 0,
                 pin_memory: bool = False, timeout: float = 0, worker_init_fn: Callable[[int], Any] | None = None,
                 multiprocessing_context: Any = None, prefetch_factor: int | None = None,
                 persistent_workers: bool = False) -> None:
        if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size should be a positive integer, got {batch_size!r}")
        if not isinstance(shuffle, bool):
            raise TypeError(f"DataLoader: shuffle should be a bool, got {shuffle!r}")
        if not isinstance(drop_last, bool):
            raise TypeError(f"DataLoader: drop_last should be a bool, got {drop_last!r}")
        if collate_fn is not None and not callable(collate_fn):
            raise TypeError("DataLoader: collate_fn should be callable")
        _check_seed(seed)
        if seed is not None and generator is not None:
            raise ValueError("DataLoader: give seed or generator, not both")
        _check_worker_options(num_workers, timeout, worker_init_fn, prefetch_factor, persistent_workers)
        self.is_iterable = isinstance(dataset, IterableDataset)
        if self.is_iterable:
            if shuffle:
                raise ValueError("DataLoader with IterableDataset: expected unspecified shuffle option, "
                                 "but got shuffle=True (an iterable dataset is read in its own order)")
            if sampler is not None or batch_sampler is not None:
                raise ValueError("DataLoader with IterableDataset: expected unspecified sampler and "
                                 "batch_sampler options")
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("DataLoader: batch_sampler option is mutually exclusive with batch_size, "
                                 "shuffle, sampler, and drop_last")
        # Any: map-style, iterable, or with get_batch; samplers are any iterables of indices
        self.dataset: Any = dataset
        self.seed = seed
        self.num_workers = int(num_workers)
        self.pin_memory = bool(pin_memory)  # ignored: giagrad computes on the CPU
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.prefetch_factor = 2 if prefetch_factor is None else int(prefetch_factor)
        self.persistent_workers = bool(persistent_workers)
        self._worker_pool: _workers.WorkerPool | None = None
        self.batch_size = None if batch_sampler is not None else int(batch_size)
        self.drop_last = drop_last
        self.collate_fn = collate_fn
        self._epoch = 0
        if self.is_iterable:
            self.sampler: Any = None
            self.batch_sampler: Any = None
        else:
            if sampler is None and batch_sampler is None:
                sampler = RandomSampler(dataset, seed=seed, generator=generator) if shuffle \
                    else SequentialSampler(dataset)
            if batch_sampler is None:
                batch_sampler = BatchSampler(sampler, int(batch_size), drop_last)
            self.sampler = sampler if sampler is not None else getattr(batch_sampler, "sampler", None)
            self.batch_sampler = batch_sampler
        # Batch indexing only with the default collate: a user's collate_fn expects a list of samples.
        self.uses_batch_indexing = (not self.is_iterable and collate_fn is None
                                    and supports_batch_indexing(dataset))

    # ------------------------------------------------------------------ epochs and resuming

    @property
    def epoch(self) -> int:
        """The epoch the next ``iter(loader)`` will run."""
        return self._epoch

    def set_epoch(self, epoch: int) -> None:
        """Make the next iteration run epoch ``epoch`` (its shuffle order, with a seed)."""
        if not isinstance(epoch, (int, np.integer)) or isinstance(epoch, bool) or epoch < 0:
            raise ValueError(f"DataLoader.set_epoch: epoch should be a non-negative integer, got {epoch!r}")
        self._epoch = int(epoch)

    def state_dict(self) -> dict[str, Any]:
        """The loader's progress: ``{'epoch': next epoch to run}``, and the sampler's state if any.

        The counter moves on when an epoch *starts*, so a state taken in the middle of epoch
        ``e`` already says ``e + 1``; to resume inside ``e``, ``set_epoch(e)`` after loading it
        (the trainer does). A shuffling sampler without a seed adds ``"sampler"``: the
        generator's state at the start of the epoch, so that the same order is drawn again.
        """
        state: dict[str, Any] = {"epoch": self._epoch}
        sampler_state = self.sampler.state_dict() if hasattr(self.sampler, "state_dict") else None
        if sampler_state:
            state["sampler"] = sampler_state
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        if "epoch" not in state:
            raise KeyError("DataLoader.load_state_dict: the state has no 'epoch'")
        if "sampler" in state and hasattr(self.sampler, "load_state_dict"):
            self.sampler.load_state_dict(state["sampler"])
        self.set_epoch(state["epoch"])

    # ------------------------------------------------------------------ iteration

    def __len__(self) -> int:
        if self.is_iterable:
            raise TypeError("DataLoader over an IterableDataset has no len()")
        return len(self.batch_sampler)

    def __iter__(self) -> Iterator[Any]:
        epoch = self._epoch
        self._epoch += 1
        if self.is_iterable:
            if self.num_workers:
                return _workers.MultiProcessIterator(self, epoch, None)
            return self._streamer()()
        for sampler in (self.batch_sampler, self.sampler):
            if hasattr(sampler, "set_epoch"):
                sampler.set_epoch(epoch)
        if self.num_workers:
            return _workers.MultiProcessIterator(self, epoch, iter(self._index_batches()))
        return self._iterate_indexed()

    def _index_batches(self) -> Iterator[Any]:
        if isinstance(self.batch_sampler, BatchSampler):
            return self.batch_sampler.index_batches()
        return iter(self.batch_sampler)

    def _fetcher(self) -> Callable[[Any], Any]:
        """``fetch(indices) -> batch``, picklable, for this process or a worker."""
        return functools.partial(_fetch_batch, self.dataset, self.uses_batch_indexing, self.collate_fn)

    def _streamer(self) -> Callable[[], Iterator[Any]]:
        """``stream() -> iterator of batches`` of an iterable dataset, picklable."""
        batch_size = cast(int, self.batch_size)  # an iterable dataset takes no batch_sampler
        return functools.partial(_stream_batches, self.dataset, batch_size, self.drop_last, self.collate_fn)

    def _iterate_indexed(self) -> Iterator[Any]:
        fetch = self._fetcher()
        for indices in self._index_batches():
            yield fetch(indices)

    def __del__(self) -> None:
        pool = self.__dict__.get("_worker_pool")
        if pool is not None:
            pool.shutdown()

    def __repr__(self) -> str:
        return (f"DataLoader(dataset={type(self.dataset).__name__}, batch_size={self.batch_size}, "
                f"drop_last={self.drop_last}, epoch={self._epoch})")



def _fetch_batch(dataset: Any, uses_batch_indexing: bool, collate_fn: Callable[[list], Any] | None,
                 indices: Any) -> Any:
    if uses_batch_indexing:
        return default_convert(dataset.get_batch(np.asarray(indices, dtype=np.int64)))
    collate = collate_fn if collate_fn is not None else default_collate
    return collate([dataset[int(i)] for i in indices])


def _stream_batches(dataset: Any, batch_size: int, drop_last: bool,
                    collate_fn: Callable[[list], Any] | None) -> Iterator[Any]:
    collate = collate_fn if collate_fn is not None else default_collate
    batch: list[Any] = []
    for sample in dataset:
        batch.append(sample)
        if len(batch) == batch_size:
            yield collate(batch)
            batch = []
    if batch and not drop_last:
        yield collate(batch)


def _check_worker_options(num_workers: Any, timeout: Any, worker_init_fn: Any, prefetch_factor: Any,
                          persistent_workers: Any) -> None:
    if not isinstance(num_workers, (int, np.integer)) or isinstance(num_workers, bool) or num_workers < 0:
        raise ValueError(f"DataLoader: num_workers should be a non-negative integer, got {num_workers!r}")
    if not isinstance(timeout, (int, float)) or timeout < 0:
        raise ValueError(f"DataLoader: timeout should be a non-negative number, got {timeout!r}")
    if worker_init_fn is not None and not callable(worker_init_fn):
        raise TypeError("DataLoader: worker_init_fn should be callable")
    if num_workers == 0 and prefetch_factor is not None:
        raise ValueError("DataLoader: prefetch_factor option could only be specified in multiprocessing; "
                         "let num_workers > 0 to enable it")
    if prefetch_factor is not None and (not isinstance(prefetch_factor, (int, np.integer)) or prefetch_factor < 1):
        raise ValueError(f"DataLoader: prefetch_factor should be a positive integer, got {prefetch_factor!r}")
    if num_workers == 0 and persistent_workers:
        raise ValueError("DataLoader: persistent_workers option needs num_workers > 0")
