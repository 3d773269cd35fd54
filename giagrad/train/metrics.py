"""Metrics the trainer reports: accuracy (top-k), a running mean, and your own.

A metric follows a three-method protocol, so that it can be summed over batches exactly:

- ``update(output, target)`` adds one batch (model output and targets, Tensors or arrays);
- ``compute() -> float`` the value over everything seen since the last reset;
- ``reset()`` forgets it all (the trainer calls it at the start of each epoch and evaluation).

A metric may also have ``state_dict()`` / ``load_state_dict(state)`` (the ones here do): a
checkpoint taken in the middle of an epoch then keeps what it had summed, and the resumed
epoch reports the value over the whole epoch.

In a data-parallel job the trainer combines the ranks' metrics through ``sum_states``: the
names of the attributes that add up across ranks (``("correct", "count")`` for ``Accuracy``).
A metric without it is averaged over the ranks.

A plain function ``fn(output, target) -> float`` works too: ``as_metric`` wraps it in
``BatchMean``, which averages its per-batch values weighted by the batch sizes.

Examples
--------
>>> accuracy = Accuracy()
>>> accuracy.update(giagrad.tensor([[0.1, 0.9], [0.8, 0.2]]), giagrad.tensor([1, 1]))
>>> accuracy.compute()
0.5
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = ["Metric", "Accuracy", "BatchMean", "as_metric"]


@runtime_checkable
class Metric(Protocol):
    """What the trainer needs from a metric: a ``name`` and update / compute / reset."""

    name: str

    def update(self, output: Any, target: Any) -> None: ...

    def compute(self) -> float: ...

    def reset(self) -> None: ...


def _array(value: Any) -> np.ndarray:
    return value.data if hasattr(value, "data") and isinstance(value.data, np.ndarray) else np.asarray(value)


class Accuracy:
    """Fraction of samples whose target class is among the ``top_k`` highest scores.

    The output holds scores of shape ``(N, C)`` (logits or probabilities: only their order
    matters) or ``(N,)`` single logits of a binary problem (positive when > 0). Targets are class
    indices ``(N,)``, or one-hot / probability rows ``(N, C)`` (their arg-max is the class).

    Math: ``accuracy = (1 / N) * sum_i [target_i in top_k(output_i)]``.

    Parameters
    ----------
    top_k : int
        1 for plain accuracy (the arg-max is the target), 5 for top-5 accuracy, ...
    name : str, optional
        The key in logs and history; ``"accuracy"`` for top-1, ``"top5_accuracy"`` for top-5.

    Examples
    --------
    >>> metric = Accuracy(top_k=2)
    >>> metric.update(np.array([[0.1, 0.5, 0.4], [0.6, 0.3, 0.1]]), np.array([2, 2]))
    >>> metric.compute()
    0.5
    """

    def __init__(self, top_k: int = 1, name: str | None = None) -> None:
        if not isinstance(top_k, int) or top_k < 1:
            raise ValueError(f"Accuracy: top_k must be a positive integer, got {top_k!r}")
        self.top_k = top_k
        self.name = name or ("accuracy" if top_k == 1 else f"top{top_k}_accuracy")
        self.reset()

    # what adds up across the ranks of a data-parallel job
    sum_states = ("correct", "count")

    def reset(self) -> None:
        self.correct = 0
        self.count = 0

    def update(self, output: Any, target: Any) -> None:
        scores, labels = _array(output), _array(target)
        if labels.ndim == scores.ndim and scores.ndim >= 2:  # one-hot or probability targets
            labels = labels.argmax(axis=1)
        if scores.ndim == 1:  # one logit per sample: a binary classifier
            if self.top_k != 1:
                raise ValueError("Accuracy: top_k > 1 needs scores of shape (N, C)")
            correct = int(np.count_nonzero((scores > 0) == (labels > 0.5)))
        elif self.top_k == 1:
            correct = int(np.count_nonzero(scores.argmax(axis=1) == labels))
        else:
            if self.top_k > scores.shape[1]:
                raise ValueError(f"Accuracy: top_k={self.top_k} but the output has only {scores.shape[1]} classes")
            # argpartition finds the k best without sorting all C classes
            best = np.argpartition(scores, -self.top_k, axis=1)[:, -self.top_k:]
            correct = int(np.count_nonzero(best == labels.reshape(-1, 1)))
        self.correct += correct
        self.count += labels.shape[0]

    def compute(self) -> float:
        return self.correct / self.count if self.count else float("nan")

    def state_dict(self) -> dict[str, int]:
        return {"correct": self.correct, "count": self.count}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.correct, self.count = int(state["correct"]), int(state["count"])

    def __repr__(self) -> str:
        return f"Accuracy(top_k={self.top_k})"


class BatchMean:
    """Mean of a per-batch value, weighted by the batch sizes (the running mean loss, say).

    Parameters
    ----------
    function : callable, optional
        ``function(output, target) -> float`` for one batch; without it, feed values with
        ``add(value, count)``.
    name : str, optional
        The key in logs and history (default: the function's name).

    Examples
    --------
    >>> mean_loss = BatchMean(name="loss")
    >>> mean_loss.add(0.5, 32); mean_loss.add(0.25, 32)
    >>> mean_loss.compute()
    0.375
    """

    def __init__(self, function: Callable[[Any, Any], float] | None = None, name: str | None = None) -> None:
        self.function = function
        self.name = str(name or getattr(function, "__name__", "mean"))
        self.reset()

    sum_states = ("total", "count")

    def reset(self) -> None:
        self.total = 0.0
        self.count = 0

    def add(self, value: float, count: int = 1) -> None:
        self.total += value * count
        self.count += count

    def update(self, output: Any, target: Any) -> None:
        if self.function is None:
            raise TypeError(f"BatchMean {self.name!r} has no function; use add(value, count)")
        self.add(float(self.function(output, target)), len(_array(target)))

    def compute(self) -> float:
        return self.total / self.count if self.count else float("nan")

    def state_dict(self) -> dict[str, float]:
        return {"total": self.total, "count": self.count}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.total, self.count = float(state["total"]), int(state["count"])

    def __repr__(self) -> str:
        return f"BatchMean(name={self.name!r})"


def as_metric(metric: Any) -> Metric:
    """Turn ``"accuracy"``, ``"top5_accuracy"``, a metric object or a function into a metric."""
    if isinstance(metric, str):
        if metric == "accuracy":
            return Accuracy()
        if metric.startswith("top") and metric.endswith("_accuracy") and metric[3:-9].isdigit():
            return Accuracy(top_k=int(metric[3:-9]))
        raise ValueError(f"unknown metric name {metric!r}; use 'accuracy', 'top5_accuracy' or pass a metric object")
    if isinstance(metric, Metric):
        return metric
    if callable(metric):
        return BatchMean(metric)
    raise TypeError(f"a metric must be a name, an object with update/compute/reset or a function, got {metric!r}")
