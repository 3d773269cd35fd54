"""Sequential, ModuleList and ModuleDict: the list and dict protocols, registration, repr."""

from collections import OrderedDict

import numpy as np
import pytest

import giagrad
from giagrad import nn


def linears(n):
    return [nn.Linear(2, 2) for _ in range(n)]


# ------------------------------------------------------------------------------ Sequential


def test_sequential_runs_modules_in_order():
    first, second = nn.Linear(3, 4), nn.Linear(4, 2)
    model = nn.Sequential(first, second)
    x = giagrad.randn(5, 3)
    np.testing.assert_array_equal(model(x).data, second(first(x)).data)
    assert nn.Sequential()(x) is x


def test_sequential_from_ordered_dict_keeps_names():
    model = nn.Sequential(OrderedDict([("encoder", nn.Linear(3, 4)), ("head", nn.Linear(4, 1))]))
    assert list(model.state_dict()) == ["encoder.weight", "encoder.bias", "head.weight", "head.bias"]
    assert model.encoder is model[0]
    assert list(model[1:]._modules) == ["head"]


@pytest.mark.parametrize("index", [0, 1, 2, -1, -3])
def test_sequential_integer_indexing(index):
    modules = linears(3)
    assert nn.Sequential(*modules)[index] is modules[index]


@pytest.mark.parametrize("index", [3, -4])
def test_sequential_index_out_of_range(index):
    with pytest.raises(IndexError, match="Sequential"):
        nn.Sequential(*linears(3))[index]


@pytest.mark.parametrize("piece", [slice(1, None), slice(None, -1), slice(None, None, 2), slice(5, 9)])
def test_sequential_slicing_returns_a_sequential(piece):
    modules = linears(4)
    model = nn.Sequential(*modules)
    part = model[piece]
    assert type(part) is nn.Sequential
    assert list(part) == modules[piece]


def test_sequential_len_iter_append_insert_extend_pop():
    a, b, c, d, e = linears(5)
    model = nn.Sequential(a)
    assert model.append(b) is model
    model.extend([c])
    assert len(model) == 3 and list(model) == [a, b, c]
    model.insert(0, d)
    model.insert(-1, e)
    assert list(model) == [d, a, b, e, c]
    assert list(model._modules) == ["0", "1", "2", "3", "4"]
    assert model.pop(1) is a
    assert list(model) == [d, b, e, c] and list(model._modules) == ["0", "1", "2", "3"]
    with pytest.raises(IndexError):
        model.insert(9, a)


def test_sequential_setitem_delitem_renumber():
    a, b, c, d = linears(4)
    model = nn.Sequential(a, b, c)
    model[1] = d
    assert list(model) == [a, d, c] and list(model._modules) == ["0", "1", "2"]
    del model[0]
    assert list(model) == [d, c] and list(model._modules) == ["0", "1"]
    assert model[0] is model._modules["0"] is getattr(model, "0")
    del model[:]
    assert len(model) == 0


def test_sequential_rejects_non_modules():
    with pytest.raises(TypeError, match="not a Module"):
        nn.Sequential(nn.Linear(1, 1), lambda x: x)
    with pytest.raises(TypeError, match="not a Module"):
        nn.Sequential().append(3)


def test_sequential_parameters_and_grads():
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 1))
    model(giagrad.randn(2, 3)).sum().backward()
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias", "1.weight", "1.bias"]
    assert all(p.grad is not None for p in model.parameters())


# ------------------------------------------------------------------------------ ModuleList


def test_module_list_protocol():
    a, b, c, d = linears(4)
    layers = nn.ModuleList([a, b])
    assert len(layers) == 2 and layers[0] is a and layers[-1] is b and list(layers) == [a, b]
    layers.append(c)
    layers += [d]
    assert list(layers) == [a, b, c, d]
    assert list(layers[1:3]) == [b, c] and type(layers[1:3]) is nn.ModuleList
    assert list(layers[1:3]._modules) == ["0", "1"]
    layers.insert(1, nn.Identity())
    assert type(layers[1]) is nn.Identity and layers[2] is b
    del layers[1]
    assert list(layers) == [a, b, c, d] and list(layers._modules) == ["0", "1", "2", "3"]
    layers[0] = d
    assert layers[0] is d
    assert layers.pop() is d and len(layers) == 3
    combined = layers + nn.ModuleList([a])
    assert len(combined) == 4 and len(layers) == 3
    with pytest.raises(IndexError, match="ModuleList"):
        layers[7]


def test_module_list_registers_parameters_in_a_model():
    class Deep(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])

        def forward(self, x):
            for layer in self.layers:
                x = layer(x)
            return x

    model = Deep()
    assert [n for n, _ in model.named_parameters()][:3] == ["layers.0.weight", "layers.0.bias", "layers.1.weight"]
    assert model(giagrad.randn(1, 2)).shape == (1, 2)
    with pytest.raises(NotImplementedError):
        model.layers(giagrad.randn(1, 2))


def test_module_list_extend_rejects_a_single_module():
    with pytest.raises(TypeError, match="iterable"):
        nn.ModuleList().extend(nn.Linear(1, 1))


def test_module_list_repr_groups_repeated_modules_like_pytorch():
    layers = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2), nn.Linear(2, 2), nn.Identity(), nn.Linear(2, 3)])
    expected = """ModuleList(
  (0-2): 3 x Linear(in_features=2, out_features=2, bias=True)
  (3): Identity()
  (4): Linear(in_features=2, out_features=3, bias=True)
)"""
    assert repr(layers) == expected
    assert repr(nn.ModuleList()) == "ModuleList()"


# ------------------------------------------------------------------------------ ModuleDict


def test_module_dict_protocol():
    a, b, c = linears(3)
    heads = nn.ModuleDict({"a": a, "b": b})
    assert heads["a"] is a and "b" in heads and "z" not in heads and len(heads) == 2
    assert list(heads) == ["a", "b"] and list(heads.keys()) == ["a", "b"]
    assert list(heads.values()) == [a, b] and list(heads.items()) == [("a", a), ("b", b)]
    heads["c"] = c
    heads.update([("d", nn.Identity())])
    assert list(heads) == ["a", "b", "c", "d"]
    del heads["a"]
    assert heads.pop("b") is b and list(heads) == ["c", "d"]
    assert [n for n, _ in heads.named_parameters()] == ["c.weight", "c.bias"]
    with pytest.raises(KeyError, match="no module named 'zz'"):
        heads["zz"]
    heads.clear()
    assert len(heads) == 0 and list(heads.parameters()) == []


def test_module_dict_rejects_bad_entries():
    with pytest.raises(TypeError, match="not a Module"):
        nn.ModuleDict({"a": 1})
    with pytest.raises(KeyError, match=r"\."):
        nn.ModuleDict({"a.b": nn.Identity()})
    with pytest.raises(TypeError, match="pairs"):
        nn.ModuleDict().update(["ab"])
