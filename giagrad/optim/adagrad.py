"""Adagrad: per-coordinate learning rates from the sum of squared gradients."""

from __future__ import annotations

from typing import Any

import numpy as np

from giagrad.optim.optimizer import Optimizer, Params, effective_grad, plain_grad

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    r"""Adagrad (Duchi et al., 2011), as ``torch.optim.Adagrad``.

    Parameters
    ----------
    params : iterable of Tensor or of dict
        Parameters, or parameter groups.
    lr : float
        Learning rate :math:`\gamma` (default 1e-2).
    lr_decay : float
        :math:`\eta`: the learning rate of step :math:`t` is :math:`\gamma / (1 + (t - 1)\eta)` (default 0).
    weight_decay : float
        L2 penalty :math:`\lambda` added to the gradient (default 0).
    initial_accumulator_value : float
        :math:`\tau`, the starting value of the sum of squares (default 0).
    eps : float
        :math:`\epsilon`, added to the root (default 1e-10).
    maximize : bool
        Maximize the objective instead of minimizing it.
    foreach : bool, optional
        None or True (default): update all parameters of a group at once on flat buffers;
        False: the plain per-parameter implementation (see :class:`Optimizer`).

    Notes
    -----
    With :math:`s_0 = \tau`:

    .. math::

        g_t &= \pm\nabla f(\theta_{t-1}) + \lambda\,\theta_{t-1}\\
        \tilde\gamma_t &= \gamma / (1 + (t - 1)\,\eta)\\
        s_t &= s_{t-1} + g_t^2\\
        \theta_t &= \theta_{t-1} - \tilde\gamma_t\, \frac{g_t}{\sqrt{s_t} + \epsilon}

    State: ``step`` and ``sum`` (:math:`s`).

    Examples
    --------
    >>> optimizer = Adagrad(model.parameters(), lr=0.1)
    """

    _scratch_count = 2
    _non_negative = ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps")

    def __init__(self, params: Params, lr: float = 1e-2, lr_decay: float = 0.0,
                 weight_decay: float = 0.0, initial_accumulator_value: float = 0.0, eps: float = 1e-10, *,
                 maximize: bool = False, foreach: bool | None = None) -> None:
        defaults = {"lr": lr, "lr_decay": lr_decay, "weight_decay": weight_decay,
                    "initial_accumulator_value": initial_accumulator_value, "eps": eps, "maximize": maximize,
                    "foreach": foreach}
        super().__init__(params, defaults)

    def _state_names(self, group: dict[str, Any]) -> tuple[tuple[str, float], ...]:
        return (("sum", float(group["initial_accumulator_value"])),)

    def _update(self, group: dict[str, Any], param: np.ndarray, grad: np.ndarray, state: dict[str, np.ndarray],
                scratch: list[np.ndarray], scalars: dict[str, Any], created: tuple[str, ...]) -> None:
        work = scratch[1]
        grad = effective_grad(param, grad, scratch[0], float(group["weight_decay"]), group["maximize"])
        step_lr = float(group["lr"]) / (1.0 + (scalars["step"] - 1) * float(group["lr_decay"]))
        square_sum = state["sum"]
        np.multiply(grad, grad, out=work)
        square_sum += work
        np.sqrt(square_sum, out=work)
        work += float(group["eps"])
        np.divide(grad, work, out=work)
        work *= step_lr
        param -= work

    def _single_tensor_update(self, group: dict[str, Any], param: np.ndarray, grad: np.ndarray,
                              state: dict[str, np.ndarray], scalars: dict[str, Any], created: tuple[str, ...]) -> None:
        g = plain_grad(param, grad, group["weight_decay"], group["maximize"])
        step_lr = group["lr"] / (1 + (scalars["step"] - 1) * group["lr_decay"])
        state["sum"][...] += g * g
        param -= step_lr * g / (np.sqrt(state["sum"]) + group["eps"])
