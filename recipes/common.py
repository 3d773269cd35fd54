"""What the recipes share: the command line, the image data, the run folder and the results.

Each recipe stays a short, readable script: it defines its model and its defaults and calls
these helpers for the parts that are the same everywhere.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import giagrad
from giagrad import nn, optim
from giagrad.data import DataLoader, TensorDataset
from giagrad.train import ModelCheckpoint, Trainer

DATASETS = ("mnist", "fashion")


def base_parser(name: str, description: str, *, epochs: int | None, batch_size: int, lr: float,
                images: bool = True) -> argparse.ArgumentParser:
    """The options every recipe has; a recipe adds its own to the returned parser.

    ``epochs=None`` leaves out ``--epochs`` (for a recipe that counts iterations instead).
    """
    parser = argparse.ArgumentParser(prog=f"python -m recipes.{name}", description=description,
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    if epochs is not None:
        parser.add_argument("--epochs", type=int, default=epochs, help="training epochs")
    parser.add_argument("--batch-size", type=int, default=batch_size, help="samples per training batch")
    parser.add_argument("--lr", type=float, default=lr, help="peak learning rate")
    parser.add_argument("--seed", type=int, default=0, help="seed for initialisation, dropout and shuffling")
    if images:
        parser.add_argument("--dataset", choices=DATASETS, default="mnist",
                            help="handwritten digits or Fashion-MNIST clothes")
        parser.add_argument("--data-dir", default=None,
                            help="folder holding the IDX files (default: GIAGRAD_DATA, the cache, then a download)")
        parser.add_argument("--offline", action="store_true",
                            help="never download: use local files, or the bundled MNIST sample")
        parser.add_argument("--limit", type=int, default=None,
                            help="use only the first N training and N/5 test images (quick trials)")
    parser.add_argument("--out", default=None, help=f"run folder (default: runs/{name}[-DATASET])")
    parser.add_argument("--resume", default=None, help="continue from a checkpoint (e.g. RUN/last.npz)")
    parser.add_argument("--quiet", action="store_true", help="print only the final result")
    return parser


@dataclass
class ImageData:
    """Images as float32 arrays, normalised with the training set's mean and standard deviation."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    source: str  # where the images came from, for the results file


def load_images(dataset: str, data_dir: str | None, limit: int | None = None, quiet: bool = False,
                download: bool = True) -> ImageData:
    """The training and test images of ``dataset`` ("mnist" or "fashion") as normalised float32.

    MNIST comes from ``data_dir``, ``GIAGRAD_DATA``, the cache or a download; when none works the
    5,000 bundled digits (4,000 to train, 1,000 held out) are used instead, with a one-line notice.
    """
    from giagrad.data.datasets import MNIST, DatasetNotFoundError, FashionMNIST

    if dataset == "fashion":
        train = FashionMNIST(data_dir, train=True, download=download)
        test = FashionMNIST(data_dir, train=False, download=download)
        source = "Fashion-MNIST (60,000 training / 10,000 test images)"
    else:
        try:
            train = MNIST(data_dir, train=True, download=download)
            test = MNIST(data_dir, train=False, download=download)
            source = "MNIST (60,000 training / 10,000 test images)"
        except DatasetNotFoundError as error:
            train, test = MNIST.sample(train=True), MNIST.sample(train=False)
            source = (f"the bundled MNIST sample ({len(train.targets):,} training / "
                      f"{len(test.targets):,} held-out digits)")
            if not quiet:
                reason = str(error).splitlines()[0] if str(error) else type(error).__name__
                print(f"notice: full MNIST not available ({reason}); training on {source}")
    train_images, train_labels = np.asarray(train.data), np.asarray(train.targets, dtype=np.int64)
    test_images, test_labels = np.asarray(test.data), np.asarray(test.targets, dtype=np.int64)
    if limit is not None:
        train_images, train_labels = train_images[:limit], train_labels[:limit]
        test_images, test_labels = test_images[: max(limit // 5, 1)], test_labels[: max(limit // 5, 1)]
        source += f", limited to {len(train_labels)} / {len(test_labels)}"
    # One mean and standard deviation over all training pixels (0.1307 and 0.3081 for MNIST).
    scaled = train_images.astype(np.float32) / 255.0
    mean, std = float(scaled.mean()), float(scaled.std())
    return ImageData(
        (scaled - mean) / std, train_labels,
        (test_images.astype(np.float32) / 255.0 - mean) / std, test_labels, source,
    )


def loaders(train_set: Any, test_images: np.ndarray, test_labels: np.ndarray, batch_size: int,
            seed: int) -> tuple[DataLoader, DataLoader]:
    """A shuffling training loader over ``train_set`` and a plain test loader."""
    train_loader = DataLoader(train_set, batch_size=batch_size, shuffle=True, seed=seed)
    test_loader = DataLoader(TensorDataset(test_images, test_labels), batch_size=1000)
    return train_loader, test_loader


def add_image_training_options(parser: argparse.ArgumentParser) -> None:
    """The options of the image classifiers' training (AdamW's weight decay, label smoothing)."""
    parser.add_argument("--weight-decay", type=float, default=0.05, help="AdamW's decoupled weight decay")
    parser.add_argument("--label-smoothing", type=float, default=0.1, help="cross-entropy label smoothing")


def train_image_classifier(model: Any, args: argparse.Namespace, data: ImageData, train_loader: DataLoader,
                           test_loader: DataLoader, name: str, title: str,
                           data_note: str = "") -> dict[str, Any]:
    """Train ``model`` as the image recipes do and write its run folder; return the summary.

    AdamW with a one-cycle learning-rate schedule, cross-entropy with label smoothing, accuracy
    measured on the test set after every epoch and a checkpoint per epoch in ``runs/NAME-DATASET``
    (or ``--out``). ``data_note`` follows the data's description in the opening lines.
    """
    optimizer = optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    scheduler = optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, total_steps=args.epochs * len(train_loader))
    folder = run_folder(args.out, f"{name}-{args.dataset}")
    trainer = Trainer(model, optimizer, nn.CrossEntropyLoss(label_smoothing=args.label_smoothing),
                      metrics=["accuracy"], scheduler=scheduler,
                      callbacks=[ModelCheckpoint(folder, monitor="val_accuracy", save_best=False)],
                      verbose=0 if args.quiet else 1)
    if not args.quiet:
        print(f"data: {data.source}{data_note}\nmodel: {model.num_parameters():,} parameters\n{model}")
    history = trainer.fit(train_loader, test_loader, epochs=args.epochs, resume=args.resume)
    test = trainer.evaluate(test_loader)
    return write_results(folder, history, {"test_loss": test["loss"], "test_accuracy": test["accuracy"],
                                           "data": data.source},
                         args, title=title)


def run_folder(out: str | None, name: str) -> Path:
    """Create (if needed) and return the folder a run writes its files to."""
    path = Path(out if out is not None else os.path.join("runs", name))
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_results(folder: Path, history: Any, results: dict[str, Any], args: argparse.Namespace,
                  title: str, val_label: str = "test") -> dict[str, Any]:
    """Write ``curves.png``, ``history.csv`` and ``metrics.json``; print the final line."""
    history.plot(folder / "curves.png", title=title, val_label=val_label)
    history.to_csv(folder / "history.csv")
    seconds = [row["seconds"] for row in history.epochs]
    summary = {
        **results,
        "epochs": len(history),
        "seconds_per_epoch": round(float(np.mean(seconds)), 2) if seconds else None,
        "total_seconds": round(float(np.sum(seconds)), 1) if seconds else None,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, numpy {np.__version__}, "
                   f"Python {platform.python_version()}",
        "giagrad": giagrad.__version__,
        "options": {key: value for key, value in vars(args).items()},
        "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    with open(folder / "metrics.json", "w", encoding="utf-8") as file:
        json.dump(summary, file, indent=2)
        file.write("\n")
    line = "  ".join(f"{key} {value:.4f}" for key, value in results.items() if isinstance(value, float))
    print(f"{title}: {line}  ({summary['total_seconds']} s; files in {folder})")
    return summary
