"""Machine-learning operations: activations, softmax, losses and other fused ops.

Where a composite would need several nodes (log-softmax then NLL, a matmul then a bias add), a
fused ``Function`` computes it in one numpy pass and writes its gradient directly: fewer
temporaries, one node in the graph, and a numerically stable formula.
"""

from __future__ import annotations

import math

import numpy as np

from giagrad.autograd import Function
from giagrad.kernels import as_rows, for_row_blocks


def stable_sigmoid(x: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-x))`` without overflow: exp only ever sees ``-|x|``."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


class Sigmoid(Function):
    promotion = "float"

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


# Activations below follow PyTorch's formulas, including the value of the gradient at kinks.


class LeakyReLU(Function):
    """``x`` where ``x > 0``, else ``negative_slope * x``; the gradient at 0 is ``negative_slope``."""

    def forward(self, x: np.ndarray, negative_slope: float) -> np.ndarray:
        self.save_for_backward(x)
        self.negative_slope = negative_slope
        return np.where(x > 0, x, x * negative_slope)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        (x,) = self.saved_tensors
        return np.where(x > 0, grad, grad * self.negative_slope)


class ELU(Function):
    """``x`` where ``x > 0``, else ``alpha * (exp(x) - 1)``; slope ``out + alpha`` on the left."""

    def forward(self, x: np.ndarray, alpha: float) -> np.ndarray:
        positive = x > 0
        # expm1 of min(x, 0): exact near 0 and never overflows on the discarded positive side
        out = np.where(positive, x, alpha * np.expm1(np.minimum(x, 0)))
        self.save_for_backward(positive, out)
        self.alpha = alpha
        return out

    def backward(self, grad: np.ndarray) -> np.ndarray:
        positive, out = self.saved_tensors
        return np.where(positive, grad, grad * (out + self.alpha))


class CELU(Function):
    """``x`` where ``x > 0``, else ``alpha * (exp(x / alpha) - 1)``; slope ``out / alpha + 1`` on the left."""

    def forward(self, x: np.ndarray, alpha: float) -> np.ndarray:
        positive = x > 0
        out = np.where(positive, x, alpha * np.expm1(np.minimum(x, 0) / alpha))
        self.save_for_backward(positive, out)
        self.alpha = alpha
        return out

    def backward(self, grad: np.ndarray) -> np.ndarray:
        positive, out = self.saved_tensors
        return np.where(positive, grad, grad * (out / self.alpha + 1))


class Softsign(Function):
    """``x / (1 + |x|)``; d/dx is ``1 / (1 + |x|)**2``."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        denominator = 1 + np.abs(x)
        self.save_for_backward(denominator)
        return x / denominator

    def backward(self, grad: np.ndarray) -> np.ndarray:
        (denominator,) = self.saved_tensors
        return grad / (denominator * denominator)


# Chebyshev coefficients of log(erfc(z) / t) + z**2 in u = 2t - 1, t = 2 / (2 + z), for z >= 0.
# Fitted (least squares at 4000 Chebyshev nodes, against 40-digit erfc) for this file; the
# relative error of erfc(z) = t * exp(-z**2 + series) is below 2e-12 for every z >= 0.
_ERFC_CHEBYSHEV = (
    -0.6513268598908547, 0.6419697923564905, 0.019476473204185826, -0.009561514786808608,
    -0.0009465953444820195, 0.0003668394978527487, 4.2523324806726246e-05, -2.0278578112466313e-05,
    -1.6242900045441187e-06, 1.3036558356951573e-06, 1.5626441712493128e-08, -8.52380960499343e-08,
    6.529054404367192e-09, 5.059343569745914e-09, -9.913642028223538e-10, -2.2736521567927816e-10,
    9.646785493328189e-11, 2.393997055205862e-12, -6.885993653457608e-12,
)


def erfc_nonnegative(z: np.ndarray) -> np.ndarray:
    """``erfc(z)`` for ``z >= 0`` with relative error below 2e-12 (numpy has no erf).

    The form ``t * exp(-z**2 + P(t))`` keeps the relative error small far into the tail, where
    ``erfc`` is tiny; ``P`` is a Chebyshev series summed with Clenshaw's recurrence.
    """
    z = np.minimum(z, 40)  # erfc(40) is 0 in float64; keeps z * z from overflowing
    t = 2 / (2 + z)
    u = 2 * t - 1
    two_u = 2 * u
    b1 = b2 = 0.0
    for c in _ERFC_CHEBYSHEV[:0:-1]:
        b1, b2 = two_u * b1 - b2 + c, b1
    series = u * b1 - b2 + _ERFC_CHEBYSHEV[0]
    return t * np.exp(series - z * z)


def normal_cdf(x: np.ndarray) -> np.ndarray:
    """``Phi(x) = (1 + erf(x / sqrt(2))) / 2``, accurate to ~1e-12 relative in both tails."""
    half_tail = 0.5 * erfc_nonnegative(np.abs(x) * (1 / math.sqrt(2)))  # Phi(-|x|)
    return np.where(x < 0, half_tail, 1 - half_tail)


# Hastings' approximation (Abramowitz & Stegun 7.1.26): erfc(z) = t P(t) exp(-z**2), t = 1 / (1 + p z),
# for z >= 0, with an absolute error below 1.5e-7: about float32's resolution near 1.
_ERFC_HASTINGS_P = 0.3275911
_ERFC_HASTINGS = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)


def gelu_float32_block(x: np.ndarray, out: np.ndarray, slope: np.ndarray | None) -> None:
    """The exact GELU of a float32 (or float16) block into ``out``, its slope into ``slope`` (if given).

    With ``m = |x|``, ``t = 1 / (1 + p m / sqrt(2))`` and Hastings' ``erfc`` (absolute error
    below 1.5e-7 in ``erf``, so 4e-7 in ``Phi`` after float32 rounding):
    ``Q = Phi(-m) = t R(t) phi(m)`` with ``R`` a polynomial. Then ``x Phi(x) = max(x, 0) - m Q``
    (no ``1 - Q`` cancels in the left tail, as it does in ``x (1 + erf(x / sqrt(2))) / 2``) and
    the slope is ``Phi(x) + x phi(x) = 1/2 + sign(x) (1/2 - Q + m phi(m))``. Several times less
    work than :func:`normal_cdf`: the exact GELU runs on a transformer's widest activations,
    where float32 holds no more digits anyway. Every step is an in-place ufunc on the block
    (about 20 passes for the value, 6 more for the slope), all in cache when the block is (see
    :mod:`giagrad.kernels`); the sign is copied with integer bit operations, several times
    cheaper than ``np.copysign``.
    """
    magnitude = np.abs(x)
    np.minimum(magnitude, np.finfo(x.dtype).max, out=magnitude)  # inf * Q would be inf * 0
    with np.errstate(over="ignore", under="ignore"):  # x**2 overflows beyond 1.8e19, where exp gives 0 anyway
        density = np.multiply(magnitude, magnitude)
        density *= -0.5
        np.exp(density, out=density)
    density *= _INV_SQRT_2PI  # phi(m)
    t = np.multiply(magnitude, _ERFC_HASTINGS_P / math.sqrt(2))
    t += 1
    np.reciprocal(t, out=t)
    tail = np.multiply(t, _GELU_TAIL_POLYNOMIAL[-1])
    for coefficient in _GELU_TAIL_POLYNOMIAL[-2:0:-1]:
        tail += coefficient
        tail *= t
    tail += _GELU_TAIL_POLYNOMIAL[0]
    tail *= density
    tail *= t  # Q
    if slope is not None:
        np.subtract(0.5, tail, out=slope)
        density *= magnitude
        slope += density  # 1/2 - Q + m phi(m) >= 0: its sign bit is clear
        bits = np.dtype(f"u{x.dtype.itemsize}")
        sign = density.view(bits)  # density is free again
        np.bitwise_and(x.view(bits), bits.type(1 << (8 * x.dtype.itemsize - 1)), out=sign)
        slope_bits = slope.view(bits)
        np.bitwise_or(slope_bits, sign, out=slope_bits)
        slope += 0.5
    tail *= magnitude
    np.maximum(x, 0, out=out)
    out -= tail


_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)
# Q = Phi(-m) = erfc(m / sqrt(2)) / 2 = t P(t) exp(-m**2 / 2) / 2 = t R(t) phi(m): R's coefficients
_GELU_TAIL_POLYNOMIAL = tuple(a * 0.5 * math.sqrt(2 * math.pi) for a in _ERFC_HASTINGS)
_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)
_GELU_CUBIC = 0.044715
# Beyond |x| = 40 (exact form) or 10 (tanh form) GELU's gradient is 0 or 1 to double precision;
# clipping there keeps x * x and x**3 from overflowing float32.
_GELU_EXACT_CLIP = 40.0
_GELU_TANH_CLIP = 10.0


class GELU(Function):
    """``x * Phi(x)`` (``approximate='none'``) or its tanh approximation (``'tanh'``).

    Exact: ``d/dx = Phi(x) + x * phi(x)`` with ``phi`` the Gaussian density; ``Phi`` is accurate
    to ~1e-12 in float64 and to float32's resolution (1e-7) otherwise. Tanh form:
    ``0.5 * x * (1 + tanh(k * (x + 0.044715 x**3)))`` with ``k = sqrt(2 / pi)``.
    """

    def forward(self, x: np.ndarray, approximate: str) -> np.ndarray:
        self.approximate = approximate
        if approximate == "tanh":
            # k x (1 + 0.044715 x**2), computed in place (this runs on the widest activations of
            # a transformer); beyond |x| = 10 tanh is +-1 anyway, and x**3 must not overflow.
            # minimum/maximum: np.clip costs several times more.
            clipped = np.minimum(x, _GELU_TANH_CLIP)
            np.maximum(clipped, -_GELU_TANH_CLIP, out=clipped)
            inner = clipped * clipped
            inner *= _GELU_CUBIC
            inner += 1
            inner *= clipped
            inner *= _SQRT_2_OVER_PI
            tanh = np.tanh(inner, out=inner)
            self.save_for_backward(clipped, tanh)
            out = tanh + 1
            out *= x
            out *= 0.5
            return out
        if x.dtype.itemsize < 8:
            # Fused and blocked: the value and the slope backward needs (which is all it saves)
            rows = as_rows(x)
            out = np.empty(rows.shape, dtype=x.dtype)
            slope = np.empty_like(out) if self.will_backward() else None
            for_row_blocks(lambda block: gelu_float32_block(rows[block], out[block],
                                                            None if slope is None else slope[block]),
                           rows.shape[0], rows.shape[1])
            self.save_for_backward(None if slope is None else slope.reshape(x.shape), None)
            return out.reshape(x.shape)
        cdf = normal_cdf(x)
        self.save_for_backward(x, cdf)
        return x * cdf

    def backward(self, grad: np.ndarray) -> np.ndarray:
        x, saved = self.saved_tensors
        if self.approximate == "tanh":
            # d/dx = (1 + t) / 2 + x (1 - t**2) k (1 + 3 * 0.044715 x**2) / 2, with t the saved tanh
            # and x clipped to +-10 (where 1 - t**2 is 0): in place, in two buffers.
            clipped, tanh = x, saved  # x clipped to +-10 (where 1 - t**2 is 0) by forward
            slope = clipped * clipped
            slope *= 3 * _GELU_CUBIC
            slope += 1
            slope *= clipped
            slope *= 0.5 * _SQRT_2_OVER_PI
            one_minus_square = tanh * tanh
            np.subtract(1, one_minus_square, out=one_minus_square)
            slope *= one_minus_square
            np.multiply(tanh, 0.5, out=one_minus_square)
            slope += one_minus_square
            slope += 0.5
            slope *= grad
            return slope
        if saved is None:  # float32: x is the slope, computed with the forward's value
            return grad * x
        cdf = saved
        clipped = np.clip(x, -_GELU_EXACT_CLIP, _GELU_EXACT_CLIP)
        return grad * (cdf + clipped * _INV_SQRT_2PI * np.exp(-0.5 * clipped * clipped))


class SiLU(Function):
    """``x * sigmoid(x)`` (swish); ``d/dx = s * (1 + x * (1 - s))`` with ``s = sigmoid(x)``."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        s = stable_sigmoid(x)
        self.save_for_backward(x, s)
        return x * s

    def backward(self, grad: np.ndarray) -> np.ndarray:
        x, s = self.saved_tensors
        return grad * s * (1 + x * (1 - s))


class Mish(Function):
    """``x * tanh(softplus(x))``; ``d/dx = tanh(sp) + x * (1 - tanh(sp)**2) * sigmoid(x)``."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        tanh_softplus = np.tanh(np.logaddexp(0, x))
        self.save_for_backward(x, tanh_softplus)
        return x * tanh_softplus

    def backward(self, grad: np.ndarray) -> np.ndarray:
        x, tanh_softplus = self.saved_tensors
        return grad * (tanh_softplus + x * (1 - tanh_softplus * tanh_softplus) * stable_sigmoid(x))


class Softplus(Function):
    """``log(1 + exp(beta * x)) / beta``, and ``x`` itself where ``beta * x > threshold``."""

    def forward(self, x: np.ndarray, beta: float, threshold: float) -> np.ndarray:
        scaled = x * beta if beta != 1 else x
        self.save_for_backward(scaled)
        self.threshold = threshold
        # logaddexp(0, z) = log(1 + exp(z)) without overflow
        soft = np.logaddexp(0, scaled)
        if beta != 1:
            soft /= beta
        return np.where(scaled > threshold, x, soft)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        (scaled,) = self.saved_tensors
        return np.where(scaled > self.threshold, grad, grad * stable_sigmoid(scaled))


class Hardtanh(Function):
    """``clip(x, min_val, max_val)``; the gradient is 1 strictly inside, 0 at and beyond the ends."""

    def forward(self, x: np.ndarray, min_val: float, max_val: float) -> np.ndarray:
        self.save_for_backward((x > min_val) & (x < max_val))
        return np.clip(x, min_val, max_val)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        (inside,) = self.saved_tensors
        return grad * inside


class Hardswish(Function):
    """``x * clip(x + 3, 0, 6) / 6``; slope 0 up to -3, then ``x / 3 + 1/2``, and 1 from 3 on."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.save_for_backward(x)
        return x * np.clip(x + 3, 0, 6) * (1 / 6)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        (x,) = self.saved_tensors
        slope = np.where(x <= -3, 0, np.where(x < 3, x * (1 / 3) + 0.5, 1))
        return grad * slope


# ------------------------------------------------------------------------------ linear


def _rows(x: np.ndarray) -> np.ndarray:
    """``x`` with its leading dims folded into rows (a 1-D or 2-D array unchanged)."""
    return x.reshape(-1, x.shape[-1]) if x.ndim > 2 else x


class Linear(Function):
    """``x @ weight.T + bias`` in one node: ``x`` is ``(..., in)``, ``weight`` ``(out, in)``.

    Backward (with ``g`` the output gradient flattened to ``(rows, out)`` and ``x`` to
    ``(rows, in)``): ``grad_x = g @ weight``, ``grad_weight = g.T @ x``, ``grad_bias = g.sum(0)``.
    """

    def forward(self, x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray:
        self.save_for_backward(x, weight)
        # (batch, length, in) @ (in, out) runs as one matrix product over batch * length rows:
        # numpy would otherwise loop over the batch with one small product each (4x slower).
        out = _rows(x) @ weight.T
        if bias is not None:
            out += bias  # `out` is a fresh array: adding in place saves a temporary
        return out.reshape(x.shape[:-1] + (weight.shape[0],)) if x.ndim > 2 else out

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        x, weight = self.saved_tensors
        needs = self.needs_input_grad
        if x.ndim != 2:  # fold the leading dims into rows (a view when contiguous)
            grad = grad.reshape(-1, weight.shape[0])
            x = x.reshape(-1, weight.shape[1])
        grad_x = (grad @ weight).reshape(self.parents[0].data.shape) if needs[0] else None
        # Straight into the parameters' gradient storage when they have one (an optimizer's buffer).
        grad_weight = np.matmul(grad.T, x, out=self.grad_storage_of(1)) if needs[1] else None
        if len(needs) == 2:
            return grad_x, grad_weight
        return grad_x, grad_weight, np.sum(grad, axis=0, out=self.grad_storage_of(2)) if needs[2] else None


# ---------------------------------------------------------------------------- softmax


class Softmax(Function):
    """``exp(x - max) / sum(exp(x - max))`` along ``axis``.

    Backward without the Jacobian: ``grad_x = s * (g - sum(g * s))`` (sum along ``axis``).
    """

    def forward(self, x: np.ndarray, axis: int | None) -> np.ndarray:
        # asarray: for a 0-d input numpy returns a scalar, which `out=` cannot write into
        # initial: a 0-size input has no maximum (its softmax is empty, as in PyTorch)
        out = np.asarray(x - x.max(axis=axis, keepdims=True, initial=-np.inf))
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

    def forward(self, x: np.ndarray, axis: int | None) -> np.ndarray:
        out = np.asarray(x - x.max(axis=axis, keepdims=True, initial=-np.inf))
        if out.size:  # an empty input has an empty result: no log of an empty sum (and its warning)
            out -= np.log(np.exp(out).sum(axis=axis, keepdims=True))
        self.save_for_backward(out)
        self.axis = axis
        return out

    def backward(self, grad: np.ndarray) -> np.ndarray:
        (out,) = self.saved_tensors
        return grad - np.exp(out) * grad.sum(axis=self.axis, keepdims=True)


# -------------------------------------------------------------------------------- losses
# Every loss takes `reduction` ('mean', 'sum' or 'none'); targets are the second input, so that
# a floating target that requires grad gets its gradient (class indices never do).


def reduce_loss(loss: np.ndarray, reduction: str) -> np.ndarray:
    """Apply a loss reduction: the mean or sum of all elements, or the elements themselves."""
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def spread_reduced_grad(grad: np.ndarray, reduction: str, shape: tuple[int, ...]) -> np.ndarray:
    """The gradient of each element of an unreduced loss of ``shape``, from the reduced one's."""
    if reduction == "none":
        return grad
    if reduction == "mean":
        grad = grad / max(math.prod(shape), 1)
    return np.broadcast_to(grad, shape)


def _difference_grads(fn: Function, grad_of_difference: np.ndarray) -> tuple[np.ndarray | None, ...]:
    # For losses of d = input - target: d/d input = +g, d/d target = -g.
    need_input, need_target = fn.needs_input_grad
    return (grad_of_difference if need_input else None, -grad_of_difference if need_target else None)


class MSELoss(Function):
    """``(input - target) ** 2``, reduced; the slope is ``2 * (input - target)``."""

    def forward(self, x: np.ndarray, target: np.ndarray, reduction: str) -> np.ndarray:
        difference = x - target
        self.save_for_backward(difference)
        self.reduction = reduction
        return reduce_loss(difference * difference, reduction)

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        (difference,) = self.saved_tensors
        grad = spread_reduced_grad(grad, self.reduction, difference.shape)
        return _difference_grads(self, 2 * grad * difference)


class L1Loss(Function):
    """``|input - target|``, reduced; the slope is ``sign(input - target)`` (0 where they are equal)."""

    def forward(self, x: np.ndarray, target: np.ndarray, reduction: str) -> np.ndarray:
        difference = x - target
        self.save_for_backward(difference)
        self.reduction = reduction
        return reduce_loss(np.abs(difference), reduction)

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        (difference,) = self.saved_tensors
        grad = spread_reduced_grad(grad, self.reduction, difference.shape)
        return _difference_grads(self, grad * np.sign(difference))


class SmoothL1Loss(Function):
    """``0.5 d**2 / beta`` where ``|d| < beta``, else ``|d| - 0.5 beta`` (``d = input - target``).

    The slope is ``clip(d / beta, -1, 1)``; ``beta = 0`` is the L1 loss.
    """

    def forward(self, x: np.ndarray, target: np.ndarray, reduction: str, beta: float) -> np.ndarray:
        difference = x - target
        self.save_for_backward(difference)
        self.reduction, self.beta = reduction, beta
        size = np.abs(difference)
        if beta == 0:
            return reduce_loss(size, reduction)
        return reduce_loss(np.where(size < beta, (0.5 / beta) * difference * difference, size - 0.5 * beta),
                           reduction)

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        (difference,) = self.saved_tensors
        grad = spread_reduced_grad(grad, self.reduction, difference.shape)
        if self.beta == 0:
            return _difference_grads(self, grad * np.sign(difference))
        return _difference_grads(self, grad * np.clip(difference * (1 / self.beta), -1, 1))


class HuberLoss(Function):
    """``0.5 d**2`` where ``|d| <= delta``, else ``delta * (|d| - 0.5 delta)``; slope ``clip(d, -delta, delta)``."""

    def forward(self, x: np.ndarray, target: np.ndarray, reduction: str, delta: float) -> np.ndarray:
        difference = x - target
        self.save_for_backward(difference)
        self.reduction, self.delta = reduction, delta
        size = np.abs(difference)
        loss = np.where(size < delta, 0.5 * difference * difference, delta * (size - 0.5 * delta))
        return reduce_loss(loss, reduction)

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        (difference,) = self.saved_tensors
        grad = spread_reduced_grad(grad, self.reduction, difference.shape)
        return _difference_grads(self, grad * np.clip(difference, -self.delta, self.delta))


class KLDivLoss(Function):
    """``target * (log(target) - input)`` (``0`` where ``target == 0``) with ``input`` log-probabilities.

    With ``log_target`` the target is given as log-probabilities too: ``exp(t) * (t - input)``.
    ``reduction='batchmean'`` divides the sum by the batch size ``input.shape[0]``. The gradient
    with respect to a probability target is ``log(target) + 1 - input``: ``-inf`` where the target
    is 0 (PyTorch gives nan there).
    """

    def forward(self, x: np.ndarray, target: np.ndarray, reduction: str, log_target: bool) -> np.ndarray:
        self.reduction, self.log_target = reduction, log_target
        if log_target:
            target_probability = np.exp(target)
            loss = target_probability * (target - x)
        else:
            target_probability = target
            positive = target > 0
            # xlogy: 0 * log(0) is 0
            loss = np.where(positive, target * np.log(np.where(positive, target, 1)), 0) - target * x
        self.save_for_backward(x, target, target_probability)
        if reduction == "batchmean":
            return loss.sum() / (x.shape[0] if x.ndim else 1)
        return reduce_loss(loss, reduction)

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        x, target, target_probability = self.saved_tensors
        if self.reduction == "batchmean":
            grad = np.broadcast_to(grad / (x.shape[0] if x.ndim else 1), x.shape)
        else:
            grad = spread_reduced_grad(grad, self.reduction, x.shape)
        need_input, need_target = self.needs_input_grad
        grad_input = -grad * target_probability if need_input else None
        grad_target = None
        if need_target:
            if self.log_target:
                grad_target = grad * target_probability * (target - x + 1)
            else:
                with np.errstate(divide="ignore"):  # d(t log t)/dt is -inf at t = 0, as in PyTorch
                    grad_target = grad * (np.log(target) + 1 - x)
        return grad_input, grad_target


_LOG_CLAMP = -100.0  # PyTorch's binary_cross_entropy clamps log(p) and log(1 - p) at -100
_BCE_EPSILON = 1e-12  # and keeps p (1 - p) >= 1e-12 in the gradient


class BCELoss(Function):
    """``-weight * (y log(p) + (1 - y) log(1 - p))``, logs clamped at -100 as in PyTorch.

    ``d/dp = weight * (p - y) / max(p (1 - p), 1e-12)``;
    ``d/dy = weight * (log(1 - p) - log(p))`` (clamped logs).
    """

    def forward(self, p: np.ndarray, y: np.ndarray, weight: np.ndarray | None, reduction: str) -> np.ndarray:
        with np.errstate(divide="ignore"):  # log(0) is -inf, then clamped
            log_p = np.maximum(np.log(p), _LOG_CLAMP)
            log_not_p = np.maximum(np.log1p(-p), _LOG_CLAMP)
        loss = -(log_not_p + y * (log_p - log_not_p))
        if weight is not None:
            loss *= weight
        self.save_for_backward(p, y, weight, log_p, log_not_p)
        self.reduction = reduction
        return reduce_loss(loss, reduction)

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        p, y, weight, log_p, log_not_p = self.saved_tensors
        grad = spread_reduced_grad(grad, self.reduction, p.shape)
        if weight is not None:
            grad = grad * weight
        need_input, need_target = self.needs_input_grad
        grad_input = grad * (p - y) / np.maximum(p * (1 - p), _BCE_EPSILON) if need_input else None
        grad_target = grad * (log_not_p - log_p) if need_target else None
        return grad_input, grad_target


class BCEWithLogitsLoss(Function):
    """Binary cross-entropy on logits ``x``, stable for any ``x``.

    ``loss = weight * ((1 - y) x + l softplus(-x))`` with ``l = 1 + (pos_weight - 1) y``
    (``l = 1`` without ``pos_weight``), which is ``-weight (pos_weight y log s + (1 - y) log(1 - s))``
    for ``s = sigmoid(x)``. ``d/dx = weight * (l s - pos_weight y)``;
    ``d/dy = weight * ((pos_weight - 1) softplus(-x) - x)``.
    """

    def forward(self, x: np.ndarray, y: np.ndarray, weight: np.ndarray | None, pos_weight: np.ndarray | None,
                reduction: str) -> np.ndarray:
        softplus_neg = np.logaddexp(0, -x)  # log(1 + exp(-x)) without overflow
        if pos_weight is None:
            log_weight = None
            loss = (1 - y) * x + softplus_neg
        else:
            log_weight = 1 + (pos_weight - 1) * y
            loss = (1 - y) * x + log_weight * softplus_neg
        if weight is not None:
            loss *= weight
        self.save_for_backward(x, y, weight, pos_weight, log_weight, softplus_neg)
        self.reduction = reduction
        return reduce_loss(loss, reduction)

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        x, y, weight, pos_weight, log_weight, softplus_neg = self.saved_tensors
        grad = spread_reduced_grad(grad, self.reduction, x.shape)
        if weight is not None:
            grad = grad * weight
        need_input, need_target = self.needs_input_grad
        grad_input = grad_target = None
        if need_input:
            s = stable_sigmoid(x)
            slope = s - y if pos_weight is None else log_weight * s - pos_weight * y
            grad_input = grad * slope
        if need_target:
            slope = -x if pos_weight is None else (pos_weight - 1) * softplus_neg - x
            grad_target = grad * slope
        return grad_input, grad_target


# Classification losses work on 2-D (rows, classes) arrays; (N, C, d1, ...) inputs are viewed as
# N * d1 * ... rows with the class axis last, and (C,) inputs as one row.


def classes_last(x: np.ndarray) -> np.ndarray:
    """``(N, C, d1, ...)`` -> ``(N * d1 * ..., C)``; ``(N, C)`` unchanged; ``(C,)`` -> ``(1, C)``."""
    if x.ndim == 2:
        return x
    if x.ndim == 1:
        return x[None, :]
    return np.moveaxis(x, 1, -1).reshape(-1, x.shape[1])


def row_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """The shape of a per-row loss for an input of ``shape``: ``(N, d1, ...)``, or ``()`` for ``(C,)``."""
    return shape[:1] + shape[2:] if len(shape) > 1 else ()


def classes_back(rows: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Undo ``classes_last``: ``rows`` of shape ``(M, C)`` back to the input ``shape``."""
    if len(shape) == 2:
        return rows
    if len(shape) == 1:
        return rows[0]
    return np.moveaxis(rows.reshape((shape[0],) + shape[2:] + (shape[1],)), -1, 1)


class _ClassTargets:
    """Class-index targets as rows: the safe index, the weight and the mask of each row.

    ``row_weight`` is ``weight[target]`` with 0 for ignored rows, or None when every row counts
    once (no class weights, nothing ignored: the common case skips the multiplications).
    """

    def __init__(self, target: np.ndarray, weight: np.ndarray | None, ignore_index: int, dtype: np.dtype) -> None:
        index = target.reshape(-1)
        valid = index != ignore_index
        self.all_valid = bool(valid.all())
        if not self.all_valid:
            index = np.where(valid, index, 0)  # any class will do: the row's weight is 0
        self.index = index
        self.valid = valid
        if weight is not None:
            self.row_weight = weight[index] if self.all_valid else weight[index] * valid
        elif not self.all_valid:
            self.row_weight = valid.astype(dtype)
        else:
            self.row_weight = None
        self.total_weight = float(index.size) if self.row_weight is None else float(self.row_weight.sum())

    def zero_ignored(self, per_row: np.ndarray) -> None:
        """Set ignored rows to 0 in place: never read, so even nan logits there cannot leak (as PyTorch)."""
        if not self.all_valid:
            per_row[~self.valid] = 0


def _row_grad_scale(grad: np.ndarray, reduction: str, normaliser: float) -> np.ndarray | float:
    """Each row's share of the output gradient: ``g / normaliser`` for the mean, ``g`` otherwise."""
    if reduction == "none":
        return grad.reshape(-1)
    if reduction == "mean":
        # When every target is ignored the mean is 0/0 = nan (as in PyTorch) and no row gets a gradient.
        return grad / normaliser if normaliser != 0 else np.zeros_like(grad)
    return grad


def _reduce_rows(per_row: np.ndarray, reduction: str, normaliser: float, target_shape: tuple[int, ...]) -> np.ndarray:
    if reduction == "none":
        return per_row.reshape(target_shape)
    total = per_row.sum()
    if reduction == "sum":
        return total
    if normaliser == 0:  # every target ignored (or weighted 0): 0 / 0, as in PyTorch
        return np.full((), np.nan, dtype=per_row.dtype)
    return total * (1 / normaliser)


class NLLLoss(Function):
    """Negative log-likelihood ``-weight[t] * input[t]`` of log-probabilities and class indices.

    The mean divides by the sum of the weights of the targets that are not ``ignore_index``.
    """

    def forward(self, log_probs: np.ndarray, target: np.ndarray, weight: np.ndarray | None, ignore_index: int,
                reduction: str) -> np.ndarray:
        rows = classes_last(log_probs)
        targets = _ClassTargets(target, weight, ignore_index, log_probs.dtype)
        per_row = -rows[np.arange(rows.shape[0]), targets.index]
        if targets.row_weight is not None:
            per_row *= targets.row_weight
        targets.zero_ignored(per_row)
        self.save_for_backward(targets)
        self.shape, self.dtype, self.reduction = log_probs.shape, log_probs.dtype, reduction
        return _reduce_rows(per_row, reduction, targets.total_weight, target.shape)

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        (targets,) = self.saved_tensors
        scale = _row_grad_scale(grad, self.reduction, targets.total_weight)
        if targets.row_weight is not None:
            scale = scale * targets.row_weight
        count = targets.index.size
        rows = np.zeros((count, self.shape[1] if len(self.shape) > 1 else self.shape[0]), dtype=self.dtype)
        rows[np.arange(count), targets.index] = -scale
        return classes_back(rows, self.shape), None


class CrossEntropyLoss(Function):
    """Cross-entropy of logits against class indices or class probabilities, in one stable node.

    With ``log p = log_softmax(x)`` (computed with the max subtracted) and a target distribution
    ``q`` per row (a one-hot row for a class index, mixed with ``label_smoothing / C`` and scaled
    by the class weights), the loss of a row is ``-sum_c q_c log p_c`` and its gradient is
    ``p * sum_c q_c - q``. For class indices the mean divides by the total weight of the
    targets that are not ``ignore_index``; for probabilities, by the number of rows.
    """

    def forward(self, logits: np.ndarray, target: np.ndarray, weight: np.ndarray | None, ignore_index: int,
                label_smoothing: float, reduction: str) -> np.ndarray:
        rows = classes_last(logits)
        count, classes = rows.shape
        shifted = rows - rows.max(axis=1, keepdims=True)
        exp_shifted = np.exp(shifted)
        sums = exp_shifted.sum(axis=1, keepdims=True)
        log_sums = np.log(sums)
        self.shape, self.reduction, self.smoothing, self.weight = logits.shape, reduction, label_smoothing, weight
        self.probabilities = target.dtype.kind == "f"
        if self.probabilities:
            distribution = classes_last(target)
            if label_smoothing:
                distribution = distribution * (1 - label_smoothing) + label_smoothing / classes
            if weight is not None:
                distribution = distribution * weight
            log_probs = shifted - log_sums
            per_row = -(distribution * log_probs).sum(axis=1)
            self.save_for_backward(exp_shifted, sums, distribution, log_probs)
            return _reduce_rows(per_row, reduction, float(count), row_shape(logits.shape))
        targets = _ClassTargets(target, weight, ignore_index, logits.dtype)
        # -log p[t] = log(sum exp(shifted)) - shifted[t]
        per_row = log_sums[:, 0] - shifted[np.arange(count), targets.index]
        if targets.row_weight is not None:
            per_row *= targets.row_weight
        if label_smoothing:
            # the uniform part: -sum_c weight_c log p_c / C, zero for ignored rows
            log_probs = shifted - log_sums
            smooth = -(log_probs.sum(axis=1) if weight is None else log_probs @ weight)
            per_row = (1 - label_smoothing) * per_row + (label_smoothing / classes) * smooth
        targets.zero_ignored(per_row)
        self.save_for_backward(exp_shifted, sums, targets)
        return _reduce_rows(per_row, reduction, targets.total_weight, target.shape)

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        if self.probabilities:
            return self._probability_backward(grad)
        exp_shifted, sums, targets = self.saved_tensors
        count, classes = exp_shifted.shape
        scale = _row_grad_scale(grad, self.reduction, targets.total_weight)  # scalar or (rows,)
        smoothing, weight = self.smoothing, self.weight
        # q = (1 - eps) row_weight one_hot(t) + eps / C * weight (times valid); Q = sum_c q_c
        hot = scale if targets.row_weight is None else scale * targets.row_weight
        if smoothing:
            hot = (1 - smoothing) * hot
            spread = scale * (smoothing / classes)
            if not targets.all_valid:
                spread = spread * targets.valid
            total = hot + spread * (classes if weight is None else float(weight.sum()))
        else:
            total = hot
        total = np.reshape(total, (-1, 1)) if np.ndim(total) else total
        rows = exp_shifted * (total / sums)  # p * Q
        rows[np.arange(count), targets.index] -= hot
        if smoothing:
            uniform = np.reshape(spread, (-1, 1)) if np.ndim(spread) else spread
            rows -= uniform if weight is None else uniform * weight
        targets.zero_ignored(rows)
        return classes_back(rows, self.shape), None

    def _probability_backward(self, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        exp_shifted, sums, distribution, log_probs = self.saved_tensors
        scale = _row_grad_scale(grad, self.reduction, float(exp_shifted.shape[0]))
        scale = np.reshape(scale, (-1, 1)) if np.ndim(scale) else scale
        need_input, need_target = self.needs_input_grad
        grad_input = grad_target = None
        if need_input:
            total = distribution.sum(axis=1, keepdims=True)
            grad_input = classes_back(scale * (exp_shifted * (total / sums) - distribution), self.shape)
        if need_target:
            # d loss / d target_c = -(1 - eps) weight_c log p_c
            slope = log_probs * -(1 - self.smoothing)
            if self.weight is not None:
                slope *= self.weight
            grad_target = classes_back(scale * slope, self.shape)
        return grad_input, grad_target
