"""RMSprop against its documented rule (numpy reference) and against values from PyTorch."""

import numpy as np
import pytest

from giagrad.optim import RMSprop


def rmsprop_reference(param, grad, state, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                      centered=False, maximize=False):
    g = (-grad if maximize else grad) + weight_decay * param
    state["v"] = alpha * state.get("v", 0.0) + (1 - alpha) * g * g
    v = state["v"]
    if centered:
        state["g_avg"] = alpha * state.get("g_avg", 0.0) + (1 - alpha) * g
        v = v - state["g_avg"] ** 2
    if momentum > 0:
        state["b"] = momentum * state.get("b", 0.0) + g / (np.sqrt(v) + eps)
        return param - lr * state["b"]
    return param - lr * g / (np.sqrt(v) + eps)


OPTIONS = [
    {"lr": 0.01},
    {"lr": 0.01, "alpha": 0.5, "eps": 1e-3},
    {"lr": 0.01, "centered": True},
    {"lr": 0.01, "momentum": 0.9, "weight_decay": 0.1},
    {"lr": 0.01, "momentum": 0.9, "centered": True, "maximize": True},
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("options", OPTIONS)
def test_rmsprop_follows_its_rule(check_rule, options, dtype):
    check_rule(RMSprop, options, rmsprop_reference, dtype=dtype)


@pytest.mark.parametrize("options", OPTIONS)
def test_rmsprop_skips_parameters_without_gradient(check_missing_gradients, options):
    check_missing_gradients(RMSprop, options, rmsprop_reference)


# values from PyTorch 2.13 (torch.optim.RMSprop, float64, 4 steps of the conftest's literal case)
TORCH_VALUES = [
    ({"lr": 0.01}, [0.2444321822769242, -1.2298715347889244, 1.727365344818563]),
    ({"lr": 0.01, "centered": True}, [0.2419421459173707, -1.2269807124477519, 1.7244088927576373]),
    ({"lr": 0.01, "momentum": 0.9}, [-0.12240539175836651, -0.8304105722876802, 1.32279634695357]),
    ({"lr": 0.01, "centered": True, "momentum": 0.9, "weight_decay": 0.1},
     [-0.12580574147672138, -0.8247229442827789, 1.3169840185126476]),
]


@pytest.mark.parametrize(("options", "expected"), TORCH_VALUES)
def test_rmsprop_matches_pytorch(check_torch_values, options, expected):
    check_torch_values(RMSprop, options, expected)


@pytest.mark.parametrize("options", [{"lr": -0.1}, {"alpha": -0.5}, {"eps": -1.0}, {"weight_decay": -1e-4},
                                     {"momentum": -0.9}])
def test_rmsprop_rejects_bad_hyperparameters(check_rejects, options):
    check_rejects(RMSprop, options)
