"""Regenerate the pictures in docs/images.

    python docs/make_images.py                                   # graph.png and moons_boundary.png
    python docs/make_images.py --curves runs/mnist_mlp-fashion   # also copy that run's loss curves

``graph.png`` is the computational graph of a small expression (``giagrad.viz``),
``moons_boundary.png`` the decision boundary of ``python -m recipes.moons`` and ``loss_curves.png``
the ``curves.png`` of a recipe run.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run from anywhere: the recipes live at the repository root

import giagrad  # noqa: E402
from giagrad.viz import draw_graph  # noqa: E402


def graph_picture(path: Path) -> None:
    giagrad.manual_seed(0)
    x = giagrad.randn(4, 3, requires_grad=True)
    w = giagrad.randn(3, 2, requires_grad=True)
    b = giagrad.zeros(2, requires_grad=True)
    hidden = (x @ w + b).relu()
    loss = (hidden * hidden).mean()
    draw_graph(loss, path, names={x: "x", w: "w", b: "b", loss: "loss"},
               title="loss = mean(relu(x @ w + b) ** 2)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--curves", help="a recipe's run folder whose curves.png becomes loss_curves.png")
    args = parser.parse_args()
    images = HERE / "images"
    images.mkdir(exist_ok=True)
    graph_picture(images / "graph.png")
    from recipes import moons

    with tempfile.TemporaryDirectory() as folder:
        moons.main(["--out", folder, "--quiet"])
        shutil.copy(Path(folder) / "boundary.png", images / "moons_boundary.png")
    if args.curves:
        shutil.copy(Path(args.curves) / "curves.png", images / "loss_curves.png")
    print(f"pictures written to {images}")


if __name__ == "__main__":
    main()
