"""A first example: classify two interleaving half-moons with a tiny MLP, and draw its boundary.

    python -m recipes.moons
    python -m recipes.moons --noise 0.3 --hidden 32 --out runs/noisy-moons

The data are 2-D points made with numpy (two noisy half circles, one per class), so the run needs
no download and takes seconds. The model is a 2-16-16-2 MLP with ReLU, trained with Adam.
Files in the run folder (default ``runs/moons``): ``boundary.png`` (the decision boundary over the
points), ``curves.png``, ``metrics.json``, ``history.csv`` and the checkpoint ``last.npz``.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np

import giagrad
from giagrad import nn, optim
from giagrad.data import DataLoader, TensorDataset
from giagrad.train import ModelCheckpoint, Trainer
from recipes.common import base_parser, export_onnx, run_folder, stop_if_interrupted, write_results


def make_moons(samples: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles: class 0 on top, class 1 below and shifted right.

    Returns float32 points of shape ``(samples, 2)`` and int64 labels, in random order.
    """
    rng = np.random.default_rng(seed)
    upper = samples // 2
    angles = rng.uniform(0.0, math.pi, size=samples)
    points = np.empty((samples, 2))
    points[:upper, 0], points[:upper, 1] = np.cos(angles[:upper]), np.sin(angles[:upper])
    points[upper:, 0], points[upper:, 1] = 1.0 - np.cos(angles[upper:]), 0.5 - np.sin(angles[upper:])
    points += rng.normal(scale=noise, size=points.shape)
    labels = np.repeat(np.array([0, 1], dtype=np.int64), [upper, samples - upper])
    order = rng.permutation(samples)
    return points[order].astype(np.float32), labels[order]


def draw_boundary(model: nn.Module, points: np.ndarray, labels: np.ndarray, test_points: np.ndarray,
                  test_labels: np.ndarray, path: Path, title: str) -> None:
    """Shade the plane by the model's probability of class 1 and draw the 0.5 contour and the points."""
    from giagrad.viz import new_figure

    low, high = points.min(axis=0) - 0.5, points.max(axis=0) + 0.5
    xs, ys = np.meshgrid(np.linspace(low[0], high[0], 250), np.linspace(low[1], high[1], 250))
    grid = np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float32)
    model.eval()
    with giagrad.no_grad():
        probability = model(giagrad.tensor(grid)).softmax(dim=1).data[:, 1].reshape(xs.shape)
    figure = new_figure((6.4, 4.6), for_file=True)
    ax = figure.subplots()
    shading = ax.contourf(xs, ys, probability, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.75)
    ax.contour(xs, ys, probability, levels=[0.5], colors="black", linewidths=1.5)
    colours = np.array(["#1f4e9c", "#b2182b"])
    ax.scatter(points[:, 0], points[:, 1], c=colours[labels], s=12, edgecolors="white", linewidths=0.4,
               label="training points")
    ax.scatter(test_points[:, 0], test_points[:, 1], c=colours[test_labels], s=22, marker="^",
               edgecolors="black", linewidths=0.5, label="test points")
    figure.colorbar(shading, ax=ax, label="P(class 1)")
    ax.set_title(title)
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")
    ax.legend(loc="upper right", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=90)


def main(argv: list[str] | None = None) -> dict:
    parser = base_parser("moons", "Classify two half-moons with a tiny MLP and draw the decision boundary.",
                         epochs=60, batch_size=32, lr=0.01, images=False)
    parser.add_argument("--samples", type=int, default=1000, help="points in total (a fifth held out for testing)")
    parser.add_argument("--noise", type=float, default=0.2, help="standard deviation of the noise on the points")
    parser.add_argument("--hidden", type=int, default=16, help="units in each of the two hidden layers")
    args = parser.parse_args(argv)

    giagrad.manual_seed(args.seed)
    points, labels = make_moons(args.samples, args.noise, args.seed)
    split = args.samples * 4 // 5
    train_loader = DataLoader(TensorDataset(points[:split], labels[:split]), batch_size=args.batch_size,
                              shuffle=True, seed=args.seed)
    test_loader = DataLoader(TensorDataset(points[split:], labels[split:]), batch_size=1000)

    model = nn.Sequential(nn.Linear(2, args.hidden), nn.ReLU(), nn.Linear(args.hidden, args.hidden), nn.ReLU(),
                          nn.Linear(args.hidden, 2))
    optimizer = optim.Adam(model.parameters(), lr=args.lr)
    folder = run_folder(args.out, "moons")
    trainer = Trainer(model, optimizer, nn.CrossEntropyLoss(), metrics=["accuracy"],
                      callbacks=[ModelCheckpoint(folder, monitor="val_accuracy", save_best=False)],
                      verbose=0 if args.quiet else 2, log_every=max(args.epochs // 10, 1))
    history = trainer.fit(train_loader, test_loader, epochs=args.epochs, resume=args.resume)
    stop_if_interrupted(trainer, folder, history, {}, args, title="MLP on moons")
    test = trainer.evaluate(test_loader)
    draw_boundary(model, points[:split], labels[:split], points[split:], labels[split:], folder / "boundary.png",
                  title=f"decision boundary (test accuracy {test['accuracy']:.1%})")
    if args.export_onnx:
        export_onnx(model, points[:1], folder)
    return write_results(folder, history, {"test_loss": test["loss"], "test_accuracy": test["accuracy"]},
                         args, title="MLP on moons")


if __name__ == "__main__":
    main(sys.argv[1:])
