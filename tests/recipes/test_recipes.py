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
from recipes import mnist_cnn, mnist_mlp, moons

ROOT = Path(__file__).resolve().parents[2]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ONNX_INSTALLED = all(importlib.util.find_spec(name) is not None for name in ("onnx", "onnxruntime"))


@pytest.mark.parametrize("name, options", [
    ("moons", ["--epochs", "--batch-size", "--lr", "--seed", "--out", "--noise", "--export-onnx"]),
    ("mnist_mlp", ["--epochs", "--batch-size", "--lr", "--seed", "--data-dir", "--dataset", "--out", "--limit"]),
    ("mnist_cnn", ["--epochs", "--batch-size", "--lr", "--seed", "--data-dir", "--dataset", "--out", "--flip"]),
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


@pytest.mark.parametrize("recipe", [mnist_mlp, mnist_cnn])
def test_digit_recipes_tiny_run_offline_on_the_sample(recipe, tmp_path, monkeypatch, capsys):
    # an empty data folder, no cache and no download: the recipe falls back to the bundled digits
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("GIAGRAD_DATA", raising=False)
    empty = tmp_path / "no-data"
    empty.mkdir()
    out = tmp_path / "run"
    export = ["--export-onnx"] if ONNX_INSTALLED else []
    recipe.main(["--epochs", "1", "--limit", "300", "--batch-size", "50", "--offline", "--data-dir", str(empty),
                 "--out", str(out), *export])
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
