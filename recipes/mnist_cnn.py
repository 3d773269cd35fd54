"""Train a small convolutional network on MNIST or Fashion-MNIST.

    python -m recipes.mnist_cnn --dataset fashion
    python -m recipes.mnist_cnn --help
    mpiexec -n 2 python -m recipes.mnist_cnn --distributed   # data-parallel over 2 processes

The model: two 3x3 convolutions (32 and 64 channels), each followed by batch norm, ReLU and 2x2
max-pooling, then dropout and one linear layer to the 10 classes. Trained for 6 epochs in batches
of 64 (on Fashion-MNIST a little better than 128 at the same cost per epoch) with AdamW, a
one-cycle schedule and label smoothing; for Fashion-MNIST, random horizontal flips augment the
training images (a mirrored shirt is still a shirt; a mirrored digit is not a digit, so MNIST is
not flipped). The test set is evaluated after every epoch (the "test" curves).

Files in the run folder (``--out``, default ``runs/mnist_cnn-DATASET``): ``curves.png``,
``metrics.json``, ``history.csv``, the checkpoint ``last.npz`` and, with ``--export-onnx``, ``model.onnx``.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

import giagrad
from giagrad import nn
from giagrad.data import Dataset
from giagrad.data.transforms import RandomHorizontalFlip
from recipes.common import add_image_training_options, base_parser, load_images, loaders, train_image_classifier


class ConvNet(nn.Module):
    """conv(32) - BN - ReLU - pool - conv(64) - BN - ReLU - pool - dropout - linear(10)."""

    def __init__(self, dropout: float = 0.25) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, kernel_size=3, padding=1, bias=False)  # BN brings its own bias
        self.bn1 = nn.BatchNorm2d(32)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(64)
        self.pool = nn.MaxPool2d(2)
        self.dropout = nn.Dropout(dropout)
        self.flatten = nn.Flatten()
        self.out = nn.Linear(64 * 7 * 7, 10)

    def forward(self, images: giagrad.Tensor) -> giagrad.Tensor:
        x = self.pool(self.bn1(self.conv1(images)).relu())  # 32 x 14 x 14
        x = self.pool(self.bn2(self.conv2(x)).relu())  # 64 x 7 x 7
        return self.out(self.flatten(self.dropout(x)))


class Images(Dataset):
    """Images (N x 1 x 28 x 28) and labels, with a transform applied to each training batch at once."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, transform: Any = None) -> None:
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        return self.get_batch(np.array([index]))[0][0], self.labels[index]

    def get_batch(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        images = self.images[indices]
        if self.transform is not None:
            images = self.transform.apply_batch(images)
        return images, self.labels[indices]


def main(argv: list[str] | None = None) -> dict:
    parser = base_parser("mnist_cnn", "Train a small CNN (conv-BN-pool x2, dropout, linear) on MNIST or Fashion-MNIST.",
                         epochs=6, batch_size=64, lr=3e-3)
    parser.add_argument("--dropout", type=float, default=0.25, help="dropout before the linear layer")
    add_image_training_options(parser)
    parser.add_argument("--flip", choices=("auto", "yes", "no"), default="auto",
                        help="random horizontal flips of training images (auto: for fashion only)")
    args = parser.parse_args(argv)

    giagrad.manual_seed(args.seed)
    data = load_images(args.dataset, args.data_dir, args.limit, quiet=args.quiet, download=not args.offline)
    flip = args.flip == "yes" or (args.flip == "auto" and args.dataset == "fashion")
    train_set = Images(data.train_images[:, None], data.train_labels, RandomHorizontalFlip() if flip else None)
    train_loader, test_loader = loaders(train_set, data.test_images[:, None], data.test_labels,
                                        args.batch_size, args.seed, args.distributed)

    model = ConvNet(dropout=args.dropout)
    return train_image_classifier(model, args, data, train_loader, test_loader, "mnist_cnn",
                                  title=f"CNN on {args.dataset}",
                                  data_note=" with random horizontal flips" if flip else "")


if __name__ == "__main__":
    main(sys.argv[1:])
