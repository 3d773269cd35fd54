"""What enters an op: wrapping operands that are not tensors, dtype promotion, naming errors.

``Tensor.comm`` (giagrad/autograd.py) calls these before an op's ``forward`` runs, and only when
there is something to do: most ops of a model get tensors of one floating dtype and skip them.
This module sits below the engine, so it knows tensors by what they hold (``.data``,
``.requires_grad``) and makes new ones with the class the engine hands it (``giagrad.Tensor``).
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from giagrad.dtypes import DEFAULT_FLOAT, is_floating, operand_array, result_type

__all__ = ["op_name", "wrap_operands", "promote", "named_error"]


def op_name(function: Any) -> str:
    """The name of an op applied as a ``Function`` class or instance (``"Mul"``)."""
    return function.__name__ if isinstance(function, type) else type(function).__name__


def wrap_operands(function: Any, inputs: tuple[Any, ...],
                  tensor_class: Any) -> tuple[tuple[Any, ...], tuple[bool, ...] | None]:
    """Wrap the operands that are not tensors; say which were Python numbers (for promotion).

    A Python number takes the dtype of the first floating tensor beside it (not of a bool
    condition), so ``x * 2`` stays float32. The flags are None when nothing is left to promote:
    every tensor has that one floating dtype and every other operand was a real Python number.

    Examples
    --------
    >>> from giagrad.mathops import Mul
    >>> (x, two), flags = wrap_operands(Mul, (giagrad.tensor([1.0, 2.0]), 2), giagrad.Tensor)
    >>> two.dtype, flags
    (dtype('float32'), None)
    """
    if len(inputs) == 2:  # the usual case, a floating tensor and a Python float or int: no promotion left
        x, y = inputs
        tensor, number = (x, y) if isinstance(x, tensor_class) else (y, x)
        kind = type(number)
        if isinstance(tensor, tensor_class) and (kind is float or kind is int) and tensor.data.dtype.kind == "f":
            wrapped_number = _constant(number, tensor.data.dtype, tensor_class)
            return ((tensor, wrapped_number) if tensor is x else (wrapped_number, tensor)), None
    reference = None
    uniform = True
    for x in inputs:
        if isinstance(x, tensor_class):
            if reference is None or is_floating(x.data.dtype) and not is_floating(reference.data.dtype):
                reference = x
        elif isinstance(x, complex) or not isinstance(x, (bool, numbers.Number)):
            uniform = False
    dtype = None if reference is None else reference.data.dtype
    try:
        wrapped = tuple(x if isinstance(x, tensor_class) else tensor_class._make(operand_array(x, dtype), None)
                        for x in inputs)
    except TypeError as error:
        raise TypeError(f"{op_name(function)}: {error}") from None
    if uniform and dtype is not None and is_floating(dtype):
        for x in inputs:
            if isinstance(x, tensor_class) and x.data.dtype != dtype:
                uniform = False
        if uniform:
            return wrapped, None
    return wrapped, tuple(not isinstance(x, tensor_class) and isinstance(x, (bool, numbers.Number)) for x in inputs)


# The tensors made for Python numbers by (value, type, dtype). A model applies the same few numbers
# (`x * 0.5`, `1 - p`, `+ eps`) at every step: reusing one read-only 0-d tensor saves making an array
# and a tensor per op, a third of what recording a small op costs. It is a leaf that needs no
# gradient, so sharing it between graphs changes nothing; read-only, nothing can change it.
_constants: dict[tuple[Any, type, np.dtype], Any] = {}


def _constant(number: float, dtype: np.dtype, tensor_class: Any) -> Any:
    """A tensor holding the Python float or int ``number`` as a 0-d array of ``dtype``."""
    if number == 0:  # -0.0 == 0.0 and they hash alike: zeros are made each time
        return tensor_class._make(np.asarray(number, dtype=dtype), None)
    key = (number, type(number), dtype)
    constant = _constants.get(key)
    if constant is None:
        if len(_constants) >= 1024:  # numbers that change at every step (a schedule) must not pile up
            _constants.clear()
        array = np.asarray(number, dtype=dtype)
        array.flags.writeable = False
        constant = _constants[key] = tensor_class._make(array, None)
    return constant


def promote(function: Any, inputs: tuple[Any, ...], python_scalars: tuple[bool, ...] | None,
            tensor_class: Any) -> tuple[tuple[Any, ...], np.dtype | None]:
    """Bring an op's operands to PyTorch's result dtype; return them and that dtype.

    ``function.promotion`` says how: ``"elementwise"``, the common dtype of all inputs
    (``"where"``: of all but the condition); ``"float"``, the same, but an integer or bool result
    becomes float32 (``/``, ``sqrt``, ``exp``); ``"same"``, no promotion, mismatched dtypes raise
    (``matmul``, as in PyTorch; the dtype returned is then None). Inputs that do not require grad
    are converted; one that requires grad keeps its dtype (its gradient must have it) and the
    engine converts the result instead.
    """
    promotion = function.promotion
    skip = 1 if promotion == "where" else 0
    operands = inputs[skip:]
    if promotion == "same":
        dtypes = [x.data.dtype for x in operands]
        if any(d != dtypes[0] for d in dtypes):
            raise RuntimeError(f"{op_name(function)}: expected operands of one dtype (as PyTorch), but got "
                               f"{' and '.join(str(d) for d in dtypes)}; convert with .to(dtype)")
        return inputs, None
    scalars = python_scalars[skip:] if python_scalars is not None else (False,) * len(operands)
    dtype = result_type([x.data for x in operands], scalars)
    if promotion == "float" and not is_floating(dtype):
        dtype = DEFAULT_FLOAT
    converted = tuple(x if x.data.dtype == dtype or x.requires_grad
                      else tensor_class._make(x.data.astype(dtype), None) for x in operands)
    return inputs[:skip] + converted, dtype


def named_error(error: Exception, function: Any, inputs: tuple[Any, ...]) -> Exception:
    """``error`` (raised by an op's forward) again, naming the op and the input shapes instead of
    showing numpy's internals."""
    shapes = ", ".join(str(x.data.shape) for x in inputs)
    return type(error)(f"{op_name(function)}: {error} (input shapes {shapes})")
