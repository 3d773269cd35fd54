"""Shared checks for the optimizers: a quadratic problem and a runner against reference rules.

pytest imports the test modules with ``--import-mode=importlib``, so they cannot import one
another: each optimizer's test module keeps its reference rule and its tables of cases, and
reaches the checks below as fixtures that return the function.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import giagrad

SHAPES = [(3, 4), (4,), (2, 1, 3), ()]
TORCH_START = [0.5, -1.5, 2.0]
TORCH_C = np.array([1.0, 2.0, 0.5])
TORCH_D = np.array([0.3, -0.2, 0.1])


class Quadratic:
    """``loss = sum(c * p**2 + d * p)`` over the parameters; its gradient is ``2 c p + d``."""

    def __init__(self, shapes=SHAPES, dtype="float32", seed=0):
        rng = np.random.default_rng(seed)
        self.dtype = np.dtype(dtype)
        self.initial = [rng.standard_normal(s).astype(dtype) for s in shapes]
        self.c = [rng.uniform(0.2, 2.0, s).astype(dtype) for s in shapes]
        self.d = [rng.uniform(-1.0, 1.0, s).astype(dtype) for s in shapes]

    def params(self):
        return [giagrad.Tensor(x.copy(), requires_grad=True) for x in self.initial]

    def backward(self, params, present=None):
        """Gradients by autograd for the parameters in ``present`` (all by default)."""
        loss = None
        for i, (p, c, d) in enumerate(zip(params, self.c, self.d)):
            if present is not None and i not in present:
                continue
            term = (p * p * giagrad.Tensor(c) + p * giagrad.Tensor(d)).sum()
            loss = term if loss is None else loss + term
        loss.backward()
        return loss

    def grad(self, i, value):
        return 2 * self.c[i].astype(np.float64) * value + self.d[i]


def run_rule(optimizer_class, options, reference, dtype="float32", steps=5, skip=None, seed=0):
    """Run ``steps`` steps with giagrad and with ``reference`` (numpy, float64) and compare.

    ``reference(param, grad, state, **options)`` returns the new parameter and keeps what it
    needs in ``state`` (a dict per parameter; ``state["step"]`` is set by the runner).
    ``skip(step, index)`` says which parameters get no gradient at a step.
    """
    problem = Quadratic(dtype=dtype, seed=seed)
    params = problem.params()
    optimizer = optimizer_class(params, **options)
    expected = [x.astype(np.float64) for x in problem.initial]
    states = [{"step": 0} for _ in params]
    for step in range(steps):
        present = {i for i in range(len(params)) if skip is None or not skip(step, i)}
        optimizer.zero_grad()
        problem.backward(params, present)
        optimizer.step()
        for i in present:
            states[i]["step"] += 1
            expected[i] = reference(expected[i], problem.grad(i, expected[i]), states[i], **options)
    tolerance = {"rtol": 1e-10, "atol": 1e-12} if np.dtype(dtype) == np.float64 else {"rtol": 2e-4, "atol": 2e-5}
    for p, value in zip(params, expected):
        assert p.data.dtype == np.dtype(dtype)
        np.testing.assert_allclose(p.data, value, **tolerance)
    for p in params:
        for key, value in optimizer.state.get(p, {}).items():
            if isinstance(value, np.ndarray):
                assert value.dtype == np.dtype(dtype), key
                assert value.shape == p.shape, key
    return optimizer, params


def run_torch_case(optimizer_class, options, steps=4):
    """The literal case computed with PyTorch (float64): p0 = [0.5, -1.5, 2.0], 4 steps."""
    p = giagrad.Tensor(np.array(TORCH_START), requires_grad=True)
    optimizer = optimizer_class([p], **options)
    c, d = giagrad.Tensor(TORCH_C), giagrad.Tensor(TORCH_D)
    for _ in range(steps):
        optimizer.zero_grad()
        (p * p * c + p * d).sum().backward()
        optimizer.step()
    return p.data


def run_rule_with_missing_gradients(optimizer_class, options, reference):
    """``run_rule`` in float64 over 6 steps, each parameter missing its gradient every third step.

    The gaps are staggered across parameters, so some steps update the whole buffers and
    others only some segments, and the parameters' step counts drift apart.
    """
    return run_rule(optimizer_class, options, reference, dtype="float64", steps=6,
                    skip=lambda step, i: (step + i) % 3 == 0)


def assert_matches_torch(optimizer_class, options, expected):
    """``run_torch_case`` gives the values PyTorch computed for the same case (float64)."""
    np.testing.assert_allclose(run_torch_case(optimizer_class, options), expected, rtol=1e-12)


def assert_rejects(optimizer_class, options):
    """Creating the optimizer with these hyper-parameters raises ValueError."""
    with pytest.raises(ValueError):
        optimizer_class(Quadratic().params(), **options)


@pytest.fixture
def quadratic() -> type[Quadratic]:
    return Quadratic


@pytest.fixture
def check_rule() -> Callable:
    return run_rule


@pytest.fixture
def check_missing_gradients() -> Callable:
    return run_rule_with_missing_gradients


@pytest.fixture
def check_torch_values() -> Callable:
    return assert_matches_torch


@pytest.fixture
def check_rejects() -> Callable:
    return assert_rejects
