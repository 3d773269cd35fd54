"""Argument checks shared by the Tensor API, ``nn``, ``nn.functional`` and ``optim``.

Each raises a clear exception naming the op (or layer, or optimizer) and the bad value at the
API boundary, so that the ``Function`` classes underneath can trust their inputs. Internal to
giagrad (no promise of stability to users), but every package uses these rather than its own.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

import numpy as np

from giagrad.autograd import is_tensor
from giagrad.dtypes import DEFAULT_FLOAT


def require_tensor(layer: str, value: Any, name: str = "input") -> None:
    """A layer's input must be a Tensor: a list or an array gets a clear error naming the layer."""
    if not is_tensor(value):
        hint = "; convert it with giagrad.tensor(...)" if isinstance(value, (list, tuple, np.ndarray)) else ""
        raise TypeError(f"{layer}: {name} must be a Tensor, got {type(value).__name__}{hint}")


def check_dim(op: str, dim: Any, ndim: int) -> int:
    """``dim`` as a non-negative axis of a tensor with ``ndim`` dims (a 0-d tensor has dim 0 and -1)."""
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool):
        raise TypeError(f"{op}: dim must be an integer, got {dim!r}")
    size = max(ndim, 1)
    if not -size <= dim < size:
        raise IndexError(f"{op}: dim {dim} is out of range for a tensor with {ndim} dims")
    return int(dim) % size


def check_dims(op: str, dim: int | Sequence[int] | None, ndim: int) -> tuple[int, ...] | None:
    """Normalise a ``dim`` argument to a tuple of non-negative axes (None: all)."""
    if dim is None:
        return None
    if isinstance(dim, (int, np.integer)):  # the common case, without building sets and tuples
        axis = check_dim(op, dim, ndim)
        return (axis,) if ndim else None
    axes = tuple([check_dim(op, d, ndim) for d in dim])
    if len(set(axes)) != len(axes):
        raise ValueError(f"{op}: dim {dim} repeats a dimension")
    if ndim == 0:
        return None
    return axes


def shape_arg(shape: tuple[Any, ...], op: str = "size") -> tuple[int, ...]:
    """Accept both ``f(2, 3)`` and ``f((2, 3))``; sizes must be integers (``2.7`` raises, as in PyTorch)."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    sizes = []
    for size in shape:
        try:  # ints, numpy ints and one-element integer tensors have __index__; floats do not
            if isinstance(size, bool):
                raise TypeError
            sizes.append(operator.index(size))
        except TypeError:
            raise TypeError(f"{op}: sizes must be integers, got {size!r} of type {type(size).__name__} "
                            f"in {shape}") from None
    return tuple(sizes)


def check_floating(op: str, x: Any, name: str = "input") -> None:
    """Raise TypeError unless tensor ``x`` has a floating dtype."""
    if x.data.dtype.kind != "f":
        raise TypeError(f"{op}: {name} must be a floating point tensor, got dtype {x.data.dtype} "
                        f"(shape {x.data.shape})")


def int_tuple(op: str, name: str, value: Any, length: int, minimum: int) -> tuple[int, ...]:
    """An int or a sequence of ``length`` ints as a tuple, each at least ``minimum``."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        values = (int(value),) * length
    elif isinstance(value, (tuple, list)) and len(value) == length and all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value):
        values = tuple(int(v) for v in value)
    else:
        raise TypeError(f"{op}: {name} must be an int or a tuple of {length} ints, got {value!r}")
    if min(values) < minimum:
        raise ValueError(f"{op}: {name} must be at least {minimum}, got {value!r}")
    return values


def positive_int(op: str, name: str, value: Any) -> int:
    """A layer's size argument (channels, features, groups) as an int; bools are not sizes."""
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{op}: {name} must be a positive integer, got {value!r}")
    return int(value)


def float_dtype(op: str, dtype: Any) -> np.dtype:
    """The dtype of a layer's parameters: float32 by default, and floating."""
    dtype = np.dtype(DEFAULT_FLOAT if dtype is None else dtype)
    if dtype.kind != "f":
        raise TypeError(f"{op}: dtype must be a floating dtype, got {dtype}")
    return dtype


def check_probability(op: str, p: Any) -> float:
    """A probability argument (dropout's ``p``) as a float in [0, 1]."""
    if isinstance(p, bool) or not isinstance(p, (int, float, np.floating, np.integer)):
        raise TypeError(f"{op}: p must be a number, got {p!r}")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{op}: dropout probability has to be between 0 and 1, but got {p}")
    return float(p)


def check_non_negative(op: str, name: str, value: float) -> None:
    """Raise ValueError unless ``value >= 0`` (NaN fails too)."""
    if not value >= 0:
        raise ValueError(f"{op}: invalid {name} {value!r}, expected a number >= 0")


def check_betas(op: str, betas: tuple[float, float]) -> None:
    """Raise ValueError unless ``betas`` is a pair of numbers in ``[0, 1)``."""
    if len(betas) != 2:
        raise ValueError(f"{op}: betas must be a pair, got {betas!r}")
    for index, beta in enumerate(betas):
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"{op}: invalid beta{index + 1} {beta!r}, expected a number in [0, 1)")
