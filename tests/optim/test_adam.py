"""Adam, AdamW, Adamax and NAdam against their documented rules and against values from PyTorch."""

import math

import numpy as np
import pytest

from giagrad.optim import Adam, Adamax, AdamW, NAdam


def adam_reference(param, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False,
                   maximize=False, decoupled_weight_decay=False):
    beta1, beta2 = betas
    t = state["step"]
    g = -grad if maximize else grad
    if decoupled_weight_decay:
        param = param - lr * weight_decay * param
    else:
        g = g + weight_decay * param
    state["m"] = beta1 * state.get("m", 0.0) + (1 - beta1) * g
    state["v"] = beta2 * state.get("v", 0.0) + (1 - beta2) * g * g
    v = state["v"]
    if amsgrad:
        state["vmax"] = v = np.maximum(state.get("vmax", 0.0), v)
    return param - lr / (1 - beta1**t) * state["m"] / (np.sqrt(v) / math.sqrt(1 - beta2**t) + eps)


def adamw_reference(param, grad, state, weight_decay=1e-2, **options):
    return adam_reference(param, grad, state, weight_decay=weight_decay, decoupled_weight_decay=True, **options)


def adamax_reference(param, grad, state, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, maximize=False):
    beta1, beta2 = betas
    g = (-grad if maximize else grad) + weight_decay * param
    state["m"] = beta1 * state.get("m", 0.0) + (1 - beta1) * g
    state["u"] = np.maximum(beta2 * state.get("u", 0.0), np.abs(g) + eps)
    return param - lr * state["m"] / ((1 - beta1 ** state["step"]) * state["u"])


def nadam_reference(param, grad, state, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                    momentum_decay=4e-3, decoupled_weight_decay=False, maximize=False):
    beta1, beta2 = betas
    t = state["step"]
    g = -grad if maximize else grad
    if decoupled_weight_decay:
        param = param * (1 - lr * weight_decay)
    else:
        g = g + weight_decay * param
    mus = [beta1 * (1 - 0.5 * 0.96 ** (i * momentum_decay)) for i in range(1, t + 2)]
    state["m"] = beta1 * state.get("m", 0.0) + (1 - beta1) * g
    state["v"] = beta2 * state.get("v", 0.0) + (1 - beta2) * g * g
    denominator = np.sqrt(state["v"] / (1 - beta2**t)) + eps
    return (param - lr * (1 - mus[t - 1]) / (1 - np.prod(mus[:t])) * g / denominator
            - lr * mus[t] / (1 - np.prod(mus[: t + 1])) * state["m"] / denominator)


CASES = [
    (Adam, adam_reference, {"lr": 0.05}),
    (Adam, adam_reference, {"lr": 0.05, "betas": (0.5, 0.9), "eps": 1e-3}),
    (Adam, adam_reference, {"lr": 0.05, "amsgrad": True, "betas": (0.8, 0.5)}),
    (Adam, adam_reference, {"lr": 0.05, "weight_decay": 0.1, "maximize": True}),
    (Adam, adam_reference, {"lr": 0.05, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    (AdamW, adamw_reference, {"lr": 0.05}),
    (AdamW, adamw_reference, {"lr": 0.05, "weight_decay": 0.3, "amsgrad": True, "betas": (0.8, 0.5)}),
    (Adamax, adamax_reference, {"lr": 0.05}),
    (Adamax, adamax_reference, {"lr": 0.05, "weight_decay": 0.1, "betas": (0.5, 0.9), "maximize": True}),
    (NAdam, nadam_reference, {"lr": 0.05}),
    (NAdam, nadam_reference, {"lr": 0.05, "weight_decay": 0.1, "momentum_decay": 0.1}),
    (NAdam, nadam_reference, {"lr": 0.05, "weight_decay": 0.1, "decoupled_weight_decay": True, "maximize": True}),
]
IDS = [f"{case[0].__name__}-{i}" for i, case in enumerate(CASES)]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("optimizer_class", "reference", "options"), CASES, ids=IDS)
def test_follows_its_rule(check_rule, optimizer_class, reference, options, dtype):
    check_rule(optimizer_class, options, reference, dtype=dtype)


@pytest.mark.parametrize(("optimizer_class", "reference", "options"), CASES, ids=IDS)
def test_skips_parameters_without_gradient(check_missing_gradients, optimizer_class, reference, options):
    check_missing_gradients(optimizer_class, options, reference)


# values from PyTorch 2.13 (float64, 4 steps of the conftest's literal case)
TORCH_VALUES = [
    (Adam, {"lr": 0.1}, [0.10796186782272013, -1.1021032433047542, 1.6014143699109245]),
    (Adam, {"lr": 0.1, "weight_decay": 0.1, "maximize": True},
     [0.9011044503315183, -1.9009599706846974, 2.4007923717135427]),
    (AdamW, {"lr": 0.1, "weight_decay": 0.1}, [0.0947901321789987, -1.0493648960932314, 1.5289153917283729]),
    (AdamW, {"lr": 0.1, "amsgrad": True, "betas": (0.5, 0.9)},
     [0.1233882709880976, -1.1031688115079523, 1.598726288342915]),
    (Adamax, {"lr": 0.1}, [0.14732407269201458, -1.119950277392671, 1.6146316245246968]),
    (Adamax, {"lr": 0.1, "weight_decay": 0.1}, [0.1478357793690535, -1.1199661996298036, 1.6146970668045655]),
    (NAdam, {"lr": 0.1}, [0.19915722023758287, -1.1808488367200558, 1.6777605194787844]),
    (NAdam, {"lr": 0.1, "weight_decay": 0.1}, [0.19954087727410474, -1.1808582958526759, 1.6777976661837684]),
    (NAdam, {"lr": 0.1, "weight_decay": 0.1, "decoupled_weight_decay": True},
     [0.18638469427646487, -1.1290646994722766, 1.6062124556699808]),
]


@pytest.mark.parametrize(("optimizer_class", "options", "expected"), TORCH_VALUES,
                         ids=[f"{case[0].__name__}-{i}" for i, case in enumerate(TORCH_VALUES)])
def test_matches_pytorch(check_torch_values, optimizer_class, options, expected):
    check_torch_values(optimizer_class, options, expected)


@pytest.mark.parametrize("optimizer_class", [Adam, AdamW, Adamax, NAdam])
@pytest.mark.parametrize("options", [
    {"lr": -1e-3}, {"betas": (1.0, 0.999)}, {"betas": (0.9, -0.1)}, {"betas": (0.9,)}, {"eps": -1e-8},
    {"weight_decay": -0.1},
])
def test_rejects_bad_hyperparameters(check_rejects, optimizer_class, options):
    check_rejects(optimizer_class, options)


def test_nadam_rejects_negative_momentum_decay(quadratic):
    with pytest.raises(ValueError, match="momentum_decay"):
        NAdam(quadratic().params(), momentum_decay=-1.0)


def test_adam_state_names_and_dtype(quadratic):
    problem = quadratic()
    params = problem.params()
    optimizer = Adam(params, amsgrad=True)
    problem.backward(params)
    optimizer.step()
    state = optimizer.state[params[0]]
    assert set(state) == {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}
    assert state["step"] == 1
    assert state["exp_avg"].dtype == np.float32 and state["exp_avg"].shape == params[0].shape
