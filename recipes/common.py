"""What the recipes share: the command line, the image data, the run folder and the results.

Each recipe stays a short, readable script: it defines its model and its defaults and calls
these helpers for the parts that are the same everywhere.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import giagrad
from giagrad import nn, optim
from giagrad.data import DataLoader, DistributedSampler, Subset, TensorDataset
from giagrad.train import ModelCheckpoint, Trainer

DATASETS = ("mnist", "fashion")


class RecipeParser(argparse.ArgumentParser):
    """The recipes' command line: parsing ``--distributed`` also starts the process group."""

    def parse_args(self, args: Any = None, namespace: Any = None) -> Any:  # type: ignore[override]
        parsed = super().parse_args(args, namespace)
        start_distributed(parsed)
        return parsed


def base_parser(name: str, description: str, *, epochs: int | None, batch_size: int, lr: float,
                images: bool = True, export_note: str = "") -> argparse.ArgumentParser:
    """The options every recipe has; a recipe adds its own to the returned parser.

    ``epochs=None`` leaves out ``--epochs`` (for a recipe that counts iterations instead);
    ``export_note`` ends the help of ``--export-onnx`` (what the file takes, when it is not obvious).
    """
    parser = RecipeParser(prog=f"python -m recipes.{name}", description=description,
                          formatter_class=DefaultsOnceHelpFormatter)
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
        parser.add_argument("--distributed", action="store_true",
                            help="data-parallel over the processes mpiexec started (mpiexec -n 2 python -m "
                                 f"recipes.{name} --distributed); --batch-size stays the global batch")
    default_folder = f"runs/{name}-DATASET" if images else f"runs/{name}"
    parser.add_argument("--out", default=None, help=f"run folder (default: {default_folder})")
    parser.add_argument("--resume", default=None, help="continue from a checkpoint (e.g. RUN/last.npz)")
    parser.add_argument("--quiet", action="store_true", help="print only the final result")
    parser.add_argument("--export-onnx", action="store_true",
                        help="also write the trained model as model.onnx in the run folder (needs giagrad[onnx])"
                        + export_note)
    return parser


class DefaultsOnceHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """``--help`` shows each default once: not when the help already says it, nor for None or flags."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if "default" in text or action.default is None or action.default is False \
                or action.default == argparse.SUPPRESS:
            return text
        return super()._get_help_string(action)


def export_onnx(model: Any, example: Any, folder: Path) -> Path:
    """Write ``model`` as ``folder/model.onnx``, its batch dim dynamic; ``example`` is one input batch."""
    import giagrad.onnx

    path = folder / "model.onnx"
    giagrad.onnx.export(model, giagrad.tensor(np.asarray(example)), path, input_names=["input"],
                        output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    return path


@dataclass
class ImageData:
    """Images as float32 arrays, normalised with the training set's mean and standard deviation."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    source: str  # what the images are, for the results file
    files: dict[str, str]  # the files they were read from ({} for the bundled sample)


def load_images(dataset: str, data_dir: str | None, limit: int | None = None, quiet: bool = False,
                download: bool = True) -> ImageData:
    """The training and test images of ``dataset`` ("mnist" or "fashion") as normalised float32.

    MNIST comes from ``data_dir``, ``GIAGRAD_DATA``, the cache or a download. When no folder is
    named and none of these works, the 5,000 bundled digits (4,000 to train, 1,000 held out) are
    used instead, with a one-line notice; a named folder that does not hold the data raises.
    """
    from giagrad.data.datasets import MNIST, DatasetNotFoundError, FashionMNIST
    from giagrad.data.datasets.mnist import SAMPLE_FALLBACK_NOTICE

    folder_named = data_dir is not None or bool(os.environ.get("GIAGRAD_DATA"))
    if data_dir is not None and not Path(data_dir).expanduser().is_dir():
        # a typo must not turn into a new folder and a download (the datasets' root= would allow it)
        raise DatasetNotFoundError(f"--data-dir {data_dir}: no such folder (create it first to download the data "
                                   "into it)")
    if dataset == "fashion":
        train = FashionMNIST(data_dir, train=True, download=download)
        test = FashionMNIST(data_dir, train=False, download=download)
        source = "Fashion-MNIST, 60,000 training / 10,000 test images"
    else:
        try:
            train = MNIST(data_dir, train=True, download=download)
            test = MNIST(data_dir, train=False, download=download)
            source = "MNIST, 60,000 training / 10,000 test images"
        except DatasetNotFoundError:
            if folder_named:
                raise
            train, test = MNIST.sample(train=True), MNIST.sample(train=False)
            source = (f"the bundled MNIST sample, {len(train.targets):,} training / {len(test.targets):,} "
                      "held-out digits")
            if not quiet:  # the "data:" line that follows says what is used; this says why, once
                print(f"notice: {SAMPLE_FALLBACK_NOTICE} For the full set pass --data-dir or set GIAGRAD_DATA, "
                      "without --offline.")
    files = {}
    if all(isinstance(path, Path) for path in (*train.source, *test.source)):
        # where the data really came from (the folder named, the cache, a system folder)
        files = dict(zip(("train_images", "train_labels", "test_images", "test_labels"),
                         (str(path) for path in (*train.source, *test.source)), strict=True))
        source += f" from {', '.join(sorted({str(Path(path).parent) for path in files.values()}))}"
    train_images, train_labels = np.asarray(train.data), np.asarray(train.targets, dtype=np.int64)
    test_images, test_labels = np.asarray(test.data), np.asarray(test.targets, dtype=np.int64)
    if limit is not None:
        train_images, train_labels = train_images[:limit], train_labels[:limit]
        test_images, test_labels = test_images[: max(limit // 5, 1)], test_labels[: max(limit // 5, 1)]
        source += f", limited to {len(train_labels)} / {len(test_labels)}"
    # One mean and standard deviation over all training pixels (0.1307 and 0.3081 for MNIST).
    # In place, and the squares a block at a time: 60,000 images are 188 MB in float32, and each
    # temporary copy (x / 255, x - mean, np.std's own) would add as much to the peak memory.
    train = _scaled(train_images)
    mean = float(train.mean())
    squares = sum(float(np.square(block - mean).sum(dtype=np.float64)) for block in np.array_split(train, 16))
    std = math.sqrt(squares / train.size)
    return ImageData(_standardized(train, mean, std), train_labels,
                     _standardized(_scaled(test_images), mean, std), test_labels, source, files)


def _scaled(images: np.ndarray) -> np.ndarray:
    """uint8 images as float32 in [0, 1]."""
    scaled = images.astype(np.float32)
    scaled /= 255.0
    return scaled


def _standardized(images: np.ndarray, mean: float, std: float) -> np.ndarray:
    """``(images - mean) / std``, in place."""
    images -= mean
    images /= std
    return images


def start_distributed(args: argparse.Namespace) -> None:
    """With ``--distributed``: start the process group, and keep ranks other than 0 quiet."""
    if getattr(args, "distributed", False):
        from giagrad import distributed

        if not distributed.is_initialized():
            distributed.init_process_group("mpi")
        args.quiet = args.quiet or distributed.get_rank() != 0


def is_main_process() -> bool:
    """Rank 0 of a data-parallel job, or the only process: the one that prints and writes files."""
    from giagrad import distributed

    return not distributed.is_initialized() or distributed.get_rank() == 0


# Test images per evaluation batch. Evaluation holds a few whole activations at once (the CNN's
# first convolution, batch norm and ReLU give 32 x 28 x 28 floats per image, 100 MB for 1,000
# images); 250 keeps that near 25 MB each, with as many images per numpy call as training uses.
EVAL_BATCH = 250


def loaders(train_set: Any, test_images: np.ndarray, test_labels: np.ndarray, batch_size: int,
            seed: int, distributed: bool = False) -> tuple[DataLoader, DataLoader]:
    """A shuffling training loader over ``train_set`` and a plain test loader.

    ``distributed``: each rank reads its share, ``batch_size / world size`` samples per step from
    a ``DistributedSampler`` (so the global batch stays ``batch_size``), and evaluates every
    world-size-th test image (no padding: the summed metrics are those of the whole test set).
    """
    test_set = TensorDataset(test_images, test_labels)
    if not distributed:
        return DataLoader(train_set, batch_size=batch_size, shuffle=True, seed=seed), \
            DataLoader(test_set, batch_size=EVAL_BATCH)
    from giagrad import distributed as dist

    rank, world = dist.get_rank(), dist.get_world_size()
    if batch_size % world:
        raise SystemExit(f"--batch-size {batch_size} is the global batch: it must be a multiple of the "
                         f"{world} processes")
    sampler = DistributedSampler(train_set, seed=seed)
    train_loader = DataLoader(train_set, batch_size=batch_size // world, sampler=sampler)
    test_loader = DataLoader(Subset(test_set, list(range(rank, len(test_set), world))), batch_size=EVAL_BATCH)
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
    if not args.quiet:
        print(f"data: {data.source}{data_note}\nmodel: {model.num_parameters():,} parameters\n{model}")
    if getattr(args, "distributed", False):
        from giagrad import distributed
        from giagrad.nn.parallel import DistributedDataParallel

        model = DistributedDataParallel(model)
        if not args.quiet:
            print(f"data-parallel over {distributed.get_world_size()} processes, "
                  f"{len(train_loader)} steps of {args.batch_size} images per epoch")
    optimizer = optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    scheduler = optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, total_steps=args.epochs * len(train_loader))
    folder = run_folder(args.out, f"{name}-{args.dataset}", create=is_main_process())
    trainer = Trainer(model, optimizer, nn.CrossEntropyLoss(label_smoothing=args.label_smoothing),
                      metrics=["accuracy"], scheduler=scheduler,
                      callbacks=[ModelCheckpoint(folder, monitor="val_accuracy", save_best=False)],
                      verbose=0 if args.quiet else 1, jit=getattr(args, "jit", False))
    history = trainer.fit(train_loader, test_loader, epochs=args.epochs, resume=args.resume)
    data_record = {"data": data.source, **({"data_files": data.files} if data.files else {})}
    stop_if_interrupted(trainer, folder, history, data_record, args, title)
    test = trainer.evaluate(test_loader)
    if not is_main_process():
        return {"test_loss": test["loss"], "test_accuracy": test["accuracy"]}
    if args.export_onnx:
        export_onnx(getattr(model, "module", model), next(iter(test_loader))[0].data[:1], folder)
    return write_results(folder, history, {"test_loss": test["loss"], "test_accuracy": test["accuracy"],
                                           **data_record},
                         args, title=title)


def stop_if_interrupted(trainer: Trainer, folder: Path, history: Any, results: dict[str, Any],
                        args: argparse.Namespace, title: str) -> None:
    """After Ctrl-C: write the run's files marked as interrupted, say how to resume, exit with 130.

    130 is what a shell reports for a program ended by Ctrl-C (128 + SIGINT), so scripts that
    chain runs see that this one did not finish.
    """
    if not trainer.interrupted:
        return
    resume = next((cb.interrupted_path for cb in trainer.callbacks if isinstance(cb, ModelCheckpoint)), None)
    write_results(folder, history, {**results, "interrupted": {
        "epochs_completed": trainer.epoch, "steps_completed": trainer.step,
        **({"resume_with": str(resume)} if resume is not None else {})}}, args, title=title)
    print(f"{title}: interrupted after {trainer.epoch} epochs and {trainer.step} steps"
          + (f"; continue with --resume {resume}" if resume is not None else ""), file=sys.stderr)
    raise SystemExit(130)


def run_folder(out: str | None, name: str, create: bool = True) -> Path:
    """Create (if needed and ``create``) and return the folder a run writes its files to."""
    path = Path(out if out is not None else os.path.join("runs", name))
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def write_results(folder: Path, history: Any, results: dict[str, Any], args: argparse.Namespace,
                  title: str, val_label: str = "test") -> dict[str, Any]:
    """Write ``curves.png``, ``history.csv`` and ``metrics.json``; print the final line.

    ``metrics.json`` says ``"status": "finished"``, or ``"interrupted"`` when ``results`` has an
    ``"interrupted"`` entry (then ``curves.png`` is drawn only when an epoch was completed).
    """
    interrupted = "interrupted" in results
    if len(history) or not interrupted:
        history.plot(folder / "curves.png", title=title, val_label=val_label)
    history.to_csv(folder / "history.csv")
    seconds = [row["seconds"] for row in history.epochs]
    summary = {
        "status": "interrupted" if interrupted else "finished",
        **results,
        "epochs": len(history),
        "seconds_per_epoch": round(float(np.mean(seconds)), 2) if seconds else None,
        "total_seconds": round(float(np.sum(seconds)), 1) if seconds else None,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, numpy {np.__version__}, "
                   f"Python {platform.python_version()}",
        "giagrad": giagrad.__version__,
        "options": {key: value for key, value in vars(args).items()},
        ("interrupted_at" if interrupted else "finished"): time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    with open(folder / "metrics.json", "w", encoding="utf-8") as file:
        json.dump(summary, file, indent=2)
        file.write("\n")
    if not interrupted:
        line = "  ".join(f"{key} {value:.4f}" for key, value in results.items() if isinstance(value, float))
        print(f"{title}: {line}  ({summary['total_seconds']} s; files in {folder})")
    return summary
