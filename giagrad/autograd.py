"""The engine: ``Function``, recording and ``backward``, in one file read top to bottom.

The whole idea in three steps:

1. ``Tensor.comm(SomeFunction, *inputs)`` runs ``SomeFunction.forward`` and, when grad mode is on
   and an input requires grad, returns a tensor that remembers the ``Function`` node (its
   ``_ctx``); the node remembers its parent tensors. That is the graph.
2. ``loss.backward()`` orders the recorded nodes topologically (iteratively: deep graphs are fine)
   and walks them in reverse, handing each node the gradient of its output and passing the
   gradients it produces on to its parents.
3. Leaves that require grad (parameters) accumulate theirs in ``.grad``.

A ``Function`` is written in one of two styles, and a graph may mix them:

- **arrays in, gradients out** (the library's ops): apply the class, ``Tensor.comm(Exp, x)``,
  with options as keywords. ``forward`` receives numpy arrays; ``backward(grad)`` returns one
  gradient per input. The engine adds them up, so the op never touches a tensor.
- **the seed's style** (giagrad's original contract): apply an instance, ``Tensor.comm(ReLU(), x)``,
  with options given to its constructor. ``forward`` receives the input tensors (and reads
  ``t.data``); ``backward(partial)`` adds into its parents' ``.grad`` itself and returns nothing.
  Before it runs, each parent that requires grad gets a zero ``.grad`` to add into; what was added
  then flows on like a returned gradient.

``TensorBase`` is the part of a tensor the engine needs (its array, gradient and node);
``giagrad.Tensor`` (tensor.py) is the API built on it, and the op families (mathops, ...) import
only this module. Speed tricks live here once each, with a comment saying why.
"""

from __future__ import annotations

import copy
import itertools
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

from giagrad.dtypes import as_array, is_floating, operand_array
from giagrad.grad_mode import _state as _grad_state

__all__ = ["Function", "HookHandle", "TensorBase", "is_tensor", "use_tensor_class"]

# A clock that ticks at every in-place change of a tensor. A node remembers the tick at which it was
# recorded; backward compares it with the tick at which each parent last changed in place. When
# nothing changed in place since (the usual case), one integer comparison replaces a check per parent.
_inplace_clock = 0

# Post-accumulate-grad hooks: id(leaf) -> {handle id: hook}. A registry beside the tensors, not a
# slot on them: op results (the hot path) pay nothing, backward pays one test of this dict being
# empty, and a deep copy of a model does not carry the hooks of the original (as in PyTorch).
# An entry goes when its tensor dies (weakref.finalize), so a reused id never finds stale hooks.
_post_accumulate_grad_hooks: dict[int, dict[int, Callable[[Any], None]]] = {}
_hook_ids = itertools.count()


class Function:
    """One differentiable operation: a node of the graph.

    Subclass it and write ``forward`` (numpy arrays in, one numpy array out, saving what backward
    needs with ``save_for_backward``) and ``backward`` (the gradient of the output in, one gradient
    per input out, ``None`` where an input needs none). Apply it with
    ``Tensor.comm(MyFunction, *inputs, **options)`` or ``MyFunction.apply(*inputs, **options)``;
    keyword options go to ``forward``. An *instance* passed to ``Tensor.comm`` runs the seed's
    contract instead (see the module docstring and ``docs/autograd.md``).

    Attributes
    ----------
    parents : tuple of Tensor
        The inputs, in order (set when the node is recorded).
    needs_input_grad : tuple of bool
        For each input, whether it needs a gradient; ``backward`` may return ``None`` where not.
    saved_tensors : tuple
        What ``save_for_backward`` kept; ``None`` once a backward has freed the graph.

    Examples
    --------
    A user-defined activation, ``softsign(x) = x / (1 + |x|)``:

    >>> class Softsign(Function):
    ...     def forward(self, x):
    ...         self.save_for_backward(x)
    ...         return x / (1 + np.abs(x))
    ...     def backward(self, grad):
    ...         (x,) = self.saved_tensors
    ...         return grad / (1 + np.abs(x)) ** 2
    >>> y = Softsign.apply(giagrad.tensor([1.0, -2.0], requires_grad=True))
    """

    parents: tuple[TensorBase, ...] = ()
    # Any: subclasses unpack what they saved (arrays, shapes, None) without a check per use
    saved_tensors: Any = ()
    recorded_at: int = 0

    @property
    def needs_input_grad(self) -> tuple[bool, ...]:
        """For each input, whether it needs a gradient (``backward`` may skip the others)."""
        parents = self.parents
        if len(parents) == 2:  # binary ops ask on every backward: skip building a list
            return parents[0].requires_grad, parents[1].requires_grad
        return tuple([parent.requires_grad for parent in parents])

    def save_for_backward(self, *values: Any) -> None:
        """Keep arrays (or tensors, or anything) for ``backward``; freed after backward."""
        self.saved_tensors = values

    def forward(self, *arrays: Any, **options: Any) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} has no forward")

    def backward(self, grad: np.ndarray) -> Any:  # an array, a tuple of them (None: no gradient), or None
        raise NotImplementedError(f"{type(self).__name__} has no backward")

    @classmethod
    def apply(cls, *inputs: Any, **options: Any) -> TensorBase:
        """Run this function on ``inputs`` and record it: ``Tensor.comm(cls, *inputs, **options)``."""
        return TensorBase.comm(cls, *inputs, **options)

    def __repr__(self) -> str:
        return f"<{type(self).__name__}Backward>"


class TensorBase:
    """What the engine needs of a tensor: its array, its gradient and the node that made it.

    ``giagrad.Tensor`` subclasses it with the user-facing API; see that class for the parameters.

    Attributes
    ----------
    grad_storage : numpy array or None
        The one hook for preallocated gradient storage. When a leaf's ``.grad`` is None, backward
        copies its first gradient into ``grad_storage`` (if it has this leaf's shape and dtype)
        instead of into a new array; later gradients add into it. An optimizer that keeps all
        gradients in one flat buffer sets it to a view of that buffer. The engine never sets it.
    """

    __slots__ = ("data", "grad", "requires_grad", "grad_storage", "_ctx", "_retains_grad", "_modified_at",
                 "__weakref__")
    # Let numpy hand `array + tensor` to Tensor.__radd__ instead of converting the tensor.
    __array_ufunc__ = None

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None) -> None:
        self.data: np.ndarray = as_array(data.data if isinstance(data, TensorBase) else data, dtype)
        self.grad: np.ndarray | None = None
        self.requires_grad = False
        self.grad_storage: np.ndarray | None = None
        self._ctx: Function | None = None
        self._retains_grad = False
        self._modified_at = 0
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _make(cls, data: np.ndarray, ctx: Function | None) -> Any:
        # The hot path for op results: no conversion or validation, the array is ready.
        out = object.__new__(cls)
        out.data = data
        out.grad = None
        out.requires_grad = ctx is not None
        out.grad_storage = None
        out._ctx = ctx
        out._retains_grad = False
        out._modified_at = 0
        return out

    # ------------------------------------------------------------------------------ recording

    @staticmethod
    def comm(function: type[Function] | Function, *inputs: Any, **options: Any) -> Any:
        """Apply ``function`` to ``inputs``; record the node when a gradient may be needed.

        ``function`` is a ``Function`` class (``forward`` gets arrays, ``options`` as keywords) or
        an instance (the seed's style: ``forward`` gets the tensors, options were given to its
        constructor). Inputs that are not tensors are wrapped; a Python number takes the dtype of
        the floating tensor beside it, so ``x * 2`` stays float32. The result is a ``giagrad.Tensor``.
        """
        # This runs once per op, so it avoids generator expressions and other per-call allocations:
        # they cost as much as the numpy work of a small op.
        for x in inputs:
            if not isinstance(x, TensorBase):
                inputs = _wrap_operands(function, inputs)
                break
        record = False
        if _grad_state.enabled:
            for x in inputs:
                if x.requires_grad:
                    record = True
                    break
        try:
            fn = function()  # type: ignore[operator]  # an instance raises: handled below
        except TypeError:
            # An instance is not callable: the seed's style. (Asking with isinstance first would cost
            # every op a measurable share of its time; a try costs nothing until it fails.)
            if isinstance(function, Function):
                return _apply_seed_style(function, inputs, options, record)
            raise
        fn.parents = inputs
        try:
            # Unrolled for one and two inputs: a list comprehension per op costs measurable time.
            if len(inputs) == 1:
                out = fn.forward(inputs[0].data, **options)
            elif len(inputs) == 2:
                out = fn.forward(inputs[0].data, inputs[1].data, **options)
            else:
                out = fn.forward(*[x.data for x in inputs], **options)
        except (ValueError, IndexError, TypeError) as error:
            raise _named_error(error, function, inputs) from None
        if type(out) is not np.ndarray:  # numpy reductions return scalars, not 0-d arrays
            out = np.asarray(out)
        if not record:
            return _tensor_class._make(out, None)
        fn.recorded_at = _inplace_clock
        return _tensor_class._make(out, fn)

    # ------------------------------------------------------------------------------- backward

    def backward(self, gradient: Any = None, retain_graph: bool = False) -> None:
        """Compute the gradient of this tensor with respect to every leaf that requires grad.

        Parameters
        ----------
        gradient : array_like, optional
            The gradient of some final scalar with respect to this tensor; required unless this
            tensor has one element.
        retain_graph : bool
            Keep what the nodes saved, so that backward can run through the graph again.

        Gradients accumulate into the leaves' ``.grad`` across calls (zero them between
        optimisation steps). Intermediate tensors keep theirs only after ``retain_grad()``.
        """
        if not self.requires_grad:
            raise RuntimeError("backward: this tensor does not require grad and has no graph; "
                               "create the leaves with requires_grad=True")
        if gradient is None:
            if self.data.size != 1:
                raise RuntimeError(f"backward: grad can be implicitly created only for outputs with one element, "
                                   f"this one has shape {self.data.shape}; pass gradient= of that shape")
            seed = np.ones_like(self.data)
        else:
            seed = np.asarray(gradient.data if isinstance(gradient, TensorBase) else gradient, dtype=self.data.dtype)
            if seed.shape != self.data.shape:
                raise ValueError(f"backward: gradient has shape {seed.shape} but the tensor has shape "
                                 f"{self.data.shape}")
        if self._ctx is None:
            _accumulate_grad(self, seed)
            if _post_accumulate_grad_hooks:
                _run_post_accumulate_grad_hooks([self], {id(self)})
            return
        # The gradient of each non-leaf tensor, summed over its uses, until its node runs.
        grads: dict[int, np.ndarray] = {id(self): seed}
        order = _topological_order(self)
        # Hooked leaves, keyed by the node after which their gradient is final (None: no hooks).
        hooked = _hooked_leaves_by_last_node(order) if _post_accumulate_grad_hooks else None
        reached: set[int] = set()  # the hooked leaves that got a gradient in this backward
        for node in reversed(order):
            grad = grads.pop(id(node), None)
            if grad is None:
                continue
            if node._retains_grad:
                node.grad = grad.copy() if node.grad is None else node.grad + grad
            fn: Function = node._ctx  # type: ignore[assignment]  # nodes in the order are never leaves
            if fn.saved_tensors is None or fn.recorded_at != _inplace_clock:
                _check_can_run_backward(fn)
            parent_grads = fn.backward(grad)
            if type(parent_grads) is not tuple:
                parent_grads = (parent_grads,)
            if len(parent_grads) != len(fn.parents):
                raise RuntimeError(f"{type(fn).__name__}.backward returned {len(parent_grads)} gradients "
                                   f"for {len(fn.parents)} inputs")
            for parent, parent_grad in zip(fn.parents, parent_grads, strict=True):
                if parent_grad is None or not parent.requires_grad:
                    continue
                data = parent.data
                # `is not` first: dtypes of the same kind are usually one object, and comparing them
                # with != costs more than the rest of this loop.
                if parent_grad.shape != data.shape or (parent_grad.dtype is not data.dtype
                                                       and parent_grad.dtype != data.dtype):
                    parent_grad = _conform_grad(fn, parent, parent_grad)
                if parent._ctx is None:
                    _accumulate_grad(parent, parent_grad)
                    if hooked is not None:
                        reached.add(id(parent))
                else:
                    previous = grads.get(id(parent))
                    # out of place: one array may have been handed to several parents
                    grads[id(parent)] = parent_grad if previous is None else previous + parent_grad
            if not retain_graph:
                fn.saved_tensors = None
            if hooked is not None and id(node) in hooked:
                _run_post_accumulate_grad_hooks(hooked.pop(id(node)), reached)
        if hooked:  # leaves whose last node got no gradient: final now
            _run_post_accumulate_grad_hooks([leaf for leaves in hooked.values() for leaf in leaves], reached)

    # ----------------------------------------------------------------- leaves and graph edges

    def requires_grad_(self, requires_grad: bool = True) -> Any:
        """Set ``requires_grad`` in place (leaves only; floating dtypes only)."""
        if requires_grad and not is_floating(self.data.dtype):
            raise TypeError(f"requires_grad: only floating point tensors can require gradients, "
                            f"got {self.data.dtype}")
        if not requires_grad and self._ctx is not None:
            raise RuntimeError("requires_grad_: a non-leaf tensor's requires_grad follows its inputs; use detach()")
        self.requires_grad = bool(requires_grad)
        return self

    def retain_grad(self) -> Any:
        """Keep this non-leaf tensor's gradient in ``.grad`` during backward."""
        if not self.requires_grad:
            raise RuntimeError("retain_grad: the tensor does not require grad")
        if self._ctx is not None:
            self._retains_grad = True
        return self

    def register_post_accumulate_grad_hook(self, hook: Callable[[Any], None]) -> HookHandle:
        """Call ``hook(tensor)`` in every backward, once this leaf's ``.grad`` holds its gradient.

        The hook runs once per backward that reaches this leaf, after the gradients of all its
        uses in the graph have been added into ``.grad`` (so it sees the accumulated value and may
        change it in place), and before backward returns. Its return value is ignored. As in
        PyTorch, only leaves that require grad take such a hook.

        Parameters
        ----------
        hook : callable
            Called as ``hook(tensor)``.

        Returns
        -------
        HookHandle
            ``handle.remove()`` unregisters the hook.

        Examples
        --------
        >>> w = giagrad.tensor([1.0, 2.0], requires_grad=True)
        >>> handle = w.register_post_accumulate_grad_hook(lambda t: print(t.grad))
        >>> (w * w).sum().backward()
        [2. 4.]
        >>> handle.remove()
        """
        if not callable(hook):
            raise TypeError(f"register_post_accumulate_grad_hook: expected a callable, got {type(hook).__name__}")
        if not self.requires_grad:
            raise RuntimeError("register_post_accumulate_grad_hook: cannot register a hook on a tensor that "
                               "doesn't require gradient")
        if self._ctx is not None:
            raise RuntimeError("register_post_accumulate_grad_hook: post accumulate grad hooks cannot be "
                               f"registered on non-leaf tensors (this one comes from {self._ctx!r})")
        hooks = _post_accumulate_grad_hooks.get(id(self))
        if hooks is None:
            hooks = _post_accumulate_grad_hooks[id(self)] = {}
            weakref.finalize(self, _forget_hooks, id(self), hooks)
        handle = HookHandle(id(self), hooks)
        hooks[handle.id] = hook
        return handle

    def _mark_modified(self) -> None:
        """Record that ``data`` changed in place (in-place ops and optimizers call this)."""
        global _inplace_clock
        _inplace_clock += 1
        self._modified_at = _inplace_clock


class HookHandle:
    """What ``register_post_accumulate_grad_hook`` returns: ``remove()`` unregisters the hook.

    Also a context manager that removes the hook on exit.
    """

    __slots__ = ("_key", "_hooks", "id")

    def __init__(self, key: int, hooks: dict[int, Callable[[Any], None]]) -> None:
        self._key = key
        self._hooks = hooks
        self.id = next(_hook_ids)

    def remove(self) -> None:
        self._hooks.pop(self.id, None)
        if not self._hooks:  # the last one: let backward skip the hook bookkeeping again
            _forget_hooks(self._key, self._hooks)

    def __enter__(self) -> HookHandle:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.remove()


def _forget_hooks(key: int, hooks: dict[int, Callable[[Any], None]]) -> None:
    # The tensor died (its id may be reused) or lost its last hook: its entry goes, unless it is
    # already another one.
    if _post_accumulate_grad_hooks.get(key) is hooks:
        del _post_accumulate_grad_hooks[key]


def _hooked_leaves_by_last_node(order: list[TensorBase]) -> dict[int, list[TensorBase]]:
    """For the leaves of this graph that have post-accumulate hooks: id(node) -> the leaves whose
    last use, in backward's walk, is that node (their gradient is final once it has run)."""
    last: dict[int, tuple[TensorBase, TensorBase]] = {}
    for node in reversed(order):
        for parent in node._ctx.parents:  # type: ignore[union-attr]  # nodes in the order are never leaves
            if parent._ctx is None and id(parent) in _post_accumulate_grad_hooks:
                last[id(parent)] = (parent, node)
    by_node: dict[int, list[TensorBase]] = {}
    for leaf, node in last.values():
        by_node.setdefault(id(node), []).append(leaf)
    return by_node


def _run_post_accumulate_grad_hooks(leaves: list[TensorBase], reached: set[int]) -> None:
    for leaf in leaves:
        if id(leaf) in reached:
            for hook in list(_post_accumulate_grad_hooks.get(id(leaf), {}).values()):
                hook(leaf)


# The class of op results: giagrad.Tensor. tensor.py defines it over TensorBase and registers it
# here, because this module is below tensor.py and does not import it.
_tensor_class: type[TensorBase] = TensorBase


def use_tensor_class(cls: type[TensorBase]) -> None:
    """Make recorded ops return instances of ``cls`` (``giagrad.Tensor`` calls this once)."""
    global _tensor_class
    _tensor_class = cls


def is_tensor(value: Any) -> bool:
    """Whether ``value`` is a giagrad tensor (for checks that should not narrow its type)."""
    return isinstance(value, TensorBase)


# ------------------------------------------------------------------------------------ helpers


def _name(function: type[Function] | Function) -> str:
    return function.__name__ if isinstance(function, type) else type(function).__name__


def _wrap_operands(function: Any, inputs: tuple[Any, ...]) -> tuple[TensorBase, ...]:
    # A Python number takes the dtype of the first floating tensor beside it (not of a bool condition).
    reference = None
    for x in inputs:
        if isinstance(x, TensorBase) and (reference is None or is_floating(x.data.dtype)
                                          and not is_floating(reference.data.dtype)):
            reference = x
    dtype = None if reference is None else reference.data.dtype
    try:
        return tuple(x if isinstance(x, TensorBase) else _tensor_class._make(operand_array(x, dtype), None)
                     for x in inputs)
    except TypeError as error:
        raise TypeError(f"{_name(function)}: {error}") from None


def _apply_seed_style(function: Function, inputs: tuple[TensorBase, ...], options: dict[str, Any],
                      record: bool) -> TensorBase:
    """``comm`` for an instance: ``forward`` receives the tensors, ``backward`` adds into ``.grad``."""
    fn = copy.copy(function)  # a copy, so that an instance applied twice makes two nodes
    fn.parents = inputs
    # backward() walks every node alike, expecting gradients back: this node's backward runs the
    # seed's one and returns what it added (the adapter lives here, not in the loop over nodes).
    seed_backward = fn.backward
    fn.backward = lambda grad: _seed_style_backward(fn, seed_backward, grad)  # type: ignore[method-assign]
    try:
        out = fn.forward(*inputs, **options)
    except (ValueError, IndexError, TypeError) as error:
        raise _named_error(error, function, inputs) from None
    out = np.asarray(out.data if isinstance(out, TensorBase) else out)
    if not record:
        return _tensor_class._make(out, None)
    fn.recorded_at = _inplace_clock
    return _tensor_class._make(out, fn)


def _seed_style_backward(fn: Function, seed_backward: Any, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
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


def _named_error(error: Exception, function: Any, inputs: tuple[TensorBase, ...]) -> Exception:
    # Name the op and the shapes instead of showing numpy's internals.
    shapes = ", ".join(str(x.data.shape) for x in inputs)
    return type(error)(f"{_name(function)}: {error} (input shapes {shapes})")


def _topological_order(root: TensorBase) -> list[TensorBase]:
    """Non-leaf tensors of the graph, every tensor after those it was computed from.

    An iterative depth-first search: a recursive one would hit Python's recursion limit on long
    chains (a recurrent net, a 100,000-op graph).
    """
    order: list[TensorBase] = []
    visited = {id(root)}
    stack = [(root, iter(root._ctx.parents))]  # type: ignore[union-attr]
    while stack:
        node, parents = stack[-1]
        for parent in parents:
            if parent._ctx is not None and id(parent) not in visited:
                visited.add(id(parent))
                stack.append((parent, iter(parent._ctx.parents)))
                break
        else:
            stack.pop()
            order.append(node)
    return order


def _accumulate_grad(leaf: TensorBase, grad: np.ndarray) -> None:
    if leaf.grad is not None:
        leaf.grad += grad
        return
    # A leaf owns its gradient: backward may hand one array to several inputs, and optimizers and
    # clipping change .grad in place. So the first gradient is copied: into the leaf's storage when it
    # has a usable one (no allocation), else into a new array.
    storage = leaf.grad_storage
    data = leaf.data
    if storage is not None and storage.shape == data.shape and storage.dtype == data.dtype:
        np.copyto(storage, grad)
        leaf.grad = storage
    else:
        leaf.grad = np.array(grad, dtype=data.dtype, copy=True)


def _check_can_run_backward(fn: Function) -> None:
    if fn.saved_tensors is None:
        raise RuntimeError(f"backward: trying to backward through the graph a second time ({type(fn).__name__} "
                           "has already freed what it saved); pass retain_graph=True to the first backward")
    for parent in fn.parents:
        if parent._modified_at > fn.recorded_at:
            raise RuntimeError(
                f"backward: an input of {type(fn).__name__} (shape {parent.data.shape}, dtype {parent.data.dtype}) "
                "was modified in place after it was used; its gradient would be wrong. Use an out-of-place "
                "operation instead"
            )


def _conform_grad(fn: Function, parent: TensorBase, grad: Any) -> np.ndarray:
    grad = np.asarray(grad)
    if grad.shape != parent.data.shape:
        raise RuntimeError(f"{type(fn).__name__}.backward returned a gradient of shape {grad.shape} for an input "
                           f"of shape {parent.data.shape}")
    return grad.astype(parent.data.dtype)
