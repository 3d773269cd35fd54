"""giagrad's dtype rules: what becomes which numpy array when it enters a tensor.

- Python floats and lists of them become float32 (``DEFAULT_FLOAT``); numpy arrays keep their
  dtype, as PyTorch keeps a numpy array's dtype in ``torch.from_numpy``; an explicit dtype wins.
- A Python number used as an operand beside a floating tensor takes that tensor's dtype, so
  ``x * 2`` and ``x.where(mask, 0)`` stay float32 (:func:`operand_array`). This is the one rule
  for wrapping numbers: operators, ``giagrad.where``/``maximum`` and the functional API use it.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

__all__ = ["DEFAULT_FLOAT", "is_floating", "as_array", "operand_array"]

DEFAULT_FLOAT = np.dtype(np.float32)


def is_floating(dtype: np.dtype) -> bool:
    """Whether ``dtype`` is a floating point dtype (the only ones that can require grad)."""
    return dtype.kind == "f"


def as_array(data: Any, dtype: Any = None) -> np.ndarray:
    """Turn tensor input into a numpy array with giagrad's dtype rules.

    ``data`` is a numpy array or scalar, a Python number or a (nested) list.

    Examples
    --------
    >>> as_array([1.0, 2.0]).dtype
    dtype('float32')
    """
    if dtype is not None:
        return np.asarray(data, dtype=np.dtype(dtype))
    if isinstance(data, np.ndarray):
        return data
    if isinstance(data, np.generic):
        return np.asarray(data)
    try:
        array = np.asarray(data)
    except ValueError as error:  # ragged nested lists
        raise ValueError(f"tensor: cannot make a tensor from {type(data).__name__}: {error}") from None
    if array.dtype == np.float64:
        return array.astype(DEFAULT_FLOAT)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"tensor: unsupported data of dtype {array.dtype} ({type(data).__name__})")
    return array


def operand_array(value: Any, reference_dtype: np.dtype | None) -> np.ndarray:
    """A non-tensor operand as an array: a Python number follows ``reference_dtype``.

    ``reference_dtype`` is the dtype of the floating tensor beside the number (None if there is
    none). Numpy arrays and lists follow :func:`as_array`. Raises TypeError for what cannot be an
    operand (None, strings, dicts, ...); the caller adds the op's name.

    Examples
    --------
    >>> operand_array(2, np.dtype(np.float64)).dtype
    dtype('float64')
    """
    if isinstance(value, (bool, numbers.Number)) and not isinstance(value, np.ndarray):
        if reference_dtype is not None and is_floating(reference_dtype) and not isinstance(value, complex):
            return np.asarray(value, dtype=reference_dtype)
        if isinstance(value, float):
            return np.asarray(value, dtype=DEFAULT_FLOAT)
    if value is None or isinstance(value, (str, bytes, dict, set)):
        raise TypeError(f"unsupported operand of type {type(value).__name__}")
    try:
        return as_array(value)
    except (TypeError, ValueError) as error:
        raise TypeError(f"unsupported operand: {error}") from None
