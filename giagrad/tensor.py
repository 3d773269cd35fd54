"""``Tensor``: the user-facing API over the engine in ``autograd.py``.

Every differentiable method dispatches to a ``Function`` of an op family (``mathops``
(elementwise), ``reductionops``, ``shapeops``, ``mlops``) through ``Tensor.comm``; recording and
``backward`` are the engine's (``giagrad.autograd``). ``Function`` is importable from here under
its historical name, ``giagrad.tensor.Function``.
"""

from __future__ import annotations

import builtins
import numbers
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from giagrad import device as _device
from giagrad import hooks, mathops, mlops, reductionops, shapeops, versions
from giagrad import random as _random
from giagrad._validation import check_dim, check_dims, check_floating, shape_arg
from giagrad.autograd import Function, TensorBase, use_tensor_class
from giagrad.dtypes import DEFAULT_FLOAT, as_array, is_floating
from giagrad.grad_mode import _state as _grad_state
from giagrad.hooks import RemovableHandle, register

__all__ = ["Tensor", "Function"]


class Tensor(TensorBase):
    """An n-dimensional array that can record how it was computed, for gradients.

    Parameters
    ----------
    data : array_like
        Numbers, nested lists, a numpy array or another tensor. Python floats become float32;
        numpy arrays keep their dtype.
    requires_grad : bool
        Whether backward should compute ``.grad`` for this tensor (floating dtypes only).
    dtype : numpy dtype, optional
        Convert the data to this dtype.

    Examples
    --------
    >>> x = Tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad
    array([[2., 4.],
           [6., 8.]], dtype=float32)
    """

    # The slots are TensorBase's; an empty tuple keeps tensors free of a per-instance __dict__.
    __slots__ = ()

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None) -> None:
        self.data = as_array(data.data if isinstance(data, TensorBase) else data, dtype)
        self.grad = None
        self.requires_grad = False
        self.grad_storage = None
        self._ctx = None
        self._retains_grad = False
        self._version_counter = None
        self._hooks = None
        if isinstance(data, TensorBase) and self.data is data.data:  # Tensor(t) shares t's array: and its versions
            self._version_counter = versions.counter_of(data)
        if requires_grad:
            self.requires_grad_(True)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set ``requires_grad`` in place (leaves only; floating dtypes only)."""
        if requires_grad and not is_floating(self.data.dtype):
            raise TypeError(f"requires_grad: only floating point tensors can require gradients, "
                            f"got {self.data.dtype}")
        if not requires_grad and self._ctx is not None:
            raise RuntimeError("requires_grad_: a non-leaf tensor's requires_grad follows its inputs; use detach()")
        self.requires_grad = bool(requires_grad)
        return self

    def detach(self) -> Tensor:
        """A tensor sharing this one's data (and its version counter, as in PyTorch), cut from the graph."""
        out = Tensor._make(self.data, None)
        out._version_counter = self._storage_counter()
        return out

    def _mark_modified(self) -> None:
        """Record that ``data`` changed in place (in-place ops and optimizers call this).

        The change is recorded on the storage's counter, so every view of it sees it too.
        """
        versions.mark_modified(self)

    def _storage_counter(self) -> versions.VersionCounter:
        """This tensor's version counter, created on first use (see ``versions.counter_of``)."""
        return versions.counter_of(self)

    @property
    def _version(self) -> int:
        """How many times this tensor's storage was changed in place (as PyTorch's ``_version``)."""
        counter = self._version_counter
        return 0 if counter is None else counter.version

    @property
    def is_leaf(self) -> bool:
        """True for tensors not produced by a recorded op (parameters, inputs)."""
        return self._ctx is None

    @property
    def grad_fn(self) -> Function | None:
        """The node that produced this tensor, or None for a leaf."""
        return self._ctx

    def zero_grad(self) -> None:
        """Forget the accumulated gradient (``grad = None``)."""
        self.grad = None

    # -------------------------------------------------------------------------- conveniences

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def T(self) -> Tensor:  # noqa: N802 (PyTorch's name)
        """All dimensions reversed (the matrix transpose for 2-D tensors)."""
        return self.permute(*range(self.ndim - 1, -1, -1))

    def size(self, dim: int | None = None) -> tuple[int, ...] | int:
        """The shape, or the length of dimension ``dim``."""
        if dim is None:
            return self.data.shape
        return self.data.shape[check_dim("size", dim, self.ndim)]

    def numel(self) -> int:
        """The number of elements."""
        return int(self.data.size)

    def dim(self) -> int:
        return self.data.ndim

    def item(self) -> float | int | bool:
        """The value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item: only one-element tensors can be converted, shape is {self.shape}")
        return self.data.item()

    def numpy(self) -> np.ndarray:
        """The underlying numpy array (shared, not copied).

        As in PyTorch, a tensor that requires grad raises: writing into its array would silently
        corrupt gradients. Use ``t.detach().numpy()``.
        """
        if self.requires_grad:
            raise RuntimeError("numpy: can't call numpy() on a tensor that requires grad; "
                               "use tensor.detach().numpy() instead")
        return self.data

    def tolist(self) -> Any:
        return self.data.tolist()

    def astype(self, dtype: Any) -> Tensor:
        """This tensor converted to ``dtype``; gradients flow back in the original dtype."""
        dtype = np.dtype(dtype)
        if dtype == self.data.dtype:
            return self
        if self.requires_grad and not is_floating(dtype):
            return Tensor._make(self.data.astype(dtype), None)
        return Tensor.comm(mathops.Cast, self, dtype=dtype)

    def float(self) -> Tensor:
        """Convert to float32."""
        return self.astype(np.float32)

    def double(self) -> Tensor:
        """Convert to float64."""
        return self.astype(np.float64)

    def long(self) -> Tensor:
        """Convert to int64 (not differentiable)."""
        return self.astype(np.int64)

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    def __iter__(self) -> Iterator[Tensor]:
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.data.shape[0]))

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise RuntimeError(
                f"bool: the truth value of a tensor with {self.data.size} elements is ambiguous"
            )
        return bool(self.data)

    def __float__(self) -> builtins.float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self.data.dtype.kind not in "iub" or self.data.size != 1:
            raise TypeError("only integer tensors of a single element can be used as an index")
        return int(self.data.item())

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        # np.asarray(t): as PyTorch, refused for a tensor that requires grad (see numpy())
        array = self.numpy()
        if copy:
            return np.array(array, dtype=dtype, copy=True)
        return array if dtype is None else array.astype(dtype, copy=False)

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=", ", prefix="tensor(", threshold=1000)
        extras = []
        if self.data.dtype != DEFAULT_FLOAT and self.data.dtype != np.int64:
            extras.append(f"dtype={self.data.dtype}")
        if self._ctx is not None:
            extras.append(f"grad_fn={self._ctx!r}")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + body + "".join(", " + e for e in extras) + ")"

    # ------------------------------------------------------------------- in-place arithmetic

    def _inplace(self, name: str, ufunc: Callable[..., Any], other: Any, function: Any = None) -> Tensor:
        if _grad_state.enabled and (self.requires_grad or (isinstance(other, Tensor) and other.requires_grad)):
            return self._inplace_recorded(name, function, other)
        value = other.data if isinstance(other, Tensor) else other
        try:
            ufunc(self.data, value, out=self.data, casting="same_kind")
        except ValueError:
            raise ValueError(
                f"{name}: cannot update a tensor of shape {self.shape} in place with shape "
                f"{np.shape(value)}"
            ) from None
        except TypeError as error:  # numpy's casting error (a float result into an int tensor)
            raise RuntimeError(f"{name}: {error}") from None
        self._mark_modified()
        return self

    def _inplace_recorded(self, name: str, function: Any, other: Any) -> Tensor:
        """``x op= y`` in grad mode: recorded, as PyTorch records it; ``x`` now holds the new node.

        The op runs out of place on the old value and the result is written back into ``x``'s
        array, so that views of ``x`` see it. Refused, as in PyTorch, on a leaf that requires
        grad (its ``.grad`` would belong to no value) and, unlike PyTorch, on a tensor that has
        views or is one (giagrad does not rewrite the graph of the other views).
        """
        if self._ctx is None and self.requires_grad:
            raise RuntimeError(f"{name}: a leaf tensor that requires grad is being used in an in-place "
                               "operation; wrap the update in giagrad.no_grad() or write x = x op y")
        counter = self._version_counter
        if function is None or (counter is not None and counter.has_views):
            raise RuntimeError(
                f"{name}: in-place change of a tensor that requires grad through a view (or of one that has "
                "views) is not recorded; write x = x op y, or wrap the update in giagrad.no_grad()"
                if function is not None else
                f"{name}: in-place change of a tensor that requires grad is not recorded; "
                "build a new tensor, or wrap the update in giagrad.no_grad()"
            )
        old = Tensor._make(self.data, self._ctx)
        old.requires_grad = self.requires_grad
        result = Tensor.comm(function, old, old if other is self else other)
        fn = result._ctx
        assert fn is not None  # an input requires grad and grad mode is on
        saved = fn.saved_tensors
        if type(saved) is tuple:  # what the node saved of the old value must survive the write below
            fn.saved_tensors = tuple([value.copy() if value is self.data else value for value in saved])
        if result.data.shape != self.data.shape:
            raise RuntimeError(f"{name}: output with shape {self.shape} doesn't match the broadcast shape "
                               f"{result.shape}")
        try:
            np.copyto(self.data, result.data, casting="same_kind")
        except TypeError as error:
            raise RuntimeError(f"{name}: {error}") from None
        self._mark_modified()  # before the new node takes over: the old one gets the counter
        self._ctx = fn
        fn.output_counter = self._version_counter
        self.requires_grad = True
        return self

    def __iadd__(self, other: Any) -> Tensor:
        return self._inplace("__iadd__", np.add, other, mathops.Add)

    def __isub__(self, other: Any) -> Tensor:
        return self._inplace("__isub__", np.subtract, other, mathops.Sub)

    def __imul__(self, other: Any) -> Tensor:
        return self._inplace("__imul__", np.multiply, other, mathops.Mul)

    def __itruediv__(self, other: Any) -> Tensor:
        return self._inplace("__itruediv__", np.true_divide, other, mathops.Div)

    def copy_(self, source: Any) -> Tensor:
        """Copy ``source`` into this tensor's array (shape kept, dtype converted)."""
        return self._inplace("copy_", _copy_ufunc, source)

    def fill_(self, value: builtins.float) -> Tensor:
        """Set every element to ``value``."""
        return self._inplace("fill_", _copy_ufunc, value)

    def zero_(self) -> Tensor:
        """Set every element to zero."""
        return self.fill_(0)

    # ---------------------------------------------------------------- elementwise arithmetic

    def __add__(self, other: Any) -> Tensor:
        return Tensor.comm(mathops.Add, self, other)

    def __radd__(self, other: Any) -> Tensor:
        return Tensor.comm(mathops.Add, other, self)

    def __sub__(self, other: Any) -> Tensor:
        return Tensor.comm(mathops.Sub, self, other)

    def __rsub__(self, other: Any) -> Tensor:
        return Tensor.comm(mathops.Sub, other, self)

    def __mul__(self, other: Any) -> Tensor:
        return Tensor.comm(mathops.Mul, self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return Tensor.comm(mathops.Mul, other, self)

    def __truediv__(self, other: Any) -> Tensor:
        return Tensor.comm(mathops.Div, self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return Tensor.comm(mathops.Div, other, self)

    def __pow__(self, other: Any) -> Tensor:
        if isinstance(other, numbers.Number) and not isinstance(other, bool):
            # an integer tensor to a float power is float32, as in PyTorch (numpy: float64)
            base = self.float() if isinstance(other, builtins.float) and not is_floating(self.data.dtype) else self
            return Tensor.comm(mathops.PowScalar, base, exponent=other)
        return Tensor.comm(mathops.Pow, self, other)

    def __rpow__(self, other: Any) -> Tensor:
        return Tensor.comm(mathops.Pow, other, self)

    def __neg__(self) -> Tensor:
        return Tensor.comm(mathops.Neg, self)

    def __matmul__(self, other: Any) -> Tensor:
        return Tensor.comm(mathops.MatMul, self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return Tensor.comm(mathops.MatMul, other, self)

    add = __add__
    sub = __sub__
    mul = __mul__
    div = __truediv__
    pow = __pow__
    neg = __neg__
    matmul = __matmul__

    def exp(self) -> Tensor:
        return Tensor.comm(mathops.Exp, self)

    def log(self) -> Tensor:
        return Tensor.comm(mathops.Log, self)

    def log1p(self) -> Tensor:
        return Tensor.comm(mathops.Log1p, self)

    def sqrt(self) -> Tensor:
        return Tensor.comm(mathops.Sqrt, self)

    def abs(self) -> Tensor:
        return Tensor.comm(mathops.Abs, self)

    def sin(self) -> Tensor:
        return Tensor.comm(mathops.Sin, self)

    def cos(self) -> Tensor:
        return Tensor.comm(mathops.Cos, self)

    def tanh(self) -> Tensor:
        return Tensor.comm(mathops.Tanh, self)

    def sigmoid(self) -> Tensor:
        return Tensor.comm(mlops.Sigmoid, self)

    def relu(self) -> Tensor:
        return Tensor.comm(mlops.ReLU, self)

    def reciprocal(self) -> Tensor:
        return Tensor.comm(mathops.Reciprocal, self)

    def square(self) -> Tensor:
        return Tensor.comm(mathops.Square, self)

    def clamp(self, min: builtins.float | None = None, max: builtins.float | None = None) -> Tensor:  # noqa: A002
        """Limit values to ``[min, max]``; the gradient is zero where a bound is active."""
        if min is None and max is None:
            raise ValueError("clamp: at least one of min and max must be given")
        source = self
        if not is_floating(self.data.dtype) and (isinstance(min, builtins.float) or isinstance(max, builtins.float)):
            source = self.float()  # float bounds make an integer tensor float32, as in PyTorch
        return Tensor.comm(mathops.Clamp, source, low=min, high=max)

    clip = clamp

    def maximum(self, other: Any) -> Tensor:
        """Elementwise maximum; at ties the gradient is split evenly, as in PyTorch."""
        return Tensor.comm(mathops.Maximum, self, other)

    def minimum(self, other: Any) -> Tensor:
        """Elementwise minimum; at ties the gradient is split evenly, as in PyTorch."""
        return Tensor.comm(mathops.Minimum, self, other)

    def where(self, condition: Any, other: Any) -> Tensor:
        """``self`` where ``condition`` holds, else ``other`` (``torch.Tensor.where``)."""
        return Tensor.comm(mathops.Where, mathops.checked_condition(condition), self, other)

    # ------------------------------------------------- comparisons: not differentiable, bool

    def _compare(self, ufunc: np.ufunc, other: Any) -> Tensor:
        value = other.data if isinstance(other, Tensor) else other
        try:
            return Tensor._make(ufunc(self.data, value), None)
        except ValueError:
            raise ValueError(
                f"{ufunc.__name__}: shapes {self.shape} and {np.shape(value)} do not broadcast"
            ) from None

    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return self._compare(np.equal, other)

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return self._compare(np.not_equal, other)

    def __lt__(self, other: Any) -> Tensor:
        return self._compare(np.less, other)

    def __le__(self, other: Any) -> Tensor:
        return self._compare(np.less_equal, other)

    def __gt__(self, other: Any) -> Tensor:
        return self._compare(np.greater, other)

    def __ge__(self, other: Any) -> Tensor:
        return self._compare(np.greater_equal, other)

    eq = __eq__
    ne = __ne__
    lt = __lt__
    le = __le__
    gt = __gt__
    ge = __ge__

    # ---------------------------------------------------------------------------- reductions

    def sum(self, dim: int | Sequence[int] | None = None, keepdim: bool = False, *, dtype: Any = None,
            **numpy_style: Any) -> Tensor:
        """Sum over all elements, one dim or a tuple of dims (in ``dtype`` when given).

        numpy's keywords ``axis``, ``keepdims`` and ``out=None`` are accepted too, so that
        ``np.sum(tensor)`` works (PyTorch accepts them as well).
        """
        source, dim, keepdim = _numpy_style_reduction("sum", self, dim, keepdim, dtype, numpy_style)
        return Tensor.comm(reductionops.Sum, source, axis=check_dims("sum", dim, self.ndim), keepdims=keepdim)

    def mean(self, dim: int | Sequence[int] | None = None, keepdim: bool = False, *, dtype: Any = None,
             **numpy_style: Any) -> Tensor:
        """Mean over all elements, one dim or a tuple of dims (floating tensors only, as PyTorch).

        Like ``sum``, it accepts ``dtype`` and numpy's ``axis``, ``keepdims`` and ``out=None``.
        """
        source, dim, keepdim = _numpy_style_reduction("mean", self, dim, keepdim, dtype, numpy_style)
        check_floating("mean", source)
        return Tensor.comm(reductionops.Mean, source, axis=check_dims("mean", dim, self.ndim), keepdims=keepdim)

    def max(self, dim: int | Tensor | None = None, keepdim: bool = False) -> Tensor | reductionops.ValuesIndices:
        """The maximum: of all elements (a tensor), or along ``dim`` as ``(values, indices)``.

        ``x.max()`` shares the gradient evenly among tied maxima; ``x.max(dim)`` gives it to the
        returned index only (the first maximum), as in PyTorch. ``x.max(other)`` with a tensor is
        ``maximum(x, other)``.

        Examples
        --------
        >>> values, indices = giagrad.tensor([[1.0, 5.0], [7.0, 2.0]]).max(dim=1)
        >>> indices
        tensor([1, 0])
        """
        if isinstance(dim, Tensor):
            return self.maximum(dim)
        if dim is None:
            return Tensor.comm(reductionops.Amax, self, axis=None, keepdims=False)
        return self._extreme_along("max", np.argmax, dim, keepdim)

    def min(self, dim: int | Tensor | None = None, keepdim: bool = False) -> Tensor | reductionops.ValuesIndices:
        """The minimum: of all elements, or along ``dim`` as ``(values, indices)`` (see ``max``)."""
        if isinstance(dim, Tensor):
            return self.minimum(dim)
        if dim is None:
            return Tensor.comm(reductionops.Amin, self, axis=None, keepdims=False)
        return self._extreme_along("min", np.argmin, dim, keepdim)

    def _extreme_along(self, op: str, arg_function: Any, dim: int, keepdim: bool) -> reductionops.ValuesIndices:
        axis = check_dim(op, dim, self.ndim)
        if self.ndim == 0:
            return reductionops.ValuesIndices(self.reshape(1).reshape(()), Tensor(np.array(0)))
        if self.data.shape[axis] == 0:
            raise IndexError(f"{op}: cannot reduce over dim {dim} of size 0 in shape {self.shape}")
        indices = arg_function(self.data, axis=axis, keepdims=True)
        values = Tensor.comm(reductionops.TakeAlongDim, self, indices=indices, axis=axis, keepdims=keepdim)
        return reductionops.ValuesIndices(values, Tensor._make(indices if keepdim else np.squeeze(indices, axis), None))

    def amax(self, dim: int | Sequence[int] | None = None, keepdim: bool = False) -> Tensor:
        """The maximum over all elements, one dim or a tuple of dims; ties share the gradient evenly."""
        return Tensor.comm(reductionops.Amax, self, axis=check_dims("amax", dim, self.ndim), keepdims=keepdim)

    def amin(self, dim: int | Sequence[int] | None = None, keepdim: bool = False) -> Tensor:
        """The minimum over all elements, one dim or a tuple of dims; ties share the gradient evenly."""
        return Tensor.comm(reductionops.Amin, self, axis=check_dims("amin", dim, self.ndim), keepdims=keepdim)

    def argmax(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        """Index of the (first) maximum, in the flattened tensor when ``dim`` is None (int64)."""
        return self._arg_extreme("argmax", np.argmax, dim, keepdim)

    def argmin(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        """Index of the (first) minimum, in the flattened tensor when ``dim`` is None (int64)."""
        return self._arg_extreme("argmin", np.argmin, dim, keepdim)

    def _arg_extreme(self, op: str, arg_function: Any, dim: int | None, keepdim: bool) -> Tensor:
        empty = self.data.size == 0
        if empty and (dim is None or self.ndim == 0 or self.data.shape[check_dim(op, dim, self.ndim)] == 0):
            # as PyTorch: only an empty reduced dim has no answer; (0, 3).argmax(1) is empty
            raise ValueError(f"{op}: the tensor of shape {self.shape} is empty along the reduced dim")
        if dim is None or self.ndim == 0:
            if dim is not None:
                check_dim(op, dim, self.ndim)
            return Tensor._make(np.asarray(arg_function(self.data), dtype=np.int64), None)
        axis = check_dim(op, dim, self.ndim)
        return Tensor._make(arg_function(self.data, axis=axis, keepdims=keepdim).astype(np.int64, copy=False), None)

    def var(self, dim: int | Sequence[int] | None = None, unbiased: bool | None = None, keepdim: bool = False,
            *, correction: builtins.float | None = None) -> Tensor:
        r"""Variance over all elements, one dim or a tuple of dims.

        ``correction`` (default 1, Bessel's) is subtracted from the count:
        :math:`\frac{1}{N - c}\sum_i (x_i - \bar x)^2`. ``unbiased=False`` is ``correction=0``.
        """
        return self._spread("var", reductionops.Var, dim, unbiased, keepdim, correction)

    def std(self, dim: int | Sequence[int] | None = None, unbiased: bool | None = None, keepdim: bool = False,
            *, correction: builtins.float | None = None) -> Tensor:
        """Standard deviation, ``sqrt(var)`` (same arguments as ``var``); its gradient is 0 where it is 0."""
        return self._spread("std", reductionops.Std, dim, unbiased, keepdim, correction)

    def _spread(self, op: str, function: type[Function], dim: Any, unbiased: bool | None, keepdim: bool,
                correction: builtins.float | None) -> Tensor:
        if isinstance(dim, bool):  # x.var(False): the old positional `unbiased`
            dim, unbiased = None, dim
        if unbiased is not None and correction is not None:
            raise ValueError(f"{op}: give either unbiased or correction, not both")
        if correction is None:
            correction = 1 if unbiased is None or unbiased else 0
        check_floating(op, self)
        return Tensor.comm(function, self, axis=check_dims(op, dim, self.ndim), keepdims=keepdim,
                           correction=correction)

    def prod(self, dim: int | Sequence[int] | None = None, keepdim: bool = False) -> Tensor:
        """Product over all elements, one dim or (unlike PyTorch, which takes one) a tuple of dims.

        The gradient is exact where elements are zero (no division by the product).
        """
        return Tensor.comm(reductionops.Prod, self, axis=check_dims("prod", dim, self.ndim), keepdims=keepdim)

    def logsumexp(self, dim: int | Sequence[int] | None = None, keepdim: bool = False) -> Tensor:
        """``log(sum(exp(x)))`` over ``dim`` (all elements when None), without overflow."""
        check_floating("logsumexp", self)
        return Tensor.comm(reductionops.LogSumExp, self, axis=check_dims("logsumexp", dim, self.ndim),
                           keepdims=keepdim)

    def norm(self, p: builtins.float | str = "fro", dim: int | Sequence[int] | None = None,
             keepdim: bool = False) -> Tensor:
        """The vector ``p``-norm over all elements or ``dim``: ``p`` a number, ``inf``, ``-inf`` or ``'fro'`` (= 2).

        The gradient of a zero norm is 0 (PyTorch's subgradient). Matrix norms such as ``'nuc'``
        are not supported.
        """
        if p == "fro":
            p = 2
        if isinstance(p, str) or isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)):
            raise ValueError(f"norm: p must be a number, inf, -inf or 'fro', got {p!r}")
        check_floating("norm", self)
        return Tensor.comm(reductionops.Norm, self, axis=check_dims("norm", dim, self.ndim), keepdims=keepdim,
                           p=float(p))

    def cumsum(self, dim: int) -> Tensor:
        """Running sum along ``dim``: ``out[i] = x[0] + ... + x[i]``."""
        axis = check_dim("cumsum", dim, self.ndim)
        if self.ndim == 0:
            return self.reshape(1).cumsum(0).reshape(())
        return Tensor.comm(reductionops.CumSum, self, axis=axis)

    # ------------------------------------------------------------------------------- shape

    def reshape(self, *shape: int | Sequence[int]) -> Tensor:
        """The same elements in a new shape (one dimension may be -1)."""
        new_shape = shape_arg(shape, "reshape")
        if new_shape == self.data.shape:
            return self
        return Tensor.comm(shapeops.Reshape, self, shape=new_shape)

    def permute(self, *dims: int | Sequence[int]) -> Tensor:
        """Reorder the dimensions: ``x.permute(2, 0, 1)``."""
        order = shape_arg(dims, "permute")
        if sorted(check_dim("permute", d, self.ndim) for d in order) != list(range(self.ndim)):
            raise ValueError(f"permute: {order} is not a permutation of the {self.ndim} dims of {self.shape}")
        return Tensor.comm(shapeops.Permute, self, axes=tuple(d % self.ndim for d in order))

    def transpose(self, dim0: int, dim1: int) -> Tensor:
        """Swap two dimensions."""
        order = list(range(self.ndim))
        a, b = check_dim("transpose", dim0, self.ndim), check_dim("transpose", dim1, self.ndim)
        order[a], order[b] = order[b], order[a]
        return Tensor.comm(shapeops.Permute, self, axes=tuple(order))

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        """Merge dims ``start_dim..end_dim`` (inclusive) into one: ``(2, 3, 4) -> (2, 12)`` with start_dim=1."""
        if self.ndim == 0:
            return self.reshape(1)
        start, end = check_dim("flatten", start_dim, self.ndim), check_dim("flatten", end_dim, self.ndim)
        if start > end:
            raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for shape {self.shape}")
        shape = self.data.shape
        merged = 1
        for size in shape[start:end + 1]:
            merged *= size
        return self.reshape(shape[:start] + (merged,) + shape[end + 1:])

    def squeeze(self, dim: int | Sequence[int] | None = None) -> Tensor:
        """Remove dims of size 1: all of them, or those of ``dim`` (other sizes are left alone)."""
        axes = check_dims("squeeze", dim, self.ndim)
        if axes is None:
            axes = tuple(range(self.ndim))
        shape = self.data.shape
        return self.reshape(tuple(n for d, n in enumerate(shape) if not (n == 1 and d in axes)))

    def unsqueeze(self, dim: int) -> Tensor:
        """Insert a dim of size 1 at position ``dim`` (``-1`` appends)."""
        axis = check_dim("unsqueeze", dim, self.ndim + 1)
        shape = self.data.shape
        return self.reshape(shape[:axis] + (1,) + shape[axis:])

    def expand(self, *sizes: int | Sequence[int]) -> Tensor:
        """Broadcast dims of size 1 (and new leading dims) to ``sizes``; ``-1`` keeps a dim.

        Like PyTorch, the result is a read-only view: no memory is copied.
        """
        sizes = shape_arg(sizes, "expand")
        shape = self.data.shape
        added = len(sizes) - len(shape)
        if added < 0:
            raise ValueError(f"expand: {len(sizes)} sizes {sizes} for a tensor of shape {shape} with {self.ndim} dims")
        target = []
        for d, size in enumerate(sizes):
            current = shape[d - added] if d >= added else None
            if size == -1 and current is not None:
                size = current
            if size < 0 or (current is not None and current != 1 and current != size):
                raise ValueError(f"expand: cannot expand shape {shape} to {sizes}: dims of size other than 1 "
                                 "must keep their size (or be -1)")
            target.append(size)
        if tuple(target) == shape:
            return self
        return Tensor.comm(shapeops.Expand, self, shape=tuple(target))

    def broadcast_to(self, *shape: int | Sequence[int]) -> Tensor:
        """Broadcast to ``shape`` with numpy/PyTorch broadcasting rules (a read-only view)."""
        target = shape_arg(shape, "broadcast_to")
        try:
            broadcast = np.broadcast_shapes(self.data.shape, target)
        except ValueError:
            broadcast = None
        if broadcast != target:
            raise ValueError(f"broadcast_to: shape {self.shape} cannot be broadcast to {target}")
        return self.expand(target)

    def expand_as(self, other: Tensor) -> Tensor:
        """``expand(other.shape)``."""
        return self.expand(other.shape)

    def __getitem__(self, index: Any) -> Tensor:
        """Index like numpy/PyTorch: ints, slices (negative steps too), None, ``...``, bool masks and
        integer arrays or tensors. Elements picked several times accumulate their gradients."""
        normalized, repeats = _normalize_index(index)
        basic, advanced = _split_integers_from_arrays(normalized)
        if advanced is None:
            return Tensor.comm(shapeops.Getitem, self, index=normalized, accumulate=repeats)
        return Tensor.comm(shapeops.Getitem, self, index=basic, accumulate=repeats, then=advanced)

    def __setitem__(self, index: Any, value: Any) -> None:
        """Assign in place (not recorded): allowed on tensors that need no graph or under ``no_grad``."""
        normalized, _ = _normalize_index(index)
        basic, advanced = _split_integers_from_arrays(normalized)
        if _grad_state.enabled and (self.requires_grad or (isinstance(value, Tensor) and value.requires_grad)):
            raise RuntimeError(
                "setitem: assigning into a tensor that requires grad would not be recorded; "
                "build a new tensor (where, cat) or wrap the update in giagrad.no_grad()"
            )
        try:
            source = value.data if isinstance(value, Tensor) else value
            if advanced is None:
                self.data[normalized] = source
            else:
                self.data[basic][advanced] = source  # the basic part is a view: writes reach self
        except (ValueError, IndexError) as error:
            raise type(error)(f"setitem: {error} (tensor shape {self.shape})") from None
        self._mark_modified()

    def split(self, split_size_or_sections: int | Sequence[int], dim: int = 0) -> tuple[Tensor, ...]:
        """Cut into pieces along ``dim``: of ``split_size`` each (the last may be smaller), or of the
        listed sizes, which must add up to the dim's size."""
        axis = check_dim("split", dim, self.ndim)
        if self.ndim == 0:
            raise ValueError("split: cannot split a zero-dimensional tensor")
        length = self.data.shape[axis]
        if isinstance(split_size_or_sections, (int, np.integer)):
            step = int(split_size_or_sections)
            if step <= 0:
                raise ValueError(f"split: split_size must be positive, got {step}")
            sizes = [min(step, length - start) for start in range(0, length, step)] or [0]
        else:
            sizes = [int(s) for s in split_size_or_sections]
            if sum(sizes) != length or any(s < 0 for s in sizes):
                raise ValueError(f"split: sections {sizes} must be non-negative and add up to {length}, the size "
                                 f"of dim {dim} of shape {self.shape}")
        before = (slice(None),) * axis
        pieces = []
        start = 0
        for size in sizes:
            pieces.append(Tensor.comm(shapeops.Getitem, self, index=before + (slice(start, start + size),),
                                      accumulate=False))
            start += size
        return tuple(pieces)

    def chunk(self, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
        """Cut into ``chunks`` pieces of ``ceil(size / chunks)`` along ``dim`` (maybe fewer, as PyTorch)."""
        if not isinstance(chunks, (int, np.integer)) or chunks <= 0:
            raise ValueError(f"chunk: chunks must be a positive integer, got {chunks!r}")
        axis = check_dim("chunk", dim, self.ndim)
        if self.ndim == 0:
            raise ValueError("chunk: cannot chunk a zero-dimensional tensor")
        length = self.data.shape[axis]
        return self.split(max(-(-length // int(chunks)), 1), dim)

    def unbind(self, dim: int = 0) -> tuple[Tensor, ...]:
        """The slices along ``dim``, as a tuple (the dim removed)."""
        axis = check_dim("unbind", dim, self.ndim)
        before = (slice(None),) * axis
        return tuple(self[before + (i,)] for i in range(self.data.shape[axis]))

    def pad(self, pad: Sequence[int], mode: str = "constant", value: builtins.float = 0.0) -> Tensor:
        """Pad with PyTorch's widths order (last dim first); see ``giagrad.pad``."""
        return shapeops.pad(self, pad, mode, value)

    def flip(self, *dims: int | Sequence[int]) -> Tensor:
        """Reverse the order of elements along ``dims``."""
        axes = check_dims("flip", shape_arg(dims, "flip"), self.ndim)
        if not axes:
            return self
        return Tensor.comm(shapeops.Flip, self, axes=axes)

    def repeat(self, *sizes: int | Sequence[int]) -> Tensor:
        """Tile the tensor ``sizes[d]`` times along each dim (PyTorch's ``repeat``, numpy's ``tile``).

        ``sizes`` may have more entries than the tensor has dims; new leading dims are added.
        """
        reps = shape_arg(sizes, "repeat")
        if len(reps) < self.ndim or any(r < 0 for r in reps):
            raise ValueError(f"repeat: needs at least {self.ndim} non-negative sizes for shape {self.shape}, "
                             f"got {reps}")
        return Tensor.comm(shapeops.Repeat, self, reps=reps)

    def contiguous(self) -> Tensor:
        """This tensor when its array is C-contiguous, else a contiguous copy (recorded in the graph)."""
        if self.data.flags.c_contiguous:
            return self
        return Tensor.comm(shapeops.Contiguous, self)

    def is_contiguous(self) -> bool:
        """Whether the array is laid out in C order without gaps."""
        return bool(self.data.flags.c_contiguous)

    def softmax(self, dim: int) -> Tensor:
        """``exp(x) / sum(exp(x))`` along ``dim``, computed stably."""
        check_floating("softmax", self)
        return Tensor.comm(mlops.Softmax, self, axis=_softmax_axis("softmax", dim, self.ndim))

    def log_softmax(self, dim: int) -> Tensor:
        """``log(softmax(x))`` along ``dim``, finite for any finite logits."""
        check_floating("log_softmax", self)
        return Tensor.comm(mlops.LogSoftmax, self, axis=_softmax_axis("log_softmax", dim, self.ndim))

    # ------------------------------------------------------------------------ gradient hooks

    def register_hook(self, hook: Callable[[Any], Any]) -> RemovableHandle:
        """Call ``hook(grad)`` whenever this tensor's gradient is computed (as PyTorch).

        ``grad`` is a Tensor; a returned tensor (or array) replaces the gradient, ``None`` keeps
        it. On a leaf the hook runs before the gradient is added to ``.grad``, once per backward
        with the sum over the leaf's uses; on an intermediate tensor, before the gradient flows on
        (and before ``retain_grad`` stores it). Returns a handle whose ``remove()`` unregisters it.

        Examples
        --------
        >>> w = giagrad.tensor([1.0, 2.0], requires_grad=True)
        >>> handle = w.register_hook(lambda grad: grad * 10)
        >>> (w * w).sum().backward()
        >>> w.grad
        array([20., 40.], dtype=float32)
        >>> handle.remove()
        """
        if not self.requires_grad:
            raise RuntimeError("register_hook: cannot register a hook on a tensor that doesn't require grad")
        if self._hooks is None:
            self._hooks = OrderedDict()
        return register(self._hooks, hook, prepend=False)

    def register_post_accumulate_grad_hook(self, hook: Callable[[Any], None]) -> RemovableHandle:
        """Call ``hook(tensor)`` in every backward, once this leaf's ``.grad`` holds its gradient.

        The hook runs once per backward that reaches this leaf, after the gradients of all its
        uses in the graph have been added into ``.grad`` (so it sees the accumulated value and may
        change it in place), and before backward returns. Its return value is ignored. As in
        PyTorch, only leaves that require grad take such a hook.

        Parameters
        ----------
        hook : callable
            Called as ``hook(tensor)``.

        Returns
        -------
        RemovableHandle
            ``handle.remove()`` unregisters the hook.

        Examples
        --------
        >>> w = giagrad.tensor([1.0, 2.0], requires_grad=True)
        >>> handle = w.register_post_accumulate_grad_hook(lambda t: print(t.grad))
        >>> (w * w).sum().backward()
        [2. 4.]
        >>> handle.remove()
        """
        if not callable(hook):
            raise TypeError(f"register_post_accumulate_grad_hook: expected a callable, got {type(hook).__name__}")
        if not self.requires_grad:
            raise RuntimeError("register_post_accumulate_grad_hook: cannot register a hook on a tensor that "
                               "doesn't require gradient")
        if self._ctx is not None:
            raise RuntimeError("register_post_accumulate_grad_hook: post accumulate grad hooks cannot be "
                               f"registered on non-leaf tensors (this one comes from {self._ctx!r})")
        return hooks.register_post_accumulate_grad_hook(self, hook)

    # ------------------------------------------- PyTorch habits: devices, copies, more elementwise ops
    # Grouped here so that the engine code above stays as it is.

    @property
    def device(self) -> _device.device:
        """Always ``device(type='cpu')``: giagrad computes with numpy on the CPU."""
        return _device.CPU

    is_cuda = False

    def to(self, *args: Any, **kwargs: Any) -> Tensor:
        """Convert like PyTorch's ``Tensor.to``: ``to(dtype)``, ``to(device)``, ``to(device, dtype)``, ``to(other)``.

        The only device is the CPU, so only a dtype changes anything; ``"cuda"`` raises. The
        tensor itself is returned when nothing changes (unless ``copy=True``); a conversion is
        recorded, so gradients flow back in the original dtype.

        Examples
        --------
        >>> x = giagrad.ones(2).to("cpu", giagrad.float64)
        >>> x.dtype, x.device
        (dtype('float64'), device(type='cpu'))
        """
        _, dtype = _device.parse_to_arguments("Tensor.to", args, kwargs)
        out = self if dtype is None else self.astype(dtype)
        return out.clone() if kwargs.get("copy") and out is self else out

    def cpu(self) -> Tensor:
        """This tensor (it already lives on the CPU)."""
        return self

    def cuda(self, *args: Any, **kwargs: Any) -> Tensor:
        """Raises: giagrad has no GPU backend."""
        _device.device("cuda")
        return self  # unreachable: the line above raises

    def clone(self) -> Tensor:
        """A copy of the data that stays in the graph (gradients flow back to this tensor)."""
        return Tensor.comm(shapeops.Clone, self)

    def view_as(self, other: Tensor) -> Tensor:
        """``reshape(other.shape)``."""
        return self.reshape(other.shape)

    reshape_as = view_as

    def type_as(self, other: Tensor) -> Tensor:
        """This tensor converted to ``other``'s dtype."""
        return self.astype(other.dtype)

    def _new(self, maker: Any, size: tuple[Any, ...], dtype: Any, requires_grad: bool, *fill: Any) -> Tensor:
        dtype = self.data.dtype if dtype is None else _device.resolve_dtype("new_tensor", dtype)
        return Tensor(maker(shape_arg(size, f"new_{maker.__name__}"), *fill, dtype=dtype), requires_grad=requires_grad)

    def new_zeros(self, *size: int | Sequence[int], dtype: Any = None, device: Any = None,
                  requires_grad: bool = False) -> Tensor:
        """Zeros of ``size`` with this tensor's dtype (unless ``dtype`` is given)."""
        return self._new(np.zeros, size, dtype, requires_grad)

    def new_ones(self, *size: int | Sequence[int], dtype: Any = None, device: Any = None,
                 requires_grad: bool = False) -> Tensor:
        """Ones of ``size`` with this tensor's dtype (unless ``dtype`` is given)."""
        return self._new(np.ones, size, dtype, requires_grad)

    def new_empty(self, *size: int | Sequence[int], dtype: Any = None, device: Any = None,
                  requires_grad: bool = False) -> Tensor:
        """An uninitialised tensor of ``size`` with this tensor's dtype."""
        return self._new(np.empty, size, dtype, requires_grad)

    def new_full(self, size: Sequence[int], fill_value: builtins.float, dtype: Any = None, device: Any = None,
                 requires_grad: bool = False) -> Tensor:
        """``fill_value`` everywhere, of ``size``, with this tensor's dtype."""
        return self._new(np.full, (size,), dtype, requires_grad, fill_value)

    def new_tensor(self, data: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
        """A copy of ``data`` as a tensor of this tensor's dtype (unless ``dtype`` is given)."""
        dtype = self.data.dtype if dtype is None else _device.resolve_dtype("new_tensor", dtype)
        return Tensor(np.array(data.data if isinstance(data, Tensor) else data, dtype=dtype),
                      requires_grad=requires_grad)

    def __dlpack__(self, *args: Any, **kwargs: Any) -> Any:
        """Export the data through DLPack (no copy): ``np.from_dlpack(t)``, ``torch.from_dlpack(t)``."""
        return self.data.__dlpack__(*args, **kwargs)

    def __dlpack_device__(self) -> tuple[int, int]:
        return self.data.__dlpack_device__()

    def log2(self) -> Tensor:
        return Tensor.comm(mathops.Log2, self)

    def exp2(self) -> Tensor:
        return Tensor.comm(mathops.Exp2, self)

    def rsqrt(self) -> Tensor:
        """``1 / sqrt(x)``."""
        return Tensor.comm(mathops.Rsqrt, self)

    def tan(self) -> Tensor:
        return Tensor.comm(mathops.Tan, self)

    def sign(self) -> Tensor:
        """-1, 0 or 1 by the sign of each element; the gradient is zero (as PyTorch)."""
        return Tensor.comm(mathops.PiecewiseConstant, self, ufunc=np.sign)

    def trunc(self) -> Tensor:
        """Round towards zero; the gradient is zero (as PyTorch)."""
        return Tensor.comm(mathops.PiecewiseConstant, self, ufunc=np.trunc)

    def floor(self) -> Tensor:
        """Round down; the gradient is zero (as PyTorch)."""
        return Tensor.comm(mathops.PiecewiseConstant, self, ufunc=np.floor)

    def ceil(self) -> Tensor:
        """Round up; the gradient is zero (as PyTorch)."""
        return Tensor.comm(mathops.PiecewiseConstant, self, ufunc=np.ceil)

    def round(self, decimals: int = 0) -> Tensor:
        """Round half to even (as PyTorch), to ``decimals`` places; the gradient is zero."""
        return Tensor.comm(mathops.PiecewiseConstant, self, ufunc=np.round, decimals=int(decimals))

    def softsign(self) -> Tensor:
        """``x / (1 + |x|)``."""
        check_floating("softsign", self)
        return Tensor.comm(mlops.Softsign, self)

    def celu(self, alpha: builtins.float = 1.0) -> Tensor:
        """``max(0, x) + min(0, alpha * (exp(x / alpha) - 1))``."""
        check_floating("celu", self)
        if alpha == 0:
            raise ValueError("celu: alpha must be non-zero")
        return Tensor.comm(mlops.CELU, self, alpha=float(alpha))


    # ------------------------------------------- indexing, sorting and sampling (sequence models)

    def view(self, *shape: int | Sequence[int]) -> Tensor:
        """``reshape`` that never copies: an error where the layout would need a copy (as PyTorch).

        Raises RuntimeError when the tensor's strides do not allow the new shape; call
        ``reshape`` (which copies then) or ``contiguous().view(...)`` instead.
        """
        target = shape_arg(shape, "view")
        try:
            np.ndarray.view(self.data).shape = target  # numpy refuses exactly when a copy is needed
        except AttributeError:
            raise RuntimeError(f"view: shape {target} is not compatible with the strides of this tensor of "
                               f"shape {self.shape} (it is not contiguous); use .reshape(...) instead") from None
        except ValueError as error:
            raise RuntimeError(f"view: shape {target} is invalid for a tensor of shape {self.shape}: {error}") \
                from None
        return self.reshape(target)

    def tril(self, diagonal: int = 0) -> Tensor:
        """The lower triangle of the last two dims (``j <= i + diagonal``); the rest is 0."""
        return self._triangle("tril", np.tril, diagonal)

    def triu(self, diagonal: int = 0) -> Tensor:
        """The upper triangle of the last two dims (``j >= i + diagonal``); the rest is 0."""
        return self._triangle("triu", np.triu, diagonal)

    def _triangle(self, op: str, numpy_triangle: Any, diagonal: int) -> Tensor:
        if self.ndim < 2:
            raise ValueError(f"{op}: needs a tensor with at least 2 dims, got shape {self.shape}")
        if not isinstance(diagonal, (int, np.integer)) or isinstance(diagonal, bool):
            raise TypeError(f"{op}: diagonal must be an integer, got {diagonal!r}")
        kept = numpy_triangle(np.ones(self.data.shape[-2:], dtype=bool), int(diagonal))
        # `where`, not a product with the mask: inf * 0 would be NaN outside the triangle.
        return mathops.where(kept, self, np.zeros((), dtype=self.data.dtype))

    def masked_fill(self, mask: Any, value: Any) -> Tensor:
        """``value`` where the bool ``mask`` (broadcast to this shape) is True, else this tensor's element.

        ``value`` is a number or a 0-d tensor (which receives the gradient of the filled elements).
        """
        mask_array = mask.data if isinstance(mask, Tensor) else np.asarray(mask)
        if mask_array.dtype != np.bool_:
            raise TypeError(f"masked_fill: mask must be a bool tensor, got dtype {mask_array.dtype}")
        try:
            fits = np.broadcast_shapes(mask_array.shape, self.data.shape) == self.data.shape
        except ValueError:
            fits = False
        if not fits:
            raise ValueError(f"masked_fill: mask of shape {mask_array.shape} does not broadcast to {self.shape}")
        if isinstance(value, Tensor) and value.ndim != 0:
            raise ValueError(f"masked_fill: value must be a number or a 0-d tensor, got shape {value.shape}")
        return mathops.where(mask_array, value, self)

    def gather(self, dim: int, index: Any) -> Tensor:
        """``out[i][j][k] = self[i][index[i][j][k]][k]`` for ``dim=1`` (PyTorch's ``gather``).

        ``index`` has as many dims as the tensor, sizes no larger except along ``dim``; repeated
        indices accumulate their gradients.
        """
        axis, index = self._along_dim_args("gather", dim, index, self.data.shape)
        return Tensor.comm(shapeops.Getitem, self, index=shapeops.along_dim_index(index, axis), accumulate=True)

    def scatter(self, dim: int, index: Any, src: Any) -> Tensor:
        """A copy with ``src`` written at ``index`` along ``dim`` (``out[i][index[i][j]] = src[i][j]``).

        ``src`` is a tensor at least as large as ``index`` or a number. Where an index repeats the
        result is one of the values (unspecified, as in PyTorch).
        """
        return self._scatter("scatter", dim, index, src, add=False)

    def scatter_add(self, dim: int, index: Any, src: Any) -> Tensor:
        """A copy with ``src`` added at ``index`` along ``dim``; repeated indices add up."""
        return self._scatter("scatter_add", dim, index, src, add=True)

    def _scatter(self, op: str, dim: int, index: Any, src: Any, add: bool) -> Tensor:
        if isinstance(src, Tensor):
            if src.ndim and src.ndim != self.ndim:
                raise ValueError(f"{op}: src has {src.ndim} dims but the tensor has {self.ndim}")
        elif isinstance(src, (bool, numbers.Number)):
            src = Tensor(np.asarray(src, dtype=self.data.dtype))
        else:
            raise TypeError(f"{op}: src must be a Tensor or a number, got {type(src).__name__}")
        limits = tuple(min(a, b) for a, b in zip(self.data.shape, src.data.shape, strict=True)) if src.ndim \
            else self.data.shape
        axis, index = self._along_dim_args(op, dim, index, limits, src.data.shape if src.ndim else None)
        return Tensor.comm(shapeops.Scatter, self, src, index=shapeops.along_dim_index(index, axis), add=add)

    def _along_dim_args(self, op: str, dim: int, index: Any, limits: tuple[int, ...],
                        src_shape: tuple[int, ...] | None = None) -> tuple[int, np.ndarray]:
        axis = check_dim(op, dim, self.ndim)
        index = index.data if isinstance(index, Tensor) else np.asarray(index)
        if index.dtype.kind not in "iu":
            raise TypeError(f"{op}: index must be an integer tensor, got dtype {index.dtype}")
        if index.ndim != max(self.ndim, 1):
            raise ValueError(f"{op}: index has {index.ndim} dims but the tensor has {self.ndim}")
        too_big = [d for d, n in enumerate(index.shape) if (d != axis or src_shape is not None) and n > (
            src_shape[d] if src_shape is not None and d == axis else limits[d])]
        if too_big:
            raise ValueError(f"{op}: index of shape {index.shape} is larger than allowed in dim {too_big[0]} "
                             f"(tensor {self.shape}{'' if src_shape is None else f', src {src_shape}'})")
        size = self.data.shape[axis] if self.ndim else 1
        if index.size and (index.min() < -size or index.max() >= size):
            raise IndexError(f"{op}: index values must be in [0, {size}) for dim {dim} of shape {self.shape}, "
                             f"got values from {index.min()} to {index.max()}")
        return axis, index.astype(np.int64, copy=False) % size if index.size else index.astype(np.int64)

    def sort(self, dim: int = -1, descending: bool = False, stable: bool = False) -> reductionops.ValuesIndices:
        """``(values, indices)`` sorted along ``dim``; ties keep their order (the sort is always stable)."""
        indices = self.argsort(dim, descending, stable)
        return reductionops.ValuesIndices(self.gather(dim, indices) if self.ndim else self, indices)

    def argsort(self, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:
        """The indices that sort the tensor along ``dim`` (a stable sort: ties keep their order)."""
        axis = check_dim("argsort", dim, self.ndim)
        if self.ndim == 0:
            return Tensor(np.array(0, dtype=np.int64))
        data = self.data
        if descending:  # a stable descending sort: sort the reversed array, then map back
            flipped = np.flip(data, axis)
            order = np.argsort(flipped, axis=axis, kind="stable")
            order = data.shape[axis] - 1 - np.flip(order, axis)
            return Tensor(order.astype(np.int64))
        return Tensor(np.argsort(data, axis=axis, kind="stable").astype(np.int64))

    def topk(self, k: int, dim: int = -1, largest: bool = True,
             sorted: bool = True) -> reductionops.ValuesIndices:  # noqa: A002 (PyTorch's name)
        """The ``k`` largest (or smallest) elements along ``dim`` as ``(values, indices)``, in order."""
        axis = check_dim("topk", dim, self.ndim)
        size = self.data.shape[axis] if self.ndim else 1
        if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or not 0 <= k <= size:
            raise ValueError(f"topk: k must be an integer in [0, {size}] for dim {dim} of shape {self.shape}, "
                             f"got {k!r}")
        if self.ndim == 0:
            return reductionops.ValuesIndices(self, Tensor(np.array(0, dtype=np.int64)))
        before = (slice(None),) * axis
        indices = self.argsort(dim, descending=largest)[before + (slice(0, int(k)),)]
        return reductionops.ValuesIndices(self.gather(dim, indices), indices)

    def multinomial(self, num_samples: int, replacement: bool = False) -> Tensor:
        """Draw ``num_samples`` category indices per row, with probabilities proportional to the weights.

        The tensor is 1-D ``(categories,)`` or 2-D ``(rows, categories)`` of non-negative weights
        (they need not sum to 1). Sampling is not differentiable; it uses giagrad's generator
        (``giagrad.manual_seed``). Without replacement a category is drawn at most once per row.

        Examples
        --------
        >>> _ = giagrad.manual_seed(0)
        >>> giagrad.tensor([0.1, 0.0, 0.9]).multinomial(2)
        tensor([2, 0])
        """
        weights = self.data
        if self.ndim not in (1, 2) or weights.shape[-1] == 0:
            raise ValueError(f"multinomial: expects a 1-D or 2-D tensor of weights, got shape {self.shape}")
        if not isinstance(num_samples, (int, np.integer)) or num_samples <= 0:
            raise ValueError(f"multinomial: num_samples must be a positive integer, got {num_samples!r}")
        rows = weights.reshape(-1, weights.shape[-1]).astype(np.float64)
        totals = rows.sum(axis=1)
        if not np.all(np.isfinite(rows)) or np.any(rows < 0) or np.any(totals <= 0):
            raise ValueError("multinomial: weights must be finite, non-negative and not all zero in a row")
        if not replacement and num_samples > np.count_nonzero(rows, axis=1).min():
            raise ValueError(f"multinomial: cannot draw {num_samples} samples without replacement from a row with "
                             f"{np.count_nonzero(rows, axis=1).min()} non-zero weights")
        rng = _random.generator()
        if replacement:  # inverse transform: where each uniform draw falls in the cumulative weights
            cumulative = np.cumsum(rows, axis=1)
            draws = rng.random((len(rows), num_samples)) * totals[:, None]
            samples = np.stack([np.searchsorted(c, d, side="right") for c, d in zip(cumulative, draws, strict=True)])
            samples = np.minimum(samples, rows.shape[1] - 1)
        else:
            samples = np.stack([rng.choice(rows.shape[1], size=num_samples, replace=False, p=row / total)
                                for row, total in zip(rows, totals, strict=True)])
        return Tensor(samples.astype(np.int64).reshape(weights.shape[:-1] + (num_samples,)))


# -------------------------------------------------------------------------------- helpers


def _copy_ufunc(destination: np.ndarray, value: Any, out: np.ndarray, casting: str) -> None:
    # The signature of an in-place ufunc call, so that copy_ and fill_ share `_inplace`.
    np.copyto(out, value, casting="unsafe")


def _softmax_axis(op: str, dim: int, ndim: int) -> int | None:
    # A 0-d tensor is its own single class (softmax 1, log-softmax 0): reduce over everything.
    axis = check_dim(op, dim, ndim)
    return axis if ndim else None


def _numpy_style_reduction(op: str, x: Tensor, dim: Any, keepdim: bool, dtype: Any,
                           numpy_style: dict[str, Any]) -> tuple[Tensor, Any, bool]:
    """A reduction's ``(source, dim, keepdim)`` when numpy's keywords (``np.sum(t)``) or ``dtype`` are used."""
    unknown = set(numpy_style) - {"axis", "keepdims", "out"}
    if unknown:
        raise TypeError(f"{op}: unexpected keyword arguments {sorted(unknown)}")
    if numpy_style.get("out") is not None:
        raise TypeError(f"{op}: out= is not supported; use the returned tensor")
    if "axis" in numpy_style:
        if dim is not None:
            raise TypeError(f"{op}: give dim or axis, not both")
        dim = numpy_style["axis"]
    if numpy_style.get("keepdims") is not None:
        keepdim = bool(numpy_style["keepdims"])
    return (x if dtype is None else x.astype(dtype)), dim, keepdim


def _normalize_index(index: Any) -> tuple[tuple[Any, ...], bool]:
    """``__getitem__``'s index as a tuple numpy understands, and whether an element may repeat.

    Tensors and lists become arrays; integer arrays (advanced indexing) can pick an element more
    than once, so their backward must accumulate.
    """
    items = index if type(index) is tuple else (index,)
    normalized = []
    repeats = False
    for item in items:
        if isinstance(item, Tensor):
            item = item.data
        elif isinstance(item, list):
            item = np.asarray(item) if len(item) else np.zeros(0, dtype=np.int64)
        if isinstance(item, np.ndarray):
            if item.dtype.kind in "iu":
                repeats = repeats or item.size > 1
            elif item.dtype.kind != "b":
                raise IndexError(f"getitem: tensors used as indices must be integer or bool, got {item.dtype}")
        elif not (item is None or item is Ellipsis or isinstance(item, (slice, int, np.integer))):
            raise IndexError(f"getitem: unsupported index of type {type(item).__name__}")
        normalized.append(item)
    return tuple(normalized), repeats


def _split_integers_from_arrays(index: tuple[Any, ...]) -> tuple[tuple[Any, ...], tuple[Any, ...] | None]:
    """Split an index that mixes integers with index arrays into a basic part and an advanced part.

    numpy counts an integer beside index arrays as one more advanced index, so in
    ``x[1, :, [0, 2]]`` on shape (3, 4, 5) the two are "separated by a slice" and the result
    dims go first: (2, 4). PyTorch applies integers first (they select, as basic indexing) and
    only then the arrays: (4, 2). Indexing with the basic part, then the advanced part, gives
    PyTorch's result. ``(index, None)`` when there is nothing to split.
    """
    has_integer = has_array = False
    for item in index:
        if isinstance(item, np.ndarray):
            has_array = True
        elif isinstance(item, (int, np.integer)):
            has_integer = True
    if not (has_integer and has_array):
        return index, None
    basic: list[Any] = []
    advanced: list[Any] = []
    for item in index:
        if isinstance(item, np.ndarray):
            width = item.ndim if item.dtype == np.bool_ else 1  # a mask covers as many dims as it has
            basic.extend([slice(None)] * width)
            advanced.append(item)
        elif item is None:
            basic.append(None)
            advanced.append(slice(None))  # the new dim exists after the basic part
        elif item is Ellipsis:
            basic.append(Ellipsis)
            advanced.append(Ellipsis)
        elif isinstance(item, slice):
            basic.append(item)
            advanced.append(slice(None))
        else:  # an integer: its dim is gone after the basic part
            basic.append(item)
    return tuple(basic), tuple(advanced)


use_tensor_class(Tensor)
