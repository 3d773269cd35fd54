"""Functions that create tensors: from data, filled with constants, ranges and random numbers.

Floating results are float32 unless ``dtype`` says otherwise. Random ones draw from the one
generator seeded by ``giagrad.manual_seed``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from giagrad import random as _random
from giagrad._validation import shape_arg as _shape_arg
from giagrad.dtypes import DEFAULT_FLOAT
from giagrad.tensor import Tensor

__all__ = [
    "tensor", "zeros", "ones", "full", "empty", "arange", "linspace", "eye", "rand", "randn",
    "randint", "zeros_like", "ones_like", "full_like", "empty_like", "rand_like", "randn_like",
]

Shape = Sequence[int]


def tensor(data: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Make a tensor from data (copied), like ``torch.tensor``.

    Examples
    --------
    >>> giagrad.tensor([[1.0, 2.0]], requires_grad=True)
    tensor([[1., 2.]], requires_grad=True)
    """
    if isinstance(data, Tensor):
        data = data.data
    try:
        array = np.array(data, dtype=np.dtype(dtype) if dtype is not None else None, copy=True)
    except (ValueError, TypeError) as error:  # ragged nested lists, unconvertible objects
        raise ValueError(f"tensor: cannot make a tensor from {type(data).__name__}: {error}") from None
    if array.dtype.kind not in "biuf":
        raise TypeError(f"tensor: unsupported data of dtype {array.dtype} ({type(data).__name__}); "
                        "expected numbers or bools")
    if dtype is None and not isinstance(data, np.ndarray) and array.dtype == np.float64:
        array = array.astype(DEFAULT_FLOAT)
    return Tensor(array, requires_grad=requires_grad)


def _float_dtype(dtype: Any) -> np.dtype:
    return np.dtype(DEFAULT_FLOAT if dtype is None else dtype)


def zeros(*shape: int | Shape, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros: ``zeros(2, 3)`` or ``zeros((2, 3))``."""
    return Tensor(np.zeros(_shape_arg(shape, "zeros"), _float_dtype(dtype)), requires_grad=requires_grad)


def ones(*shape: int | Shape, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones."""
    return Tensor(np.ones(_shape_arg(shape, "ones"), _float_dtype(dtype)), requires_grad=requires_grad)


def empty(*shape: int | Shape, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor whose values are whatever the memory held."""
    return Tensor(np.empty(_shape_arg(shape, "empty"), _float_dtype(dtype)), requires_grad=requires_grad)


def full(shape: Shape | int, fill_value: float, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor filled with ``fill_value`` (float32 for floats, int64 for ints, as PyTorch)."""
    if dtype is None:
        dtype = np.int64 if isinstance(fill_value, (int, np.integer)) and not isinstance(fill_value, bool) \
            else (np.bool_ if isinstance(fill_value, bool) else DEFAULT_FLOAT)
    return Tensor(np.full(_shape_arg((shape,), "full"), fill_value, dtype=np.dtype(dtype)), requires_grad=requires_grad)


def arange(start: float, end: float | None = None, step: float = 1, dtype: Any = None,
           requires_grad: bool = False) -> Tensor:
    """Values from ``start`` to ``end`` (exclusive) by ``step``; int64 when all are integers."""
    if end is None:
        start, end = 0, start
    if step == 0:
        raise ValueError("arange: step must be non-zero")
    if dtype is None:
        integral = all(isinstance(v, (int, np.integer)) for v in (start, end, step))
        dtype = np.int64 if integral else DEFAULT_FLOAT
    return Tensor(np.arange(start, end, step, dtype=np.dtype(dtype)), requires_grad=requires_grad)


def linspace(start: float, end: float, steps: int, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive."""
    if steps < 0:
        raise ValueError(f"linspace: steps must be non-negative, got {steps}")
    return Tensor(np.linspace(start, end, steps, dtype=_float_dtype(dtype)), requires_grad=requires_grad)


def eye(n: int, m: int | None = None, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """The identity matrix (``n`` x ``m``)."""
    return Tensor(np.eye(n, m, dtype=_float_dtype(dtype)), requires_grad=requires_grad)


def rand(*shape: int | Shape, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Uniform random numbers in [0, 1)."""
    dtype = _float_dtype(dtype)
    values = _random.generator().random(_shape_arg(shape, "rand"), dtype=np.float64).astype(dtype, copy=False)
    return Tensor(values, requires_grad=requires_grad)


def randn(*shape: int | Shape, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Standard normal random numbers."""
    dtype = _float_dtype(dtype)
    values = _random.generator().standard_normal(_shape_arg(shape, "randn")).astype(dtype, copy=False)
    return Tensor(values, requires_grad=requires_grad)


def randint(low: int, high: int | None = None, size: Shape = (), dtype: Any = np.int64) -> Tensor:
    """Random integers in ``[low, high)`` (``randint(high, size=...)`` starts at 0)."""
    if high is None:
        low, high = 0, low
    if high <= low:
        raise ValueError(f"randint: high ({high}) must be greater than low ({low})")
    return Tensor(_random.generator().integers(low, high, size=_shape_arg((size,), "randint"), dtype=np.dtype(dtype)))


def _like(maker: Any, other: Tensor, dtype: Any, requires_grad: bool, *args: Any) -> Tensor:
    dtype = other.dtype if dtype is None else dtype
    return maker(other.shape, *args, dtype=dtype, requires_grad=requires_grad)


def zeros_like(other: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return _like(zeros, other, dtype, requires_grad)


def ones_like(other: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return _like(ones, other, dtype, requires_grad)


def empty_like(other: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return _like(empty, other, dtype, requires_grad)


def full_like(other: Tensor, fill_value: float, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    dtype = other.dtype if dtype is None else dtype
    return full(other.shape, fill_value, dtype=dtype, requires_grad=requires_grad)


def rand_like(other: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return _like(rand, other, dtype, requires_grad)


def randn_like(other: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return _like(randn, other, dtype, requires_grad)
