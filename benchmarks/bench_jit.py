"""One MLP training epoch on Fashion-MNIST: giagrad eager vs giagrad with ``jit.capture`` vs numpy.

The configurations of ``bench_mlp.py`` (models 784-128-10 and 784-256-128-10, SGD with momentum
and Adam, batch sizes 64 and 256), the same data, loader and numpy floor; the jit column runs the
same training step wrapped in ``giagrad.jit.capture`` (recorded on its first two calls, replayed
after). The three take turns epoch by epoch; the figures are medians.

    python benchmarks/bench_jit.py            # full table
    python benchmarks/bench_jit.py --quick    # a tiny smoke run
"""

from __future__ import annotations

import os
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_mlp import BATCH_SIZES, MODELS, OPTIMIZERS, giagrad_epoch, load_training_images, numpy_epoch  # noqa: E402
from common import argument_parser, interleaved_seconds, machine, print_machine  # noqa: E402


def main(quick: bool = False, repeats: int = 3) -> dict[str, Any]:
    images, labels, source = load_training_images(limit=2048 if quick else None)
    rows = []
    for model_name, sizes in MODELS.items():
        for optimizer in OPTIMIZERS:
            for batch_size in BATCH_SIZES:
                row: dict[str, Any] = {"model": model_name, "optimizer": optimizer, "batch": batch_size}
                epochs = {"eager_s": giagrad_epoch(sizes, optimizer, batch_size, images, labels),
                          "jit_s": giagrad_epoch(sizes, optimizer, batch_size, images, labels, jit=True),
                          "numpy_s": numpy_epoch(sizes, optimizer, batch_size, images, labels)}
                for label, (median, _) in interleaved_seconds(epochs, repeats, warmup=1).items():
                    row[label] = median
                row["eager_vs_numpy"] = row["eager_s"] / row["numpy_s"]
                row["jit_vs_numpy"] = row["jit_s"] / row["numpy_s"]
                rows.append(row)
                print(format_row(row), flush=True)
    return {"source": source, "rows": rows}


def format_row(row: dict[str, Any]) -> str:
    return (f"{row['model']:>15} {row['optimizer']:>5} {row['batch']:>5} {row['eager_s']:8.3f} {row['jit_s']:8.3f} "
            f"{row['numpy_s']:8.3f} {row['eager_vs_numpy']:8.2f} {row['jit_vs_numpy']:8.2f}")


HEADER = (f"{'model':>15} {'opt':>5} {'batch':>5} {'eager s':>8} {'jit s':>8} {'numpy s':>8} "
          f"{'e/numpy':>8} {'j/numpy':>8}")

if __name__ == "__main__":
    args = argument_parser(__doc__, quick_help="a tiny smoke run", repeats_default=3,
                           repeats_help="epochs timed per configuration (median)").parse_args()
    print_machine(machine())
    print(HEADER)
    print("data:", main(args.quick, args.repeats)["source"])

