"""Adadelta against its documented rule (numpy reference) and against values from PyTorch."""

import numpy as np
import pytest

from giagrad.optim import Adadelta


def adadelta_reference(param, grad, state, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, maximize=False):
    g = (-grad if maximize else grad) + weight_decay * param
    state["v"] = rho * state.get("v", 0.0) + (1 - rho) * g * g
    u = state.get("u", 0.0)
    delta = np.sqrt(u + eps) / np.sqrt(state["v"] + eps) * g
    state["u"] = rho * u + (1 - rho) * delta * delta
    return param - lr * delta


OPTIONS = [
    {},
    {"lr": 0.5, "rho": 0.5, "eps": 1e-3},
    {"weight_decay": 0.1, "maximize": True},
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("options", OPTIONS)
def test_adadelta_follows_its_rule(check_rule, options, dtype):
    check_rule(Adadelta, options, adadelta_reference, dtype=dtype)


@pytest.mark.parametrize("options", OPTIONS)
def test_adadelta_skips_parameters_without_gradient(check_missing_gradients, options):
    check_missing_gradients(Adadelta, options, adadelta_reference)


# values from PyTorch 2.13 (torch.optim.Adadelta, float64, 4 steps of the conftest's literal case)
TORCH_VALUES = [
    ({}, [0.48700358596004706, -1.4869711948896636, 1.986965106362048]),
    ({"lr": 0.5, "rho": 0.5, "weight_decay": 0.1}, [0.4966081532716238, -1.4966066887991618, 1.9966064207846916]),
]


@pytest.mark.parametrize(("options", "expected"), TORCH_VALUES)
def test_adadelta_matches_pytorch(check_torch_values, options, expected):
    check_torch_values(Adadelta, options, expected)


@pytest.mark.parametrize("options", [{"lr": -0.1}, {"rho": 1.5}, {"rho": -0.1}, {"eps": -1.0}, {"weight_decay": -1e-4}])
def test_adadelta_rejects_bad_hyperparameters(check_rejects, options):
    check_rejects(Adadelta, options)
