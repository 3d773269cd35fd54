"""Loss modules: hold the options of a loss and call its form in ``giagrad.nn.functional``.

Class weights and ``pos_weight`` are registered as buffers, as in PyTorch: they follow
``.double()`` and appear in ``state_dict()``, and the optimizer never sees them.
"""

from __future__ import annotations

from typing import Any

from giagrad.nn import functional as F
from giagrad.nn.module import Module
from giagrad.tensor import Tensor

__all__ = [
    "MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss", "CrossEntropyLoss", "NLLLoss", "BCELoss",
    "BCEWithLogitsLoss", "KLDivLoss",
]


def _check_reduction(loss: str, reduction: str, allowed: tuple[str, ...] = ("mean", "sum", "none")) -> str:
    # Checked at construction, so that a typo fails before the first batch.
    if reduction not in allowed:
        raise ValueError(f"{loss}: reduction must be one of {', '.join(map(repr, allowed))}, got {reduction!r}")
    return reduction


def _optional_tensor(value: Any) -> Tensor | None:
    if value is None or isinstance(value, Tensor):
        return value
    return Tensor(value)


class _Loss(Module):
    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = _check_reduction(type(self).__name__, reduction)


class _WeightedLoss(_Loss):
    def __init__(self, weight: Tensor | None = None, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.register_buffer("weight", _optional_tensor(weight))


class MSELoss(_Loss):
    """Mean squared error ``(input - target) ** 2``, reduced.

    Parameters
    ----------
    reduction : {'mean', 'sum', 'none'}

    Examples
    --------
    >>> nn.MSELoss()(giagrad.tensor([1.0, 2.0]), giagrad.tensor([0.0, 4.0]))
    tensor(2.5)
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    """Mean absolute error ``|input - target|``, reduced.

    Parameters
    ----------
    reduction : {'mean', 'sum', 'none'}

    Examples
    --------
    >>> nn.L1Loss()(giagrad.tensor([1.0, 2.0]), giagrad.tensor([0.0, 4.0]))
    tensor(1.5)
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.l1_loss(input, target, reduction=self.reduction)


class SmoothL1Loss(_Loss):
    """``0.5 d**2 / beta`` where ``|d| < beta``, else ``|d| - 0.5 beta``, with ``d = input - target``.

    Parameters
    ----------
    reduction : {'mean', 'sum', 'none'}
    beta : float
        Where the quadratic part ends (default 1.0); 0 gives the L1 loss.

    Examples
    --------
    >>> nn.SmoothL1Loss()(giagrad.tensor([0.5, 3.0]), giagrad.tensor([0.0, 0.0]))
    tensor(1.3125)
    """

    def __init__(self, reduction: str = "mean", beta: float = 1.0) -> None:
        super().__init__(reduction)
        if beta < 0:
            raise ValueError(f"SmoothL1Loss: beta must be non-negative, got {beta}")
        self.beta = beta

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


class HuberLoss(_Loss):
    """``0.5 d**2`` where ``|d| <= delta``, else ``delta * (|d| - 0.5 delta)``, with ``d = input - target``.

    Parameters
    ----------
    reduction : {'mean', 'sum', 'none'}
    delta : float
        Where the quadratic part ends (default 1.0), positive.

    Examples
    --------
    >>> nn.HuberLoss(delta=2.0)(giagrad.tensor([0.5, 3.0]), giagrad.tensor([0.0, 0.0]))
    tensor(2.0625)
    """

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction)
        if not delta > 0:
            raise ValueError(f"HuberLoss: delta must be positive, got {delta}")
        self.delta = delta

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.huber_loss(input, target, reduction=self.reduction, delta=self.delta)


class CrossEntropyLoss(_WeightedLoss):
    """Cross-entropy of logits against class indices or class probabilities (see ``F.cross_entropy``).

    Parameters
    ----------
    weight : Tensor, optional
        A weight per class, shape ``(C,)``.
    ignore_index : int
        Class-index targets equal to it are skipped (default -100).
    reduction : {'mean', 'sum', 'none'}
        The mean divides by the summed weights of the non-ignored targets, as in PyTorch.
    label_smoothing : float
        In ``[0, 1]``: the target becomes ``(1 - eps) one_hot + eps / C``.

    Examples
    --------
    >>> loss_fn = nn.CrossEntropyLoss()
    >>> loss_fn(giagrad.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]]), giagrad.tensor([0, 2]))
    tensor(0.17545635)
    """

    def __init__(self, weight: Tensor | None = None, ignore_index: int = -100, reduction: str = "mean",
                 label_smoothing: float = 0.0) -> None:
        super().__init__(weight, reduction)
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"CrossEntropyLoss: label_smoothing must be in [0, 1], got {label_smoothing}")
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.cross_entropy(input, target, weight=self.weight, ignore_index=self.ignore_index,
                               reduction=self.reduction, label_smoothing=self.label_smoothing)


class NLLLoss(_WeightedLoss):
    """Negative log-likelihood of log-probabilities and class indices (see ``F.nll_loss``).

    Parameters
    ----------
    weight : Tensor, optional
        A weight per class, shape ``(C,)``.
    ignore_index : int
        Targets equal to it are skipped (default -100).
    reduction : {'mean', 'sum', 'none'}

    Examples
    --------
    >>> nn.NLLLoss()(giagrad.tensor([[-0.5, -1.0], [-2.0, -0.1]]), giagrad.tensor([0, 1]))
    tensor(0.3)
    """

    def __init__(self, weight: Tensor | None = None, ignore_index: int = -100, reduction: str = "mean") -> None:
        super().__init__(weight, reduction)
        self.ignore_index = ignore_index

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.nll_loss(input, target, weight=self.weight, ignore_index=self.ignore_index,
                          reduction=self.reduction)


class BCELoss(_WeightedLoss):
    """Binary cross-entropy of probabilities, logs clamped at -100 (see ``F.binary_cross_entropy``).

    Parameters
    ----------
    weight : Tensor, optional
        Broadcastable to the input's shape.
    reduction : {'mean', 'sum', 'none'}

    Examples
    --------
    >>> nn.BCELoss()(giagrad.tensor([0.9, 0.2]), giagrad.tensor([1.0, 0.0]))
    tensor(0.16425204)
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.binary_cross_entropy(input, target, weight=self.weight, reduction=self.reduction)


class BCEWithLogitsLoss(_WeightedLoss):
    """Sigmoid and binary cross-entropy in one stable op (see ``F.binary_cross_entropy_with_logits``).

    Parameters
    ----------
    weight : Tensor, optional
        Broadcastable to the input's shape.
    reduction : {'mean', 'sum', 'none'}
    pos_weight : Tensor, optional
        The weight of positive examples, broadcast along the last dims (e.g. ``(C,)``).

    Examples
    --------
    >>> nn.BCEWithLogitsLoss()(giagrad.tensor([2.0, -1.0]), giagrad.tensor([1.0, 0.0]))
    tensor(0.22009487)
    """

    def __init__(self, weight: Tensor | None = None, reduction: str = "mean", pos_weight: Tensor | None = None) -> None:
        super().__init__(weight, reduction)
        self.register_buffer("pos_weight", _optional_tensor(pos_weight))

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.binary_cross_entropy_with_logits(input, target, weight=self.weight, reduction=self.reduction,
                                                  pos_weight=self.pos_weight)


class KLDivLoss(_Loss):
    """Kullback-Leibler divergence with ``input`` as log-probabilities (see ``F.kl_div``).

    Parameters
    ----------
    reduction : {'mean', 'batchmean', 'sum', 'none'}
        Use ``'batchmean'`` for the KL divergence per example; ``'mean'`` (PyTorch's default,
        kept) divides by the number of elements.
    log_target : bool
        Whether the target holds log-probabilities.

    Examples
    --------
    >>> log_q = F.log_softmax(giagrad.tensor([[1.0, 2.0]]), dim=1)
    >>> nn.KLDivLoss(reduction="batchmean")(log_q, giagrad.tensor([[0.5, 0.5]]))
    tensor(0.12011446)
    """

    def __init__(self, reduction: str = "mean", log_target: bool = False) -> None:
        Module.__init__(self)
        self.reduction = _check_reduction("KLDivLoss", reduction, ("mean", "batchmean", "sum", "none"))
        self.log_target = log_target

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.kl_div(input, target, reduction=self.reduction, log_target=self.log_target)
