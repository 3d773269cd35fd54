"""Check analytic gradients against central finite differences (public: check your own ops).

For an op ``f`` and a fixed random direction ``v`` of the output's shape, backward gives
``J^T v`` for every input. The same vector is estimated by perturbing each input element by
``±eps`` and measuring ``(f(x + eps) - f(x - eps)) · v / (2 eps)``. A wrong gradient differs
from the estimate in almost every random direction, so one direction checks the whole Jacobian.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from giagrad.grad_mode import enable_grad, no_grad
from giagrad.tensor import Tensor

__all__ = ["gradcheck", "GradcheckError"]


class GradcheckError(AssertionError):
    """An analytic gradient disagrees with the finite-difference estimate."""


def gradcheck(
    fn: Callable[..., Tensor],
    inputs: Tensor | Sequence[Any],
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    seed: int = 0,
) -> bool:
    """Compare the gradients of ``fn(*inputs)`` with central finite differences.

    Parameters
    ----------
    fn : callable
        Takes the inputs and returns a Tensor (any shape).
    inputs : Tensor or sequence
        The arguments of ``fn``. Tensors with ``requires_grad=True`` are checked and must be
        float64 (finite differences in float32 are too coarse to tell right from wrong);
        anything else is passed through unchanged.
    eps : float
        The finite-difference step.
    atol, rtol : float
        An element passes when ``|analytic - numeric| <= atol + rtol * |numeric|``.
    seed : int
        Seed of the random output direction.

    Returns
    -------
    bool
        True when every gradient matches.

    Raises
    ------
    GradcheckError
        Naming the input, the worst element, both values and the tolerance.

    Examples
    --------
    >>> x = giagrad.randn(3, 4, dtype="float64", requires_grad=True)
    >>> giagrad.gradcheck(lambda t: (t * t).sum(dim=1), [x])
    True
    """
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    checked = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad, so there is nothing to check")
    for i in checked:
        if inputs[i].dtype != np.float64:
            raise TypeError(
                f"gradcheck: input {i} is {inputs[i].dtype}; use float64 inputs "
                "(finite differences in float32 cannot separate right from wrong)"
            )

    with enable_grad():
        out = fn(*inputs)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: fn must return a Tensor, got {type(out).__name__}")
    direction = np.random.default_rng(seed).standard_normal(out.shape)

    for i in checked:
        inputs[i].grad = None
    if out.requires_grad:
        out.backward(direction)
    analytic = [inputs[i].grad if inputs[i].grad is not None else np.zeros(inputs[i].shape)
                for i in checked]

    def projected(*args: Any) -> float:
        with no_grad():
            return float(np.sum(np.asarray(fn(*args).data, dtype=np.float64) * direction))

    for position, i in enumerate(checked):
        original = inputs[i]
        values = original.data.copy()  # contiguous copy: perturb elements by flat index
        flat = values.reshape(-1)
        numeric = np.zeros(values.size)
        for k in range(values.size):
            saved = flat[k]
            flat[k] = saved + eps
            plus = projected(*_replace(inputs, i, values))
            flat[k] = saved - eps
            minus = projected(*_replace(inputs, i, values))
            flat[k] = saved
            numeric[k] = (plus - minus) / (2 * eps)
        got = np.asarray(analytic[position], dtype=np.float64).reshape(-1)
        # As PyTorch's gradcheck: matching NaNs (and equal infinities) agree.
        agree = np.isclose(got, numeric, rtol=rtol, atol=atol, equal_nan=True)
        if not np.all(agree):
            error = np.where(agree, -np.inf, np.abs(got - numeric) - (atol + rtol * np.abs(numeric)))
            worst = int(np.argmax(np.where(np.isnan(error), np.inf, error)))
            index = tuple(int(k) for k in np.unravel_index(worst, values.shape))
            raise GradcheckError(
                f"gradcheck: gradient of input {i} (shape {values.shape}) is wrong at {index}: "
                f"analytic {got[worst]:.8g}, numeric {numeric[worst]:.8g} "
                f"(atol {atol}, rtol {rtol})"
            )
    return True


def _replace(inputs: list[Any], index: int, values: np.ndarray) -> list[Any]:
    # A fresh, graph-free tensor for the perturbed input; the others are passed unchanged.
    replaced = list(inputs)
    replaced[index] = Tensor(values)
    return replaced
