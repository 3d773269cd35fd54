"""Adadelta: step sizes from running averages of squared gradients and squared updates."""

from __future__ import annotations

from typing import Any

import numpy as np

from giagrad.optim.optimizer import Optimizer, Params, effective_grad, plain_grad

__all__ = ["Adadelta"]


class Adadelta(Optimizer):
    r"""Adadelta (Zeiler, 2012), as ``torch.optim.Adadelta``.

    Parameters
    ----------
    params : iterable of Tensor or of dict
        Parameters, or parameter groups.
    lr : float
        :math:`\gamma`, a factor on the update (default 1.0).
    rho : float
        :math:`\rho`, the decay of the running averages, in [0, 1] (default 0.9).
    eps : float
        :math:`\epsilon`, added inside both roots (default 1e-6).
    weight_decay : float
        L2 penalty :math:`\lambda` added to the gradient (default 0).
    maximize : bool
        Maximize the objective instead of minimizing it.
    foreach : bool, optional
        None or True (default): update all parameters of a group at once on flat buffers;
        False: the plain per-parameter implementation (see :class:`Optimizer`).

    Notes
    -----
    With :math:`v_0 = u_0 = 0`:

    .. math::

        g_t &= \pm\nabla f(\theta_{t-1}) + \lambda\,\theta_{t-1}\\
        v_t &= \rho\, v_{t-1} + (1 - \rho)\, g_t^2\\
        \Delta_t &= \frac{\sqrt{u_{t-1} + \epsilon}}{\sqrt{v_t + \epsilon}}\, g_t\\
        u_t &= \rho\, u_{t-1} + (1 - \rho)\, \Delta_t^2\\
        \theta_t &= \theta_{t-1} - \gamma\, \Delta_t

    State: ``step``, ``square_avg`` (:math:`v`) and ``acc_delta`` (:math:`u`).

    Examples
    --------
    >>> optimizer = Adadelta(model.parameters())
    """

    _scratch_count = 3
    _non_negative = ("lr", "eps", "weight_decay")

    def __init__(self, params: Params, lr: float = 1.0, rho: float = 0.9,
                 eps: float = 1e-6, weight_decay: float = 0.0, *, maximize: bool = False,
                 foreach: bool | None = None) -> None:
        defaults = {"lr": lr, "rho": rho, "eps": eps, "weight_decay": weight_decay, "maximize": maximize,
                    "foreach": foreach}
        super().__init__(params, defaults)

    def _validate(self, hyperparameters: dict[str, Any]) -> None:
        super()._validate(hyperparameters)
        if not 0.0 <= hyperparameters["rho"] <= 1.0:
            raise ValueError(f"Adadelta: invalid rho {hyperparameters['rho']!r}, expected a number in [0, 1]")

    def _state_names(self, group: dict[str, Any]) -> tuple[tuple[str, float], ...]:
        return ("square_avg", 0.0), ("acc_delta", 0.0)

    def _update(self, group: dict[str, Any], param: np.ndarray, grad: np.ndarray, state: dict[str, np.ndarray],
                scratch: list[np.ndarray], scalars: dict[str, Any], created: tuple[str, ...]) -> None:
        rho = float(group["rho"])
        eps = float(group["eps"])
        work, delta = scratch[1], scratch[2]
        grad = effective_grad(param, grad, scratch[0], float(group["weight_decay"]), group["maximize"])
        square_avg, acc_delta = state["square_avg"], state["acc_delta"]
        square_avg *= rho
        np.multiply(grad, grad, out=work)
        work *= 1.0 - rho
        square_avg += work
        np.add(square_avg, eps, out=work)
        np.sqrt(work, out=work)
        np.add(acc_delta, eps, out=delta)
        np.sqrt(delta, out=delta)
        delta /= work
        delta *= grad
        acc_delta *= rho
        np.multiply(delta, delta, out=work)
        work *= 1.0 - rho
        acc_delta += work
        delta *= float(group["lr"])
        param -= delta

    def _single_tensor_update(self, group: dict[str, Any], param: np.ndarray, grad: np.ndarray,
                              state: dict[str, np.ndarray], scalars: dict[str, Any], created: tuple[str, ...]) -> None:
        rho, eps = group["rho"], group["eps"]
        g = plain_grad(param, grad, group["weight_decay"], group["maximize"])
        square_avg, acc_delta = state["square_avg"], state["acc_delta"]
        square_avg[...] = rho * square_avg + (1 - rho) * g * g
        delta = np.sqrt(acc_delta + eps) / np.sqrt(square_avg + eps) * g
        acc_delta[...] = rho * acc_delta + (1 - rho) * delta * delta
        param -= group["lr"] * delta
