"""Train a small GPT on characters (tiny Shakespeare by default) and sample text from it.

    python -m recipes.char_gpt                                    # the defaults below
    python -m recipes.char_gpt --text my_corpus.txt               # any UTF-8 text file
    python -m recipes.char_gpt --sample 500 --resume runs/char_gpt/last.npz --prompt "ROMEO:"
    python -m recipes.char_gpt --sample 0 --resume runs/char_gpt/last.npz --export-onnx   # model.onnx beside it
    python -m recipes.char_gpt --help

nanoGPT's CPU configuration (4 layers, 4 heads, 128 wide, context 64, batch 12, no dropout,
2,000 iterations, lr 1e-3 decaying to 1e-4) is the defaults with ``--max-iters 2000``.

The model is a decoder-only transformer as in GPT-2 / nanoGPT: token and position embeddings,
pre-norm blocks of causal self-attention and a GELU MLP (the exact GELU, as nanoGPT's
``nn.GELU()``; each block's output is added back to the residual stream), a final layer norm and
a linear head that shares its weight with the token embedding; no biases (nanoGPT's training
default).
Training: AdamW (betas 0.9, 0.99) with weight decay on the weight matrices only, a linear
warm-up then a cosine decay to a tenth of the peak learning rate, gradient clipping at 1.0, on
random blocks of the first 90% of the text. Every ``--eval-interval`` iterations the loss on the
last 10% is measured exactly (every character once, in non-overlapping blocks): that is
``val_loss``. At the end the recipe also prints nanoGPT's estimate of it, the mean loss of
``--eval-iters`` (20) random batches of the validation text (``val_loss_estimate``; it varies
by about 0.015 from one draw to the next). The defaults
are nanoGPT's CPU model trained three times longer (6,000 iterations, the schedule stretched),
which is where the loss still falls fastest for the time spent (see the README for their loss
and time).

Files in the run folder (``--out``, default ``runs/char_gpt``): ``curves.png``, ``metrics.json``
(with ``val_loss``), ``history.csv``, the checkpoint ``last.npz`` (resume with ``--resume``),
``model.json`` (the model's sizes and vocabulary, which ``--sample`` reads beside the checkpoint)
and, with ``--export-onnx``, ``model.onnx``: int64 token ids ``input`` of shape ``(batch,
block_size)`` to ``logits`` ``(batch, block_size, vocab_size)``, any batch size. The length is
fixed at ``block_size`` (the position embeddings are traced at that length); as the attention is
causal, the logits at position ``t`` depend on tokens ``0..t`` only, so a shorter prompt is padded
on the right with any token and its next-token logits read at its last position.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

import giagrad
from giagrad import nn, optim
from giagrad.data import DataLoader, RandomSampler
from giagrad.data.datasets import CharacterText, TextBlocks
from giagrad.nn import functional as F
from giagrad.train import ModelCheckpoint, Trainer
from recipes.common import base_parser, export_onnx, run_folder, write_results

MODEL_FILE = "model.json"


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention where position ``t`` sees positions ``0..t`` only.

    ``cache`` (generation): a list that holds this layer's keys and values of earlier positions,
    so that each new position costs one row of attention instead of a whole block.
    """

    def __init__(self, n_embd: int, n_head: int, dropout: float, bias: bool) -> None:
        super().__init__()
        self.c_attn = nn.Linear(n_embd, 3 * n_embd, bias=bias)  # queries, keys and values at once
        self.c_proj = nn.Linear(n_embd, n_embd, bias=bias)
        self.resid_dropout = nn.Dropout(dropout)
        self.n_head, self.dropout = n_head, dropout

    def forward(self, x: giagrad.Tensor, cache: list[Any] | None = None) -> giagrad.Tensor:
        batch, length, width = x.shape
        heads = self.c_attn(x).reshape(batch, length, 3, self.n_head, width // self.n_head)
        q, k, v = heads.permute(2, 0, 3, 1, 4).unbind(0)  # each (batch, head, length, head size)
        if cache is not None:
            if cache:  # earlier positions: the new one sees all of them
                if length > 1:
                    raise ValueError("CausalSelfAttention: feed one position at a time after cached ones")
                k, v = giagrad.cat([cache[0], k], dim=2), giagrad.cat([cache[1], v], dim=2)
            cache[:] = [k, v]
        y = F.scaled_dot_product_attention(q, k, v, is_causal=length > 1,
                                           dropout_p=self.dropout if self.training else 0.0)
        y = y.transpose(1, 2).reshape(batch, length, width)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    """Widen four times, GELU, narrow back."""

    def __init__(self, n_embd: int, dropout: float, bias: bool) -> None:
        super().__init__()
        self.c_fc = nn.Linear(n_embd, 4 * n_embd, bias=bias)
        self.gelu = nn.GELU()  # the exact form, as nanoGPT
        self.c_proj = nn.Linear(4 * n_embd, n_embd, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: giagrad.Tensor) -> giagrad.Tensor:
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    """Pre-norm transformer block: ``x + attn(ln(x))``, then ``x + mlp(ln(x))``."""

    def __init__(self, n_embd: int, n_head: int, dropout: float, bias: bool) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(n_embd, bias=bias)
        self.attn = CausalSelfAttention(n_embd, n_head, dropout, bias)
        self.ln_2 = nn.LayerNorm(n_embd, bias=bias)
        self.mlp = MLP(n_embd, dropout, bias)

    def forward(self, x: giagrad.Tensor, cache: list[Any] | None = None) -> giagrad.Tensor:
        x = x + self.attn(self.ln_1(x), cache)
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    """A decoder-only transformer over ``vocab_size`` tokens with a context of ``block_size``.

    ``forward(ids)`` maps ``(batch, length)`` token ids to ``(batch, length, vocab_size)`` logits
    of the next token at every position.
    """

    def __init__(self, vocab_size: int, block_size: int, n_layer: int, n_head: int, n_embd: int,
                 dropout: float = 0.0, bias: bool = False) -> None:
        super().__init__()
        if n_embd % n_head:
            raise ValueError(f"GPT: n_embd ({n_embd}) must be a multiple of n_head ({n_head})")
        self.config = {"vocab_size": vocab_size, "block_size": block_size, "n_layer": n_layer, "n_head": n_head,
                       "n_embd": n_embd, "dropout": dropout, "bias": bias}
        self.block_size = block_size
        self.wte = nn.Embedding(vocab_size, n_embd)
        self.wpe = nn.Embedding(block_size, n_embd)
        self.drop = nn.Dropout(dropout)
        self.h = nn.ModuleList([Block(n_embd, n_head, dropout, bias) for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(n_embd, bias=bias)
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight  # weight tying, as GPT-2
        # GPT-2's initialisation: N(0, 0.02), and the projections back into the residual stream
        # scaled by 1 / sqrt(2 n_layer) so that its variance does not grow with depth.
        for name, param in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(param, std=0.02 / math.sqrt(2 * n_layer))
            elif param.ndim == 2:
                nn.init.normal_(param, std=0.02)
            elif name.endswith(".bias"):
                nn.init.zeros_(param)

    def forward(self, ids: giagrad.Tensor, caches: list[list[Any]] | None = None, start: int = 0) -> giagrad.Tensor:
        length = ids.shape[1]
        if start + length > self.block_size:
            raise ValueError(f"GPT: positions up to {start + length} exceed the context of {self.block_size}")
        positions = np.arange(start, start + length)
        x = self.drop(self.wte(ids) + self.wpe(giagrad.tensor(positions)))
        for index, block in enumerate(self.h):
            x = block(x, None if caches is None else caches[index])
        return self.lm_head(self.ln_f(x))

    def generate(self, prompt: np.ndarray, count: int, temperature: float = 1.0, top_k: int | None = None,
                 use_cache: bool = True) -> np.ndarray:
        """Append ``count`` sampled tokens to ``prompt`` (1-D ids); return the new tokens.

        With ``use_cache`` each step feeds only the newest token, reusing the keys and values of
        the earlier ones. When the context is full the window slides by half a block and the cache
        is rebuilt from the kept half (a new token then sees at least half a block of context);
        without the cache every step re-reads the last ``block_size`` tokens, as nanoGPT does.
        """
        tokens = list(int(t) for t in prompt)
        out = []
        caches: list[list[Any]] = []
        fed = 0  # tokens of `tokens` whose keys and values are in the caches (from `window_start`)
        window_start = 0
        self.eval()
        with giagrad.no_grad():
            for _ in range(count):
                if not use_cache:
                    context = tokens[-self.block_size:]
                    logits = self(giagrad.tensor(np.array([context])))
                else:
                    if len(tokens) - window_start > self.block_size:
                        window_start = len(tokens) - self.block_size // 2
                        caches, fed = [], window_start
                    if not caches:
                        caches = [[] for _ in self.h]
                        fed = window_start
                    new = np.array([tokens[fed:]])
                    logits = self(giagrad.tensor(new), caches, start=fed - window_start)
                    fed = len(tokens)
                scores = logits.data[0, -1].astype(np.float64) / max(temperature, 1e-8)
                token = sample_token(scores, top_k)
                tokens.append(token)
                out.append(token)
        return np.array(out, dtype=np.int64)


def sample_token(scores: np.ndarray, top_k: int | None) -> int:
    """Draw one token from ``softmax(scores)``, keeping only the ``top_k`` highest when given."""
    logits = giagrad.tensor(scores)
    if top_k is not None and top_k < len(scores):
        values, _ = logits.topk(top_k)
        logits = logits.masked_fill(logits < values[-1], -math.inf)
    return int(logits.softmax(dim=-1).multinomial(1).item())


def warmup_cosine(warmup: int, total: int, floor: float):
    """The learning-rate factor of step ``t``: linear warm-up to 1, then cosine down to ``floor``."""

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        progress = min((step - warmup) / max(total - warmup, 1), 1.0)
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


def next_token_loss(logits: giagrad.Tensor, targets: giagrad.Tensor) -> giagrad.Tensor:
    """Cross-entropy of every position's prediction of the next character."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def estimate_loss(model: GPT, blocks: TextBlocks, batches: int, batch_size: int, seed: int) -> float:
    """nanoGPT's estimate of a split's loss: the mean loss of ``batches`` batches of random blocks."""
    rng = np.random.default_rng(seed)
    model.eval()
    losses = []
    with giagrad.no_grad():
        for _ in range(batches):
            inputs, targets = blocks.get_batch(rng.integers(0, len(blocks), size=batch_size))
            losses.append(next_token_loss(model(giagrad.tensor(inputs)), giagrad.tensor(targets)).item())
    return float(np.mean(losses))


def load_text(path: str | None) -> CharacterText:
    return CharacterText.tiny_shakespeare() if path is None else CharacterText.from_file(path)


def sample_from_checkpoint(args: Any) -> str:
    """Generate ``args.sample`` characters from the model saved in ``args.resume``'s folder."""
    if args.resume is None:
        raise SystemExit("--sample needs a checkpoint: pass --resume RUN/last.npz")
    saved = json.loads((Path(args.resume).parent / MODEL_FILE).read_text(encoding="utf-8"))
    model = GPT(**saved["config"])
    state = giagrad.load(args.resume)
    model.load_state_dict(state["model"] if "model" in state else state)
    if args.export_onnx:  # the checkpoint's model, beside it
        export_onnx(model, np.zeros((1, model.block_size), dtype=np.int64), Path(args.resume).parent)
    text = CharacterText("".join(saved["chars"]) * 2)  # the vocabulary of the training text
    return generate_text(model, text, args)


def generate_text(model: GPT, text: CharacterText, args: Any) -> str:
    prompt = text.encode(args.prompt) if args.prompt else np.array([text.index.get("\n", 0)])
    started = time.perf_counter()
    ids = model.generate(prompt, args.sample, temperature=args.temperature, top_k=args.top_k)
    seconds = time.perf_counter() - started
    sample = (args.prompt or "") + text.decode(ids)
    print(f"--- {args.sample} sampled characters ({args.sample / seconds:.0f} characters/s) ---\n{sample}")
    return sample


def main(argv: list[str] | None = None) -> dict:
    parser = base_parser("char_gpt", "Train a character-level GPT (tiny Shakespeare by default) and sample "
                         "from it.", epochs=None, batch_size=12, lr=1e-3, images=False,
                         export_note="; it takes int64 token ids (batch, block-size), the length fixed: pad a "
                         "shorter prompt on the right and read the logits at its last position (the attention "
                         "is causal)")
    parser.add_argument("--text", default=None, help="a UTF-8 text file to train on (default: bundled tiny "
                        "Shakespeare)")
    parser.add_argument("--n-layer", type=int, default=4, help="transformer blocks")
    parser.add_argument("--n-head", type=int, default=4, help="attention heads per block")
    parser.add_argument("--n-embd", type=int, default=128, help="embedding width")
    parser.add_argument("--block-size", type=int, default=64, help="context length in characters")
    parser.add_argument("--max-iters", type=int, default=6000, help="training iterations")
    parser.add_argument("--dropout", type=float, default=0.0, help="dropout probability")
    parser.add_argument("--weight-decay", type=float, default=0.1, help="AdamW weight decay (matrices only)")
    parser.add_argument("--warmup-iters", type=int, default=100, help="iterations of linear warm-up")
    parser.add_argument("--min-lr-ratio", type=float, default=0.1, help="final learning rate / peak")
    parser.add_argument("--eval-interval", type=int, default=500,
                        help="iterations between validations (keep it when resuming)")
    parser.add_argument("--eval-iters", type=int, default=20,
                        help="random validation batches of the final nanoGPT-style loss estimate (0: none)")
    parser.add_argument("--sample", type=int, default=None, metavar="N",
                        help="only generate N characters from the checkpoint given by --resume")
    parser.add_argument("--sample-length", type=int, default=500, help="characters sampled after training")
    parser.add_argument("--prompt", default="", help="text the sample continues")
    parser.add_argument("--temperature", type=float, default=0.8, help="sampling temperature")
    parser.add_argument("--top-k", type=int, default=None, help="sample among the k likeliest characters only")
    args = parser.parse_args(argv)
    if args.sample is not None:
        sample_from_checkpoint(args)
        return {}
    if args.max_iters % min(args.eval_interval, args.max_iters):
        parser.error(f"--max-iters ({args.max_iters}) must be a multiple of --eval-interval ({args.eval_interval})")
    interval = min(args.eval_interval, args.max_iters)

    giagrad.manual_seed(args.seed)
    text = load_text(args.text)
    train_blocks = TextBlocks(text.train_ids, args.block_size)
    val_blocks = TextBlocks(text.val_ids, args.block_size, stride=args.block_size)
    # An "epoch" of the trainer is one evaluation interval of random blocks.
    sampler = RandomSampler(train_blocks, replacement=True, num_samples=interval * args.batch_size, seed=args.seed)
    train_loader = DataLoader(train_blocks, batch_size=args.batch_size, sampler=sampler)
    val_loader = DataLoader(val_blocks, batch_size=64)

    model = GPT(text.vocab_size, args.block_size, args.n_layer, args.n_head, args.n_embd, args.dropout)
    matrices = [p for p in model.parameters() if p.ndim >= 2]
    others = [p for p in model.parameters() if p.ndim < 2]
    optimizer = optim.AdamW([{"params": matrices, "weight_decay": args.weight_decay},
                             {"params": others, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.99))
    scheduler = optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(args.warmup_iters, args.max_iters,
                                                                      args.min_lr_ratio))
    folder = run_folder(args.out, "char_gpt")
    (folder / MODEL_FILE).write_text(json.dumps({"config": model.config, "chars": text.chars}) + "\n",
                                     encoding="utf-8")
    trainer = Trainer(model, optimizer, next_token_loss, scheduler=scheduler, scheduler_interval="batch",
                      grad_clip=1.0, callbacks=[ModelCheckpoint(folder, save_best=False)],
                      verbose=0 if args.quiet else 1)
    if not args.quiet:
        print(f"data: {text}\nmodel: {model.num_parameters():,} parameters, {args.n_layer} layers, "
              f"{args.n_head} heads, width {args.n_embd}, context {args.block_size}")
    history = trainer.fit(train_loader, val_loader, epochs=args.max_iters // interval, resume=args.resume)
    if args.export_onnx:
        export_onnx(model, text.train_ids[None, :args.block_size].astype(np.int64), folder)
    results = {"val_loss": history["val_loss"][-1]}
    if args.eval_iters:
        random_val_blocks = TextBlocks(text.val_ids, args.block_size)
        results["val_loss_estimate"] = estimate_loss(model, random_val_blocks, args.eval_iters, args.batch_size,
                                                     args.seed)
        if not args.quiet:
            print(f"validation loss {results['val_loss']:.4f} (every character), {results['val_loss_estimate']:.4f} "
                  f"(nanoGPT's estimate: {args.eval_iters} random batches of {args.batch_size})")
    args.sample = args.sample_length
    sample = generate_text(model, text, args) if args.sample_length else ""
    return write_results(folder, history, {**results, "iterations": trainer.step, "sample": sample}, args,
                         title=f"char GPT (an epoch is {interval} iterations)", val_label="validation")


if __name__ == "__main__":
    main(sys.argv[1:])
