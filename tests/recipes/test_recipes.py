"""Each recipe's command line: --help, and a tiny run that writes its files (no network)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from recipes import char_gpt, mnist_cnn, mnist_mlp, moons

ROOT = Path(__file__).resolve().parents[2]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("name, options", [
    ("moons", ["--epochs", "--batch-size", "--lr", "--seed", "--out", "--noise"]),
    ("mnist_mlp", ["--epochs", "--batch-size", "--lr", "--seed", "--data-dir", "--dataset", "--out", "--limit"]),
    ("mnist_cnn", ["--epochs", "--batch-size", "--lr", "--seed", "--data-dir", "--dataset", "--out", "--flip"]),
    ("char_gpt", ["--text", "--n-layer", "--n-head", "--n-embd", "--block-size", "--batch-size", "--max-iters", "--lr",
                  "--dropout", "--seed", "--out", "--resume", "--sample", "--prompt", "--temperature", "--top-k"]),
])
def test_help_lists_the_options(name, options):
    result = subprocess.run([sys.executable, "-m", f"recipes.{name}", "--help"], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert f"python -m recipes.{name}" in result.stdout
    for option in options:
        assert option in result.stdout


def check_run_folder(folder, extra=()):
    for picture in ("curves.png", *extra):
        data = (folder / picture).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5000
    metrics = json.loads((folder / "metrics.json").read_text())
    assert 0.0 <= metrics["test_accuracy"] <= 1.0 and metrics["epochs"] >= 1
    assert (folder / "last.npz").stat().st_size > 0
    assert (folder / "history.csv").read_text().startswith("epoch,")
    return metrics


def test_moons_tiny_run(tmp_path):
    metrics = moons.main(["--epochs", "3", "--samples", "200", "--out", str(tmp_path), "--quiet"])
    check_run_folder(tmp_path, extra=("boundary.png",))
    assert metrics["test_accuracy"] > 0.7


@pytest.mark.parametrize("recipe", [mnist_mlp, mnist_cnn])
def test_digit_recipes_tiny_run_offline_on_the_sample(recipe, tmp_path, monkeypatch, capsys):
    # an empty data folder, no cache and no download: the recipe falls back to the bundled digits
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("GIAGRAD_DATA", raising=False)
    empty = tmp_path / "no-data"
    empty.mkdir()
    out = tmp_path / "run"
    recipe.main(["--epochs", "1", "--limit", "300", "--batch-size", "50", "--offline", "--data-dir", str(empty),
                 "--out", str(out)])
    printed = capsys.readouterr().out
    assert "notice: full MNIST not available" in printed and "bundled MNIST sample" in printed
    assert "epoch 1/1" in printed
    metrics = check_run_folder(out)
    assert "sample" in metrics["data"]


def test_resume_option_continues_a_run(tmp_path):
    out = str(tmp_path)
    moons.main(["--epochs", "2", "--samples", "200", "--out", out, "--quiet"])
    metrics = moons.main(["--epochs", "3", "--samples", "200", "--out", out, "--quiet",
                          "--resume", os.path.join(out, "last.npz")])
    assert metrics["epochs"] == 3


TINY_GPT = ["--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--block-size", "8", "--batch-size", "4",
            "--max-iters", "4", "--eval-interval", "2", "--sample-length", "20", "--quiet"]


def test_char_gpt_tiny_run_then_samples_from_its_checkpoint(tmp_path, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("to be or not to be, that is the question.\n" * 40, encoding="utf-8")
    out = tmp_path / "run"
    metrics = char_gpt.main(["--text", str(corpus), "--out", str(out), *TINY_GPT])
    assert 0 < metrics["val_loss"] < 10 and metrics["iterations"] == 4 and len(metrics["sample"]) == 20
    assert (out / "curves.png").read_bytes().startswith(PNG_MAGIC)
    assert (out / "history.csv").read_text().startswith("epoch,")
    assert json.loads((out / "metrics.json").read_text())["val_loss"] == metrics["val_loss"]
    capsys.readouterr()
    char_gpt.main(["--sample", "30", "--resume", str(out / "last.npz"), "--prompt", "to be", "--top-k", "5"])
    printed = capsys.readouterr().out
    assert "30 sampled characters" in printed and "\nto be" in printed
    # resuming continues the iteration count
    metrics = char_gpt.main(["--text", str(corpus), "--out", str(out), "--resume", str(out / "last.npz"),
                             *TINY_GPT[:-3], "--max-iters", "6", "--sample-length", "0", "--quiet"])
    assert metrics["iterations"] == 6


def test_char_gpt_cached_generation_equals_recomputing_within_the_context():
    giagrad_module = char_gpt.giagrad
    giagrad_module.manual_seed(0)
    model = char_gpt.GPT(vocab_size=11, block_size=16, n_layer=2, n_head=2, n_embd=8)
    prompt = [1, 2, 3]
    giagrad_module.manual_seed(5)
    cached = model.generate(prompt, 13, use_cache=True)
    giagrad_module.manual_seed(5)
    recomputed = model.generate(prompt, 13, use_cache=False)
    assert cached.tolist() == recomputed.tolist()
    giagrad_module.manual_seed(5)
    assert len(model.generate(prompt, 40, use_cache=True, top_k=3)) == 40  # the window slides past the context
