"""register_optimizer_step_pre_hook: called before every optimizer's update, removable."""

from __future__ import annotations

import numpy as np
import pytest

import giagrad
from giagrad import optim
from giagrad.optim.optimizer import register_optimizer_step_pre_hook


def test_the_hook_runs_before_the_update_of_every_optimizer():
    seen = []
    w = giagrad.tensor([1.0, 2.0], requires_grad=True)
    v = giagrad.tensor([3.0], requires_grad=True)
    sgd, adam = optim.SGD([w], lr=0.5), optim.Adam([v], lr=0.1)

    def hook(optimizer, args, kwargs):
        seen.append((type(optimizer).__name__, w.data.copy(), args, kwargs))
        if w.grad is not None:
            w.grad *= 2  # the update must use what the hook leaves

    handle = register_optimizer_step_pre_hook(hook)
    try:
        (w * w).sum().backward()
        sgd.step()
        adam.step()
    finally:
        handle.remove()
    assert [name for name, *_ in seen] == ["SGD", "Adam"]
    assert seen[0][1].tolist() == [1.0, 2.0] and seen[0][2:] == ((), {})
    assert np.allclose(w.data, [1.0 - 0.5 * 4.0, 2.0 - 0.5 * 8.0])
    sgd.step()
    assert len(seen) == 2  # removed


def test_the_hook_must_be_callable():
    with pytest.raises(TypeError, match="callable"):
        register_optimizer_step_pre_hook("not a function")
