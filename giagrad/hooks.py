"""The handle every ``register_*hook`` returns (tensors' and modules'), the one way to register,
running a tensor's gradient hooks, and the registry of post-accumulate-grad hooks.

It sits low in the layers so that ``Tensor.register_hook`` (the engine) and the module hooks of
``giagrad.nn`` share one class, as PyTorch's ``torch.utils.hooks.RemovableHandle``; backward
(giagrad/autograd.py) calls the few functions below where a tensor has hooks. Below the engine,
it knows tensors by what they hold (``._hooks``, ``._ctx``).
"""

from __future__ import annotations

import itertools
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["RemovableHandle", "register", "run_tensor_hooks", "register_post_accumulate_grad_hook",
           "PostAccumulateGradHooks"]

_next_id = itertools.count()


class RemovableHandle:
    """What a ``register_*_hook`` returns: ``remove()`` unregisters the hook (also as a ``with`` block).

    Examples
    --------
    >>> layer = nn.Linear(4, 2)
    >>> handle = layer.register_forward_hook(lambda module, args, output: print(output.shape))
    >>> _ = layer(giagrad.randn(3, 4))
    (3, 2)
    >>> handle.remove()
    >>> _ = layer(giagrad.randn(3, 4))   # the hook is gone: nothing printed
    """

    def __init__(self, registry: dict[int, Any], on_empty: Callable[[], None] | None = None) -> None:
        self.id = next(_next_id)
        self._registry = registry
        self._on_empty = on_empty  # called when removing this hook leaves the registry empty

    def remove(self) -> None:
        self._registry.pop(self.id, None)
        if self._on_empty is not None and not self._registry:
            self._on_empty()

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.remove()


def register(registry: OrderedDict[int, Any], entry: Any, prepend: bool) -> RemovableHandle:
    """Add ``entry`` to ``registry`` (first when ``prepend``) and return its handle."""
    if not callable(entry if not isinstance(entry, tuple) else entry[0]):
        raise TypeError(f"register hook: expected a callable, got {type(entry).__name__}")
    handle = RemovableHandle(registry)
    registry[handle.id] = entry
    if prepend:
        registry.move_to_end(handle.id, last=False)
    return handle


def run_tensor_hooks(tensor: Any, grad: np.ndarray, tensor_class: Any) -> np.ndarray:
    """Run ``tensor``'s gradient hooks (``register_hook``) in order; each may replace the gradient.

    A hook receives the gradient as a ``tensor_class`` (``giagrad.Tensor``) and may return a
    replacement of the same shape (a tensor or an array).
    """
    for hook in list(tensor._hooks.values()):
        result = hook(tensor_class._make(grad, None))
        if result is not None:
            replaced = np.asarray(result.data if isinstance(result, tensor_class) else result)
            if replaced.shape != grad.shape:
                raise RuntimeError(f"register_hook: a hook returned a gradient of shape {replaced.shape} for a "
                                   f"tensor of shape {grad.shape}")
            grad = replaced.astype(grad.dtype, copy=False)
    return grad


# ------------------------------------------------------------ post-accumulate-grad hooks (leaves)
# id(leaf) -> {handle id: hook}. A registry beside the tensors, not a slot on them: op results (the
# engine's hot path) pay nothing, backward pays one test of this dict being empty, and a deep copy
# of a model does not carry the hooks of the original (as in PyTorch). An entry goes when its
# tensor dies (weakref.finalize), so a reused id never finds stale hooks.
post_accumulate_grad_hooks: dict[int, dict[int, Callable[[Any], None]]] = {}


def register_post_accumulate_grad_hook(leaf: Any, hook: Callable[[Any], None]) -> RemovableHandle:
    """Register ``hook(leaf)`` to run once ``leaf.grad`` is final in each backward (the engine calls it)."""
    key = id(leaf)
    hooks = post_accumulate_grad_hooks.get(key)
    if hooks is None:
        hooks = post_accumulate_grad_hooks[key] = {}
        weakref.finalize(leaf, _forget, key, hooks)
    handle = RemovableHandle(hooks, on_empty=lambda: _forget(key, hooks))
    hooks[handle.id] = hook
    return handle


def _forget(key: int, hooks: dict[int, Callable[[Any], None]]) -> None:
    # The tensor died (its id may be reused) or lost its last hook: its entry goes, unless it is
    # already another one.
    if post_accumulate_grad_hooks.get(key) is hooks:
        del post_accumulate_grad_hooks[key]


def leaves_by_last_node(order: list[Any]) -> dict[int | None, list[Any]]:
    """For the leaves of a graph that have post-accumulate hooks: id(node) -> the leaves whose last
    use, in backward's walk over ``order``, is that node (their gradient is final once it has run);
    None -> the leaves with gradient hooks too, whose gradient is accumulated only at the end."""
    last: dict[int, tuple[Any, Any]] = {}
    for node in reversed(order):
        for parent in node._ctx.parents:  # nodes in the order are never leaves
            if parent._ctx is None and id(parent) in post_accumulate_grad_hooks:
                last[id(parent)] = (parent, node)
    by_node: dict[int | None, list[Any]] = {}
    for leaf, node in last.values():
        by_node.setdefault(None if leaf._hooks else id(node), []).append(leaf)
    return by_node


def run_post_accumulate_grad_hooks(leaves: list[Any], reached: set[int]) -> None:
    """Call the hooks of those ``leaves`` that got a gradient in this backward (ids in ``reached``)."""
    for leaf in leaves:
        if id(leaf) in reached:
            for hook in list(post_accumulate_grad_hooks.get(id(leaf), {}).values()):
                hook(leaf)


class PostAccumulateGradHooks:
    """One backward's post-accumulate-grad hooks: each hooked leaf's run once, when its gradient is final.

    Made only when some leaf has such hooks. ``order`` is the nodes in backward's order
    reversed (``_topological_order``); backward adds to ``reached`` the leaves that got a
    gradient and calls :meth:`node_done` after each node and :meth:`finish` at the end.
    """

    def __init__(self, order: list[Any]) -> None:
        self.by_node = leaves_by_last_node(order)
        self.reached: set[int] = set()

    def node_done(self, node: Any) -> None:
        leaves = self.by_node.pop(id(node), None)
        if leaves is not None:
            run_post_accumulate_grad_hooks(leaves, self.reached)

    def finish(self) -> None:
        """Leaves whose last node got no gradient, or whose gradient waited for gradient hooks."""
        run_post_accumulate_grad_hooks([leaf for leaves in self.by_node.values() for leaf in leaves], self.reached)
