"""Scaled dot-product attention in one node, forward and backward written with numpy matmuls.

Composing attention from small ops (matmul, scale, mask, softmax, dropout, matmul) records six
nodes and keeps six intermediate arrays; one node keeps only the attention weights, and its
backward is four matmuls and one softmax backward. ``giagrad.nn.functional`` checks the
arguments and builds the additive mask; this module trusts them.
"""

from __future__ import annotations

import numpy as np

from giagrad.autograd import Function
from giagrad.mathops import unbroadcast


def causal_mask(target_length: int, source_length: int, dtype: np.dtype) -> np.ndarray:
    """``(L, S)`` additive mask: 0 where query ``i`` may see key ``j <= i``, ``-inf`` above.

    Aligned to the top-left corner as PyTorch's ``is_causal``: query ``i`` sees keys ``0..i``.
    """
    future = np.triu(np.ones((target_length, source_length), dtype=bool), k=1)
    return np.where(future, np.array(-np.inf, dtype=dtype), np.array(0, dtype=dtype))


class ScaledDotProductAttention(Function):
    r"""``softmax(q k^T * scale + mask) v``, with optional dropout on the attention weights.

    Shapes: ``q (..., L, E)``, ``k (..., S, E)``, ``v (..., S, Ev)``; ``mask`` (optional, an
    additive float array that broadcasts to ``(..., L, S)``, ``-inf`` where a key is hidden) is a
    fourth input so that a learnable bias gets a gradient. With ``P`` the weights, ``D`` the
    dropout mask scaled by ``1 / (1 - p)`` (ones without dropout) and ``g`` the output gradient:

    .. math:: dv = (P D)^T g, \quad dP = (g v^T) D, \quad
              dS = P \odot (dP - \textstyle\sum_j dP \odot P), \quad
              dq = dS\,k \cdot scale, \quad dk = dS^T q \cdot scale, \quad dmask = dS.

    A query whose keys are all hidden gets zero weights (and output 0) rather than NaN, as
    PyTorch's math kernel does.
    """

    def forward(self, q: np.ndarray, k: np.ndarray, v: np.ndarray, mask: np.ndarray | None = None, *,
                scale: float, dropout_mask: np.ndarray | None = None) -> np.ndarray:
        scores = np.matmul(q * np.asarray(scale, dtype=q.dtype), np.swapaxes(k, -1, -2))  # q is smaller than q k^T
        if mask is not None:
            scores = np.add(scores, mask, out=scores if np.broadcast_shapes(scores.shape, mask.shape)
                            == scores.shape else None)
        peak = scores.max(axis=-1, keepdims=True)
        hidden_rows = None
        if mask is not None:
            hidden_rows = np.isneginf(peak)
            if hidden_rows.any():
                peak[hidden_rows] = 0  # exp(-inf - 0) = 0 for every key: the weights become 0
            else:
                hidden_rows = None
        scores -= peak
        weights = np.exp(scores, out=scores)
        total = weights.sum(axis=-1, keepdims=True)
        if hidden_rows is not None:
            total[hidden_rows] = 1
        weights /= total
        kept = weights if dropout_mask is None else weights * dropout_mask
        self.save_for_backward(q, k, v, weights, dropout_mask)
        self.scale = scale
        return np.matmul(kept, v)

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        q, k, v, weights, dropout_mask = self.saved_tensors
        needs = self.needs_input_grad
        kept = weights if dropout_mask is None else weights * dropout_mask
        grad_v = np.matmul(np.swapaxes(kept, -1, -2), grad) if needs[2] else None
        grad_scores = np.matmul(grad, np.swapaxes(v, -1, -2))
        if dropout_mask is not None:
            grad_scores *= dropout_mask
        # softmax backward in place: dS = P * (dP - sum(dP * P))
        row_dot = np.einsum("...j,...j->...", grad_scores, weights)[..., None]
        grad_scores -= row_dot
        grad_scores *= weights
        grad_q = grad_k = None
        if needs[0]:
            grad_q = np.matmul(grad_scores, k)
            grad_q *= self.scale
        if needs[1]:
            grad_k = np.matmul(np.swapaxes(grad_scores, -1, -2), q)
            grad_k *= self.scale
        grads = [unbroadcast(grad_q, q.shape) if grad_q is not None else None,
                 unbroadcast(grad_k, k.shape) if grad_k is not None else None,
                 unbroadcast(grad_v, v.shape) if grad_v is not None else None]
        if len(needs) == 4:
            grads.append(unbroadcast(grad_scores, self.parents[3].data.shape) if needs[3] else None)
        return tuple(grads)
