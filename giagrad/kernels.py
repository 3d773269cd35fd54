"""Elementwise kernels over row blocks: cache-sized pieces, on several threads when it pays.

numpy runs each ufunc as one pass over the whole array. An op written as ten in-place ufuncs
over an activation of a few megabytes therefore streams it through memory ten times, on one
core. :func:`for_row_blocks` runs such a multi-pass kernel over blocks of rows small enough to
stay in the CPU's cache between passes (about :data:`BLOCK_ELEMENTS` elements each), and, for
large arrays, shares the blocks among a few threads: numpy releases the GIL inside its loops, so
blocks run on another core while this thread runs others. Each thread takes the next block not
yet taken, so a worker that a busy machine schedules late only does less (this thread never
waits for one that has not started).

A kernel is a function of a ``slice`` of rows that reads its inputs and writes its outputs
through that slice (every array it touches has the same rows); blocks never overlap, so the
threads never write the same element and the result does not depend on the thread count.

Threads: :func:`set_num_threads` (also ``giagrad.set_num_threads``, as ``torch.set_num_threads``)
sets how many run a kernel. Unlike PyTorch, the default is one (or ``GIAGRAD_NUM_THREADS``):
numpy's OpenBLAS keeps its threads spinning on the other cores for a while after each matrix
product, and a kernel thread then competes with them. Measured on a 2-core machine with the char
GPT's training iteration (``benchmarks/bench_gpt.py``): with OpenBLAS at 2 threads, a second
kernel thread made no gain (77-79 ms with one, 80-82 ms with two); with ``OPENBLAS_NUM_THREADS=1``
it saved 6-8% (95-96 ms with one, 88-91 ms with two). When OpenBLAS's threads sleep right after
each product (``OPENBLAS_THREAD_TIMEOUT=4``, read when numpy loads), two kernel threads make the
CNN recipe's step 10% faster (40.7 ms instead of 45.4), leave the GPT as it was and slow an
LSTM, whose many small products then wake the sleeping threads every time, by 14%: a choice per
model, left to the user. Even with no matrix product a second thread can lose: numpy takes and
releases Python's lock around every call, and two threads making short calls hand it back and
forth (the GELU of a 768 x 512 array: 2.35 ms on one thread, 2.68 on two, while two processes
running it side by side each keep their speed; ``benchmarks/bench_kernel_threads.py``). The
worker threads start on first use, and a forked child (a ``DataLoader`` worker) starts its own
if it ever needs them.

Examples
--------
>>> x = np.random.rand(1000, 512).astype(np.float32)
>>> out = np.empty_like(x)
>>> def square_plus_one(rows):
...     np.multiply(x[rows], x[rows], out=out[rows])
...     out[rows] += 1
>>> for_row_blocks(square_plus_one, x.shape[0], x.shape[1])
"""

from __future__ import annotations

import itertools
import os
import threading
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

__all__ = ["BLOCK_ELEMENTS", "CHANNEL_BLOCK_ELEMENTS", "PARALLEL_MIN_ELEMENTS", "as_rows", "for_channel_blocks",
           "for_row_blocks", "get_num_threads", "set_num_threads"]

# 32K elements is 128 KB of float32 per array: a kernel's four or five live arrays stay within
# the L2 cache of current CPUs (256 KB to a few MB), while each ufunc call still has enough
# work (about 10 microseconds) that Python's per-call cost stays a small share.
BLOCK_ELEMENTS = 1 << 15
# Below this many elements an op takes well under a millisecond: handing half of it to another
# thread (tens of microseconds of wake-up and GIL hand-over) would not pay.
PARALLEL_MIN_ELEMENTS = 1 << 17


def _default_num_threads() -> int:
    """``GIAGRAD_NUM_THREADS`` when it is a positive int, else 1 (see the module's docstring)."""
    value = os.environ.get("GIAGRAD_NUM_THREADS", "").strip()
    if value.isdigit() and int(value) > 0:
        return int(value)
    if value:
        warnings.warn(f"GIAGRAD_NUM_THREADS={value!r} is not a positive int: using 1 thread", stacklevel=2)
    return 1


_num_threads = _default_num_threads()
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
_in_worker = threading.local()  # a kernel run by a worker thread never waits on the pool itself


def set_num_threads(count: int) -> None:
    """Use ``count`` threads (``>= 1``) for giagrad's blocked elementwise kernels.

    As ``torch.set_num_threads``, except that numpy's BLAS (matrix products) keeps its own
    setting: set ``OPENBLAS_NUM_THREADS`` (or ``OMP_NUM_THREADS``) before starting Python for that.

    Examples
    --------
    >>> previous = giagrad.get_num_threads()
    >>> giagrad.set_num_threads(1)  # every kernel on the calling thread
    >>> giagrad.set_num_threads(previous)
    """
    global _pool, _num_threads
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"set_num_threads: expected a positive int, got {count!r}")
    with _pool_lock:
        if _pool is not None and count != _num_threads:
            _pool.shutdown(wait=False)
            _pool = None
        _num_threads = count


def get_num_threads() -> int:
    """How many threads giagrad's blocked elementwise kernels use (see :func:`set_num_threads`)."""
    return _num_threads


def _forget_pool_after_fork() -> None:
    # A forked child has no copy of its parent's threads: it starts a pool of its own when needed.
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_after_fork)


def _worker_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=_num_threads - 1, thread_name_prefix="giagrad-kernel")
        return _pool


def _run_blocks(kernel: Callable[[slice], None], start: int, stop: int, block_rows: int) -> None:
    for first in range(start, stop, block_rows):
        kernel(slice(first, min(first + block_rows, stop)))


def _take_blocks(kernel: Callable[[slice], None], blocks: list[slice], next_index: Iterator[int]) -> None:
    """Run the blocks not yet taken, one at a time, until none is left."""
    for index in next_index:  # itertools.count: each index goes to exactly one thread (atomic under the GIL)
        if index >= len(blocks):
            return
        kernel(blocks[index])


def _take_blocks_in_worker(kernel: Callable[[slice], None], blocks: list[slice], next_index: Iterator[int]) -> None:
    _in_worker.active = True
    try:
        _take_blocks(kernel, blocks, next_index)
    finally:
        _in_worker.active = False


def for_row_blocks(kernel: Callable[[slice], None], rows: int, row_elements: int,
                   block_elements: int = BLOCK_ELEMENTS) -> None:
    """Call ``kernel(slice)`` over blocks of ``range(rows)`` that together cover every row once.

    Parameters
    ----------
    kernel : callable
        Takes a ``slice`` of rows; computes them in every array it reads and writes. Blocks do
        not overlap and may run at the same time on different threads.
    rows : int
        The number of rows (the leading dimension of the arrays, or their size as one row each).
    row_elements : int
        Elements per row: each block holds about ``block_elements`` elements, and arrays of at
        least :data:`PARALLEL_MIN_ELEMENTS` elements are split between the threads.
    block_elements : int
        The size of a block (default :data:`BLOCK_ELEMENTS`); a kernel whose passes are few or
        already cache-friendly (matrix products) takes larger blocks, fewer Python calls.

    Examples
    --------
    >>> total = np.zeros(8)
    >>> def fill(rows):
    ...     total[rows] = 1
    >>> for_row_blocks(fill, 8, 1)
    >>> float(total.sum())
    8.0
    """
    block_rows = max(1, block_elements // max(row_elements, 1))
    threads = _num_threads
    if threads == 1 or rows * row_elements < PARALLEL_MIN_ELEMENTS or getattr(_in_worker, "active", False):
        _run_blocks(kernel, 0, rows, block_rows)
        return
    # Blocks small enough that the threads share them evenly; each thread takes the next block
    # not yet taken. On a busy machine a worker may start late or not at all: this thread then
    # runs the blocks itself and never waits for a worker that has not begun.
    block_rows = min(block_rows, -(-rows // threads))
    blocks = [slice(first, min(first + block_rows, rows)) for first in range(0, rows, block_rows)]
    next_index = itertools.count()
    pool = _worker_pool()
    futures: list[Future] = [pool.submit(_take_blocks_in_worker, kernel, blocks, next_index)
                             for _ in range(min(threads, len(blocks)) - 1)]
    try:
        _take_blocks(kernel, blocks, next_index)
    finally:
        for future in futures:
            if not future.cancel():  # started: it may be running a block; results must be complete
                future.result()  # re-raises a worker's exception here


# Channel blocks: large enough that the Python around a pooling scan or a batch-norm pass (a few
# calls per block) stays a small share; their work per element is already one or two passes.
CHANNEL_BLOCK_ELEMENTS = 1 << 18


def for_channel_blocks(work: Callable[[slice], None], channels: int, elements: int) -> None:
    """Call ``work(slice)`` over blocks of ``range(channels)``, on several threads for a large step.

    For the layers that work channel by channel (convolution's copies, pooling, batch norm):
    ``elements`` is the size of the whole step. After a convolution each channel is one contiguous
    block of memory (``giagrad.convops``), so a slice of channels is a contiguous piece of every
    array. Blocks hold about :data:`CHANNEL_BLOCK_ELEMENTS` elements (see :func:`for_row_blocks`).

    Examples
    --------
    >>> seen = []
    >>> for_channel_blocks(seen.append, 4, 16)
    >>> seen
    [slice(0, 4, None)]
    """
    for_row_blocks(work, channels, -(-elements // max(channels, 1)), block_elements=CHANNEL_BLOCK_ELEMENTS)


def as_rows(x: np.ndarray) -> np.ndarray:
    """``x`` as a 2-D array of rows along its last dim (a view when it can be; 0-d and empty give one column).

    Examples
    --------
    >>> as_rows(np.zeros((2, 3, 4))).shape
    (6, 4)
    """
    if x.ndim and x.shape[-1]:
        return x.reshape(x.size // x.shape[-1], x.shape[-1])
    return x.reshape(-1, 1)
