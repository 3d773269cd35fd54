"""Reductions: operations that combine many elements into fewer (sum, mean, max, ...).

``axis`` is a tuple of non-negative dims or None (all); the Tensor methods normalise PyTorch's
``dim`` argument to it. Backward broadcasts the output gradient back over the reduced dims.
"""

from __future__ import annotations

import numpy as np

from giagrad.tensor import Function


def expand_reduced(grad: np.ndarray, axis: tuple[int, ...] | None, keepdims: bool,
                   shape: tuple[int, ...]) -> np.ndarray:
    """Broadcast a reduction's output gradient back to the input ``shape``."""
    if not keepdims and axis is not None:
        grad = np.expand_dims(grad, axis)
    return np.broadcast_to(grad, shape)


def reduced_count(shape: tuple[int, ...], axis: tuple[int, ...] | None) -> int:
    """How many input elements fall into each output element."""
    if axis is None:
        return int(np.prod(shape, dtype=np.int64))
    return int(np.prod([shape[a] for a in axis], dtype=np.int64))


class Sum(Function):
    def forward(self, x: np.ndarray, axis: tuple[int, ...] | None, keepdims: bool) -> np.ndarray:
        self.input_shape, self.axis, self.keepdims = x.shape, axis, keepdims
        return np.sum(x, axis=axis, keepdims=keepdims)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return expand_reduced(grad, self.axis, self.keepdims, self.input_shape)


class Mean(Function):
    def forward(self, x: np.ndarray, axis: tuple[int, ...] | None, keepdims: bool) -> np.ndarray:
        self.input_shape, self.axis, self.keepdims = x.shape, axis, keepdims
        return np.mean(x, axis=axis, keepdims=keepdims)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        count = reduced_count(self.input_shape, self.axis)
        return expand_reduced(grad / count, self.axis, self.keepdims, self.input_shape)
