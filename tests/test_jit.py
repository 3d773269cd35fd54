"""giagrad.jit.capture: replayed training equals eager training; what replay cannot see is refused."""

from __future__ import annotations

import numpy as np
import pytest

import giagrad
from giagrad import nn, optim
from giagrad.jit import CaptureError, capture

FEATURES, CLASSES = 12, 4


def make_mlp(kind: str = "plain") -> nn.Sequential:
    giagrad.manual_seed(0)
    layers: list[nn.Module] = [nn.Linear(FEATURES, 16)]
    if kind == "batchnorm":
        layers.append(nn.BatchNorm1d(16))
    layers.append(nn.ReLU())
    if kind == "dropout":
        layers.append(nn.Dropout(0.3))
    layers += [nn.Linear(16, 8), nn.Tanh(), nn.Linear(8, CLASSES)]
    return nn.Sequential(*layers)


def make_optimizer(name: str, model: nn.Module) -> optim.Optimizer:
    if name == "sgd":
        return optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    if name == "nesterov-wd":
        return optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3)
    return optim.Adam(model.parameters(), lr=1e-2)


def training(optimizer_name: str = "sgd", kind: str = "plain", jit: bool = False):
    """A model, its optimizer and a step ``step(x, y) -> loss``, captured when ``jit``."""
    model = make_mlp(kind)
    optimizer = make_optimizer(optimizer_name, model)
    loss_fn = nn.CrossEntropyLoss()

    def step(x, y):
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        return loss

    return model, optimizer, capture(step) if jit else step


def batches(count: int, sizes: tuple[int, ...] = (16,), seed: int = 1):
    rng = np.random.default_rng(seed)
    for index in range(count):
        size = sizes[index % len(sizes)]
        yield (giagrad.tensor(rng.standard_normal((size, FEATURES)).astype(np.float32)),
               giagrad.tensor(rng.integers(0, CLASSES, size)))


def assert_same_parameters(model_a: nn.Module, model_b: nn.Module) -> None:
    for (name, a), (_, b) in zip(model_a.named_parameters(), model_b.named_parameters(), strict=True):
        np.testing.assert_allclose(a.data, b.data, rtol=1e-6, atol=1e-7, err_msg=name)


@pytest.mark.parametrize("optimizer_name", ["sgd", "nesterov-wd", "adam"])
@pytest.mark.parametrize("kind", ["plain", "batchnorm-eval", "dropout-eval"])
def test_replayed_training_gives_the_eager_parameters(optimizer_name, kind):
    module_kind = kind.removesuffix("-eval")
    eager_model, _, eager_step = training(optimizer_name, module_kind)
    jit_model, _, jit_step = training(optimizer_name, module_kind, jit=True)
    if kind != "plain":  # captured in eval mode: batch norm uses (fixed) running statistics, dropout is off
        eager_model.eval()
        jit_model.eval()
    for x, y in batches(40):
        eager_loss = eager_step(x, y)
        jit_loss = jit_step(x, y)
        np.testing.assert_allclose(jit_loss.item(), eager_loss.item(), rtol=1e-6)
    assert (jit_step.captures, jit_step.replays) == (2, 38)
    assert_same_parameters(eager_model, jit_model)


def test_replay_returns_a_fresh_loss_without_graph():
    _, _, step = training(jit=True)
    losses = [step(x, y) for x, y in batches(4)]
    assert losses[-1] is not losses[-2]
    assert not losses[-1].requires_grad and losses[-1].shape == ()


def test_a_new_shape_is_captured_apart_and_each_shape_replays():
    eager_model, _, eager_step = training("adam")
    jit_model, _, jit_step = training("adam", jit=True)
    for x, y in batches(30, sizes=(16, 16, 5)):  # two shapes, interleaved
        eager_step(x, y)
        jit_step(x, y)
    assert jit_step.captures == 4  # two recordings per shape
    assert jit_step.replays == 26
    assert_same_parameters(eager_model, jit_model)


def test_the_optimizer_reads_the_current_learning_rate_on_replay():
    models, steps, schedulers = [], [], []
    for jit in (False, True):
        model, optimizer, step = training("sgd", jit=jit)
        models.append(model)
        steps.append(step)
        schedulers.append(optim.lr_scheduler.StepLR(optimizer, step_size=3, gamma=0.5))
    for x, y in batches(20):
        for step, scheduler in zip(steps, schedulers, strict=True):
            step(x, y)
            scheduler.step()
    assert steps[1].replays == 18
    assert_same_parameters(*models)


def test_gradient_accumulation_and_zero_grad_to_zeros_replay_like_eager():
    def accumulating(jit):
        model = make_mlp()
        optimizer = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        loss_fn = nn.CrossEntropyLoss()

        def step(x, y):  # two micro-batches per update, zeroed in place
            optimizer.zero_grad(set_to_none=False)
            half = x.shape[0] // 2
            loss_fn(model(x[:half]), y[:half]).backward()
            loss = loss_fn(model(x[half:]), y[half:])
            loss.backward()
            optimizer.step()
            return loss

        return model, capture(step) if jit else step

    (eager_model, eager_step), (jit_model, jit_step) = accumulating(False), accumulating(True)
    for x, y in batches(12):
        eager_step(x, y)
        jit_step(x, y)
    assert jit_step.replays == 10
    assert_same_parameters(eager_model, jit_model)


def test_a_forward_only_step_under_no_grad_replays():
    model = make_mlp()

    @capture
    def predict(x):
        return model(x)

    with giagrad.no_grad():
        for x, _ in batches(5):
            np.testing.assert_array_equal(predict(x).data, model(x).data)
    assert predict.replays == 3


def test_train_eval_switch_and_new_parameters_capture_again():
    model, _, step = training(jit=True)
    data = list(batches(4))
    for x, y in data:
        step(x, y)
    assert (step.captures, step.replays) == (2, 2)
    model.eval()
    for x, y in data:
        step(x, y)
    assert (step.captures, step.replays) == (4, 4)
    model[0].weight = nn.Parameter(giagrad.zeros(16, FEATURES))
    step(*data[0])
    assert step.captures == 5


def test_dropout_in_training_mode_is_refused():
    _, _, step = training(kind="dropout", jit=True)
    with pytest.raises(CaptureError, match="random numbers"):
        step(*next(batches(1)))


def test_batchnorm_in_training_mode_is_refused():
    _, _, step = training(kind="batchnorm", jit=True)
    with pytest.raises(CaptureError, match="changed in place"):
        step(*next(batches(1)))


@pytest.mark.parametrize("between", [
    lambda model: nn.utils.clip_grad_norm_(model.parameters(), 0.01),  # numpy on .grad, not an op
    lambda model: model[0].weight.data.__imul__(0.5),  # numpy on .data
])
def test_changes_to_parameters_or_gradients_outside_the_ops_are_refused(between):
    model = make_mlp()
    optimizer = optim.SGD(model.parameters(), lr=0.1)

    @capture
    def step(x, y):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        between(model)
        optimizer.step()
        return loss

    with pytest.raises(CaptureError, match="changed outside backward and the optimizer"):
        step(*next(batches(1)))


def test_values_that_change_between_calls_for_no_visible_reason_are_refused():
    model = make_mlp()
    rng = np.random.default_rng(0)

    @capture
    def step(x, y):  # a mask drawn with numpy: replay would reuse the first one
        mask = giagrad.tensor((rng.random(x.shape) > 0.5).astype(np.float32))
        loss = nn.functional.cross_entropy(model(x * mask), y)
        loss.backward()
        return loss

    data = list(batches(2))
    step(*data[0])
    with pytest.raises(CaptureError, match="other values"):
        step(*data[1])


def test_python_control_flow_on_values_is_refused_when_it_changes_the_work():
    model = make_mlp()

    @capture
    def step(x, y):
        logits = model(x)
        if float(x.sum().item()) > 0:  # a decision replay cannot see
            logits = logits * 2
        return nn.functional.cross_entropy(logits, y)

    positive, negative = giagrad.ones(4, FEATURES), -giagrad.ones(4, FEATURES)
    labels = giagrad.tensor([0, 1, 2, 3])
    step(positive, labels)
    with pytest.raises(CaptureError, match="different work"):
        step(negative, labels)


@pytest.mark.parametrize("step, arguments, error, match", [
    (lambda x: x.sum().item(), (giagrad.ones(3),), CaptureError, "returned a float"),
    (lambda x: (x * 2).sum(), (giagrad.ones(3, requires_grad=True),), CaptureError, "requires grad"),
    (lambda x, options: x.sum(), (giagrad.ones(3), [1]), TypeError, "hashable"),
    # argmax is computed outside the ops (it has no gradient): replay would not see it
    (lambda x: (x * 2).argmax(), (giagrad.ones(3),), CaptureError, "did not compute"),
])
def test_unsupported_steps_raise_clear_errors(step, arguments, error, match):
    with pytest.raises(error, match=match):
        capture(step)(*arguments)


def test_capture_needs_a_callable_and_cannot_nest():
    with pytest.raises(TypeError, match="callable"):
        capture(3)
    inner = capture(lambda x: x * 2)
    outer = capture(lambda x: inner(x))
    with pytest.raises(RuntimeError, match="another captured step"):
        outer(giagrad.ones(2))


def test_a_graph_from_before_the_step_is_refused():
    weight = giagrad.ones(3, requires_grad=True)
    scaled = weight * 2  # computed outside the step, with a graph

    @capture
    def step(x):
        loss = (x * scaled).sum()
        loss.backward()
        return loss

    with pytest.raises(CaptureError, match="computed before the step"):
        step(giagrad.ones(3))


def test_reset_forgets_the_recordings():
    _, _, step = training(jit=True)
    data = list(batches(3))
    for x, y in data:
        step(x, y)
    step.reset()
    step(*data[0])
    assert (step.captures, step.replays) == (3, 1)


def test_the_trainer_with_jit_trains_as_without():
    from giagrad.data import DataLoader, TensorDataset
    from giagrad.train import Trainer

    rng = np.random.default_rng(0)
    dataset = TensorDataset(giagrad.tensor(rng.standard_normal((70, FEATURES)).astype(np.float32)),
                            giagrad.tensor(rng.integers(0, CLASSES, 70)))
    results = []
    for jit in (False, True):
        model = make_mlp()
        optimizer = optim.AdamW(model.parameters(), lr=1e-2)
        scheduler = optim.lr_scheduler.OneCycleLR(optimizer, max_lr=1e-2, total_steps=3 * 5)
        trainer = Trainer(model, optimizer, nn.CrossEntropyLoss(label_smoothing=0.1), metrics=["accuracy"],
                          scheduler=scheduler, verbose=0, jit=jit)
        loader = DataLoader(dataset, batch_size=16, shuffle=True, seed=0)  # 4 full batches and one of 6
        validation = DataLoader(dataset, batch_size=32)
        history = trainer.fit(loader, validation, epochs=3)
        results.append((model, history))
    (eager_model, eager_history), (jit_model, jit_history) = results
    assert_same_parameters(eager_model, jit_model)
    np.testing.assert_allclose(jit_history.steps["loss"], eager_history.steps["loss"], rtol=1e-5)
    assert [row["val_accuracy"] for row in jit_history.epochs] == [row["val_accuracy"] for row in eager_history.epochs]


def test_the_trainer_refuses_jit_with_gradient_clipping():
    from giagrad.train import Trainer

    model = make_mlp()
    with pytest.raises(ValueError, match="jit=True cannot replay gradient clipping"):
        Trainer(model, optim.SGD(model.parameters(), lr=0.1), nn.CrossEntropyLoss(), grad_clip=1.0, jit=True)


def test_anomaly_mode_runs_the_step_eagerly():
    _, _, step = training(jit=True)
    with giagrad.autograd.detect_anomaly():
        for x, y in batches(3):
            step(x, y)
    assert (step.captures, step.replays) == (0, 0)
