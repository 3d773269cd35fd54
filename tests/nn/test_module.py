"""nn.Module and nn.Parameter: registration, walking, modes, dtypes, state dicts and repr."""

import copy

import numpy as np
import pytest

import giagrad
from giagrad import nn


class MLP(nn.Module):
    def __init__(self, shared: nn.Linear | None = None):
        super().__init__()
        self.hidden = nn.Linear(4, 8)
        self.middle = shared if shared is not None else nn.Linear(8, 8)
        self.again = self.middle  # the same layer twice: its parameters must count once
        self.out = nn.Linear(8, 3)

    def forward(self, x):
        x = self.hidden(x).relu()
        x = self.again(self.middle(x).relu()).relu()
        return self.out(x)


class WithBuffers(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(giagrad.ones(3))
        self.register_buffer("running_mean", giagrad.zeros(3))
        self.register_buffer("steps", giagrad.tensor(0))
        self.register_buffer("scratch", giagrad.zeros(3), persistent=False)

    def forward(self, x):
        return x * self.scale + self.running_mean


# ------------------------------------------------------------------------------ Parameter


def test_parameter_requires_grad_and_shares_the_tensor_array():
    t = giagrad.randn(2, 3)
    p = nn.Parameter(t)
    assert isinstance(p, giagrad.Tensor) and p.requires_grad and p.is_leaf
    assert p.data is t.data
    assert not nn.Parameter(t, requires_grad=False).requires_grad
    assert nn.Parameter().shape == (0,)


def test_parameter_repr_and_light_weight():
    p = nn.Parameter(giagrad.tensor([1.0, 2.0]))
    assert repr(p).startswith("Parameter containing:\ntensor([1., 2.]")
    assert "requires_grad=True" in repr(p)
    assert not hasattr(p, "__dict__")


def test_parameter_ops_return_plain_tensors():
    p = nn.Parameter(giagrad.ones(2))
    assert type(p * 2) is giagrad.Tensor
    assert type(p.detach()) is giagrad.Tensor


def test_integer_parameter_cannot_require_grad():
    with pytest.raises(TypeError, match="floating"):
        nn.Parameter(np.arange(3))


# ----------------------------------------------------------------------- the subclass pattern


def test_subclass_forward_and_backward_reach_every_parameter():
    model = MLP()
    out = model(giagrad.randn(5, 4))
    assert out.shape == (5, 3) and out.dtype == np.float32
    out.sum().backward()
    for name, param in model.named_parameters():
        assert param.grad is not None, name
        assert param.grad.shape == param.shape and param.grad.dtype == np.float32


def test_named_parameters_in_definition_order_with_shared_layer_once():
    model = MLP()
    names = [name for name, _ in model.named_parameters()]
    assert names == ["hidden.weight", "hidden.bias", "middle.weight", "middle.bias", "out.weight", "out.bias"]
    params = list(model.parameters())
    assert len(params) == 6 and len({id(p) for p in params}) == 6
    assert params[0] is model.hidden.weight
    every = [name for name, _ in model.named_parameters(remove_duplicate=False)]
    assert "again.weight" in every


def test_a_parameter_shared_between_two_modules_is_listed_once():
    shared = nn.Linear(8, 8)
    model = MLP(shared=shared)
    model.out.weight = nn.Parameter(giagrad.randn(3, 8))
    model.extra = nn.Linear(8, 8)
    model.extra.weight = shared.weight
    ids = [id(p) for p in model.parameters()]
    assert len(ids) == len(set(ids)) == 7
    assert model.num_parameters() == 4 * 8 + 8 + 8 * 8 + 8 + 3 * 8 + 3 + 8


def test_named_parameters_prefix_and_recurse():
    model = MLP()
    assert [n for n, _ in model.hidden.named_parameters(prefix="h")] == ["h.weight", "h.bias"]
    assert list(model.named_parameters(recurse=False)) == []
    holder = WithBuffers()
    assert [n for n, _ in holder.named_parameters(recurse=False)] == ["scale"]


def test_children_and_modules():
    model = MLP()
    assert list(model.children()) == [model.hidden, model.middle, model.out]
    assert [n for n, _ in model.named_children()] == ["hidden", "middle", "out"]
    assert [n for n, _ in model.named_modules()] == ["", "hidden", "middle", "out"]
    assert list(model.modules())[0] is model


def test_attribute_lookup_is_a_plain_attribute():
    model = MLP()
    assert "hidden" in vars(model) and model.hidden is model._modules["hidden"]
    assert "weight" in dir(model.hidden)


def test_reassigning_replaces_in_place_and_keeps_order():
    model = MLP()
    new = nn.Linear(4, 8)
    model.hidden = new
    assert model._modules["hidden"] is new and list(model._modules)[0] == "hidden"
    model.hidden.bias = None
    assert [n for n, _ in model.hidden.named_parameters()] == ["weight"]
    assert "hidden.bias" not in model.state_dict()


def test_assigning_a_plain_tensor_to_a_parameter_name_raises():
    layer = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="parameter 'weight'"):
        layer.weight = giagrad.zeros(2, 2)
    with pytest.raises(TypeError, match="child module"):
        MLP().hidden = 3


def test_assignment_before_super_init_raises():
    class Broken(nn.Module):
        def __init__(self):
            self.layer = nn.Linear(2, 2)

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Broken()


def test_deleting_unregisters():
    model = MLP()
    del model.out
    assert "out" not in model._modules and not hasattr(model, "out")
    assert len(list(model.parameters())) == 4


def test_overwriting_a_module_with_a_parameter_moves_it_between_registries():
    model = MLP()
    del model.out
    model.out = nn.Parameter(giagrad.zeros(1))
    assert "out" in model._parameters and "out" not in model._modules


def test_register_parameter_buffer_and_module_names_are_checked():
    module = nn.Module()
    module.register_parameter("w", nn.Parameter(giagrad.zeros(2)))
    module.add_module("child", nn.Identity())
    assert [n for n, _ in module.named_parameters()] == ["w"]
    with pytest.raises(KeyError, match=r"\."):
        module.register_buffer("a.b", giagrad.zeros(1))
    with pytest.raises(KeyError, match="empty"):
        module.add_module("", nn.Identity())
    with pytest.raises(KeyError, match="already exists"):
        module.register_buffer("training", giagrad.zeros(1))
    with pytest.raises(TypeError, match="Parameter"):
        module.register_parameter("v", giagrad.zeros(2))
    with pytest.raises(TypeError, match="buffer"):
        module.register_buffer("b", np.zeros(2))
    with pytest.raises(TypeError, match="not a Module"):
        module.add_module("x", 3)


def test_get_submodule():
    model = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Identity()))
    assert model.get_submodule("1.0") is model[1][0]
    assert model.get_submodule("") is model
    with pytest.raises(AttributeError, match="no submodule"):
        model.get_submodule("1.5")


def test_forward_must_be_written():
    with pytest.raises(NotImplementedError, match="forward"):
        nn.Module()(1)


# --------------------------------------------------------------------------------- buffers


def test_buffers_are_registered_and_not_trained():
    module = WithBuffers()
    assert [n for n, _ in module.named_buffers()] == ["running_mean", "steps", "scratch"]
    assert [n for n, _ in module.named_parameters()] == ["scale"]
    assert list(module.state_dict()) == ["scale", "running_mean", "steps"]
    module.running_mean = giagrad.ones(3)  # reassignment updates the buffer
    assert module._buffers["running_mean"] is module.running_mean
    with pytest.raises(TypeError, match="buffer"):
        module.running_mean = [1.0, 2.0, 3.0]


def test_buffers_are_found_in_children():
    model = nn.Sequential(WithBuffers())
    assert [n for n, _ in model.named_buffers()] == ["0.running_mean", "0.steps", "0.scratch"]
    assert len(list(model.buffers())) == 3


# ---------------------------------------------------------------------------- modes, grads


def test_train_and_eval_propagate_to_every_module():
    model = MLP()
    assert all(m.training for m in model.modules())
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())
    model.train(False)
    assert not model.out.training
    with pytest.raises(ValueError, match="bool"):
        model.train("yes")


def test_zero_grad_to_none_and_in_place():
    model = MLP()
    model(giagrad.randn(2, 4)).sum().backward()
    grad = model.hidden.weight.grad
    model.zero_grad(set_to_none=False)
    assert model.hidden.weight.grad is grad and not grad.any()
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    model.zero_grad(set_to_none=False)  # grads of None stay None
    assert all(p.grad is None for p in model.parameters())


def test_requires_grad_freezes_and_num_parameters_counts_trainable():
    model = MLP()
    total = model.num_parameters()
    assert total == (4 * 8 + 8) + (8 * 8 + 8) + (8 * 3 + 3)
    model.hidden.requires_grad_(False)
    assert not model.hidden.weight.requires_grad and model.out.weight.requires_grad
    assert model.num_parameters(trainable_only=True) == total - (4 * 8 + 8)


def test_apply_visits_children_first_then_self():
    model = MLP()
    visited = []
    assert model.apply(lambda m: visited.append(type(m).__name__)) is model
    assert visited == ["Linear", "Linear", "Linear", "MLP"]

    def zero_linear(m):
        if isinstance(m, nn.Linear):
            nn.init.zeros_(m.weight)

    model.apply(zero_linear)
    assert not model.out.weight.data.any()


# ------------------------------------------------------------------------------- dtypes


def test_double_and_float_convert_in_place_keeping_parameter_objects():
    model = WithBuffers()
    scale = model.scale
    scale.grad = np.ones(3, dtype=np.float32)
    assert model.double() is model
    assert model.scale is scale and scale.dtype == np.float64 and scale.grad.dtype == np.float64
    assert model.running_mean.dtype == np.float64
    assert model.steps.dtype == np.int64  # integer buffers are left alone
    model.float()
    assert scale.dtype == np.float32 and model.running_mean.dtype == np.float32
    with pytest.raises(TypeError, match="floating"):
        model.to(np.int32)


def test_deepcopy_copies_arrays_and_keeps_sharing():
    model = MLP()
    clone = copy.deepcopy(model)
    assert clone.again is clone.middle and clone.middle is not model.middle
    assert clone.hidden.weight.data is not model.hidden.weight.data
    np.testing.assert_array_equal(clone.hidden.weight.data, model.hidden.weight.data)
    assert isinstance(clone.hidden.weight, nn.Parameter)
    assert clone.hidden._parameters["weight"] is clone.hidden.weight


# ----------------------------------------------------------------------------- state dicts


def test_state_dict_keys_and_sharing():
    model = MLP()
    state = model.state_dict()
    assert list(state) == ["hidden.weight", "hidden.bias", "middle.weight", "middle.bias",
                           "again.weight", "again.bias", "out.weight", "out.bias"]
    assert state["hidden.weight"].data is model.hidden.weight.data
    assert not state["hidden.weight"].requires_grad
    assert model.state_dict(keep_vars=True)["hidden.weight"] is model.hidden.weight
    sequential = nn.Sequential(nn.Linear(2, 3), nn.Identity(), nn.Linear(3, 1))
    assert list(sequential.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_load_state_dict_copies_into_existing_arrays_and_reproduces_outputs():
    source, target = MLP(), MLP()
    x = giagrad.randn(4, 4)
    weight_array = target.hidden.weight.data
    result = target.load_state_dict(source.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert target.hidden.weight.data is weight_array
    np.testing.assert_array_equal(target(x).data, source(x).data)


def test_load_state_dict_accepts_numpy_and_keeps_destination_dtype():
    model = nn.Linear(2, 2)
    state = {k: v.data.astype(np.float64) + 1.0 for k, v in model.state_dict().items()}
    model.load_state_dict(state)
    assert model.weight.dtype == np.float32
    np.testing.assert_allclose(model.weight.data, state["weight"], rtol=1e-6)


def test_load_state_dict_marks_parameters_modified():
    # A graph recorded before loading must not backpropagate through the overwritten weights.
    model = nn.Linear(2, 2)
    out = model(giagrad.randn(1, 2, requires_grad=True)).sum()
    model.load_state_dict(nn.Linear(2, 2).state_dict())
    with pytest.raises(RuntimeError, match="modified in place"):
        out.backward()


def test_load_state_dict_lists_every_problem_and_changes_nothing():
    model = WithBuffers()
    before = {k: v.data.copy() for k, v in model.state_dict().items()}
    state = {
        "scale": giagrad.ones(4),                       # wrong shape
        "running_mean": [1.0, 2.0, 3.0],                # not an array
        "bogus": giagrad.ones(1),                       # unexpected
        "scratch": giagrad.ones(3),                     # non-persistent: unexpected
    }                                                   # "steps" is missing
    with pytest.raises(RuntimeError) as error:
        model.load_state_dict(state)
    message = str(error.value)
    for fragment in ['missing key "steps"', 'unexpected key "bogus"', 'unexpected key "scratch"',
                     'size mismatch for "scale"', "(4,)", "(3,)", '"running_mean" is a list', "WithBuffers"]:
        assert fragment in message
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value.data, before[key])


def test_load_state_dict_one_bad_shape_stops_all_good_copies():
    model = MLP()
    before = model.hidden.weight.data.copy()
    state = MLP().state_dict()
    state["out.bias"] = giagrad.zeros(4)
    with pytest.raises(RuntimeError, match="out.bias"):
        model.load_state_dict(state)
    np.testing.assert_array_equal(model.hidden.weight.data, before)


def test_load_state_dict_non_strict_reports_keys():
    model = WithBuffers()
    result = model.load_state_dict({"scale": giagrad.full((3,), 2.0), "extra": giagrad.ones(1)}, strict=False)
    assert result.missing_keys == ["running_mean", "steps"]
    assert result.unexpected_keys == ["extra"]
    np.testing.assert_array_equal(model.scale.data, [2, 2, 2])
    with pytest.raises(RuntimeError, match="size mismatch"):  # shapes are checked even when not strict
        model.load_state_dict({"scale": giagrad.ones(2)}, strict=False)


def test_load_state_dict_rejects_non_numeric_arrays_and_non_mappings():
    model = nn.Linear(1, 1)
    with pytest.raises(RuntimeError, match="numeric"):
        model.load_state_dict({"weight": np.array([["a"]]), "bias": np.zeros(1)})
    with pytest.raises(TypeError, match="dict"):
        model.load_state_dict([("weight", np.zeros((1, 1)))])


# ------------------------------------------------------------------------------------ repr


def test_repr_matches_pytorch_layout_for_a_nested_model():
    model = nn.Sequential(
        nn.Flatten(),
        nn.Linear(784, 128),
        nn.Sequential(nn.Linear(128, 64, bias=False), nn.Identity()),
        nn.Linear(64, 10),
    )
    expected = """Sequential(
  (0): Flatten(start_dim=1, end_dim=-1)
  (1): Linear(in_features=784, out_features=128, bias=True)
  (2): Sequential(
    (0): Linear(in_features=128, out_features=64, bias=False)
    (1): Identity()
  )
  (3): Linear(in_features=64, out_features=10, bias=True)
)"""
    assert repr(model) == expected


def test_repr_of_a_subclass_with_extra_repr_and_children():
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 2)

        def extra_repr(self):
            return "width=2"

    assert repr(Block()) == "Block(\n  width=2\n  (fc): Linear(in_features=2, out_features=2, bias=True)\n)"
    assert repr(nn.Module()) == "Module()"
