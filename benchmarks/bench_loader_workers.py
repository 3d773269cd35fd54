"""When DataLoader workers pay off: an epoch of per-sample decoding and augmentation with 0, 1 and 2 workers.

Each sample is a 32x32x3 image stored compressed (zlib, as a JPEG or PNG on disk would be),
decoded in ``__getitem__`` and augmented there: a random 32x32 crop after padding by 4 and a
random horizontal flip, with giagrad's transforms. That per-sample work is what worker processes
parallelise; the main process only collates. For contrast the same images as one in-memory
array with batch-level transforms (``TensorDataset``-style batch indexing) show the case where
workers cannot help: making a batch costs less than sending it between processes.

Workers are separate processes: on a machine shared with other work the figures move a lot,
and with N cores no more than about N times can be gained. Wall time is the figure here (the
main process's CPU time leaves out the workers').

    python benchmarks/bench_loader_workers.py            # 10,000 images, 3 repeats
    python benchmarks/bench_loader_workers.py --quick    # 600 images, one repeat: a smoke run
"""

from __future__ import annotations

import os
import sys
import zlib
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import argument_parser, machine, median_seconds, print_machine  # noqa: E402

import giagrad  # noqa: E402
from giagrad.data import DataLoader, Dataset  # noqa: E402
from giagrad.data.transforms import Compose, RandomCrop, RandomHorizontalFlip  # noqa: E402

BATCH_SIZE = 64
SHAPE = (3, 32, 32)


class CompressedImages(Dataset):
    """Images kept zlib-compressed; ``dataset[i]`` decodes and augments one (the per-sample work)."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, transform: Any) -> None:
        self.blobs = [zlib.compress(image.tobytes(), 6) for image in images]
        self.labels = labels
        self.transform = transform

    def __len__(self) -> int:
        return len(self.blobs)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        pixels = np.frombuffer(zlib.decompress(self.blobs[index]), dtype=np.uint8).reshape(SHAPE)
        image = self.transform(pixels.astype(np.float32) / np.float32(255))
        return image, int(self.labels[index])


def synthetic_images(count: int) -> tuple[np.ndarray, np.ndarray]:
    """Smooth random images (compressible like photos, unlike noise)."""
    rng = np.random.default_rng(0)
    coarse = rng.integers(0, 256, (count, 3, 8, 8)).astype(np.uint8)
    images = coarse.repeat(4, axis=2).repeat(4, axis=3)
    images = images + rng.integers(0, 8, images.shape, dtype=np.uint8)
    return images, rng.integers(0, 10, count)


def epoch_runner(loader: DataLoader) -> Any:
    def epoch() -> None:
        for _ in loader:
            pass

    return epoch


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = argument_parser(__doc__, quick_help="600 images, one repeat: a smoke run").parse_args(argv)
    count, repeats = (600, 1) if args.quick else (10_000, 3)
    print("Machine:")
    print_machine(machine(with_torch=False))
    images, labels = synthetic_images(count)
    augment = Compose([RandomCrop(32, padding=4), RandomHorizontalFlip()])
    dataset = CompressedImages(images, labels, augment)
    giagrad.manual_seed(0)
    print(f"Data: {count} synthetic {SHAPE} images, zlib-compressed, decoded and augmented per sample "
          f"(RandomCrop(32, padding=4) + RandomHorizontalFlip), batch {BATCH_SIZE}")
    result: dict[str, Any] = {"images": count, "cores": os.cpu_count()}
    print(f"\n{'loader':<46}{'wall s':>8}{'vs 0 workers':>14}")
    baseline = None
    for workers in (0, 1, 2):
        options = dict(num_workers=workers, persistent_workers=True) if workers else {}
        loader = DataLoader(dataset, batch_size=BATCH_SIZE, shuffle=True, seed=0, **options)
        seconds = median_seconds(epoch_runner(loader), repeats)
        baseline = baseline or seconds
        result[f"per_sample_workers_{workers}_seconds"] = seconds
        print(f"{f'per-sample decode + augment, {workers} workers':<46}{seconds:8.3f}{baseline / seconds:13.2f}x")
        del loader
    result["speedup_2_workers"] = baseline / result["per_sample_workers_2_seconds"]
    batched = giagrad.data.TensorDataset(images.astype(np.float32) / np.float32(255), labels)
    for workers in (0, 2):
        options = dict(num_workers=workers, persistent_workers=True) if workers else {}
        loader = DataLoader(batched, batch_size=BATCH_SIZE, shuffle=True, seed=0, **options)
        seconds = median_seconds(epoch_runner(loader), repeats)
        result[f"batch_indexing_workers_{workers}_seconds"] = seconds
        print(f"{f'in-memory batch indexing, {workers} workers':<46}{seconds:8.3f}")
        del loader
    print(f"\nWith per-sample work, 2 workers make the epoch {result['speedup_2_workers']:.2f}x as fast as "
          f"none on {os.cpu_count()} cores; with batch indexing of in-memory arrays, workers only add "
          "the cost of sending batches between processes.")
    return result


if __name__ == "__main__":
    main()
