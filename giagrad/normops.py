"""Normalization, and the table lookup behind embeddings.

``Normalize`` is the one normalization node: batch, layer and group norm differ only in the axes
their statistics run over (and in where the statistics come from), so ``giagrad.nn.functional``
computes the statistics, keeps running averages where needed, and hands them to this node. The
learnable scale and shift are ordinary elementwise ops after it.
"""

from __future__ import annotations

import numpy as np

from giagrad.tensor import Function


class Normalize(Function):
    """``(x - mean) / sqrt(var + eps)`` with ``mean`` and ``var`` broadcastable to ``x``.

    With ``batch_stats=True`` the statistics are the (biased) mean and variance of ``x`` over
    ``axis``, so they depend on ``x`` and the gradient accounts for it. With ``M`` elements per
    statistic and :math:`\\hat x` the output,

    .. math:: \\frac{\\partial L}{\\partial x} = \\frac{1}{\\sqrt{var + eps}}
              \\left(g - \\overline{g} - \\hat x\\, \\overline{g \\hat x}\\right),

    bars being means over ``axis``. With ``batch_stats=False`` (batch norm in eval mode) they
    are constants and the gradient is ``g / sqrt(var + eps)``.
    """

    def forward(self, x: np.ndarray, *, mean: np.ndarray, var: np.ndarray, eps: float,
                axis: tuple[int, ...], batch_stats: bool) -> np.ndarray:
        inv_std = 1.0 / np.sqrt(var + eps)
        normalized = (x - mean) * inv_std
        self.save_for_backward(normalized, inv_std)
        self.axis, self.batch_stats = axis, batch_stats
        return normalized

    def backward(self, grad: np.ndarray) -> np.ndarray:
        normalized, inv_std = self.saved_tensors
        if not self.batch_stats:
            return grad * inv_std
        axis = self.axis
        mean_grad = grad.mean(axis=axis, keepdims=True)
        mean_grad_normalized = (grad * normalized).mean(axis=axis, keepdims=True)
        return (grad - mean_grad - normalized * mean_grad_normalized) * inv_std


class Embedding(Function):
    """Rows of a table: ``out[...] = weight[indices[...]]``.

    The gradient of each row is the sum of the gradients of every position that looked it up
    (repeated indices accumulate); the row ``padding_idx`` gets none, as in PyTorch.
    """

    def forward(self, weight: np.ndarray, *, indices: np.ndarray, padding_idx: int | None) -> np.ndarray:
        self.save_for_backward(indices)
        self.weight_shape, self.padding_idx = weight.shape, padding_idx
        return weight[indices]

    def backward(self, grad: np.ndarray) -> np.ndarray:
        (indices,) = self.saved_tensors
        grad_weight = np.zeros(self.weight_shape, dtype=grad.dtype)
        np.add.at(grad_weight, indices.reshape(-1), grad.reshape(-1, self.weight_shape[1]))
        if self.padding_idx is not None:
            grad_weight[self.padding_idx] = 0
        return grad_weight
