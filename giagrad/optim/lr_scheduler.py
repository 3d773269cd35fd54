"""Learning-rate schedules: change each parameter group's ``lr`` as training goes on.

Each scheduler follows PyTorch's ``torch.optim.lr_scheduler`` step semantics: creating it sets
the learning rates of step 0 (``last_epoch = 0``); call ``scheduler.step()`` once after each
``optimizer.step()`` (per batch or per epoch, as the schedule is counted). ``get_last_lr()``
returns the learning rates now in use. The updates are chainable like PyTorch's: most schedules
change the current ``group["lr"]`` by a factor, so two schedulers on one optimizer compose.

Examples
--------
Warm up linearly for 5 epochs, then anneal with a cosine over 95:

>>> warmup = LinearLR(optimizer, start_factor=0.1, total_iters=5)
>>> cosine = CosineAnnealingLR(optimizer, T_max=95)
>>> scheduler = SequentialLR(optimizer, [warmup, cosine], milestones=[5])
>>> for epoch in range(100):
...     train_one_epoch()
...     scheduler.step()
"""

from __future__ import annotations

import math
import types
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any, cast

from giagrad.optim.optimizer import Optimizer

__all__ = [
    "LRScheduler", "LambdaLR", "StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "LinearLR",
    "OneCycleLR", "SequentialLR", "ReduceLROnPlateau",
]


def _check_optimizer(scheduler: str, optimizer: Any) -> None:
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"{scheduler}: expected an Optimizer, got {type(optimizer).__name__}")


def _per_group(scheduler: str, name: str, optimizer: Optimizer, value: float | Sequence[float]) -> list[float]:
    """One value per parameter group: a list as given (checked), or a number repeated."""
    if isinstance(value, (list, tuple)):
        if len(value) != len(optimizer.param_groups):
            raise ValueError(f"{scheduler}: expected {len(optimizer.param_groups)} values of {name} (one per "
                             f"parameter group), got {len(value)}")
        return list(value)
    return [cast(float, value)] * len(optimizer.param_groups)


class _ScheduleState:
    """What every schedule shares: the learning rates it set last and its ``state_dict``.

    ``ReduceLROnPlateau`` steps on a metric and is not an :class:`LRScheduler`, but keeps its
    learning rates and its state the same way.
    """

    optimizer: Optimizer
    _last_lr: list[float]
    # When a training loop calls step(): "epoch" or "batch" (documented in LRScheduler).
    interval: str = "epoch"

    def get_last_lr(self) -> list[float]:
        """The learning rates set by the last ``step`` (one per parameter group)."""
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        """Everything but the optimizer (save the optimizer's own ``state_dict`` beside it)."""
        return self._attributes_except()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.__dict__.update(state_dict)

    def _attributes_except(self, *names: str) -> dict[str, Any]:
        """The attributes to save: all but the optimizer and ``names``."""
        return {key: value for key, value in self.__dict__.items() if key != "optimizer" and key not in names}


class LRScheduler(_ScheduleState):
    """Base class of the schedules: subclasses write ``get_lr()`` for step ``last_epoch``.

    Parameters
    ----------
    optimizer : Optimizer
        The optimizer whose groups' ``lr`` is scheduled.
    last_epoch : int
        The index of the last step taken; -1 (default) starts afresh. To resume, load the
        scheduler's ``state_dict`` instead.

    Attributes
    ----------
    interval : {"epoch", "batch"}
        When a training loop should call ``step``: after every epoch (the default, and
        ``ReduceLROnPlateau``'s) or after every batch, that is every optimizer step
        (``OneCycleLR``, whose steps count batches). A class attribute: a schedule of your own
        sets it in its class body. ``giagrad.train.Trainer`` reads it to know when to step.
    """

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        _check_optimizer(type(self).__name__, optimizer)
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for index, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(f"{type(self).__name__}: param_groups[{index}] has no 'initial_lr'; resuming "
                                   "with last_epoch >= 0 needs the optimizer's state loaded first")
        self.base_lrs: list[float] = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._initial_step()

    def _initial_step(self) -> None:
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_lr(self) -> list[float]:
        """The learning rates of step ``last_epoch``, one per group (called by ``step``)."""
        raise NotImplementedError

    def step(self) -> None:
        """Advance the schedule by one step and set the groups' learning rates."""
        self._step_count += 1
        self._update_lr()

    def _update_lr(self, epoch: int | None = None) -> None:
        if epoch is None:
            self.last_epoch += 1
            values = self.get_lr()
        else:
            # Jump to a step: the closed form, where the schedule has one.
            self.last_epoch = epoch
            closed_form = getattr(self, "_closed_form_lr", None)
            values = closed_form() if closed_form is not None else self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, values, strict=True):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]


class LambdaLR(LRScheduler):
    r"""The learning rate of step :math:`t` is ``base_lr * lr_lambda(t)``.

    Parameters
    ----------
    optimizer : Optimizer
    lr_lambda : callable or list of callables
        A function of the step index, or one per parameter group.
    last_epoch : int

    Notes
    -----
    :math:`\gamma_t = \gamma_0\,\lambda(t)`. ``state_dict`` keeps the ``__dict__`` of callable
    objects but not plain functions or lambdas (as PyTorch).

    Examples
    --------
    >>> scheduler = LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / 100))  # warm-up
    """

    def __init__(self, optimizer: Optimizer, lr_lambda: Callable[[int], float] | Sequence[Callable[[int], float]],
                 last_epoch: int = -1) -> None:
        _check_optimizer("LambdaLR", optimizer)
        if isinstance(lr_lambda, (list, tuple)):
            if len(lr_lambda) != len(optimizer.param_groups):
                raise ValueError(f"LambdaLR: expected {len(optimizer.param_groups)} lr_lambdas, got {len(lr_lambda)}")
            self.lr_lambdas = list(lr_lambda)
        else:
            self.lr_lambdas = [lr_lambda] * len(optimizer.param_groups)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [base_lr * rule(self.last_epoch) for rule, base_lr in zip(self.lr_lambdas, self.base_lrs, strict=True)]

    def state_dict(self) -> dict[str, Any]:
        state = self._attributes_except("lr_lambdas")
        state["lr_lambdas"] = [None if isinstance(rule, types.FunctionType) else dict(rule.__dict__)
                               for rule in self.lr_lambdas]
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state = dict(state_dict)
        saved_lambdas = state.pop("lr_lambdas")
        self.__dict__.update(state)
        for rule, saved in zip(self.lr_lambdas, saved_lambdas, strict=True):
            if saved is not None:
                rule.__dict__.update(saved)


class StepLR(LRScheduler):
    r"""Multiply the learning rate by ``gamma`` every ``step_size`` steps.

    Notes
    -----
    :math:`\gamma_t = \gamma_0\, \text{gamma}^{\lfloor t / \text{step\_size} \rfloor}`.

    Examples
    --------
    >>> scheduler = StepLR(optimizer, step_size=30, gamma=0.1)  # 0.05 until 30, 0.005 until 60, ...
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1) -> None:
        if step_size <= 0:
            raise ValueError(f"StepLR: step_size must be a positive integer, got {step_size!r}")
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return [group["lr"] for group in self.optimizer.param_groups]
        return [group["lr"] * self.gamma for group in self.optimizer.param_groups]

    def _closed_form_lr(self) -> list[float]:
        return [base_lr * self.gamma ** (self.last_epoch // self.step_size) for base_lr in self.base_lrs]


class MultiStepLR(LRScheduler):
    r"""Multiply the learning rate by ``gamma`` at each milestone (a repeated milestone counts twice).

    Notes
    -----
    :math:`\gamma_t = \gamma_0\, \text{gamma}^{\#\{m \in \text{milestones} : m \le t\}}`.

    Examples
    --------
    >>> scheduler = MultiStepLR(optimizer, milestones=[30, 80], gamma=0.1)
    """

    def __init__(self, optimizer: Optimizer, milestones: Iterable[int], gamma: float = 0.1,
                 last_epoch: int = -1) -> None:
        self.milestones = Counter(milestones)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch not in self.milestones:
            return [group["lr"] for group in self.optimizer.param_groups]
        factor = self.gamma ** self.milestones[self.last_epoch]
        return [group["lr"] * factor for group in self.optimizer.param_groups]

    def _closed_form_lr(self) -> list[float]:
        milestones = sorted(self.milestones.elements())
        return [base_lr * self.gamma ** bisect_right(milestones, self.last_epoch) for base_lr in self.base_lrs]


class ExponentialLR(LRScheduler):
    r"""Multiply the learning rate by ``gamma`` at every step.

    Notes
    -----
    :math:`\gamma_t = \gamma_0\, \text{gamma}^t`.

    Examples
    --------
    >>> scheduler = ExponentialLR(optimizer, gamma=0.95)
    """

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self._is_initial:
            return [group["lr"] for group in self.optimizer.param_groups]
        return [group["lr"] * self.gamma for group in self.optimizer.param_groups]

    def _closed_form_lr(self) -> list[float]:
        return [base_lr * self.gamma**self.last_epoch for base_lr in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    r"""Anneal the learning rate from its initial value to ``eta_min`` along a half cosine over ``T_max`` steps.

    Parameters
    ----------
    optimizer : Optimizer
    T_max : int
        The number of steps of the half period.
    eta_min : float
        The lowest learning rate (default 0).
    last_epoch : int

    Notes
    -----
    The closed form is

    .. math::

        \gamma_t = \eta_{min} + \tfrac12(\gamma_0 - \eta_{min})\bigl(1 + \cos(\pi t / T_{max})\bigr);

    like PyTorch, ``step`` applies it recursively (a ratio of consecutive cosines times the
    current ``lr``), so that it composes with other schedules; past ``T_max`` the learning rate
    rises again (a cosine with period ``2 T_max``, no restart).

    Examples
    --------
    >>> scheduler = CosineAnnealingLR(optimizer, T_max=100, eta_min=1e-5)
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1) -> None:  # noqa: N803
        if T_max <= 0:
            raise ValueError(f"CosineAnnealingLR: T_max must be positive, got {T_max!r}")
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        groups = self.optimizer.param_groups
        t, period = self.last_epoch, self.T_max
        if self._is_initial:
            return [group["lr"] for group in groups]
        if self._step_count == 1 and t > 0:
            return [self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(t * math.pi / period)) / 2
                    for base_lr in self.base_lrs]
        if (t - 1 - period) % (2 * period) == 0:
            return [group["lr"] + (base_lr - self.eta_min) * (1 - math.cos(math.pi / period)) / 2
                    for base_lr, group in zip(self.base_lrs, groups, strict=True)]
        return [(1 + math.cos(math.pi * t / period)) / (1 + math.cos(math.pi * (t - 1) / period))
                * (group["lr"] - self.eta_min) + self.eta_min for group in groups]

    def _closed_form_lr(self) -> list[float]:
        return [self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
                for base_lr in self.base_lrs]


class LinearLR(LRScheduler):
    r"""Scale the learning rate by a factor that goes linearly from ``start_factor`` to ``end_factor``.

    Parameters
    ----------
    optimizer : Optimizer
    start_factor : float
        The factor at step 0, in (0, 1] (default 1/3).
    end_factor : float
        The factor from step ``total_iters`` on, in [0, 1] (default 1).
    total_iters : int
        The number of steps of the ramp (default 5).
    last_epoch : int

    Notes
    -----
    :math:`\gamma_t = \gamma_0\,\bigl(s + (e - s)\,\min(t, T) / T\bigr)`, applied recursively as in
    PyTorch. A warm-up is ``LinearLR(optimizer, start_factor=0.01, total_iters=warmup_steps)``.

    Examples
    --------
    >>> scheduler = LinearLR(optimizer, start_factor=0.1, total_iters=10)
    """

    def __init__(self, optimizer: Optimizer, start_factor: float = 1.0 / 3, end_factor: float = 1.0,
                 total_iters: int = 5, last_epoch: int = -1) -> None:
        if not 0 < start_factor <= 1:
            raise ValueError(f"LinearLR: start_factor must be in (0, 1], got {start_factor!r}")
        if not 0 <= end_factor <= 1:
            raise ValueError(f"LinearLR: end_factor must be in [0, 1], got {end_factor!r}")
        self.start_factor = start_factor
        self.end_factor = end_factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        groups = self.optimizer.param_groups
        if self.last_epoch == 0:
            return [group["lr"] * self.start_factor for group in groups]
        if self._is_initial or self.last_epoch > self.total_iters:
            return [group["lr"] for group in groups]
        change = self.end_factor - self.start_factor
        factor = 1.0 + change / (self.total_iters * self.start_factor + (self.last_epoch - 1) * change)
        return [group["lr"] * factor for group in groups]

    def _closed_form_lr(self) -> list[float]:
        progress = min(self.total_iters, self.last_epoch) / self.total_iters
        return [base_lr * (self.start_factor + (self.end_factor - self.start_factor) * progress)
                for base_lr in self.base_lrs]


class OneCycleLR(LRScheduler):
    r"""The 1cycle policy (Smith & Topin, 2018): up to ``max_lr``, then down far below the start.

    Parameters
    ----------
    optimizer : Optimizer
    max_lr : float or list of float
        The peak learning rate (per group).
    total_steps : int, optional
        The length of the cycle; or give ``epochs`` and ``steps_per_epoch``.
    epochs, steps_per_epoch : int, optional
    pct_start : float
        The fraction of the cycle spent going up (default 0.3).
    anneal_strategy : {"cos", "linear"}
        The shape of each phase (default "cos").
    cycle_momentum : bool
        Move the momentum opposite to the learning rate, between ``max_momentum`` and
        ``base_momentum`` (``momentum`` for SGD-like optimizers, ``betas[0]`` for Adam-like ones).
    base_momentum, max_momentum : float or list of float
        (default 0.85 and 0.95)
    div_factor : float
        The initial learning rate is ``max_lr / div_factor`` (default 25).
    final_div_factor : float
        The last learning rate is ``initial_lr / final_div_factor`` (default 1e4).
    three_phase : bool
        Go up, come back down to the initial learning rate symmetrically, then anneal to the
        minimum (instead of two phases: up, then down to the minimum).
    last_epoch : int

    Notes
    -----
    With :math:`\gamma_{init} = \gamma_{max}/\text{div}` and :math:`\gamma_{min} = \gamma_{init}/\text{final\_div}`,
    phase boundaries at steps :math:`p N - 1` (and :math:`2pN - 2` with three phases) and
    :math:`N - 1`; within a phase from step :math:`a` to :math:`b`, with :math:`x = (t - a)/(b - a)`,

    .. math::

        \text{cos: } \gamma_t = \gamma_{end} + \tfrac12(\gamma_{start} - \gamma_{end})(1 + \cos \pi x), \qquad
        \text{linear: } \gamma_t = \gamma_{start} + (\gamma_{end} - \gamma_{start})\, x.

    Stepping more than ``total_steps`` times raises ValueError. Call ``step`` after every batch.
``total_steps`` may be raised during training (the trainer does so to resume a run for more
epochs than it was saved with): the remaining steps follow the longer cycle.

    Examples
    --------
    >>> scheduler = OneCycleLR(optimizer, max_lr=0.1, epochs=10, steps_per_epoch=len(loader))
    """

    interval = "batch"  # total_steps counts optimizer steps

    def __init__(self, optimizer: Optimizer, max_lr: float | Sequence[float], total_steps: int | None = None,
                 epochs: int | None = None, steps_per_epoch: int | None = None, pct_start: float = 0.3,
                 anneal_strategy: str = "cos", cycle_momentum: bool = True,
                 base_momentum: float | Sequence[float] = 0.85, max_momentum: float | Sequence[float] = 0.95,
                 div_factor: float = 25.0, final_div_factor: float = 1e4, three_phase: bool = False,
                 last_epoch: int = -1) -> None:
        _check_optimizer("OneCycleLR", optimizer)
        if total_steps is not None:
            if not isinstance(total_steps, int) or total_steps <= 0:
                raise ValueError(f"OneCycleLR: total_steps must be a positive integer, got {total_steps!r}")
            self.total_steps = total_steps
        elif epochs is not None and steps_per_epoch is not None:
            if not isinstance(epochs, int) or epochs <= 0:
                raise ValueError(f"OneCycleLR: epochs must be a positive integer, got {epochs!r}")
            if not isinstance(steps_per_epoch, int) or steps_per_epoch <= 0:
                raise ValueError(f"OneCycleLR: steps_per_epoch must be a positive integer, got {steps_per_epoch!r}")
            self.total_steps = epochs * steps_per_epoch
        else:
            raise ValueError("OneCycleLR: give total_steps, or epochs and steps_per_epoch")
        if not 0.0 <= pct_start <= 1.0:
            raise ValueError(f"OneCycleLR: pct_start must be in [0, 1], got {pct_start!r}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"OneCycleLR: anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}")
        self.anneal_strategy = anneal_strategy
        self.pct_start = pct_start
        self.three_phase = three_phase
        max_lrs = _per_group("OneCycleLR", "max_lr", optimizer, max_lr)
        if last_epoch == -1:
            for peak, group in zip(max_lrs, optimizer.param_groups, strict=True):
                group["initial_lr"] = peak / div_factor
                group["max_lr"] = peak
                group["min_lr"] = group["initial_lr"] / final_div_factor
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
                raise ValueError(f"OneCycleLR: cycle_momentum needs an optimizer with momentum or betas; "
                                 f"{type(optimizer).__name__} has neither (pass cycle_momentum=False)")
            self.use_beta1 = "betas" in optimizer.defaults
            max_momentums = _per_group("OneCycleLR", "max_momentum", optimizer, max_momentum)
            base_momentums = _per_group("OneCycleLR", "base_momentum", optimizer, base_momentum)
            if last_epoch == -1:
                for top, bottom, group in zip(max_momentums, base_momentums, optimizer.param_groups, strict=True):
                    self._set_momentum(group, top)
                    group["max_momentum"] = top
                    group["base_momentum"] = bottom
        super().__init__(optimizer, last_epoch)

    def _set_momentum(self, group: dict[str, Any], momentum: float) -> None:
        if self.use_beta1:
            group["betas"] = (momentum, *group["betas"][1:])
        else:
            group["momentum"] = momentum

    def _phase_table(self) -> list[tuple[float, str, str, str, str]]:
        """Each phase's last step and the group keys it anneals from and to (lr, then momentum).

        Computed from ``total_steps`` at each step, so that a longer cycle set on a resumed
        run (see ``Trainer.load_checkpoint``) takes effect from the next step.
        """
        up_end = float(self.pct_start * self.total_steps) - 1
        if self.three_phase:
            return [
                (up_end, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                (float(2 * self.pct_start * self.total_steps) - 2, "max_lr", "initial_lr", "base_momentum",
                 "max_momentum"),
                (self.total_steps - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum"),
            ]
        return [
            (up_end, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
            (self.total_steps - 1, "max_lr", "min_lr", "base_momentum", "max_momentum"),
        ]

    def _anneal(self, start: float, end: float, fraction: float) -> float:
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * fraction) + 1)
        return (end - start) * fraction + start

    def get_lr(self) -> list[float]:
        step = self.last_epoch
        if step > self.total_steps:
            raise ValueError(f"OneCycleLR: tried to step {step} times; the cycle has total_steps={self.total_steps}")
        lrs = []
        phases = self._phase_table()
        for group in self.optimizer.param_groups:
            phase_start = 0.0
            for index, (phase_end, start_lr, end_lr, start_momentum, end_momentum) in enumerate(phases):
                if step <= phase_end or index == len(phases) - 1:
                    fraction = (step - phase_start) / (phase_end - phase_start)
                    lrs.append(self._anneal(group[start_lr], group[end_lr], fraction))
                    if self.cycle_momentum:
                        self._set_momentum(group, self._anneal(group[start_momentum], group[end_momentum], fraction))
                    break
                phase_start = phase_end
        return lrs


class SequentialLR(LRScheduler):
    """Run schedulers one after another, switching at the milestones (e.g. a warm-up, then a cosine).

    Parameters
    ----------
    optimizer : Optimizer
    schedulers : list of LRScheduler
        Created on the same optimizer (each one's creation is undone: only the first one's
        step 0 counts).
    milestones : list of int
        The steps at which the next scheduler takes over (one fewer than the schedulers); that
        scheduler starts from its own step 0.
    last_epoch : int

    Examples
    --------
    >>> warmup = LinearLR(optimizer, start_factor=0.01, total_iters=500)
    >>> cosine = CosineAnnealingLR(optimizer, T_max=9500)
    >>> scheduler = SequentialLR(optimizer, [warmup, cosine], milestones=[500])

    Its ``interval`` is that of its schedulers, which must agree.
    """

    def __init__(self, optimizer: Optimizer, schedulers: Sequence[LRScheduler], milestones: Sequence[int],
                 last_epoch: int = -1) -> None:
        _check_optimizer("SequentialLR", optimizer)
        if len(schedulers) < 1:
            raise ValueError("SequentialLR: expected at least one scheduler")
        for index, scheduler in enumerate(schedulers):
            if isinstance(scheduler, ReduceLROnPlateau):
                raise ValueError(f"SequentialLR: scheduler {index} is a ReduceLROnPlateau, whose step needs a metric")
            if getattr(scheduler, "optimizer", None) is not optimizer:
                raise ValueError(f"SequentialLR: scheduler {index} ({type(scheduler).__name__}) belongs to "
                                 "another optimizer")
        intervals = {scheduler.interval for scheduler in schedulers}
        if len(intervals) > 1:
            raise ValueError(f"SequentialLR: the schedulers step at different intervals ({sorted(intervals)}); "
                             "milestones count the steps of one interval")
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(f"SequentialLR: expected {len(schedulers) - 1} milestones for {len(schedulers)} "
                             f"schedulers, got {len(milestones)}")
        self._schedulers = list(schedulers)
        self._milestones = list(milestones)
        self.last_epoch = last_epoch + 1
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"]
        for scheduler in self._schedulers:  # undo the initial step each one took when created
            scheduler.last_epoch -= 1
        first = self._schedulers[bisect_right(self._milestones, 0)]
        first._initial_step()
        self._last_lr = first.get_last_lr()

    @property
    def interval(self) -> str:  # type: ignore[override]
        return self._schedulers[0].interval

    def step(self) -> None:
        self.last_epoch += 1
        index = bisect_right(self._milestones, self.last_epoch)
        scheduler = self._schedulers[index]
        if index > 0 and self._milestones[index - 1] == self.last_epoch:
            scheduler._update_lr(0)
        else:
            scheduler.step()
        self._last_lr = scheduler.get_last_lr()

    def state_dict(self) -> dict[str, Any]:
        state = self._attributes_except("_schedulers")
        state["_schedulers"] = [scheduler.state_dict() for scheduler in self._schedulers]
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state = dict(state_dict)
        saved = state.pop("_schedulers")
        self.__dict__.update(state)
        for scheduler, scheduler_state in zip(self._schedulers, saved, strict=True):
            scheduler.load_state_dict(scheduler_state)


class ReduceLROnPlateau(_ScheduleState):
    """Divide the learning rate when a metric has stopped improving.

    Parameters
    ----------
    optimizer : Optimizer
    mode : {"min", "max"}
        Whether the metric should go down (a loss) or up (an accuracy).
    factor : float
        New lr = lr * factor, with ``factor < 1`` (default 0.1).
    patience : int
        How many steps without improvement to tolerate; the lr drops at the next one (default 10).
    threshold : float
        The smallest change that counts as an improvement (default 1e-4).
    threshold_mode : {"rel", "abs"}
        "rel": better than ``best * (1 -/+ threshold)``; "abs": than ``best -/+ threshold``.
    cooldown : int
        Steps to wait after a reduction before counting bad steps again (default 0).
    min_lr : float or list of float
        A floor for each group's learning rate (default 0).
    eps : float
        Reductions smaller than this are skipped (default 1e-8).

    Examples
    --------
    >>> scheduler = ReduceLROnPlateau(optimizer, mode="min", patience=3)
    >>> for epoch in range(50):
    ...     train_one_epoch()
    ...     scheduler.step(validation_loss())
    """

    def __init__(self, optimizer: Optimizer, mode: str = "min", factor: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0,
                 min_lr: float | Sequence[float] = 0.0, eps: float = 1e-8) -> None:
        _check_optimizer("ReduceLROnPlateau", optimizer)
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau: factor must be < 1, got {factor!r}")
        if mode not in ("min", "max"):
            raise ValueError(f"ReduceLROnPlateau: mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"ReduceLROnPlateau: threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}")
        self.optimizer = optimizer
        self.factor = factor
        self.min_lrs = _per_group("ReduceLROnPlateau", "min_lr", optimizer, min_lr)
        self.patience = patience
        self.threshold = threshold
        self.threshold_mode = threshold_mode
        self.mode = mode
        self.cooldown = cooldown
        self.eps = eps
        self.last_epoch = 0
        self.best = math.inf if mode == "min" else -math.inf
        self.cooldown_counter = 0
        self.num_bad_epochs = 0
        self._last_lr = [group["lr"] for group in optimizer.param_groups]

    def _is_better(self, value: float) -> bool:
        if self.mode == "min":
            bound = self.best * (1.0 - self.threshold) if self.threshold_mode == "rel" else self.best - self.threshold
            return value < bound
        bound = self.best * (1.0 + self.threshold) if self.threshold_mode == "rel" else self.best + self.threshold
        return value > bound

    def step(self, metrics: float) -> None:
        """Record this step's metric and reduce the learning rates if it has plateaued."""
        current = float(metrics)
        self.last_epoch += 1
        if self._is_better(current):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad steps during the cooldown do not count
        if self.num_bad_epochs > self.patience:
            for group, min_lr in zip(self.optimizer.param_groups, self.min_lrs, strict=True):
                old_lr = float(group["lr"])
                new_lr = max(old_lr * self.factor, min_lr)
                if old_lr - new_lr > self.eps:
                    group["lr"] = new_lr
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]
