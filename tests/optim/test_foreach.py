"""``foreach=False`` (the plain per-parameter rule) and the whole-buffer update agree.

Every optimizer and option set runs a few steps both ways on the same gradients, including a
step where one parameter has no gradient; parameters and every state entry must match.
"""

import numpy as np
import pytest

import giagrad
from giagrad import optim

OPTION_SETS = {
    optim.SGD: [{}, {"momentum": 0.9}, {"momentum": 0.9, "dampening": 0.3}, {"momentum": 0.9, "nesterov": True},
                {"weight_decay": 0.1, "momentum": 0.5}, {"maximize": True, "momentum": 0.9, "weight_decay": 0.1}],
    optim.Adam: [{}, {"amsgrad": True}, {"weight_decay": 0.1}, {"maximize": True, "amsgrad": True},
                 {"weight_decay": 0.1, "decoupled_weight_decay": True}, {"betas": (0.5, 0.9), "eps": 1e-3}],
    optim.AdamW: [{}, {"amsgrad": True, "weight_decay": 0.2}, {"maximize": True}],
    optim.Adamax: [{}, {"weight_decay": 0.1}, {"maximize": True, "eps": 1e-3}],
    optim.NAdam: [{}, {"weight_decay": 0.1}, {"weight_decay": 0.1, "decoupled_weight_decay": True},
                  {"maximize": True, "momentum_decay": 0.01}],
    optim.RMSprop: [{}, {"centered": True}, {"momentum": 0.9}, {"momentum": 0.9, "centered": True, "weight_decay": 0.1},
                    {"maximize": True, "alpha": 0.9}],
    optim.Adagrad: [{}, {"lr_decay": 0.1, "initial_accumulator_value": 0.2, "weight_decay": 0.1},
                    {"maximize": True, "eps": 1e-3}],
    optim.Adadelta: [{}, {"weight_decay": 0.1, "rho": 0.5}, {"maximize": True, "lr": 0.5}],
    optim.Lion: [{}, {"weight_decay": 0.5}, {"maximize": True, "betas": (0.5, 0.8)}],
}
CASES = [(cls, options) for cls, option_sets in OPTION_SETS.items() for options in option_sets]
IDS = [f"{cls.__name__}-{'-'.join(f'{k}={v}' for k, v in options.items()) or 'defaults'}" for cls, options in CASES]
SHAPES = [(3, 4), (4,), (2, 1, 3), ()]


def run(optimizer_class, options, foreach, steps=5):
    rng = np.random.default_rng(0)
    params = [giagrad.tensor(rng.standard_normal(shape), dtype="float64", requires_grad=True) for shape in SHAPES]
    optimizer = optimizer_class(params, **{"lr": 0.05, **options}, foreach=foreach)
    history = []
    for step in range(steps):
        optimizer.zero_grad()
        for index, p in enumerate(params):
            if step == 2 and index == 1:
                continue  # no gradient for this parameter at this step
            p.grad = rng.standard_normal(p.shape)
        optimizer.step()
        history.append(([p.data.copy() for p in params],
                        [{k: np.copy(v) for k, v in optimizer.state[p].items()} for p in params]))
    return history


@pytest.mark.parametrize(("optimizer_class", "options"), CASES, ids=IDS)
def test_foreach_false_matches_the_whole_buffer_update(optimizer_class, options):
    fast, plain = run(optimizer_class, options, None), run(optimizer_class, options, False)
    for (fast_params, fast_state), (plain_params, plain_state) in zip(fast, plain):
        for a, b in zip(fast_params, plain_params):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
        for state_a, state_b in zip(fast_state, plain_state):
            assert state_a.keys() == state_b.keys()
            for key in state_a:
                np.testing.assert_allclose(state_a[key], state_b[key], rtol=1e-10, atol=1e-12, err_msg=key)


def test_the_default_is_the_whole_buffer_path_and_foreach_is_checked():
    params = [giagrad.zeros(2, requires_grad=True)]
    assert optim.SGD(params, lr=0.1).param_groups[0]["foreach"] is None
    with pytest.raises(TypeError, match="foreach"):
        optim.Adam([giagrad.zeros(2, requires_grad=True)], foreach="yes")


@pytest.mark.parametrize("options", [{}, {"amsgrad": True, "weight_decay": 0.1}, {"maximize": True}])
@pytest.mark.parametrize("threads", [1, 2])
def test_adam_on_a_buffer_large_enough_to_run_in_blocks_agrees_with_the_per_parameter_rule(options, threads):
    from giagrad.optim import adam

    previous = giagrad.get_num_threads()
    giagrad.set_num_threads(threads)
    try:
        results = []
        for foreach in (True, False):
            rng = np.random.default_rng(0)
            sizes = (adam._BLOCKED_MIN_ELEMENTS, 1000)  # the flat buffer is past the threshold
            params = [giagrad.tensor(rng.standard_normal(n), requires_grad=True) for n in sizes]
            optimizer = optim.AdamW(params, lr=0.01, **options, foreach=foreach)
            for _ in range(3):
                for p in params:
                    p.grad = rng.standard_normal(p.shape).astype(np.float32)
                optimizer.step()
            results.append([p.data.copy() for p in params])
        for blocked, plain in zip(*results):
            np.testing.assert_allclose(blocked, plain, rtol=1e-6, atol=1e-7)
    finally:
        giagrad.set_num_threads(previous)
