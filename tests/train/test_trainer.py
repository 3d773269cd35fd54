"""Trainer: fit / evaluate / predict, schedules, clipping, output modes, NaN stop, Ctrl-C, exact resume."""

import math
import os

import numpy as np
import pytest

import giagrad
from giagrad import nn, optim
from giagrad.data import DataLoader, TensorDataset
from giagrad.train import Callback, ModelCheckpoint, Trainer


def test_fit_learns_and_records_history(make_problem):
    model, optimizer, train_loader, val_loader = make_problem()
    trainer = Trainer(model, optimizer, nn.CrossEntropyLoss(), metrics=["accuracy"], verbose=0)
    history = trainer.fit(train_loader, val_loader, epochs=8)
    assert len(history) == 8 and trainer.epoch == 8 and trainer.step == 8 * len(train_loader)
    assert set(history.keys()) == {"epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds"}
    assert history["loss"][-1] < history["loss"][0]
    assert history["val_accuracy"][-1] >= 0.9
    assert len(history.steps["loss"]) == trainer.step and history.steps["step"][-1] == trainer.step
    result = trainer.evaluate(val_loader)
    assert result["accuracy"] == pytest.approx(history["val_accuracy"][-1])
    assert result["loss"] == pytest.approx(history["val_loss"][-1])


def test_evaluate_runs_in_eval_mode_without_graph_and_restores_mode(make_problem):
    model, optimizer, train_loader, val_loader = make_problem()
    seen = []

    class Spy:
        name = "spy"

        def reset(self):
            pass

        def update(self, output, target):
            seen.append((model.training, output.requires_grad))

        def compute(self):
            return 0.0

    trainer = Trainer(model, optimizer, nn.CrossEntropyLoss(), metrics=[Spy()], verbose=0)
    trainer.fit(train_loader, epochs=1)
    assert seen and all(training and requires_grad for training, requires_grad in seen)
    seen.clear()
    model.train()
    trainer.evaluate(val_loader)
    assert seen and not any(training or requires_grad for training, requires_grad in seen)
    assert model.training


def test_predict_concatenates_outputs(make_problem):
    model, optimizer, train_loader, val_loader = make_problem()
    trainer = Trainer(model, optimizer, nn.CrossEntropyLoss(), verbose=0)
    predictions = trainer.predict(val_loader)
    assert predictions.shape == (24, 2) and not predictions.requires_grad
    inputs_only = [batch[0] for batch in val_loader]
    np.testing.assert_array_equal(trainer.predict(inputs_only).data, predictions.data)


class CountingScheduler:
    """Records how it is stepped; `interval` says when it wants to be stepped."""

    def __init__(self, interval="epoch"):
        self.interval = interval
        self.calls = []

    def step(self, *args):
        self.calls.append(args)

    def state_dict(self):
        return {"calls": len(self.calls)}

    def load_state_dict(self, state):
        pass


class RecordingPlateau(optim.lr_scheduler.ReduceLROnPlateau):
    """The real one, recording its calls: the trainer must hand it the monitored value."""

    def __init__(self, optimizer):
        super().__init__(optimizer)
        self.calls = []

    def step(self, *args):
        self.calls.append(args)
        super().step(*args)


@pytest.mark.parametrize("make_scheduler, expected_calls", [
    (lambda optimizer: CountingScheduler(interval="batch"), 3 * 5),
    (lambda optimizer: CountingScheduler(interval="epoch"), 3),
    (lambda optimizer: CountingScheduler(), 3),
    (RecordingPlateau, 3),
])
def test_scheduler_is_stepped_per_batch_or_per_epoch(make_problem, make_scheduler, expected_calls):
    model, optimizer, train_loader, val_loader = make_problem(n=96, batch_size=16)  # 72 samples: 5 batches
    scheduler = make_scheduler(optimizer)
    trainer = Trainer(model, optimizer, nn.CrossEntropyLoss(), scheduler=scheduler, verbose=0)
    history = trainer.fit(train_loader, val_loader, epochs=3)
    assert len(scheduler.calls) == expected_calls
    if isinstance(scheduler, RecordingPlateau):
        assert [args[0] for args in scheduler.calls] == history["val_loss"]


def test_real_one_cycle_schedule_steps_per_batch(make_problem):
    model, optimizer, train_loader, _ = make_problem()
    scheduler = optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.1, total_steps=3 * len(train_loader))
    trainer = Trainer(model, optimizer, nn.CrossEntropyLoss(), scheduler=scheduler, verbose=0)
    assert trainer.scheduler_interval == "batch"
    history = trainer.fit(train_loader, epochs=3)  # one step too many would raise in OneCycleLR
    lrs = history.steps["lr"]
    assert max(lrs) == pytest.approx(0.1, rel=0.05) and lrs[-1] < 0.1 * max(lrs)


def test_grad_clip_bounds_each_update(make_problem):
    model, _, train_loader, _ = make_problem()
    optimizer = optim.SGD(model.parameters(), lr=1.0)
    before = [p.data.copy() for p in model.parameters()]

    class StopAfterOne(Callback):
        def on_batch_end(self, trainer, loss):
            trainer.stop_training = True
            raise KeyboardInterrupt  # simplest way to end after exactly one step

    trainer = Trainer(model, optimizer, nn.CrossEntropyLoss(), grad_clip=0.01, callbacks=[StopAfterOne()],
                      verbose=0)
    trainer.fit(train_loader, epochs=1)
    change = math.sqrt(sum(float(((p.data - b) ** 2).sum()) for p, b in zip(model.parameters(), before,
                                                                            strict=True)))
    assert 0 < change <= 0.01 * 1.0001


def test_verbose_2_prints_one_line_per_epoch_and_verbose_0_nothing(make_problem, capsys):
    model, optimizer, train_loader, val_loader = make_problem()
    Trainer(model, optimizer, nn.CrossEntropyLoss(), metrics=["accuracy"], verbose=2).fit(
        train_loader, val_loader, epochs=2)
    out, err = capsys.readouterr()
    lines = out.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("epoch 1/2")
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "lr", " s"):
        assert key in lines[1]
    assert "batch" not in err  # no progress bar when output is not a terminal
    Trainer(model, optimizer, nn.CrossEntropyLoss(), verbose=0).fit(train_loader, epochs=1)
    assert capsys.readouterr() == ("", "")


def test_nan_loss_stops_with_epoch_and_step_before_updating(make_problem):
    model, optimizer, train_loader, _ = make_problem()
    calls = {"n": 0}
    cross_entropy = nn.CrossEntropyLoss()

    def loss_fn(output, target):
        calls["n"] += 1
        loss = cross_entropy(output, target)
        return loss * float("nan") if calls["n"] == 8 else loss  # epoch 2, batch 3 (5 batches an epoch)

    trainer = Trainer(model, optimizer, loss_fn, verbose=0)
    snapshot = {}

    class Snapshot(Callback):
        def on_batch_end(self, trainer, loss):
            snapshot["params"] = [p.data.copy() for p in trainer.model.parameters()]

    trainer.callbacks.append(Snapshot())
    with pytest.raises(RuntimeError, match=r"nan at epoch 2, step 8"):
        trainer.fit(train_loader, epochs=3)
    for p, saved in zip(model.parameters(), snapshot["params"], strict=True):
        np.testing.assert_array_equal(p.data, saved)  # the NaN batch changed nothing
        assert np.isfinite(p.data).all()


def test_infinite_loss_also_stops(make_problem):
    model, optimizer, train_loader, _ = make_problem()
    trainer = Trainer(model, optimizer, lambda output, target: output.sum() * float("inf"), verbose=0)
    with pytest.raises(RuntimeError, match="epoch 1, step 1"):
        trainer.fit(train_loader, epochs=1)


def test_keyboard_interrupt_saves_and_returns_history_and_resumes_mid_epoch(make_problem, tmp_path):
    model, optimizer, train_loader, _ = make_problem()
    reference_history = Trainer(model, optimizer, nn.CrossEntropyLoss(), verbose=0).fit(train_loader, epochs=3)
    expected = [p.data.copy() for p in model.parameters()]

    model, optimizer, train_loader, _ = make_problem()
    cross_entropy = nn.CrossEntropyLoss()
    calls = {"n": 0}

    def loss_fn(output, target):
        calls["n"] += 1
        if calls["n"] == 13:  # epoch 3, batch 3 (5 batches an epoch)
            raise KeyboardInterrupt
        return cross_entropy(output, target)

    checkpoint = ModelCheckpoint(tmp_path, monitor="loss")
    trainer = Trainer(model, optimizer, loss_fn, callbacks=[checkpoint], verbose=0)
    history = trainer.fit(train_loader, epochs=5)
    assert trainer.interrupted and len(history) == 2 and trainer.step == 12
    state = giagrad.load(checkpoint.interrupted_path)
    assert int(state["epoch"]) == 2 and int(state["step"]) == 12 and int(state["batch_in_epoch"]) == 2
    np.testing.assert_array_equal(state["model"]["0.weight"], model[0].weight.data)

    # a new process: fresh objects, resumed from the file; the two trained batches are skipped
    model, optimizer, train_loader, _ = make_problem(seed=3)
    resumed = Trainer(model, optimizer, nn.CrossEntropyLoss(), verbose=0)
    history = resumed.fit(train_loader, epochs=3, resume=checkpoint.interrupted_path)
    assert not resumed.interrupted and len(history) == 3 and resumed.step == 15
    assert history.steps["loss"] == reference_history.steps["loss"]
    for p, e in zip(model.parameters(), expected, strict=True):
        np.testing.assert_array_equal(p.data, e)


def test_keyboard_interrupt_without_checkpoint_dir_just_returns(make_problem):
    model, optimizer, train_loader, _ = make_problem()

    class Interrupt(Callback):
        def on_epoch_end(self, trainer, logs):
            raise KeyboardInterrupt

    trainer = Trainer(model, optimizer, nn.CrossEntropyLoss(), callbacks=[Interrupt()], verbose=0)
    history = trainer.fit(train_loader, epochs=4)
    assert trainer.interrupted and len(history) == 1


@pytest.mark.parametrize("loader_seed", [0, None])  # None: the shuffle draws on giagrad's generator
def test_resume_after_interruption_is_bit_exact(make_problem, tmp_path, loader_seed):
    def build(seed):
        model, optimizer, train_loader, val_loader = make_problem(seed=seed, dropout=0.3, loader_seed=loader_seed,
                                                                  optimizer="adamw")
        scheduler = optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
        return model, optimizer, scheduler, train_loader, val_loader

    # the reference: 5 epochs without a break
    model, optimizer, scheduler, train_loader, val_loader = build(seed=0)
    reference = Trainer(model, optimizer, nn.CrossEntropyLoss(), metrics=["accuracy"], scheduler=scheduler,
                        verbose=0)
    reference_history = reference.fit(train_loader, val_loader, epochs=5)
    expected = [p.data.copy() for p in model.parameters()]

    # the same run stopped after epoch 2 (the process ends: everything is rebuilt) ...
    model, optimizer, scheduler, train_loader, val_loader = build(seed=0)
    Trainer(model, optimizer, nn.CrossEntropyLoss(), metrics=["accuracy"], scheduler=scheduler,
            callbacks=[ModelCheckpoint(tmp_path, monitor="val_loss")], verbose=0).fit(train_loader, val_loader,
                                                                                       epochs=2)
    giagrad.manual_seed(999)  # whatever happens to the generator in between
    # ... and resumed from scratch objects initialised differently
    model, optimizer, scheduler, train_loader, val_loader = build(seed=7)
    resumed = Trainer(model, optimizer, nn.CrossEntropyLoss(), metrics=["accuracy"], scheduler=scheduler,
                      callbacks=[ModelCheckpoint(tmp_path, monitor="val_loss")], verbose=0)
    history = resumed.fit(train_loader, val_loader, epochs=5, resume=os.path.join(tmp_path, "last.npz"))
    for p, e in zip(model.parameters(), expected, strict=True):
        np.testing.assert_array_equal(p.data, e)
    assert history["loss"] == reference_history["loss"]
    assert history.steps["loss"] == reference_history.steps["loss"]
    assert resumed.step == reference.step
    assert optimizer.param_groups[0]["lr"] == reference.optimizer.param_groups[0]["lr"]


def test_resume_rejects_foreign_files(make_problem, tmp_path):
    model, optimizer, train_loader, _ = make_problem()
    giagrad.save(model.state_dict(), tmp_path / "weights.npz")
    trainer = Trainer(model, optimizer, nn.CrossEntropyLoss(), verbose=0)
    with pytest.raises(ValueError, match="not a trainer checkpoint"):
        trainer.fit(train_loader, epochs=1, resume=tmp_path / "weights.npz")


@pytest.mark.parametrize("kwargs, message", [
    ({"verbose": 3}, "verbose"), ({"grad_clip": 0.0}, "grad_clip"), ({"scheduler_interval": "step"}, "interval"),
    ({"metrics": ["accuracy", "accuracy"]}, "unique"),
])
def test_bad_arguments(make_problem, kwargs, message):
    model, optimizer, _, _ = make_problem()
    with pytest.raises(ValueError, match=message):
        Trainer(model, optimizer, nn.CrossEntropyLoss(), **kwargs)


def test_progress_bar_on_a_terminal_shows_loss_metric_and_lr(make_problem, monkeypatch, capsys):
    import io
    import sys

    import tqdm

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    postfixes = []
    original = tqdm.tqdm.set_postfix_str
    monkeypatch.setattr(tqdm.tqdm, "set_postfix_str",
                        lambda self, text="", refresh=True: postfixes.append(text) or original(self, text, refresh))
    model, optimizer, train_loader, _ = make_problem()
    Trainer(model, optimizer, nn.CrossEntropyLoss(), metrics=["accuracy"], verbose=1).fit(train_loader, epochs=1)
    assert "epoch 1/1" in terminal.getvalue() and "/5" in terminal.getvalue()  # a bar over the 5 batches
    assert postfixes and all(key in postfixes[0] for key in ("loss=", "accuracy=", "lr="))
    assert capsys.readouterr().out.startswith("epoch 1/1  loss")  # the summary line, on stdout


# ------------------------------------------------------------------ resuming: exact or refused


def interrupt_at(call, loss=None):
    """A cross-entropy loss that raises KeyboardInterrupt at its ``call``-th use."""
    cross_entropy = loss or nn.CrossEntropyLoss()
    calls = {"n": 0}

    def loss_fn(output, target):
        calls["n"] += 1
        if calls["n"] == call:
            raise KeyboardInterrupt
        return cross_entropy(output, target)

    return loss_fn


def test_mid_epoch_resume_is_exact_without_a_loader_seed(make_problem, tmp_path):
    # Unseeded, the shuffle order comes from giagrad's generator, which dropout also draws on.
    model, optimizer, train_loader, _ = make_problem(dropout=0.3, loader_seed=None)
    giagrad.manual_seed(5)
    reference = Trainer(model, optimizer, nn.CrossEntropyLoss(), verbose=0)
    reference_history = reference.fit(train_loader, epochs=3)
    expected = [p.data.copy() for p in model.parameters()]

    model, optimizer, train_loader, _ = make_problem(dropout=0.3, loader_seed=None)
    giagrad.manual_seed(5)
    checkpoint = ModelCheckpoint(tmp_path, monitor="loss")
    trainer = Trainer(model, optimizer, interrupt_at(8), callbacks=[checkpoint], verbose=0)
    trainer.fit(train_loader, epochs=3)
    assert trainer.interrupted and trainer.step == 7      # epoch 2, after its second batch

    giagrad.manual_seed(123)
    model, optimizer, train_loader, _ = make_problem(seed=3, dropout=0.3, loader_seed=None)
    resumed = Trainer(model, optimizer, nn.CrossEntropyLoss(), verbose=0)
    history = resumed.fit(train_loader, epochs=3, resume=checkpoint.interrupted_path)
    assert history.steps["loss"] == reference_history.steps["loss"]
    for p, e in zip(model.parameters(), expected, strict=True):
        np.testing.assert_array_equal(p.data, e)


def losses_through_and_resumed(build, tmp_path, epochs, manual_seed=None):
    """The step losses of ``build(0)`` trained through, and of ``build(0)`` stopped by Ctrl-C at
    its 8th step (epoch 2) then resumed from ``interrupted.npz`` by ``build(3)``."""
    def started(seed):
        parts = build(seed)
        if manual_seed is not None:
            giagrad.manual_seed(manual_seed)
        return parts

    model, optimizer, loader = started(0)
    reference = Trainer(model, optimizer, nn.CrossEntropyLoss(), verbose=0).fit(loader, epochs=epochs)
    model, optimizer, loader = started(0)
    checkpoint = ModelCheckpoint(tmp_path, monitor="loss")
    Trainer(model, optimizer, interrupt_at(8), callbacks=[checkpoint], verbose=0).fit(loader, epochs=epochs)
    model, optimizer, loader = build(3)
    resumed = Trainer(model, optimizer, nn.CrossEntropyLoss(), verbose=0).fit(
        loader, epochs=epochs, resume=checkpoint.interrupted_path)
    return reference.steps["loss"], resumed.steps["loss"]


def test_mid_epoch_resume_is_exact_with_a_loader_generator(make_problem, tmp_path):
    def build(seed):
        model, optimizer, train_loader, _ = make_problem(seed=seed)
        loader = DataLoader(train_loader.dataset, batch_size=16, shuffle=True,
                            generator=np.random.default_rng(42))
        return model, optimizer, loader

    reference, resumed = losses_through_and_resumed(build, tmp_path, epochs=4)
    assert resumed == reference


def test_a_checkpoint_with_another_optimizer_loads_nothing(make_problem, tmp_path):
    model, optimizer, train_loader, _ = make_problem(optimizer="adamw")
    trainer = Trainer(model, optimizer, nn.CrossEntropyLoss(), verbose=0)
    trainer.fit(train_loader, epochs=1)
    trainer.save_checkpoint(tmp_path / "adamw.npz")

    model, optimizer, train_loader, _ = make_problem(seed=3)       # SGD
    before = [p.data.copy() for p in model.parameters()]
    other = Trainer(model, optimizer, nn.CrossEntropyLoss(), verbose=0)
    with pytest.raises(ValueError, match="has no 'momentum'"):
        other.load_checkpoint(tmp_path / "adamw.npz", train_loader=train_loader)
    for p, b in zip(model.parameters(), before, strict=True):
        np.testing.assert_array_equal(p.data, b)
    assert other.epoch == 0 and other.step == 0 and len(other.history) == 0 and not optimizer.state


def test_a_failing_part_late_in_the_load_puts_everything_back(make_problem, tmp_path):
    model, optimizer, train_loader, _ = make_problem()
    Trainer(model, optimizer, nn.CrossEntropyLoss(), callbacks=[ModelCheckpoint(tmp_path, monitor="loss")],
            verbose=0).fit(train_loader, epochs=1)

    class FussyLoader(DataLoader):   # the loader's state is the last part loaded
        def load_state_dict(self, state):
            raise ValueError("FussyLoader: cannot restore")

    model, optimizer, train_loader, _ = make_problem(seed=3)
    before = [p.data.copy() for p in model.parameters()]
    rng_before = giagrad.get_rng_state()
    trainer = Trainer(model, optimizer, nn.CrossEntropyLoss(), verbose=0)
    with pytest.raises(ValueError, match="FussyLoader"):
        trainer.load_checkpoint(tmp_path / "last.npz", train_loader=FussyLoader(train_loader.dataset))
    for p, b in zip(model.parameters(), before, strict=True):
        np.testing.assert_array_equal(p.data, b)
    assert not optimizer.state and len(trainer.history) == 0 and giagrad.get_rng_state() == rng_before


def one_cycle_trainer(make_problem, epochs, tmp_path=None, seed=0):
    model, optimizer, train_loader, _ = make_problem(seed=seed, optimizer="adamw")
    scheduler = optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.05, total_steps=epochs * len(train_loader))
    callbacks = [ModelCheckpoint(tmp_path, monitor="loss")] if tmp_path is not None else []
    return Trainer(model, optimizer, nn.CrossEntropyLoss(), scheduler=scheduler, callbacks=callbacks,
                   verbose=0), train_loader


def test_resuming_a_one_cycle_run_for_more_epochs_follows_the_longer_cycle(make_problem, tmp_path):
    trainer, loader = one_cycle_trainer(make_problem, 2, tmp_path)
    trainer.fit(loader, epochs=2)
    reference, reference_loader = one_cycle_trainer(make_problem, 4)
    reference.fit(reference_loader, epochs=4)

    resumed, loader = one_cycle_trainer(make_problem, 4, seed=3)
    with pytest.warns(UserWarning, match="total_steps=10.*total_steps=20.*from step 10 of the longer cycle"):
        history = resumed.fit(loader, epochs=4, resume=tmp_path / "last.npz")
    assert len(history) == 4 and resumed.step == 20
    # after the first resumed step, the learning rates are those of the 4-epoch cycle
    assert history.steps["lr"][11:] == pytest.approx(reference.history.steps["lr"][11:])


def test_resuming_with_a_cycle_shorter_than_the_steps_taken_fails_at_load(make_problem, tmp_path):
    trainer, loader = one_cycle_trainer(make_problem, 2, tmp_path)
    trainer.fit(loader, epochs=2)
    resumed, loader = one_cycle_trainer(make_problem, 1, seed=3)
    before = [p.data.copy() for p in resumed.model.parameters()]
    with pytest.raises(ValueError, match="taken 10 steps.*total_steps=5.*total_steps >= 10"):
        resumed.fit(loader, epochs=3, resume=tmp_path / "last.npz")
    for p, b in zip(resumed.model.parameters(), before, strict=True):
        np.testing.assert_array_equal(p.data, b)
    assert resumed.scheduler.total_steps == 5 and resumed.scheduler.last_epoch == 0


def test_scheduler_state_without_a_scheduler_warns(make_problem, tmp_path):
    trainer, loader = one_cycle_trainer(make_problem, 2, tmp_path)
    trainer.fit(loader, epochs=1)
    model, optimizer, train_loader, _ = make_problem(seed=3, optimizer="adamw")
    plain = Trainer(model, optimizer, nn.CrossEntropyLoss(), verbose=0)
    with pytest.warns(UserWarning, match="scheduler's state, but this trainer has no scheduler"):
        plain.load_checkpoint(tmp_path / "last.npz")


def test_fit_and_evaluate_on_an_empty_loader_raise(make_problem):
    model, optimizer, train_loader, _ = make_problem()
    empty = DataLoader(TensorDataset(giagrad.zeros(0, 2), giagrad.zeros(0, dtype="int64")), batch_size=4)
    trainer = Trainer(model, optimizer, nn.CrossEntropyLoss(), verbose=0)
    with pytest.raises(ValueError, match="yielded no batches in epoch 1"):
        trainer.fit(empty, epochs=1)
    small = DataLoader(train_loader.dataset, batch_size=1000, drop_last=True)
    with pytest.raises(ValueError, match="drop_last"):
        trainer.fit(small, epochs=1)
    with pytest.raises(ValueError, match="evaluate: the loader yielded no samples"):
        trainer.evaluate(empty)
    assert len(trainer.history) == 0


@pytest.mark.parametrize("call", [10, 13])   # epoch 2: in its third training batch; in its validation
def test_a_resumed_epoch_logs_the_values_of_the_whole_epoch(make_problem, tmp_path, call):
    # 5 training and 2 validation batches an epoch, each a call of the loss
    model, optimizer, train_loader, val_loader = make_problem()
    reference = Trainer(model, optimizer, nn.CrossEntropyLoss(), metrics=["accuracy"], verbose=0)
    reference_history = reference.fit(train_loader, val_loader, epochs=3)

    model, optimizer, train_loader, val_loader = make_problem()
    checkpoint = ModelCheckpoint(tmp_path, monitor="loss")
    trainer = Trainer(model, optimizer, interrupt_at(call), metrics=["accuracy"], callbacks=[checkpoint],
                      verbose=0)
    trainer.fit(train_loader, val_loader, epochs=3)
    assert trainer.interrupted

    model, optimizer, train_loader, val_loader = make_problem(seed=3)
    resumed = Trainer(model, optimizer, nn.CrossEntropyLoss(), metrics=["accuracy"], verbose=0)
    history = resumed.fit(train_loader, val_loader, epochs=3, resume=checkpoint.interrupted_path)
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert history[key] == pytest.approx(reference_history[key], rel=1e-12), key


class NoisyPoints(TensorDataset):
    """Points with noise drawn from giagrad's generator each time a batch is made (in the workers)."""

    def get_batch(self, indices):
        x, y = super().get_batch(indices)
        return x + giagrad.random.generator().normal(0.0, 0.1, x.shape).astype(np.float32), y


def test_mid_epoch_resume_is_exact_with_loader_workers_and_random_transforms(make_problem, tmp_path):
    def build(seed):
        model, optimizer, train_loader, _ = make_problem(seed=seed)
        x, y = train_loader.dataset.tensors
        loader = DataLoader(NoisyPoints(x.data, y.data), batch_size=16, shuffle=True, num_workers=1)
        return model, optimizer, loader

    reference, resumed = losses_through_and_resumed(build, tmp_path, epochs=3, manual_seed=4)
    assert resumed == reference


def test_a_nan_loss_under_jit_stops_training_and_says_the_update_was_applied():
    giagrad.manual_seed(0)
    model = nn.Linear(3, 1)
    x = giagrad.tensor(np.full((8, 3), np.nan, dtype=np.float32))
    loader = DataLoader(TensorDataset(x, giagrad.zeros(8, 1)), batch_size=4)
    trainer = Trainer(model, optim.SGD(model.parameters(), lr=0.1), nn.MSELoss(), verbose=0, jit=True)
    with pytest.raises(RuntimeError, match=r"nan at epoch 1, step 1 .*after updating the parameters \(jit=True"):
        trainer.fit(loader, epochs=1)
