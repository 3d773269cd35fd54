"""``Trainer``: the training loop, with progress, metrics, history, callbacks and checkpoints.

The loop it runs is the one you would write by hand::

    for epoch in range(epochs):
        model.train()
        for inputs, targets in train_loader:
            optimizer.zero_grad()
            loss = loss_fn(model(inputs), targets)
            loss.backward()
            optimizer.step()
        model.eval()
        with giagrad.no_grad():
            ...  # validation

plus what makes a run pleasant and safe: a progress bar, running metrics, learning-rate
schedules stepped at the right time, a NaN check, callbacks (early stopping, checkpoints), Ctrl-C
handling and exact resumption. Nothing is hidden: the trainer only calls the public APIs of the
model, optimizer, scheduler and loaders, and writing the loop yourself loses nothing.

Data-parallel training (``mpiexec -n N``, a ``DistributedDataParallel`` model, loaders with a
``DistributedSampler``) needs no other change: rank 0 alone prints and writes checkpoints; each
step's loss and the epoch's loss and metrics are summed over the ranks (so ``val_accuracy`` is
that of the whole validation set, when each rank evaluates its own part of it), and every rank
sees the same logs, so a NaN or early stopping ends training on all ranks together.

Examples
--------
>>> trainer = Trainer(model, optim.AdamW(model.parameters(), lr=1e-3), nn.CrossEntropyLoss(),
...                   metrics=["accuracy"], callbacks=[ModelCheckpoint("runs/mlp")])  # doctest: +SKIP
>>> history = trainer.fit(train_loader, val_loader, epochs=10)                          # doctest: +SKIP
>>> trainer.evaluate(test_loader)                                                       # doctest: +SKIP
{'loss': 0.071, 'accuracy': 0.979}
>>> history = trainer.fit(train_loader, val_loader, epochs=20, resume="runs/mlp/last.npz")  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Sequence, Sized
from typing import Any, cast

import numpy as np

import giagrad
from giagrad.serialization import CheckpointError
from giagrad.train.callbacks import Callback, ModelCheckpoint, _copy_state
from giagrad.train.history import History
from giagrad.train.metrics import Metric, as_metric

__all__ = ["Trainer"]

CHECKPOINT_FORMAT = "giagrad-trainer-1"

def _split_batch(batch: Any) -> tuple[Any, Any]:
    """``(inputs, targets)`` from a batch: a pair (or longer tuple) or a dict with those keys."""
    if isinstance(batch, (tuple, list)):
        if len(batch) < 2:
            return batch[0], None
        return batch[0], batch[1]
    if isinstance(batch, dict):
        return batch["inputs"], batch.get("targets")
    return batch, None


class Trainer:
    """Train, evaluate and predict with a model, an optimizer and a loss.

    Parameters
    ----------
    model : nn.Module
        Called as ``model(inputs)``; ``train()`` / ``eval()`` are set by the trainer.
    optimizer : optim.Optimizer
    loss_fn : callable
        ``loss_fn(outputs, targets) -> scalar Tensor`` (e.g. ``nn.CrossEntropyLoss()``); it should
        average over the batch (``reduction="mean"``), as the running loss weighs batches by size.
    metrics : sequence, optional
        ``"accuracy"``, ``"top5_accuracy"``, metric objects (``update`` / ``compute`` /
        ``reset``) or functions ``fn(outputs, targets) -> float``. Logged as ``name`` for
        training and ``val_name`` for validation.
    scheduler : lr scheduler, optional
        Stepped after every batch or every epoch as its ``interval`` attribute says (``"batch"``
        for ``OneCycleLR``, ``"epoch"`` for the others and for schedulers without one; override
        with ``scheduler_interval``); ``ReduceLROnPlateau`` gets the monitored value
        (``plateau_monitor``).
    callbacks : sequence of Callback, optional
        ``EarlyStopping``, ``ModelCheckpoint`` or your own (see ``giagrad.train.callbacks``).
    grad_clip : float, optional
        Clip the global gradient norm to this value before each step (``clip_grad_norm_``).
    verbose : {0, 1, 2}
        0: silent. 1: a progress bar per epoch when the output is a terminal, and one summary
        line per epoch. 2: summary lines only (for logs and notebooks that do not redraw).
    scheduler_interval : {"batch", "epoch"}, optional
        Force when the scheduler steps.
    plateau_monitor : str
        The epoch-log key given to ``ReduceLROnPlateau.step`` (default ``"val_loss"``, or
        ``"loss"`` when there is no validation loader).
    log_every : int
        Print the summary line of every ``log_every``-th epoch (and of the last one).
    jit : bool
        Run the training step through ``giagrad.jit.capture`` (recorded on its first calls,
        replayed after: faster for small models; see ``docs/jit.md`` for what it cannot see).
        Then the loss is checked for NaN after the update, not before, and neither
        ``grad_clip`` nor data-parallel training is available.

    Attributes
    ----------
    epoch : int
        Epochs completed (so far, or restored from a checkpoint).
    step : int
        Optimisation steps completed.
    history : History
    stop_training : bool
        Set by a callback to end ``fit`` after the current epoch.
    interrupted : bool
        Whether the last ``fit`` ended by Ctrl-C.
    """

    def __init__(self, model: Any, optimizer: Any, loss_fn: Callable[[Any, Any], Any],
                 metrics: Sequence[Any] = (), scheduler: Any = None, callbacks: Sequence[Callback] = (),
                 grad_clip: float | None = None, verbose: int = 1, scheduler_interval: str | None = None,
                 plateau_monitor: str | None = None, log_every: int = 1, jit: bool = False) -> None:
        if verbose not in (0, 1, 2):
            raise ValueError(f"Trainer: verbose must be 0, 1 or 2, got {verbose!r}")
        if not isinstance(log_every, int) or log_every < 1:
            raise ValueError(f"Trainer: log_every must be a positive integer, got {log_every!r}")
        if grad_clip is not None and not grad_clip > 0:
            raise ValueError(f"Trainer: grad_clip must be a positive number, got {grad_clip!r}")
        if jit and grad_clip is not None:
            raise ValueError("Trainer: jit=True cannot replay gradient clipping; drop grad_clip or jit")
        if scheduler_interval not in (None, "batch", "epoch"):
            raise ValueError(f"Trainer: scheduler_interval must be 'batch' or 'epoch', got {scheduler_interval!r}")
        self.model = model
        self.optimizer = optimizer
        self.loss_fn = loss_fn
        self.metrics: list[Metric] = [as_metric(metric) for metric in metrics]
        names = [metric.name for metric in self.metrics]
        if len(set(names)) != len(names) or "loss" in names:
            raise ValueError(f"Trainer: metric names must be unique and not 'loss', got {names}")
        self.scheduler = scheduler
        self.callbacks: list[Callback] = list(callbacks)
        self.grad_clip = grad_clip
        self.verbose = verbose
        self.log_every = log_every
        self.jit = bool(jit)
        self._captured_step: Any = None
        if scheduler is None:
            self.scheduler_interval = None
        elif scheduler_interval is not None:
            self.scheduler_interval = scheduler_interval
        else:
            self.scheduler_interval = getattr(scheduler, "interval", "epoch")
            if self.scheduler_interval not in ("batch", "epoch"):
                raise ValueError(f"Trainer: the scheduler's interval must be 'batch' or 'epoch', "
                                 f"got {self.scheduler_interval!r}")
        self.plateau = isinstance(scheduler, giagrad.optim.lr_scheduler.ReduceLROnPlateau)
        self.plateau_monitor = plateau_monitor
        self.epoch = 0
        self.step = 0
        self.history = History()
        smoothing = getattr(loss_fn, "label_smoothing", 0.0)
        if isinstance(smoothing, (int, float)) and smoothing > 0:  # it keeps the loss above 0: the plot says so
            self.history.metadata["label_smoothing"] = float(smoothing)
        self.stop_training = False
        self.interrupted = False
        self._train_loader: Any = None
        self._batch_in_epoch = 0  # optimisation steps done in the running epoch
        self._resume_batches = 0  # steps of a partly done epoch to skip after a resume
        self._rng_between_steps: dict[str, Any] | None = None  # see _train_epoch
        self._epoch_progress: dict[str, Any] | None = None  # the running sums of an unfinished epoch
        self._resume_progress: dict[str, Any] | None = None  # the same, from a checkpoint

    # ------------------------------------------------------------------------------- output

    @property
    def is_main_process(self) -> bool:
        """Whether this process prints and writes files: rank 0 of a data-parallel job, or the only one."""
        return _rank_and_world_size()[0] == 0

    def log(self, message: str) -> None:
        """Print a line (unless ``verbose=0``, or on ranks other than 0) without breaking a progress bar."""
        if self.verbose and self.is_main_process:
            from tqdm import tqdm

            tqdm.write(message, file=sys.stdout)

    def _show_bar(self) -> bool:
        if self.verbose != 1 or not self.is_main_process:
            return False
        stream = sys.stderr
        return hasattr(stream, "isatty") and stream.isatty()

    # ---------------------------------------------------------------------------------- fit

    def fit(self, train_loader: Iterable[Any], val_loader: Iterable[Any] | None = None, epochs: int = 1,
            resume: str | os.PathLike[str] | None = None) -> History:
        """Train until ``epochs`` epochs are done in total (counting those of a resumed run).

        Parameters
        ----------
        train_loader : iterable of batches
            Batches ``(inputs, targets)`` (tuples, lists, or dicts with keys "inputs"/"targets").
        val_loader : iterable of batches, optional
            Evaluated after every epoch; its values are logged as ``val_loss``, ``val_<metric>``.
        epochs : int
            The epoch to stop after (like Keras's ``epochs``: a run resumed after epoch 3 with
            ``epochs=10`` trains 7 more).
        resume : path, optional
            A checkpoint written by ``ModelCheckpoint`` / ``save_checkpoint``: model, optimizer,
            scheduler, counters, history, RNG, loader and callback states are restored (all or
            nothing, see :meth:`load_checkpoint`), and training continues exactly as if it had
            never stopped, also from the middle of an epoch, as long as the data, the model's
            code and the settings are the same (a longer ``OneCycleLR`` is the documented
            exception: the rest of the run follows it).

        Returns
        -------
        History
            All records so far. After Ctrl-C, ``fit`` returns normally with ``interrupted``
            set (and, with a ``ModelCheckpoint``, ``interrupted.npz`` saved).

        Raises
        ------
        RuntimeError
            When a loss is NaN or infinite, naming the epoch and step (the parameters are those
            from before that batch).
        ValueError
            When the training loader yields no batch in an epoch.
        """
        if not isinstance(epochs, int) or epochs < 0:
            raise ValueError(f"fit: epochs must be a non-negative integer, got {epochs!r}")
        if resume is not None:
            self.load_checkpoint(resume, train_loader=train_loader)
        self._train_loader = train_loader
        self.stop_training = False
        self.interrupted = False
        self._rng_between_steps = None
        batch_callbacks = [cb for cb in self.callbacks if type(cb).on_batch_end is not Callback.on_batch_end]
        try:
            for callback in self.callbacks:
                callback.on_fit_start(self)
            while self.epoch < epochs and not self.stop_training:
                for callback in self.callbacks:
                    callback.on_epoch_start(self)
                started = time.perf_counter()
                logs = self._train_epoch(train_loader, epochs, batch_callbacks)
                if val_loader is not None:
                    logs.update({"val_" + key: value for key, value in self.evaluate(val_loader).items()})
                self.epoch += 1
                self._batch_in_epoch = 0
                self._epoch_progress = None
                logs = {"epoch": self.epoch, **logs, "lr": self._lr(), "seconds": time.perf_counter() - started}
                if self.scheduler_interval == "epoch":
                    self._step_epoch_scheduler(logs)
                self.history.record_epoch(logs)
                if self.epoch % self.log_every == 0 or self.epoch == epochs:
                    self.log(self._summary(logs, epochs))
                for callback in self.callbacks:
                    callback.on_epoch_end(self, logs)
        except KeyboardInterrupt:
            self.interrupted = True
            self.log(f"interrupted during epoch {self.epoch + 1} after {self._batch_in_epoch} batches")
            for callback in self.callbacks:
                callback.on_interrupt(self)
        for callback in self.callbacks:
            callback.on_fit_end(self)
        return self.history

    def _train_epoch(self, loader: Iterable[Any], epochs: int, batch_callbacks: list[Callback]) -> dict[str, float]:
        """One pass over ``loader``: the hot loop, so it does little beyond the hand-written loop."""
        model, optimizer, loss_fn, metrics = self.model, self.optimizer, self.loss_fn, self.metrics
        distributed = _rank_and_world_size()[1] > 1
        # DistributedDataParallel averages in backward; this finishes what a parameter without a
        # gradient left waiting (a no-op otherwise), before clipping reads the gradients.
        reduce_gradients = getattr(model, "reduce_gradients", None)
        batch_scheduler = self.scheduler if self.scheduler_interval == "batch" else None
        clip = self._clipper()
        captured = self._jit_step(distributed or reduce_gradients is not None) if self.jit else None
        steps = self.history.steps
        step_column, epoch_column, loss_column, lr_column = steps["step"], steps["epoch"], steps["loss"], steps["lr"]
        group = optimizer.param_groups[0]
        epoch_number = self.epoch + 1
        if hasattr(loader, "set_epoch"):  # shuffling order of this epoch, also after a resume
            loader.set_epoch(self.epoch)
        for metric in metrics:
            metric.reset()
        model.train()
        loss_total, sample_count = 0.0, 0
        if self._resume_batches and self._resume_progress is not None:
            # what the checkpoint's part of this epoch had summed: the epoch's logs cover all of it
            loss_total, sample_count = float(self._resume_progress["loss_sum"]), int(self._resume_progress["samples"])
            for metric, saved in zip(metrics, self._resume_progress["metrics"], strict=False):
                if saved is not None and hasattr(metric, "load_state_dict"):
                    metric.load_state_dict(saved)
        self._resume_progress = None
        bar = None
        batches: Iterable[Any] = loader
        if self._show_bar():
            from tqdm import tqdm

            total = len(cast(Sized, loader)) if hasattr(loader, "__len__") else None
            bar = tqdm(loader, total=total, desc=f"epoch {epoch_number}/{epochs}", leave=False,
                       dynamic_ncols=True, mininterval=0.2, unit="batch")
            batches = bar
        next_postfix = 0.0
        batches = iter(batches)
        self._batch_in_epoch = self._resume_batches
        if self._resume_batches:
            # A checkpoint from the middle of an epoch: skip the batches it had already trained on
            # (the same ones: the loader's state replays the epoch's order), leaving the generator as saved.
            rng_state = giagrad.get_rng_state()
            skipped = sum(1 for _ in itertools.islice(batches, self._resume_batches))
            giagrad.set_rng_state(rng_state)
            self._resume_batches = 0
        else:
            skipped = 0
        # The generator as it is between two steps: what a checkpoint taken on Ctrl-C in the
        # middle of the next batch must save (its loading and forward pass may have drawn already).
        self._rng_between_steps = giagrad.get_rng_state()
        try:
            for batch in batches:
                inputs, targets = _split_batch(batch)
                lr = group["lr"]
                if captured is not None:  # the whole step at once: the loss is checked after the update
                    loss, outputs = captured(inputs, targets)
                    value = loss.item()
                    self._stop_if_not_finite(value, epoch_number, updated=True)
                else:
                    optimizer.zero_grad()
                    outputs = model(inputs)
                    loss = loss_fn(outputs, targets)
                    value = loss.item()
                    if distributed:  # the global batch's loss; a NaN on any rank stops every rank
                        value = _mean_across_ranks(value)
                    self._stop_if_not_finite(value, epoch_number, updated=False)
                    loss.backward()
                    if reduce_gradients is not None:
                        reduce_gradients()
                    if clip is not None:
                        clip()
                    optimizer.step()
                if batch_scheduler is not None:
                    batch_scheduler.step()
                self.step += 1
                self._batch_in_epoch += 1
                self._rng_between_steps = giagrad.get_rng_state()
                count = len(targets) if targets is not None else len(inputs)
                loss_total += value * count
                sample_count += count
                for metric in metrics:
                    metric.update(outputs, targets)
                step_column.append(self.step)
                epoch_column.append(epoch_number)
                loss_column.append(value)
                lr_column.append(lr)
                for callback in batch_callbacks:
                    callback.on_batch_end(self, value)
                if bar is not None:
                    now = time.perf_counter()
                    if now >= next_postfix:  # formatting the postfix costs more than the rest of this loop
                        next_postfix = now + 0.5
                        bar.set_postfix_str(self._postfix(loss_total / sample_count, lr), refresh=False)
            self._rng_between_steps = None  # the epoch's batches are done: the live state counts again
        finally:
            if bar is not None:  # also on Ctrl-C or a NaN: leave no half-drawn bar behind
                bar.close()
            # what a checkpoint taken before the epoch ends must keep (also on Ctrl-C)
            self._epoch_progress = {"loss_sum": loss_total, "samples": sample_count,
                                    "metrics": [metric.state_dict() if hasattr(metric, "state_dict") else None
                                                for metric in metrics]}
        if not sample_count and not skipped:
            raise ValueError(f"fit: the training loader yielded no batches in epoch {epoch_number} (an empty "
                             "dataset, or drop_last=True with fewer samples than batch_size?)")
        return self._logs(loss_total, sample_count)

    def _logs(self, loss_total: float, sample_count: int) -> dict[str, float]:
        """The mean loss and the metrics, over the samples of every rank."""
        if _rank_and_world_size()[1] > 1:
            return _logs_across_ranks(loss_total, sample_count, self.metrics)
        logs = {"loss": loss_total / sample_count if sample_count else math.nan}
        for metric in self.metrics:
            logs[metric.name] = float(metric.compute())
        return logs

    def _postfix(self, mean_loss: float, lr: float) -> str:
        parts = [f"loss={mean_loss:.4f}"]
        for metric in self.metrics:
            parts.append(f"{metric.name}={metric.compute():.4f}")
        parts.append(f"lr={lr:.3g}")
        return ", ".join(parts)

    def _summary(self, logs: dict[str, float], epochs: int) -> str:
        parts = [f"epoch {logs['epoch']}/{epochs}"]
        for key, value in logs.items():
            if key in ("epoch", "lr", "seconds"):
                continue
            parts.append(f"{key} {value:.4f}")
        parts.append(f"lr {logs['lr']:.3g}")
        parts.append(f"{logs['seconds']:.1f} s")
        return "  ".join(parts)

    def _lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def _clipper(self) -> Callable[[], Any] | None:
        if self.grad_clip is None:
            return None
        from giagrad.nn.utils import clip_grad_norm_

        parameters = [p for group in self.optimizer.param_groups for p in group["params"]]
        max_norm = self.grad_clip
        return lambda: clip_grad_norm_(parameters, max_norm)

    def _stop_if_not_finite(self, value: float, epoch_number: int, updated: bool) -> None:
        """Stop training on a NaN or infinite loss, saying where and whether the update was applied."""
        if math.isfinite(value):
            return
        if updated:  # jit=True: the captured step runs whole, its update included
            stopped, advice = "after updating the parameters (jit=True runs the step whole)", \
                "a smaller learning rate or check the inputs for NaN"
        else:
            stopped, advice = "before updating the parameters", \
                "a smaller learning rate, gradient clipping (grad_clip=) or check the inputs for NaN"
        raise RuntimeError(f"fit: the loss is {value} at epoch {epoch_number}, step {self.step + 1} "
                           f"(batch {self._batch_in_epoch + 1} of the epoch); training stopped {stopped}. Try {advice}")

    def _jit_step(self, data_parallel: bool) -> Any:
        """The training step (zero_grad, forward, backward, step) wrapped by ``giagrad.jit.capture``, made once."""
        if data_parallel:
            raise ValueError("Trainer: jit=True does not support data-parallel training (its gradients are averaged "
                             "by hooks replay does not run)")
        if self._captured_step is None:
            from giagrad import jit

            model, optimizer, loss_fn = self.model, self.optimizer, self.loss_fn

            def train_step(inputs: Any, targets: Any) -> tuple[Any, Any]:
                optimizer.zero_grad()
                outputs = model(inputs)
                loss = loss_fn(outputs, targets)
                loss.backward()
                optimizer.step()
                return loss, outputs

            self._captured_step = jit.capture(train_step)
        return self._captured_step

    def _step_epoch_scheduler(self, logs: dict[str, float]) -> None:
        if not self.plateau:
            self.scheduler.step()
            return
        monitor = self.plateau_monitor or ("val_loss" if "val_loss" in logs else "loss")
        if monitor not in logs:
            raise KeyError(f"fit: ReduceLROnPlateau monitors {monitor!r}, which is not in the epoch logs "
                           f"{sorted(logs)}")
        self.scheduler.step(logs[monitor])

    # ------------------------------------------------------------------- evaluate, predict

    def evaluate(self, loader: Iterable[Any]) -> dict[str, float]:
        """The mean loss and metrics over ``loader``, in eval mode and without a graph.

        Returns
        -------
        dict
            ``{"loss": ..., "<metric>": ...}``.
        """
        model, loss_fn = self.model, self.loss_fn
        metrics = self.metrics  # reset here: training values were read before evaluation
        was_training = getattr(model, "training", False)
        for metric in metrics:
            metric.reset()
        model.eval()
        loss_total, sample_count = 0.0, 0
        try:
            with giagrad.no_grad():
                for batch in loader:
                    inputs, targets = _split_batch(batch)
                    outputs = model(inputs)
                    count = len(targets)
                    loss_total += loss_fn(outputs, targets).item() * count
                    sample_count += count
                    for metric in metrics:
                        metric.update(outputs, targets)
        finally:
            model.train(was_training)
        if not sample_count:
            raise ValueError("evaluate: the loader yielded no samples; a mean loss over nothing would be NaN")
        return self._logs(loss_total, sample_count)

    def predict(self, loader: Iterable[Any]) -> giagrad.Tensor:
        """The model's outputs for every batch of ``loader``, concatenated along the first dim.

        Batches may be ``(inputs, targets)`` pairs (targets are ignored) or bare inputs.
        """
        model = self.model
        was_training = getattr(model, "training", False)
        outputs: list[np.ndarray] = []
        model.eval()
        try:
            with giagrad.no_grad():
                for batch in loader:
                    inputs, _ = _split_batch(batch)
                    outputs.append(model(inputs).data)
        finally:
            model.train(was_training)
        if not outputs:
            raise ValueError("predict: the loader yielded no batches")
        return giagrad.tensor(np.concatenate(outputs))

    # ---------------------------------------------------------------------- checkpoints

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue training exactly: see ``save_checkpoint``."""
        state: dict[str, Any] = {
            "format": CHECKPOINT_FORMAT,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "epoch": self.epoch,
            "step": self.step,
            "batch_in_epoch": self._batch_in_epoch,
            # JSON keeps Python's 128-bit generator state and the lists of records intact
            "history": json.dumps(self.history.state_dict()),
            "rng_state": json.dumps(self._rng_between_steps or giagrad.get_rng_state()),
            "callbacks": {f"{index}_{type(cb).__name__}": cb.state_dict() for index, cb in enumerate(self.callbacks)},
        }
        if self.scheduler is not None:
            state["scheduler"] = self.scheduler.state_dict()
        if self._batch_in_epoch and self._epoch_progress is not None:
            state["epoch_progress"] = self._epoch_progress
        loader = self._train_loader
        if loader is not None and hasattr(loader, "state_dict"):
            state["train_loader"] = loader.state_dict()
        return state

    def save_checkpoint(self, path: str | os.PathLike[str]) -> None:
        """Write a checkpoint with ``giagrad.save`` (atomic: temp file, then rename).

        It holds the model, optimizer and scheduler state dicts, the epoch and step counters,
        the history, giagrad's RNG state, the training loader's state and the callbacks' state.
        In a data-parallel job only rank 0 writes (the ranks hold the same state).
        """
        if self.is_main_process:
            giagrad.save(self.state_dict(), path)

    def load_checkpoint(self, path: str | os.PathLike[str], train_loader: Any = None) -> None:
        """Restore a checkpoint written by ``save_checkpoint`` (and the loader's state, if given).

        All or nothing: when a part does not fit (another model, another optimizer, a malformed
        entry), the error names it and the model, optimizer, scheduler, history, generator,
        callbacks and loader are left as they were.

        A scheduler with a ``total_steps`` (``OneCycleLR``) keeps the length it was built with:
        resumed for more epochs than the checkpoint's run planned, the remaining steps follow the
        longer cycle, with a warning (the learning rate jumps to that cycle's value). A cycle
        shorter than the steps already taken is an error. A checkpoint's scheduler state that
        this trainer has no scheduler for is ignored with a warning.
        """
        where = os.fspath(path)
        state = giagrad.load(path)
        if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"load_checkpoint: {where!r} is not a trainer checkpoint "
                             "(write one with Trainer.save_checkpoint or ModelCheckpoint)")
        try:  # the plain parts first: a malformed checkpoint fails here, with nothing changed
            epoch, step = _count(state["epoch"]), _count(state["step"])
            resume_batches = _count(state.get("batch_in_epoch", 0))
            history = json.loads(_as_text(state["history"]))
            rng_state = json.loads(_as_text(state["rng_state"]))
            model_state, optimizer_state = state["model"], state["optimizer"]
            saved_callbacks = state.get("callbacks", {})
            progress = _plain(state.get("epoch_progress"))
            if progress is not None:
                progress = {"loss_sum": float(progress["loss_sum"]), "samples": _count(progress["samples"]),
                            "metrics": list(progress["metrics"])}
        except (KeyError, TypeError, ValueError) as error:
            raise CheckpointError(f"load_checkpoint: {where!r} is not a complete trainer checkpoint "
                                  f"({type(error).__name__}: {error})") from None
        scheduler_state = state.get("scheduler")
        if self.scheduler is not None and scheduler_state is None:
            raise ValueError(f"load_checkpoint: {where!r} has no scheduler state, but this trainer has a scheduler")
        if self.scheduler is None and scheduler_state is not None:
            warnings.warn(f"load_checkpoint: {where!r} holds a learning-rate scheduler's state, but this trainer has "
                          "no scheduler: the schedule stops here (the learning rate stays at the checkpoint's). "
                          "Pass the same scheduler to the Trainer to continue it", stacklevel=2)
        undo: list[Callable[[], Any]] = []
        try:
            self._load_part(undo, self.model, model_state, _copy_state(self.model.state_dict()))
            self._load_part(undo, self.optimizer, optimizer_state)
            if self.scheduler is not None:
                configured_steps = getattr(self.scheduler, "total_steps", None)
                self._load_part(undo, self.scheduler, scheduler_state)
                if configured_steps is not None:
                    self._keep_schedule_length(configured_steps, where)
            self._load_part(undo, self.history, history)
            previous_rng = giagrad.get_rng_state()
            giagrad.set_rng_state(rng_state)
            undo.append(lambda: giagrad.set_rng_state(previous_rng))
            for index, callback in enumerate(self.callbacks):
                key = f"{index}_{type(callback).__name__}"
                if key in saved_callbacks:
                    self._load_part(undo, callback, saved_callbacks[key])
            if train_loader is not None and "train_loader" in state and hasattr(train_loader, "load_state_dict"):
                self._load_part(undo, train_loader, _plain(state["train_loader"]))
        except BaseException:
            for restore in reversed(undo):
                restore()
            raise
        self.epoch, self.step, self._resume_batches = epoch, step, resume_batches
        self._resume_progress = progress

    @staticmethod
    def _load_part(undo: list[Callable[[], Any]], part: Any, saved: Any, previous: Any = None) -> None:
        """``part.load_state_dict(saved)``, after noting how to put ``part`` back as it was."""
        if previous is None:
            previous = copy.deepcopy(part.state_dict())
        part.load_state_dict(saved)
        undo.append(lambda: part.load_state_dict(previous))

    def _keep_schedule_length(self, configured_steps: int, where: str) -> None:
        """Give the loaded scheduler back the ``total_steps`` it was built with (see ``load_checkpoint``)."""
        scheduler = self.scheduler
        saved_steps = scheduler.total_steps
        if saved_steps == configured_steps:
            return
        name = type(scheduler).__name__
        taken = scheduler.last_epoch
        if configured_steps < taken:
            raise ValueError(f"load_checkpoint: {where!r} has taken {taken} steps of a {name} cycle of "
                             f"total_steps={saved_steps}, but this trainer's {name} has total_steps="
                             f"{configured_steps}: build the scheduler with total_steps >= {taken} (for the "
                             "epochs of the whole run, counting those already done)")
        scheduler.total_steps = configured_steps
        warnings.warn(f"load_checkpoint: {where!r} was saved with a {name} cycle of total_steps={saved_steps}; this "
                      f"trainer's has total_steps={configured_steps}: training continues from step {taken} of the "
                      f"{'longer' if configured_steps > saved_steps else 'shorter'} cycle, so the learning rate "
                      "changes to that cycle's value at that step", stacklevel=3)

    @property
    def checkpoint_directory(self) -> str | None:
        """The directory of the first ``ModelCheckpoint`` callback, if any."""
        for callback in self.callbacks:
            if isinstance(callback, ModelCheckpoint):
                return os.fspath(callback.directory)
        return None


def _count(value: Any) -> int:
    """A non-negative integer from a checkpoint (an int, or a 0-d integer array)."""
    value = _plain(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"expected a non-negative integer, got {value!r}")
    return value


def _rank_and_world_size() -> tuple[int, int]:
    """This process's rank and the world size of the data-parallel job; (0, 1) outside one."""
    from giagrad import distributed

    if distributed.is_initialized():
        return distributed.get_rank(), distributed.get_world_size()
    return 0, 1


def _mean_across_ranks(value: float) -> float:
    from giagrad import distributed

    buffer = np.array([value], dtype=np.float64)
    distributed.all_reduce(buffer, distributed.ReduceOp.AVG)
    return float(buffer[0])


def _logs_across_ranks(loss_total: float, sample_count: int, metrics: list[Metric]) -> dict[str, float]:
    """Loss and metrics over all ranks' samples, from the sums each rank holds (one all-reduce).

    A metric with ``sum_states`` (names of attributes that add up across ranks, such as
    ``Accuracy``'s correct and count) is computed from the summed attributes, exactly as over
    one process; any other metric is the mean of the ranks' values.
    """
    from giagrad import distributed

    values = [loss_total, sample_count]
    for metric in metrics:
        states = getattr(metric, "sum_states", None)
        values += [getattr(metric, name) for name in states] if states else [metric.compute()]
    buffer = np.array(values, dtype=np.float64)
    distributed.all_reduce(buffer, distributed.ReduceOp.SUM)
    loss_total, sample_count = float(buffer[0]), float(buffer[1])
    logs = {"loss": loss_total / sample_count if sample_count else math.nan}
    position = 2
    for metric in metrics:
        states = getattr(metric, "sum_states", None)
        if states:
            for name in states:
                kind = type(getattr(metric, name))  # int counts stay ints
                setattr(metric, name, kind(buffer[position]) if kind in (int, float) else buffer[position])
                position += 1
            logs[metric.name] = float(metric.compute())
        else:
            logs[metric.name] = float(buffer[position]) / distributed.get_world_size()
            position += 1
    return logs


def _as_text(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return str(value.item())
    return str(value)


def _plain(value: Any) -> Any:
    """Numbers stored as 0-d arrays back to Python numbers (for loaders' plain-int states)."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return value.item()
    if isinstance(value, np.generic):
        return value.item()
    return value
