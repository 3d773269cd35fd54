"""Callbacks: extend the training loop without editing it.

A callback overrides some of these hooks (each receives the trainer; all do nothing by default):

================================  ============================================================
``on_fit_start(trainer)``         before the first epoch (after a resume has been loaded)
``on_epoch_start(trainer)``       before each epoch; ``trainer.epoch`` epochs are done
``on_batch_end(trainer, loss)``   after each optimisation step, with that batch's loss (float)
``on_epoch_end(trainer, logs)``   after each epoch and its validation; ``logs`` as in History
``on_interrupt(trainer)``         when Ctrl-C (KeyboardInterrupt) stopped ``fit``
``on_fit_end(trainer)``           after the last epoch, after early stopping and after Ctrl-C
================================  ============================================================

Set ``trainer.stop_training = True`` to end ``fit`` after the current epoch. A callback with
state that must survive a resume (a best value, a patience counter) implements ``state_dict``
and ``load_state_dict``; checkpoints keep it.

Examples
--------
>>> class PrintLR(Callback):
...     def on_epoch_end(self, trainer, logs):
...         print("lr now", logs["lr"])
>>> trainer = Trainer(model, optimizer, loss_fn, callbacks=[PrintLR()])   # doctest: +SKIP
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from giagrad.train.trainer import Trainer

__all__ = ["Callback", "EarlyStopping", "ModelCheckpoint"]


class Callback:
    """Base class: override the hooks you need (see the module docstring)."""

    def on_fit_start(self, trainer: Trainer) -> None:
        pass

    def on_epoch_start(self, trainer: Trainer) -> None:
        pass

    def on_batch_end(self, trainer: Trainer, loss: float) -> None:
        pass

    def on_epoch_end(self, trainer: Trainer, logs: dict[str, float]) -> None:
        pass

    def on_interrupt(self, trainer: Trainer) -> None:
        pass

    def on_fit_end(self, trainer: Trainer) -> None:
        pass

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint must keep of this callback (nothing by default)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


class _Monitor:
    """Tracks the best value of one logged quantity (shared by EarlyStopping and ModelCheckpoint)."""

    def __init__(self, owner: str, monitor: str, mode: str, min_delta: float) -> None:
        if mode == "auto":
            mode = "max" if ("acc" in monitor or "f1" in monitor or "auc" in monitor) else "min"
        if mode not in ("min", "max"):
            raise ValueError(f"{owner}: mode must be 'min', 'max' or 'auto', got {mode!r}")
        if min_delta < 0:
            raise ValueError(f"{owner}: min_delta must be >= 0, got {min_delta}")
        self.owner, self.monitor, self.mode, self.min_delta = owner, monitor, mode, float(min_delta)
        self.best = math.inf if mode == "min" else -math.inf
        self.best_epoch = 0

    def value(self, logs: dict[str, float]) -> float:
        if self.monitor not in logs:
            raise KeyError(f"{self.owner}: monitored {self.monitor!r} is not in the epoch logs {sorted(logs)}; "
                           "pass a validation loader or monitor a training value such as 'loss'")
        return float(logs[self.monitor])

    def improved(self, value: float) -> bool:
        """Whether ``value`` beats the best by more than ``min_delta`` (NaN never does)."""
        if math.isnan(value):
            return False
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.best_epoch = float(state["best"]), int(state["best_epoch"])


def _copy_state(state: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of a model's state dict as numpy arrays (later steps change the originals)."""
    copy: dict[str, Any] = {}
    for key, value in state.items():
        if isinstance(value, dict):
            copy[key] = _copy_state(value)
        else:
            copy[key] = np.array(getattr(value, "data", value), copy=True)
    return copy


class EarlyStopping(Callback):
    """Stop training when a monitored value has stopped improving.

    Parameters
    ----------
    monitor : str
        A key of the epoch logs: ``"val_loss"`` (default), ``"val_accuracy"``, ``"loss"``, ...
    patience : int
        How many epochs without improvement to accept before stopping.
    mode : {"auto", "min", "max"}
        Whether smaller or larger is better; ``"auto"`` picks "max" for accuracy-like names.
    min_delta : float
        The smallest change that counts as an improvement.
    restore_best : bool
        When training ends (stopped early or not), load the weights of the best epoch back
        into the model. Keeps one copy of the model's state in memory.

    Examples
    --------
    >>> stop = EarlyStopping("val_loss", patience=3, restore_best=True)
    >>> trainer = Trainer(model, optimizer, loss_fn, callbacks=[stop])      # doctest: +SKIP
    >>> trainer.fit(train_loader, val_loader, epochs=100)                    # doctest: +SKIP
    >>> stop.stopped_epoch, stop.best_epoch                                  # doctest: +SKIP
    """

    def __init__(self, monitor: str = "val_loss", patience: int = 5, mode: str = "auto",
                 min_delta: float = 0.0, restore_best: bool = False) -> None:
        if not isinstance(patience, int) or patience < 0:
            raise ValueError(f"EarlyStopping: patience must be a non-negative integer, got {patience!r}")
        self.tracker = _Monitor("EarlyStopping", monitor, mode, min_delta)
        self.patience = patience
        self.restore_best = restore_best
        self.wait = 0
        self.stopped_epoch = 0
        self.best_state: dict[str, Any] | None = None

    @property
    def best(self) -> float:
        return self.tracker.best

    @property
    def best_epoch(self) -> int:
        return self.tracker.best_epoch

    def on_epoch_end(self, trainer: Trainer, logs: dict[str, float]) -> None:
        value = self.tracker.value(logs)
        if self.tracker.improved(value):
            self.tracker.best, self.tracker.best_epoch = value, trainer.epoch
            self.wait = 0
            if self.restore_best:
                self.best_state = _copy_state(trainer.model.state_dict())
            return
        self.wait += 1
        if self.wait > self.patience:
            self.stopped_epoch = trainer.epoch
            trainer.stop_training = True
            trainer.log(f"early stopping after epoch {trainer.epoch}: {self.tracker.monitor} has not improved "
                        f"for {self.wait} epochs (best {self.best:.4g} at epoch {self.best_epoch})")

    def on_fit_end(self, trainer: Trainer) -> None:
        if self.restore_best and self.best_state is not None and self.best_epoch != trainer.epoch:
            trainer.model.load_state_dict(self.best_state)
            trainer.log(f"restored the weights of epoch {self.best_epoch} ({self.tracker.monitor} {self.best:.4g})")

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {**self.tracker.state_dict(), "wait": self.wait, "stopped_epoch": self.stopped_epoch}
        if self.best_state is not None:
            state["best_state"] = self.best_state
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.tracker.load_state_dict(state)
        self.wait, self.stopped_epoch = int(state["wait"]), int(state["stopped_epoch"])
        self.best_state = _copy_state(state["best_state"]) if "best_state" in state else None


class ModelCheckpoint(Callback):
    """Save checkpoints during training: the last epoch, the best epoch, and on Ctrl-C.

    Files in ``directory`` (written atomically by ``giagrad.save``: a crash while saving never
    destroys the previous file):

    - ``last.npz``: after every epoch (``save_last``); ``fit(..., resume="…/last.npz")``
      continues exactly where it left off.
    - ``best.npz``: after each epoch that improved ``monitor`` (``save_best``).
    - ``interrupted.npz``: when Ctrl-C stopped training. Resuming from it skips the batches of
      the interrupted epoch that were already trained on and goes on from there: the same run as
      without the interruption, for a ``DataLoader`` shuffled with a seed, a generator or
      giagrad's generator (the batch that Ctrl-C cut short is trained again from the state
      before it). The interrupted epoch's logged training loss and metrics cover the whole
      epoch (a metric of your own without ``state_dict`` covers the batches after the resume).

    Each file is a full trainer checkpoint (model, optimizer, scheduler, epoch, step, history,
    RNG and loader state, callbacks); ``giagrad.load(path)["model"]`` is the model's state dict.

    Parameters
    ----------
    directory : str or PathLike
        Created if missing.
    monitor, mode, min_delta :
        Which logged value decides "best", as in ``EarlyStopping``.
    save_last, save_best : bool
        Which files to keep up to date.
    """

    def __init__(self, directory: str | os.PathLike[str], monitor: str = "val_loss", mode: str = "auto",
                 min_delta: float = 0.0, save_last: bool = True, save_best: bool = True) -> None:
        self.directory = Path(directory)
        self.tracker = _Monitor("ModelCheckpoint", monitor, mode, min_delta)
        self.save_last, self.save_best = save_last, save_best

    @property
    def last_path(self) -> Path:
        return self.directory / "last.npz"

    @property
    def best_path(self) -> Path:
        return self.directory / "best.npz"

    @property
    def interrupted_path(self) -> Path:
        return self.directory / "interrupted.npz"

    def on_fit_start(self, trainer: Trainer) -> None:
        if trainer.is_main_process:  # in a data-parallel job rank 0 alone writes
            self.directory.mkdir(parents=True, exist_ok=True)

    def on_epoch_end(self, trainer: Trainer, logs: dict[str, float]) -> None:
        improved = False
        if self.save_best:
            value = self.tracker.value(logs)
            improved = self.tracker.improved(value)
            if improved:
                self.tracker.best, self.tracker.best_epoch = value, trainer.epoch
        # the tracker is updated first, so that the saved state of this callback is current
        if self.save_last:
            trainer.save_checkpoint(self.last_path)
        if improved:
            trainer.save_checkpoint(self.best_path)

    def on_interrupt(self, trainer: Trainer) -> None:
        if not trainer.is_main_process:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        trainer.save_checkpoint(self.interrupted_path)
        trainer.log(f"saved {self.interrupted_path}")

    def state_dict(self) -> dict[str, Any]:
        return self.tracker.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.tracker.load_state_dict(state)
