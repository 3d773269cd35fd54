"""Switching graph recording on and off: ``no_grad``, ``enable_grad``, ``is_grad_enabled``.

The flag is process-wide (PyTorch keeps it per thread); giagrad runs its work on one thread.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled", "inference_mode"]

F = TypeVar("F", bound=Callable[..., Any])


class _GradState:
    # A tiny mutable holder, so that `tensor.py` reads one attribute per op.
    enabled: bool = True


_state = _GradState()


def is_grad_enabled() -> bool:
    """Return True when operations are being recorded for backward."""
    return _state.enabled


class set_grad_enabled:
    """Context manager and decorator that sets graph recording on or off.

    Examples
    --------
    >>> with giagrad.set_grad_enabled(False):
    ...     y = x * 2          # no graph is recorded
    """

    def __init__(self, mode: bool) -> None:
        self.mode = bool(mode)
        self.previous = _state.enabled

    def __enter__(self) -> None:
        self.previous = _state.enabled
        _state.enabled = self.mode

    def __exit__(self, *exc: object) -> None:
        _state.enabled = self.previous

    def __call__(self, function: F) -> F:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with set_grad_enabled(self.mode):
                return function(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


class no_grad(set_grad_enabled):
    """Record no graph inside: for evaluation, optimizer steps and initialisation.

    Works as a context manager and as a decorator.

    Examples
    --------
    >>> with giagrad.no_grad():
    ...     prediction = model(x)
    >>> @giagrad.no_grad()
    ... def evaluate(model, x): ...
    """

    def __init__(self) -> None:
        super().__init__(False)


class enable_grad(set_grad_enabled):
    """Record the graph inside, even within ``no_grad``."""

    def __init__(self) -> None:
        super().__init__(True)


class inference_mode(set_grad_enabled):
    """PyTorch's ``inference_mode``: here the same as ``no_grad`` (``inference_mode(False)`` records).

    PyTorch's extra speed-ups of inference tensors do not apply: giagrad's no-graph path is
    already the plain numpy computation.

    Examples
    --------
    >>> with giagrad.inference_mode():
    ...     prediction = model(x)
    """

    def __init__(self, mode: bool = True) -> None:
        super().__init__(not mode)
