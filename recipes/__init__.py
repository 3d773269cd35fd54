"""Runnable examples, each a complete training script: ``python -m recipes.NAME --help``.

- ``moons``: a tiny MLP on a 2-D toy problem, with a decision-boundary picture (seconds).
- ``mnist_mlp``: a 784-256-128-10 MLP on MNIST or Fashion-MNIST.
- ``mnist_cnn``: a small CNN (two conv-BN-pool blocks) on MNIST or Fashion-MNIST.
"""
