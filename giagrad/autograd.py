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
import numbers
from collections import OrderedDict
from typing import Any

import numpy as np

from giagrad import anomaly, hooks
from giagrad.anomaly import detect_anomaly, is_anomaly_enabled, set_detect_anomaly
from giagrad.dtypes import DEFAULT_FLOAT, as_array, is_floating, operand_array, result_type
from giagrad.grad_mode import _state as _grad_state

__all__ = ["Function", "TensorBase", "VersionCounter", "detect_anomaly", "set_detect_anomaly",
           "is_anomaly_enabled", "is_tensor", "use_tensor_class"]

# A clock that ticks at every in-place change of a tensor. A node remembers the tick at which it was
# recorded; backward compares it with the tick at which each parent's storage last changed in place.
# When nothing changed in place since (the usual case), one integer comparison replaces a check per parent.
_inplace_clock = 0

# giagrad.jit's recorder while it captures a training step, else None: it is told of every op run
# (``record_op``). One comparison per op when unset.
tracer: Any = None


class VersionCounter:
    """When a storage last changed in place: one per storage, shared by every tensor viewing it.

    A view (``reshape``, slicing, ``transpose``, ``expand``, ``detach``, ...) shares its base's
    counter, as in PyTorch, so changing any of them in place is seen by every node that saved one
    of them. Created lazily: a tensor that is never viewed nor changed in place has none.
    """

    __slots__ = ("modified_at", "version", "has_views")

    def __init__(self) -> None:
        self.modified_at = 0  # the clock's tick at the last in-place change
        self.version = 0  # how many in-place changes (PyTorch's ``Tensor._version``)
        self.has_views = False  # whether a view op shares this storage (detach does not count)


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
    # How the inputs' dtypes meet (PyTorch's rules, see ``_promote``): None (as they come),
    # "elementwise", "where", "float" or "same".
    promotion: str | None = None
    # where forward was called from, recorded in anomaly mode only (see detect_anomaly)
    forward_stack: str | None = None
    # the version counter of its output's storage, once it has one (see TensorBase._storage_counter)
    output_counter: VersionCounter | None = None

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

    ``giagrad.Tensor`` subclasses it with the user-facing API; see that class for the parameters.

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
    # Let numpy hand `array + tensor` to Tensor.__radd__ instead of converting the tensor.
    __array_ufunc__ = None

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None) -> None:
        self.data: np.ndarray = as_array(data.data if isinstance(data, TensorBase) else data, dtype)
        self.grad: np.ndarray | None = None
        self.requires_grad = False
        self.grad_storage: np.ndarray | None = None
        self._ctx: Function | None = None
        self._retains_grad = False
        self._version_counter: VersionCounter | None = None
        self._hooks: OrderedDict[int, Any] | None = None
        if isinstance(data, TensorBase) and self.data is data.data:  # Tensor(t) shares t's array: and its versions
            self._version_counter = data._storage_counter()
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
        # This runs once per op, so it avoids generator expressions and other per-call allocations:
        # they cost as much as the numpy work of a small op.
        python_scalars = None
        for x in inputs:
            if not isinstance(x, TensorBase):
                inputs, python_scalars = _wrap_operands(function, inputs)
                break
        # PyTorch's dtype promotion, for the ops that ask for it; skipped (a few comparisons) when
        # the operands already share a floating dtype, as they do in almost every op of a model.
        promotion = function.promotion
        result_dtype = None
        if promotion is not None:
            first = inputs[0].data.dtype
            if (python_scalars is not None or (first is not DEFAULT_FLOAT and first.kind != "f")
                    or len(inputs) > 2 or (len(inputs) == 2 and inputs[1].data.dtype is not first)):
                inputs, result_dtype = _promote(function, promotion, inputs, python_scalars)
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
            fn, out = _seed_style_forward(function, inputs, options)
        else:
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
        if result_dtype is not None and out.dtype != result_dtype:  # an input that requires grad kept its dtype
            out = out.astype(result_dtype)
        result = _tensor_class._make(out, fn if record else None)
        if out.base is not None:  # a view of an input's storage shares its version counter
            _share_storage(result, inputs)
        if record:
            fn.recorded_at = _inplace_clock
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
            _accumulate_grad(self, _run_hooks(self, seed) if self._hooks else seed)
            if hooks.post_accumulate_grad_hooks:
                hooks.run_post_accumulate_grad_hooks([self], {id(self)})
            return
        check_nan = anomaly.enabled
        # The gradient of each non-leaf tensor, summed over its uses, until its node runs.
        grads: dict[int, np.ndarray] = {id(self): seed}
        # Leaves with hooks: their gradient is summed first, so that each hook runs once (as PyTorch).
        hooked_leaves: dict[int, tuple[TensorBase, np.ndarray]] = {}
        order = _topological_order(self)
        # Leaves with post-accumulate hooks, keyed by the node after which their gradient is final.
        hooked = hooks.leaves_by_last_node(order) if hooks.post_accumulate_grad_hooks else None
        reached: set[int] = set()  # the leaves with post-accumulate hooks that got a gradient
        for node in reversed(order):
            grad = grads.pop(id(node), None)
            if grad is None:
                continue
            if node._hooks:
                grad = _run_hooks(node, grad)
            if node._retains_grad:
                node.grad = grad.copy() if node.grad is None else node.grad + grad
            fn: Function = node._ctx  # type: ignore[assignment]  # nodes in the order are never leaves
            if fn.saved_tensors is None or fn.recorded_at != _inplace_clock:
                _check_can_run_backward(fn, node.data)
            parent_grads = fn.backward(grad)
            if type(parent_grads) is not tuple:
                parent_grads = (parent_grads,)
            if len(parent_grads) != len(fn.parents):
                raise RuntimeError(f"{type(fn).__name__}.backward returned {len(parent_grads)} gradients "
                                   f"for {len(fn.parents)} inputs")
            if check_nan:
                anomaly.check_for_nan(fn, parent_grads)
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
                    if parent._hooks:
                        held = hooked_leaves.get(id(parent))
                        hooked_leaves[id(parent)] = (parent, parent_grad if held is None else held[1] + parent_grad)
                    else:
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
                hooks.run_post_accumulate_grad_hooks(hooked.pop(id(node)), reached)
        for leaf, leaf_grad in hooked_leaves.values():
            _accumulate_grad(leaf, _run_hooks(leaf, leaf_grad))
        if hooked:  # leaves whose last node got no gradient, or whose gradient waited for hooks
            hooks.run_post_accumulate_grad_hooks([leaf for leaves in hooked.values() for leaf in leaves], reached)

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

    def _mark_modified(self) -> None:
        """Record that ``data`` changed in place (in-place ops and optimizers call this).

        The change is recorded on the storage's counter, so every view of it sees it too.
        """
        global _inplace_clock
        _inplace_clock += 1
        counter = self._storage_counter()
        counter.modified_at = _inplace_clock
        counter.version += 1

    def _storage_counter(self) -> VersionCounter:
        """This tensor's version counter, created on first use (a view, detach or in-place change).

        The node that made this tensor gets it too: one that saved its own output (exp, tanh,
        softmax, ...) must see that output changed in place. Handing it over here, rather than
        when the node is recorded, keeps recording free of this work.
        """
        counter = self._version_counter
        if counter is None:
            counter = self._version_counter = VersionCounter()
            if self._ctx is not None:
                self._ctx.output_counter = counter
        return counter

    @property
    def _version(self) -> int:
        """How many times this tensor's storage was changed in place (as PyTorch's ``_version``)."""
        counter = self._version_counter
        return 0 if counter is None else counter.version


def _run_hooks(tensor: TensorBase, grad: np.ndarray) -> np.ndarray:
    """Run ``tensor``'s gradient hooks in order; each may replace the gradient."""
    for hook in list(tensor._hooks.values()):  # type: ignore[union-attr]  # only called when there are hooks
        result = hook(_tensor_class._make(grad, None))
        if result is not None:
            replaced = np.asarray(result.data if isinstance(result, TensorBase) else result)
            if replaced.shape != grad.shape:
                raise RuntimeError(f"register_hook: a hook returned a gradient of shape {replaced.shape} for a "
                                   f"tensor of shape {grad.shape}")
            grad = replaced.astype(grad.dtype, copy=False)
    return grad


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


def _wrap_operands(function: Any, inputs: tuple[Any, ...]) -> tuple[tuple[TensorBase, ...], tuple[bool, ...] | None]:
    """Wrap the operands that are not tensors; say which were Python numbers (for promotion).

    A Python number takes the dtype of the first floating tensor beside it (not of a bool
    condition). The flags are None when nothing is left to promote: every tensor has that one
    floating dtype and every other operand was a real Python number (``x * 2``, the usual case).
    """
    if len(inputs) == 2:  # the usual case, a floating tensor and a Python float or int: no promotion left
        x, y = inputs
        tensor, number = (x, y) if isinstance(x, TensorBase) else (y, x)
        kind = type(number)
        if isinstance(tensor, TensorBase) and (kind is float or kind is int) and tensor.data.dtype.kind == "f":
            array = np.asarray(number, dtype=tensor.data.dtype)
            wrapped_number = _tensor_class._make(array, None)
            return ((tensor, wrapped_number) if tensor is x else (wrapped_number, tensor)), None
    reference = None
    uniform = True
    for x in inputs:
        if isinstance(x, TensorBase):
            if reference is None or is_floating(x.data.dtype) and not is_floating(reference.data.dtype):
                reference = x
        elif isinstance(x, complex) or not isinstance(x, (bool, numbers.Number)):
            uniform = False
    dtype = None if reference is None else reference.data.dtype
    try:
        wrapped = tuple(x if isinstance(x, TensorBase) else _tensor_class._make(operand_array(x, dtype), None)
                        for x in inputs)
    except TypeError as error:
        raise TypeError(f"{_name(function)}: {error}") from None
    if uniform and dtype is not None and is_floating(dtype):
        for x in inputs:
            if isinstance(x, TensorBase) and x.data.dtype != dtype:
                uniform = False
        if uniform:
            return wrapped, None
    return wrapped, tuple(not isinstance(x, TensorBase) and isinstance(x, (bool, numbers.Number)) for x in inputs)


def _promote(function: Any, promotion: str, inputs: tuple[TensorBase, ...],
             python_scalars: tuple[bool, ...] | None) -> tuple[tuple[TensorBase, ...], np.dtype | None]:
    """Bring an op's operands to PyTorch's result dtype (``Function.promotion`` says how).

    ``"elementwise"``: the common dtype of all inputs (``"where"``: of all but the condition);
    ``"float"``: the same, but an integer or bool result becomes float32 (``/``, ``sqrt``, ``exp``);
    ``"same"``: no promotion, mismatched dtypes raise (``matmul``, as in PyTorch). Inputs that do
    not require grad are converted; one that requires grad keeps its dtype (its gradient must have
    it) and the result is converted instead.
    """
    skip = 1 if promotion == "where" else 0
    operands = inputs[skip:]
    if promotion == "same":
        dtypes = [x.data.dtype for x in operands]
        if any(d != dtypes[0] for d in dtypes):
            raise RuntimeError(f"{_name(function)}: expected operands of one dtype (as PyTorch), but got "
                               f"{' and '.join(str(d) for d in dtypes)}; convert with .to(dtype)")
        return inputs, None
    scalars = python_scalars[skip:] if python_scalars is not None else (False,) * len(operands)
    dtype = result_type([x.data for x in operands], scalars)
    if promotion == "float" and not is_floating(dtype):
        dtype = DEFAULT_FLOAT
    converted = tuple(x if x.data.dtype == dtype or x.requires_grad
                      else _tensor_class._make(x.data.astype(dtype), None) for x in operands)
    return inputs[:skip] + converted, dtype


def _seed_style_forward(function: Function, inputs: tuple[TensorBase, ...],
                        options: dict[str, Any]) -> tuple[Function, Any]:
    """``comm``'s forward for an instance: ``forward`` receives the tensors, ``backward`` adds into ``.grad``."""
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
    return fn, (out.data if isinstance(out, TensorBase) else out)


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
    if grad is storage:  # computed there by the op (Function.grad_storage_of): nothing to copy
        leaf.grad = storage
    elif storage is not None and storage.shape == data.shape and storage.dtype == data.dtype:
        np.copyto(storage, grad)
        leaf.grad = storage
    else:
        leaf.grad = np.array(grad, dtype=data.dtype, copy=True)


def _share_storage(result: TensorBase, inputs: tuple[TensorBase, ...]) -> None:
    """Give ``result`` the version counter of the input whose storage its array views.

    numpy points a view's ``base`` at the array owning the memory, so comparing bases finds the
    input viewed by reshape, slicing, transpose, expand and the like (user Functions too).
    """
    base = result.data.base
    for x in inputs:
        data = x.data
        if base is data or (base is data.base and base is not None):
            counter = x._storage_counter()
            counter.has_views = True
            result._version_counter = counter
            if result._ctx is not None:
                result._ctx.output_counter = counter
            return


def _check_can_run_backward(fn: Function, output: np.ndarray) -> None:
    """Raise if the graph was freed, or if what ``fn`` saved was changed in place since."""
    name = type(fn).__name__
    if fn.saved_tensors is None:
        raise RuntimeError(f"backward: trying to backward through the graph a second time ({name} "
                           "has already freed what it saved); pass retain_graph=True to the first backward")
    for parent in fn.parents:
        counter = parent._version_counter
        if counter is not None and counter.modified_at > fn.recorded_at:
            raise RuntimeError(
                f"backward: an input of {name} (shape {parent.data.shape}, dtype {parent.data.dtype}) "
                "was modified in place (directly or through a view) after it was used; its gradient "
                "would be wrong. Use an out-of-place operation instead (or clone() before changing it)"
            )
    counter = fn.output_counter
    if counter is not None and counter.modified_at > fn.recorded_at and any(v is output for v in fn.saved_tensors):
        raise RuntimeError(
            f"backward: the output of {name}, which its backward needs, was modified in place (directly "
            "or through a view) after it was computed; its gradient would be wrong. Use an out-of-place "
            "operation instead (or clone() the output before changing it)"
        )


def _conform_grad(fn: Function, parent: TensorBase, grad: Any) -> np.ndarray:
    grad = np.asarray(grad)
    if grad.shape != parent.data.shape:
        raise RuntimeError(f"{type(fn).__name__}.backward returned a gradient of shape {grad.shape} for an input "
                           f"of shape {parent.data.shape}")
    return grad.astype(parent.data.dtype)
