"""Storage versions: how backward knows that what a node saved was changed in place since.

A global clock ticks at every in-place change of a tensor (``x += 1``, ``x[i] = v``, an optimizer
step). Each storage has a ``VersionCounter``, shared by every tensor viewing it, that remembers
the tick of its last change. A node remembers the tick at which it was recorded; when nothing
changed in place since (the usual case), backward needs one integer comparison per node, and
:func:`check_unchanged` looks at the node's inputs and output only otherwise.

This module sits below the engine (giagrad/autograd.py): it knows tensors by what they hold
(``.data``, ``._ctx``, ``._version_counter``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["VersionCounter", "clock", "counter_of", "mark_modified", "share_storage", "check_unchanged"]

clock = 0  # the number of in-place changes so far, of any tensor


class VersionCounter:
    """When a storage last changed in place: one per storage, shared by every tensor viewing it.

    A view (``reshape``, slicing, ``transpose``, ``expand``, ``detach``, ...) shares its base's
    counter, as in PyTorch, so changing any of them in place is seen by every node that saved one
    of them. Created lazily: a tensor that is never viewed nor changed in place has none.

    Examples
    --------
    >>> x = giagrad.zeros(3)
    >>> x += 1
    >>> x._version
    1
    """

    __slots__ = ("modified_at", "version", "has_views")

    def __init__(self) -> None:
        self.modified_at = 0  # the clock's tick at the last in-place change
        self.version = 0  # how many in-place changes (PyTorch's ``Tensor._version``)
        self.has_views = False  # whether a view op shares this storage (detach does not count)


def counter_of(tensor: Any) -> VersionCounter:
    """``tensor``'s version counter, created on first use (a view, detach or in-place change).

    The node that made the tensor gets it too: one that saved its own output (exp, tanh,
    softmax, ...) must see that output changed in place. Handing it over here, rather than when
    the node is recorded, keeps recording free of this work.
    """
    counter = tensor._version_counter
    if counter is None:
        counter = tensor._version_counter = VersionCounter()
        if tensor._ctx is not None:
            tensor._ctx.output_counter = counter
    return counter


def mark_modified(tensor: Any) -> None:
    """Record that ``tensor.data`` changed in place: the clock ticks, its storage's counter follows."""
    global clock
    clock += 1
    counter = counter_of(tensor)
    counter.modified_at = clock
    counter.version += 1


def share_storage(result: Any, inputs: tuple[Any, ...]) -> None:
    """Give ``result`` the version counter of the input whose storage its array views.

    numpy points a view's ``base`` at the array owning the memory, so comparing bases finds the
    input viewed by reshape, slicing, transpose, expand and the like (user Functions too).
    """
    base = result.data.base
    for x in inputs:
        data = x.data
        if base is data or (base is data.base and base is not None):
            counter = counter_of(x)
            counter.has_views = True
            result._version_counter = counter
            if result._ctx is not None:
                result._ctx.output_counter = counter
            return


def check_unchanged(fn: Any, output: np.ndarray) -> None:
    """Raise if an input of node ``fn``, or its ``output`` when ``fn`` saved it, changed in place
    since ``fn`` was recorded: its gradient would be wrong."""
    name = type(fn).__name__
    for parent in fn.parents:
        counter = parent._version_counter
        if counter is not None and counter.modified_at > fn.recorded_at:
            raise RuntimeError(
                f"backward: an input of {name} (shape {parent.data.shape}, dtype {parent.data.dtype}) "
                "was modified in place (directly or through a view) after it was used; its gradient "
                "would be wrong. Use an out-of-place operation instead (or clone() before changing it)"
            )
    counter = fn.output_counter
    if counter is not None and counter.modified_at > fn.recorded_at and any(v is output for v in fn.saved_tensors):
        raise RuntimeError(
            f"backward: the output of {name}, which its backward needs, was modified in place (directly "
            "or through a view) after it was computed; its gradient would be wrong. Use an out-of-place "
            "operation instead (or clone() the output before changing it)"
        )
