"""Movement operations: they rearrange elements without computing new values.

Their backward moves the gradient back the same way (reshape back, inverse permutation, ...).
"""

from __future__ import annotations

import numpy as np

from giagrad.tensor import Function


class Reshape(Function):
    def forward(self, x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        self.input_shape = x.shape
        return x.reshape(shape)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return grad.reshape(self.input_shape)


class Permute(Function):
    def forward(self, x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
        self.axes = axes
        return np.transpose(x, axes)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return np.transpose(grad, np.argsort(self.axes))
