"""The engine: ``Function``, recording and ``backward``, in one file read top to bottom.

The whole idea in three steps:

1. ``Tensor.comm(SomeFunction, *inputs)`` runs ``SomeFunction.forward`` and, when grad mode is on
   and an input requires grad, returns a tensor that remembers the ``Function`` node (its
   ``_ctx``); the node remembers its parent tensors. That is the graph.
2. ``loss.backward()`` orders the recorded nodes topologically (iteratively: deep graphs are fine)
   and walks them in reverse, handing each node the gradient of its output and passing the
   gradients it produces on to its parents.
3. Leaves that require grad (parameters) accumulate theirs in ``.grad``.

``TensorBase`` is the part of a tensor the engine needs (its array, gradient and node);
``giagrad.Tensor`` (tensor.py) is the API built on it, and the op families (mathops, ...) import
only this module. What is not the engine's idea lives beside it, in modules below it:
``operands`` (wrapping numbers, dtype promotion), ``versions`` (in-place changes),
``seed_style`` (the original giagrad's ``Function`` contract), ``hooks`` and ``anomaly``.
Speed tricks live here once each, with a comment saying why: ``comm`` and the loop of
``backward`` run once per op, where a line of Python costs about as much as a small op's numpy work.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np

from giagrad import anomaly, hooks, seed_style, versions
from giagrad.anomaly import detect_anomaly, is_anomaly_enabled, set_detect_anomaly
from giagrad.dtypes import DEFAULT_FLOAT
from giagrad.grad_mode import _state as _grad_state
from giagrad.operands import named_error, promote, wrap_operands
from giagrad.versions import VersionCounter

__all__ = ["Function", "TensorBase", "VersionCounter", "detect_anomaly", "set_detect_anomaly",
           "is_anomaly_enabled", "is_tensor", "use_tensor_class"]

# giagrad.jit's recorder while it captures a training step, else None: it is told of every op run
# (``record_op``). One comparison per op when unset.
tracer: Any = None


class Function:
    """One differentiable operation: a node of the graph.

    Subclass it and write ``forward`` (numpy arrays in, one numpy array out, saving what backward
    needs with ``save_for_backward``) and ``backward`` (the gradient of the output in, one gradient
    per input out, ``None`` where an input needs none). Apply it with
    ``Tensor.comm(MyFunction, *inputs, **options)`` or ``MyFunction.apply(*inputs, **options)``;
    keyword options go to ``forward``. An *instance* passed to ``Tensor.comm`` runs the seed's
    contract instead (see ``giagrad/seed_style.py`` and ``docs/autograd.md``).

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
    # How the inputs' dtypes meet (PyTorch's rules, see ``operands.promote``): None (as they come),
    # "elementwise", "where", "float" or "same".
    promotion: str | None = None
    # where forward was called from, recorded in anomaly mode only (see detect_anomaly)
    forward_stack: str | None = None
    # the version counter of its output's storage, once it has one (see versions.counter_of)
    output_counter: VersionCounter | None = None

    @property
    def needs_input_grad(self) -> tuple[bool, ...]:
        """For each input, whether it needs a gradient (``backward`` may skip the others)."""
        parents = self.parents
        if len(parents) == 2:  # binary ops ask on every backward: skip building a list
            return parents[0].requires_grad, parents[1].requires_grad
        return tuple([parent.requires_grad for parent in parents])

    def will_backward(self) -> bool:
        """Inside ``forward``: whether a backward may follow, so that forward should keep what it needs.

        False under ``no_grad`` or when no input requires a gradient (``Tensor.comm`` then records
        no node): a forward that computes extra work only for its backward may skip it. A
        ``forward`` called directly, not through ``Tensor.comm`` (no parents set), answers True.
        """
        if "parents" not in vars(self):
            return True
        return _grad_state.enabled and any(parent.requires_grad for parent in self.parents)

    def save_for_backward(self, *values: Any) -> None:
        """Keep arrays (or tensors, or anything) for ``backward``; freed after backward."""
        self.saved_tensors = values

    def grad_storage_of(self, index: int) -> np.ndarray | None:
        """Where input ``index`` will keep its gradient, when ``backward`` may compute it there.

        The other half of the ``TensorBase.grad_storage`` hook: for a leaf whose ``.grad`` is still
        None and whose storage fits, a ``backward`` may write its gradient straight into the storage
        (numpy's ``out=``) and return that array; the engine then keeps it without the copy.
        Optional: ``out=None`` (what this returns otherwise) allocates as usual.
        """
        parent = self.parents[index]
        storage = parent.grad_storage
        if (storage is None or parent.grad is not None or parent._ctx is not None or parent._hooks
                or storage.shape != parent.data.shape or storage.dtype != parent.data.dtype):
            return None
        return storage

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

    ``giagrad.Tensor`` subclasses it with the user-facing API, its constructor included; the
    engine makes op results with ``_make``.

    Attributes
    ----------
    grad_storage : numpy array or None
        The one hook for preallocated gradient storage. When a leaf's ``.grad`` is None, backward
        copies its first gradient into ``grad_storage`` (if it has this leaf's shape and dtype)
        instead of into a new array; later gradients add into it. An optimizer that keeps all
        gradients in one flat buffer sets it to a view of that buffer. The engine never sets it.
    """

    __slots__ = ("data", "grad", "requires_grad", "grad_storage", "_ctx", "_retains_grad", "_version_counter",
                 "_hooks", "__weakref__")
    data: np.ndarray
    grad: np.ndarray | None
    requires_grad: bool
    grad_storage: np.ndarray | None
    _ctx: Function | None  # the node that made it; None for a leaf
    _retains_grad: bool  # keep .grad although not a leaf (retain_grad)
    _version_counter: VersionCounter | None
    _hooks: OrderedDict[int, Any] | None  # gradient hooks (register_hook)
    # Let numpy hand `array + tensor` to Tensor.__radd__ instead of converting the tensor.
    __array_ufunc__ = None

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
        out._version_counter = None
        out._hooks = None
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
        python_scalars = None
        for x in inputs:
            if not isinstance(x, TensorBase):
                inputs, python_scalars = wrap_operands(function, inputs, _tensor_class)
                break
        # PyTorch's dtype promotion, for the ops that ask for it; skipped (a few comparisons) when
        # the operands already share a floating dtype, as they do in almost every op of a model.
        result_dtype = None
        if function.promotion is not None:
            first = inputs[0].data.dtype
            if (python_scalars is not None or (first is not DEFAULT_FLOAT and first.kind != "f")
                    or len(inputs) > 2 or (len(inputs) == 2 and inputs[1].data.dtype is not first)):
                inputs, result_dtype = promote(function, inputs, python_scalars, _tensor_class)
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
            if not isinstance(function, Function):
                raise
            fn, out = seed_style.forward(function, inputs, options)
        else:
            fn.parents = inputs
            try:
                # Unrolled for one and two inputs without options: unpacking a list and an empty
                # dict of options into the call costs as much as a small op's numpy work.
                if options or len(inputs) > 2:
                    out = fn.forward(*[x.data for x in inputs], **options)
                elif len(inputs) == 2:
                    out = fn.forward(inputs[0].data, inputs[1].data)
                else:
                    out = fn.forward(inputs[0].data)
            except (ValueError, IndexError, TypeError) as error:
                raise named_error(error, function, inputs) from None
        if type(out) is not np.ndarray:  # numpy reductions return scalars; a seed-style forward may return a tensor
            out = out.data if isinstance(out, TensorBase) else np.asarray(out)
        if result_dtype is not None and out.dtype != result_dtype:  # an input that requires grad kept its dtype
            out = out.astype(result_dtype)
        result = _tensor_class._make(out, fn if record else None)
        if out.base is not None:  # a view of an input's storage shares its version counter
            versions.share_storage(result, inputs)
        if record:
            fn.recorded_at = versions.clock
            if anomaly.enabled:
                fn.forward_stack = anomaly.caller_stack()
        if tracer is not None:  # giagrad.jit is capturing a step
            tracer.record_op(fn, inputs, options, result)
        return result

    # ------------------------------------------------------------------------------- backward

    def backward(self, gradient: Any = None, retain_graph: bool = False) -> None:
        """Compute the gradient of this tensor with respect to every leaf that requires grad.

        Gradients accumulate into the leaves' ``.grad`` across calls (zero them between
        optimisation steps). Intermediate tensors keep theirs only after ``retain_grad()``.

        Parameters
        ----------
        gradient : array_like, optional
            The gradient of some final scalar with respect to this tensor; required unless this
            tensor has one element.
        retain_graph : bool
            Keep what the nodes saved, so that backward can run through the graph again.
        """
        seed = _seed_gradient(self, gradient)
        if self._ctx is None:  # a leaf: its gradient is the seed
            _accumulate_grad(self, hooks.run_tensor_hooks(self, seed, _tensor_class) if self._hooks else seed)
            if hooks.post_accumulate_grad_hooks:
                hooks.run_post_accumulate_grad_hooks([self], {id(self)})
            return
        check_nan = anomaly.enabled
        # The gradient of each non-leaf tensor, summed over its uses, until its node runs.
        grads: dict[int, np.ndarray] = {id(self): seed}
        # Leaves with gradient hooks: their gradient is summed first, so that each hook runs once (as PyTorch).
        held: dict[int, tuple[TensorBase, np.ndarray]] = {}
        order = _topological_order(self)
        post = hooks.PostAccumulateGradHooks(order) if hooks.post_accumulate_grad_hooks else None
        for node in reversed(order):
            grad = grads.pop(id(node), None)
            if grad is None:  # no gradient reached it (its users returned None)
                continue
            if node._hooks:
                grad = hooks.run_tensor_hooks(node, grad, _tensor_class)
            if node._retains_grad:
                node.grad = grad.copy() if node.grad is None else node.grad + grad
            fn: Function = node._ctx  # type: ignore[assignment]  # nodes in the order are never leaves
            # Nothing changed in place since the node was recorded (the usual case): one comparison.
            if fn.saved_tensors is None or fn.recorded_at != versions.clock:
                if fn.saved_tensors is None:
                    raise RuntimeError(f"backward: trying to backward through the graph a second time "
                                       f"({type(fn).__name__} has already freed what it saved); pass "
                                       "retain_graph=True to the first backward")
                versions.check_unchanged(fn, node.data)
            parent_grads = fn.backward(grad)
            if type(parent_grads) is not tuple:
                parent_grads = (parent_grads,)
            if len(parent_grads) != len(fn.parents):
                raise RuntimeError(f"{type(fn).__name__}.backward returned {len(parent_grads)} gradients "
                                   f"for {len(fn.parents)} inputs")
            if check_nan:
                anomaly.check_for_nan(fn, parent_grads)
            for parent, parent_grad in zip(fn.parents, parent_grads):  # lengths checked above
                if parent_grad is None or not parent.requires_grad:
                    continue
                data = parent.data
                # `is not` first: dtypes of the same kind are usually one object, and comparing them
                # with != costs more than the rest of this loop.
                if parent_grad.shape != data.shape or (parent_grad.dtype is not data.dtype
                                                       and parent_grad.dtype != data.dtype):
                    parent_grad = _conform_grad(fn, parent, parent_grad)
                if parent._ctx is None:
                    if parent._hooks:
                        previous = held.get(id(parent))
                        held[id(parent)] = (parent, parent_grad if previous is None else previous[1] + parent_grad)
                    else:
                        _accumulate_grad(parent, parent_grad)
                    if post is not None:
                        post.reached.add(id(parent))
                else:
                    previous = grads.get(id(parent))
                    # out of place: one array may have been handed to several parents
                    grads[id(parent)] = parent_grad if previous is None else previous + parent_grad
            if not retain_graph:
                fn.saved_tensors = None  # free what the node saved: a second backward raises
            if post is not None:
                post.node_done(node)
        for leaf, leaf_grad in held.values():
            _accumulate_grad(leaf, hooks.run_tensor_hooks(leaf, leaf_grad, _tensor_class))
        if post is not None:
            post.finish()

    # ----------------------------------------------------------------- leaves and graph edges

    def retain_grad(self) -> Any:
        """Keep this non-leaf tensor's gradient in ``.grad`` during backward."""
        if not self.requires_grad:
            raise RuntimeError("retain_grad: the tensor does not require grad")
        if self._ctx is not None:
            self._retains_grad = True
        return self


def _seed_gradient(tensor: TensorBase, gradient: Any) -> np.ndarray:
    """The gradient backward starts from: ones for a one-element tensor, else ``gradient`` checked."""
    if not tensor.requires_grad:
        raise RuntimeError("backward: this tensor does not require grad and has no graph; "
                           "create the leaves with requires_grad=True")
    if gradient is None:
        if tensor.data.size != 1:
            raise RuntimeError(f"backward: grad can be implicitly created only for outputs with one element, "
                               f"this one has shape {tensor.data.shape}; pass gradient= of that shape")
        return np.ones_like(tensor.data)
    seed = np.asarray(gradient.data if isinstance(gradient, TensorBase) else gradient, dtype=tensor.data.dtype)
    if seed.shape != tensor.data.shape:
        raise ValueError(f"backward: gradient has shape {seed.shape} but the tensor has shape {tensor.data.shape}")
    return seed


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
    if grad is storage:  # computed there by the op (Function.grad_storage_of): nothing to copy
        leaf.grad = storage
    elif storage is not None and storage.shape == data.shape and storage.dtype == data.dtype:
        np.copyto(storage, grad)
        leaf.grad = storage
    else:
        leaf.grad = np.array(grad, dtype=data.dtype, copy=True)


def _conform_grad(fn: Function, parent: TensorBase, grad: Any) -> np.ndarray:
    """A gradient ``fn.backward`` returned, in ``parent``'s dtype; a wrong shape raises, naming the op."""
    grad = np.asarray(grad)
    if grad.shape != parent.data.shape:
        raise RuntimeError(f"{type(fn).__name__}.backward returned a gradient of shape {grad.shape} for an input "
                           f"of shape {parent.data.shape}")
    return grad.astype(parent.data.dtype)


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
