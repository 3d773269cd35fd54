"""Peak resident memory of training the Fashion-MNIST CNN recipe's model: giagrad vs PyTorch.

Each framework trains bench_cnn_recipe's model (the recipe's ``ConvNet``, Adam, batch 64) for
the same 200 steps over the first 12,800 Fashion-MNIST training images, in a fresh process of
its own (PyTorch's in ``--torch-python``, default: ``GIAGRAD_TORCH_PYTHON``, else this
interpreter; skipped with a notice when it cannot import torch). Each process reports its
resident memory before training (the interpreter, the framework, the data and the model) and
the peak during training: the kernel's high-water mark (``VmHWM``), reset before training where
the kernel allows it, else ``ru_maxrss``, the whole process's peak (the output says which).

    python benchmarks/bench_memory_cnn.py                                # 200 steps of 64
    python benchmarks/bench_memory_cnn.py --torch-python PATH/TO/python  # PyTorch from another environment
    python benchmarks/bench_memory_cnn.py --quick                        # 2 steps of 8 (smoke test)
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_cnn_recipe import BATCH, QUICK_BATCH, epoch_of, training_images, training_step  # noqa: E402
from bench_memory import MB, current_rss_bytes, peak_rss_bytes, reset_peak_rss  # noqa: E402
from common import argument_parser, machine, print_machine, worker_commands, worker_environment  # noqa: E402

STEPS, QUICK_STEPS = 200, 2
FRAMEWORKS = ("giagrad", "torch")


def worker(framework: str, quick: bool) -> dict[str, Any]:
    """Train ``framework``'s model for the steps in this process; its memory figures in MB."""
    batch, steps = (QUICK_BATCH, QUICK_STEPS) if quick else (BATCH, STEPS)
    images, labels, source = training_images(batch * steps)
    epoch = epoch_of(training_step(framework), images, labels, batch)
    gc.collect()
    before = current_rss_bytes()
    training_only = reset_peak_rss()
    epoch()
    peak = peak_rss_bytes()
    return {"source": source, "batch": batch, "steps": steps,
            "rss_before_mb": before / MB if before is not None else None,
            "peak_rss_mb": peak / MB if peak is not None else None,
            "peak_covers": "training only" if training_only else "the whole process"}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Both frameworks, each in a fresh process: ``{"batch", "steps", "giagrad", "torch"}``."""
    args = argument_parser(__doc__, quick_help=f"{QUICK_STEPS} steps of {QUICK_BATCH} (smoke test)",
                           workers=FRAMEWORKS).parse_args(argv)
    if args.worker:
        figures = worker(args.worker, args.quick)
        print(json.dumps(figures))
        return figures
    results: dict[str, Any] = {framework: None for framework in FRAMEWORKS}
    commands = worker_commands(__file__, list(FRAMEWORKS), args.torch_python, ["--quick"] if args.quick else [])
    for framework, command in commands.items():
        completed = subprocess.run(command, capture_output=True, text=True, env=worker_environment())
        if completed.returncode:
            raise RuntimeError(f"{framework}'s worker exited with {completed.returncode}:\n{completed.stderr}")
        results[framework] = json.loads(completed.stdout.strip().splitlines()[-1])
    results.update(batch=results["giagrad"]["batch"], steps=results["giagrad"]["steps"])
    ours, theirs = results["giagrad"]["peak_rss_mb"], (results["torch"] or {}).get("peak_rss_mb")
    results["peak_ratio"] = ours / theirs if ours and theirs else None
    report(results)
    return results


def report(results: dict[str, Any]) -> None:
    print(f"Resident memory training the CNN recipe's model, {results['steps']} steps of {results['batch']}, MB")
    print(f"  {'':24}{'giagrad':>10}{'torch':>10}")
    for key, label in (("rss_before_mb", "before training"), ("peak_rss_mb", "peak during training")):
        cells = [(results[framework] or {}).get(key) for framework in FRAMEWORKS]
        print(f"  {label:24}" + "".join(f"{cell:10.1f}" if cell is not None else f"{'-':>10}" for cell in cells))
    print(f"  peak covers: {results['giagrad']['peak_covers']}; data: {results['giagrad']['source']}")


if __name__ == "__main__":
    if "--worker" not in sys.argv:
        print_machine(machine(with_torch=False))
    main()
