"""Elementwise operations (with broadcasting) and matrix multiplication.

Each class is one node type: ``forward`` computes with numpy and saves what ``backward`` needs;
``backward`` turns the gradient of the output into one gradient per input. Binary ops broadcast
like numpy, so their backward sums the gradient back to each input's shape (``unbroadcast``).
The module-level functions ``where``, ``maximum``, ``minimum``, ``clamp`` and ``einsum`` are
exported as ``giagrad.where`` and so on.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from typing import Any

import numpy as np

from giagrad.autograd import Function, TensorBase, is_tensor


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``grad`` over the dimensions that broadcasting added or stretched to reach ``shape``.

    Broadcasting copies an input along some axes; each copy contributed to the output, so the
    input's gradient is the sum of the copies' gradients.
    """
    if grad.shape == shape:
        return grad
    added = grad.ndim - len(shape)
    stretched = tuple(i + added for i, n in enumerate(shape) if n == 1 and grad.shape[i + added] != 1)
    return grad.sum(axis=tuple(range(added)) + stretched).reshape(shape)


# ------------------------------------------------------------------------------------ binary


class Add(Function):
    promotion = "elementwise"

    def forward(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        self.shapes = x.shape, y.shape
        return x + y

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        x_shape, y_shape = self.shapes
        need_x, need_y = self.needs_input_grad
        return (unbroadcast(grad, x_shape) if need_x else None,
                unbroadcast(grad, y_shape) if need_y else None)


class Sub(Function):
    promotion = "elementwise"

    def forward(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        self.shapes = x.shape, y.shape
        return x - y

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        x_shape, y_shape = self.shapes
        need_x, need_y = self.needs_input_grad
        return (unbroadcast(grad, x_shape) if need_x else None,
                unbroadcast(-grad, y_shape) if need_y else None)


class Mul(Function):
    promotion = "elementwise"

    def forward(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        self.save_for_backward(x, y)
        return x * y

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        x, y = self.saved_tensors
        need_x, need_y = self.needs_input_grad
        return (unbroadcast(grad * y, x.shape) if need_x else None,
                unbroadcast(grad * x, y.shape) if need_y else None)


class Div(Function):
    promotion = "float"

    def forward(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        self.save_for_backward(x, y)
        return x / y

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        x, y = self.saved_tensors
        grad_over_y = grad / y
        need_x, need_y = self.needs_input_grad
        return (unbroadcast(grad_over_y, x.shape) if need_x else None,
                unbroadcast(-grad_over_y * x / y, y.shape) if need_y else None)


class Pow(Function):
    """``x ** y`` with a tensor exponent; d/dy is ``x**y * log(x)``, zero where x == 0 and y >= 0."""

    promotion = "elementwise"

    def forward(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        out = np.power(x, y)
        self.save_for_backward(x, y, out)
        return out

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        x, y, out = self.saved_tensors
        grad_x = grad_y = None
        need_x, need_y = self.needs_input_grad
        with np.errstate(divide="ignore", invalid="ignore"):
            if need_x:
                grad_x = unbroadcast(grad * y * np.power(x, y - 1), x.shape)
            if need_y:
                log_x = np.where((x == 0) & (y >= 0), 0, np.log(np.where(x == 0, 1, x)))
                grad_y = unbroadcast(grad * out * log_x, y.shape)
        return grad_x, grad_y


class PowScalar(Function):
    """``x ** p`` for a Python number ``p`` (the common case: squares, roots)."""

    def forward(self, x: np.ndarray, exponent: float) -> np.ndarray:
        self.save_for_backward(x)
        self.exponent = exponent
        return x ** exponent

    def backward(self, grad: np.ndarray) -> np.ndarray:
        (x,) = self.saved_tensors
        p = self.exponent
        if p == 0:
            return np.zeros_like(grad)
        return grad * p * x ** (p - 1)


class Maximum(Function):
    """Elementwise maximum; where the inputs tie each receives half the gradient (as PyTorch)."""

    promotion = "elementwise"

    def forward(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        self.save_for_backward(x, y)
        return np.maximum(x, y)

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        x, y = self.saved_tensors
        return _split_at_ties(self, grad, x, y, x > y)


class Minimum(Function):
    """Elementwise minimum; where the inputs tie each receives half the gradient (as PyTorch)."""

    promotion = "elementwise"

    def forward(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        self.save_for_backward(x, y)
        return np.minimum(x, y)

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        x, y = self.saved_tensors
        return _split_at_ties(self, grad, x, y, x < y)


def _split_at_ties(fn: Function, grad: np.ndarray, x: np.ndarray, y: np.ndarray,
                   x_wins: np.ndarray) -> tuple[np.ndarray | None, ...]:
    share_x = np.where(x == y, 0.5, x_wins).astype(grad.dtype)
    need_x, need_y = fn.needs_input_grad
    return (unbroadcast(grad * share_x, x.shape) if need_x else None,
            unbroadcast(grad * (1 - share_x), y.shape) if need_y else None)


class Where(Function):
    """``x`` where ``condition`` else ``y``; ``condition`` is a bool array (not differentiable)."""

    promotion = "where"

    def forward(self, condition: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        self.save_for_backward(condition)
        self.shapes = x.shape, y.shape
        return np.where(condition, x, y)

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        (condition,) = self.saved_tensors
        x_shape, y_shape = self.shapes
        zero = np.zeros((), dtype=grad.dtype)
        _, need_x, need_y = self.needs_input_grad
        return (None,
                unbroadcast(np.where(condition, grad, zero), x_shape) if need_x else None,
                unbroadcast(np.where(condition, zero, grad), y_shape) if need_y else None)


class MatMul(Function):
    """``x @ y`` with numpy's rules: 1-D operands, batches and broadcast batch dims."""

    promotion = "same"

    def forward(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        self.save_for_backward(x, y)
        try:
            return np.matmul(x, y)
        except ValueError:  # numpy's message speaks of gufunc signatures: say what does not fit
            raise ValueError(matmul_mismatch(x.shape, y.shape)) from None

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        x, y = self.saved_tensors
        need_x, need_y = self.needs_input_grad
        if x.ndim == 2 and y.ndim == 2:  # the common case, without the general bookkeeping
            return (grad @ y.T if need_x else None, x.T @ grad if need_y else None)
        # Promote 1-D operands to matrices the way matmul does, then undo it on the way out.
        x2 = x[None, :] if x.ndim == 1 else x
        y2 = y[:, None] if y.ndim == 1 else y
        grad2 = grad
        if y.ndim == 1:  # first: for vector @ vector the gradient is 0-d, and (1,) then (1, 1)
            grad2 = np.expand_dims(grad2, -1)
        if x.ndim == 1:
            grad2 = np.expand_dims(grad2, -2)
        grad_x = grad_y = None
        if need_x:
            grad_x = unbroadcast(grad2 @ np.swapaxes(y2, -1, -2), x2.shape).reshape(x.shape)
        if need_y:
            grad_y = unbroadcast(np.swapaxes(x2, -1, -2) @ grad2, y2.shape).reshape(y.shape)
        return grad_x, grad_y


def matmul_mismatch(x_shape: tuple[int, ...], y_shape: tuple[int, ...]) -> str:
    """Why ``x @ y`` is impossible, in words."""
    if not x_shape or not y_shape:
        return "matmul needs operands with at least one dim (use * for a scalar)"
    columns = x_shape[-1]
    rows = y_shape[-2] if len(y_shape) > 1 else y_shape[0]
    if columns != rows:
        return (f"cannot multiply shapes {x_shape} and {y_shape}: the first has {columns} columns (its last dim) "
                f"but the second has {rows} rows (its {'dim -2' if len(y_shape) > 1 else 'only dim'}); they must "
                "be equal (check the layer sizes, or transpose an operand)")
    return f"the batch dims of shapes {x_shape} and {y_shape} do not broadcast"


class Einsum(Function):
    """Einstein summation over explicit subscripts (one letter per dim).

    The gradient of operand ``k`` is itself an einsum: the output gradient and the other
    operands contracted back to operand ``k``'s subscripts. Letters that only operand ``k`` has
    were summed away, so their gradient is broadcast back; dims where operand ``k`` has size 1
    but the others are larger were broadcast, so their gradient is summed. A letter repeated
    within operand ``k`` (``"ii->i"``, a diagonal) read only the diagonal, so the gradient is
    computed for the diagonal and written there, zero elsewhere.
    """

    promotion = "same"  # as PyTorch: mixed dtypes raise instead of giving float64

    def forward(self, *arrays: np.ndarray, terms: tuple[str, ...], output: str) -> np.ndarray:
        self.save_for_backward(*arrays)
        self.terms, self.output = terms, output
        return np.einsum(",".join(terms) + "->" + output, *arrays, optimize=len(arrays) > 1)

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        arrays = self.saved_tensors
        needs = self.needs_input_grad
        grads: list[np.ndarray | None] = []
        for k, term in enumerate(self.terms):
            if not needs[k]:
                grads.append(None)
                continue
            shape = arrays[k].shape
            letters = "".join(dict.fromkeys(term))  # each letter once, in order of appearance
            letter_shape = tuple(shape[term.index(c)] for c in letters)
            others = [self.output] + [t for j, t in enumerate(self.terms) if j != k]
            available = set("".join(others))
            target = "".join(c for c in letters if c in available)
            operands = [grad] + [a for j, a in enumerate(arrays) if j != k]
            result = np.einsum(",".join(others) + "->" + target, *operands, optimize=len(operands) > 1)
            if target != letters:  # letters summed in operand k alone: every element got the same gradient
                result = np.expand_dims(result, tuple(i for i, c in enumerate(letters) if c not in available))
            stretched = tuple(i for i, n in enumerate(letter_shape) if n == 1 and result.shape[i] != 1)
            if stretched:
                result = result.sum(axis=stretched, keepdims=True)
            result = np.broadcast_to(result, letter_shape)
            if letters != term:
                grads.append(_scatter_diagonal(result, term, letters, shape))
            else:
                grads.append(result)
        return tuple(grads)


def _scatter_diagonal(values: np.ndarray, term: str, letters: str, shape: tuple[int, ...]) -> np.ndarray:
    """An array of ``shape`` (subscripts ``term``, with repeats) holding ``values`` (subscripts
    ``letters``, each once) where repeated letters have equal indices, and zero elsewhere."""
    out = np.zeros(shape, dtype=values.dtype)
    index = []
    for c in term:
        position = letters.index(c)
        axis_shape = [1] * len(letters)
        axis_shape[position] = shape[term.index(c)]
        index.append(np.arange(shape[term.index(c)]).reshape(axis_shape))
    out[tuple(index)] = values
    return out


# ------------------------------------------------------------------------------------- unary


class Neg(Function):
    def forward(self, x: np.ndarray) -> np.ndarray:
        return -x

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return -grad


class Cast(Function):
    """Dtype conversion; the gradient goes back in the input's dtype."""

    def forward(self, x: np.ndarray, dtype: Any) -> np.ndarray:
        self.input_dtype = x.dtype
        return x.astype(dtype)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return grad.astype(self.input_dtype)


class Exp(Function):
    promotion = "float"

    def forward(self, x: np.ndarray) -> np.ndarray:
        out = np.exp(x)
        self.save_for_backward(out)
        return out

    def backward(self, grad: np.ndarray) -> np.ndarray:
        (out,) = self.saved_tensors
        return grad * out


class Log(Function):
    promotion = "float"

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.save_for_backward(x)
        return np.log(x)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        (x,) = self.saved_tensors
        return grad / x


class Log1p(Function):
    promotion = "float"

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.save_for_backward(x)
        return np.log1p(x)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        (x,) = self.saved_tensors
        return grad / (1 + x)


class Sqrt(Function):
    promotion = "float"

    def forward(self, x: np.ndarray) -> np.ndarray:
        out = np.sqrt(x)
        self.save_for_backward(out)
        return out

    def backward(self, grad: np.ndarray) -> np.ndarray:
        (out,) = self.saved_tensors
        with np.errstate(divide="ignore"):  # sqrt'(0) is +inf, as in PyTorch
            return grad / (2 * out)


class Abs(Function):
    """``|x|``; the gradient at 0 is 0 (``sign(0)``), as in PyTorch."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.save_for_backward(x)
        return np.abs(x)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        (x,) = self.saved_tensors
        return grad * np.sign(x)


class Sin(Function):
    promotion = "float"

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.save_for_backward(x)
        return np.sin(x)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        (x,) = self.saved_tensors
        return grad * np.cos(x)


class Cos(Function):
    promotion = "float"

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.save_for_backward(x)
        return np.cos(x)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        (x,) = self.saved_tensors
        return -grad * np.sin(x)


class Tanh(Function):
    promotion = "float"

    def forward(self, x: np.ndarray) -> np.ndarray:
        out = np.tanh(x)
        self.save_for_backward(out)
        return out

    def backward(self, grad: np.ndarray) -> np.ndarray:
        (out,) = self.saved_tensors
        return grad * (1 - out * out)


class Reciprocal(Function):
    promotion = "float"

    def forward(self, x: np.ndarray) -> np.ndarray:
        out = 1 / x
        self.save_for_backward(out)
        return out

    def backward(self, grad: np.ndarray) -> np.ndarray:
        (out,) = self.saved_tensors
        return -grad * out * out


class Square(Function):
    def forward(self, x: np.ndarray) -> np.ndarray:
        self.save_for_backward(x)
        return x * x

    def backward(self, grad: np.ndarray) -> np.ndarray:
        (x,) = self.saved_tensors
        return 2 * grad * x


class Clamp(Function):
    """Limit to ``[low, high]``; the gradient passes where ``low <= x <= high`` (PyTorch's rule)."""

    def forward(self, x: np.ndarray, low: float | None, high: float | None) -> np.ndarray:
        self.save_for_backward(x)
        self.low, self.high = low, high
        return np.clip(x, low, high)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        (x,) = self.saved_tensors
        inside = np.ones(x.shape, dtype=bool)
        if self.low is not None:
            inside &= x >= self.low
        if self.high is not None:
            inside &= x <= self.high
        return grad * inside


class Log2(Function):
    promotion = "float"

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.save_for_backward(x)
        return np.log2(x)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        (x,) = self.saved_tensors
        return grad / (x * np.log(2).astype(x.dtype))


class Exp2(Function):
    promotion = "float"

    def forward(self, x: np.ndarray) -> np.ndarray:
        out = np.exp2(x)
        self.save_for_backward(out)
        return out

    def backward(self, grad: np.ndarray) -> np.ndarray:
        (out,) = self.saved_tensors
        return grad * out * np.log(2).astype(out.dtype)


class Rsqrt(Function):
    """``1 / sqrt(x)``; d/dx is ``-out**3 / 2``."""

    promotion = "float"

    def forward(self, x: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):  # rsqrt(0) is +inf, as in PyTorch
            out = 1 / np.sqrt(x)
        self.save_for_backward(out)
        return out

    def backward(self, grad: np.ndarray) -> np.ndarray:
        (out,) = self.saved_tensors
        return grad * out * out * out * -0.5


class Tan(Function):
    """``tan(x)``; d/dx is ``1 + tan(x)**2``."""

    promotion = "float"

    def forward(self, x: np.ndarray) -> np.ndarray:
        out = np.tan(x)
        self.save_for_backward(out)
        return out

    def backward(self, grad: np.ndarray) -> np.ndarray:
        (out,) = self.saved_tensors
        return grad * (1 + out * out)


class PiecewiseConstant(Function):
    """``sign``, ``trunc``, ``floor``, ``ceil`` and ``round``: steps whose gradient is zero
    everywhere (PyTorch's convention, also at the jumps). ``ufunc`` is the numpy function."""

    def forward(self, x: np.ndarray, ufunc: Any, decimals: int = 0) -> np.ndarray:
        return np.round(x, decimals) if ufunc is np.round else ufunc(x)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return np.zeros_like(grad)


# -------------------------------------------------------------------------- module functions


def checked_condition(condition: Any) -> Any:
    """``where``'s condition, checked to be bool: a tensor as it is, else as an array."""
    array = condition.data if isinstance(condition, TensorBase) else np.asarray(condition)
    if array.dtype != np.bool_:
        raise TypeError(f"where: condition must be a bool tensor, got {array.dtype}")
    return condition if isinstance(condition, TensorBase) else array


def _check_operands(op: str, *operands: Any) -> None:
    # At least one tensor gives the result its class and Python numbers their dtype.
    for x in operands:
        if isinstance(x, TensorBase):
            return
    raise TypeError(f"{op}: expected a Tensor among the operands, got "
                    f"{', '.join(type(x).__name__ for x in operands)}")


def where(condition: Any, input: Any, other: Any) -> Any:  # noqa: A002
    """Elements of ``input`` where ``condition`` holds, else of ``other`` (``torch.where``).

    All three broadcast together; ``condition`` is a bool tensor and is not differentiable.
    A Python number takes the dtype of the tensor beside it.

    Examples
    --------
    >>> x = giagrad.tensor([-1.0, 2.0])
    >>> giagrad.where(x > 0, x, 0.0)
    tensor([0., 2.])
    """
    condition = checked_condition(condition)
    _check_operands("where", condition, input, other)
    return TensorBase.comm(Where, condition, input, other)


def maximum(input: Any, other: Any) -> Any:  # noqa: A002
    """Elementwise maximum with broadcasting; ties split the gradient evenly (as PyTorch)."""
    _check_operands("maximum", input, other)
    return TensorBase.comm(Maximum, input, other)


def minimum(input: Any, other: Any) -> Any:  # noqa: A002
    """Elementwise minimum with broadcasting; ties split the gradient evenly (as PyTorch)."""
    _check_operands("minimum", input, other)
    return TensorBase.comm(Minimum, input, other)


def clamp(input: Any, min: float | None = None, max: float | None = None) -> Any:  # noqa: A002
    """Limit values to ``[min, max]`` (``torch.clamp`` with number bounds).

    Unlike PyTorch, the bounds must be numbers; for tensor bounds use ``maximum``/``minimum``.
    """
    if not is_tensor(input):
        raise TypeError(f"clamp: input must be a Tensor, got {type(input).__name__}")
    for name, bound in (("min", min), ("max", max)):
        if bound is not None and (isinstance(bound, bool) or not isinstance(bound, (int, float, np.number))):
            raise TypeError(f"clamp: {name} must be a number or None, got {type(bound).__name__}; "
                            "for tensor bounds use giagrad.maximum / giagrad.minimum")
    return input.clamp(min, max)


def _parse_einsum(equation: str, shapes: Sequence[tuple[int, ...]]) -> tuple[tuple[str, ...], str]:
    """Explicit subscripts for each operand and the output, with ``...`` spelled out as letters."""
    equation = equation.replace(" ", "")
    left, arrow, right = equation.partition("->")
    terms = left.split(",")
    if len(terms) != len(shapes):
        raise ValueError(f"einsum: equation {equation!r} has {len(terms)} operands but {len(shapes)} were given")
    spare = [c for c in string.ascii_letters if c not in equation]
    ellipsis_dims = 0
    for term, shape in zip(terms, shapes, strict=True):
        if "..." in term:
            ellipsis_dims = max(ellipsis_dims, len(shape) - (len(term) - 3))
    broadcast_letters = "".join(spare[:ellipsis_dims])
    explicit = []
    for term, shape in zip(terms, shapes, strict=True):
        if "..." in term:
            n = len(shape) - (len(term) - 3)
            if n < 0:
                raise ValueError(f"einsum: subscripts {term!r} have more letters than the operand of shape "
                                 f"{shape} has dims")
            term = term.replace("...", broadcast_letters[ellipsis_dims - n:])
        if not term.isalpha() and term:
            raise ValueError(f"einsum: subscripts {term!r} must be letters (and at most one '...')")
        if len(term) != len(shape):
            raise ValueError(f"einsum: subscripts {term!r} do not match the operand of shape {shape}")
        for c in set(term):
            sizes = {shape[i] for i, letter in enumerate(term) if letter == c}
            if len(sizes) > 1:
                raise ValueError(f"einsum: index {c!r} repeats in {term!r} over dims of different sizes "
                                 f"{sorted(sizes)} (operand shape {shape})")
        explicit.append(term)
    if arrow:
        output = right.replace("...", broadcast_letters)
        if not output.isalpha() and output:
            raise ValueError(f"einsum: output subscripts {right!r} must be letters (and at most one '...')")
        if len(set(output)) != len(output):
            raise ValueError(f"einsum: output subscripts {right!r} repeat an index")
        missing = set(output) - set("".join(explicit))
        if missing:
            raise ValueError(f"einsum: output index {sorted(missing)[0]!r} appears in no operand of {equation!r}")
    else:  # implicit mode (numpy's rule): broadcast dims, then the letters used once, sorted
        letters = "".join(explicit)
        output = broadcast_letters + "".join(sorted(c for c in set(letters)
                                                    if letters.count(c) == 1 and c not in broadcast_letters))
    return tuple(explicit), output


def einsum(equation: str, *operands: Any) -> Any:
    """Einstein summation (``torch.einsum``), differentiable in every operand.

    Parameters
    ----------
    equation : str
        Subscripts such as ``"ij,jk->ik"``; the implicit output (``"ij,jk"``), ``...`` for
        broadcast leading dims, and letters repeated within an operand (diagonals and traces:
        ``"ii->i"``, ``"ii"``) are accepted. A letter may appear at most once in the output.
    operands : Tensor
        One per term, or a single list of them.

    Examples
    --------
    >>> a, b = giagrad.randn(2, 3), giagrad.randn(3, 4)
    >>> giagrad.einsum("ij,jk->ik", a, b).shape
    (2, 4)
    """
    if not isinstance(equation, str):
        raise TypeError(f"einsum: equation must be a string, got {type(equation).__name__}")
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if not operands:
        raise ValueError("einsum: at least one operand is needed")
    for i, x in enumerate(operands):
        if not is_tensor(x):
            raise TypeError(f"einsum: operand {i} is a {type(x).__name__}, expected a Tensor")
    terms, output = _parse_einsum(equation, [x.shape for x in operands])
    return TensorBase.comm(Einsum, *operands, terms=terms, output=output)
