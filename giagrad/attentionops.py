"""Scaled dot-product attention in one node, forward and backward written with numpy matmuls.

Composing attention from small ops (matmul, scale, mask, softmax, dropout, matmul) records six
nodes and keeps six intermediate arrays; one node keeps only the attention weights, and its
backward is four matmuls and one softmax backward. ``giagrad.nn.functional`` checks the
arguments and builds the additive mask; this module trusts them.
"""

from __future__ import annotations

import numpy as np

from giagrad.autograd import Function
from giagrad.kernels import for_row_blocks
from giagrad.mathops import unbroadcast

# Blocks of scores of about 512 KB in float32: each block's few elementwise passes run between
# matrix products, in cache; larger blocks than giagrad.kernels' default cost fewer Python calls.
_BLOCK_ELEMENTS = 1 << 17


def causal_mask(target_length: int, source_length: int, dtype: np.dtype) -> np.ndarray:
    """``(L, S)`` additive mask: 0 where query ``i`` may see key ``j <= i``, ``-inf`` above.

    Aligned to the top-left corner as PyTorch's ``is_causal``: query ``i`` sees keys ``0..i``.
    """
    future = np.triu(np.ones((target_length, source_length), dtype=bool), k=1)
    return np.where(future, np.array(-np.inf, dtype=dtype), np.array(0, dtype=dtype))


# |scores| below this, exp needs no shift: exp(60) * 1e12 keys stays below float32's largest
# number, and exp(-60) well above its smallest normal one (float64: far beyond).
_UNSHIFTED_EXP_LIMIT = {4: 60.0, 8: 600.0}


def _scores_are_small(scaled_q: np.ndarray, k: np.ndarray, mask: np.ndarray | None) -> bool:
    """Whether every finite score ``q . k + mask`` is within the exp limit of the dtype.

    By Cauchy-Schwarz ``|q_i . k_j| <= |q_i| |k_j|``: two cheap passes over q and k (much
    smaller than the scores) bound them all. A mask counts when it holds only 0 and -inf
    (causal or boolean masks; -inf gives exp 0 exactly); other masks take the shifted way.
    """
    limit = _UNSHIFTED_EXP_LIMIT.get(scaled_q.dtype.itemsize)
    if limit is None or not scaled_q.size or not k.size:
        return False
    if mask is not None and not np.all((mask == 0) | np.isneginf(mask)):
        return False
    square_bound = np.einsum("...ij,...ij->...i", scaled_q, scaled_q).max() \
        * np.einsum("...ij,...ij->...i", k, k).max()
    return bool(square_bound < limit * limit)  # nan (a nan input) is not small: the shifted way


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
        self.scale = scale
        length, source = q.shape[-2], k.shape[-2]
        batch = q.shape[:-2]
        self.blocked = (len(batch) > 0 and k.shape[:-2] == batch and v.shape[:-2] == batch
                        and (mask is None or all(n == 1 for n in mask.shape[:-2]))
                        and (dropout_mask is None or dropout_mask.shape[:-2] == batch))
        if not self.blocked:  # broadcast batch dims or a mask per batch: one block of everything
            weights, out = self._attend(q, k, v, mask, dropout_mask)
        else:
            # Blocks along the first batch dim, on several threads for large inputs: every matrix
            # is independent, and each block's scores stay in cache from the matmul through the
            # softmax to the product with v (see giagrad.kernels). Slicing keeps q, k and v views
            # (a transformer's heads are strided views of one projection: no copy).
            square = None if mask is None else mask.reshape(mask.shape[-2:])
            weights = np.empty(batch + (length, source), dtype=q.dtype)
            out = np.empty(batch + (length, v.shape[-1]), dtype=q.dtype)

            def attend_block(rows: slice) -> None:
                self._attend(q[rows], k[rows], v[rows], square, None if dropout_mask is None else dropout_mask[rows],
                             weights[rows], out[rows])

            for_row_blocks(attend_block, batch[0], weights[0].size, _BLOCK_ELEMENTS)
        self.save_for_backward(q, k, v, weights, dropout_mask)
        return out

    def _attend(self, q: np.ndarray, k: np.ndarray, v: np.ndarray, mask: np.ndarray | None,
                dropout_mask: np.ndarray | None, weights: np.ndarray | None = None,
                out: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Softmax weights (into ``weights``) and output (into ``out``) of one block."""
        scaled_q = q * np.asarray(self.scale, dtype=q.dtype)  # q is smaller than q k^T
        scores = np.matmul(scaled_q, np.swapaxes(k, -1, -2), out=weights)
        if mask is not None:
            scores = np.add(scores, mask, out=scores if np.broadcast_shapes(scores.shape, mask.shape)
                            == scores.shape else None)
        if _scores_are_small(scaled_q, k, mask):
            # exp cannot overflow or underflow a visible key to 0: no shift by the row maximum
            # (numpy's max along a short last axis costs more than the rest of the softmax)
            weights = np.exp(scores, out=scores)
        else:
            peak = scores.max(axis=-1, keepdims=True)
            if mask is not None:
                peak[np.isneginf(peak)] = 0  # a row whose keys are all hidden: exp(-inf - 0) = 0 for each
            scores -= peak
            weights = np.exp(scores, out=scores)
        # the row sums as matrix-vector products (BLAS), not numpy's sum along a short axis
        total = (weights @ np.ones(weights.shape[-1], dtype=weights.dtype))[..., None]
        if mask is not None:
            total[total == 0] = 1  # a row whose keys are all hidden gets weights 0 (and output 0), not NaN
        np.reciprocal(total, out=total)
        weights *= total
        kept = weights if dropout_mask is None else weights * dropout_mask
        return weights, np.matmul(kept, v, out=out)

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        q, k, v, weights, dropout_mask = self.saved_tensors
        needs = self.needs_input_grad
        if not self.blocked:
            *grads, grad_scores = self._attend_backward(grad, q, k, v, weights, dropout_mask, needs)
            grads = [None if g is None else unbroadcast(g, x.shape) for g, x in zip(grads, (q, k, v))]
        else:
            grads = [np.empty_like(x) if need else None for x, need in zip((q, k, v), needs)]
            grad_scores = np.empty_like(weights)
            outs = (*grads, grad_scores)

            def attend_backward_block(rows: slice) -> None:
                self._attend_backward(grad[rows], q[rows], k[rows], v[rows], weights[rows],
                                      None if dropout_mask is None else dropout_mask[rows], needs,
                                      *(None if x is None else x[rows] for x in outs))

            for_row_blocks(attend_backward_block, weights.shape[0], weights[0].size, _BLOCK_ELEMENTS)
        if len(needs) == 4:
            grads.append(unbroadcast(grad_scores, self.parents[3].data.shape) if needs[3] else None)
        return tuple(grads)

    def _attend_backward(self, grad: np.ndarray, q: np.ndarray, k: np.ndarray, v: np.ndarray,
                         weights: np.ndarray, dropout_mask: np.ndarray | None, needs: tuple[bool, ...],
                         grad_q: np.ndarray | None = None, grad_k: np.ndarray | None = None,
                         grad_v: np.ndarray | None = None, grad_scores: np.ndarray | None = None
                         ) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None, np.ndarray]:
        """The gradients of one block (into the given arrays, when given)."""
        kept = weights if dropout_mask is None else weights * dropout_mask
        grad_v = np.matmul(np.swapaxes(kept, -1, -2), grad, out=grad_v) if needs[2] else None
        grad_scores = np.matmul(grad, np.swapaxes(v, -1, -2), out=grad_scores)
        if dropout_mask is not None:
            grad_scores *= dropout_mask
        # softmax backward in place: dS = P * (dP - sum(dP * P))
        row_dot = np.einsum("...j,...j->...", grad_scores, weights)[..., None]
        grad_scores -= row_dot
        grad_scores *= weights
        if needs[0]:
            grad_q = np.matmul(grad_scores, k, out=grad_q)
            grad_q *= self.scale
        if needs[1]:
            grad_k = np.matmul(np.swapaxes(grad_scores, -1, -2), q, out=grad_k)
            grad_k *= self.scale
        return grad_q if needs[0] else None, grad_k if needs[1] else None, grad_v, grad_scores
