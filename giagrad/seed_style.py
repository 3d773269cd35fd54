"""The seed's style of ``Function`` (giagrad's original contract), adapted to the engine's walk.

In that style an *instance* is applied, ``Tensor.comm(ReLU(), x)``, with its options given to
its constructor; ``forward`` receives the input tensors (and reads ``t.data``), and
``backward(partial)`` adds into its parents' ``.grad`` itself and returns nothing. The engine's
backward walks every node alike, expecting one gradient per input back: :func:`forward` records
such a node with a ``backward`` that runs the seed's one and returns what it added
(:func:`returned_gradients`). So the adapter lives here, not in the engine's loop over nodes.

This module sits below the engine (giagrad/autograd.py): it knows tensors by what they hold.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from giagrad.operands import named_error

__all__ = ["forward", "returned_gradients"]


def forward(function: Any, inputs: tuple[Any, ...], options: dict[str, Any]) -> tuple[Any, Any]:
    """Run a seed-style ``function`` (an instance) on the tensors ``inputs``: the node and its output.

    The output is what ``forward`` returned (an array, or a tensor the engine unwraps).
    """
    fn = copy.copy(function)  # a copy, so that an instance applied twice makes two nodes
    fn.parents = inputs
    seed_backward = fn.backward
    fn.backward = lambda grad: returned_gradients(fn, seed_backward, grad)
    try:
        out = fn.forward(*inputs, **options)
    except (ValueError, IndexError, TypeError) as error:
        raise named_error(error, function, inputs) from None
    return fn, out


def returned_gradients(fn: Any, seed_backward: Any, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
    """Run a seed-style ``backward`` (it adds into ``p.grad``) and return what it added per parent.

    Each distinct parent that requires grad gets a zero ``.grad`` of its shape and dtype to add
    into; what it holds afterwards is its gradient, and its own ``.grad`` (None, a leaf's earlier
    sum or a retained gradient) is put back: the engine accumulates the result as usual.
    """
    parents = fn.parents
    kept: dict[int, Any] = {}
    for p in parents:
        if p.requires_grad and id(p) not in kept:
            kept[id(p)] = p.grad
            p.grad = np.zeros_like(p.data)
    try:
        seed_backward(grad)
        grads: list[np.ndarray | None] = []
        given: set[int] = set()
        for p in parents:  # a parent used twice gets its sum once
            grads.append(p.grad if id(p) in kept and id(p) not in given else None)
            given.add(id(p))
        return tuple(grads)
    finally:
        for p in parents:
            if id(p) in kept:
                p.grad = kept[id(p)]
