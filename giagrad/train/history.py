"""What happened during training: per-step and per-epoch records, plots and exports.

Examples
--------
>>> history = trainer.fit(train_loader, val_loader, epochs=5)     # doctest: +SKIP
>>> history["val_accuracy"]            # one value per epoch       # doctest: +SKIP
>>> history.plot("curves.png")                                     # doctest: +SKIP
>>> history.to_csv("epochs.csv"); history.to_json("history.json")  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import json
import math
import os
from typing import Any

__all__ = ["History"]

STEP_KEYS = ("step", "epoch", "loss", "lr")


class History:
    """Training records: one row per optimisation step and one per epoch.

    Attributes
    ----------
    epochs : list of dict
        One dict per finished epoch, e.g. ``{"epoch": 1, "loss": 0.41, "accuracy": 0.88,
        "val_loss": 0.37, "val_accuracy": 0.89, "lr": 0.001, "seconds": 4.2}``. Training values
        are the means over the epoch's batches, validation values over the whole loader.
    steps : dict of lists
        Column per key: ``step`` (global, from 1), ``epoch`` (from 1), ``loss`` (that batch's
        loss) and ``lr`` (the learning rate used for the step). Columns keep the per-batch cost
        to a few list appends.
    metadata : dict
        Facts about the run that explain the curves, e.g. ``{"label_smoothing": 0.1}`` (the
        ``Trainer`` records its loss's label smoothing, which keeps the loss above 0; the plot
        says so in its legend).
    """

    def __init__(self) -> None:
        self.epochs: list[dict[str, float]] = []
        self.steps: dict[str, list[float]] = {key: [] for key in STEP_KEYS}
        self.metadata: dict[str, Any] = {}

    # ------------------------------------------------------------------------- recording

    def record_epoch(self, logs: dict[str, float]) -> None:
        """Append one epoch's logs (a copy)."""
        self.epochs.append(dict(logs))

    def __getitem__(self, key: str) -> list[float]:
        """The per-epoch values of ``key`` (NaN where an epoch lacks it)."""
        if not any(key in row for row in self.epochs):
            known = sorted({k for row in self.epochs for k in row})
            raise KeyError(f"History has no {key!r}; epoch records hold {known}")
        return [row.get(key, math.nan) for row in self.epochs]

    def __len__(self) -> int:
        return len(self.epochs)

    def keys(self) -> list[str]:
        """Every key of the epoch records, in first-seen order."""
        seen: dict[str, None] = {}
        for row in self.epochs:
            seen.update(dict.fromkeys(row))
        return list(seen)

    def __repr__(self) -> str:
        return f"History({len(self.epochs)} epochs, {len(self.steps['step'])} steps, keys={self.keys()})"

    # ------------------------------------------------------------------- state and exports

    def state_dict(self) -> dict[str, Any]:
        """A plain copy of the records (what checkpoints keep)."""
        return {"epochs": [dict(row) for row in self.epochs],
                "steps": {key: list(values) for key, values in self.steps.items()},
                "metadata": dict(self.metadata)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Replace the records with those of ``state_dict()``."""
        self.epochs = [dict(row) for row in state["epochs"]]
        self.steps = {key: list(state["steps"].get(key, [])) for key in STEP_KEYS}
        self.metadata = dict(state.get("metadata", {}))

    def to_json(self, path: str | os.PathLike[str] | None = None) -> str:
        """The records as JSON (``{"epochs": [...], "steps": {...}}``); written to ``path`` if given.

        NaN and infinities are written as ``null``, so that any JSON reader accepts the file.
        """
        text = json.dumps(_finite_or_none(self.state_dict()), indent=1)
        if path is not None:
            with open(path, "w", encoding="utf-8") as file:
                file.write(text + "\n")
        return text

    @classmethod
    def from_json(cls, text: str) -> History:
        """Rebuild a history from ``to_json`` text (``null`` becomes NaN)."""
        state = json.loads(text)
        history = cls()
        history.load_state_dict(_none_to_nan(state))
        return history

    def to_csv(self, path: str | os.PathLike[str], level: str = "epoch") -> None:
        """Write one row per epoch (``level="epoch"``) or per step (``level="step"``) as CSV."""
        if level == "epoch":
            columns, rows = self.keys(), self.epochs
        elif level == "step":
            columns = list(STEP_KEYS)
            rows = [dict(zip(columns, values, strict=True)) for values in zip(*self.steps.values(), strict=True)]
        else:
            raise ValueError(f"to_csv: level must be 'epoch' or 'step', got {level!r}")
        with open(path, "w", newline="", encoding="utf-8") as file:
            writer = csv.DictWriter(file, fieldnames=columns, restval="")
            writer.writeheader()
            writer.writerows(rows)

    # ------------------------------------------------------------------------------ plots

    def plot(self, path: str | os.PathLike[str] | None = None, title: str | None = None,
             val_label: str = "validation") -> Any:
        """Draw the loss curves and, beside them, each metric's curves; save to ``path`` if given.

        The loss panel shows the per-step training loss (faint), its per-epoch mean and the
        validation loss; each metric (accuracy, ...) gets a panel with its training and
        validation values per epoch (``val_label`` names them in the legends, e.g. "test" when
        the validation loader is the test set). Epochs are whole numbers on the x axis, each
        panel names its axes, and when ``metadata`` records label smoothing the loss legend says
        that it lifts the loss. Returns the matplotlib figure: with a ``path`` a figure on the Agg
        canvas (the session's matplotlib backend is never changed), else a pyplot figure for
        ``plt.show()``.
        """
        from matplotlib.ticker import MaxNLocator

        from giagrad.viz import new_figure

        metrics = [key for key in self.keys() if key not in ("epoch", "loss", "val_loss", "lr", "seconds")
                   and not key.startswith("val_")]
        # validation-only metrics (no training counterpart) get their own panel too
        metrics += [key[4:] for key in self.keys() if key.startswith("val_") and key != "val_loss"
                    and key[4:] not in metrics]
        figure = new_figure((5.2 * (1 + len(metrics)), 3.8), for_file=path is not None)
        axes = figure.subplots(1, 1 + len(metrics), squeeze=False)[0]
        steps_per_epoch = self._steps_per_epoch()
        loss_ax = axes[0]
        if self.steps["loss"]:
            # step s of epoch e sits at e - 1 + s / steps_per_epoch, so steps and epochs share an axis
            xs = [step / steps_per_epoch for step in self.steps["step"]]
            loss_ax.plot(xs, self.steps["loss"], color="tab:blue", alpha=0.25, linewidth=0.8, label="train (per step)")
        epochs = self["epoch"] if self.epochs else []
        show_markers = len(epochs) <= 30  # markers on every point would blur a long run's curves
        curves = (("loss", "train", "tab:blue", "o"), ("val_loss", val_label, "tab:orange", "s"))
        for key, label, colour, marker in curves:
            if key in self.keys():
                loss_ax.plot(epochs, self[key], color=colour, marker=marker if show_markers else None,
                             linewidth=1.8, label=label)
        loss_ax.set_title("loss")
        loss_ax.set_ylabel("loss")
        for ax, metric in zip(axes[1:], metrics, strict=True):
            for key, label, colour, marker in ((metric, "train", "tab:blue", "o"),
                                               ("val_" + metric, val_label, "tab:orange", "s")):
                if key in self.keys():
                    ax.plot(epochs, self[key], color=colour, marker=marker if show_markers else None,
                            linewidth=1.8, label=label)
            ax.set_title(metric.replace("_", " "))
            ax.set_ylabel(metric.replace("_", " "))
        smoothing = self.metadata.get("label_smoothing")
        for ax in axes:
            ax.set_xlabel("epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epoch 1, 2, 3, not 1.25, 1.5, ...
            ax.grid(True, alpha=0.3)
            if ax.get_legend_handles_labels()[0]:
                note = f"label smoothing {smoothing:g} lifts the loss" if ax is loss_ax and smoothing else None
                ax.legend(title=note, title_fontsize="small")
        if title:
            figure.suptitle(title)
        figure.tight_layout()
        if path is not None:
            figure.savefig(os.fspath(path), dpi=100)
        return figure

    def _steps_per_epoch(self) -> float:
        steps, epochs = self.steps["step"], self.steps["epoch"]
        if not steps:
            return 1.0
        # the steps of the first epoch (all epochs have the same number of batches)
        first = epochs[0]
        count = 0
        for epoch in epochs:
            if epoch != first:
                break
            count += 1
        return float(count)


def _finite_or_none(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite_or_none(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite_or_none(item) for item in value]
    return value


def _none_to_nan(value: Any) -> Any:
    if value is None:
        return math.nan
    if isinstance(value, dict):
        return {key: _none_to_nan(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_none_to_nan(item) for item in value]
    return value
