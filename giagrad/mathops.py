"""Elementwise operations (with broadcasting) and matrix multiplication.

Each class is one node type: ``forward`` computes with numpy and saves what ``backward`` needs;
``backward`` turns the gradient of the output into one gradient per input. Binary ops broadcast
like numpy, so their backward sums the gradient back to each input's shape (``unbroadcast``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from giagrad.tensor import Function


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
    def forward(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        self.shapes = x.shape, y.shape
        return x + y

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        x_shape, y_shape = self.shapes
        need_x, need_y = self.needs_input_grad
        return (unbroadcast(grad, x_shape) if need_x else None,
                unbroadcast(grad, y_shape) if need_y else None)


class Sub(Function):
    def forward(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        self.shapes = x.shape, y.shape
        return x - y

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        x_shape, y_shape = self.shapes
        need_x, need_y = self.needs_input_grad
        return (unbroadcast(grad, x_shape) if need_x else None,
                unbroadcast(-grad, y_shape) if need_y else None)


class Mul(Function):
    def forward(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        self.save_for_backward(x, y)
        return x * y

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        x, y = self.saved_tensors
        need_x, need_y = self.needs_input_grad
        return (unbroadcast(grad * y, x.shape) if need_x else None,
                unbroadcast(grad * x, y.shape) if need_y else None)


class Div(Function):
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

    def forward(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        self.save_for_backward(x, y)
        return np.maximum(x, y)

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        x, y = self.saved_tensors
        return _split_at_ties(self, grad, x, y, x > y)


class Minimum(Function):
    """Elementwise minimum; where the inputs tie each receives half the gradient (as PyTorch)."""

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

    def forward(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        self.save_for_backward(x, y)
        return np.matmul(x, y)

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        x, y = self.saved_tensors
        need_x, need_y = self.needs_input_grad
        if x.ndim == 2 and y.ndim == 2:  # the common case, without the general bookkeeping
            return (grad @ y.T if need_x else None, x.T @ grad if need_y else None)
        # Promote 1-D operands to matrices the way matmul does, then undo it on the way out.
        x2 = x[None, :] if x.ndim == 1 else x
        y2 = y[:, None] if y.ndim == 1 else y
        grad2 = grad
        if x.ndim == 1:
            grad2 = np.expand_dims(grad2, -2)
        if y.ndim == 1:
            grad2 = np.expand_dims(grad2, -1)
        grad_x = grad_y = None
        if need_x:
            grad_x = unbroadcast(grad2 @ np.swapaxes(y2, -1, -2), x2.shape).reshape(x.shape)
        if need_y:
            grad_y = unbroadcast(np.swapaxes(x2, -1, -2) @ grad2, y2.shape).reshape(y.shape)
        return grad_x, grad_y


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
    def forward(self, x: np.ndarray) -> np.ndarray:
        out = np.exp(x)
        self.save_for_backward(out)
        return out

    def backward(self, grad: np.ndarray) -> np.ndarray:
        (out,) = self.saved_tensors
        return grad * out


class Log(Function):
    def forward(self, x: np.ndarray) -> np.ndarray:
        self.save_for_backward(x)
        return np.log(x)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        (x,) = self.saved_tensors
        return grad / x


class Log1p(Function):
    def forward(self, x: np.ndarray) -> np.ndarray:
        self.save_for_backward(x)
        return np.log1p(x)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        (x,) = self.saved_tensors
        return grad / (1 + x)


class Sqrt(Function):
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
    def forward(self, x: np.ndarray) -> np.ndarray:
        self.save_for_backward(x)
        return np.sin(x)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        (x,) = self.saved_tensors
        return grad * np.cos(x)


class Cos(Function):
    def forward(self, x: np.ndarray) -> np.ndarray:
        self.save_for_backward(x)
        return np.cos(x)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        (x,) = self.saved_tensors
        return -grad * np.sin(x)


class Tanh(Function):
    def forward(self, x: np.ndarray) -> np.ndarray:
        out = np.tanh(x)
        self.save_for_backward(out)
        return out

    def backward(self, grad: np.ndarray) -> np.ndarray:
        (out,) = self.saved_tensors
        return grad * (1 - out * out)


class Reciprocal(Function):
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
