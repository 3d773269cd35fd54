"""The Adam family: Adam, AdamW (decoupled weight decay), Adamax (infinity norm) and NAdam (Nesterov)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from giagrad._validation import check_non_negative
from giagrad.kernels import for_row_blocks
from giagrad.optim.optimizer import Optimizer, Params, decoupled_weight_decay, effective_grad, plain_grad

__all__ = ["Adam", "AdamW", "Adamax", "NAdam"]

# The flat buffer's update runs in cache-sized blocks from this size on. Below it the blocks only add
# Python calls (measured, one AdamW step: 101k parameters 240 us whole, 268 us blocked; 235k 680 us
# whole, 662 us blocked; 800k 2.88 ms whole, 2.27 ms blocked).
_BLOCKED_MIN_ELEMENTS = 1 << 17


def _update_moments(grad: np.ndarray, exp_avg: np.ndarray, exp_avg_sq: np.ndarray, beta1: float, beta2: float,
                    work: np.ndarray) -> None:
    """``m = beta1 m + (1 - beta1) g`` and ``v = beta2 v + (1 - beta2) g^2``, in place."""
    exp_avg *= beta1
    np.multiply(grad, 1.0 - beta1, out=work)
    exp_avg += work
    exp_avg_sq *= beta2
    np.multiply(grad, grad, out=work)
    work *= 1.0 - beta2
    exp_avg_sq += work


def _plain_decayed_grad(group: dict[str, Any], param: np.ndarray, grad: np.ndarray) -> np.ndarray:
    """The gradient of the plain Adam/NAdam rules; shrinks ``param`` first when the decay is decoupled."""
    weight_decay = group["weight_decay"]
    if group["decoupled_weight_decay"]:
        param *= 1 - group["lr"] * weight_decay
        weight_decay = 0.0
    return plain_grad(param, grad, weight_decay, group["maximize"])


def _plain_moments(state: dict[str, np.ndarray], g: np.ndarray, beta1: float, beta2: float
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Update ``exp_avg`` and ``exp_avg_sq`` in ``state`` for gradient ``g`` and return them."""
    exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
    exp_avg[...] = beta1 * exp_avg + (1 - beta1) * g
    exp_avg_sq[...] = beta2 * exp_avg_sq + (1 - beta2) * g * g
    return exp_avg, exp_avg_sq


class Adam(Optimizer):
    r"""Adam: adaptive moment estimation (Kingma & Ba, 2015), as ``torch.optim.Adam``.

    Parameters
    ----------
    params : iterable of Tensor or of dict
        Parameters, or parameter groups (dicts with ``"params"`` and hyper-parameters).
    lr : float
        Learning rate :math:`\gamma` (default 1e-3).
    betas : tuple of float
        :math:`(\beta_1, \beta_2)`, the decay rates of the moment averages (default (0.9, 0.999)).
    eps : float
        :math:`\epsilon`, added to the denominator (default 1e-8).
    weight_decay : float
        :math:`\lambda` (default 0): an L2 penalty added to the gradient, or with
        ``decoupled_weight_decay=True`` a shrinking of the parameter (then this is AdamW).
    amsgrad : bool
        Use the maximum of the past second moments (Reddi et al., 2018).
    maximize : bool
        Maximize the objective instead of minimizing it.
    decoupled_weight_decay : bool
        Decouple the weight decay from the gradient, as :class:`AdamW`.
    foreach : bool, optional
        None or True (default): update all parameters of a group at once on flat buffers;
        False: the plain per-parameter implementation (see :class:`Optimizer`).

    Notes
    -----
    For each step :math:`t = 1, 2, \dots` (counted per parameter), with :math:`m_0 = v_0 = 0`:

    .. math::

        g_t &= \pm\nabla f(\theta_{t-1}) + \lambda\,\theta_{t-1}
              \quad(\text{the } \lambda \text{ term only without decoupling})\\
        \theta_{t-1} &\leftarrow \theta_{t-1}\,(1 - \gamma\lambda)
              \quad(\text{only with decoupling})\\
        m_t &= \beta_1 m_{t-1} + (1 - \beta_1)\, g_t\\
        v_t &= \beta_2 v_{t-1} + (1 - \beta_2)\, g_t^2\\
        \hat v_t &= v_t \text{, or with amsgrad } v^{max}_t = \max(v^{max}_{t-1}, v_t)\\
        \theta_t &= \theta_{t-1} - \frac{\gamma}{1 - \beta_1^t}\;
              \frac{m_t}{\sqrt{\hat v_t} / \sqrt{1 - \beta_2^t} + \epsilon}

    Note where :math:`\epsilon` goes: after the bias correction of :math:`\sqrt{v_t}`, as in
    PyTorch. State: ``step``, ``exp_avg`` (:math:`m`), ``exp_avg_sq`` (:math:`v`) and with amsgrad
    ``max_exp_avg_sq``.

    Examples
    --------
    >>> optimizer = Adam(model.parameters(), lr=1e-3)
    >>> optimizer.zero_grad(); loss.backward(); optimizer.step()
    """

    _scratch_count = 2
    _non_negative = ("lr", "eps", "weight_decay")
    _has_betas = True

    def __init__(self, params: Params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False, *, maximize: bool = False,
                 decoupled_weight_decay: bool = False, foreach: bool | None = None) -> None:
        defaults = {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay, "amsgrad": amsgrad,
                    "maximize": maximize, "decoupled_weight_decay": decoupled_weight_decay, "foreach": foreach}
        super().__init__(params, defaults)

    def _state_names(self, group: dict[str, Any]) -> tuple[tuple[str, float], ...]:
        if group["amsgrad"]:
            return ("exp_avg", 0.0), ("exp_avg_sq", 0.0), ("max_exp_avg_sq", 0.0)
        return ("exp_avg", 0.0), ("exp_avg_sq", 0.0)

    def _update(self, group: dict[str, Any], param: np.ndarray, grad: np.ndarray, state: dict[str, np.ndarray],
                scratch: list[np.ndarray], scalars: dict[str, Any], created: tuple[str, ...]) -> None:
        lr, eps, maximize = float(group["lr"]), float(group["eps"]), group["maximize"]
        beta1, beta2 = float(group["betas"][0]), float(group["betas"][1])
        weight_decay, decoupled = float(group["weight_decay"]), group["decoupled_weight_decay"]
        step = scalars["step"]
        max_exp_avg_sq = state["max_exp_avg_sq"] if group["amsgrad"] else None
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]

        # A dozen passes over each flat buffer: in cache-sized blocks, on several threads when large
        def update_block(rows: slice) -> None:
            block = param[rows]
            decay = decoupled_weight_decay(block, lr, weight_decay, decoupled)
            work = scratch[1][rows]
            g = effective_grad(block, grad[rows], scratch[0][rows], decay, maximize)
            _update_moments(g, exp_avg[rows], exp_avg_sq[rows], beta1, beta2, work)
            second_moment = exp_avg_sq[rows]
            if max_exp_avg_sq is not None:
                second_moment = np.maximum(max_exp_avg_sq[rows], second_moment, out=max_exp_avg_sq[rows])
            np.sqrt(second_moment, out=work)
            work /= math.sqrt(1.0 - beta2**step)
            work += eps
            np.divide(exp_avg[rows], work, out=work)
            work *= lr / (1.0 - beta1**step)
            block -= work

        if param.ndim == 1 and param.size >= _BLOCKED_MIN_ELEMENTS:
            for_row_blocks(update_block, param.shape[0], 1)
        else:
            update_block(slice(None))

    def _single_tensor_update(self, group: dict[str, Any], param: np.ndarray, grad: np.ndarray,
                              state: dict[str, np.ndarray], scalars: dict[str, Any], created: tuple[str, ...]) -> None:
        lr, eps, step = group["lr"], group["eps"], scalars["step"]
        beta1, beta2 = group["betas"]
        g = _plain_decayed_grad(group, param, grad)
        exp_avg, exp_avg_sq = _plain_moments(state, g, beta1, beta2)
        second_moment = exp_avg_sq
        if group["amsgrad"]:
            state["max_exp_avg_sq"][...] = np.maximum(state["max_exp_avg_sq"], exp_avg_sq)
            second_moment = state["max_exp_avg_sq"]
        denominator = np.sqrt(second_moment) / math.sqrt(1 - beta2**step) + eps
        param -= lr / (1 - beta1**step) * exp_avg / denominator


class AdamW(Adam):
    r"""Adam with decoupled weight decay (Loshchilov & Hutter, 2019), as ``torch.optim.AdamW``.

    The same rule as :class:`Adam` with ``decoupled_weight_decay=True``: the parameter shrinks by
    :math:`\gamma\lambda\,\theta_{t-1}` before the Adam step instead of :math:`\lambda\theta` being
    added to the gradient. The default ``weight_decay`` is 1e-2.

    .. math::

        \theta_{t-1} &\leftarrow \theta_{t-1} - \gamma\lambda\,\theta_{t-1}\\
        m_t &= \beta_1 m_{t-1} + (1 - \beta_1)\, g_t, \quad
        v_t = \beta_2 v_{t-1} + (1 - \beta_2)\, g_t^2\\
        \theta_t &= \theta_{t-1} - \frac{\gamma}{1 - \beta_1^t}\;
              \frac{m_t}{\sqrt{\hat v_t} / \sqrt{1 - \beta_2^t} + \epsilon}

    Examples
    --------
    >>> optimizer = AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    """

    def __init__(self, params: Params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False, foreach: bool | None = None) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                         maximize=maximize, decoupled_weight_decay=True, foreach=foreach)


class Adamax(Optimizer):
    r"""Adamax: Adam with the infinity norm (Kingma & Ba, 2015), as ``torch.optim.Adamax``.

    Parameters
    ----------
    params : iterable of Tensor or of dict
        Parameters, or parameter groups.
    lr : float
        Learning rate :math:`\gamma` (default 2e-3).
    betas : tuple of float
        :math:`(\beta_1, \beta_2)` (default (0.9, 0.999)).
    eps : float
        :math:`\epsilon`, added to :math:`|g_t|` (default 1e-8).
    weight_decay : float
        L2 penalty :math:`\lambda` added to the gradient (default 0).
    maximize : bool
        Maximize the objective instead of minimizing it.
    foreach : bool, optional
        None or True (default): update all parameters of a group at once on flat buffers;
        False: the plain per-parameter implementation (see :class:`Optimizer`).

    Notes
    -----
    With :math:`m_0 = u_0 = 0`:

    .. math::

        g_t &= \pm\nabla f(\theta_{t-1}) + \lambda\,\theta_{t-1}\\
        m_t &= \beta_1 m_{t-1} + (1 - \beta_1)\, g_t\\
        u_t &= \max(\beta_2 u_{t-1},\; |g_t| + \epsilon)\\
        \theta_t &= \theta_{t-1} - \frac{\gamma\, m_t}{(1 - \beta_1^t)\, u_t}

    State: ``step``, ``exp_avg`` (:math:`m`), ``exp_inf`` (:math:`u`).

    Examples
    --------
    >>> optimizer = Adamax(model.parameters())
    """

    _scratch_count = 2
    _non_negative = ("lr", "eps", "weight_decay")
    _has_betas = True

    def __init__(self, params: Params, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, *, maximize: bool = False,
                 foreach: bool | None = None) -> None:
        defaults = {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay, "maximize": maximize,
                    "foreach": foreach}
        super().__init__(params, defaults)

    def _state_names(self, group: dict[str, Any]) -> tuple[tuple[str, float], ...]:
        return ("exp_avg", 0.0), ("exp_inf", 0.0)

    def _update(self, group: dict[str, Any], param: np.ndarray, grad: np.ndarray, state: dict[str, np.ndarray],
                scratch: list[np.ndarray], scalars: dict[str, Any], created: tuple[str, ...]) -> None:
        beta1, beta2 = float(group["betas"][0]), float(group["betas"][1])
        work = scratch[1]
        grad = effective_grad(param, grad, scratch[0], float(group["weight_decay"]), group["maximize"])
        exp_avg, exp_inf = state["exp_avg"], state["exp_inf"]
        exp_avg *= beta1
        np.multiply(grad, 1.0 - beta1, out=work)
        exp_avg += work
        exp_inf *= beta2
        np.abs(grad, out=work)
        work += float(group["eps"])
        np.maximum(exp_inf, work, out=exp_inf)
        np.divide(exp_avg, exp_inf, out=work)
        work *= float(group["lr"]) / (1.0 - beta1 ** scalars["step"])
        param -= work

    def _single_tensor_update(self, group: dict[str, Any], param: np.ndarray, grad: np.ndarray,
                              state: dict[str, np.ndarray], scalars: dict[str, Any], created: tuple[str, ...]) -> None:
        beta1, beta2 = group["betas"]
        g = plain_grad(param, grad, group["weight_decay"], group["maximize"])
        exp_avg, exp_inf = state["exp_avg"], state["exp_inf"]
        exp_avg[...] = beta1 * exp_avg + (1 - beta1) * g
        exp_inf[...] = np.maximum(beta2 * exp_inf, np.abs(g) + group["eps"])
        param -= group["lr"] / (1 - beta1 ** scalars["step"]) * exp_avg / exp_inf


class NAdam(Optimizer):
    r"""NAdam: Adam with Nesterov momentum (Dozat, 2016), as ``torch.optim.NAdam``.

    Parameters
    ----------
    params : iterable of Tensor or of dict
        Parameters, or parameter groups.
    lr : float
        Learning rate :math:`\gamma` (default 2e-3).
    betas : tuple of float
        :math:`(\beta_1, \beta_2)` (default (0.9, 0.999)).
    eps : float
        :math:`\epsilon` (default 1e-8).
    weight_decay : float
        :math:`\lambda` (default 0).
    momentum_decay : float
        :math:`\psi`, how fast the momentum schedule warms up (default 4e-3).
    decoupled_weight_decay : bool
        Shrink the parameter by :math:`\gamma\lambda\theta` (as AdamW) instead of adding
        :math:`\lambda\theta` to the gradient.
    maximize : bool
        Maximize the objective instead of minimizing it.
    foreach : bool, optional
        None or True (default): update all parameters of a group at once on flat buffers;
        False: the plain per-parameter implementation (see :class:`Optimizer`).

    Notes
    -----
    With :math:`m_0 = v_0 = 0`:

    .. math::

        g_t &= \pm\nabla f(\theta_{t-1}) + \lambda\,\theta_{t-1}
            \quad(\text{or } \theta_{t-1} \leftarrow \theta_{t-1}(1 - \gamma\lambda) \text{ when decoupled})\\
        \mu_t &= \beta_1\,\bigl(1 - \tfrac12\, 0.96^{t\psi}\bigr), \quad
        \mu_{t+1} = \beta_1\,\bigl(1 - \tfrac12\, 0.96^{(t+1)\psi}\bigr)\\
        m_t &= \beta_1 m_{t-1} + (1 - \beta_1)\, g_t, \quad
        v_t = \beta_2 v_{t-1} + (1 - \beta_2)\, g_t^2\\
        d_t &= \sqrt{v_t / (1 - \beta_2^t)} + \epsilon\\
        \theta_t &= \theta_{t-1}
            - \gamma\,\frac{1 - \mu_t}{1 - \prod_{i=1}^{t}\mu_i}\,\frac{g_t}{d_t}
            - \gamma\,\frac{\mu_{t+1}}{1 - \prod_{i=1}^{t+1}\mu_i}\,\frac{m_t}{d_t}

    State: ``step``, ``mu_product`` (:math:`\prod_{i \le t}\mu_i`), ``exp_avg``, ``exp_avg_sq``.

    Examples
    --------
    >>> optimizer = NAdam(model.parameters())
    """

    _initial_scalars = {"step": 0, "mu_product": 1.0}
    _scratch_count = 3
    _non_negative = ("lr", "eps", "weight_decay")
    _has_betas = True

    def __init__(self, params: Params, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, momentum_decay: float = 4e-3,
                 decoupled_weight_decay: bool = False, *, maximize: bool = False,
                 foreach: bool | None = None) -> None:
        defaults = {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay,
                    "momentum_decay": momentum_decay, "decoupled_weight_decay": decoupled_weight_decay,
                    "maximize": maximize, "foreach": foreach}
        super().__init__(params, defaults)

    def _validate(self, hyperparameters: dict[str, Any]) -> None:
        super()._validate(hyperparameters)
        check_non_negative("NAdam", "momentum_decay", hyperparameters["momentum_decay"])

    def _state_names(self, group: dict[str, Any]) -> tuple[tuple[str, float], ...]:
        return ("exp_avg", 0.0), ("exp_avg_sq", 0.0)

    def _update(self, group: dict[str, Any], param: np.ndarray, grad: np.ndarray, state: dict[str, np.ndarray],
                scratch: list[np.ndarray], scalars: dict[str, Any], created: tuple[str, ...]) -> None:
        lr = float(group["lr"])
        beta1, beta2 = float(group["betas"][0]), float(group["betas"][1])
        weight_decay = decoupled_weight_decay(param, lr, float(group["weight_decay"]), group["decoupled_weight_decay"])
        momentum_decay = float(group["momentum_decay"])
        step = scalars["step"]
        work, ratio = scratch[1], scratch[2]
        grad = effective_grad(param, grad, scratch[0], weight_decay, group["maximize"])
        mu = beta1 * (1.0 - 0.5 * 0.96 ** (step * momentum_decay))
        mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((step + 1) * momentum_decay))
        mu_product = scalars["mu_product"] * mu
        scalars["mu_product"] = mu_product
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        _update_moments(grad, exp_avg, exp_avg_sq, beta1, beta2, work)
        np.divide(exp_avg_sq, 1.0 - beta2**step, out=work)
        np.sqrt(work, out=work)
        work += float(group["eps"])
        np.divide(grad, work, out=ratio)
        ratio *= lr * (1.0 - mu) / (1.0 - mu_product)
        param -= ratio
        np.divide(exp_avg, work, out=ratio)
        ratio *= lr * mu_next / (1.0 - mu_product * mu_next)
        param -= ratio

    def _single_tensor_update(self, group: dict[str, Any], param: np.ndarray, grad: np.ndarray,
                              state: dict[str, np.ndarray], scalars: dict[str, Any], created: tuple[str, ...]) -> None:
        lr, step, psi = group["lr"], scalars["step"], group["momentum_decay"]
        beta1, beta2 = group["betas"]
        g = _plain_decayed_grad(group, param, grad)
        mu = beta1 * (1 - 0.5 * 0.96 ** (step * psi))
        mu_next = beta1 * (1 - 0.5 * 0.96 ** ((step + 1) * psi))
        mu_product = scalars["mu_product"] = scalars["mu_product"] * mu
        exp_avg, exp_avg_sq = _plain_moments(state, g, beta1, beta2)
        denominator = np.sqrt(exp_avg_sq / (1 - beta2**step)) + group["eps"]
        param -= lr * (1 - mu) / (1 - mu_product) * g / denominator
        param -= lr * mu_next / (1 - mu_product * mu_next) * exp_avg / denominator
