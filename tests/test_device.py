"""giagrad.device, Tensor.to/.cpu/.device, Module.to and the dtype names."""

from __future__ import annotations

import numpy as np
import pytest

import giagrad
from giagrad import nn


def test_device_cpu_forms_are_equal():
    cpu = giagrad.device("cpu")
    assert cpu == giagrad.device(cpu) == "cpu" != "cuda"
    assert giagrad.device("cpu:0").index == 0 and str(giagrad.device("cpu:0")) == "cpu:0"
    assert repr(cpu) == "device(type='cpu')" and str(cpu) == "cpu" and cpu.type == "cpu"
    assert hash(cpu) == hash(giagrad.device("cpu"))


@pytest.mark.parametrize("name", ["cuda", "cuda:0", "mps", 0])
def test_accelerators_raise_a_clear_error(name):
    with pytest.raises(RuntimeError, match="CPU only"):
        giagrad.device(name)
    with pytest.raises(RuntimeError, match="CPU only"):
        giagrad.ones(2).to(name)
    with pytest.raises(RuntimeError, match="CPU only"):
        nn.Linear(2, 2).to(name)


def test_unknown_device_and_dtype():
    with pytest.raises(ValueError, match="unknown device"):
        giagrad.device("tpu0")
    with pytest.raises(TypeError, match="not a dtype"):
        giagrad.ones(2).to(object())


def test_scripts_pick_the_cpu():
    device = giagrad.device("cuda" if giagrad.cuda.is_available() else "cpu")
    giagrad.backends.cudnn.benchmark = True  # accepted, no effect
    assert device == "cpu" and giagrad.cuda.device_count() == 0 and not giagrad.backends.mps.is_available()


def test_tensor_to_forms():
    x = giagrad.randn(2, 3, requires_grad=True)
    assert x.device == giagrad.device("cpu") and x.is_cuda is False
    assert x.to("cpu") is x and x.cpu() is x and x.to(giagrad.device("cpu")) is x
    assert x.to(device="cpu", non_blocking=True) is x
    y = x.to(giagrad.float64)
    assert y.dtype == np.float64 and y.requires_grad
    assert x.to("cpu", giagrad.double).dtype == np.float64
    assert x.to(device="cpu", dtype=giagrad.long).dtype == np.int64
    assert x.to(giagrad.zeros(1, dtype=giagrad.float16)).dtype == np.float16
    assert x.to("float64").dtype == np.float64
    copied = x.to("cpu", copy=True)
    assert copied is not x and not np.shares_memory(copied.data, x.data)
    y.sum().backward()  # the conversion is recorded: the gradient comes back in float32
    assert x.grad.dtype == np.float32
    with pytest.raises(TypeError, match="unexpected"):
        x.to("cpu", giagrad.float32, "extra")


@pytest.mark.parametrize("name, dtype", [("float32", np.float32), ("float", np.float32), ("float64", np.float64),
                                         ("double", np.float64), ("float16", np.float16), ("half", np.float16),
                                         ("int64", np.int64), ("long", np.int64), ("int32", np.int32),
                                         ("int", np.int32), ("bool", np.bool_), ("uint8", np.uint8)])
def test_dtype_names_work_wherever_dtype_is_accepted(name, dtype):
    value = getattr(giagrad, name)
    assert np.dtype(value) == dtype
    assert giagrad.zeros(2, dtype=value).dtype == dtype
    assert giagrad.tensor([1, 0], dtype=value).dtype == dtype
    assert giagrad.ones(2).to(value).dtype == dtype


def test_module_to_returns_the_module_and_converts():
    model = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    device = giagrad.device("cpu")
    assert model.to(device) is model and model.cpu() is model
    assert model.to(device, giagrad.float64) is model
    assert all(p.dtype == np.float64 for p in model.parameters())
    assert model[1].running_mean.dtype == np.float64
    model.to(giagrad.ones(1))  # to(tensor): its dtype
    assert all(p.dtype == np.float32 for p in model.parameters())
    with pytest.raises(TypeError, match="floating"):
        model.to(giagrad.long)
