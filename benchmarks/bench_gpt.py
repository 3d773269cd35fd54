"""Character-level GPT (the char_gpt recipe's model): training iteration and generation, giagrad vs PyTorch.

The configuration is nanoGPT's for CPUs: 4 layers, 4 heads, 128 wide, context 64, batch 12,
vocabulary 65, no biases, the exact GELU, tied embedding and head weights. An iteration is what training does:
zero the gradients, forward, cross-entropy over (batch * context, vocabulary), backward, clip
the gradient norm to 1 and an AdamW step (weight decay on matrices). Generation: 500 characters
from the model (trained only by the timed iterations), one at a time, sampling from the
softmax; giagrad with its key/value cache (the recipe's default) and without (re-reading the
last 64 characters at every step, as nanoGPT's ``generate`` does, and as the PyTorch column
does).

Each framework runs in a worker process of its own, so neither one's threads or memory disturb
the other, and the two take turns repetition by repetition (``common.Workers``); the figures are
medians. Both train on the same batch; their first losses (about ln 65: the initial weights
differ) are compared before timing, so that a broken model cannot pass for a fast one.
PyTorch's worker runs in ``--torch-python`` (default: ``GIAGRAD_TORCH_PYTHON``, a Python with
torch installed, else this Python); when that cannot import torch its column is skipped.

    python benchmarks/bench_gpt.py            # full run
    python benchmarks/bench_gpt.py --quick    # a tiny model, a few repetitions (smoke test)
    python benchmarks/bench_gpt.py --profile  # giagrad only: where its iteration spends its time

``--profile`` times every op's forward and backward (each ``Function`` subclass), the gradient
clipping and the optimizer's step over the iterations, and prints milliseconds per iteration,
most first; what is left is the engine's own bookkeeping and the model's Python. Run it with
``OPENBLAS_NUM_THREADS=1 GIAGRAD_NUM_THREADS=1`` for the single-core work of each part.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from typing import Any

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from common import (  # noqa: E402
    Workers,
    argument_parser,
    default_torch_python,
    import_torch,
    print_profile,
    serve_repetitions,
    thread_settings,
    worker_commands,
)

FULL = {"vocab": 65, "block": 64, "layers": 4, "heads": 4, "width": 128, "batch": 12, "repeats": 20, "chars": 500}
QUICK = {"vocab": 65, "block": 16, "layers": 1, "heads": 2, "width": 32, "batch": 2, "repeats": 3, "chars": 20}


def batch_arrays(config: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    ids = rng.integers(0, config["vocab"], size=(config["batch"], config["block"] + 1))
    return ids[:, :-1].astype(np.int64), ids[:, 1:].astype(np.int64)


# ----------------------------------------------------------------------------------- giagrad


def giagrad_runs(config: dict[str, int]) -> tuple[dict[str, Any], float]:
    """giagrad's timed runs (``iteration``, ``generate``, ``generate_cached``) and its first loss."""
    sys.path.insert(0, os.path.dirname(HERE))  # the repository root, for `recipes`
    import giagrad
    from giagrad import nn, optim
    from recipes.char_gpt import GPT, next_token_loss

    giagrad.manual_seed(0)
    model = GPT(config["vocab"], config["block"], config["layers"], config["heads"], config["width"])
    matrices = [p for p in model.parameters() if p.ndim >= 2]
    others = [p for p in model.parameters() if p.ndim < 2]
    optimizer = optim.AdamW([{"params": matrices, "weight_decay": 0.1}, {"params": others, "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.99))
    inputs, targets = (giagrad.tensor(a) for a in batch_arrays(config))

    def iteration() -> float:
        optimizer.zero_grad()
        loss = next_token_loss(model(inputs), targets)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        return loss.item()

    def generate(use_cache: bool) -> Any:
        return lambda: model.generate(np.zeros(1, dtype=np.int64), config["chars"], use_cache=use_cache)

    return {"iteration": iteration, "generate": generate(False), "generate_cached": generate(True)}, iteration()


def profile_giagrad(config: dict[str, int], iterations: int = 20) -> dict[str, float]:
    """Milliseconds per training iteration in each op's forward and backward, clipping and the step."""
    sys.path.insert(0, os.path.dirname(HERE))
    import giagrad
    from giagrad import nn, optim
    from giagrad.autograd import Function
    from recipes.char_gpt import GPT, next_token_loss

    seconds: dict[str, float] = {}

    def timed(name: str, method: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - start
        return wrapper

    classes, pending = [], [Function]
    while pending:  # every Function subclass, its own forward and backward wrapped
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        classes.append(cls)
    for cls in classes:
        for method in ("forward", "backward"):
            if method in vars(cls):
                setattr(cls, method, timed(f"{cls.__name__}.{method}", vars(cls)[method]))
    giagrad.manual_seed(0)
    model = GPT(config["vocab"], config["block"], config["layers"], config["heads"], config["width"])
    optimizer = optim.AdamW([{"params": [p for p in model.parameters() if p.ndim >= 2], "weight_decay": 0.1},
                             {"params": [p for p in model.parameters() if p.ndim < 2], "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.99))
    clip, step = timed("clip_grad_norm_", nn.utils.clip_grad_norm_), timed("optimizer.step", optimizer.step)
    inputs, targets = (giagrad.tensor(a) for a in batch_arrays(config))

    def iteration() -> None:
        optimizer.zero_grad()
        next_token_loss(model(inputs), targets).backward()
        clip(model.parameters(), 1.0)
        step()

    for _ in range(3):
        iteration()
    seconds.clear()
    start = time.perf_counter()
    for _ in range(iterations):
        iteration()
    total = time.perf_counter() - start
    return print_profile(f"per iteration ({giagrad.get_num_threads()} kernel threads)", seconds, total, iterations,
                         "(engine and Python around the ops)")


# ----------------------------------------------------------------------------------- PyTorch


def torch_gpt(torch: Any, config: dict[str, int]) -> Any:
    """The recipe's model in PyTorch, written as nanoGPT's (``forward(ids)`` gives the logits).

    Initialised as nanoGPT does, in its order of draws: N(0, 0.02) for every linear and
    embedding weight (the tied head last), then 0.02 / sqrt(2 n_layer) for the residual projections.
    """
    tnn, functional = torch.nn, torch.nn.functional
    width, heads, layers = config["width"], config["heads"], config["layers"]

    class Block(tnn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ln_1, self.ln_2 = tnn.LayerNorm(width, bias=False), tnn.LayerNorm(width, bias=False)
            self.c_attn, self.attn_proj = tnn.Linear(width, 3 * width, bias=False), tnn.Linear(width, width, bias=False)
            self.c_fc = tnn.Linear(width, 4 * width, bias=False)
            self.mlp_proj = tnn.Linear(4 * width, width, bias=False)

        def forward(self, x: Any) -> Any:
            batch, length, _ = x.shape
            q, k, v = self.c_attn(self.ln_1(x)).split(width, dim=2)
            q, k, v = (t.view(batch, length, heads, width // heads).transpose(1, 2) for t in (q, k, v))
            y = functional.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.attn_proj(y.transpose(1, 2).contiguous().view(batch, length, width))
            return x + self.mlp_proj(functional.gelu(self.c_fc(self.ln_2(x))))

    class GPT(tnn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.wte, self.wpe = tnn.Embedding(config["vocab"], width), tnn.Embedding(config["block"], width)
            self.h = tnn.ModuleList([Block() for _ in range(layers)])
            self.ln_f = tnn.LayerNorm(width, bias=False)
            self.lm_head = tnn.Linear(width, config["vocab"], bias=False)
            self.lm_head.weight = self.wte.weight
            for module in self.modules():
                if isinstance(module, (tnn.Linear, tnn.Embedding)):
                    tnn.init.normal_(module.weight, 0.0, 0.02)
            for name, param in self.named_parameters():
                if name.endswith("proj.weight"):
                    tnn.init.normal_(param, 0.0, 0.02 / math.sqrt(2 * layers))

        def forward(self, ids: Any) -> Any:
            x = self.wte(ids) + self.wpe(torch.arange(ids.shape[1]))
            for block in self.h:
                x = block(x)
            return self.lm_head(self.ln_f(x))

    return GPT()


def torch_runs(config: dict[str, int]) -> tuple[dict[str, Any], float]:
    """PyTorch's timed runs (``iteration``, ``generate``: nanoGPT's, without a cache) and its first loss."""
    torch = import_torch()
    tnn, functional = torch.nn, torch.nn.functional
    torch.manual_seed(0)
    model = torch_gpt(torch, config)
    matrices = [p for p in model.parameters() if p.dim() >= 2]
    others = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": matrices, "weight_decay": 0.1}, {"params": others, "weight_decay": 0.0}],
                                  lr=1e-3, betas=(0.9, 0.99))
    inputs, targets = (torch.from_numpy(a) for a in batch_arrays(config))

    def iteration() -> float:
        optimizer.zero_grad(set_to_none=True)
        logits = model(inputs)
        loss = functional.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1))
        loss.backward()
        tnn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        return loss.item()

    def generate() -> Any:
        ids = torch.zeros((1, 1), dtype=torch.long)
        with torch.no_grad():
            for _ in range(config["chars"]):
                logits = model(ids[:, -config["block"]:])[:, -1, :]
                ids = torch.cat([ids, torch.multinomial(functional.softmax(logits, dim=-1), 1)], dim=1)
        return ids

    return {"iteration": iteration, "generate": generate}, iteration()


# ------------------------------------------------------------------------------------- driver


def worker(framework: str, quick: bool) -> None:
    """Serve one framework's runs (started by :func:`main` in a process of its own)."""
    torch = import_torch() if framework == "torch" else None
    runs, first_loss = (torch_runs if torch else giagrad_runs)(QUICK if quick else FULL)
    serve_repetitions(runs, first_line={"first_loss": first_loss, "settings": thread_settings(torch)})


def main(quick: bool = False, torch_python: str | None = None, repeats: int | None = None) -> dict[str, Any]:
    """Both frameworks, each in a worker process of its own, taking turns: ``{"config", "giagrad",
    "torch"}`` with each one's median ``iteration_ms`` and generation in characters per second."""
    config = QUICK if quick else FULL
    repeats = repeats or config["repeats"]
    results: dict[str, Any] = {"config": {key: value for key, value in config.items() if key != "repeats"},
                               "repeats": repeats, "torch": None}
    commands = worker_commands(__file__, ["giagrad", "torch"], torch_python or default_torch_python(),
                               ["--quick"] if quick else [])
    with Workers(commands) as workers:
        losses = {label: line["first_loss"] for label, line in workers.first_lines.items()}
        if "torch" in losses and not math.isclose(losses["giagrad"], losses["torch"], rel_tol=0.05):
            raise RuntimeError(f"giagrad's and PyTorch's first losses differ ({losses}): the models are not alike")
        iteration = workers.interleaved(repeats, warmup=3, run="iteration")
        generations = 1 if quick else 3
        cached = workers.interleaved(generations, warmup=1, run="generate_cached", labels=["giagrad"])
        recomputed = workers.interleaved(generations, warmup=1, run="generate")
        for label in workers.processes:
            results[label] = {"iteration_ms": 1000 * iteration[label][0],
                              "generate_chars_per_s": config["chars"] / recomputed[label][0],
                              "settings": workers.settings[label]}
        results["giagrad"]["generate_cached_chars_per_s"] = config["chars"] / cached["giagrad"][0]
        results["giagrad"]["first_loss"] = losses["giagrad"]
    report(results)
    return results


def report(results: dict[str, Any]) -> None:
    config, ours, theirs = results["config"], results["giagrad"], results["torch"] or {}
    print(f"char GPT: {config['layers']} layers, {config['heads']} heads, width {config['width']}, context "
          f"{config['block']}, batch {config['batch']}")
    ratio = ours["iteration_ms"] / theirs["iteration_ms"] if theirs else math.nan
    print(f"  training iteration   giagrad {ours['iteration_ms']:7.1f} ms   torch "
          f"{theirs.get('iteration_ms', math.nan):7.1f} ms   giagrad/torch {ratio:.2f}   "
          f"(median of {results['repeats']})")
    print(f"  generation           giagrad {ours['generate_cached_chars_per_s']:7.0f} chars/s (cached), "
          f"{ours['generate_chars_per_s']:.0f} (recomputed)   "
          f"torch {theirs.get('generate_chars_per_s', math.nan):7.0f}")


if __name__ == "__main__":
    parser = argument_parser(__doc__, repeats_help="timed iterations per framework (default 20)",
                             workers=("giagrad", "torch"))
    parser.add_argument("--json", default=None, help="write the figures to this file")
    parser.add_argument("--profile", action="store_true", help="giagrad only: time each op, clipping and the "
                        "step per iteration")
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.quick)
        sys.exit()
    if args.profile:
        figures: Any = profile_giagrad(QUICK if args.quick else FULL, 3 if args.quick else 20)
    else:
        figures = main(args.quick, args.torch_python, args.repeats)
    if args.json:
        with open(args.json, "w") as file:
            json.dump(figures, file)
