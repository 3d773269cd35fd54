"""Metrics: accuracy (top-k, one-hot and binary targets), batch means, and the user protocol."""

import math

import numpy as np
import pytest

import giagrad
from giagrad.train.metrics import Accuracy, BatchMean, Metric, as_metric

SCORES = np.array([[0.1, 0.5, 0.4],
                   [0.6, 0.3, 0.1],
                   [0.2, 0.2, 0.6],
                   [0.3, 0.4, 0.3]], dtype=np.float32)
LABELS = np.array([2, 0, 2, 0])


@pytest.mark.parametrize("top_k, expected", [(1, 2 / 4), (2, 3 / 4), (3, 4 / 4)])
def test_top_k_accuracy(top_k, expected):
    metric = Accuracy(top_k=top_k)
    metric.update(giagrad.tensor(SCORES), giagrad.tensor(LABELS))
    assert metric.compute() == pytest.approx(expected)


def test_accuracy_accumulates_over_batches_and_resets():
    metric = Accuracy()
    metric.update(SCORES[:2], LABELS[:2])  # 1 of 2
    metric.update(SCORES[2:], LABELS[2:])  # 1 of 2
    assert metric.compute() == pytest.approx(0.5)
    metric.reset()
    assert math.isnan(metric.compute())


def test_accuracy_with_one_hot_targets_and_binary_logits():
    one_hot = np.eye(3, dtype=np.float32)[LABELS]
    metric = Accuracy()
    metric.update(SCORES, one_hot)
    assert metric.compute() == pytest.approx(0.5)
    binary = Accuracy()
    binary.update(np.array([2.0, -1.0, 0.5, -3.0]), np.array([1.0, 0.0, 0.0, 1.0]))
    assert binary.compute() == pytest.approx(0.5)


@pytest.mark.parametrize("bad", [0, -1, 1.5])
def test_accuracy_rejects_bad_top_k(bad):
    with pytest.raises(ValueError, match="top_k"):
        Accuracy(top_k=bad)


def test_top_k_larger_than_classes_is_an_error():
    metric = Accuracy(top_k=5)
    with pytest.raises(ValueError, match="3 classes"):
        metric.update(SCORES, LABELS)


def test_batch_mean_weights_by_batch_size():
    def mean_abs_error(output, target):
        return float(np.abs(np.asarray(output) - np.asarray(target)).mean())

    metric = as_metric(mean_abs_error)
    assert isinstance(metric, BatchMean) and metric.name == "mean_abs_error"
    metric.update(np.zeros(3), np.ones(3))  # 1.0 over 3 samples
    metric.update(np.zeros(1), np.zeros(1))  # 0.0 over 1 sample
    assert metric.compute() == pytest.approx(0.75)


@pytest.mark.parametrize("name, top_k", [("accuracy", 1), ("top5_accuracy", 5), ("top2_accuracy", 2)])
def test_metric_names(name, top_k):
    metric = as_metric(name)
    assert isinstance(metric, Accuracy) and metric.top_k == top_k and metric.name == name


def test_user_metric_objects_pass_through_and_bad_values_fail():
    class CountSamples:
        name = "count"

        def reset(self):
            self.n = 0

        def update(self, output, target):
            self.n += len(target)

        def compute(self):
            return float(self.n)

    metric = CountSamples()
    assert isinstance(metric, Metric) and as_metric(metric) is metric
    with pytest.raises(ValueError, match="unknown metric"):
        as_metric("precision")
    with pytest.raises(TypeError, match="metric"):
        as_metric(3)
