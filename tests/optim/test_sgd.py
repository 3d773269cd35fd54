"""SGD against its documented rule (numpy reference) and against values from PyTorch."""

import numpy as np
import pytest

from giagrad.optim import SGD


def sgd_reference(param, grad, state, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False,
                  maximize=False):
    g = (-grad if maximize else grad) + weight_decay * param
    if momentum != 0:
        if "buffer" not in state:
            state["buffer"] = g.copy()
        else:
            state["buffer"] = momentum * state["buffer"] + (1 - dampening) * g
        g = g + momentum * state["buffer"] if nesterov else state["buffer"]
    return param - lr * g


OPTIONS = [
    {"lr": 0.1},
    {"lr": 0.05, "momentum": 0.9},
    {"lr": 0.05, "momentum": 0.9, "dampening": 0.3},
    {"lr": 0.05, "momentum": 0.8, "nesterov": True, "weight_decay": 0.1},
    {"lr": 0.05, "weight_decay": 0.2, "maximize": True},
    {"lr": 0.05, "momentum": 0.5, "maximize": True},
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("options", OPTIONS)
def test_sgd_follows_its_rule(check_rule, options, dtype):
    check_rule(SGD, options, sgd_reference, dtype=dtype)


@pytest.mark.parametrize("options", OPTIONS)
def test_sgd_skips_parameters_without_gradient(check_missing_gradients, options):
    check_missing_gradients(SGD, options, sgd_reference)


# values from PyTorch 2.13 (torch.optim.SGD, float64, 4 steps of the conftest's literal case)
TORCH_VALUES = [
    ({"lr": 0.1}, [0.11623999999999997, -0.15087999999999996, 1.2778100000000001]),
    ({"lr": 0.1, "momentum": 0.9}, [-0.35059000000000007, 1.3055, 0.37627999999999995]),
    ({"lr": 0.1, "momentum": 0.9, "dampening": 0.5, "weight_decay": 0.1},
     [-0.18999139562500006, 1.1370215706250002, 0.7041941162499997]),
    ({"lr": 0.1, "momentum": 0.9, "nesterov": True}, [-0.36113497600000005, 0.5926572320000001, 0.097164611]),
    ({"lr": 0.1, "weight_decay": 0.1, "maximize": True}, [1.161407375, -5.739669995000001, 2.86889451]),
]


@pytest.mark.parametrize(("options", "expected"), TORCH_VALUES)
def test_sgd_matches_pytorch(check_torch_values, options, expected):
    check_torch_values(SGD, options, expected)


@pytest.mark.parametrize("options", [
    {"lr": -0.1}, {"momentum": -0.5}, {"weight_decay": -1e-4}, {"dampening": -0.1},
    {"nesterov": True}, {"nesterov": True, "momentum": 0.9, "dampening": 0.1}, {"lr": float("nan")},
])
def test_sgd_rejects_bad_hyperparameters(check_rejects, options):
    check_rejects(SGD, options)


def test_momentum_buffer_is_exposed_per_parameter(quadratic):
    problem = quadratic()
    params = problem.params()
    optimizer = SGD(params, lr=0.1, momentum=0.9)
    problem.backward(params)
    optimizer.step()
    for p in params:
        np.testing.assert_array_equal(optimizer.state[p]["momentum_buffer"], p.grad)
    assert "momentum_buffer" not in SGD([quadratic().params()[0]], lr=0.1).state
