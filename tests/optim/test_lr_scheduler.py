"""Learning-rate schedules against sequences computed with PyTorch, state round trips and errors."""

import math

import numpy as np
import pytest

import giagrad
from giagrad import optim
from giagrad.optim import lr_scheduler as S


def make_optimizer(kind="SGD"):
    a = giagrad.zeros(2, requires_grad=True)
    b = giagrad.zeros(1, requires_grad=True)
    groups = [{"params": [a]}, {"params": [b], "lr": 0.02}]
    if kind == "SGD":
        return optim.SGD(groups, lr=0.1, momentum=0.9)
    return optim.Adam(groups, lr=0.1)


def momentum_of(optimizer):
    group = optimizer.param_groups[0]
    return group["betas"][0] if "betas" in group else group["momentum"]


def run(make, steps, kind="SGD", metrics=None):
    """The learning rates of both groups and the momentum after creation and after each step."""
    optimizer = make_optimizer(kind)
    scheduler = make(optimizer)
    first, second, momentum = [scheduler.get_last_lr()[0]], [scheduler.get_last_lr()[1]], [momentum_of(optimizer)]
    for step in range(steps):
        optimizer.step()
        if metrics is None:
            scheduler.step()
        else:
            scheduler.step(metrics[step])
        first.append(scheduler.get_last_lr()[0])
        second.append(scheduler.get_last_lr()[1])
        momentum.append(momentum_of(optimizer))
        assert scheduler.get_last_lr() == [group["lr"] for group in optimizer.param_groups]
    return first, second, momentum


# values from PyTorch 2.13: get_last_lr() of both groups (base lrs 0.1 and 0.02) after creation and each step
TORCH_SEQUENCES = {
    "step": (lambda o: S.StepLR(o, step_size=3, gamma=0.5), 10,
             [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025, 0.0125, 0.0125],
             [0.02, 0.02, 0.02, 0.01, 0.01, 0.01, 0.005, 0.005, 0.005, 0.0025, 0.0025]),
    "multistep": (lambda o: S.MultiStepLR(o, milestones=[2, 5, 5], gamma=0.1), 8,
                  [0.1, 0.1, 0.010000000000000002, 0.010000000000000002, 0.010000000000000002,
                   0.00010000000000000005, 0.00010000000000000005, 0.00010000000000000005, 0.00010000000000000005],
                  [0.02, 0.02, 0.002, 0.002, 0.002, 2.0000000000000005e-05, 2.0000000000000005e-05,
                   2.0000000000000005e-05, 2.0000000000000005e-05]),
    "exponential": (lambda o: S.ExponentialLR(o, gamma=0.9), 6,
                    [0.1, 0.09000000000000001, 0.08100000000000002, 0.07290000000000002, 0.06561000000000002,
                     0.05904900000000002, 0.05314410000000002],
                    [0.02, 0.018000000000000002, 0.016200000000000003, 0.014580000000000003, 0.013122000000000003,
                     0.011809800000000004, 0.010628820000000004]),
    "cosine": (lambda o: S.CosineAnnealingLR(o, T_max=5, eta_min=0.01), 14,
               [0.1, 0.09140576474687263, 0.06890576474687263, 0.04109423525312736, 0.018594235253127367, 0.01,
                0.018594235253127367, 0.04109423525312739, 0.06890576474687267, 0.09140576474687269,
                0.10000000000000006, 0.09140576474687272, 0.06890576474687268, 0.0410942352531274,
                0.01859423525312738],
               [0.02, 0.019045084971874737, 0.016545084971874735, 0.013454915028125262, 0.010954915028125263, 0.01,
                0.010954915028125263, 0.013454915028125266, 0.016545084971874742, 0.019045084971874744,
                0.020000000000000007, 0.019045084971874748, 0.016545084971874742, 0.013454915028125267,
                0.010954915028125265]),
    "linear": (lambda o: S.LinearLR(o, start_factor=0.25, end_factor=0.75, total_iters=4), 7,
               [0.025, 0.037500000000000006, 0.05, 0.0625, 0.075, 0.075, 0.075, 0.075],
               [0.005, 0.0075, 0.009999999999999998, 0.012499999999999997, 0.014999999999999996,
                0.014999999999999996, 0.014999999999999996, 0.014999999999999996]),
    "lambda": (lambda o: S.LambdaLR(o, lambda e: 1.0 / (e + 1)), 5,
               [0.1, 0.05, 0.03333333333333333, 0.025, 0.020000000000000004, 0.016666666666666666],
               [0.02, 0.01, 0.006666666666666666, 0.005, 0.004, 0.003333333333333333]),
    "onecycle_cos": (lambda o: S.OneCycleLR(o, max_lr=[1.0, 0.5], total_steps=10), 9,
                     [0.040000000000000036, 0.52, 1.0, 0.9504846320134737, 0.8117456539497631, 0.6112620219362893,
                      0.38874197806371075, 0.18825834605023697, 0.049519367986526286, 4e-06],
                     [0.020000000000000018, 0.26, 0.5, 0.47524231600673683, 0.40587282697488153,
                      0.30563101096814466, 0.19437098903185537, 0.09412917302511849, 0.024759683993263143, 2e-06]),
    "onecycle_linear_three_phase": (
        lambda o: S.OneCycleLR(o, max_lr=1.0, total_steps=12, anneal_strategy="linear", three_phase=True,
                               div_factor=10.0, final_div_factor=100.0, pct_start=0.25), 11,
        [0.1, 0.55, 1.0, 0.55, 0.09999999999999998, 0.08585714285714287, 0.07171428571428572, 0.05757142857142858,
         0.043428571428571434, 0.02928571428571429, 0.015142857142857152, 0.0010000000000000009],
        [0.1, 0.55, 1.0, 0.55, 0.09999999999999998, 0.08585714285714287, 0.07171428571428572, 0.05757142857142858,
         0.043428571428571434, 0.02928571428571429, 0.015142857142857152, 0.0010000000000000009]),
    "warmup_then_cosine": (
        lambda o: S.SequentialLR(o, [S.LinearLR(o, start_factor=0.1, total_iters=3), S.CosineAnnealingLR(o, T_max=6)],
                                 milestones=[3]), 10,
        [0.010000000000000002, 0.04, 0.07, 0.1, 0.09330127018922195, 0.07500000000000001, 0.05,
         0.025000000000000012, 0.006698729810778065, 0.0, 0.006698729810778065],
        [0.002, 0.007999999999999998, 0.013999999999999997, 0.02, 0.01866025403784439, 0.015000000000000001, 0.01,
         0.005000000000000003, 0.001339745962155613, 0.0, 0.001339745962155613]),
}


@pytest.mark.parametrize("name", list(TORCH_SEQUENCES))
def test_schedule_matches_pytorch(name):
    make, steps, expected_first, expected_second = TORCH_SEQUENCES[name]
    first, second, _ = run(make, steps)
    np.testing.assert_allclose(first, expected_first, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(second, expected_second, rtol=1e-12, atol=1e-15)


def test_one_cycle_cycles_sgd_momentum_like_pytorch():
    _, _, momentum = run(lambda o: S.OneCycleLR(o, max_lr=1.0, total_steps=10), 9)
    expected = [0.95, 0.8999999999999999, 0.85, 0.854951556604879, 0.8688255099070633, 0.8888739533021842,
                0.9111260466978157, 0.9311744900929366, 0.945048443395121, 0.95]  # values from PyTorch 2.13
    np.testing.assert_allclose(momentum, expected, rtol=1e-12)


def test_one_cycle_cycles_adam_beta1_like_pytorch():
    make = lambda o: S.OneCycleLR(o, max_lr=1.0, total_steps=10, base_momentum=0.8, max_momentum=0.9)
    optimizer = make_optimizer("Adam")
    _, _, beta1 = run(make, 9, kind="Adam")
    expected = [0.9, 0.8500000000000001, 0.8, 0.804951556604879, 0.8188255099070634, 0.8388739533021843,
                0.8611260466978158, 0.8811744900929367, 0.895048443395121, 0.9]  # values from PyTorch 2.13
    np.testing.assert_allclose(beta1, expected, rtol=1e-12)
    make(optimizer)
    assert optimizer.param_groups[0]["betas"][1] == 0.999


def test_one_cycle_refuses_to_step_past_the_cycle():
    optimizer = make_optimizer()
    scheduler = S.OneCycleLR(optimizer, max_lr=1.0, total_steps=3)
    for _ in range(3):
        scheduler.step()
    with pytest.raises(ValueError, match="total_steps=3"):
        scheduler.step()


def test_one_cycle_from_epochs_and_steps_per_epoch():
    scheduler = S.OneCycleLR(make_optimizer(), max_lr=1.0, epochs=2, steps_per_epoch=5)
    assert scheduler.total_steps == 10


PLATEAU_METRICS = [1.0, 0.9, 0.9, 0.9, 0.95, 0.9, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]
# values from PyTorch 2.13: the first group's lr after creation and after each step(metric)
PLATEAU_CASES = [
    ({"patience": 2},
     [0.1, 0.1, 0.1, 0.1, 0.1, 0.010000000000000002, 0.010000000000000002, 0.010000000000000002,
      0.010000000000000002, 0.010000000000000002, 0.0010000000000000002, 0.0010000000000000002,
      0.0010000000000000002, 0.00010000000000000003, 0.00010000000000000003],
     [0.02, 0.02, 0.02, 0.02, 0.02, 0.002, 0.002, 0.002, 0.002, 0.002, 0.0002, 0.0002, 0.0002, 2e-05, 2e-05]),
    ({"patience": 1, "cooldown": 2, "factor": 0.5, "min_lr": 0.004},
     [0.1, 0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025, 0.025, 0.0125, 0.0125],
     [0.02, 0.02, 0.02, 0.02, 0.01, 0.01, 0.01, 0.01, 0.01, 0.005, 0.005, 0.005, 0.005, 0.004, 0.004]),
    ({"mode": "max", "patience": 1, "threshold": 0.1, "threshold_mode": "abs"},
     [0.1, 0.1, 0.1, 0.010000000000000002, 0.010000000000000002, 0.0010000000000000002, 0.0010000000000000002,
      0.00010000000000000003, 0.00010000000000000003, 1.0000000000000004e-05, 1.0000000000000004e-05,
      1.0000000000000004e-06, 1.0000000000000004e-06, 1.0000000000000005e-07, 1.0000000000000005e-07],
     [0.02, 0.02, 0.02, 0.002, 0.002, 0.0002, 0.0002, 2e-05, 2e-05, 2.0000000000000003e-06, 2.0000000000000003e-06,
      2.0000000000000004e-07, 2.0000000000000004e-07, 2.0000000000000007e-08, 2.0000000000000007e-08]),
]


@pytest.mark.parametrize(("options", "expected_first", "expected_second"), PLATEAU_CASES)
def test_reduce_on_plateau_matches_pytorch(options, expected_first, expected_second):
    first, second, _ = run(lambda o: S.ReduceLROnPlateau(o, **options), len(PLATEAU_METRICS), metrics=PLATEAU_METRICS)
    np.testing.assert_allclose(first, expected_first, rtol=1e-12)
    np.testing.assert_allclose(second, expected_second, rtol=1e-12)


def test_the_scheduled_lr_is_the_one_the_optimizer_uses():
    p = giagrad.tensor([0.0], requires_grad=True)
    optimizer = optim.SGD([p], lr=1.0)
    scheduler = S.StepLR(optimizer, step_size=1, gamma=0.5)
    for _ in range(3):
        p.grad = np.ones(1, dtype=np.float32)
        optimizer.step()
        scheduler.step()
    np.testing.assert_allclose(p.data, [-(1.0 + 0.5 + 0.25)])


MAKERS = [
    lambda o: S.StepLR(o, step_size=2, gamma=0.5),
    lambda o: S.CosineAnnealingLR(o, T_max=7, eta_min=0.001),
    lambda o: S.OneCycleLR(o, max_lr=1.0, total_steps=20),
    lambda o: S.SequentialLR(o, [S.LinearLR(o, start_factor=0.1, total_iters=3), S.ExponentialLR(o, gamma=0.8)],
                             milestones=[3]),
    lambda o: S.LambdaLR(o, lambda e: 0.9**e),
]


def continue_for(optimizer, scheduler, steps):
    lrs = []
    for _ in range(steps):
        optimizer.step()
        scheduler.step()
        lrs.append(scheduler.get_last_lr())
    return lrs


@pytest.mark.parametrize("make", MAKERS)
def test_a_resumed_schedule_continues_exactly(make):
    optimizer = make_optimizer()
    scheduler = make(optimizer)
    continue_for(optimizer, scheduler, 5)
    saved_optimizer, saved_scheduler = optimizer.state_dict(), scheduler.state_dict()
    expected = continue_for(optimizer, scheduler, 6)
    resumed_optimizer = make_optimizer()
    resumed = make(resumed_optimizer)
    resumed_optimizer.load_state_dict(saved_optimizer)
    resumed.load_state_dict(saved_scheduler)
    assert continue_for(resumed_optimizer, resumed, 6) == expected


def test_reduce_on_plateau_state_round_trip():
    optimizer = make_optimizer()
    scheduler = S.ReduceLROnPlateau(optimizer, patience=1)
    for metric in [1.0, 1.0]:
        scheduler.step(metric)
    state = scheduler.state_dict()
    other = S.ReduceLROnPlateau(make_optimizer(), patience=5)
    other.load_state_dict(state)
    assert other.patience == 1 and other.num_bad_epochs == 1 and other.best == 1.0


def test_lambda_state_dict_skips_plain_functions_but_keeps_callable_objects():
    class Warmup:
        def __init__(self, steps):
            self.steps = steps

        def __call__(self, epoch):
            return min(1.0, (epoch + 1) / self.steps)

    scheduler = S.LambdaLR(make_optimizer(), [Warmup(4), lambda e: 1.0])
    state = scheduler.state_dict()
    assert state["lr_lambdas"] == [{"steps": 4}, None]
    other = S.LambdaLR(make_optimizer(), [Warmup(10), lambda e: 1.0])
    other.load_state_dict(state)
    assert other.lr_lambdas[0].steps == 4


@pytest.mark.parametrize(("make", "error"), [
    (lambda o: S.StepLR(o, step_size=0), ValueError),
    (lambda o: S.CosineAnnealingLR(o, T_max=0), ValueError),
    (lambda o: S.LinearLR(o, start_factor=0.0), ValueError),
    (lambda o: S.LinearLR(o, end_factor=1.5), ValueError),
    (lambda o: S.LambdaLR(o, [lambda e: 1.0]), ValueError),
    (lambda o: S.OneCycleLR(o, max_lr=1.0), ValueError),
    (lambda o: S.OneCycleLR(o, max_lr=1.0, total_steps=10, pct_start=1.5), ValueError),
    (lambda o: S.OneCycleLR(o, max_lr=1.0, total_steps=10, anneal_strategy="exp"), ValueError),
    (lambda o: S.OneCycleLR(o, max_lr=[1.0, 2.0, 3.0], total_steps=10), ValueError),
    (lambda o: S.ReduceLROnPlateau(o, factor=1.0), ValueError),
    (lambda o: S.ReduceLROnPlateau(o, mode="up"), ValueError),
    (lambda o: S.ReduceLROnPlateau(o, threshold_mode="relative"), ValueError),
    (lambda o: S.SequentialLR(o, [S.StepLR(o, 2), S.StepLR(o, 3)], milestones=[]), ValueError),
    (lambda o: S.SequentialLR(o, [S.StepLR(make_optimizer(), 2)], milestones=[]), ValueError),
    (lambda o: S.SequentialLR(o, [S.ReduceLROnPlateau(o)], milestones=[]), ValueError),
    (lambda o: S.StepLR("not an optimizer", 2), TypeError),
    (lambda o: S.StepLR(o, 2, last_epoch=3), KeyError),
])
def test_bad_arguments_are_rejected(make, error):
    with pytest.raises(error):
        make(make_optimizer())


def test_one_cycle_momentum_needs_an_optimizer_with_momentum():
    p = giagrad.zeros(1, requires_grad=True)
    with pytest.raises(ValueError, match="cycle_momentum"):
        S.OneCycleLR(optim.Adagrad([p]), max_lr=1.0, total_steps=5)
    S.OneCycleLR(optim.Adagrad([p]), max_lr=1.0, total_steps=5, cycle_momentum=False)


def test_cosine_closed_form_matches_its_formula():
    scheduler = S.CosineAnnealingLR(make_optimizer(), T_max=10, eta_min=0.0)
    for t in range(1, 11):
        scheduler.step()
        assert scheduler.get_last_lr()[0] == pytest.approx(0.05 * (1 + math.cos(math.pi * t / 10)), abs=1e-15)


def test_each_schedule_says_when_it_is_stepped():
    optimizer = make_optimizer()
    assert S.OneCycleLR(optimizer, max_lr=0.1, total_steps=10).interval == "batch"
    for scheduler in (S.StepLR(make_optimizer(), step_size=2), S.CosineAnnealingLR(make_optimizer(), T_max=5),
                      S.ReduceLROnPlateau(make_optimizer())):
        assert scheduler.interval == "epoch"
    optimizer = make_optimizer()
    warmup, cosine = S.LinearLR(optimizer, total_iters=2), S.CosineAnnealingLR(optimizer, T_max=5)
    assert S.SequentialLR(optimizer, [warmup, cosine], milestones=[2]).interval == "epoch"
    assert "interval" not in S.SequentialLR(optimizer, [warmup, cosine], milestones=[2]).state_dict()
    optimizer = make_optimizer()
    mixed = [S.LinearLR(optimizer, total_iters=2), S.OneCycleLR(optimizer, max_lr=0.1, total_steps=10)]
    with pytest.raises(ValueError, match="different intervals"):
        S.SequentialLR(optimizer, mixed, milestones=[2])
