"""Lion against the rule of Chen et al. (2023), Program 1 (PyTorch has no Lion)."""

import numpy as np
import pytest

import giagrad
from giagrad.optim import Lion


def lion_reference(param, grad, state, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0, maximize=False):
    beta1, beta2 = betas
    g = -grad if maximize else grad
    m = state.get("m", 0.0)
    update = np.sign(beta1 * m + (1 - beta1) * g) + weight_decay * param
    state["m"] = beta2 * m + (1 - beta2) * g
    return param - lr * update


OPTIONS = [
    {"lr": 0.01},
    {"lr": 0.01, "betas": (0.5, 0.9), "weight_decay": 0.5},
    {"lr": 0.01, "maximize": True},
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("options", OPTIONS)
def test_lion_follows_its_rule(check_rule, options, dtype):
    check_rule(Lion, options, lion_reference, dtype=dtype)


@pytest.mark.parametrize("options", OPTIONS)
def test_lion_skips_parameters_without_gradient(check_missing_gradients, options):
    check_missing_gradients(Lion, options, lion_reference)


def test_lion_moves_each_coordinate_by_the_learning_rate():
    # By hand: the first update is lr * sign(grad), the second uses c = 0.9 m + 0.1 g with m = 0.01 g1.
    p = giagrad.tensor([1.0, -1.0, 0.0], requires_grad=True)
    optimizer = Lion([p], lr=0.1)
    p.grad = np.array([2.0, -3.0, 0.5], dtype=np.float32)
    optimizer.step()
    np.testing.assert_allclose(p.data, [0.9, -0.9, -0.1], rtol=1e-6)
    np.testing.assert_allclose(optimizer.state[p]["exp_avg"], [0.02, -0.03, 0.005], rtol=1e-6)
    # c = 0.9 * [0.02, -0.03, 0.005] + 0.1 * [-1, 1, -1] = [-0.082, 0.073, -0.0955]
    p.grad = np.array([-1.0, 1.0, -1.0], dtype=np.float32)
    optimizer.step()
    np.testing.assert_allclose(p.data, [1.0, -1.0, 0.0], atol=1e-6)


@pytest.mark.parametrize("options", [{"lr": -0.1}, {"betas": (1.0, 0.9)}, {"betas": (0.9, -0.1)},
                                     {"weight_decay": -1e-4}])
def test_lion_rejects_bad_hyperparameters(check_rejects, options):
    check_rejects(Lion, options)
