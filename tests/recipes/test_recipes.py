"""Each recipe's command line: --help, and a tiny run that writes its files (no network)."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import giagrad
from giagrad import nn
from giagrad.data.datasets import DatasetNotFoundError
from recipes import char_gpt, mnist_cnn, mnist_mlp, moons

ROOT = Path(__file__).resolve().parents[2]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ONNX_INSTALLED = all(importlib.util.find_spec(name) is not None for name in ("onnx", "onnxruntime"))


@pytest.mark.parametrize("name, options", [
    ("moons", ["--epochs", "--batch-size", "--lr", "--seed", "--out", "--noise", "--export-onnx"]),
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
    export = ["--export-onnx"] if ONNX_INSTALLED else []
    metrics = moons.main(["--epochs", "3", "--samples", "200", "--out", str(tmp_path), "--quiet", *export])
    check_run_folder(tmp_path, extra=("boundary.png",))
    assert (tmp_path / "model.onnx").exists() == ONNX_INSTALLED
    assert metrics["test_accuracy"] > 0.7


@pytest.fixture
def no_data(tmp_path, monkeypatch):
    """No data folder named, an empty cache: only the bundled sample is there."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("GIAGRAD_DATA", raising=False)


@pytest.mark.parametrize("recipe", [mnist_mlp, mnist_cnn])
def test_digit_recipes_tiny_run_offline_on_the_sample(recipe, tmp_path, no_data, capsys):
    # no folder named, no cache and no download: the recipe falls back to the bundled digits
    out = tmp_path / "run"
    export = ["--export-onnx"] if ONNX_INSTALLED else []
    recipe.main(["--epochs", "1", "--limit", "300", "--batch-size", "50", "--offline", "--out", str(out), *export])
    printed = capsys.readouterr().out
    assert "bundled MNIST sample" in printed
    notices = [line for line in printed.splitlines() if line.startswith("notice:")]
    assert len(notices) == 1 and "5,000 digits bundled" in notices[0]
    assert "((" not in printed and "))" not in printed and "training on" not in notices[0]  # said once, no nesting
    assert "epoch 1/1" in printed
    metrics = check_run_folder(out)
    assert "sample" in metrics["data"]
    if ONNX_INSTALLED:
        check_onnx_export(recipe, out)


def test_mnist_mlp_with_jit_trains_as_without(tmp_path, no_data):
    options = ["--epochs", "1", "--limit", "300", "--batch-size", "50", "--offline", "--quiet"]
    eager = mnist_mlp.main([*options, "--out", str(tmp_path / "eager")])
    jit = mnist_mlp.main([*options, "--out", str(tmp_path / "jit"), "--jit"])
    assert jit["test_accuracy"] == eager["test_accuracy"]
    np.testing.assert_allclose(jit["test_loss"], eager["test_loss"], rtol=1e-5)


def check_onnx_export(recipe, folder):
    """model.onnx beside the checkpoint gives the checkpoint's model's outputs, for any batch size."""
    import onnxruntime

    model = recipe.MLP() if recipe is mnist_mlp else recipe.ConvNet()
    model.load_state_dict(giagrad.load(folder / "last.npz")["model"])
    model.eval()
    shape = (5, 784) if recipe is mnist_mlp else (5, 1, 28, 28)
    images = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    session = onnxruntime.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    (logits,) = session.run(["logits"], {"input": images})
    np.testing.assert_allclose(logits, model(giagrad.tensor(images)).data, rtol=1e-4, atol=1e-5)


def test_resume_option_continues_a_run(tmp_path):
    out = str(tmp_path)
    moons.main(["--epochs", "2", "--samples", "200", "--out", out, "--quiet"])
    metrics = moons.main(["--epochs", "3", "--samples", "200", "--out", out, "--quiet",
                          "--resume", os.path.join(out, "last.npz")])
    assert metrics["epochs"] == 3


@pytest.mark.parametrize("recipe, folder", [(moons, "runs/moons)"), (mnist_mlp, "runs/mnist_mlp-DATASET)")])
def test_help_shows_each_default_once(recipe, folder, capsys):
    with pytest.raises(SystemExit):
        recipe.main(["--help"])
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert f"(default: {folder}" in text and "[-DATASET]" not in text
    assert "(default: None)" not in text and "(default: False)" not in text
    assert "seed for initialisation, dropout and shuffling (default: 0)" in text
    if recipe is mnist_mlp:
        assert "then a download) (default" not in text


def test_a_named_data_folder_without_the_data_is_an_error(tmp_path, no_data):
    empty = tmp_path / "no-data"
    empty.mkdir()
    for folder, offline in ((empty, ["--offline"]), (tmp_path / "typo", ["--offline"]), (tmp_path / "typo", [])):
        with pytest.raises(DatasetNotFoundError, match=str(folder)):
            mnist_mlp.main(["--epochs", "1", "--limit", "300", *offline, "--data-dir", str(folder),
                            "--out", str(tmp_path / "run"), "--quiet"])
    assert not (tmp_path / "run" / "metrics.json").exists() and not (tmp_path / "typo").exists()


def interrupt_the_loss_at(monkeypatch, call):
    original = nn.CrossEntropyLoss.forward
    calls = {"n": 0}

    def forward(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == call:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(nn.CrossEntropyLoss, "forward", forward)


def test_an_interrupted_recipe_says_so_and_exits_130(tmp_path, monkeypatch, capsys):
    interrupt_the_loss_at(monkeypatch, 14)        # epoch 3 (5 training batches and 1 test batch an epoch)
    out = str(tmp_path)
    with pytest.raises(SystemExit) as raised:
        moons.main(["--epochs", "4", "--samples", "200", "--out", out, "--quiet"])
    assert raised.value.code == 130
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["status"] == "interrupted" and "finished" not in metrics and "test_accuracy" not in metrics
    assert metrics["interrupted"]["epochs_completed"] == 2
    assert metrics["interrupted"]["resume_with"] == os.path.join(out, "interrupted.npz")
    assert "--resume" in capsys.readouterr().err
    monkeypatch.undo()
    metrics = moons.main(["--epochs", "4", "--samples", "200", "--out", out, "--quiet",
                          "--resume", os.path.join(out, "interrupted.npz")])
    assert metrics["status"] == "finished" and metrics["epochs"] == 4


def test_resume_for_more_epochs_with_the_one_cycle_schedule(tmp_path, no_data):
    out = str(tmp_path / "run")
    options = ["--limit", "200", "--batch-size", "50", "--offline", "--out", out, "--quiet"]
    mnist_mlp.main(["--epochs", "2", *options])
    with pytest.warns(UserWarning, match="total_steps=8.*total_steps=16"):
        metrics = mnist_mlp.main(["--epochs", "4", "--resume", os.path.join(out, "last.npz"), *options])
    assert metrics["epochs"] == 4 and metrics["status"] == "finished"


@pytest.mark.skipif(not os.path.isdir("/usr/share/datasets/fashion-mnist"),
                    reason="Debian package dataset-fashion-mnist is not installed")
def test_metrics_record_the_files_the_data_came_from(tmp_path, no_data):
    metrics = mnist_mlp.main(["--dataset", "fashion", "--epochs", "1", "--limit", "200", "--offline",
                              "--out", str(tmp_path), "--quiet"])
    assert "from /usr/share/datasets/fashion-mnist" in metrics["data"]
    assert metrics["data_files"]["test_labels"] == "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz"
    assert json.loads((tmp_path / "metrics.json").read_text())["data_files"] == metrics["data_files"]


TINY_GPT = ["--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--block-size", "8", "--batch-size", "4",
            "--max-iters", "4", "--eval-interval", "2", "--sample-length", "20", "--quiet"]


def test_char_gpt_tiny_run_then_samples_from_its_checkpoint(tmp_path, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("to be or not to be, that is the question.\n" * 40, encoding="utf-8")
    out = tmp_path / "run"
    export = ["--export-onnx"] if ONNX_INSTALLED else []
    metrics = char_gpt.main(["--text", str(corpus), "--out", str(out), *TINY_GPT, *export])
    assert (out / "model.onnx").exists() == ONNX_INSTALLED
    if ONNX_INSTALLED:
        check_char_gpt_onnx_export(out)
    assert 0 < metrics["val_loss"] < 10 and metrics["iterations"] == 4 and len(metrics["sample"]) == 20
    assert (out / "curves.png").read_bytes().startswith(PNG_MAGIC)
    assert (out / "history.csv").read_text().startswith("epoch,")
    assert json.loads((out / "metrics.json").read_text())["val_loss"] == metrics["val_loss"]
    # nanoGPT's estimate (20 random validation batches) is near the loss over every character
    assert abs(metrics["val_loss_estimate"] - metrics["val_loss"]) < 0.5
    capsys.readouterr()
    char_gpt.main(["--sample", "30", "--resume", str(out / "last.npz"), "--prompt", "to be", "--top-k", "5"])
    printed = capsys.readouterr().out
    assert "30 sampled characters" in printed and "\nto be" in printed
    # resuming continues the iteration count
    metrics = char_gpt.main(["--text", str(corpus), "--out", str(out), "--resume", str(out / "last.npz"),
                             *TINY_GPT[:-3], "--max-iters", "6", "--sample-length", "0", "--quiet"])
    assert metrics["iterations"] == 6


def check_char_gpt_onnx_export(folder):
    """model.onnx gives the checkpoint's model's logits at any batch size; a prompt padded on the right keeps its
    logits (the documented way to feed a shorter one)."""
    import onnxruntime

    saved = json.loads((folder / char_gpt.MODEL_FILE).read_text(encoding="utf-8"))
    model = char_gpt.GPT(**saved["config"])
    model.load_state_dict(giagrad.load(folder / "last.npz")["model"])
    model.eval()
    block, vocab = saved["config"]["block_size"], saved["config"]["vocab_size"]
    ids = np.random.default_rng(0).integers(0, vocab, (3, block))
    session = onnxruntime.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    assert [i.type for i in session.get_inputs()] == ["tensor(int64)"]
    (logits,) = session.run(["logits"], {"input": ids})
    assert logits.shape == (3, block, vocab)
    np.testing.assert_allclose(logits, model(giagrad.tensor(ids)).data, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(logits[:, :3], model(giagrad.tensor(ids[:, :3])).data, rtol=1e-4, atol=1e-5)


def test_char_gpt_exports_an_existing_checkpoint(tmp_path):
    pytest.importorskip("onnxruntime")
    giagrad.manual_seed(0)
    model = char_gpt.GPT(vocab_size=7, block_size=6, n_layer=1, n_head=2, n_embd=8)
    giagrad.save({"model": model.state_dict()}, tmp_path / "last.npz")
    (tmp_path / char_gpt.MODEL_FILE).write_text(json.dumps({"config": model.config, "chars": list("abcdefg")}))
    char_gpt.main(["--sample", "0", "--resume", str(tmp_path / "last.npz"), "--export-onnx"])
    check_char_gpt_onnx_export(tmp_path)


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
