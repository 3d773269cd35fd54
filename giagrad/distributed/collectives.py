"""Collectives: ``all_reduce``, ``broadcast``, ``all_gather`` and ``barrier``, in place as PyTorch's.

Each accepts giagrad Tensors and numpy arrays and changes them in place (a Tensor's ``.data``),
so that the same buffer can be reused step after step. Each is one buffer-based mpi4py call
(the upper-case ``Iallreduce``, ``Ibcast``, ``Iallgather``, ``Ibarrier``: the array's memory
goes to MPI as is, with no pickling). A non-contiguous array is copied to a contiguous one and back.

Why the non-blocking calls, waited for here: MPI's blocking calls poll in a busy loop while they
wait for the other ranks. When the ranks share their cores with other work (or run more ranks
than cores), the waiting rank burns the CPU time that the rank it waits for needs: on a busy
2-core machine, 2-rank training steps of the benchmark's MLP took 33-57 ms with blocking
``Allreduce`` and 6-10 ms with ``Iallreduce`` waited for by :func:`_wait` (which polls a little,
then sleeps between polls). On an idle machine the short poll finds the result as fast.

Every rank must call the same collectives in the same order with arrays of the same shape and
dtype, as with any MPI program; a rank that skips one leaves the others waiting.
"""

from __future__ import annotations

import enum
import time
from typing import Any

import numpy as np

from giagrad.distributed.process_group import _default_group
from giagrad.tensor import Tensor

__all__ = ["ReduceOp", "Work", "all_reduce", "broadcast", "all_gather", "barrier"]

# The dtypes MPI reduces natively; float16 and bool have no portable MPI reduction.
_SUPPORTED_DTYPES = frozenset(np.dtype(name) for name in (
    "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"))


class ReduceOp(enum.Enum):
    """How ``all_reduce`` combines the ranks' values, element by element.

    ``AVG`` is the sum divided by the world size (floating dtypes only).
    """

    SUM = "sum"
    AVG = "avg"
    PRODUCT = "product"
    MAX = "max"
    MIN = "min"


# How many times _wait tests a request before it starts sleeping, and its longest sleep.
_POLLS_BEFORE_SLEEPING = 100
_LONGEST_SLEEP_SECONDS = 5e-4


def _wait(request: Any) -> None:
    """Wait for an MPI request without keeping a core busy: poll, then sleep between polls.

    The sleep starts at 10 microseconds and doubles up to half a millisecond, so a short wait
    costs little latency and a long one (a rank still computing, or descheduled) little CPU.
    """
    for _ in range(_POLLS_BEFORE_SLEEPING):
        if request.Test():
            return
    pause = 1e-5
    while not request.Test():
        time.sleep(pause)
        pause = min(2 * pause, _LONGEST_SLEEP_SECONDS)


class Work:
    """A collective under way, as returned with ``async_op=True``: ``wait()`` completes it.

    Until ``wait()`` returns, the array is MPI's: neither read nor change it. As PyTorch's
    ``Work``; ``wait`` returns True.
    """

    __slots__ = ("_request", "_finish")

    def __init__(self, request: Any, finish: Any) -> None:
        self._request = request
        self._finish = finish

    def wait(self) -> bool:
        if self._request is not None:
            _wait(self._request)
            self._request = None
            self._finish()
        return True


def _array_of(tensor: Any, caller: str) -> np.ndarray:
    """The numpy array behind ``tensor`` (a Tensor or an ndarray), checked for in-place use."""
    array = tensor.data if isinstance(tensor, Tensor) else tensor
    if not isinstance(array, np.ndarray):
        raise TypeError(f"{caller}: expected a giagrad Tensor or a numpy array, got {type(tensor).__name__}")
    if array.dtype not in _SUPPORTED_DTYPES:
        raise TypeError(f"{caller}: dtype {array.dtype} is not supported; use float32, float64 or an integer dtype")
    if not array.flags.writeable:
        raise ValueError(f"{caller}: the array is read-only, but collectives work in place")
    return array


def _contiguous(array: np.ndarray) -> np.ndarray:
    return array if array.flags.c_contiguous else np.ascontiguousarray(array)


def _write_back(tensor: Any, array: np.ndarray, result: np.ndarray) -> None:
    """Put ``result`` into ``array`` if it is a copy, and tell autograd the tensor changed."""
    if result is not array:
        np.copyto(array, result)
    if isinstance(tensor, Tensor):
        tensor._mark_modified()


def all_reduce(tensor: Tensor | np.ndarray, op: ReduceOp = ReduceOp.SUM, async_op: bool = False) -> Work | None:
    """Combine ``tensor`` across all ranks with ``op``; every rank ends with the result, in place.

    Parameters
    ----------
    tensor : Tensor or numpy.ndarray
        The same shape and dtype on every rank.
    op : ReduceOp
        SUM (default), AVG, PRODUCT, MAX or MIN.
    async_op : bool
        Return at once a :class:`Work` whose ``wait()`` completes the reduction (the result is in
        ``tensor`` only then), instead of returning None when done. Several may be under way;
        every rank must start them in the same order.

    Examples
    --------
    >>> grad = np.array([1.0, 2.0], dtype=np.float32)     # on rank r: (r + 1) * [1, 2]
    >>> dist.all_reduce(grad, op=dist.ReduceOp.AVG)        # doctest: +SKIP
    >>> grad                                               # with 2 ranks          # doctest: +SKIP
    array([1.5, 3. ], dtype=float32)
    """
    group = _default_group("all_reduce")
    if not isinstance(op, ReduceOp):
        raise TypeError(f"all_reduce: op should be a giagrad.distributed.ReduceOp, got {op!r}")
    array = _array_of(tensor, "all_reduce")
    if op is ReduceOp.AVG and array.dtype.kind != "f":
        raise TypeError(f"all_reduce: ReduceOp.AVG needs a floating dtype, got {array.dtype}")
    mpi = group.mpi
    mpi_op = {ReduceOp.SUM: mpi.SUM, ReduceOp.AVG: mpi.SUM, ReduceOp.PRODUCT: mpi.PROD,
              ReduceOp.MAX: mpi.MAX, ReduceOp.MIN: mpi.MIN}[op]
    work = _contiguous(array)
    request = group.comm.Iallreduce(mpi.IN_PLACE, work, op=mpi_op)

    def finish() -> None:
        if op is ReduceOp.AVG and group.size > 1:
            np.multiply(work, work.dtype.type(1.0 / group.size), out=work)  # exact for power-of-two world sizes
        _write_back(tensor, array, work)

    if async_op:
        return Work(request, finish)
    _wait(request)
    finish()
    return None


def broadcast(tensor: Tensor | np.ndarray, src: int = 0) -> None:
    """Copy rank ``src``'s ``tensor`` into the ``tensor`` of every other rank, in place.

    Examples
    --------
    >>> weights = np.random.default_rng(dist.get_rank()).standard_normal(3)   # doctest: +SKIP
    >>> dist.broadcast(weights, src=0)      # now rank 0's values everywhere   # doctest: +SKIP
    """
    group = _default_group("broadcast")
    _check_rank(src, group.size, "broadcast", "src")
    array = _array_of(tensor, "broadcast")
    work = _contiguous(array)
    _wait(group.comm.Ibcast(work, root=src))
    _write_back(tensor, array, work)


def all_gather(tensor_list: list[Tensor | np.ndarray], tensor: Tensor | np.ndarray) -> None:
    """Fill ``tensor_list[r]`` with rank ``r``'s ``tensor``, on every rank.

    Parameters
    ----------
    tensor_list : list of Tensor or numpy.ndarray
        ``get_world_size()`` tensors of ``tensor``'s shape and dtype, written in place.
    tensor : Tensor or numpy.ndarray
        This rank's contribution.

    Examples
    --------
    >>> pieces = [np.zeros(2, np.float32) for _ in range(dist.get_world_size())]  # doctest: +SKIP
    >>> dist.all_gather(pieces, np.full(2, dist.get_rank(), np.float32))          # doctest: +SKIP
    """
    group = _default_group("all_gather")
    source = _array_of(tensor, "all_gather")
    if not isinstance(tensor_list, (list, tuple)) or len(tensor_list) != group.size:
        length = len(tensor_list) if isinstance(tensor_list, (list, tuple)) else type(tensor_list).__name__
        raise ValueError(f"all_gather: tensor_list should be a list of {group.size} tensors (the world size), "
                         f"got {length}")
    destinations = [_array_of(item, "all_gather") for item in tensor_list]
    for index, destination in enumerate(destinations):
        if destination.shape != source.shape or destination.dtype != source.dtype:
            raise ValueError(f"all_gather: tensor_list[{index}] has shape {destination.shape} and dtype "
                             f"{destination.dtype}, expected {source.shape} and {source.dtype} like tensor")
    gathered = np.empty((group.size, *source.shape), dtype=source.dtype)
    _wait(group.comm.Iallgather(_contiguous(source), gathered))
    for item, destination, piece in zip(tensor_list, destinations, gathered, strict=True):
        _write_back(item, destination, piece)


def barrier() -> None:
    """Wait until every rank has called ``barrier``."""
    _wait(_default_group("barrier").comm.Ibarrier())


def _check_rank(value: Any, size: int, caller: str, name: str) -> None:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or not 0 <= value < size:
        raise ValueError(f"{caller}: {name} should be a rank from 0 to {size - 1}, got {value!r}")
