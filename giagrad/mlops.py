"""Machine-learning operations: activations, softmax, losses and other fused ops.

Where a composite would need several nodes (log-softmax then NLL, a matmul then a bias add), a
fused ``Function`` computes it in one numpy pass and writes its gradient directly: fewer
temporaries, one node in the graph, and a numerically stable formula.
"""

from __future__ import annotations

import numpy as np

from giagrad.tensor import Function


def stable_sigmoid(x: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-x))`` without overflow: exp only ever sees ``-|x|``."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


class Sigmoid(Function):
    def forward(self, x: np.ndarray) -> np.ndarray:
        out = stable_sigmoid(x)
        self.save_for_backward(out)
        return out

    def backward(self, grad: np.ndarray) -> np.ndarray:
        (out,) = self.saved_tensors
        return grad * out * (1 - out)


class ReLU(Function):
    """``max(x, 0)``; the gradient at 0 is 0, as in PyTorch."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        out = np.maximum(x, 0)
        self.save_for_backward(out)
        return out

    def backward(self, grad: np.ndarray) -> np.ndarray:
        (out,) = self.saved_tensors
        return grad * (out > 0)


# ------------------------------------------------------------------------------ linear


class Linear(Function):
    """``x @ weight.T + bias`` in one node: ``x`` is ``(..., in)``, ``weight`` ``(out, in)``.

    Backward (with ``g`` the output gradient flattened to ``(rows, out)`` and ``x`` to
    ``(rows, in)``): ``grad_x = g @ weight``, ``grad_weight = g.T @ x``, ``grad_bias = g.sum(0)``.
    """

    def forward(self, x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray:
        self.save_for_backward(x, weight)
        out = x @ weight.T
        if bias is not None:
            out += bias  # `out` is a fresh array: adding in place saves a temporary
        return out

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        x, weight = self.saved_tensors
        needs = self.needs_input_grad
        grad_x = grad @ weight if needs[0] else None
        if x.ndim != 2:  # fold the leading dims into rows (a view when contiguous)
            grad = grad.reshape(-1, weight.shape[0])
            x = x.reshape(-1, weight.shape[1])
        grad_weight = grad.T @ x if needs[1] else None
        if len(needs) == 2:
            return grad_x, grad_weight
        return grad_x, grad_weight, grad.sum(0) if needs[2] else None


# ---------------------------------------------------------------------------- softmax


class Softmax(Function):
    """``exp(x - max) / sum(exp(x - max))`` along ``axis``.

    Backward without the Jacobian: ``grad_x = s * (g - sum(g * s))`` (sum along ``axis``).
    """

    def forward(self, x: np.ndarray, axis: int) -> np.ndarray:
        out = x - x.max(axis=axis, keepdims=True)
        np.exp(out, out=out)
        out /= out.sum(axis=axis, keepdims=True)
        self.save_for_backward(out)
        self.axis = axis
        return out

    def backward(self, grad: np.ndarray) -> np.ndarray:
        (out,) = self.saved_tensors
        weighted = grad * out
        weighted -= out * weighted.sum(axis=self.axis, keepdims=True)
        return weighted


class LogSoftmax(Function):
    """``x - max - log(sum(exp(x - max)))`` along ``axis``: finite for any finite logits.

    Backward without the Jacobian: ``grad_x = g - softmax(x) * sum(g)`` (sum along ``axis``).
    """

    def forward(self, x: np.ndarray, axis: int) -> np.ndarray:
        out = x - x.max(axis=axis, keepdims=True)
        out -= np.log(np.exp(out).sum(axis=axis, keepdims=True))
        self.save_for_backward(out)
        self.axis = axis
        return out

    def backward(self, grad: np.ndarray) -> np.ndarray:
        (out,) = self.saved_tensors
        return grad - np.exp(out) * grad.sum(axis=self.axis, keepdims=True)
