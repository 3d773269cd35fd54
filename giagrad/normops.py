"""Normalization, and the table lookup behind embeddings.

``Normalize`` is the one normalization node: batch, layer and group norm differ only in the axes
their statistics run over (and in where the statistics come from), so ``giagrad.nn.functional``
computes the statistics, keeps running averages where needed, and hands them to this node with
the learnable scale and shift (group norm, whose statistics and parameters group channels
differently, applies its scale and shift as ordinary elementwise ops afterwards). Batch norm
uses ``BatchNorm``, the same node in fewer whole-array passes (its statistics run over exactly
the dims its parameters broadcast over, which lets the sums be shared).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from giagrad import kernels
from giagrad.autograd import Function
from giagrad.mathops import unbroadcast


class Normalize(Function):
    r"""``(x - mean) / sqrt(var + eps) * weight + bias`` in one node; ``weight`` and ``bias`` optional.

    ``mean`` and ``var`` broadcast to ``x``; ``weight`` and ``bias`` are viewed as
    ``affine_shape`` (e.g. ``(1, C, 1, 1)`` for batch norm) to broadcast. With
    ``batch_stats=True`` the statistics are the (biased) mean and variance of ``x`` over
    ``axis``, so they depend on ``x`` and the gradient accounts for it. With ``M`` elements per
    statistic, :math:`\hat x` the normalized input and :math:`\delta = g \cdot weight`,

    .. math:: \frac{\partial L}{\partial x} = \frac{1}{\sqrt{var + eps}}
              \left(\delta - \overline{\delta} - \hat x\, \overline{\delta \hat x}\right),

    bars being means over ``axis``. With ``batch_stats=False`` (batch norm in eval mode) they
    are constants and the gradient is ``delta / sqrt(var + eps)``. Always
    ``d weight = sum(g * x_hat)`` and ``d bias = sum(g)`` over the broadcast dims. When those
    are the statistics' dims (batch norm) the sums are shared, which saves several passes.
    ``mean=None`` and ``var=None`` (layer norm, whose ``axis`` are the trailing dims): the node
    computes the statistics of each row itself, and its backward works on rows, with the row
    sums as matrix-vector products.
    """

    def forward(self, x: np.ndarray, *params: np.ndarray, mean: np.ndarray | None, var: np.ndarray | None,
                eps: float, axis: tuple[int, ...], batch_stats: bool, has_weight: bool = False,
                affine_shape: tuple[int, ...] = ()) -> np.ndarray:
        self.row_count: int | None = None
        if mean is None or var is None:  # layer norm: the statistics of each row of the trailing dims, computed here
            normalized, inv_std = self._normalize_rows(x, len(axis), eps)
        else:
            inv_std = 1.0 / np.sqrt(var + eps)
            normalized = np.subtract(x, mean)
            normalized *= inv_std
        weight, bias = self._keep_options(params, mean, var, eps, axis, batch_stats, has_weight, affine_shape)
        if weight is not None:
            out = normalized * weight
            if bias is not None:
                out += bias
        else:
            out = normalized + bias if bias is not None else normalized
        self.save_for_backward(normalized, inv_std, weight)
        return out

    def _keep_options(self, params: tuple[np.ndarray, ...], mean: np.ndarray | None, var: np.ndarray | None, eps: float,
                      axis: tuple[int, ...], batch_stats: bool, has_weight: bool,
                      affine_shape: tuple[int, ...]) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Remember what backward and an exporter need; return ``weight`` and ``bias`` (or None) viewed
        as ``affine_shape``."""
        self.param_shape = params[0].shape if params else None
        self.axis, self.batch_stats, self.affine_shape = axis, batch_stats, affine_shape
        # what an exporter needs to rebuild the node (eval statistics are buffers: no copy)
        self.eps, self.has_weight, self.statistics = eps, has_weight, None if batch_stats else (mean, var)
        weight = params[0].reshape(affine_shape) if has_weight else None
        bias = params[-1].reshape(affine_shape) if len(params) > has_weight else None
        return weight, bias

    def _normalize_rows(self, x: np.ndarray, trailing: int, eps: float) -> tuple[np.ndarray, np.ndarray]:
        """``(x - mean) / sqrt(var + eps)`` over the last ``trailing`` dims, and ``1 / sqrt(var + eps)``.

        The rows' sums are matrix-vector products (BLAS reads a row once, where numpy's
        reductions along a short last axis crawl), and the variance is that of the centered
        rows (two passes, as accurate as numpy's ``var``): four passes over ``x`` in all.
        """
        width = math.prod(x.shape[x.ndim - trailing:])
        rows = x.reshape(-1, width)
        self.row_count = rows.shape[0]
        averaging = np.full(width, 1 / width, dtype=x.dtype)
        normalized = np.subtract(rows, (rows @ averaging)[:, None])
        var = np.einsum("ij,ij->i", normalized, normalized)
        var *= 1 / width
        var += eps
        inv_std = np.sqrt(var, out=var)
        np.divide(1, inv_std, out=inv_std)
        inv_std = inv_std[:, None]
        normalized *= inv_std
        return normalized.reshape(x.shape), inv_std.reshape(x.shape[:x.ndim - trailing] + (1,) * trailing)

    def _rows_backward(self, grad: np.ndarray, normalized: np.ndarray, inv_std: np.ndarray,
                       weight: np.ndarray | None) -> tuple[np.ndarray | None, ...]:
        """Layer norm's backward on ``(rows, width)`` views: row sums as matrix-vector products."""
        need_x, *need_params = self.needs_input_grad
        shape = normalized.shape
        rows = int(self.row_count or 0)
        grad = grad.reshape(rows, -1)
        normalized = normalized.reshape(rows, -1)
        width = normalized.shape[1]
        inv_std = inv_std.reshape(rows, 1)
        weight = None if weight is None else weight.reshape(width)
        grads: list[np.ndarray | None] = [None]
        grad_normalized = grad * normalized  # the weight's gradient and x's share it
        if weight is not None:
            grads.append(grad_normalized.sum(axis=0).reshape(self.param_shape) if need_params[0] else None)
        if len(need_params) > (weight is not None):
            grads.append(grad.sum(axis=0).reshape(self.param_shape) if need_params[-1] else None)
        if need_x:
            # dx = s (delta - mean(delta) - x_hat mean(delta x_hat)), delta = g * weight
            if weight is None:
                delta = grad * inv_std
                delta_sum = grad.sum(axis=1)
                delta_normalized_sum = grad_normalized.sum(axis=1)
            else:
                delta = grad * weight
                delta *= inv_std
                delta_sum = grad @ weight
                delta_normalized_sum = grad_normalized @ weight
            scale = inv_std[:, 0] * (-1 / width)
            delta_sum *= scale
            delta_normalized_sum *= scale
            correction = np.multiply(normalized, delta_normalized_sum[:, None], out=grad_normalized)
            delta += correction
            delta += delta_sum[:, None]
            grads[0] = delta.reshape(shape)
        return tuple(grads)

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        normalized, inv_std, weight = self.saved_tensors
        if self.row_count is not None:
            return self._rows_backward(grad, normalized, inv_std, weight)
        need_x, *need_params = self.needs_input_grad
        axis, shape = self.axis, normalized.shape
        # Batch norm: the parameters broadcast over exactly the statistics' dims, so the sums
        # of their gradients are also the sums the input gradient needs.
        shares_sums = bool(need_params) and [i for i, n in enumerate(self.affine_shape) if n == 1 and shape[i] != 1] \
            == [i for i in axis if shape[i] != 1]
        grad_sum: Any = None
        grad_normalized_sum: Any = None
        if shares_sums:
            grad_sum = grad.sum(axis=axis, keepdims=True)
            grad_normalized_sum = (grad * normalized).sum(axis=axis, keepdims=True)
        elif need_params:  # only the sums a parameter needs (layer norm without bias: one)
            if len(need_params) > (weight is not None) and need_params[-1]:
                grad_sum = unbroadcast(grad, self.affine_shape)
            if weight is not None and need_params[0]:
                grad_normalized_sum = unbroadcast(grad * normalized, self.affine_shape)
        grad_x = None
        if need_x:
            scale = inv_std if weight is None else inv_std * weight
            if not self.batch_stats:
                grad_x = grad * scale
            elif shares_sums:
                count = normalized.size // grad_sum.size
                grad_x = normalized * (grad_normalized_sum / -count)
                grad_x += grad
                grad_x -= grad_sum / count
                grad_x *= scale
            else:
                delta = grad if weight is None else grad * weight
                grad_x = delta - delta.mean(axis=axis, keepdims=True)
                grad_x -= normalized * (delta * normalized).mean(axis=axis, keepdims=True)
                grad_x *= inv_std
        grads: list[np.ndarray | None] = [grad_x]
        if weight is not None:
            grads.append(grad_normalized_sum.reshape(self.param_shape) if need_params[0] else None)
        if len(need_params) > (weight is not None):
            grads.append(grad_sum.reshape(self.param_shape) if need_params[-1] else None)
        return tuple(grads)


def channel_sums(x: np.ndarray, y: np.ndarray | None, axis: tuple[int, ...]) -> np.ndarray:
    """``sum(x * y)`` (or ``sum(x)``) over ``axis``, keeping dims: one pass, no product array.

    ``np.einsum`` reads both operands in whatever layout they have and multiplies as it sums,
    where ``(x * y).sum(axis)`` would write and read back a whole temporary.
    """
    if y is None:
        return x.sum(axis=axis, keepdims=True)
    letters = "abcdefghijklmnopqrstuvwxyz"[:x.ndim]
    kept = "".join(letter for i, letter in enumerate(letters) if i not in axis)
    sums = np.einsum(f"{letters},{letters}->{kept}", x, y)
    return sums.reshape([1 if i in axis else n for i, n in enumerate(x.shape)])


def batch_statistics(x: np.ndarray, axis: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The mean and biased variance of ``x`` over ``axis`` (kept), and ``x - mean``, in three passes.

    The variance is the mean of ``centered ** 2`` (two passes, no cancellation as with
    ``E[x^2] - E[x]^2``), in ``x``'s dtype: float32 sums of a batch's squares are as exact as
    ``np.var``'s. ``centered`` is what :class:`BatchNorm` needs next, so nothing is computed twice.
    """
    stat_shape = [1 if i in axis else n for i, n in enumerate(x.shape)]
    mean, var = np.empty(stat_shape, dtype=x.dtype), np.empty(stat_shape, dtype=x.dtype)
    centered = np.empty_like(x)  # x's memory layout

    def compute(channels: slice) -> None:
        part = x[:, channels]
        mean[:, channels] = part.mean(axis=axis, keepdims=True)
        np.subtract(part, mean[:, channels], out=centered[:, channels])
        var[:, channels] = channel_sums(centered[:, channels], centered[:, channels], axis)

    kernels.for_channel_blocks(compute, x.shape[1], x.size)
    var /= x.size // var.size
    return mean, var, centered


class BatchNorm(Normalize):
    r"""Batch normalization's node: :class:`Normalize` whose statistics run over the dims its
    parameters broadcast over (all but the channels), computed in fewer passes.

    ``centered`` (``x - mean``, from :func:`batch_statistics` in training) is reused rather than
    recomputed (with constant statistics, in eval, no such array is made: ``x`` is scaled and
    shifted directly). It is saved in place of the normalized input (the same memory): ``x_hat`` is
    ``centered * inv_std``, and every place backward needs it folds ``inv_std`` into a
    per-channel factor instead of a whole-array pass. With ``S_g = sum(g)``,
    ``S_c = sum(g * centered)`` per channel and ``M`` elements per channel:

    .. math:: \frac{\partial L}{\partial x} = s \left(g - \frac{S_g}{M}
              - centered \frac{S_c\, inv\_std^2}{M}\right),\quad s = weight \cdot inv\_std,
              \quad \frac{\partial L}{\partial weight} = S_c\, inv\_std,
              \quad \frac{\partial L}{\partial bias} = S_g.

    Forward is two passes (scale, shift) after the statistics' three; backward is two sums and
    four in-place passes. The attributes an exporter reads are ``Normalize``'s.
    """

    def forward(self, x: np.ndarray, *params: np.ndarray, mean: np.ndarray | None, var: np.ndarray | None,
                eps: float, axis: tuple[int, ...], batch_stats: bool, has_weight: bool = False,
                affine_shape: tuple[int, ...] = (), centered: np.ndarray | None = None) -> np.ndarray:
        if mean is None or var is None:
            raise ValueError("BatchNorm: needs the statistics (mean and var); layer norm is Normalize's")
        inv_std = 1.0 / np.sqrt(var + eps)
        weight, bias = self._keep_options(params, mean, var, eps, axis, batch_stats, has_weight, affine_shape)
        scale = inv_std if weight is None else inv_std * weight
        if centered is None:
            # Constant statistics (eval): x * scale + (bias - mean * scale), without an
            # x - mean array; backward rebuilds x - mean only if the weight needs a gradient.
            source, shift = x, -mean * scale if bias is None else bias - mean * scale
        else:
            source, shift = centered, bias
        out = np.empty_like(source)  # the input's memory layout

        def scale_and_shift(channels: slice) -> None:
            np.multiply(source[:, channels], scale[:, channels], out=out[:, channels])
            if shift is not None:
                out[:, channels] += shift[:, channels]

        kernels.for_channel_blocks(scale_and_shift, x.shape[1], x.size)
        self.save_for_backward(source, inv_std, weight)
        return out

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        centered, inv_std, weight = self.saved_tensors
        need_x, *need_params = self.needs_input_grad
        need_weight = weight is not None and need_params[0]
        if not self.batch_stats and need_weight:  # eval saved x itself
            centered = centered - self.statistics[0]  # type: ignore[index]  # set in eval mode
        need_bias = len(need_params) > (weight is not None) and need_params[-1]
        batch_grad = need_x and self.batch_stats
        grad_sum = np.empty_like(inv_std) if batch_grad or need_bias else None
        grad_centered_sum = np.empty_like(inv_std) if batch_grad or need_weight else None
        grad_x = np.empty_like(centered) if need_x else None
        scale = inv_std if weight is None else inv_std * weight
        count = centered.size // inv_std.size

        def channel_grads(channels: slice) -> None:
            part_grad, part_centered = grad[:, channels], centered[:, channels]
            if grad_sum is not None:
                grad_sum[:, channels] = channel_sums(part_grad, None, self.axis)
            if grad_centered_sum is not None:
                grad_centered_sum[:, channels] = channel_sums(part_grad, part_centered, self.axis)
            if grad_x is None:
                return
            part_scale, part_grad_x = scale[:, channels], grad_x[:, channels]
            if not self.batch_stats:
                np.multiply(part_grad, part_scale, out=part_grad_x)
                return
            # (g - S_g / M - centered * S_c inv_std^2 / M) * scale, in place: no temporaries
            assert grad_sum is not None and grad_centered_sum is not None  # made above when batch_grad
            part_inv_std = inv_std[:, channels]
            np.multiply(part_centered, grad_centered_sum[:, channels] * (part_inv_std * part_inv_std / count),
                        out=part_grad_x)
            part_grad_x += grad_sum[:, channels] / count
            np.subtract(part_grad, part_grad_x, out=part_grad_x)
            part_grad_x *= part_scale

        # every sum and product is per channel: one slice of channels per thread, start to end
        kernels.for_channel_blocks(channel_grads, centered.shape[1], centered.size)
        grads: list[np.ndarray | None] = [grad_x]
        if weight is not None:
            grads.append((grad_centered_sum * inv_std).reshape(self.param_shape) if need_weight else None)
        if len(need_params) > (weight is not None):
            grads.append(grad_sum.reshape(self.param_shape) if need_bias and grad_sum is not None else None)
        return tuple(grads)


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
        flat = indices.reshape(-1)
        if flat.size:
            # Sum the runs of equal indices once sorted: np.add.at does the same sums (in the same
            # order: the sort is stable) about five times slower. Indices are non-negative here
            # (the functional form checks), so each run is a distinct row.
            order = np.argsort(flat, kind="stable")
            sorted_indices = flat[order]
            starts = np.flatnonzero(np.concatenate(([True], sorted_indices[1:] != sorted_indices[:-1])))
            rows = grad.reshape(-1, self.weight_shape[1])[order]
            grad_weight[sorted_indices[starts]] = np.add.reduceat(rows, starts, axis=0)
        if self.padding_idx is not None:
            grad_weight[self.padding_idx] = 0
        return grad_weight
