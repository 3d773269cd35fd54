"""History.plot: labelled axes, whole-number epoch ticks, the label-smoothing note, and the user's
matplotlib backend left alone (the figure is drawn on the Agg canvas, not through pyplot)."""

from __future__ import annotations

import matplotlib
import pytest

from giagrad import nn
from giagrad.train import Trainer
from giagrad.train.history import History


def short_run(epochs=3, steps_per_epoch=5):
    history = History()
    step = 0
    for epoch in range(1, epochs + 1):
        for _ in range(steps_per_epoch):
            step += 1
            for key, value in zip(("step", "epoch", "loss", "lr"), (step, epoch, 2.0 / step, 0.1)):
                history.steps[key].append(value)
        history.record_epoch({"epoch": epoch, "loss": 1.0 / epoch, "accuracy": 0.5 + 0.1 * epoch,
                              "val_loss": 1.1 / epoch, "val_accuracy": 0.5 + 0.1 * epoch, "lr": 0.1})
    return history


@pytest.fixture
def backend_untouched(monkeypatch):
    """Fail if anything calls matplotlib.use or leaves a pyplot figure open."""
    import matplotlib.pyplot as plt

    def forbidden(*args, **kwargs):
        raise AssertionError("matplotlib.use was called: it would switch the user's backend")

    monkeypatch.setattr(matplotlib, "use", forbidden)
    open_before = plt.get_fignums()
    yield
    assert plt.get_fignums() == open_before


def test_plot_to_a_file_labels_axes_with_whole_epoch_ticks(tmp_path, backend_untouched):
    figure = short_run().plot(tmp_path / "curves.png")
    assert (tmp_path / "curves.png").read_bytes().startswith(b"\x89PNG")
    loss_ax, accuracy_ax = figure.axes
    assert loss_ax.get_xlabel() == accuracy_ax.get_xlabel() == "epoch"
    assert loss_ax.get_ylabel() == "loss" and accuracy_ax.get_ylabel() == "accuracy"
    for ax in figure.axes:
        low, high = ax.get_xlim()
        ticks = [t for t in ax.get_xticks() if low <= t <= high]
        assert ticks and all(float(t).is_integer() for t in ticks)
    assert loss_ax.get_legend().get_title().get_text() == ""  # no label smoothing, no note


def test_label_smoothing_note_in_the_loss_legend(tmp_path, backend_untouched):
    history = short_run()
    history.metadata["label_smoothing"] = 0.1
    figure = history.plot(tmp_path / "curves.png")
    assert figure.axes[0].get_legend().get_title().get_text() == "label smoothing 0.1 lifts the loss"
    assert figure.axes[1].get_legend().get_title().get_text() == ""
    restored = History.from_json(history.to_json())
    assert restored.metadata == {"label_smoothing": 0.1}


def test_trainer_records_the_loss_label_smoothing(make_problem):
    model, optimizer, train_loader, _ = make_problem()
    smoothed = Trainer(model, optimizer, nn.CrossEntropyLoss(label_smoothing=0.2), verbose=0)
    assert smoothed.history.metadata == {"label_smoothing": 0.2}
    plain = Trainer(model, optimizer, nn.CrossEntropyLoss(), verbose=0)
    assert plain.history.metadata == {}


def test_graph_drawing_leaves_the_backend_alone(tmp_path, backend_untouched):
    import giagrad
    from giagrad.viz import draw_graph

    x = giagrad.randn(2, requires_grad=True)
    draw_graph((x * x).sum(), tmp_path / "graph.png")
    assert (tmp_path / "graph.png").read_bytes().startswith(b"\x89PNG")
