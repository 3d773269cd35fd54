"""The Optimizer base: flat buffers, skipping, groups, closure, state_dict, zero_grad and errors."""

import numpy as np
import pytest

import giagrad
from giagrad import optim

# One configuration per optimizer, with every state array in use.
CONFIGURATIONS = [
    (optim.SGD, {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.01, "nesterov": True}),
    (optim.Adam, {"lr": 0.05, "amsgrad": True, "weight_decay": 0.01}),
    (optim.AdamW, {"lr": 0.05}),
    (optim.Adamax, {"lr": 0.05, "weight_decay": 0.01}),
    (optim.NAdam, {"lr": 0.05, "weight_decay": 0.01}),
    (optim.RMSprop, {"lr": 0.01, "momentum": 0.9, "centered": True, "weight_decay": 0.01}),
    (optim.Adagrad, {"lr": 0.05, "lr_decay": 0.1, "initial_accumulator_value": 0.1}),
    (optim.Adadelta, {"weight_decay": 0.01}),
    (optim.Lion, {"lr": 0.01, "weight_decay": 0.1}),
]
IDS = [optimizer_class.__name__ for optimizer_class, _ in CONFIGURATIONS]


def test_parameters_become_views_of_one_buffer(quadratic):
    problem = quadratic()
    params = problem.params()
    optimizer = optim.SGD(params, lr=0.1)
    (bucket,) = optimizer._buckets[0]
    for p, initial in zip(params, problem.initial):
        assert np.shares_memory(p.data, bucket.data)
        assert p.data.shape == initial.shape and p.data.dtype == np.float32
        np.testing.assert_array_equal(p.data, initial)
    problem.backward(params)
    for p, view in zip(params, bucket.grad_views):
        assert p.grad is view


def test_non_contiguous_parameters_are_packed_in_order():
    p = giagrad.Tensor(np.arange(6, dtype=np.float32).reshape(2, 3).T, requires_grad=True)
    expected = p.data.copy()
    optim.SGD([p], lr=0.1)
    np.testing.assert_array_equal(p.data, expected)


def spy_on_updates(optimizer):
    sizes = []
    original = optimizer._update

    def update(group, param, *rest):
        sizes.append(param.size)
        return original(group, param, *rest)

    optimizer._update = update
    return sizes


def test_one_update_call_per_group_when_every_gradient_is_present(quadratic):
    problem = quadratic()
    params = problem.params()
    optimizer = optim.Adam(params)
    sizes = spy_on_updates(optimizer)
    for _ in range(3):
        optimizer.zero_grad()
        problem.backward(params)
        optimizer.step()
    assert sizes == [sum(p.data.size for p in params)] * 3


@pytest.mark.parametrize(("optimizer_class", "options"), CONFIGURATIONS, ids=IDS)
def test_whole_buffer_and_per_segment_updates_agree_bit_for_bit(quadratic, optimizer_class, options):
    # The second optimizer has an extra parameter that never gets a gradient, which sends every
    # step down the per-segment path.
    problem = quadratic()
    fast_params, slow_params = problem.params(), problem.params()
    idle = giagrad.zeros(5, requires_grad=True)
    fast = optimizer_class(fast_params, **options)
    slow = optimizer_class([*slow_params, idle], **options)
    slow_sizes = spy_on_updates(slow)
    for _ in range(4):
        for optimizer, params in ((fast, fast_params), (slow, slow_params)):
            optimizer.zero_grad()
            problem.backward(params)
            optimizer.step()
    assert len(slow_sizes) == 4 * len(slow_params)
    for p, q in zip(fast_params, slow_params):
        np.testing.assert_array_equal(p.data, q.data)
    np.testing.assert_array_equal(idle.data, np.zeros(5, dtype=np.float32))
    assert idle not in slow.state


@pytest.mark.parametrize(("optimizer_class", "options"), CONFIGURATIONS, ids=IDS)
def test_a_parameter_without_gradient_is_left_alone(quadratic, optimizer_class, options):
    problem = quadratic()
    params = problem.params()
    optimizer = optimizer_class(params, **options)
    problem.backward(params)
    optimizer.step()
    before = params[1].data.copy()
    state_before = {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in optimizer.state[params[1]].items()}
    optimizer.zero_grad()
    problem.backward(params, present={0, 2, 3})
    assert params[1].grad is None
    optimizer.step()
    np.testing.assert_array_equal(params[1].data, before)
    for key, value in optimizer.state[params[1]].items():
        np.testing.assert_array_equal(value, state_before[key])
    assert optimizer.state[params[0]]["step"] == 2 and optimizer.state[params[1]]["step"] == 1


def test_groups_keep_their_own_learning_rates():
    a = giagrad.tensor([1.0, 2.0], requires_grad=True)
    b = giagrad.tensor([3.0], requires_grad=True)
    optimizer = optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.01}], lr=0.1, momentum=0.5)
    assert optimizer.param_groups[0]["lr"] == 0.1 and optimizer.param_groups[1]["momentum"] == 0.5
    for _ in range(2):
        optimizer.zero_grad()
        (a.sum() + b.sum()).backward()
        optimizer.step()
    # two steps with gradient 1: momentum buffer 1 then 1.5
    np.testing.assert_allclose(a.data, [1.0 - 0.25, 2.0 - 0.25], rtol=1e-6)
    np.testing.assert_allclose(b.data, [3.0 - 0.025], rtol=1e-6)


def test_changing_a_group_learning_rate_takes_effect():
    p = giagrad.tensor([1.0], requires_grad=True)
    optimizer = optim.SGD([p], lr=0.1)
    optimizer.param_groups[0]["lr"] = 0.5
    p.sum().backward()
    optimizer.step()
    np.testing.assert_allclose(p.data, [0.5])


def test_mixed_dtypes_in_a_group_get_one_buffer_each():
    a = giagrad.tensor([1.0, 2.0], requires_grad=True)
    b = giagrad.tensor(np.array([3.0, 4.0]), requires_grad=True)
    c = giagrad.tensor([5.0], requires_grad=True)
    optimizer = optim.Adam([a, b, c], lr=0.1)
    assert len(optimizer._buckets[0]) == 2
    (a.sum() + b.sum() + c.sum()).backward()
    optimizer.step()
    assert a.data.dtype == np.float32 and b.data.dtype == np.float64
    assert optimizer.state[b]["exp_avg"].dtype == np.float64 and optimizer.state[a]["exp_avg"].dtype == np.float32
    np.testing.assert_allclose(a.data, [0.9, 1.9], rtol=1e-6)
    np.testing.assert_allclose(b.data, [2.9, 3.9], rtol=1e-7)  # eps: 1 / (1 + 1e-8)


def test_add_param_group_packs_and_updates_the_new_group():
    a = giagrad.tensor([1.0], requires_grad=True)
    b = giagrad.tensor([2.0, 3.0], requires_grad=True)
    optimizer = optim.SGD([a], lr=0.1)
    optimizer.add_param_group({"params": b, "lr": 1.0})
    (a.sum() + b.sum()).backward()
    optimizer.step()
    np.testing.assert_allclose(a.data, [0.9])
    np.testing.assert_allclose(b.data, [1.0, 2.0])


def test_closure_is_evaluated_with_grad_enabled_and_its_loss_returned(quadratic):
    problem = quadratic()
    params = problem.params()
    optimizer = optim.SGD(params, lr=0.1)

    def closure():
        assert giagrad.is_grad_enabled()
        optimizer.zero_grad()
        return problem.backward(params)

    with giagrad.no_grad():
        loss = optimizer.step(closure)
    assert isinstance(loss, giagrad.Tensor) and loss.shape == ()
    assert optimizer.state[params[0]]["step"] == 1
    assert optim.SGD(problem.params()).step() is None


def test_a_gradient_assigned_by_hand_is_used(quadratic):
    p = giagrad.tensor([1.0, 2.0], requires_grad=True)
    optimizer = optim.SGD([p], lr=0.5)
    p.grad = np.array([1.0, -1.0], dtype=np.float32)
    optimizer.step()
    np.testing.assert_allclose(p.data, [0.5, 2.5])
    p.grad = np.ones(3, dtype=np.float32)
    with pytest.raises(ValueError, match=r"\(2,\)"):
        optimizer.step()


def test_zero_grad_to_none_and_to_zeros(quadratic):
    problem = quadratic()
    params = problem.params()
    optimizer = optim.SGD(params, lr=0.1)
    problem.backward(params)
    optimizer.zero_grad()
    assert all(p.grad is None for p in params)
    problem.backward(params)
    grads = [p.grad for p in params]
    optimizer.zero_grad(set_to_none=False)
    for p, grad in zip(params, grads):
        assert p.grad is grad
        np.testing.assert_array_equal(p.grad, np.zeros_like(p.data))
    problem.backward(params)  # accumulates into the zeroed buffer
    np.testing.assert_allclose(params[0].grad, problem.grad(0, problem.initial[0]), rtol=1e-6)


def test_rebinding_data_after_creation_is_an_error(quadratic):
    problem = quadratic()
    params = problem.params()
    optimizer = optim.Adam(params)
    params[2].data = params[2].data.astype(np.float64)
    problem.backward(params)
    with pytest.raises(RuntimeError, match="no longer uses the optimizer's buffer"):
        optimizer.step()


def test_in_place_changes_of_data_are_seen(quadratic):
    p = giagrad.tensor([1.0, 2.0], requires_grad=True)
    optimizer = optim.SGD([p], lr=1.0)
    p.data[...] = [10.0, 20.0]
    p.grad = np.ones(2, dtype=np.float32)
    optimizer.step()
    np.testing.assert_allclose(p.data, [9.0, 19.0])


def test_step_marks_parameters_modified_for_autograd():
    p = giagrad.tensor([1.0, 2.0], requires_grad=True)
    optimizer = optim.SGD([p], lr=0.1)
    y = (p.exp()).sum()  # exp saves its input
    p.grad = np.ones(2, dtype=np.float32)
    optimizer.step()
    with pytest.raises(RuntimeError, match="modified in place"):
        y.backward()


@pytest.mark.parametrize(("params", "error"), [
    (lambda: giagrad.ones(2, requires_grad=True), TypeError),
    (lambda: [], ValueError),
    (lambda: [np.ones(2)], TypeError),
    (lambda: [giagrad.ones(2)], ValueError),
    (lambda: [giagrad.ones(2, requires_grad=True) * 2], ValueError),
    (lambda: {giagrad.ones(2, requires_grad=True)}, TypeError),
])
def test_bad_parameters_are_rejected(params, error):
    with pytest.raises(error):
        optim.SGD(params())


def test_a_parameter_in_two_groups_or_twice_is_rejected():
    p = giagrad.ones(2, requires_grad=True)
    with pytest.raises(ValueError, match="another parameter group"):
        optim.SGD([{"params": [p]}, {"params": [p]}])
    with pytest.raises(ValueError, match="twice"):
        optim.SGD([p, p])


# --------------------------------------------------------------------------------- state_dict


def train(problem, params, optimizer, steps, skip_first_at=None):
    for step in range(steps):
        optimizer.zero_grad()
        present = None if step != skip_first_at else {1, 2, 3}
        problem.backward(params, present)
        optimizer.step()


@pytest.mark.parametrize(("optimizer_class", "options"), CONFIGURATIONS, ids=IDS)
def test_a_resumed_run_continues_exactly(quadratic, optimizer_class, options):
    problem = quadratic()
    params = problem.params()
    optimizer = optimizer_class([{"params": params[:2]}, {"params": params[2:], "lr": 0.01}], **options)
    train(problem, params, optimizer, 3, skip_first_at=1)
    saved_state = optimizer.state_dict()
    saved_params = [p.data.copy() for p in params]
    train(problem, params, optimizer, 4)

    resumed = problem.params()
    for p, value in zip(resumed, saved_params):
        p.data[...] = value
    other = optimizer_class([{"params": resumed[:2]}, {"params": resumed[2:]}], **options)
    other.load_state_dict(saved_state)
    assert other.param_groups[1]["lr"] == 0.01
    train(problem, resumed, other, 4)
    for p, q in zip(params, resumed):
        np.testing.assert_array_equal(p.data, q.data)
    assert other.state[resumed[0]]["step"] == optimizer.state[params[0]]["step"] == 6


def test_state_dict_layout_and_copies(quadratic):
    problem = quadratic()
    params = problem.params()
    optimizer = optim.Adam([{"params": params[:1]}, {"params": params[1:]}])
    problem.backward(params)
    optimizer.step()
    saved = optimizer.state_dict()
    assert [group["params"] for group in saved["param_groups"]] == [[0], [1, 2, 3]]
    assert saved["param_groups"][0]["lr"] == 1e-3
    assert set(saved["state"]) == {0, 1, 2, 3}
    assert saved["state"][1]["step"] == 1
    exp_avg = saved["state"][0]["exp_avg"]
    assert not np.shares_memory(exp_avg, optimizer.state[params[0]]["exp_avg"])
    before = exp_avg.copy()
    optimizer.step()
    np.testing.assert_array_equal(saved["state"][0]["exp_avg"], before)


def test_load_state_dict_checks_the_layout(quadratic):
    problem = quadratic()
    optimizer = optim.Adam(problem.params())
    problem.backward(optimizer.param_groups[0]["params"])
    optimizer.step()
    saved = optimizer.state_dict()
    with pytest.raises(ValueError, match="parameter groups"):
        optim.Adam([{"params": problem.params()[:2]}, {"params": problem.params()[2:]}]).load_state_dict(saved)
    with pytest.raises(ValueError, match="4 parameters"):
        optim.Adam(problem.params()[:3]).load_state_dict(saved)
    shuffled = problem.params()
    shuffled[0], shuffled[1] = shuffled[1], shuffled[0]
    with pytest.raises(ValueError, match="shape"):
        optim.Adam(shuffled).load_state_dict(saved)
    with pytest.raises(ValueError, match="'state'"):
        optim.Adam(problem.params()).load_state_dict({"param_groups": []})


def adam_state(quadratic):
    problem = quadratic()
    optimizer = optim.Adam(problem.params())
    problem.backward(optimizer.param_groups[0]["params"])
    optimizer.step()
    return problem, optimizer.state_dict()


def drop_exp_avg(saved):
    del saved["state"][0]["exp_avg"]


def set_lr(value):
    def change(saved):
        saved["param_groups"][0]["lr"] = value
    return change


def set_step(value):
    def change(saved):
        saved["state"][1]["step"] = value
    return change


@pytest.mark.parametrize(("change", "message"), [
    (drop_exp_avg, r"state of parameter 0: missing 'exp_avg'"),
    (set_lr(-5.0), r"param_groups\[0\]: Adam: invalid lr -5.0"),
    (set_lr("0.1"), r"param_groups\[0\]: 'lr' should be a number, got '0.1'"),
    (set_step("3"), r"state of parameter 1: 'step' should be an integer >= 0, got '3'"),
    (set_step(2.5), r"'step' should be an integer >= 0, got 2.5"),
    (set_step(-1), r"'step' should be an integer >= 0, got -1"),
    (lambda saved: saved["param_groups"][0].update(betas=(0.9, 1.5)), r"param_groups\[0\]: Adam: invalid beta2"),
    (lambda saved: saved["param_groups"][0].update(amsgrad="yes"), r"'amsgrad' should be a bool"),
    (lambda saved: saved["param_groups"][0].pop("eps"), r"param_groups\[0\] has no 'eps'"),
    (lambda saved: saved["state"][2].update(extra=np.zeros(1)), r"state of parameter 2: unexpected 'extra'"),
    (lambda saved: saved["state"][0].update(exp_avg=np.array(["a"] * 3)), r"'exp_avg' should be a numeric array"),
])
def test_load_state_dict_validates_and_names_the_key(quadratic, change, message):
    problem, saved = adam_state(quadratic)
    change(saved)
    params = problem.params()
    optimizer = optim.Adam(params, lr=0.5)
    before = optimizer.state_dict()
    with pytest.raises(ValueError, match=message):
        optimizer.load_state_dict(saved)
    # nothing changed: still the fresh optimizer
    assert optimizer.state_dict()["param_groups"] == before["param_groups"] and not optimizer.state


def test_load_state_dict_refuses_another_optimizers_state(quadratic):
    problem, saved = adam_state(quadratic)
    with pytest.raises(ValueError, match=r"param_groups\[0\] has no 'momentum'.*another optimizer"):
        optim.SGD(problem.params(), lr=0.1).load_state_dict(saved)
    sgd = optim.SGD(problem.params(), lr=0.1, momentum=0.9)
    problem.backward(sgd.param_groups[0]["params"])
    sgd.step()
    with pytest.raises(ValueError, match=r"has no 'betas'"):
        optim.Adam(problem.params()).load_state_dict(sgd.state_dict())
    with pytest.raises(ValueError, match=r"missing 'exp_avg'.*unexpected 'momentum_buffer'"):
        adam = optim.Adam(problem.params())
        tampered = sgd.state_dict()
        tampered["param_groups"][0].update(betas=(0.9, 0.999), eps=1e-8, amsgrad=False, decoupled_weight_decay=False)
        adam.load_state_dict(tampered)


def test_a_flag_missing_from_an_older_state_keeps_the_current_setting(quadratic):
    problem, saved = adam_state(quadratic)
    del saved["param_groups"][0]["maximize"]
    params = problem.params()
    optimizer = optim.Adam(params, maximize=True)
    optimizer.load_state_dict(saved)
    assert optimizer.param_groups[0]["maximize"] is True and optimizer.param_groups[0]["lr"] == 1e-3


def test_load_state_dict_accepts_numpy_numbers_and_a_float_step(quadratic):
    problem, saved = adam_state(quadratic)
    saved["state"][0]["step"] = np.float32(1.0)      # PyTorch keeps step as a float
    saved["param_groups"][0]["lr"] = np.float64(0.01)
    params = problem.params()
    optimizer = optim.Adam(params)
    optimizer.load_state_dict(saved)
    assert optimizer.state[params[0]]["step"] == 1 and type(optimizer.state[params[0]]["step"]) is int
    assert type(optimizer.param_groups[0]["lr"]) is float
    problem.backward(params)
    optimizer.step()
    assert optimizer.state[params[0]]["step"] == 2


# ------------------------------------------------------------------------------- with nn modules


def test_training_an_nn_model_lowers_the_loss():
    nn = pytest.importorskip("giagrad.nn")
    giagrad.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1))
    optimizer = optim.Adam(model.parameters(), lr=0.05)
    rng = np.random.default_rng(0)
    x = giagrad.Tensor(rng.standard_normal((32, 3)).astype(np.float32))
    y = giagrad.Tensor(x.data @ np.array([[1.0], [-2.0], [0.5]], dtype=np.float32))
    losses = []
    for _ in range(60):
        optimizer.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0]
    assert all(p.data.dtype == np.float32 for p in model.parameters())
    model.double()
    (model(giagrad.Tensor(x.data.astype(np.float64))) ** 2).mean().backward()
    # The optimizer's float32 gradient storage no longer fits: backward leaves it alone.
    assert all(p.grad.dtype == np.float64 for p in model.parameters())
    with pytest.raises(RuntimeError, match="no longer uses the optimizer's buffer.*Create the optimizer after "
                                           "converting the model"):
        optimizer.step()
