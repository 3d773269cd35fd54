"""giagrad's dtype rules: what becomes which numpy array when it enters a tensor.

- Python floats and lists of them become float32 (``DEFAULT_FLOAT``); numpy arrays keep their
  dtype, as PyTorch keeps a numpy array's dtype in ``torch.from_numpy``; an explicit dtype wins.
- A Python number used as an operand beside a floating tensor takes that tensor's dtype, so
  ``x * 2`` and ``x.where(mask, 0)`` stay float32 (:func:`operand_array`). This is the one rule
  for wrapping numbers: operators, ``giagrad.where``/``maximum`` and the functional API use it.
- Operands of different dtypes meet at PyTorch's result type (:func:`result_type`): an integer
  tensor beside a Python float or a float tensor gives float32, not numpy's float64.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["DEFAULT_FLOAT", "is_floating", "as_array", "operand_array", "result_type"]

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


# PyTorch's categories: a higher one always wins, whatever the sizes (int64 with float16 is float16).
_CATEGORY = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}
_SCALAR_DTYPES = (np.dtype(np.bool_), np.dtype(np.int64), DEFAULT_FLOAT, np.dtype(np.complex64))


def _strongest(dtypes: list[np.dtype]) -> np.dtype | None:
    if not dtypes:
        return None
    top = max(_CATEGORY.get(d.kind, 3) for d in dtypes)
    return np.result_type(*[d for d in dtypes if _CATEGORY.get(d.kind, 3) == top])


def result_type(arrays: Sequence[np.ndarray], python_scalar: Sequence[bool]) -> np.dtype:
    """The dtype of an elementwise op's result, by PyTorch's promotion rules.

    Operands fall in three tiers: tensors with dims, 0-d tensors, and Python numbers
    (``python_scalar[i]``). Within a tier the higher category (bool < integer < floating) wins,
    and within a category the wider dtype. A lower tier matters only when it brings a higher
    category: then a 0-d tensor gives its dtype and a Python number the default (float32 for a
    float, int64 for an int). So ``int64 tensor + 0.5`` and ``int64 tensor + float32 tensor``
    are float32, and ``float32 tensor + float64 0-d tensor`` stays float32.

    Examples
    --------
    >>> result_type([np.zeros(2, np.int64), np.asarray(0.5)], [False, True])
    dtype('float32')
    """
    tiers: tuple[list[np.dtype], list[np.dtype], list[np.dtype]] = ([], [], [])
    for array, scalar in zip(arrays, python_scalar, strict=True):
        if scalar:
            tiers[2].append(_SCALAR_DTYPES[_CATEGORY.get(array.dtype.kind, 3)])
        else:
            tiers[0 if array.ndim else 1].append(array.dtype)
    result: np.dtype | None = None
    for tier in tiers:
        candidate = _strongest(tier)
        if candidate is None:
            continue
        if result is None or _CATEGORY.get(candidate.kind, 3) > _CATEGORY.get(result.kind, 3):
            result = candidate
    assert result is not None, "result_type needs at least one operand"
    return result
