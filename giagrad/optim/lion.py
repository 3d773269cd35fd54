"""Lion: the sign of an interpolated momentum, with decoupled weight decay."""

from __future__ import annotations

from typing import Any

import numpy as np

from giagrad.optim.optimizer import Optimizer, Params, decoupled_weight_decay, effective_grad, plain_grad

__all__ = ["Lion"]


class Lion(Optimizer):
    r"""Lion, EvoLved Sign Momentum (Chen et al., 2023, "Symbolic Discovery of Optimization Algorithms").

    PyTorch has no Lion; this follows the paper's Program 1. Every coordinate moves by exactly
    :math:`\gamma` (plus weight decay), so Lion wants a learning rate 3-10x smaller than AdamW's
    and a weight decay 3-10x larger.

    Parameters
    ----------
    params : iterable of Tensor or of dict
        Parameters, or parameter groups.
    lr : float
        Learning rate :math:`\gamma` (default 1e-4).
    betas : tuple of float
        :math:`(\beta_1, \beta_2)`: the interpolation used for the update and the decay of the
        momentum (default (0.9, 0.99)).
    weight_decay : float
        Decoupled weight decay :math:`\lambda` (default 0).
    maximize : bool
        Maximize the objective instead of minimizing it.
    foreach : bool, optional
        None or True (default): update all parameters of a group at once on flat buffers;
        False: the plain per-parameter implementation (see :class:`Optimizer`).

    Notes
    -----
    With :math:`m_0 = 0`:

    .. math::

        g_t &= \pm\nabla f(\theta_{t-1})\\
        c_t &= \beta_1 m_{t-1} + (1 - \beta_1)\, g_t\\
        \theta_t &= \theta_{t-1} - \gamma\,\bigl(\operatorname{sign}(c_t) + \lambda\,\theta_{t-1}\bigr)\\
        m_t &= \beta_2 m_{t-1} + (1 - \beta_2)\, g_t

    State: ``step`` and ``exp_avg`` (:math:`m`).

    Examples
    --------
    >>> optimizer = Lion(model.parameters(), lr=1e-4, weight_decay=1.0)
    """

    _scratch_count = 3
    _non_negative = ("lr", "weight_decay")
    _has_betas = True

    def __init__(self, params: Params, lr: float = 1e-4,
                 betas: tuple[float, float] = (0.9, 0.99), weight_decay: float = 0.0, *,
                 maximize: bool = False, foreach: bool | None = None) -> None:
        defaults = {"lr": lr, "betas": tuple(betas), "weight_decay": weight_decay, "maximize": maximize,
                    "foreach": foreach}
        super().__init__(params, defaults)

    def _state_names(self, group: dict[str, Any]) -> tuple[tuple[str, float], ...]:
        return (("exp_avg", 0.0),)

    def _update(self, group: dict[str, Any], param: np.ndarray, grad: np.ndarray, state: dict[str, np.ndarray],
                scratch: list[np.ndarray], scalars: dict[str, Any], created: tuple[str, ...]) -> None:
        lr = float(group["lr"])
        beta1, beta2 = float(group["betas"][0]), float(group["betas"][1])
        work, direction = scratch[1], scratch[2]
        grad = effective_grad(param, grad, scratch[0], 0.0, group["maximize"])
        exp_avg = state["exp_avg"]
        decoupled_weight_decay(param, lr, float(group["weight_decay"]))
        np.multiply(exp_avg, beta1, out=direction)
        np.multiply(grad, 1.0 - beta1, out=work)
        direction += work
        np.sign(direction, out=direction)
        direction *= lr
        param -= direction
        exp_avg *= beta2
        np.multiply(grad, 1.0 - beta2, out=work)
        exp_avg += work

    def _single_tensor_update(self, group: dict[str, Any], param: np.ndarray, grad: np.ndarray,
                              state: dict[str, np.ndarray], scalars: dict[str, Any], created: tuple[str, ...]) -> None:
        lr = group["lr"]
        beta1, beta2 = group["betas"]
        g = plain_grad(param, grad, 0.0, group["maximize"])
        exp_avg = state["exp_avg"]
        param *= 1 - lr * group["weight_decay"]
        param -= lr * np.sign(beta1 * exp_avg + (1 - beta1) * g)
        exp_avg[...] = beta2 * exp_avg + (1 - beta2) * g
