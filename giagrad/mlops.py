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
