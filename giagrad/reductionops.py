"""Reductions: operations that combine many elements into fewer (sum, mean, max, ...).

``axis`` is a tuple of non-negative dims or None (all); the Tensor methods normalise PyTorch's
``dim`` argument to it. Backward broadcasts the output gradient back over the reduced dims.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from giagrad.autograd import Function

# Below this many elements a broadcast gradient is written out: numpy's broadcast_to costs a
# few microseconds of Python, more than copying a small array. Above it, a read-only view
# saves the memory.
_MATERIALIZE_LIMIT = 4096


def expand_reduced(grad: np.ndarray, axis: tuple[int, ...] | None, keepdims: bool,
                   shape: tuple[int, ...]) -> np.ndarray:
    """Broadcast a reduction's output gradient back to the input ``shape``."""
    grad = keep_reduced_dims(grad, axis, keepdims, shape)
    if grad.shape == shape:
        return grad
    if math.prod(shape) <= _MATERIALIZE_LIMIT:
        out = np.empty(shape, dtype=grad.dtype)
        out[...] = grad
        return out
    return np.broadcast_to(grad, shape)


def keep_reduced_dims(grad: np.ndarray, axis: tuple[int, ...] | None, keepdims: bool,
                      shape: tuple[int, ...]) -> np.ndarray:
    """The output gradient with the reduced dims of ``shape`` put back as size 1 (ready to broadcast)."""
    if keepdims:
        return grad
    if axis is None:
        return grad.reshape((1,) * len(shape))
    return grad.reshape([1 if d in axis else n for d, n in enumerate(shape)])


def reduced_count(shape: tuple[int, ...], axis: tuple[int, ...] | None) -> int:
    """How many input elements fall into each output element."""
    if axis is None:
        return int(np.prod(shape, dtype=np.int64))
    return int(np.prod([shape[a] for a in axis], dtype=np.int64))


def _drop_kept_dims(out: np.ndarray, axis: tuple[int, ...] | None, keepdims: bool) -> np.ndarray:
    # Reductions compute with keepdims=True (backward needs the broadcastable form); this
    # gives the caller the shape it asked for.
    if keepdims:
        return out
    if axis is None:
        return out.reshape(())
    return np.squeeze(out, axis)


class Sum(Function):
    def forward(self, x: np.ndarray, axis: tuple[int, ...] | None, keepdims: bool) -> np.ndarray:
        self.input_shape, self.axis, self.keepdims = x.shape, axis, keepdims
        return x.sum(axis=axis, keepdims=keepdims)  # the method: less dispatch than np.sum

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return expand_reduced(grad, self.axis, self.keepdims, self.input_shape)


class Mean(Function):
    def forward(self, x: np.ndarray, axis: tuple[int, ...] | None, keepdims: bool) -> np.ndarray:
        self.input_shape, self.axis, self.keepdims = x.shape, axis, keepdims
        return x.mean(axis=axis, keepdims=keepdims)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        count = reduced_count(self.input_shape, self.axis)
        return expand_reduced(grad / count, self.axis, self.keepdims, self.input_shape)


# ---------------------------------------------------------------------------- max and min


class Amax(Function):
    """The largest value over ``axis``; tied maxima share the gradient evenly (as ``torch.amax``).

    With ``k`` elements equal to the maximum, each receives ``grad / k``.
    """

    reduce = staticmethod(np.ndarray.max)

    def forward(self, x: np.ndarray, axis: tuple[int, ...] | None, keepdims: bool) -> np.ndarray:
        out = self.reduce(x, axis=axis, keepdims=True)
        self.save_for_backward(x, out)
        self.axis, self.keepdims = axis, keepdims
        return _drop_kept_dims(out, axis, keepdims)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        x, out = self.saved_tensors
        winners = x == out
        share = winners / np.sum(winners, axis=self.axis, keepdims=True, dtype=grad.dtype)
        return share * keep_reduced_dims(grad, self.axis, self.keepdims, x.shape)


class Amin(Amax):
    """The smallest value over ``axis``; tied minima share the gradient evenly (as ``torch.amin``)."""

    reduce = staticmethod(np.ndarray.min)


class TakeAlongDim(Function):
    """The elements of ``x`` at ``indices`` along ``axis``: the values of ``max(dim)``/``min(dim)``.

    ``indices`` has ``x``'s shape with size 1 along ``axis``. The gradient goes to the chosen
    element only, so at ties only the returned index receives it (as PyTorch's ``max(dim)``).
    """

    def forward(self, x: np.ndarray, indices: np.ndarray, axis: int, keepdims: bool) -> np.ndarray:
        self.input_shape, self.indices, self.axis, self.keepdims = x.shape, indices, axis, keepdims
        out = np.take_along_axis(x, indices, axis=axis)
        return out if keepdims else np.squeeze(out, axis)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        grad_x = np.zeros(self.input_shape, dtype=grad.dtype)
        if not self.keepdims:
            grad = np.expand_dims(grad, self.axis)
        np.put_along_axis(grad_x, self.indices, grad, axis=self.axis)
        return grad_x


# ---------------------------------------------------------------------- variance and std


class Var(Function):
    r"""Variance over ``axis`` with Bessel's ``correction``.

    .. math:: \mathrm{var}(x) = \frac{1}{N - c} \sum_i (x_i - \bar x)^2, \qquad
              \frac{\partial\, \mathrm{var}}{\partial x_i} = \frac{2 (x_i - \bar x)}{N - c}
    """

    def forward(self, x: np.ndarray, axis: tuple[int, ...] | None, keepdims: bool,
                correction: float) -> np.ndarray:
        centered = x - np.mean(x, axis=axis, keepdims=True)
        # N - c <= 0 gives inf or nan, as in PyTorch
        self.divisor = max(reduced_count(x.shape, axis) - correction, 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.sum(centered * centered, axis=axis, keepdims=keepdims) / x.dtype.type(self.divisor)
        self.save_for_backward(centered)
        self.axis, self.keepdims = axis, keepdims
        return out

    def backward(self, grad: np.ndarray) -> np.ndarray:
        (centered,) = self.saved_tensors
        grad = keep_reduced_dims(grad, self.axis, self.keepdims, centered.shape)
        with np.errstate(divide="ignore", invalid="ignore"):
            return centered * (grad * (2 / self.divisor) if self.divisor else grad * math.inf)


class Std(Function):
    r"""Standard deviation over ``axis``: ``sqrt(var)``, one node.

    .. math:: \frac{\partial\, \mathrm{std}}{\partial x_i} = \frac{x_i - \bar x}{(N - c)\, \mathrm{std}}

    Where the standard deviation is 0 every ``x_i - mean`` is 0 too, and the gradient is 0 (as
    in PyTorch) rather than ``0 / 0``.
    """

    def forward(self, x: np.ndarray, axis: tuple[int, ...] | None, keepdims: bool,
                correction: float) -> np.ndarray:
        centered = x - np.mean(x, axis=axis, keepdims=True)
        divisor = max(reduced_count(x.shape, axis) - correction, 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.sqrt(np.sum(centered * centered, axis=axis, keepdims=True) / x.dtype.type(divisor))
        self.save_for_backward(centered, out)
        self.divisor, self.axis, self.keepdims = divisor, axis, keepdims
        return _drop_kept_dims(out, axis, keepdims)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        centered, out = self.saved_tensors
        grad = keep_reduced_dims(grad, self.axis, self.keepdims, centered.shape)
        safe_out = np.where(out == 0, 1, out).astype(out.dtype, copy=False)
        with np.errstate(divide="ignore", invalid="ignore"):  # divisor 0 (N <= correction): inf/nan
            return centered * (grad / (safe_out * self.divisor))


# ------------------------------------------------------------------------------- product


class Prod(Function):
    """Product over ``axis``.

    The gradient of each element is the product of the *others*, computed as the product of
    everything before it times everything after it (two cumulative products): exact with zeros
    in the input, where dividing the product by the element would give ``0 / 0``.
    """

    def forward(self, x: np.ndarray, axis: tuple[int, ...] | None, keepdims: bool) -> np.ndarray:
        self.save_for_backward(x)
        self.axis, self.keepdims = axis, keepdims
        return np.prod(x, axis=axis, keepdims=keepdims)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        (x,) = self.saved_tensors
        axis = tuple(range(x.ndim)) if self.axis is None else self.axis
        # Move the reduced dims to the end and flatten them into one of length n.
        kept = [d for d in range(x.ndim) if d not in axis]
        moved = np.transpose(x, kept + list(axis))
        n = math.prod(x.shape[d] for d in axis)  # not reshape's -1: it is ambiguous when a kept dim is 0
        rows: np.ndarray = moved.reshape(moved.shape[:len(kept)] + (n,))
        before = np.ones_like(rows)
        after = np.ones_like(rows)
        if n > 1:
            np.cumprod(rows[..., :-1], axis=-1, out=before[..., 1:])
            after[..., :-1] = np.cumprod(rows[..., :0:-1], axis=-1)[..., ::-1]
        others = (before * after).reshape(moved.shape)
        others = np.transpose(others, np.argsort(kept + list(axis)))
        return others * keep_reduced_dims(grad, self.axis, self.keepdims, x.shape)


# ----------------------------------------------------------------------------- logsumexp


class LogSumExp(Function):
    r"""``log(sum(exp(x)))`` over ``axis``, computed stably by shifting with the maximum.

    .. math:: \mathrm{lse}(x) = m + \log \sum_i e^{x_i - m}, \qquad
              \frac{\partial\, \mathrm{lse}}{\partial x_i} = e^{x_i - \mathrm{lse}(x)}
    """

    def forward(self, x: np.ndarray, axis: tuple[int, ...] | None, keepdims: bool) -> np.ndarray:
        shift = np.max(x, axis=axis, keepdims=True, initial=-math.inf)  # initial: empty slices give -inf
        # all -inf (or inf) slices: no shift, exp handles them (where, not a masked write: a 0-d
        # input gives a numpy scalar)
        shift = np.where(np.isfinite(shift), shift, 0).astype(x.dtype, copy=False)
        with np.errstate(divide="ignore"):  # log(0) = -inf for all -inf slices, as wanted
            log_total = np.log(np.sum(np.exp(x - shift), axis=axis, keepdims=True))
        self.save_for_backward(x, shift, log_total)
        self.axis, self.keepdims = axis, keepdims
        return _drop_kept_dims(log_total + shift, axis, keepdims)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        x, shift, log_total = self.saved_tensors
        # (x - shift) - log_total rather than x - out: out rounds at the scale of the largest
        # logit, which would cost the softmax weights their precision.
        softmax = np.exp((x - shift) - log_total)
        return softmax * keep_reduced_dims(grad, self.axis, self.keepdims, x.shape)


# ---------------------------------------------------------------------------------- norm


class Norm(Function):
    r"""The vector ``p``-norm over ``axis``: ``(sum |x_i|^p)^(1/p)``; ``max |x_i|`` for ``p = inf``.

    .. math:: \frac{\partial \|x\|_p}{\partial x_i} = \mathrm{sign}(x_i)\,
              \frac{|x_i|^{p-1}}{\|x\|_p^{p-1}}

    Where the norm is 0 the gradient is 0 (PyTorch's subgradient), not ``0 / 0``. For
    ``p = inf`` (``-inf``) tied largest (smallest) magnitudes share the gradient evenly.
    ``p = 0`` counts the non-zero elements and has gradient 0.
    """

    def forward(self, x: np.ndarray, axis: tuple[int, ...] | None, keepdims: bool, p: float) -> np.ndarray:
        magnitude = np.abs(x)
        if p == 2:
            out = np.sqrt(np.sum(x * x, axis=axis, keepdims=True))
        elif p == 1:
            out = np.sum(magnitude, axis=axis, keepdims=True)
        elif p == math.inf:
            out = np.max(magnitude, axis=axis, keepdims=True)
        elif p == -math.inf:
            out = np.min(magnitude, axis=axis, keepdims=True)
        elif p == 0:
            out = np.sum(x != 0, axis=axis, keepdims=True).astype(x.dtype)
        else:
            out = np.sum(magnitude ** p, axis=axis, keepdims=True) ** (1 / p)
        self.save_for_backward(x, out)
        self.axis, self.keepdims, self.p = axis, keepdims, p
        return _drop_kept_dims(out, axis, keepdims)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        x, out = self.saved_tensors
        p = self.p
        grad = keep_reduced_dims(grad, self.axis, self.keepdims, x.shape)
        if p == 0:
            return np.zeros(x.shape, dtype=grad.dtype)
        if p == 1:
            return np.sign(x) * grad
        if abs(p) == math.inf:
            winners = np.abs(x) == out
            share = winners / np.sum(winners, axis=self.axis, keepdims=True, dtype=grad.dtype)
            return np.sign(x) * share * grad
        safe_out = np.where(out == 0, 1, out)  # a zero norm means x is 0 here: gradient 0
        if p == 2:
            return x * (grad / safe_out)
        with np.errstate(divide="ignore", invalid="ignore"):
            scaled = np.sign(x) * np.abs(x) ** (p - 1) / safe_out ** (p - 1)
        return np.where(x == 0, 0, scaled) * grad


# -------------------------------------------------------------------------------- cumsum


class CumSum(Function):
    """Running sum along ``axis``; element ``i`` feeds outputs ``i..n-1``, so the gradient is the
    reversed running sum of the output gradient."""

    def forward(self, x: np.ndarray, axis: int) -> np.ndarray:
        self.axis = axis
        return np.cumsum(x, axis=axis)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        reversed_grad = np.flip(grad, self.axis)
        return np.flip(np.cumsum(reversed_grad, axis=self.axis), self.axis)


class ValuesIndices(NamedTuple):
    """What ``max(dim)`` and ``min(dim)`` return, like ``torch.return_types.max``."""

    values: Any
    indices: Any
