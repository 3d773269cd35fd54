"""nanoGPT's CPU run of tiny Shakespeare in PyTorch: the validation loss its procedure reaches.

The reference for ``python -m recipes.char_gpt --max-iters 2000``. nanoGPT documents a loss of
about 1.88 for this configuration (4 layers, 4 heads, width 128, context 64, batch 12, no
dropout, 2,000 iterations, lr 1e-3 with 100 warm-up iterations and a cosine decay to 1e-4,
AdamW betas (0.9, 0.99) and weight decay 0.1 on the matrices, clipping at 1.0). This script
follows nanoGPT's training script step for step, so that the recipe can be compared with the
reference on this machine rather than with a number from elsewhere:

- the model: ``bench_gpt.torch_gpt``, nanoGPT's (pre-norm blocks without biases, the exact GELU,
  the head tied to the token embedding) with its initialisation, draw for draw;
- the data: giagrad's bundled tiny Shakespeare, first 90% to train, last 10% to validate, the
  vocabulary the sorted characters; batches of random blocks drawn with ``torch.randint``;
- the loop: the learning rate set before each iteration, an evaluation every 250 iterations
  (20 random batches of each split, which also draws from the generator, as nanoGPT's does),
  the next batch fetched between forward and backward, clipping, the step.

It prints nanoGPT's own figure (the 20-batch estimate after the last iteration) and the loss
over every validation character, the figure the recipe's ``val_loss`` reports.

    python benchmarks/nanogpt_reference.py --seed 1337   # nanoGPT's seed; about 70 s on 2 cores
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from typing import Any

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.dirname(HERE)]  # the benchmarks (bench_gpt's model) and giagrad
from bench_gpt import torch_gpt  # noqa: E402


def train(seed: int, max_iters: int = 2000, eval_interval: int = 250, eval_iters: int = 20, layers: int = 4,
          heads: int = 4, width: int = 128, block: int = 64, batch: int = 12) -> dict[str, float]:
    """Train as nanoGPT does; return its ``val_estimate`` and ``train_estimate`` and the ``full_val`` loss."""
    import torch
    import torch.nn as tnn
    import torch.nn.functional as functional

    from giagrad.data.datasets import CharacterText

    text = CharacterText.tiny_shakespeare()
    splits = {"train": text.train_ids.astype(np.int64), "val": text.val_ids.astype(np.int64)}
    torch.manual_seed(seed)

    def get_batch(split: str) -> tuple[Any, Any]:
        data = splits[split]
        starts = torch.randint(len(data) - block, (batch,))
        x = torch.stack([torch.from_numpy(data[i:i + block]) for i in starts])
        y = torch.stack([torch.from_numpy(data[i + 1:i + 1 + block]) for i in starts])
        return x, y

    config = {"vocab": text.vocab_size, "block": block, "layers": layers, "heads": heads, "width": width}
    gpt = torch_gpt(torch, config)

    def loss_of(ids: Any, targets: Any) -> Any:
        logits = gpt(ids)
        return functional.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1))

    params = dict(gpt.named_parameters())
    optimizer = torch.optim.AdamW([{"params": [p for p in params.values() if p.dim() >= 2], "weight_decay": 0.1},
                                   {"params": [p for p in params.values() if p.dim() < 2], "weight_decay": 0.0}],
                                  lr=1e-3, betas=(0.9, 0.99))

    # nanoGPT's get_lr, written out rather than taken from recipes.char_gpt: a reference that
    # shared the recipe's schedule would share its mistakes too.
    def learning_rate(it: int, peak: float = 1e-3, floor: float = 1e-4, warmup: int = 100) -> float:
        if it < warmup:
            return peak * (it + 1) / (warmup + 1)
        ratio = min((it - warmup) / (max_iters - warmup), 1.0)
        return floor + 0.5 * (1 + math.cos(math.pi * ratio)) * (peak - floor)

    @torch.no_grad()
    def estimate() -> dict[str, float]:
        gpt.eval()
        losses = {split: float(np.mean([loss_of(*get_batch(split)).item() for _ in range(eval_iters)]))
                  for split in ("train", "val")}
        gpt.train()
        return losses

    @torch.no_grad()
    def full_validation() -> float:
        gpt.eval()
        data = splits["val"]
        count = (len(data) - 1) // block
        x = torch.from_numpy(data[:count * block]).view(count, block)
        y = torch.from_numpy(data[1:count * block + 1]).view(count, block)
        total = sum(loss_of(x[i:i + 64], y[i:i + 64]).item() * len(x[i:i + 64]) for i in range(0, count, 64))
        return total / count

    x, y = get_batch("train")
    it = 0
    while True:
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(it)
        if it % eval_interval == 0 or it == max_iters:
            losses = estimate()
            if it == max_iters:
                break
        loss = loss_of(x, y)
        x, y = get_batch("train")
        loss.backward()
        tnn.utils.clip_grad_norm_(gpt.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        it += 1
    return {"val_estimate": losses["val"], "train_estimate": losses["train"], "full_val": full_validation()}


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1337, help="torch.manual_seed (nanoGPT's is 1337)")
    parser.add_argument("--max-iters", type=int, default=2000, help="training iterations")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    figures = train(args.seed, args.max_iters)
    print(f"seed {args.seed}: nanoGPT's estimate of the validation loss {figures['val_estimate']:.4f} (train "
          f"{figures['train_estimate']:.4f}); loss over every validation character {figures['full_val']:.4f}; "
          f"{time.perf_counter() - started:.0f} s")
    return figures


if __name__ == "__main__":
    main()
