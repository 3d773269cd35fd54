"""Gradient clipping: ``clip_grad_norm_`` and ``clip_grad_value_``.

Both change the parameters' ``.grad`` arrays in place (so that gradients kept in an optimizer's
buffer stay there) and skip parameters whose ``.grad`` is None.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from giagrad.tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


def _gradients(parameters: Tensor | Iterable[Tensor]) -> list[np.ndarray]:
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def clip_grad_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float, norm_type: float | str = 2.0,
                    error_if_nonfinite: bool = False) -> Tensor:
    r"""Scale the gradients so that their joint norm is at most ``max_norm``; return the norm before.

    The norm is taken over all gradients together, as if they were one vector. When it exceeds
    ``max_norm``, every gradient is multiplied by the same factor (PyTorch's rule, with its 1e-6
    guard against a zero norm):

    .. math::

        \|g\|_p = \Bigl(\sum_i \sum_j |g_{ij}|^p\Bigr)^{1/p}, \qquad
        g \leftarrow g\cdot\min\Bigl(1,\; \frac{\text{max\_norm}}{\|g\|_p + 10^{-6}}\Bigr)

    Parameters
    ----------
    parameters : Tensor or iterable of Tensor
        Parameters whose ``.grad`` to clip (those without a gradient are skipped).
    max_norm : float
        The largest norm allowed.
    norm_type : float or "inf"
        The order :math:`p` of the norm (default 2); ``inf`` is the largest absolute value.
    error_if_nonfinite : bool
        Raise RuntimeError when the norm is NaN or infinite (otherwise the gradients become NaN,
        as in PyTorch).

    Returns
    -------
    Tensor
        The total norm of the gradients before clipping, a 0-d tensor (as PyTorch returns).

    Examples
    --------
    >>> loss.backward()
    >>> norm = clip_grad_norm_(model.parameters(), max_norm=1.0)
    >>> optimizer.step()
    """
    grads = _gradients(parameters)
    order = float(norm_type)
    if not grads:
        return Tensor(np.zeros((), dtype=np.float32))
    dtype = np.result_type(*grads)
    # One whole-array reduction per gradient; an optimizer keeps them in one buffer anyway.
    if order == math.inf:
        total = float(np.max([np.max(np.abs(g)) if g.size else 0.0 for g in grads]))
    elif order == 2.0:
        squares = 0.0
        for g in grads:
            flat = g.reshape(-1)
            squares += float(np.dot(flat, flat))
        total = math.sqrt(squares)
    elif order == 0.0:
        total = float(sum(int(np.count_nonzero(g)) for g in grads))
    elif order > 0:
        powers = 0.0
        for g in grads:
            powers += float(np.sum(np.abs(g) ** order))
        total = powers ** (1.0 / order)
    else:
        raise ValueError(f"clip_grad_norm_: norm_type must be positive or inf, got {norm_type!r}")
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(
            f"clip_grad_norm_: the total norm of order {order} of the gradients is non-finite ({total}), so it "
            "cannot be clipped; pass error_if_nonfinite=False to clip anyway (the gradients become NaN)"
        )
    coefficient = max_norm / (total + 1e-6)
    if not coefficient >= 1.0:  # NaN scales too, as in PyTorch
        for g in grads:
            np.multiply(g, coefficient, out=g, casting="unsafe")
    return Tensor(np.asarray(total, dtype=dtype))


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float) -> None:
    """Clip every gradient element to ``[-clip_value, clip_value]`` in place.

    Examples
    --------
    >>> loss.backward()
    >>> clip_grad_value_(model.parameters(), clip_value=0.5)
    """
    clip_value = float(clip_value)
    if not clip_value >= 0:
        raise ValueError(f"clip_grad_value_: clip_value must be >= 0, got {clip_value!r}")
    for g in _gradients(parameters):
        np.clip(g, -clip_value, clip_value, out=g)
