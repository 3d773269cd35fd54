"""History: records, plots written as real PNGs, CSV and JSON exports."""

import csv
import json
import math

import matplotlib
import pytest

matplotlib.use("Agg")

from giagrad.train.history import History  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def make_history(epochs=3, steps_per_epoch=4, validation=True):
    history = History()
    step = 0
    for epoch in range(1, epochs + 1):
        for _ in range(steps_per_epoch):
            step += 1
            for key, value in zip(("step", "epoch", "loss", "lr"), (step, epoch, 1.0 / step, 0.1), strict=True):
                history.steps[key].append(value)
        logs = {"epoch": epoch, "loss": 1.0 / epoch, "accuracy": 0.5 + 0.1 * epoch}
        if validation:
            logs.update(val_loss=1.2 / epoch, val_accuracy=0.45 + 0.1 * epoch)
        logs.update(lr=0.1, seconds=0.5)
        history.record_epoch(logs)
    return history


def test_indexing_returns_per_epoch_values():
    history = make_history()
    assert history["val_loss"] == pytest.approx([1.2, 0.6, 0.4])
    assert len(history) == 3
    assert history.keys() == ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds"]
    with pytest.raises(KeyError, match="val_f1"):
        history["val_f1"]


@pytest.mark.parametrize("validation", [True, False])
def test_plot_writes_a_png(tmp_path, validation):
    path = tmp_path / "curves.png"
    make_history(validation=validation).plot(path, title="test run", val_label="test")
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC)
    assert len(data) > 10_000  # two panels with curves, labels and legends


def test_plot_of_an_empty_history_still_writes(tmp_path):
    path = tmp_path / "empty.png"
    History().plot(path)
    assert path.read_bytes().startswith(PNG_MAGIC)


def test_to_csv_epochs_and_steps(tmp_path):
    history = make_history()
    history.to_csv(tmp_path / "epochs.csv")
    with open(tmp_path / "epochs.csv") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 3 and float(rows[1]["val_accuracy"]) == pytest.approx(0.65)
    history.to_csv(tmp_path / "steps.csv", level="step")
    with open(tmp_path / "steps.csv") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 12 and rows[-1]["epoch"] == "3" and rows[-1]["step"] == "12"
    with pytest.raises(ValueError, match="level"):
        history.to_csv(tmp_path / "x.csv", level="batch")


def test_json_round_trip_with_nan(tmp_path):
    history = make_history()
    history.epochs[0]["val_loss"] = math.nan
    text = history.to_json(tmp_path / "history.json")
    assert json.loads((tmp_path / "history.json").read_text())["epochs"][0]["val_loss"] is None  # strict JSON
    again = History.from_json(text)
    assert math.isnan(again["val_loss"][0]) and again["val_loss"][1:] == history["val_loss"][1:]
    assert again.steps == history.steps


def test_state_dict_is_a_copy():
    history = make_history()
    state = history.state_dict()
    state["epochs"][0]["loss"] = 99.0
    assert history["loss"][0] == 1.0
