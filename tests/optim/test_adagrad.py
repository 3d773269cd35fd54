"""Adagrad against its documented rule (numpy reference) and against values from PyTorch."""

import numpy as np
import pytest

from giagrad.optim import Adagrad


def adagrad_reference(param, grad, state, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0,
                      eps=1e-10, maximize=False):
    g = (-grad if maximize else grad) + weight_decay * param
    state["sum"] = state.get("sum", initial_accumulator_value) + g * g
    step_lr = lr / (1 + (state["step"] - 1) * lr_decay)
    return param - step_lr * g / (np.sqrt(state["sum"]) + eps)


OPTIONS = [
    {"lr": 0.1},
    {"lr": 0.1, "lr_decay": 0.2},
    {"lr": 0.1, "weight_decay": 0.1, "initial_accumulator_value": 0.5, "eps": 1e-3},
    {"lr": 0.1, "maximize": True},
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("options", OPTIONS)
def test_adagrad_follows_its_rule(check_rule, options, dtype):
    check_rule(Adagrad, options, adagrad_reference, dtype=dtype)


@pytest.mark.parametrize("options", OPTIONS)
def test_adagrad_skips_parameters_without_gradient(check_missing_gradients, options):
    check_missing_gradients(Adagrad, options, adagrad_reference)


# values from PyTorch 2.13 (torch.optim.Adagrad, float64, 4 steps of the conftest's literal case)
TORCH_VALUES = [
    ({"lr": 0.1}, [0.24524495654709175, -1.2307130483512954, 1.7282087729236337]),
    ({"lr": 0.1, "lr_decay": 0.1, "weight_decay": 0.1, "initial_accumulator_value": 0.5},
     [0.28521913299655877, -1.2572614691435127, 1.7613433028831873]),
]


@pytest.mark.parametrize(("options", "expected"), TORCH_VALUES)
def test_adagrad_matches_pytorch(check_torch_values, options, expected):
    check_torch_values(Adagrad, options, expected)


@pytest.mark.parametrize("options", [{"lr": -0.1}, {"lr_decay": -0.5}, {"eps": -1.0}, {"weight_decay": -1e-4},
                                     {"initial_accumulator_value": -1.0}])
def test_adagrad_rejects_bad_hyperparameters(check_rejects, options):
    check_rejects(Adagrad, options)
