"""The ``Optimizer`` base: parameter groups, flat buffers, per-parameter state and ``state_dict``.

Why flat buffers: an optimizer step written as a Python loop over the parameters makes a dozen
small numpy calls per parameter, and for a model with many small tensors (biases, norms) the
call overhead and the temporaries cost more than the arithmetic. So each parameter group keeps
its parameters, their gradients and the optimizer's state in one contiguous array per dtype;
each parameter's ``.data`` and ``.grad`` are views of its segment. A step then runs the update
rule once, on the whole buffers: a handful of numpy calls whatever the number of parameters.

A subclass writes its update rule as a function of arrays (:meth:`Optimizer._update`); the base
calls it on the whole buffers when every parameter of the group has a gradient, and on each
parameter's segment otherwise. Beside it, each subclass keeps the same rule written plainly for
one parameter (:meth:`Optimizer._single_tensor_update`, as PyTorch keeps ``_single_tensor_adam``
beside its foreach path): ``foreach=False`` runs that one, and the tests check that both agree.
"""

from __future__ import annotations

import math
import numbers
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from giagrad._validation import check_betas, check_non_negative
from giagrad.grad_mode import enable_grad
from giagrad.hooks import RemovableHandle, register
from giagrad.tensor import Tensor

__all__ = ["Optimizer", "register_optimizer_step_pre_hook"]

# What an optimizer takes as ``params``: tensors, or parameter groups (dicts with "params").
Params = Iterable[Tensor] | Iterable[dict[str, Any]]

# Functions called at the start of every optimizer's step, by registration number.
_step_pre_hooks: OrderedDict[int, Callable[[Any, tuple, dict], None]] = OrderedDict()


def register_optimizer_step_pre_hook(hook: Callable[[Any, tuple, dict], None]) -> RemovableHandle:
    """Call ``hook(optimizer, args, kwargs)`` at the start of every optimizer's ``step``.

    As ``torch.optim.optimizer.register_optimizer_step_pre_hook``, except that the hook's return
    value is ignored (it cannot replace the step's arguments). ``DistributedDataParallel`` uses it
    to average the gradients across processes before the parameters are updated.

    Examples
    --------
    >>> handle = register_optimizer_step_pre_hook(lambda optimizer, args, kwargs: print("stepping"))
    >>> handle.remove()
    """
    if not callable(hook):
        raise TypeError(f"register_optimizer_step_pre_hook: expected a callable, got {type(hook).__name__}")
    return register(_step_pre_hooks, hook, prepend=False)


class _Bucket:
    """The parameters of one group that share a dtype, packed into contiguous flat buffers.

    ``data`` and ``grad`` hold the parameters' values and gradients end to end; ``state`` maps
    a state name (``"exp_avg"``, ...) to a flat buffer of the same layout; ``scratch`` holds
    work arrays for the update, so that a step allocates no temporaries.
    """

    __slots__ = ("params", "slices", "data", "grad", "data_views", "grad_views", "state", "scratch", "in_step")

    def __init__(self, params: list[Tensor], dtype: np.dtype) -> None:
        self.params = params
        self.slices: list[slice] = []
        start = 0
        for p in params:
            self.slices.append(slice(start, start + p.data.size))
            start += p.data.size
        self.data = np.empty(start, dtype=dtype)
        self.grad = np.zeros(start, dtype=dtype)
        self.data_views: list[np.ndarray] = []
        self.grad_views: list[np.ndarray] = []
        for p, segment in zip(params, self.slices, strict=True):
            data_view = self.data[segment].reshape(p.data.shape)
            np.copyto(data_view, p.data)
            grad_view = self.grad[segment].reshape(p.data.shape)
            p.data = data_view
            p.grad_storage = grad_view
            if p.grad is not None:
                np.copyto(grad_view, p.grad)
                p.grad = grad_view
            self.data_views.append(data_view)
            self.grad_views.append(grad_view)
        self.state: dict[str, np.ndarray] = {}
        self.scratch: list[np.ndarray] = []
        # True while every parameter has taken the same steps (the whole-buffer update applies);
        # checked in full again after a step that skipped some parameters or a state change.
        self.in_step = False

    def state_buffer(self, name: str) -> np.ndarray:
        buffer = self.state.get(name)
        if buffer is None:
            buffer = self.state[name] = np.zeros_like(self.data)
        return buffer

    def scratch_buffers(self, count: int) -> list[np.ndarray]:
        while len(self.scratch) < count:
            self.scratch.append(np.empty_like(self.data))
        return self.scratch


class Optimizer:
    """Base class of the optimizers: parameter groups, state, ``step`` and ``state_dict``.

    Parameters
    ----------
    params : iterable of Tensor or of dict
        The parameters to optimize (leaf tensors that require grad), or a list of dicts, each
        with a ``"params"`` entry and hyper-parameters that override ``defaults`` for that group.
    defaults : dict
        The hyper-parameters of the groups that do not set them.

    Notes
    -----
    **The parameters' arrays become views of the optimizer's buffers.** When the optimizer is
    created, the parameters of each group are copied into one contiguous buffer per dtype and
    each ``p.data`` is rebound to a view of its segment (same shape, same values); gradients
    get a home in a second buffer, so that backward writes them there. This is what makes a step
    a few whole-buffer numpy calls. It is invisible as long as parameters are changed in place
    (``p.data[...] = values``, ``p.copy_(values)`` under ``no_grad``). Rebinding ``p.data`` to a
    new array after creating the optimizer (``p.data = ...``, converting the model with
    ``model.double()``) detaches the parameter from the optimizer, and ``step`` raises a
    ``RuntimeError`` rather than silently not updating it: as in PyTorch, create the optimizer
    after converting the model. For the same reason, two optimizers should not share parameters
    (the newer one takes them over).

    **foreach.** Every optimizer takes ``foreach`` (PyTorch's name). The default (None, or True)
    runs the update rule on each group's whole buffers at once; ``foreach=False`` runs a plain
    per-parameter implementation of the same rule: slower with many parameters, written to be
    read, and the reference the fast path is tested against. Both give the same results.

    ``state[p]`` is a dict per parameter (``"step"`` and views of its state arrays, such as
    ``"exp_avg"``), created at the parameter's first update. A parameter whose ``.grad`` is None
    is skipped by ``step``: no update, no weight decay, no change to its state.

    Examples
    --------
    >>> optimizer = giagrad.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    >>> optimizer.zero_grad()
    >>> loss_fn(model(x), y).backward()
    >>> optimizer.step()
    """

    # Per-parameter numbers kept in ``state[p]`` beside the arrays, with their initial values.
    _initial_scalars: dict[str, Any] = {"step": 0}
    # How many work arrays the update rule needs.
    _scratch_count: int = 2
    # The hyper-parameters that must be >= 0, checked in this order by the base ``_validate``.
    _non_negative: tuple[str, ...] = ()
    # Whether the group has ``betas`` (a pair in [0, 1)), checked after those.
    _has_betas: bool = False

    def __init__(self, params: Params, defaults: dict[str, Any]) -> None:
        self._validate(defaults)
        self.defaults = dict(defaults)
        self.param_groups: list[dict[str, Any]] = []
        self.state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        self._buckets: list[list[_Bucket]] = []
        if isinstance(params, Tensor):
            raise TypeError(
                f"{type(self).__name__}: params must be an iterable of tensors or of dicts, got a single "
                "Tensor; pass [tensor] or model.parameters()"
            )
        if callable(getattr(params, "parameters", None)):  # a model (nn.Module), not its parameters
            raise TypeError(
                f"{type(self).__name__}: params must be an iterable of tensors, got a model "
                f"({type(params).__name__}); pass model.parameters()"
            )
        if not hasattr(params, "__iter__"):
            raise TypeError(f"{type(self).__name__}: params must be an iterable of tensors or of dicts, got "
                            f"{type(params).__name__}; pass model.parameters()")
        if isinstance(params, set):
            raise TypeError(f"{type(self).__name__}: parameters must be an ordered collection, not a set "
                            "(the order fixes state_dict)")
        groups: list[Any] = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    # ------------------------------------------------------------------ for the subclasses

    def _validate(self, hyperparameters: dict[str, Any]) -> None:
        """Raise ValueError for bad hyper-parameters (a group's or the defaults).

        Checks the names in ``_non_negative``, then ``betas`` when ``_has_betas``; a subclass
        with more rules calls this first and adds its own checks after.
        """
        name = type(self).__name__
        for key in self._non_negative:
            check_non_negative(name, key, hyperparameters[key])
        if self._has_betas:
            check_betas(name, hyperparameters["betas"])

    def _state_names(self, group: dict[str, Any]) -> tuple[tuple[str, float], ...]:
        """The state arrays the update rule needs for this group, with their initial values."""
        return ()

    def _update(self, group: dict[str, Any], param: np.ndarray, grad: np.ndarray, state: dict[str, np.ndarray],
                scratch: list[np.ndarray], scalars: dict[str, Any], created: tuple[str, ...]) -> None:
        """Apply the update rule in place.

        ``param``, ``grad``, the arrays of ``state`` and of ``scratch`` all have the same shape:
        either the whole flat buffers of a group or one parameter's segment. ``scalars`` holds
        the per-parameter numbers (``step`` already counts this step) and may be changed;
        ``created`` names the state arrays that were created for this step.
        """
        raise NotImplementedError(f"{type(self).__name__} has no update rule")

    def _single_tensor_update(self, group: dict[str, Any], param: np.ndarray, grad: np.ndarray,
                              state: dict[str, np.ndarray], scalars: dict[str, Any], created: tuple[str, ...]) -> None:
        """The update rule for one parameter, written plainly (``foreach=False``).

        The same arguments as :meth:`_update` without the work arrays: it may allocate. It
        changes ``param`` and the arrays of ``state`` in place and is the reference that
        :meth:`_update` is tested against.
        """
        raise NotImplementedError(f"{type(self).__name__} has no single-tensor update rule")

    # ------------------------------------------------------------------------ param groups

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own hyper-parameters (the defaults fill the rest).

        Useful to unfreeze layers while training: the new group's parameters are packed into
        the optimizer's buffers like the others.
        """
        name = type(self).__name__
        if not isinstance(param_group, dict):
            raise TypeError(f"{name}.add_param_group: expected a dict, got {type(param_group).__name__}")
        group = dict(param_group)
        params = group.get("params")
        if params is None:
            raise ValueError(f"{name}.add_param_group: the group has no 'params' entry")
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError(f"{name}: parameters must be an ordered collection, not a set (the order fixes state_dict)")
        params = list(params)
        if not params:
            raise ValueError(f"{name}: got an empty parameter list")
        seen: set[int] = set()
        for group_seen in self.param_groups:
            seen.update(id(p) for p in group_seen["params"])
        new_ids: set[int] = set()
        for index, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{name}: parameter {index} is a {type(p).__name__}, expected a Tensor")
            if not p.is_leaf:
                raise ValueError(f"{name}: parameter {index} (shape {p.shape}) is not a leaf tensor; "
                                 "only leaves (parameters) can be optimized")
            if not p.requires_grad:
                raise ValueError(f"{name}: parameter {index} (shape {p.shape}) does not require grad")
            if id(p) in seen:
                raise ValueError(f"{name}: parameter {index} (shape {p.shape}) is already in another parameter group")
            if id(p) in new_ids:
                raise ValueError(f"{name}: parameter {index} (shape {p.shape}) appears twice in the group")
            new_ids.add(id(p))
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        self._validate(group)
        if group.get("foreach") not in (None, True, False):
            raise TypeError(f"{name}: foreach must be None, True or False, got {group['foreach']!r}")
        group["params"] = params
        by_dtype: dict[np.dtype, list[Tensor]] = {}
        for p in params:
            by_dtype.setdefault(p.data.dtype, []).append(p)
        self.param_groups.append(group)
        self._buckets.append([_Bucket(members, dtype) for dtype, members in by_dtype.items()])

    # ------------------------------------------------------------------------------ zero_grad

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients before the next backward.

        With ``set_to_none=True`` (the default) each ``p.grad`` becomes None; the next backward
        writes the new gradient into the optimizer's buffer again. With ``False`` the gradients
        that exist are set to zeros (as in PyTorch, a None gradient stays None).
        """
        for buckets in self._buckets:
            for bucket in buckets:
                if set_to_none:
                    for p in bucket.params:
                        p.grad = None
                else:
                    bucket.grad.fill(0)
                    for p, grad_view in zip(bucket.params, bucket.grad_views, strict=True):
                        if p.grad is not None:
                            p.grad = grad_view

    # ---------------------------------------------------------------------------------- step

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient, once.

        Parameters
        ----------
        closure : callable, optional
            Re-evaluates the model and returns the loss (called with gradients enabled, before
            the update); its result is returned.
        """
        if _step_pre_hooks:
            for hook in list(_step_pre_hooks.values()):
                hook(self, (closure,) if closure is not None else (), {})
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        if len(self._buckets) != len(self.param_groups):
            raise RuntimeError(f"{type(self).__name__}.step: param_groups was changed directly; "
                               "add groups with add_param_group")
        for group, buckets in zip(self.param_groups, self._buckets, strict=True):
            for bucket in buckets:
                self._step_bucket(group, bucket)
        return loss

    def _step_bucket(self, group: dict[str, Any], bucket: _Bucket) -> None:
        params = bucket.params
        state = self.state
        all_present = True
        for p, data_view, grad_view in zip(params, bucket.data_views, bucket.grad_views, strict=True):
            if p.data is not data_view:
                self._raise_detached(p)
            grad = p.grad
            if grad is None:
                all_present = False
            elif grad is not grad_view:
                self._adopt_grad(p, grad, grad_view)
        names = self._state_names(group)
        if group.get("foreach") is False:
            self._step_each_parameter(group, bucket, names)
            return
        scratch = bucket.scratch_buffers(self._scratch_count)
        if all_present and (bucket.in_step or self._same_history(bucket)):
            # One update on the whole buffers.
            first_state = state.get(params[0])
            ready = bool(first_state)
            for name, _ in names:
                if ready and name not in first_state:  # type: ignore[operator]
                    ready = False
            if ready:  # the usual case: every parameter has its state already
                scalars = {key: first_state[key] for key in self._initial_scalars}  # type: ignore[index]
                scalars["step"] += 1
                created: tuple[str, ...] = ()
            else:
                scalars, created = self._prepare_state(bucket, 0, names)
                for index in range(1, len(params)):
                    self._prepare_state(bucket, index, names)
            arrays = {name: bucket.state[name] for name, _ in names}
            self._update(group, bucket.data, bucket.grad, arrays, scratch, scalars, created)
            for p in params:
                state[p].update(scalars)
                p._mark_modified()
            bucket.in_step = True
            return
        # Some parameters have no gradient (or different histories): one update per segment.
        for index, p in enumerate(params):
            if p.grad is None:
                continue
            segment = bucket.slices[index]
            scalars, created = self._prepare_state(bucket, index, names)
            arrays = {name: bucket.state[name][segment] for name, _ in names}
            self._update(group, bucket.data[segment], bucket.grad[segment], arrays,
                         [work[segment] for work in scratch], scalars, created)
            state[p].update(scalars)
            p._mark_modified()
        bucket.in_step = False

    def _step_each_parameter(self, group: dict[str, Any], bucket: _Bucket, names: tuple[tuple[str, float], ...]
                             ) -> None:
        # foreach=False: the plain rule, one parameter at a time (same storage, other arithmetic).
        for index, p in enumerate(bucket.params):
            if p.grad is None:
                continue
            scalars, created = self._prepare_state(bucket, index, names)
            p_state = self.state[p]
            arrays = {name: p_state[name] for name, _ in names}
            self._single_tensor_update(group, bucket.data_views[index], bucket.grad_views[index], arrays, scalars,
                                       created)
            p_state.update(scalars)
            p._mark_modified()
        bucket.in_step = False

    def _same_history(self, bucket: _Bucket) -> bool:
        """Whether every parameter of the bucket has the same state keys and scalars (step, ...)."""
        first_state = self.state.get(bucket.params[0])
        for p in bucket.params[1:]:
            p_state = self.state.get(p)
            if not p_state or not first_state:
                if p_state or first_state:
                    return False
                continue
            if p_state.keys() != first_state.keys():
                return False
            for key in self._initial_scalars:
                if p_state[key] != first_state[key]:
                    return False
        return True

    def _prepare_state(self, bucket: _Bucket, index: int, names: tuple[tuple[str, float], ...]
                       ) -> tuple[dict[str, Any], tuple[str, ...]]:
        """Create the parameter's missing state; return its scalars for this step and what was created."""
        p = bucket.params[index]
        p_state = self.state[p]
        if not p_state:
            p_state.update(self._initial_scalars)
        created = []
        for name, initial in names:
            if name not in p_state:
                view = bucket.state_buffer(name)[bucket.slices[index]].reshape(p.data.shape)
                view.fill(initial)
                p_state[name] = view
                created.append(name)
        scalars = {key: p_state[key] for key in self._initial_scalars}
        scalars["step"] += 1
        return scalars, tuple(created)

    def _adopt_grad(self, p: Tensor, grad: Any, grad_view: np.ndarray) -> None:
        # The user assigned p.grad another array: copy it into the parameter's segment.
        grad_array = grad.data if isinstance(grad, Tensor) else np.asarray(grad)
        if grad_array.shape != grad_view.shape:
            raise ValueError(f"{type(self).__name__}.step: a parameter of shape {grad_view.shape} has a .grad "
                             f"of shape {grad_array.shape}")
        np.copyto(grad_view, grad_array, casting="same_kind")
        p.grad = grad_view

    def _raise_detached(self, p: Tensor) -> None:
        raise RuntimeError(
            f"{type(self).__name__}.step: a parameter of shape {p.shape} (dtype {p.dtype}) no longer uses the "
            "optimizer's buffer: its .data was replaced by another array after the optimizer was created "
            "(p.data = ..., model.double(), or another optimizer created on the same parameters). Create the "
            "optimizer after converting the model, and change parameters in place (p.data[...] = values)"
        )

    # ----------------------------------------------------------------------------- state_dict

    def state_dict(self) -> dict[str, Any]:
        """The optimizer's state and hyper-parameters, in PyTorch's layout (arrays copied).

        ``{"state": {index: {"step": ..., "exp_avg": array, ...}}, "param_groups": [{..., "params":
        [indices]}]}``, where a parameter's index is its position in the groups, counting on.
        """
        packed_state: dict[int, dict[str, Any]] = {}
        packed_groups = []
        index = 0
        for group in self.param_groups:
            indices = []
            for p in group["params"]:
                p_state = self.state.get(p)
                if p_state:
                    packed_state[index] = {key: value.copy() if isinstance(value, np.ndarray) else value
                                           for key, value in p_state.items()}
                indices.append(index)
                index += 1
            packed = {key: value for key, value in group.items() if key != "params"}
            packed["params"] = indices
            packed_groups.append(packed)
        return {"state": packed_state, "param_groups": packed_groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned, so that training continues exactly.

        The state arrays are copied into this optimizer's buffers; the groups' hyper-parameters
        are replaced by the saved ones. Everything is checked before anything changes, and a
        problem raises ``ValueError`` naming the group, the parameter and the key: the saved
        groups must match this optimizer's groups in number, sizes and parameter shapes; each
        group must hold every hyper-parameter of this optimizer (an on/off flag it lacks keeps
        this optimizer's setting), of the same kind (number, bool, pair) and valid by the
        constructor's rules (``lr >= 0``, ...); each parameter's
        state must hold exactly the entries this optimizer's update uses (an integer ``step``
        >= 0 and, for Adam, ``exp_avg`` and ``exp_avg_sq`` of the parameter's shape). So the
        state of another optimizer (Adam's into SGD) or a state with a missing entry is refused
        instead of being silently refilled with zeros.
        """
        name = type(self).__name__
        if not isinstance(state_dict, dict) or "state" not in state_dict or "param_groups" not in state_dict:
            raise ValueError(f"{name}.load_state_dict: expected a dict with 'state' and 'param_groups'")
        saved_groups, saved_state = state_dict["param_groups"], state_dict["state"]
        if not isinstance(saved_groups, (list, tuple)) or not isinstance(saved_state, dict):
            raise ValueError(f"{name}.load_state_dict: 'param_groups' should be a list and 'state' a dict, got "
                             f"{type(saved_groups).__name__} and {type(saved_state).__name__}")
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{name}.load_state_dict: the saved state has {len(saved_groups)} parameter groups, "
                             f"this optimizer has {len(self.param_groups)}")
        new_groups = [self._checked_group(index, saved) for index, saved in enumerate(saved_groups)]
        by_index: dict[Any, tuple[Tensor, _Bucket, int, dict[str, Any]]] = {}
        for group_index, (saved, group, buckets, new_group) in enumerate(
                zip(saved_groups, self.param_groups, self._buckets, new_groups, strict=True)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(f"{name}.load_state_dict: saved group {group_index} has {len(saved['params'])} "
                                 f"parameters, this optimizer's has {len(group['params'])}")
            where = {id(p): (bucket, i) for bucket in buckets for i, p in enumerate(bucket.params)}
            for saved_index, p in zip(saved["params"], group["params"], strict=True):
                if saved_index in by_index:
                    raise ValueError(f"{name}.load_state_dict: parameter index {saved_index!r} appears twice "
                                     "in the saved groups")
                by_index[saved_index] = (p, *where[id(p)], new_group)
        for saved_index, entry in saved_state.items():
            if saved_index not in by_index:
                raise ValueError(f"{name}.load_state_dict: state for parameter {saved_index!r}, which no group has")
            p, _, _, new_group = by_index[saved_index]
            self._check_parameter_state(saved_index, entry, p, new_group)
        # Everything checked: now replace.
        for new_group, group in zip(new_groups, self.param_groups, strict=True):
            for key, value in new_group.items():
                if key != "params":
                    group[key] = value
        self.state.clear()
        for buckets in self._buckets:
            for bucket in buckets:
                bucket.in_step = False
        for saved_index, entry in saved_state.items():
            p, bucket, i, _ = by_index[saved_index]
            p_state = self.state[p]
            for key, value in entry.items():
                if key == "step":
                    p_state[key] = int(_plain_number(value))
                elif key in self._initial_scalars:
                    p_state[key] = _plain_number(value)
                else:
                    view = bucket.state_buffer(key)[bucket.slices[i]].reshape(p.shape)
                    np.copyto(view, value, casting="unsafe")
                    p_state[key] = view

    def _checked_group(self, index: int, saved: Any) -> dict[str, Any]:
        """The saved group's hyper-parameters, checked as the constructor checks them (not applied)."""
        where = f"{type(self).__name__}.load_state_dict: param_groups[{index}]"
        if not isinstance(saved, dict) or not isinstance(saved.get("params"), (list, tuple)):
            raise ValueError(f"{where} should be a dict with a list 'params'")
        group = {key: value for key, value in saved.items() if key != "params"}
        for key, default in self.defaults.items():
            if key not in group and isinstance(default, bool):
                # an on/off option newer than the saved state keeps this optimizer's setting, as
                # PyTorch does for its flags (foreach, maximize, ...); numbers are never guessed
                group[key] = self.param_groups[index][key]
            if key not in group:
                raise ValueError(f"{where} has no {key!r}, which {type(self).__name__} needs (is this the state "
                                 "of another optimizer?)")
            value = group[key]
            if isinstance(default, bool):
                if not isinstance(value, (bool, np.bool_)):
                    raise ValueError(f"{where}: {key!r} should be a bool, got {value!r}")
                group[key] = bool(value)
            elif isinstance(default, numbers.Real):
                if not _is_real(value):
                    raise ValueError(f"{where}: {key!r} should be a number, got {value!r}")
                group[key] = _plain_number(value)
            elif isinstance(default, tuple):
                if (not isinstance(value, (tuple, list)) or len(value) != len(default)
                        or not all(_is_real(item) for item in value)):
                    raise ValueError(f"{where}: {key!r} should be {len(default)} numbers, got {value!r}")
                group[key] = tuple(_plain_number(item) for item in value)
        try:
            self._validate(group)
        except (ValueError, TypeError) as error:
            raise ValueError(f"{where}: {error}") from None
        group["params"] = saved["params"]
        return group

    def _check_parameter_state(self, saved_index: Any, entry: Any, p: Tensor, group: dict[str, Any]) -> None:
        """Raise ValueError unless ``entry`` is exactly the state this optimizer keeps for ``p``."""
        where = f"{type(self).__name__}.load_state_dict: state of parameter {saved_index!r}"
        if not isinstance(entry, dict):
            raise ValueError(f"{where} should be a dict, got {type(entry).__name__}")
        arrays = [state_name for state_name, _ in self._state_names(group)]
        expected = [*self._initial_scalars, *arrays]
        missing = [key for key in expected if key not in entry]
        unexpected = [key for key in entry if key not in expected]
        if missing or unexpected:
            problems = [f"missing {key!r}" for key in missing] + [f"unexpected {key!r}" for key in unexpected]
            raise ValueError(f"{where}: {', '.join(problems)}; {type(self).__name__} with these hyper-parameters "
                             f"keeps {expected} (is this the state of another optimizer?)")
        for key in self._initial_scalars:
            value = entry[key]
            if key == "step":
                if not _is_integer(value) or value < 0:
                    raise ValueError(f"{where}: 'step' should be an integer >= 0, got {value!r}")
            elif not _is_real(value) or not math.isfinite(value):
                raise ValueError(f"{where}: {key!r} should be a finite number, got {value!r}")
        for key in arrays:
            value = entry[key]
            if not isinstance(value, np.ndarray) or value.dtype.kind not in "iuf":
                raise ValueError(f"{where}: {key!r} should be a numeric array, got {type(value).__name__}"
                                 + (f" of dtype {value.dtype}" if isinstance(value, np.ndarray) else ""))
            if value.shape != p.shape:
                raise ValueError(f"{where}: {key!r} has shape {value.shape}, the parameter has shape {p.shape}")

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for index, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {index}")
            for key in sorted(group):
                if key != "params":
                    lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)


# ----------------------------------------------------------------- helpers for the update rules


def _is_real(value: Any) -> bool:
    """A real number (Python or numpy, or a 0-d numeric array), not a bool."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _is_integer(value: Any) -> bool:
    """An integer, or a float with an integral value (PyTorch keeps ``step`` as a float)."""
    if not _is_real(value):
        return False
    value = _plain_number(value)
    return isinstance(value, int) or (math.isfinite(value) and float(value).is_integer())


def _plain_number(value: Any) -> Any:
    """A Python int or float for a numpy scalar or 0-d array (``step`` must add to ints)."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, np.generic):
        value = value.item()
    return value


def decoupled_weight_decay(param: np.ndarray, lr: float, weight_decay: float, decoupled: bool = True) -> float:
    """Shrink ``param`` in place by ``lr * weight_decay`` when the decay is ``decoupled`` (AdamW, Lion).

    Returns the weight decay left to add to the gradient (:func:`effective_grad`): 0 when the
    decay was decoupled, else ``weight_decay`` unchanged.
    """
    if not decoupled:
        return weight_decay
    if weight_decay != 0:
        param *= 1.0 - lr * weight_decay
    return 0.0


def plain_grad(param: np.ndarray, grad: np.ndarray, weight_decay: float, maximize: bool) -> np.ndarray:
    """:func:`effective_grad` for the single-tensor rules: ``(-grad if maximize) + weight_decay * param``."""
    grad = -grad if maximize else grad
    return grad + weight_decay * param if weight_decay != 0 else grad


def effective_grad(param: np.ndarray, grad: np.ndarray, out: np.ndarray, weight_decay: float,
                   maximize: bool) -> np.ndarray:
    """The gradient the rule uses: ``-grad`` when maximizing, plus ``weight_decay * param``.

    Returns ``grad`` itself when there is nothing to add (it is never changed in place), else
    ``out`` holding the result.
    """
    if weight_decay == 0:
        if not maximize:
            return grad
        return np.negative(grad, out=out)
    np.multiply(param, weight_decay, out=out)
    if maximize:
        out -= grad
    else:
        out += grad
    return out
