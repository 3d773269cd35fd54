"""Machine-learning operations: activations, softmax, losses and other fused ops.

Where a composite would need several nodes (log-softmax then NLL, a matmul then a bias add), a
fused ``Function`` computes it in one numpy pass and writes its gradient directly: fewer
temporaries, one node in the graph, and a numerically stable formula.
"""

from __future__ import annotations

import math

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


_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)
_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)
_GELU_CUBIC = 0.044715
# Beyond |x| = 40 (exact form) or 10 (tanh form) GELU's gradient is 0 or 1 to double precision;
# clipping there keeps x * x and x**3 from overflowing float32.
_GELU_EXACT_CLIP = 40.0
_GELU_TANH_CLIP = 10.0


class GELU(Function):
    """``x * Phi(x)`` (``approximate='none'``) or its tanh approximation (``'tanh'``).

    Exact: ``d/dx = Phi(x) + x * phi(x)`` with ``phi`` the Gaussian density. Tanh form:
    ``0.5 * x * (1 + tanh(k * (x + 0.044715 x**3)))`` with ``k = sqrt(2 / pi)``.
    """

    def forward(self, x: np.ndarray, approximate: str) -> np.ndarray:
        self.approximate = approximate
        if approximate == "tanh":
            clipped = np.clip(x, -_GELU_TANH_CLIP, _GELU_TANH_CLIP)
            inner = _SQRT_2_OVER_PI * (clipped + _GELU_CUBIC * clipped * clipped * clipped)
            half_one_plus_tanh = 0.5 * (1 + np.tanh(inner))
            self.save_for_backward(x, half_one_plus_tanh)
            return x * half_one_plus_tanh
        cdf = normal_cdf(x)
        self.save_for_backward(x, cdf)
        return x * cdf

    def backward(self, grad: np.ndarray) -> np.ndarray:
        x, saved = self.saved_tensors
        if self.approximate == "tanh":
            half_one_plus_tanh = saved
            # d tanh(inner) = (1 - tanh**2) = 4 h (1 - h) with h = (1 + tanh) / 2
            clipped = np.clip(x, -_GELU_TANH_CLIP, _GELU_TANH_CLIP)
            inner_slope = _SQRT_2_OVER_PI * (1 + 3 * _GELU_CUBIC * clipped * clipped)
            h = half_one_plus_tanh
            return grad * (h + 2 * clipped * h * (1 - h) * inner_slope)
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
