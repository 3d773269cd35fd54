"""Callbacks: early stopping (with restoring the best weights) and checkpoint files."""

import os
from types import SimpleNamespace

import numpy as np
import pytest

import giagrad
from giagrad import nn
from giagrad.train import EarlyStopping, ModelCheckpoint, Trainer


def fake_trainer(model=None):
    # Only what the callbacks read: the epoch counter, the model, the stop flag and log().
    return SimpleNamespace(epoch=0, model=model, stop_training=False, log=lambda message: None)


def run_epochs(callback, trainer, values, key="val_loss", before_each=None):
    for value in values:
        if trainer.stop_training:
            break
        trainer.epoch += 1
        if before_each is not None:
            before_each(trainer.epoch)
        callback.on_epoch_end(trainer, {"epoch": trainer.epoch, key: value})


@pytest.mark.parametrize("values, patience, mode, min_delta, stopped_at", [
    ([1.0, 0.9, 0.95, 0.96, 0.97, 0.5], 2, "min", 0.0, 5),   # 3 epochs without improvement > patience 2
    ([1.0, 0.9, 0.8, 0.7, 0.6, 0.5], 2, "min", 0.0, 0),     # always improving: never stops
    ([1.0, 0.99, 0.98, 0.97, 0.96], 1, "min", 0.05, 3),     # improvements smaller than min_delta don't count
    ([0.5, 0.6, 0.6, 0.55, 0.7], 1, "max", 0.0, 4),
    ([0.5, float("nan"), float("nan"), 0.4], 1, "min", 0.0, 3),  # NaN is never an improvement
])
def test_early_stopping_table(values, patience, mode, min_delta, stopped_at):
    stop = EarlyStopping("val_loss", patience=patience, mode=mode, min_delta=min_delta)
    trainer = fake_trainer()
    run_epochs(stop, trainer, values)
    assert stop.stopped_epoch == stopped_at
    assert trainer.stop_training == (stopped_at > 0)


def test_auto_mode_maximises_accuracy():
    stop = EarlyStopping("val_accuracy", patience=0)
    trainer = fake_trainer()
    run_epochs(stop, trainer, [0.5, 0.7, 0.6], key="val_accuracy")
    assert stop.best == 0.7 and stop.best_epoch == 2 and stop.stopped_epoch == 3


def test_restore_best_loads_the_best_epochs_weights():
    model = nn.Linear(3, 2)
    stop = EarlyStopping("val_loss", patience=1, restore_best=True)
    trainer = fake_trainer(model)
    snapshots = {}

    def change_weights(epoch):
        with giagrad.no_grad():
            model.weight.fill_(float(epoch))
        snapshots[epoch] = model.weight.data.copy()

    run_epochs(stop, trainer, [1.0, 0.5, 0.7, 0.8], before_each=change_weights)
    assert stop.stopped_epoch == 4 and stop.best_epoch == 2
    stop.on_fit_end(trainer)
    np.testing.assert_array_equal(model.weight.data, snapshots[2])


def test_missing_monitor_is_a_clear_error():
    stop = EarlyStopping("val_loss")
    with pytest.raises(KeyError, match="validation loader"):
        stop.on_epoch_end(fake_trainer(), {"epoch": 1, "loss": 0.3})


@pytest.mark.parametrize("kwargs, message", [({"patience": -1}, "patience"), ({"mode": "up"}, "mode"),
                                             ({"min_delta": -0.1}, "min_delta")])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        EarlyStopping(**kwargs)


def test_model_checkpoint_writes_last_and_best_files_that_load(tmp_path, make_problem):
    model, optimizer, loader, _ = make_problem()
    checkpoint = ModelCheckpoint(tmp_path / "run", monitor="loss")
    trainer = Trainer(model, optimizer, nn.CrossEntropyLoss(), metrics=["accuracy"], callbacks=[checkpoint],
                      verbose=0)
    trainer.fit(loader, epochs=3)
    names = sorted(os.listdir(tmp_path / "run"))
    assert names == ["best.npz", "last.npz"]  # no temporary files left behind
    state = giagrad.load(tmp_path / "run" / "last.npz")
    assert int(state["epoch"]) == 3 and int(state["step"]) == 3 * len(loader)
    fresh, *_ = make_problem(seed=5)
    fresh.load_state_dict(state["model"])
    for a, b in zip(fresh.parameters(), model.parameters(), strict=True):
        np.testing.assert_array_equal(a.data, b.data)
    best = giagrad.load(tmp_path / "run" / "best.npz")
    assert 1 <= int(best["epoch"]) <= 3
    assert checkpoint.tracker.best == pytest.approx(min(trainer.history["loss"]))
