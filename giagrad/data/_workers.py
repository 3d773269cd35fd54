"""Worker processes for ``DataLoader(num_workers=N)``: batches made in parallel, delivered in order.

How it works (the same plan as PyTorch's):

- The sampler runs in the main process, as with ``num_workers=0``, so shuffling is unchanged.
  Each batch of indices becomes a task ``(epoch, task_id, indices, seed)`` sent to one worker's
  queue, round-robin; ``prefetch_factor`` tasks per worker are kept in flight.
- A worker reads ``dataset[i]`` (or ``get_batch``), collates, and puts ``(epoch, task_id, batch)``
  on the one result queue. The main process reorders the results by ``task_id``, so the batches
  come out in sampler order whatever worker finishes first.
- Randomness: before each batch the worker seeds giagrad's generator (and Python's ``random``)
  from ``(base_seed, task_id)``. Random transforms therefore give the same batches for any
  ``num_workers >= 1`` and on every run with the same ``giagrad.manual_seed`` (or loader
  ``seed``). They differ from ``num_workers=0``, which draws from the main generator in
  sequence, as they do in PyTorch; deterministic datasets give identical batches either way.
  Taking the base seed does not advance the main generator, so the model's own randomness
  (initialisation, dropout) is the same with or without workers.
- Errors: an exception in a worker travels back (type, message, the worker's traceback) and is
  raised in the loop, naming the worker id. On that, on the end of an epoch (unless
  ``persistent_workers``), on ``break`` (the iterator is released) and on Ctrl-C, the workers are
  stopped and joined: no process outlives the loop. Workers ignore SIGINT, so Ctrl-C reaches
  only the main process, which stops them.

Start method: ``fork`` where the platform has it (Linux: workers start in milliseconds and see
the dataset without pickling it); ``spawn`` elsewhere, which needs a picklable dataset and
collate function. ``multiprocessing_context=`` chooses another.
"""

from __future__ import annotations

import multiprocessing
import queue
import random as _python_random
import signal
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from giagrad import random as _random

__all__ = ["WorkerInfo", "get_worker_info", "MultiProcessIterator", "WorkerPool"]

_POLL_SECONDS = 0.5  # how often a waiting main process checks that its workers are alive


@dataclass(frozen=True)
class WorkerInfo:
    """What :func:`get_worker_info` returns inside a worker process."""

    id: int
    num_workers: int
    seed: int
    dataset: Any


_worker_info: WorkerInfo | None = None


def get_worker_info() -> WorkerInfo | None:
    """In a DataLoader worker: its ``id``, ``num_workers``, ``seed`` and its copy of ``dataset``; else None.

    An ``IterableDataset`` uses it to give each worker its own share of the stream (otherwise
    every worker yields the whole stream, as in PyTorch).

    Examples
    --------
    >>> info = giagrad.data.get_worker_info()
    >>> start = 0 if info is None else info.id     # inside IterableDataset.__iter__
    """
    return _worker_info


class _Exhausted:
    """A worker's answer when its iterable dataset has no more batches."""


@dataclass
class _WorkerError:
    worker_id: int
    type_name: str
    exception_type: type | None
    message: str
    trace: str

    def reraise(self) -> None:
        text = (f"Caught {self.type_name} in DataLoader worker process {self.worker_id}: {self.message}\n"
                f"Original traceback in the worker:\n{self.trace}")
        try:
            error = self.exception_type(text) if self.exception_type is not None else RuntimeError(text)
        except Exception:  # an exception class that cannot be built from one message
            error = RuntimeError(text)
        if not isinstance(error, BaseException):
            error = RuntimeError(text)
        raise error


def _seed_everything(seed: int) -> None:
    _random.manual_seed(seed)
    _python_random.seed(seed)


def _batch_seed(base_seed: int, task_id: int) -> int:
    return int(np.random.SeedSequence([base_seed, task_id]).generate_state(1, dtype=np.uint64)[0] >> 1)


def _worker_loop(fetch: Callable[[Any], Any], stream: Callable[[], Iterator[Any]] | None, index_queue: Any,
                 result_queue: Any, worker_id: int, num_workers: int, seed: int, dataset: Any,
                 worker_init_fn: Callable[[int], Any] | None) -> None:
    global _worker_info
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the main process, which stops us
    _worker_info = WorkerInfo(worker_id, num_workers, seed, dataset)
    _seed_everything(seed)
    init_error = None
    try:
        if worker_init_fn is not None:
            worker_init_fn(worker_id)
    except Exception as error:
        init_error = _wrap_error(worker_id, error)
    batches: Any = None  # the worker's iterator over its iterable dataset's batches
    epoch_of_stream = None
    while True:
        task = index_queue.get()
        if task is None:
            break
        epoch, task_id, indices, batch_seed = task
        if init_error is not None:
            result_queue.put((epoch, task_id, init_error))
            continue
        try:
            _seed_everything(batch_seed)
            if stream is None:
                result = fetch(indices)
            else:
                if epoch_of_stream != epoch:  # a new epoch of an iterable dataset: a fresh iterator
                    batches, epoch_of_stream = stream(), epoch
                result = next(batches, _Exhausted())
        except Exception as error:
            result = _wrap_error(worker_id, error)
        result_queue.put((epoch, task_id, result))
    result_queue.cancel_join_thread()  # leave at once even if the main process stopped reading


def _wrap_error(worker_id: int, error: Exception) -> _WorkerError:
    exception_type = type(error)
    try:  # the type must survive the trip through the queue (spawn pickles it by name)
        import pickle
        pickle.dumps(exception_type)
    except Exception:
        exception_type = None
    return _WorkerError(worker_id, type(error).__name__, exception_type, str(error), traceback.format_exc())


def start_method_context(context: Any) -> Any:
    """The multiprocessing context: the one given (name or context), else fork where available."""
    if context is None:
        return multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    if isinstance(context, str):
        return multiprocessing.get_context(context)
    return context


class WorkerPool:
    """The worker processes and their queues (kept across epochs with ``persistent_workers``)."""

    def __init__(self, loader: Any, base_seed: int) -> None:
        context = start_method_context(loader.multiprocessing_context)
        self.num_workers = loader.num_workers
        self.result_queue = context.Queue()
        self.index_queues = []
        self.workers = []
        stream = loader._streamer() if loader.is_iterable else None
        for worker_id in range(self.num_workers):
            index_queue = context.Queue()
            worker = context.Process(
                target=_worker_loop, name=f"giagrad DataLoader worker {worker_id}",
                args=(loader._fetcher(), stream, index_queue, self.result_queue, worker_id, self.num_workers,
                      base_seed + worker_id, loader.dataset, loader.worker_init_fn),
                daemon=True)
            worker.start()
            self.index_queues.append(index_queue)
            self.workers.append(worker)
        self.closed = False

    def check_alive(self) -> None:
        for worker_id, worker in enumerate(self.workers):
            if not worker.is_alive():
                self.shutdown()
                raise RuntimeError(f"DataLoader worker {worker_id} (pid {worker.pid}) exited unexpectedly with "
                                   f"exit code {worker.exitcode}")

    def shutdown(self) -> None:
        """Stop and join every worker; terminate those that do not stop in time."""
        if self.closed:
            return
        self.closed = True
        for index_queue, worker in zip(self.index_queues, self.workers, strict=True):
            if worker.is_alive():
                try:
                    index_queue.put(None)
                except (OSError, ValueError):
                    pass
        for worker in self.workers:
            worker.join(timeout=5)
            if worker.is_alive():
                worker.terminate()
                worker.join()
        for q in (*self.index_queues, self.result_queue):
            q.cancel_join_thread()
            q.close()

    def __del__(self) -> None:
        self.shutdown()


def base_seed(loader: Any, epoch: int) -> int:
    """The epoch's seed for the workers, from the loader's seed or (without advancing it) giagrad's generator."""
    if loader.seed is not None:
        root = loader.seed
    else:
        # Resumed in the middle of this epoch, the sampler knows the generator's state as the epoch
        # began: the same base seed, so that the rest of the epoch gets the same random transforms.
        replayed = getattr(loader.sampler, "replayed_state", None)
        state = replayed(epoch) if replayed is not None else None
        state_copy = np.random.PCG64()
        start: Any = state if state is not None else _random.generator().bit_generator.state
        state_copy.state = start
        root = int(np.random.Generator(state_copy).integers(2 ** 62))
    return int(np.random.SeedSequence([root, epoch]).generate_state(1, dtype=np.uint64)[0] >> 2)


class MultiProcessIterator:
    """One epoch of batches from worker processes, in sampler order."""

    def __init__(self, loader: Any, epoch: int, index_batches: Iterator[Any] | None) -> None:
        self.loader = loader
        self.epoch = epoch
        self.base_seed = base_seed(loader, epoch)
        pool = loader._worker_pool if loader.persistent_workers else None
        if pool is None or pool.closed:
            pool = WorkerPool(loader, self.base_seed)
            if loader.persistent_workers:
                loader._worker_pool = pool
        self.pool: WorkerPool = pool
        self.index_batches = index_batches  # None for an iterable dataset: workers read their own streams
        self.active = list(range(self.pool.num_workers))  # workers whose stream is not exhausted
        self.next_worker = 0
        self.sent = 0  # task ids sent so far
        self.next_to_yield = 0
        self.waiting: dict[int, Any] = {}  # results that arrived before their turn
        self.skipped: set[int] = set()  # task ids answered by "exhausted"
        self.worker_of: dict[int, int] = {}  # iterable datasets: which worker a task went to
        self.finished = False
        for _ in range(loader.prefetch_factor * self.pool.num_workers):
            if not self._send_task():
                break

    def _send_task(self) -> bool:
        if self.index_batches is not None:
            indices = next(self.index_batches, None)
            if indices is None:
                return False
        else:
            if not self.active:
                return False
            indices = None
        worker = self.active[self.next_worker % len(self.active)]
        self.next_worker += 1
        task_id = self.sent
        self.pool.index_queues[worker].put((self.epoch, task_id, indices, _batch_seed(self.base_seed, task_id)))
        self.sent += 1
        if indices is None:
            self.worker_of[task_id] = worker
        return True

    def __iter__(self) -> MultiProcessIterator:
        return self

    def __next__(self) -> Any:
        try:
            return self._next()
        except StopIteration:
            raise
        except BaseException:  # a worker's error, Ctrl-C: stop the workers before the error goes up
            self.close(force=True)
            raise

    def _next(self) -> Any:
        while True:
            if self.finished:
                raise StopIteration
            while self.next_to_yield in self.skipped:
                self.skipped.discard(self.next_to_yield)
                self.next_to_yield += 1
            if self.next_to_yield in self.waiting:
                result = self.waiting.pop(self.next_to_yield)
                self.next_to_yield += 1
                self._send_task()
                return result
            if self.next_to_yield >= self.sent:
                self.close()
                raise StopIteration
            self._receive()

    def _receive(self) -> None:
        timeout = self.loader.timeout
        waited = 0.0
        while True:
            try:
                epoch, task_id, result = self.pool.result_queue.get(timeout=_POLL_SECONDS)
                break
            except queue.Empty:
                self.pool.check_alive()
                waited += _POLL_SECONDS
                if timeout and waited >= timeout:
                    raise RuntimeError(f"DataLoader timed out after {timeout} seconds waiting for a batch "
                                       "from its workers") from None
        if epoch != self.epoch:  # left over from an epoch that was cut short (persistent workers)
            return
        if isinstance(result, _WorkerError):
            result.reraise()
        if isinstance(result, _Exhausted):
            worker = self.worker_of.pop(task_id)
            if worker in self.active:
                self.active.remove(worker)
            self.skipped.add(task_id)
            self._send_task()
            return
        self.waiting[task_id] = result

    def close(self, force: bool = False) -> None:
        """End the epoch: stop the workers unless they persist (and the epoch ended normally)."""
        if self.finished:
            return
        self.finished = True
        if force or not self.loader.persistent_workers:
            self.pool.shutdown()
            if self.loader._worker_pool is self.pool:
                self.loader._worker_pool = None

    def __del__(self) -> None:  # `break` out of the loop: the iterator is released
        self.close()
