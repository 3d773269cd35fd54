"""Spread a whole-array numpy step over the cores: one slice of channels per thread.

numpy's matrix products already run on every core (BLAS threads); its elementwise operations
and reductions run on one. They do release the GIL while they loop, so the same step applied
to disjoint slices of the channels from two Python threads runs on two cores. The layers that
use this (pooling, batch norm, ``col2im``) work on arrays whose channels are their outermost
dim in memory (see ``giagrad.convops``), so each thread's slice is one contiguous block.

``GIAGRAD_NUM_THREADS`` sets the number of threads (else ``OMP_NUM_THREADS``, as most numeric
libraries read it; else the usable cores, at most 4); ``1`` turns the splitting off, e.g. for
several processes sharing the cores (``mpiexec``).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

# Below this many elements touched, handing work to a thread costs more than it saves.
MIN_ELEMENTS = 1 << 17


def _thread_count() -> int:
    for variable in ("GIAGRAD_NUM_THREADS", "OMP_NUM_THREADS"):
        setting = os.environ.get(variable, "").strip()
        if setting.isdigit() and int(setting) > 0:
            return int(setting)
        if setting:
            warnings.warn(f"{variable} must be a positive integer, got {setting!r}; ignored", RuntimeWarning,
                          stacklevel=2)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return min(cores, 4)


THREADS = _thread_count()
_pool: ThreadPoolExecutor | None = None


def _forget_pool() -> None:
    # A forked child (a data-loading worker) has none of the parent's threads: it starts its own
    # pool on first use instead of queueing work for threads that do not exist.
    global _pool
    _pool = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def over_channels(work: Callable[[slice], object], channels: int, elements: int) -> None:
    """Call ``work(slice)`` on slices that cover ``range(channels)``, concurrently when worth it.

    ``elements`` is the size of the step (the elements it reads or writes): small steps run as
    one call ``work(slice(None))`` on the calling thread. ``work`` must only write its slice.
    """
    parts = min(THREADS, channels)
    if parts < 2 or elements < MIN_ELEMENTS:
        work(slice(None))
        return
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(THREADS - 1, thread_name_prefix="giagrad")
    bounds = [channels * part // parts for part in range(parts + 1)]
    slices = [slice(start, stop) for start, stop in zip(bounds[:-1], bounds[1:], strict=True)]
    futures = [_pool.submit(work, part) for part in slices[1:]]
    try:
        work(slices[0])  # the calling thread takes the first share
    finally:
        for future in futures:
            future.result()  # re-raises a worker's exception
