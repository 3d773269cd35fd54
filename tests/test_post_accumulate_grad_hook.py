"""``Tensor.register_post_accumulate_grad_hook``: called once per backward per leaf, after accumulation."""

import copy
import gc

import numpy as np
import pytest

import giagrad
from giagrad import Function, Tensor, hooks


def recorder(log: list) -> object:
    """A hook that keeps a copy of the gradient it was shown."""
    return lambda tensor: log.append(tensor.grad.copy())


def test_called_once_with_the_sum_of_every_use_added_to_the_earlier_gradient():
    w = giagrad.tensor([1.0, 2.0], requires_grad=True)
    seen: list = []
    w.register_post_accumulate_grad_hook(recorder(seen))
    ((w * w).sum() + (w * 3).sum()).backward()  # three uses of w in the graph
    assert len(seen) == 1 and np.array_equal(seen[0], [5.0, 7.0])
    (w * 2).sum().backward()  # accumulates: the hook sees the running sum
    assert len(seen) == 2 and np.array_equal(seen[1], [7.0, 9.0])


def test_runs_before_backward_returns_and_may_change_the_gradient_in_place():
    w = giagrad.tensor([1.0, -1.0], requires_grad=True)
    w.register_post_accumulate_grad_hook(lambda t: t.grad.__imul__(10))
    (w * 2).sum().backward()
    assert np.array_equal(w.grad, [20.0, 20.0])


def test_every_hooked_leaf_sees_its_final_gradient_when_the_others_are_final_earlier():
    giagrad.manual_seed(0)
    w1 = giagrad.randn(3, 4, requires_grad=True)
    w2 = giagrad.randn(4, 2, requires_grad=True)
    x = giagrad.randn(5, 3)
    order: list = []
    w1.register_post_accumulate_grad_hook(lambda t: order.append(("w1", t.grad.copy())))
    w2.register_post_accumulate_grad_hook(lambda t: order.append(("w2", t.grad.copy())))
    ((x @ w1).relu() @ w2).sum().backward()
    assert [name for name, _ in order] == ["w2", "w1"]  # the last layer's gradient is final first
    assert np.array_equal(order[0][1], w2.grad) and np.array_equal(order[1][1], w1.grad)


def test_remove_and_with_block():
    w = giagrad.tensor([1.0], requires_grad=True)
    seen: list = []
    handle = w.register_post_accumulate_grad_hook(recorder(seen))
    with w.register_post_accumulate_grad_hook(recorder(seen)):
        (w * 1).sum().backward()
    assert len(seen) == 2
    (w * 1).sum().backward()
    assert len(seen) == 3
    handle.remove()
    handle.remove()  # twice is harmless
    (w * 1).sum().backward()
    assert len(seen) == 3
    assert not hooks.post_accumulate_grad_hooks  # nothing left: backward skips the bookkeeping


def test_backward_of_the_leaf_itself_and_a_leaf_the_backward_does_not_reach():
    w = giagrad.tensor([1.0, 2.0], requires_grad=True)
    unused = giagrad.tensor([1.0], requires_grad=True)
    seen: list = []
    unreached: list = []
    w.register_post_accumulate_grad_hook(recorder(seen))
    unused.register_post_accumulate_grad_hook(recorder(unreached))
    w.backward(np.ones(2, dtype=np.float32))
    assert len(seen) == 1 and np.array_equal(seen[0], [1.0, 1.0])
    (w * 2).sum().backward()
    assert len(seen) == 2 and unreached == []


class NoGradient(Function):
    """Passes its input through and sends no gradient back."""

    def forward(self, x):
        return x.copy()

    def backward(self, grad):
        return None


def test_a_leaf_whose_last_node_gets_no_gradient_is_still_called_once():
    w = giagrad.tensor([1.0, 2.0], requires_grad=True)
    seen: list = []
    w.register_post_accumulate_grad_hook(recorder(seen))
    (NoGradient.apply(w * 2) + w * 3).sum().backward()
    assert len(seen) == 1 and np.array_equal(seen[0], [3.0, 3.0])


class SeedScale(Function):
    """A seed-style op (an instance, backward adds into the parents' .grad)."""

    def forward(self, t1):
        return 3 * t1.data

    def backward(self, partial):
        self.parents[0].grad += 3 * partial


def test_seed_style_functions_trigger_the_hook():
    w = giagrad.tensor([1.0, 2.0], requires_grad=True)
    seen: list = []
    w.register_post_accumulate_grad_hook(recorder(seen))
    (Tensor.comm(SeedScale(), w) + w).sum().backward()
    assert len(seen) == 1 and np.array_equal(seen[0], [4.0, 4.0])


def test_only_leaves_that_require_grad_take_one():
    w = giagrad.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="non-leaf"):
        (w * 2).register_post_accumulate_grad_hook(print)
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        giagrad.tensor([1.0]).register_post_accumulate_grad_hook(print)
    with pytest.raises(TypeError, match="callable"):
        w.register_post_accumulate_grad_hook("not a function")


def test_a_deep_copy_has_no_hooks_and_a_dead_tensor_leaves_none_behind():
    w = giagrad.tensor([1.0], requires_grad=True)
    seen: list = []
    w.register_post_accumulate_grad_hook(recorder(seen))
    twin = copy.deepcopy(w)
    (twin * 1).sum().backward()
    assert seen == []
    del w
    gc.collect()
    assert not hooks.post_accumulate_grad_hooks


def test_a_gradient_hook_runs_first_and_the_post_accumulate_hook_sees_its_result():
    # as PyTorch: [('pre', [5.0, 7.0]), ('post', [50.0, 70.0])]
    w = giagrad.tensor([1.0, 2.0], requires_grad=True)
    events = []
    w.register_hook(lambda g: (events.append(("pre", g.data.tolist())), g * 10)[1])
    w.register_post_accumulate_grad_hook(lambda t: events.append(("post", t.grad.tolist())))
    ((w * w).sum() + (w * 3).sum()).backward()
    assert events == [("pre", [5.0, 7.0]), ("post", [50.0, 70.0])]
