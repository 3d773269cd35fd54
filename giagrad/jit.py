"""Capture a training step once, then replay its numpy work: an explicit opt-in for speed.

A training step of a small model (an MLP on MNIST) spends a good share of its time in Python
bookkeeping: module calls, argument checks, building the graph, sorting it for backward. None of
it changes from one batch to the next when the shapes stay the same. :func:`capture` wraps such a
step. Its first two calls for given input shapes run eagerly (as without it) while recording
what happens: every ``Function`` forward with where its inputs come from, the backward walk (which
node's backward runs, where each gradient goes, where gradients add up) and the calls to
``optimizer.zero_grad()`` / ``optimizer.step()``. When the two recordings agree, later calls with
inputs of those shapes and dtypes *replay* the recording: the same ``Function`` objects' ``forward``
and ``backward`` run on the new batch's arrays, the gradients land in the parameters' ``.grad``,
and the optimizer's own ``step`` runs (reading the current learning rate), with no tensor created
and no graph built.

What replay cannot see is listed in ``docs/jit.md``: in short, the step must do the same numpy
work for every batch of the same shapes. Capture refuses (``CaptureError``) what it can detect
otherwise: random numbers drawn by the step (dropout in training mode), tensors changed in place
outside the optimizer (batch norm's running statistics in training mode), values that differ
between the two recordings although they do not come from the inputs (a mask drawn by NumPy, a
statistic computed in Python), gradient hooks and graphs that began outside the step.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from giagrad import anomaly, autograd, hooks, versions
from giagrad import random as giagrad_random
from giagrad.autograd import Function, TensorBase
from giagrad.grad_mode import _state as grad_state
from giagrad.nn import module as nn_module
from giagrad.optim.optimizer import Optimizer
from giagrad.tensor import Tensor

__all__ = ["capture", "CapturedStep", "CaptureError"]


class CaptureError(RuntimeError):
    """A step cannot be replayed: it does something a recording cannot repeat (the message says what).

    Raised after the eager call that revealed it, which has run in full (its update is applied).
    """


def capture(step: Callable[..., Any]) -> CapturedStep:
    """Record a training step on its first calls and replay the recorded numpy work afterwards.

    ``step`` takes tensors (a batch) and possibly other arguments, runs the forward pass, calls
    ``loss.backward()`` and ``optimizer.step()`` (and ``zero_grad``), and returns the loss tensor
    (or a tuple of tensors it computed, or None). Calls are grouped by the shapes and dtypes of
    the tensor arguments and the values of the others: the first two calls of a group run eagerly
    while being recorded, and from the third on, the group's calls replay the recording. A new
    shape (the last, smaller batch of an epoch) is captured in its own group.

    Replay gives the same parameters as eager training (the same numpy calls in the same order).
    It cannot see Python decisions that depend on values, nor anything done with numpy outside
    the ops: see ``docs/jit.md`` for the list. After ``model.train()``/``model.eval()`` or a change
    of a model's parameters or submodules, the next call captures again.

    Parameters
    ----------
    step : callable
        The training step, ``step(*batch) -> loss``.

    Returns
    -------
    CapturedStep
        Call it like ``step``. On replay the returned tensors hold the new values but carry no
        graph (``requires_grad`` is False): call ``.item()`` on the loss, not ``backward()``.

    Raises
    ------
    CaptureError
        When the recording shows that the step cannot be replayed (random numbers, in-place
        changes outside the optimizer, a hook, the two recordings disagreeing, ...).

    Examples
    --------
    >>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    >>> optimizer = giagrad.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    >>> loss_fn = nn.CrossEntropyLoss()
    >>> from giagrad import jit
    >>> @jit.capture
    ... def train_step(x, y):
    ...     optimizer.zero_grad()
    ...     loss = loss_fn(model(x), y)
    ...     loss.backward()
    ...     optimizer.step()
    ...     return loss
    >>> x, y = giagrad.randn(16, 4), giagrad.tensor(np.arange(16) % 3)
    >>> losses = [train_step(x, y).item() for _ in range(5)]   # 2 recorded, 3 replayed
    >>> train_step.replays
    3
    """
    if not callable(step):
        raise TypeError(f"jit.capture: expected a callable step, got {type(step).__name__}")
    return CapturedStep(step)


class CapturedStep:
    """A training step wrapped by :func:`capture`: call it as the step itself.

    Attributes
    ----------
    captures : int
        How many calls ran eagerly while being recorded.
    replays : int
        How many calls replayed a recording.
    """

    def __init__(self, step: Callable[..., Any]) -> None:
        functools.update_wrapper(self, step)
        self.step = step
        self.captures = 0
        self.replays = 0
        # per group of calls (shapes, dtypes, other arguments): the first recording, then the program
        self._first: dict[Any, _Recording] = {}
        self._programs: dict[Any, _Program] = {}
        self._structure_version = nn_module.structure_version

    def __call__(self, *args: Any) -> Any:
        if anomaly.enabled:  # anomaly mode checks every node as it runs: only eager does that
            return self.step(*args)
        try:
            key = (grad_state.enabled,
                   *[(a.data.shape, a.data.dtype) if isinstance(a, TensorBase) else a for a in args])
            program = self._programs.get(key)
        except TypeError:  # an unhashable argument
            raise TypeError("jit.capture: a captured step takes tensors and hashable values (numbers, strings); "
                            f"got {', '.join(type(a).__name__ for a in args)}") from None
        if self._structure_version != nn_module.structure_version:
            self.reset()  # a module changed mode or parameters: every recording may be stale
            program = None
        if program is not None:
            self.replays += 1
            return program.replay(args)
        return self._record(key, args)

    def reset(self) -> None:
        """Forget every recording: the next calls capture again."""
        self._first.clear()
        self._programs.clear()
        self._structure_version = nn_module.structure_version

    def _record(self, key: Any, args: tuple[Any, ...]) -> Any:
        self.captures += 1
        recording = _Recording(self.step, args)
        result = recording.run()
        first = self._first.pop(key, None)
        if first is None:
            self._first[key] = recording
        else:
            difference = first.difference(recording)
            if difference:
                raise CaptureError(f"jit.capture: two calls of {_name(self.step)} with the same shapes did different "
                                   f"work ({difference}): the step depends on something replay cannot see "
                                   "(see docs/jit.md); run it without capture")
            self._programs[key] = _Program(recording)
        return result


def _name(step: Callable[..., Any]) -> str:
    return getattr(step, "__qualname__", type(step).__name__)


# ----------------------------------------------------------------------------------- recording

# The methods a step calls that replay repeats as calls (they read the current lr, state, ...).
_ENGINE_BACKWARD = TensorBase.backward
_RECORDED_METHODS = ((TensorBase, "backward"), (Optimizer, "step"), (Optimizer, "zero_grad"),
                     (nn_module.Module, "zero_grad"))


class _Recording:
    """One eager call of the step, watched: the ops, the backward walks and the optimizer calls.

    Values live in numbered slots: the tensor arguments, the leaves the ops read (parameters and
    constants, read live at replay) and every op's output. Tensors are kept alive while recording
    so that ``id`` keeps naming them.
    """

    def __init__(self, step: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.step = step
        self.args = args
        self.slot_of: dict[int, int] = {}
        self.tensors: list[TensorBase] = []  # by slot
        self.arrays: list[np.ndarray] = []  # by slot, as recorded (to notice in-place changes)
        self.inputs: list[tuple[int, int]] = []  # (slot, argument position)
        self.leaves: list[tuple[int, TensorBase]] = []
        self.events: list[tuple[Any, ...]] = []
        self.outputs: Any = None
        self.problem: str | None = None
        self.clock = 0
        self.watched: list[tuple[TensorBase, np.ndarray, np.ndarray | None]] = []

    # ------------------------------------------------------------------------ the eager call

    def run(self) -> Any:
        if autograd.tracer is not None:
            raise RuntimeError("jit.capture: a captured step called another captured step while it was recorded")
        for position, arg in enumerate(self.args):
            if isinstance(arg, TensorBase):
                if arg.requires_grad:
                    self.refuse(f"argument {position} requires grad (arguments are the batch; parameters are "
                                "read from the model)")
                self.inputs.append((self._new_slot(arg), position))
        generator = giagrad_random.generator()
        generator_state = generator.bit_generator.state
        originals = [(cls, name, cls.__dict__[name]) for cls, name in _RECORDED_METHODS]
        for cls, name, method in originals:
            setattr(cls, name, self._recorded_method(method))
        self.clock = versions.clock
        autograd.tracer = self
        try:
            result = self.step(*self.args)
        finally:
            autograd.tracer = None
            for cls, name, method in originals:
                setattr(cls, name, method)
        self._check_unseen_changes()
        if giagrad_random.generator() is not generator or generator.bit_generator.state != generator_state:
            self.refuse("the step drew random numbers from giagrad's generator (dropout in training mode?), "
                        "which replay would not draw again; capture the step in eval mode or without dropout")
        self.outputs = self._output_structure(result)
        if self.problem is not None:
            raise CaptureError(f"jit.capture: {_name(self.step)} cannot be replayed: {self.problem}. "
                               "This call ran eagerly")
        return result

    def refuse(self, reason: str) -> None:
        if self.problem is None:
            self.problem = reason

    def _recorded_method(self, method: Callable[..., Any]) -> Callable[..., Any]:
        recording = self

        @functools.wraps(method)
        def recorded(obj: Any, *args: Any, **kwargs: Any) -> Any:
            recording._check_unseen_changes()
            if method is _ENGINE_BACKWARD:
                recording.record_backward(obj, *args, **kwargs)
            else:
                if args and callable(args[0]) or "closure" in kwargs:
                    recording.refuse(f"{type(obj).__name__}.{method.__name__} was given a closure")
                recording.events.append(("call", method, obj, args, kwargs))
            result = method(obj, *args, **kwargs)
            # what the optimizer and backward change (in place) is what replay repeats
            recording.clock = versions.clock
            recording._watch_parameters()
            return result

        return recorded

    def _watch_parameters(self) -> None:
        """Remember the parameters' values and gradients, to notice changes replay would not repeat."""
        self.watched = [(leaf, leaf.data.copy(), None if leaf.grad is None else leaf.grad.copy())
                        for _, leaf in self.leaves if leaf.requires_grad]

    def _check_unseen_changes(self) -> None:
        self._check_clock()
        for leaf, data, grad in self.watched:
            now = leaf.grad
            same_grad = now is None if grad is None else now is not None and np.array_equal(now, grad, equal_nan=True)
            if not (same_grad and np.array_equal(leaf.data, data, equal_nan=True)):
                self.refuse(f"a parameter of shape {leaf.data.shape} or its gradient changed outside backward and "
                            "the optimizer (gradient clipping, an assignment through .data, ...), which replay "
                            "would not repeat")
                self.watched = []
                return

    def _check_clock(self) -> None:
        if versions.clock != self.clock:
            self.refuse("a tensor was changed in place during the step outside the optimizer (batch norm's "
                        "running statistics in training mode, an in-place op, ...), which replay would not repeat")
            self.clock = versions.clock

    def _new_slot(self, tensor: TensorBase) -> int:
        slot = len(self.tensors)
        self.slot_of[id(tensor)] = slot
        self.tensors.append(tensor)
        self.arrays.append(tensor.data)
        return slot

    def _source(self, tensor: TensorBase) -> int:
        """The slot holding ``tensor``'s value; a leaf seen for the first time gets one."""
        slot = self.slot_of.get(id(tensor))
        if slot is not None:
            if tensor.data is not self.arrays[slot]:
                self.refuse(f"a tensor of shape {tensor.data.shape} was changed in place after an op used it")
            return slot
        if tensor._ctx is not None:
            self.refuse(f"an op used a tensor of shape {tensor.data.shape} computed before the step, with a graph "
                        "(detach it, or compute it inside the step)")
        slot = self._new_slot(tensor)
        self.leaves.append((slot, tensor))
        return slot

    # ----------------------------------------------------------------- what the engine reports

    def record_op(self, fn: Function, inputs: tuple[TensorBase, ...], options: dict[str, Any],
                  result: TensorBase) -> None:
        self._check_clock()
        if "backward" in fn.__dict__:  # the seed's style: forward takes tensors, backward adds into .grad
            self.refuse(f"{type(fn).__name__} is a Function in the seed's style (applied as an instance), which "
                        "replay does not support; write it in the arrays-in, gradients-out style")
        sources = tuple([self._source(x) for x in inputs])
        out = self._new_slot(result)
        self.events.append(("op", fn, sources, options, out, result.data.dtype, result.data.shape))

    def record_backward(self, root: TensorBase, gradient: Any = None, retain_graph: bool = False) -> None:
        if not root.requires_grad:
            return  # the engine raises
        seed = np.array(autograd._seed_gradient(root, gradient))  # the engine's rule (and errors), kept as a copy
        if hooks.post_accumulate_grad_hooks:
            self.refuse("a post-accumulate-grad hook is registered")
        root_slot = self.slot_of.get(id(root))
        if root._ctx is None or root_slot is None:
            self.refuse("backward was called on a tensor the step did not compute")
            return
        nodes = []
        for node in reversed(autograd._topological_order(root)):
            slot = self.slot_of.get(id(node))
            if slot is None:
                self.refuse("backward reaches a graph built before the step")
                return
            if node._hooks or node._retains_grad:
                self.refuse("a tensor in the graph has a gradient hook or retains its gradient")
            fn = node._ctx
            routes: list[tuple[bool, Any, TensorBase] | None] = []
            for parent in fn.parents:  # type: ignore[union-attr]
                if not parent.requires_grad:
                    routes.append(None)
                elif parent._ctx is None:
                    if parent._hooks:
                        self.refuse("a leaf in the graph has a gradient hook")
                    routes.append((True, parent, parent))
                else:
                    routes.append((False, self.slot_of.get(id(parent)), parent))
            nodes.append((fn, slot, tuple(routes)))
        self.events.append(("backward", root_slot, seed, tuple(nodes), retain_graph))

    def _output_structure(self, result: Any) -> Any:
        """What the step returned, with tensors replaced by their slots (to rebuild it at replay)."""
        if result is None:
            return None
        if isinstance(result, TensorBase):
            slot = self.slot_of.get(id(result))
            if slot is None or result.data is not self.arrays[slot]:
                self.refuse("the step returned a tensor it did not compute (or changed in place)")
            return ("tensor", slot)
        if isinstance(result, (tuple, list)):
            return (type(result), [self._output_structure(item) for item in result])
        self.refuse(f"the step returned a {type(result).__name__}; return the loss tensor (call .item() outside "
                    "the step), a tuple of tensors, or None")
        return None

    # ------------------------------------------------------------------ comparing two recordings

    def difference(self, other: _Recording) -> str:
        """How ``other`` did other work than this recording ('' when the same)."""
        if len(self.tensors) != len(other.tensors) or len(self.events) != len(other.events):
            return f"{len(self.events)} then {len(other.events)} ops and calls"
        if [slot for slot, _ in self.leaves] != [slot for slot, _ in other.leaves]:
            return "the tensors read by the ops differ"
        for (_, mine), (_, theirs) in zip(self.leaves, other.leaves, strict=True):
            if mine is not theirs and (mine.requires_grad or theirs.requires_grad or not _same(mine.data, theirs.data)):
                return f"a tensor of shape {mine.data.shape} read by the ops has other values that the inputs " \
                       "do not explain (random, or computed in Python)"
        for index, (mine, theirs) in enumerate(zip(self.events, other.events, strict=True)):
            if mine[0] != theirs[0]:
                return f"event {index} is a {mine[0]} then a {theirs[0]}"
            if mine[0] == "op":
                _, fn, sources, options, out, dtype, shape = mine
                _, fn2, sources2, options2, out2, dtype2, shape2 = theirs
                if type(fn) is not type(fn2) or sources != sources2 or out != out2 or dtype != dtype2 \
                        or shape != shape2:
                    return f"op {index} is {type(fn).__name__} then {type(fn2).__name__}"
                if not _same(options, options2):
                    return f"the options of {type(fn).__name__} (op {index}) differ"
            elif mine[0] == "call":
                if mine[1] is not theirs[1] or mine[2] is not theirs[2] or not _same(mine[3:], theirs[3:]):
                    return f"call {index} ({mine[1].__name__}) differs"
            elif not _same(_backward_shape(mine), _backward_shape(theirs)):
                return f"the backward walk {index} differs"
        if not _same(self.outputs, other.outputs):
            return "the returned values differ"
        return ""


def _backward_shape(event: tuple[Any, ...]) -> tuple[Any, ...]:
    """A backward walk with its leaves named by identity and its nodes by slot (comparable across calls)."""
    _, root, seed, nodes, retain = event
    walk = [(type(fn), slot, [None if route is None else (route[0], id(route[1]) if route[0] else route[1])
                              for route in routes]) for fn, slot, routes in nodes]
    return root, seed, walk, retain


def _same(a: Any, b: Any) -> bool:
    """Equal structure and values; arrays compared by value (shape, dtype and elements)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return a is b or (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == b.shape
                          and a.dtype == b.dtype and bool(np.array_equal(a, b)))
    if isinstance(a, TensorBase) or isinstance(b, TensorBase):
        return a is b
    if isinstance(a, (tuple, list)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    try:
        return type(a) is type(b) and bool(a == b)
    except (TypeError, ValueError):
        return a is b


# -------------------------------------------------------------------------------------- replay


class _Program:
    """A recording ready to replay: flat lists the replay loop reads without further checks."""

    def __init__(self, recording: _Recording) -> None:
        self.slot_count = len(recording.tensors)
        self.inputs = recording.inputs
        self.leaves = recording.leaves
        self.outputs = recording.outputs
        self.steps: list[tuple[str, Any]] = []
        for event in recording.events:
            kind = event[0]
            if kind == "op":
                _, fn, sources, options, out, dtype, _ = event
                op = (fn.forward, sources, options, out, dtype)
                if self.steps and self.steps[-1][0] == "forward":  # consecutive ops run in one loop
                    self.steps[-1][1].append(op)
                else:
                    self.steps.append(("forward", [op]))
            elif kind == "backward":
                _, root, seed, nodes, retain_graph = event
                compiled = tuple(_compiled_node(node, retain_graph) for node in nodes)
                self.steps.append(("backward", (root, seed, compiled)))
            else:
                self.steps.append(("call", event[1:]))

    def replay(self, args: tuple[Any, ...]) -> Any:
        values: list[Any] = [None] * self.slot_count
        for slot, position in self.inputs:
            values[slot] = args[position].data
        for slot, leaf in self.leaves:
            values[slot] = leaf.data  # live: the optimizer changed the parameters in place
        for kind, payload in self.steps:
            if kind == "forward":
                _replay_forward(payload, values)
            elif kind == "backward":
                root, seed, nodes = payload
                _replay_backward(root, seed, nodes, values)
            else:
                method, obj, call_args, call_kwargs = payload
                method(obj, *call_args, **call_kwargs)
        return _rebuild(self.outputs, values)


def _replay_forward(ops: list[tuple[Any, ...]], values: list[Any]) -> None:
    # What Tensor.comm does around forward, minus the tensors: the same numpy calls.
    for forward, sources, options, out, dtype in ops:
        if len(sources) == 1:
            result = forward(values[sources[0]], **options)
        elif len(sources) == 2:
            result = forward(values[sources[0]], values[sources[1]], **options)
        elif len(sources) == 3:  # linear: input, weight, bias
            result = forward(values[sources[0]], values[sources[1]], values[sources[2]], **options)
        else:
            result = forward(*[values[source] for source in sources], **options)
        if type(result) is not np.ndarray:
            result = np.asarray(result)
        if result.dtype is not dtype and result.dtype != dtype:
            result = result.astype(dtype)
        values[out] = result


def _compiled_node(node: tuple[Any, ...], retain_graph: bool) -> tuple[Any, ...]:
    """A backward node as the replay loop reads it: the inputs that take a gradient, with its shape and dtype."""
    fn, slot, routes = node
    targets = tuple((index, *route[:2], route[2].data.shape, route[2].data.dtype, route[2])
                    for index, route in enumerate(routes) if route is not None)
    return fn.backward, slot, targets, fn, not retain_graph


def _replay_backward(root: int, seed: np.ndarray, nodes: tuple[Any, ...], values: list[Any]) -> None:
    # The engine's walk (autograd.TensorBase.backward) over the recorded order, minus the checks.
    grads: list[Any] = [None] * len(values)
    grads[root] = seed.copy()
    for backward, slot, targets, fn, frees in nodes:
        grad = grads[slot]
        if grad is None:
            continue
        grads[slot] = None
        parent_grads = backward(grad)
        if type(parent_grads) is not tuple:
            parent_grads = (parent_grads,)
        for index, is_leaf, target, shape, dtype, parent in targets:
            parent_grad = parent_grads[index]
            if parent_grad is None:
                continue
            if parent_grad.shape != shape or (parent_grad.dtype is not dtype and parent_grad.dtype != dtype):
                parent_grad = autograd._conform_grad(fn, parent, parent_grad)
            if is_leaf:
                autograd._accumulate_grad(target, parent_grad)
            else:
                previous = grads[target]
                grads[target] = parent_grad if previous is None else previous + parent_grad
        if frees:
            fn.saved_tensors = None


def _rebuild(structure: Any, values: list[Any]) -> Any:
    if structure is None:
        return None
    if structure[0] == "tensor":
        return Tensor._make(values[structure[1]], None)
    kind, items = structure
    return kind(_rebuild(item, values) for item in items)
