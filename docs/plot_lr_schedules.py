"""Draw each learning-rate schedule of ``giagrad.optim.lr_scheduler`` over 100 steps.

Writes ``docs/images/lr_schedules.png``::

    python docs/plot_lr_schedules.py
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Callable
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from PIL import Image  # noqa: E402 (a dependency of matplotlib)

import giagrad  # noqa: E402
from giagrad import optim  # noqa: E402
from giagrad.optim import lr_scheduler as S  # noqa: E402

STEPS = 100
OUTPUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "images", "lr_schedules.png")


def lr_sequence(make: Callable[[optim.Optimizer], Any], metric: Callable[[int], float] | None = None,
                momentum: bool = False) -> tuple[list[float], list[float]]:
    """The lr (and SGD momentum) after creation and after each of STEPS - 1 steps."""
    optimizer = optim.SGD([giagrad.zeros(1, requires_grad=True)], lr=0.1, momentum=0.9)
    scheduler = make(optimizer)
    lrs, momenta = [optimizer.param_groups[0]["lr"]], [optimizer.param_groups[0]["momentum"]]
    for step in range(STEPS - 1):
        optimizer.step()
        if metric is None:
            scheduler.step()
        else:
            scheduler.step(metric(step))
        lrs.append(optimizer.param_groups[0]["lr"])
        momenta.append(optimizer.param_groups[0]["momentum"])
    return lrs, momenta


def plateau_metric(step: int) -> float:
    """A validation loss that improves until step 30, stalls, improves again from 50 to 70, stalls."""
    if step < 30:
        return 1.0 / (1 + step)
    return 1.0 / 31 * 0.97 ** (min(max(step, 49), 70) - 49)


SCHEDULES: list[tuple[str, Callable[[optim.Optimizer], Any], dict[str, Any]]] = [
    ("StepLR(step_size=25, gamma=0.5)", lambda o: S.StepLR(o, step_size=25, gamma=0.5), {}),
    ("MultiStepLR([30, 60, 80], gamma=0.3)", lambda o: S.MultiStepLR(o, [30, 60, 80], gamma=0.3), {}),
    ("ExponentialLR(gamma=0.97)", lambda o: S.ExponentialLR(o, gamma=0.97), {}),
    ("CosineAnnealingLR(T_max=99)", lambda o: S.CosineAnnealingLR(o, T_max=STEPS - 1), {}),
    ("LinearLR(start_factor=0.1, total_iters=20)", lambda o: S.LinearLR(o, start_factor=0.1, total_iters=20), {}),
    ("LambdaLR(1 / sqrt(1 + step / 10))", lambda o: S.LambdaLR(o, lambda e: 1 / math.sqrt(1 + e / 10)), {}),
    ("OneCycleLR(max_lr=0.1): lr and momentum", lambda o: S.OneCycleLR(o, max_lr=0.1, total_steps=STEPS),
     {"momentum": True}),
    ("SequentialLR: LinearLR warm-up, then cosine",
     lambda o: S.SequentialLR(o, [S.LinearLR(o, start_factor=0.05, total_iters=10),
                                  S.CosineAnnealingLR(o, T_max=STEPS - 11)], milestones=[10]), {}),
    ("ReduceLROnPlateau(patience=5, factor=0.5)",
     lambda o: S.ReduceLROnPlateau(o, patience=5, factor=0.5), {"metric": plateau_metric}),
]


def main() -> str:
    figure, axes = plt.subplots(3, 3, figsize=(11, 7.5), sharex=True)
    for axis, (title, make, options) in zip(axes.flat, SCHEDULES, strict=True):
        lrs, momenta = lr_sequence(make, options.get("metric"))
        axis.plot(range(STEPS), lrs, color="tab:blue", linewidth=1.6)
        if options.get("momentum"):
            twin = axis.twinx()
            twin.plot(range(STEPS), momenta, color="tab:orange", linewidth=1.2, linestyle="--")
            twin.set_ylabel("momentum", color="tab:orange", fontsize=8)
            twin.tick_params(labelsize=7, colors="tab:orange")
        axis.set_title(title, fontsize=9)
        axis.tick_params(labelsize=7)
        axis.set_ylim(bottom=0)
        axis.grid(alpha=0.3)
    for axis in axes[-1]:
        axis.set_xlabel("step", fontsize=8)
    for axis in axes[:, 0]:
        axis.set_ylabel("lr", fontsize=8)
    figure.suptitle("giagrad.optim.lr_scheduler: learning rate over 100 steps (initial lr 0.1)", fontsize=11)
    figure.tight_layout()
    os.makedirs(os.path.dirname(OUTPUT), exist_ok=True)
    buffer = io.BytesIO()
    figure.savefig(buffer, dpi=80)
    plt.close(figure)
    # A line plot needs few colours: a palette image is a third of the size.
    Image.open(buffer).convert("RGB").quantize(colors=64).save(OUTPUT, optimize=True)
    return OUTPUT


if __name__ == "__main__":
    print(main())
