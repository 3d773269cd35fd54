"""Stochastic gradient descent, with momentum, dampening, Nesterov momentum and weight decay."""

from __future__ import annotations

from typing import Any

import numpy as np

from giagrad.optim.optimizer import Optimizer, Params, effective_grad, plain_grad

__all__ = ["SGD"]


class SGD(Optimizer):
    r"""Stochastic gradient descent (optionally with momentum), as ``torch.optim.SGD``.

    Parameters
    ----------
    params : iterable of Tensor or of dict
        Parameters, or parameter groups (dicts with ``"params"`` and hyper-parameters).
    lr : float
        Learning rate :math:`\gamma` (default 1e-3).
    momentum : float
        Momentum factor :math:`\mu` (default 0).
    dampening : float
        Dampening :math:`\tau` of the momentum (default 0).
    weight_decay : float
        L2 penalty :math:`\lambda` added to the gradient (default 0).
    nesterov : bool
        Nesterov momentum (needs ``momentum > 0`` and ``dampening == 0``).
    maximize : bool
        Maximize the objective instead of minimizing it.
    foreach : bool, optional
        None or True (default): update all parameters of a group at once on flat buffers;
        False: the plain per-parameter implementation (see :class:`Optimizer`).

    Notes
    -----
    For each step :math:`t = 1, 2, \dots` and each parameter :math:`\theta` with a gradient:

    .. math::

        g_t &= \pm\nabla f(\theta_{t-1}) + \lambda\,\theta_{t-1}
              \quad(- \text{ when maximizing})\\
        b_t &= \begin{cases} g_t & t = 1\\ \mu\, b_{t-1} + (1 - \tau)\, g_t & t > 1\end{cases}
              \quad(\text{when } \mu \ne 0)\\
        d_t &= \begin{cases} g_t + \mu\, b_t & \text{nesterov}\\ b_t & \mu \ne 0\\ g_t & \mu = 0\end{cases}\\
        \theta_t &= \theta_{t-1} - \gamma\, d_t

    The momentum buffer lives in ``state[p]["momentum_buffer"]`` (only when ``momentum != 0``).

    Examples
    --------
    >>> optimizer = SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    >>> optimizer.zero_grad(); loss.backward(); optimizer.step()
    """

    _scratch_count = 2
    _non_negative = ("lr", "momentum", "dampening", "weight_decay")

    def __init__(self, params: Params, lr: float = 1e-3, momentum: float = 0.0,
                 dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False, *,
                 maximize: bool = False, foreach: bool | None = None) -> None:
        defaults = {"lr": lr, "momentum": momentum, "dampening": dampening, "weight_decay": weight_decay,
                    "nesterov": nesterov, "maximize": maximize, "foreach": foreach}
        super().__init__(params, defaults)

    def _validate(self, hyperparameters: dict[str, Any]) -> None:
        super()._validate(hyperparameters)
        if hyperparameters["nesterov"] and (hyperparameters["momentum"] <= 0 or hyperparameters["dampening"] != 0):
            raise ValueError("SGD: nesterov momentum requires momentum > 0 and dampening == 0")

    def _state_names(self, group: dict[str, Any]) -> tuple[tuple[str, float], ...]:
        return (("momentum_buffer", 0.0),) if group["momentum"] != 0 else ()

    def _update(self, group: dict[str, Any], param: np.ndarray, grad: np.ndarray, state: dict[str, np.ndarray],
                scratch: list[np.ndarray], scalars: dict[str, Any], created: tuple[str, ...]) -> None:
        momentum = float(group["momentum"])
        work = scratch[1]
        direction = effective_grad(param, grad, scratch[0], float(group["weight_decay"]), group["maximize"])
        if momentum != 0:
            buffer = state["momentum_buffer"]
            if "momentum_buffer" in created:
                np.copyto(buffer, direction)
            else:
                buffer *= momentum
                dampening = float(group["dampening"])
                if dampening == 0:
                    buffer += direction
                else:
                    np.multiply(direction, 1.0 - dampening, out=work)
                    buffer += work
            if group["nesterov"]:
                np.multiply(buffer, momentum, out=work)
                work += direction
                direction = work
            else:
                direction = buffer
        np.multiply(direction, float(group["lr"]), out=work)
        param -= work

    def _single_tensor_update(self, group: dict[str, Any], param: np.ndarray, grad: np.ndarray,
                              state: dict[str, np.ndarray], scalars: dict[str, Any], created: tuple[str, ...]) -> None:
        momentum, dampening = group["momentum"], group["dampening"]
        g = plain_grad(param, grad, group["weight_decay"], group["maximize"])
        direction = g
        if momentum != 0:
            buffer = state["momentum_buffer"]
            buffer[...] = g if "momentum_buffer" in created else momentum * buffer + (1 - dampening) * g
            direction = g + momentum * buffer if group["nesterov"] else buffer
        param -= group["lr"] * direction
