"""The ``torch.xxx(tensor, ...)`` spellings of tensor methods, and tensors from numpy and DLPack.

PyTorch offers most tensor methods as functions too (``torch.sum(x, dim=1)``, ``torch.exp(x)``);
so does giagrad, each one calling the method of the same name, so there is one implementation.
A first argument that is not a tensor (a list, a numpy array) is converted as ``giagrad.tensor``
would.

Examples
--------
>>> x = giagrad.tensor([[1.0, -2.0], [3.0, 4.0]])
>>> giagrad.sum(x, dim=1)
tensor([-1.,  7.])
>>> giagrad.argmax(giagrad.softmax(x, dim=1), dim=1)
tensor([0, 1])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from giagrad.tensor import Tensor

__all__ = [
    "from_numpy", "as_tensor", "from_dlpack", "numel", "is_tensor", "allclose", "isclose", "equal", "randperm",
    # method spellings
    "add", "sub", "mul", "div", "pow", "broadcast_to",
    "sum", "mean", "exp", "log", "log1p", "log2", "exp2", "sqrt", "rsqrt", "abs", "sin", "cos", "tan", "tanh",
    "sigmoid", "relu", "sign", "trunc", "floor", "ceil", "round", "square", "reciprocal", "neg",
    "argmax", "argmin", "max", "min", "amax", "amin", "var", "std", "prod", "logsumexp", "norm", "cumsum",
    "softmax", "log_softmax", "matmul", "mm", "bmm", "flatten", "reshape", "transpose", "permute", "squeeze",
    "unsqueeze", "split", "chunk", "unbind", "flip", "clone",
]


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing ``array``'s memory and dtype (changes to one show in the other).

    Examples
    --------
    >>> a = np.zeros(3, dtype=np.float32)
    >>> t = giagrad.from_numpy(a)
    >>> a[0] = 5.0
    >>> t
    tensor([5., 0., 0.])
    """
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    if array.dtype.kind not in "biuf":
        raise TypeError(f"from_numpy: unsupported dtype {array.dtype}; expected numbers or bools")
    return Tensor(array)


def as_tensor(data: Any, dtype: Any = None, device: Any = None) -> Tensor:
    """``data`` as a tensor, sharing memory where possible (a tensor or numpy array of the right dtype).

    Lists of Python floats become float32, as with ``giagrad.tensor``.
    """
    from giagrad.device import device as _device

    if device is not None:
        _device(device)  # "cuda" raises
    if isinstance(data, Tensor):
        return data if dtype is None else data.to(dtype)
    if isinstance(data, np.ndarray) and dtype is None:
        return from_numpy(data)
    return Tensor(data, dtype=dtype)


def from_dlpack(external: Any) -> Tensor:
    """A tensor sharing the memory of any DLPack-capable CPU array (numpy, PyTorch, JAX, ...).

    Examples
    --------
    >>> array = np.arange(3.0)
    >>> t = giagrad.from_dlpack(array)   # no copy: t shares array's memory
    >>> array[0] = 7.0
    >>> t.tolist()
    [7.0, 1.0, 2.0]
    """
    return Tensor(np.from_dlpack(external))


def is_tensor(obj: Any) -> bool:
    """Whether ``obj`` is a giagrad Tensor."""
    return isinstance(obj, Tensor)


def randperm(n: int, dtype: Any = np.int64, requires_grad: bool = False) -> Tensor:
    """A random permutation of ``0 .. n - 1`` from giagrad's generator (``giagrad.manual_seed``)."""
    from giagrad import random as _random

    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 0:
        raise ValueError(f"randperm: n must be a non-negative integer, got {n!r}")
    return Tensor(_random.generator().permutation(int(n)).astype(dtype), requires_grad=requires_grad)


def _array(value: Any) -> np.ndarray:
    return value.data if isinstance(value, Tensor) else np.asarray(value)


def numel(input: Any) -> int:  # noqa: A002
    """The number of elements."""
    return int(_array(input).size)


def allclose(input: Any, other: Any, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> bool:  # noqa: A002
    """Whether ``|input - other| <= atol + rtol * |other|`` everywhere (not differentiable)."""
    return bool(np.allclose(_array(input), _array(other), rtol=rtol, atol=atol, equal_nan=equal_nan))


def isclose(input: Any, other: Any, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> Tensor:  # noqa: A002
    """Elementwise ``|input - other| <= atol + rtol * |other|`` as a bool tensor."""
    return Tensor(np.isclose(_array(input), _array(other), rtol=rtol, atol=atol, equal_nan=equal_nan))


def equal(input: Any, other: Any) -> bool:  # noqa: A002
    """Whether both have the same shape and elements."""
    return bool(np.array_equal(_array(input), _array(other)))


def _method_function(name: str) -> Callable[..., Any]:
    """``giagrad.<name>(input, *args, **kwargs)``: the tensor method ``input.<name>(*args, **kwargs)``."""

    def function(input: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: A002
        if not isinstance(input, Tensor):
            input = Tensor(input)  # noqa: A001
        return getattr(input, name)(*args, **kwargs)

    function.__name__ = function.__qualname__ = name
    function.__doc__ = f"``giagrad.{name}(input, ...)`` is ``input.{name}(...)``; see ``Tensor.{name}``."
    return function


add = _method_function("add")
sub = _method_function("sub")
mul = _method_function("mul")
div = _method_function("div")
pow = _method_function("pow")  # noqa: A001
broadcast_to = _method_function("broadcast_to")
sum = _method_function("sum")  # noqa: A001
mean = _method_function("mean")
exp = _method_function("exp")
log = _method_function("log")
log1p = _method_function("log1p")
log2 = _method_function("log2")
exp2 = _method_function("exp2")
sqrt = _method_function("sqrt")
rsqrt = _method_function("rsqrt")
abs = _method_function("abs")  # noqa: A001
sin = _method_function("sin")
cos = _method_function("cos")
tan = _method_function("tan")
tanh = _method_function("tanh")
sigmoid = _method_function("sigmoid")
relu = _method_function("relu")
sign = _method_function("sign")
trunc = _method_function("trunc")
floor = _method_function("floor")
ceil = _method_function("ceil")
round = _method_function("round")  # noqa: A001
square = _method_function("square")
reciprocal = _method_function("reciprocal")
neg = _method_function("neg")
argmax = _method_function("argmax")
argmin = _method_function("argmin")
max = _method_function("max")  # noqa: A001
min = _method_function("min")  # noqa: A001
amax = _method_function("amax")
amin = _method_function("amin")
var = _method_function("var")
std = _method_function("std")
prod = _method_function("prod")
logsumexp = _method_function("logsumexp")
norm = _method_function("norm")
cumsum = _method_function("cumsum")
softmax = _method_function("softmax")
log_softmax = _method_function("log_softmax")
matmul = _method_function("matmul")
mm = _method_function("matmul")
bmm = _method_function("matmul")
flatten = _method_function("flatten")
reshape = _method_function("reshape")
transpose = _method_function("transpose")
permute = _method_function("permute")
squeeze = _method_function("squeeze")
unsqueeze = _method_function("unsqueeze")
split = _method_function("split")
chunk = _method_function("chunk")
unbind = _method_function("unbind")
flip = _method_function("flip")
clone = _method_function("clone")
