"""``Module``, the base class of every layer and model, and ``Parameter``, a tensor it trains.

A model is a ``Module`` subclass: assign layers and parameters as attributes in ``__init__`` and
write ``forward``. Assignment registers them, in order, so that ``parameters()``, ``state_dict()``,
``train()`` and ``repr()`` find them without any bookkeeping by the user.

Each registered parameter, buffer and child module is kept twice: in an ordered registry
(``_parameters``, ``_buffers``, ``_modules``) and as a plain instance attribute. The registries
give the order and the kind; the plain attribute makes ``self.weight`` inside ``forward`` an
ordinary attribute read (PyTorch routes it through ``__getattr__``, which is several times slower,
and ``forward`` runs once per batch). ``__setattr__`` and ``__delattr__`` keep the two in step, so
change a module's parameters by assignment, ``register_parameter`` or ``del``, never by editing
``_parameters`` directly.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from giagrad.device import parse_to_arguments
from giagrad.grad_mode import is_grad_enabled, no_grad
from giagrad.nn import hooks as _hooks
from giagrad.tensor import Tensor

__all__ = ["Module", "Parameter"]

# Counts changes of any module's mode (train/eval) and of its parameters or submodules: a step
# captured by giagrad.jit compares it with the count at capture to know when to capture again.
structure_version = 0


class Parameter(Tensor):
    """A tensor that a ``Module`` registers as trainable: it requires grad by default.

    Parameters
    ----------
    data : array_like or Tensor, optional
        The initial values. A tensor or a numpy array is shared, not copied. Empty when omitted.
    requires_grad : bool
        Whether the optimizer should train it (default True).

    Examples
    --------
    >>> w = nn.Parameter(giagrad.zeros(2, 3))
    >>> w.requires_grad
    True
    """

    # Tensor has __slots__; an empty one keeps parameters as light as tensors (no __dict__).
    __slots__ = ()

    def __init__(self, data: Any = None, requires_grad: bool = True) -> None:
        if data is None:
            data = np.empty(0, dtype=np.float32)
        elif isinstance(data, Tensor):
            data = data.data  # share the array; the new parameter is a leaf
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class _IncompatibleKeys(NamedTuple):
    """What ``load_state_dict`` did not match: keys the model has but the state lacked, and back."""

    missing_keys: list[str]
    unexpected_keys: list[str]


class Module:
    """Base class of layers and models: subclass it, assign submodules and parameters, write ``forward``.

    Calling the module runs ``forward``. Attributes that are ``Parameter``, ``Module`` or a
    registered buffer are tracked in definition order. Unlike PyTorch there are no forward or
    backward hooks and no devices.

    Attributes
    ----------
    training : bool
        True in training mode (the default), False after ``eval()``; layers such as dropout and
        batch normalisation behave differently in each.

    Examples
    --------
    >>> class MLP(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.hidden = nn.Linear(4, 8)
    ...         self.out = nn.Linear(8, 2)
    ...     def forward(self, x):
    ...         return self.out(self.hidden(x).relu())
    >>> model = MLP()
    >>> [name for name, _ in model.named_parameters()]
    ['hidden.weight', 'hidden.bias', 'out.weight', 'out.bias']
    """

    training: bool
    _parameters: dict[str, Parameter | None]
    _buffers: dict[str, Tensor | None]
    _non_persistent_buffers: set[str]
    _modules: dict[str, Module | None]

    if TYPE_CHECKING:
        # Parameters, buffers and submodules are registered by name at run time: tell type
        # checkers that such attributes exist (PyTorch's Module declares the same).
        def __getattr__(self, name: str) -> Any: ...

    def __init__(self) -> None:
        set_plain = object.__setattr__
        set_plain(self, "training", True)
        set_plain(self, "_parameters", OrderedDict())
        set_plain(self, "_buffers", OrderedDict())
        set_plain(self, "_non_persistent_buffers", set())
        set_plain(self, "_modules", OrderedDict())
        set_plain(self, "_forward_pre_hooks", OrderedDict())
        set_plain(self, "_forward_hooks", OrderedDict())
        set_plain(self, "_backward_hooks", OrderedDict())

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The computation; every subclass writes its own."""
        raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required "forward" function')

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._forward_pre_hooks or self._forward_hooks or self._backward_hooks:
            return self._call_with_hooks(args, kwargs)
        return self.forward(*args, **kwargs)

    # ------------------------------------------------------------------------------- hooks

    def _call_with_hooks(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if self._forward_pre_hooks:
            args, kwargs = _hooks.run_forward_pre_hooks(self, self._forward_pre_hooks, args, kwargs)
        recorder = None
        if self._backward_hooks and is_grad_enabled():
            recorder = _hooks.BackwardHookRecorder(self, lambda: list(self._backward_hooks.values()))
            args = recorder.wrap_inputs(args)
        output = self.forward(*args, **kwargs)
        if self._forward_hooks:
            output = _hooks.run_forward_hooks(self, self._forward_hooks, args, kwargs, output)
        if recorder is not None:
            output = recorder.wrap_outputs(output)
        return output

    def register_forward_pre_hook(self, hook: Callable[..., Any], *, prepend: bool = False,
                                  with_kwargs: bool = False) -> _hooks.RemovableHandle:
        """Call ``hook(module, args)`` before every ``forward``; a returned value replaces ``args``.

        With ``with_kwargs=True`` the hook is ``hook(module, args, kwargs)`` and may return
        ``(args, kwargs)``. ``prepend`` runs it before the hooks already registered.

        Examples
        --------
        >>> handle = model.register_forward_pre_hook(lambda module, args: print(args[0].shape))
        >>> handle.remove()
        """
        return _hooks.register(self._forward_pre_hooks, (hook, with_kwargs), prepend)

    def register_forward_hook(self, hook: Callable[..., Any], *, prepend: bool = False,
                              with_kwargs: bool = False) -> _hooks.RemovableHandle:
        """Call ``hook(module, args, output)`` after every ``forward``; a returned value replaces the output.

        With ``with_kwargs=True`` the hook is ``hook(module, args, kwargs, output)``.

        Examples
        --------
        >>> layer, shapes = nn.Linear(4, 2), []
        >>> handle = layer.register_forward_hook(lambda module, args, output: shapes.append(output.shape))
        >>> _ = layer(giagrad.randn(3, 4))
        >>> shapes
        [(3, 2)]
        """
        return _hooks.register(self._forward_hooks, (hook, with_kwargs), prepend)

    def register_full_backward_hook(self, hook: Callable[..., Any], prepend: bool = False) -> _hooks.RemovableHandle:
        """Call ``hook(module, grad_input, grad_output)`` during backward, as PyTorch does.

        ``grad_output`` holds the gradients (numpy arrays) with respect to the module's outputs,
        ``grad_input`` those with respect to its positional inputs (None for an input that is not
        a tensor requiring grad). A returned tuple replaces ``grad_input`` (supported when one
        input requires grad, the usual case). The hook runs for forwards called while it is
        registered and grad mode is on.

        Examples
        --------
        >>> layer, shapes = nn.Linear(4, 2), []
        >>> handle = layer.register_full_backward_hook(
        ...     lambda module, grad_input, grad_output: shapes.append(grad_output[0].shape))
        >>> layer(giagrad.randn(3, 4, requires_grad=True)).sum().backward()
        >>> shapes
        [(3, 2)]
        """
        return _hooks.register(self._backward_hooks, hook, prepend)

    # --------------------------------------------------------------------------- registration

    def __setattr__(self, name: str, value: Any) -> None:
        global structure_version
        registries = self.__dict__
        parameters = registries.get("_parameters")
        if isinstance(value, Parameter):
            if parameters is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            self._forget(name, keep=parameters)
            parameters[name] = value
        elif isinstance(value, Module):
            if parameters is None:
                raise AttributeError("cannot assign modules before Module.__init__() call")
            self._forget(name, keep=self._modules)
            self._modules[name] = value
        elif parameters is not None and name in parameters:
            if value is not None:
                raise TypeError(
                    f"cannot assign {type(value).__name__} as parameter '{name}' "
                    "(nn.Parameter or None expected)"
                )
            parameters[name] = None
            structure_version += 1
        elif parameters is not None and name in self._modules:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as child module '{name}' "
                                "(nn.Module or None expected)")
            self._modules[name] = None
            structure_version += 1
        elif parameters is not None and name in self._buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign {type(value).__name__} as buffer '{name}' "
                                "(Tensor or None expected)")
            self._buffers[name] = value
            structure_version += 1
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        self._forget(name)
        object.__delattr__(self, name)

    def _forget(self, name: str, keep: Mapping[str, Any] | None = None) -> None:
        """Remove ``name`` from the registries other than ``keep``.

        ``keep`` is the registry about to receive ``name``: replacing an entry there keeps its
        place in the order, as in PyTorch.
        """
        global structure_version
        structure_version += 1  # every registration and removal of a parameter, buffer or module comes here
        for registry in (self._parameters, self._modules, self._buffers):
            if registry is not keep:
                registry.pop(name, None)
        if keep is not self._buffers:
            self._non_persistent_buffers.discard(name)

    def _check_new_name(self, kind: str, name: Any, registry: Mapping[str, Any]) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot add a {kind} before Module.__init__() call")
        if not isinstance(name, str):
            raise TypeError(f"{kind} name should be a string, got {type(name).__name__}")
        if name == "":
            raise KeyError(f'{kind} name can\'t be empty string ""')
        if "." in name:
            raise KeyError(f'{kind} name can\'t contain ".", got: {name}')
        if hasattr(self, name) and name not in registry:
            raise KeyError(f"attribute '{name}' already exists")

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register ``param`` (or None, a declared but absent parameter such as a disabled bias)."""
        self._check_new_name("parameter", name, self._parameters)
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign {type(param).__name__} object to parameter '{name}' "
                            "(nn.Parameter or None required)")
        self._forget(name, keep=self._parameters)
        self._parameters[name] = param
        object.__setattr__(self, name, param)

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Register a tensor that is state but not trained (e.g. batch norm's running mean).

        Parameters
        ----------
        name : str
            The attribute name.
        tensor : Tensor or None
            The buffer; float buffers follow ``float()`` / ``double()``.
        persistent : bool
            Whether ``state_dict()`` includes it.

        Examples
        --------
        >>> class Counter(nn.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.register_buffer("count", giagrad.zeros(1))
        >>> list(Counter().state_dict())
        ['count']
        """
        self._check_new_name("buffer", name, self._buffers)
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign {type(tensor).__name__} object to buffer '{name}' "
                            "(Tensor or None required)")
        self._forget(name, keep=self._buffers)
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers.discard(name)
        else:
            self._non_persistent_buffers.add(name)
        object.__setattr__(self, name, tensor)

    def add_module(self, name: str, module: Module | None) -> None:
        """Register a child module under ``name`` (what attribute assignment does)."""
        self._check_new_name("module", name, self._modules)
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        self._forget(name, keep=self._modules)
        self._modules[name] = module
        object.__setattr__(self, name, module)

    register_module = add_module

    def get_submodule(self, target: str) -> Module:
        """The submodule at a dotted path such as ``"encoder.0"`` (the empty path is ``self``)."""
        module: Module = self
        if target == "":
            return module
        for part in target.split("."):
            child = module._modules.get(part)
            if child is None:
                raise AttributeError(f"{type(module).__name__} has no submodule `{part}` (looking for '{target}')")
            module = child
        return module

    # ------------------------------------------------------------------------------ walking

    def named_modules(self, memo: set[int] | None = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Module]]:
        """This module and all below it, each once, as ``(dotted name, module)``; this one is ``""``."""
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, module in self._modules.items():
            if module is None:
                continue
            yield from module.named_modules(memo, prefix + "." + name if prefix else name, remove_duplicate)

    def modules(self) -> Iterator[Module]:
        """This module and every module below it, each once."""
        for _, module in self.named_modules():
            yield module

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """The direct children as ``(name, module)``, each once."""
        seen: set[int] = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in seen:
                seen.add(id(module))
                yield name, module

    def children(self) -> Iterator[Module]:
        """The direct children, each once."""
        for _, module in self.named_children():
            yield module

    def _named_members(self, registry: str, prefix: str, recurse: bool,
                       remove_duplicate: bool) -> Iterator[tuple[str, Any]]:
        seen: set[int] = set()
        modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
        for module_prefix, module in modules:
            for name, value in getattr(module, registry).items():
                if value is None:
                    continue
                if remove_duplicate:
                    if id(value) in seen:
                        continue
                    seen.add(id(value))
                yield (module_prefix + "." + name if module_prefix else name), value

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator[tuple[str, Parameter]]:
        """Parameters as ``(dotted name, parameter)`` in definition order; a shared one once.

        Examples
        --------
        >>> dict(nn.Linear(2, 3).named_parameters()).keys()
        dict_keys(['weight', 'bias'])
        """
        return self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """The parameters in definition order, each shared one once (what an optimizer takes)."""
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Tensor]]:
        """Buffers as ``(dotted name, tensor)`` in definition order."""
        return self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        """The buffers in definition order."""
        for _, buffer in self.named_buffers(recurse=recurse):
            yield buffer

    def num_parameters(self, trainable_only: bool = False) -> int:
        """The number of scalar parameters, each shared parameter counted once.

        PyTorch has no such method (one writes ``sum(p.numel() for p in model.parameters())``).

        Parameters
        ----------
        trainable_only : bool
            Count only parameters with ``requires_grad=True``.

        Examples
        --------
        >>> nn.Linear(784, 128).num_parameters()
        100480
        """
        total = 0
        for param in self.parameters():
            if param.requires_grad or not trainable_only:
                total += param.data.size
        return total

    # ----------------------------------------------------------------------------- changing

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Call ``fn`` on every child module (recursively), then on this one; returns ``self``.

        Examples
        --------
        >>> def init_weights(m):
        ...     if isinstance(m, nn.Linear):
        ...         nn.init.xavier_uniform_(m.weight)
        >>> model.apply(init_weights)
        Sequential(...)
        """
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    def train(self, mode: bool = True) -> Module:
        """Set training mode (``mode=True``) or evaluation mode on this module and all below it."""
        if not isinstance(mode, bool):
            raise ValueError(f"train: training mode is expected to be a bool, got {mode!r}")
        global structure_version
        for module in self.modules():
            if module.training is not mode:
                structure_version += 1
            object.__setattr__(module, "training", mode)
        return self

    def eval(self) -> Module:
        """Set evaluation mode (``train(False)``): dropout off, batch norm uses running stats."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Set ``requires_grad`` on every parameter (False freezes the module)."""
        for param in self.parameters():
            param.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the parameters' gradients.

        Parameters
        ----------
        set_to_none : bool
            True (the default) sets ``.grad = None``; False fills existing gradients with zeros in
            place (an optimizer holding a reference to the array sees the zeros).
        """
        for param in self.parameters():
            if set_to_none:
                param.grad = None
            elif param.grad is not None:
                param.grad.fill(0)

    def to(self, *args: Any, **kwargs: Any) -> Module:
        """Convert the parameters and floating buffers to a floating dtype, in place; returns the module.

        Accepts PyTorch's forms: ``to(dtype)``, ``to(device)``, ``to(device, dtype)``,
        ``to(tensor)``. The device can only be the CPU (giagrad computes with numpy there), so
        ``model.to(device)`` with ``device = giagrad.device("cpu")`` changes nothing, and
        ``"cuda"`` raises. The ``Parameter`` objects stay the same (only their arrays change), so
        references to them remain valid; but, as in PyTorch, create the optimizer after the
        conversion, since an optimizer's state (momentum, ...) keeps the old dtype. Gradients are
        converted too.

        Examples
        --------
        >>> model = MLP().to(giagrad.float64)
        >>> model = model.to("cpu")
        """
        _, dtype = parse_to_arguments("Module.to", args, kwargs)
        if dtype is None:
            return self
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"Module.to: only floating dtypes are supported, got {dtype}")
        with no_grad():
            seen: set[int] = set()
            for tensor in (*self.parameters(), *self.buffers()):
                if id(tensor) in seen or tensor.data.dtype.kind != "f" or tensor.data.dtype == dtype:
                    continue
                seen.add(id(tensor))
                tensor.data = tensor.data.astype(dtype)
                if tensor.grad is not None:
                    tensor.grad = tensor.grad.astype(dtype)
                tensor._mark_modified()
        return self

    def cpu(self) -> Module:
        """This module (giagrad computes on the CPU)."""
        return self

    def cuda(self, *args: Any, **kwargs: Any) -> Module:
        """Raises: giagrad has no GPU backend."""
        return self.to("cuda")

    def float(self) -> Module:
        """Convert parameters and floating buffers to float32 in place (see ``to``).

        Create the optimizer after this conversion, as in PyTorch.
        """
        return self.to(np.float32)

    def double(self) -> Module:
        """Convert parameters and floating buffers to float64 in place (see ``to``).

        Create the optimizer after this conversion, as in PyTorch.
        """
        return self.to(np.float64)

    # ------------------------------------------------------------------------ state dicts

    def state_dict(self, prefix: str = "", keep_vars: bool = False) -> OrderedDict[str, Tensor]:
        """An ordered dict of every parameter and persistent buffer by dotted name.

        The tensors share memory with the module (as in PyTorch): copy or save them before
        training further. Keys follow PyTorch (``"0.weight"``, ``"encoder.bias"``); a parameter
        shared by two modules appears under both names.

        Parameters
        ----------
        prefix : str
            Prepended to every key.
        keep_vars : bool
            Return the ``Parameter`` objects themselves instead of detached tensors.

        Examples
        --------
        >>> giagrad.save(model.state_dict(), "model.npz")
        """
        state: OrderedDict[str, Tensor] = OrderedDict()
        for module_prefix, module in self.named_modules(prefix=prefix.rstrip("."), remove_duplicate=False):
            dot = module_prefix + "." if module_prefix else ""
            for name, param in module._parameters.items():
                if param is not None:
                    state[dot + name] = param if keep_vars else param.detach()
            for name, buffer in module._buffers.items():
                if buffer is not None and name not in module._non_persistent_buffers:
                    state[dot + name] = buffer if keep_vars else buffer.detach()
        return state

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> _IncompatibleKeys:
        """Copy parameters and buffers from ``state_dict`` into this module's existing arrays.

        Everything is checked first; on any problem one ``RuntimeError`` lists every problem and
        the module is left unchanged. Values may be tensors or numpy arrays; each is copied into
        the destination array, which keeps its dtype.

        Parameters
        ----------
        state_dict : mapping
            Dotted names to tensors or arrays, as returned by ``state_dict()``.
        strict : bool
            When True, missing and unexpected keys are errors; when False they are only
            reported in the result. Shape mismatches are errors either way (as in PyTorch).

        Returns
        -------
        NamedTuple
            ``(missing_keys, unexpected_keys)``.

        Examples
        --------
        >>> giagrad.save(model.state_dict(), "model.npz")
        >>> model.load_state_dict(giagrad.load("model.npz"))
        _IncompatibleKeys(missing_keys=[], unexpected_keys=[])
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"load_state_dict: expected a dict-like state, got {type(state_dict).__name__}")
        destinations = self.state_dict(keep_vars=True)
        missing = [key for key in destinations if key not in state_dict]
        unexpected = [key for key in state_dict if key not in destinations]
        problems: list[str] = []
        if strict:
            problems += [f'missing key "{key}"' for key in missing]
            problems += [f'unexpected key "{key}"' for key in unexpected]
        copies: list[tuple[Tensor, np.ndarray]] = []
        for key, destination in destinations.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            source = value.data if isinstance(value, Tensor) else value
            if not isinstance(source, np.ndarray) and not isinstance(source, np.generic):
                problems.append(f'"{key}" is a {type(value).__name__}, expected a Tensor or numpy array')
                continue
            source = np.asarray(source)
            if source.dtype.kind not in "biuf":
                problems.append(f'"{key}" has dtype {source.dtype}, expected a numeric array')
            elif source.shape != destination.data.shape:
                problems.append(f'size mismatch for "{key}": the state has shape {source.shape}, '
                                f"the model has shape {destination.data.shape}")
            else:
                copies.append((destination, source))
        if problems:
            raise RuntimeError(
                f"Error(s) in loading state_dict for {type(self).__name__} (nothing was loaded):\n  "
                + "\n  ".join(problems)
            )
        with no_grad():
            for destination, source in copies:
                np.copyto(destination.data, source, casting="unsafe")
                destination._mark_modified()
        return _IncompatibleKeys(missing, unexpected)

    # ---------------------------------------------------------------------------- printing

    def extra_repr(self) -> str:
        """The settings shown inside this module's ``repr`` (layers override it)."""
        return ""

    def __repr__(self) -> str:
        # PyTorch's layout: one line when there are no children, else one child per line.
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [f"({name}): " + _indent(repr(module), 2) for name, module in self._modules.items()]
        lines = extra_lines + child_lines
        text = type(self).__name__ + "("
        if lines:
            if len(extra_lines) == 1 and not child_lines:
                text += extra_lines[0]
            else:
                text += "\n  " + "\n  ".join(lines) + "\n"
        return text + ")"


def _indent(text: str, spaces: int) -> str:
    """Indent every line of ``text`` but the first."""
    return text.replace("\n", "\n" + " " * spaces)
