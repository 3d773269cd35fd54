"""RMSprop: divide the gradient by a running root mean square of its recent values."""

from __future__ import annotations

from typing import Any

import numpy as np

from giagrad.optim.optimizer import Optimizer, Params, effective_grad, plain_grad

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    r"""RMSprop (Hinton's lecture notes; centered form from Graves, 2013), as ``torch.optim.RMSprop``.

    Parameters
    ----------
    params : iterable of Tensor or of dict
        Parameters, or parameter groups.
    lr : float
        Learning rate :math:`\gamma` (default 1e-2).
    alpha : float
        Smoothing constant :math:`\alpha` of the squared-gradient average (default 0.99).
    eps : float
        :math:`\epsilon`, added to the root (default 1e-8).
    weight_decay : float
        L2 penalty :math:`\lambda` added to the gradient (default 0).
    momentum : float
        Momentum factor :math:`\mu` (default 0).
    centered : bool
        Normalise by an estimate of the gradient's variance instead of its second moment.
    maximize : bool
        Maximize the objective instead of minimizing it.
    foreach : bool, optional
        None or True (default): update all parameters of a group at once on flat buffers;
        False: the plain per-parameter implementation (see :class:`Optimizer`).

    Notes
    -----
    With :math:`v_0 = b_0 = \bar g_0 = 0`:

    .. math::

        g_t &= \pm\nabla f(\theta_{t-1}) + \lambda\,\theta_{t-1}\\
        v_t &= \alpha v_{t-1} + (1 - \alpha)\, g_t^2\\
        \tilde v_t &= v_t - \bar g_t^2 \text{ with } \bar g_t = \alpha \bar g_{t-1} + (1 - \alpha)\, g_t
            \text{ when centered, else } v_t\\
        b_t &= \mu b_{t-1} + \frac{g_t}{\sqrt{\tilde v_t} + \epsilon}, \quad
            \theta_t = \theta_{t-1} - \gamma\, b_t \quad(\mu > 0)\\
        \theta_t &= \theta_{t-1} - \gamma\,\frac{g_t}{\sqrt{\tilde v_t} + \epsilon} \quad(\mu = 0)

    State: ``step``, ``square_avg`` (:math:`v`), ``grad_avg`` (:math:`\bar g`, centered) and
    ``momentum_buffer`` (:math:`b`, with momentum).

    Examples
    --------
    >>> optimizer = RMSprop(model.parameters(), lr=1e-3, momentum=0.9)
    """

    _scratch_count = 2
    _non_negative = ("lr", "alpha", "eps", "weight_decay", "momentum")

    def __init__(self, params: Params, lr: float = 1e-2, alpha: float = 0.99,
                 eps: float = 1e-8, weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False, *,
                 maximize: bool = False, foreach: bool | None = None) -> None:
        defaults = {"lr": lr, "alpha": alpha, "eps": eps, "weight_decay": weight_decay, "momentum": momentum,
                    "centered": centered, "maximize": maximize, "foreach": foreach}
        super().__init__(params, defaults)

    def _state_names(self, group: dict[str, Any]) -> tuple[tuple[str, float], ...]:
        names = [("square_avg", 0.0)]
        if group["momentum"] > 0:
            names.append(("momentum_buffer", 0.0))
        if group["centered"]:
            names.append(("grad_avg", 0.0))
        return tuple(names)

    def _update(self, group: dict[str, Any], param: np.ndarray, grad: np.ndarray, state: dict[str, np.ndarray],
                scratch: list[np.ndarray], scalars: dict[str, Any], created: tuple[str, ...]) -> None:
        alpha = float(group["alpha"])
        lr = float(group["lr"])
        work = scratch[1]
        grad = effective_grad(param, grad, scratch[0], float(group["weight_decay"]), group["maximize"])
        square_avg = state["square_avg"]
        square_avg *= alpha
        np.multiply(grad, grad, out=work)
        work *= 1.0 - alpha
        square_avg += work
        if group["centered"]:
            grad_avg = state["grad_avg"]
            grad_avg *= alpha
            np.multiply(grad, 1.0 - alpha, out=work)
            grad_avg += work
            np.multiply(grad_avg, grad_avg, out=work)
            np.subtract(square_avg, work, out=work)
            np.sqrt(work, out=work)
        else:
            np.sqrt(square_avg, out=work)
        work += float(group["eps"])
        np.divide(grad, work, out=work)
        if group["momentum"] > 0:
            buffer = state["momentum_buffer"]
            buffer *= float(group["momentum"])
            buffer += work
            np.multiply(buffer, lr, out=work)
        else:
            work *= lr
        param -= work

    def _single_tensor_update(self, group: dict[str, Any], param: np.ndarray, grad: np.ndarray,
                              state: dict[str, np.ndarray], scalars: dict[str, Any], created: tuple[str, ...]) -> None:
        alpha, momentum = group["alpha"], group["momentum"]
        g = plain_grad(param, grad, group["weight_decay"], group["maximize"])
        square_avg = state["square_avg"]
        square_avg[...] = alpha * square_avg + (1 - alpha) * g * g
        if group["centered"]:
            grad_avg = state["grad_avg"]
            grad_avg[...] = alpha * grad_avg + (1 - alpha) * g
            average = np.sqrt(square_avg - grad_avg * grad_avg) + group["eps"]
        else:
            average = np.sqrt(square_avg) + group["eps"]
        if momentum > 0:
            buffer = state["momentum_buffer"]
            buffer[...] = momentum * buffer + g / average
            param -= group["lr"] * buffer
        else:
            param -= group["lr"] * g / average
