"""Anomaly mode: ``detect_anomaly()`` makes a backward that produces NaN raise, naming the op.

Off by default. The engine (``giagrad.autograd``) reads ``enabled`` once per recorded op and once
per backward; while it is on, each node keeps a short traceback of where its forward was called
from, and backward checks every gradient an op returns. Reached as ``giagrad.autograd.detect_anomaly``,
as in PyTorch.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

__all__ = ["detect_anomaly", "is_anomaly_enabled", "set_detect_anomaly"]

enabled = False


def set_detect_anomaly(mode: bool) -> None:
    """Turn anomaly detection on or off (see :func:`detect_anomaly`)."""
    global enabled
    enabled = bool(mode)


def is_anomaly_enabled() -> bool:
    """Whether anomaly detection is on."""
    return enabled


@contextmanager
def detect_anomaly() -> Iterator[None]:
    """A context in which a backward that produces NaN raises, naming the op and its forward's caller.

    Inside it, every recorded op keeps a short traceback of where its forward was called from,
    and backward checks each gradient an op returns: the first NaN raises a RuntimeError naming
    the op's Function (``Sqrt``) and that traceback. Slower; for debugging only (outside it the
    engine reads one flag per op).

    Examples
    --------
    >>> x = giagrad.tensor([-1.0, 4.0], requires_grad=True)
    >>> with giagrad.autograd.detect_anomaly(), np.errstate(invalid="ignore"):
    ...     x.sqrt().sum().backward()
    Traceback (most recent call last):
    RuntimeError: backward: Sqrt returned nan values in its gradient for input 0...
    """
    previous = enabled
    set_detect_anomaly(True)
    try:
        yield
    finally:
        set_detect_anomaly(previous)


def caller_stack() -> str:
    """The user's frames that led to the op being recorded (the engine's own two are dropped)."""
    frames = traceback.extract_stack()[:-2]
    return "".join(traceback.format_list(frames[-6:]))


def check_for_nan(fn: Any, grads: tuple[Any, ...]) -> None:
    """Raise when a gradient that ``fn.backward`` returned holds NaN, naming ``fn`` and its caller."""
    for position, grad in enumerate(grads):
        if grad is not None and np.isnan(np.asarray(grad)).any():
            where = fn.forward_stack or "  (not recorded: the op ran before anomaly detection was turned on)\n"
            raise RuntimeError(f"backward: {type(fn).__name__} returned nan values in its gradient for input "
                               f"{position}. Its forward was called from:\n{where}")
