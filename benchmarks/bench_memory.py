"""Resident memory over 3 training epochs of the 784-128-10 MLP: does it grow from epoch to epoch?

The training is bench_mlp's: Fashion-MNIST's training images (or a synthetic array of the same
shape where the dataset is absent, said in the output), float32, SGD(lr 0.1, momentum 0.9),
batch 64, shuffled by giagrad's DataLoader. After each epoch (and a garbage collection, so that
only memory still referenced counts) the current resident set size is read from
``/proc/self/statm``; the peak is the kernel's high-water mark (``VmHWM``, reset before training
where the kernel allows it, else the process's peak from ``resource.getrusage``). Memory that
grows from epoch 2 to epoch 3 by more than the tolerance means something keeps every epoch's
graphs or buffers alive: a leak.

    python benchmarks/bench_memory.py            # 60,000 images
    python benchmarks/bench_memory.py --quick    # a few hundred images, as a smoke test

run_all.py runs it in a process of its own, so that the figures hold this training only.
"""

from __future__ import annotations

import gc
import json
import os
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_mlp import MODELS, giagrad_epoch  # noqa: E402
from common import (  # noqa: E402
    argument_parser,
    fashion_mnist_training_images,
    flat_float_images,
    machine,
    print_machine,
)

EPOCHS = 3
BATCH_SIZE = 64
TOLERANCE_MB = 5.0
MB = 1024 * 1024


def current_rss_bytes() -> int | None:
    """This process's resident set size now, from /proc/self/statm (None where there is no /proc)."""
    try:
        with open("/proc/self/statm") as f:
            resident_pages = int(f.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return resident_pages * os.sysconf("SC_PAGE_SIZE")


def reset_peak_rss() -> bool:
    """Reset the kernel's high-water mark of resident memory for this process (Linux >= 4.0).

    True when it worked; the peak read afterwards then covers the training only, not what ran
    before it in the same process (other benchmarks in run_all, the dataset's decompression).
    """
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


def peak_rss_bytes() -> int | None:
    """The peak resident set size: VmHWM from /proc/self/status, else resource.getrusage's."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import resource
    except ImportError:  # not on Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, KiB on Linux


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Train 3 epochs, print the resident memory after each and the peak; return the figures in MB."""
    parser = argument_parser(__doc__, quick_help="a few hundred images only (smoke test)")
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    images, labels, source = fashion_mnist_training_images(limit=640 if args.quick else None)
    inputs = flat_float_images(images)
    del images
    print(f"Resident memory, {EPOCHS} epochs of the 784-128-10 MLP, SGD momentum, batch {BATCH_SIZE}")
    print_machine(machine(with_torch=False))
    print(f"Data: {source}; {len(inputs)} images")

    epoch = giagrad_epoch(MODELS["784-128-10"], "sgd", BATCH_SIZE, inputs, labels)
    gc.collect()
    before = current_rss_bytes()
    peak_is_training_only = reset_peak_rss()
    after_epochs: list[float | None] = []
    for _ in range(EPOCHS):
        epoch()
        gc.collect()
        rss = current_rss_bytes()
        after_epochs.append(rss / MB if rss is not None else None)
    peak = peak_rss_bytes()

    result: dict[str, Any] = {
        "source": source, "images": len(inputs), "batch": BATCH_SIZE,
        "rss_before_mb": before / MB if before is not None else None,
        "rss_after_epoch_mb": after_epochs,
        "peak_rss_mb": peak / MB if peak is not None else None,
        "peak_covers": "training only" if peak_is_training_only else "the whole process",
        "tolerance_mb": TOLERANCE_MB,
    }
    last, previous = after_epochs[-1], after_epochs[-2]
    result["growth_last_epoch_mb"] = last - previous if last is not None and previous is not None else None
    result["grows"] = result["growth_last_epoch_mb"] is not None and result["growth_last_epoch_mb"] > TOLERANCE_MB

    def megabytes(value: float | None) -> str:
        return f"{value:8.1f} MB" if value is not None else "   unknown"

    print(f"  {'before training':22}{megabytes(result['rss_before_mb'])}")
    for number, rss_mb in enumerate(after_epochs, start=1):
        print(f"  {f'after epoch {number}':22}{megabytes(rss_mb)}")
    print(f"  {'peak':22}{megabytes(result['peak_rss_mb'])}  ({result['peak_covers']})")
    growth = result["growth_last_epoch_mb"]
    if growth is None:
        print("Resident memory cannot be read here (no /proc/self/statm): no verdict")
    else:
        verdict = "GROWS: a graph or buffer leak" if result["grows"] else "does not grow"
        print(f"From epoch {EPOCHS - 1} to epoch {EPOCHS}: {growth:+.1f} MB (tolerance {TOLERANCE_MB:.0f} MB): "
              f"resident memory {verdict}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return result


if __name__ == "__main__":
    main()
