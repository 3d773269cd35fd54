"""Clear messages for the slips a new user makes (a list into a layer, a model into an optimizer,
a matmul of mismatched shapes), and torch.load's options accepted by giagrad.load."""

from __future__ import annotations

import numpy as np
import pytest

import giagrad
from giagrad import nn, optim


@pytest.mark.parametrize("layer", [nn.Linear(3, 2), nn.Conv2d(1, 1, 1), nn.BatchNorm1d(3), nn.Flatten(),
                                   nn.Unflatten(1, (3, 1)), nn.Conv3d(1, 1, 1)], ids=lambda m: type(m).__name__)
def test_a_list_into_a_layer(layer):
    with pytest.raises(TypeError, match=rf"{type(layer).__name__}: input must be a Tensor, got list; convert it "
                                        r"with giagrad.tensor"):
        layer([[1.0, 2.0, 3.0]])
    with pytest.raises(TypeError, match="got ndarray"):
        layer(np.ones((1, 3), np.float32))


@pytest.mark.parametrize("optimizer", [optim.SGD, optim.Adam, optim.AdamW])
def test_a_model_instead_of_its_parameters(optimizer):
    with pytest.raises(TypeError, match=r"got a model \(Linear\); pass model.parameters\(\)"):
        optimizer(nn.Linear(3, 2), lr=0.1)
    with pytest.raises(TypeError, match=r"got int; pass model.parameters\(\)"):
        optimizer(3, lr=0.1)


@pytest.mark.parametrize("x_shape, y_shape, words", [
    ((2, 3), (2, 3), "the first has 3 columns .* the second has 2 rows"),
    ((5, 4), (3,), "4 columns .* 3 rows \\(its only dim\\)"),
    ((4, 2, 3), (3, 3, 2), "batch dims .* do not broadcast"),
    ((), (3,), "at least one dim"),
])
def test_matmul_shape_mismatch_names_the_op_and_shapes(x_shape, y_shape, words):
    x, y = giagrad.ones(*x_shape), giagrad.ones(*y_shape)
    with pytest.raises(ValueError, match="MatMul: .*" + words) as caught:
        x @ y
    assert "gufunc" not in str(caught.value)


def test_load_accepts_torch_load_options(tmp_path):
    path = tmp_path / "model.npz"
    giagrad.save({"w": giagrad.ones(2)}, path)
    for options in [dict(map_location="cpu"), dict(map_location=giagrad.device("cpu"), weights_only=False),
                    dict(map_location=None, weights_only=True), dict(map_location={"cuda:0": "cpu"}),
                    dict(map_location=lambda storage, location: storage)]:
        assert giagrad.load(path, **options)["w"].data.tolist() == [1.0, 1.0]
    for location in ["cuda", "cuda:1", "mps", {"cpu": "cuda:0"}]:
        with pytest.raises(RuntimeError, match="CPU only"):
            giagrad.load(path, map_location=location)
    with pytest.raises(TypeError, match="weights_only"):
        giagrad.load(path, weights_only="yes")
    with pytest.raises(TypeError, match="unexpected"):
        giagrad.load(path, mapping="cpu")
