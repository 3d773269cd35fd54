"""Modules that hold other modules: ``Sequential``, ``ModuleList`` and ``ModuleDict``.

Their children are registered like any attribute, so their parameters, ``state_dict`` keys
(``"0.weight"``, ``"encoder.bias"``) and ``repr`` follow PyTorch.
"""

from __future__ import annotations

import operator
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from giagrad.nn.module import Module

__all__ = ["Sequential", "ModuleList", "ModuleDict"]


def _check_module(container: str, module: Any) -> Module:
    if not isinstance(module, Module):
        raise TypeError(f"{container}: {type(module).__name__} is not a Module")
    return module


def _position(container: str, index: Any, length: int, inserting: bool = False) -> int:
    """A non-negative position from a possibly negative index, or IndexError naming the container."""
    index = operator.index(index)
    if inserting:  # list.insert clamps; PyTorch's insert raises outside [-len, len]
        if not -length <= index <= length:
            raise IndexError(f"{container}: index {index} is out of range for insertion into {length} modules")
        return index + length if index < 0 else index
    if not -length <= index < length:
        raise IndexError(f"{container}: index {index} is out of range for {length} modules")
    return index % length


class Sequential(Module):
    """Modules applied one after another: the output of each is the input of the next.

    Parameters
    ----------
    *modules : Module, or one OrderedDict of name -> Module
        Positional modules are named ``"0"``, ``"1"``, ...; an ``OrderedDict`` gives names.

    Examples
    --------
    >>> model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    >>> model[0]            # the first Linear
    Linear(in_features=784, out_features=128, bias=True)
    >>> model[-1]           # the last
    Linear(in_features=128, out_features=10, bias=True)
    >>> model[:2]           # a Sequential of the first two
    Sequential(
      (0): Linear(in_features=784, out_features=128, bias=True)
      (1): ReLU()
    )
    """

    _modules: dict[str, Module]  # type: ignore[assignment]  # a container never holds None

    def __init__(self, *modules: Module | OrderedDict[str, Module]) -> None:
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, module in modules[0].items():
                self.add_module(name, _check_module("Sequential", module))
        else:
            for index, module in enumerate(modules):
                self.add_module(str(index), _check_module("Sequential", module))

    def forward(self, input: Any) -> Any:  # noqa: A002 (PyTorch's name)
        for module in self._modules.values():
            input = module(input)
        return input

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return type(self)(OrderedDict(list(self._modules.items())[index]))
        return list(self._modules.values())[_position("Sequential", index, len(self))]

    def __setitem__(self, index: int, module: Module) -> None:
        name = list(self._modules)[_position("Sequential", index, len(self))]
        setattr(self, name, _check_module("Sequential", module))

    def __delitem__(self, index: int | slice) -> None:
        names = list(self._modules)
        doomed = names[index] if isinstance(index, slice) else [names[_position("Sequential", index, len(self))]]
        for name in doomed:
            delattr(self, name)
        self._renumber()

    def _renumber(self) -> None:
        # Keep "0", "1", ... contiguous after a deletion or insertion, as PyTorch does; named
        # children (from an OrderedDict) keep their names.
        modules = list(self._modules.items())
        for name, _ in modules:
            delattr(self, name)
        for position, (name, module) in enumerate(modules):
            self.add_module(str(position) if name.isdigit() else name, module)

    def append(self, module: Module) -> Sequential:
        """Add ``module`` at the end (named by its position); returns ``self``."""
        self.add_module(str(len(self)), _check_module("Sequential", module))
        return self

    def insert(self, index: int, module: Module) -> Sequential:
        """Insert ``module`` before position ``index`` (negative counts from the end)."""
        _check_module("Sequential", module)
        position = _position("Sequential", index, len(self), inserting=True)
        modules = list(self._modules.values())
        modules.insert(position, module)
        for name in list(self._modules):
            delattr(self, name)
        for i, child in enumerate(modules):
            self.add_module(str(i), child)
        return self

    def extend(self, modules: Iterable[Module]) -> Sequential:
        """Append every module of ``modules``."""
        for module in modules:
            self.append(module)
        return self

    def pop(self, index: int = -1) -> Module:
        """Remove and return the module at ``index``."""
        module = self[index]
        del self[index]
        return module


class ModuleList(Module):
    """A list of modules, registered so that their parameters are found (it has no ``forward``).

    Examples
    --------
    >>> class Deep(nn.Module):
    ...     def __init__(self, depth):
    ...         super().__init__()
    ...         self.layers = nn.ModuleList([nn.Linear(16, 16) for _ in range(depth)])
    ...     def forward(self, x):
    ...         for layer in self.layers:
    ...             x = layer(x).relu()
    ...         return x
    """

    _modules: dict[str, Module]  # type: ignore[assignment]  # a container never holds None

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return type(self)(list(self._modules.values())[index])
        return self._modules[str(_position("ModuleList", index, len(self)))]

    def __setitem__(self, index: int, module: Module) -> None:
        setattr(self, str(_position("ModuleList", index, len(self))), _check_module("ModuleList", module))

    def __delitem__(self, index: int | slice) -> None:
        modules = list(self._modules.values())
        if isinstance(index, slice):
            del modules[index]
        else:
            del modules[_position("ModuleList", index, len(self))]
        self._replace_all(modules)

    def _replace_all(self, modules: list[Module]) -> None:
        for name in list(self._modules):
            delattr(self, name)
        for position, module in enumerate(modules):
            self.add_module(str(position), module)

    def __iadd__(self, modules: Iterable[Module]) -> ModuleList:
        return self.extend(modules)

    def __add__(self, other: Iterable[Module]) -> ModuleList:
        return ModuleList([*self, *other])

    def append(self, module: Module) -> ModuleList:
        """Add ``module`` at the end; returns ``self``."""
        self.add_module(str(len(self)), _check_module("ModuleList", module))
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        """Append every module of ``modules``; returns ``self``."""
        if isinstance(modules, (Module, Mapping)) and not isinstance(modules, (ModuleList, Sequential)):
            raise TypeError(f"ModuleList.extend should be called with an iterable of modules, "
                            f"got {type(modules).__name__}")
        for module in modules:
            self.append(module)
        return self

    def insert(self, index: int, module: Module) -> None:
        """Insert ``module`` before position ``index``."""
        modules = list(self._modules.values())
        modules.insert(_position("ModuleList", index, len(self), inserting=True), _check_module("ModuleList", module))
        self._replace_all(modules)

    def pop(self, index: int = -1) -> Module:
        """Remove and return the module at ``index``."""
        module = self[index]
        del self[index]
        return module

    def __repr__(self) -> str:
        # Like PyTorch 2.x: runs of identical modules are shown once, e.g. "(0-2): 3 x Linear(...)".
        if not self._modules:
            return "ModuleList()"
        lines: list[str] = []
        reprs = [repr(module) for module in self._modules.values()]
        start = 0
        for end in range(1, len(reprs) + 1):
            if end < len(reprs) and reprs[end] == reprs[start]:
                continue
            body = reprs[start].replace("\n", "\n  ")
            if end - start == 1:
                lines.append(f"({start}): {body}")
            else:
                lines.append(f"({start}-{end - 1}): {end - start} x {body}")
            start = end
        return "ModuleList(\n  " + "\n  ".join(lines) + "\n)"


class ModuleDict(Module):
    """A dict of modules by name, registered so that their parameters are found.

    Supports ``d[key]``, ``d[key] = module``, ``del d[key]``, ``in``, ``len``, iteration over keys,
    ``keys()``, ``values()``, ``items()``, ``update()``, ``pop()`` and ``clear()``. Insertion order
    is kept.

    Examples
    --------
    >>> heads = nn.ModuleDict({"digit": nn.Linear(64, 10), "parity": nn.Linear(64, 2)})
    >>> heads["digit"]
    Linear(in_features=64, out_features=10, bias=True)
    """

    def __init__(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        try:
            return self._modules[key]  # type: ignore[return-value]
        except KeyError:
            raise KeyError(f"ModuleDict has no module named {key!r}; it has {list(self._modules)}") from None

    def __setitem__(self, key: str, module: Module) -> None:
        self.add_module(key, _check_module("ModuleDict", module))

    def __delitem__(self, key: str) -> None:
        self[key]  # noqa: B018 (raise the friendly KeyError)
        delattr(self, key)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __contains__(self, key: object) -> bool:
        return key in self._modules

    def keys(self) -> Iterable[str]:
        return self._modules.keys()

    def values(self) -> Iterable[Module]:
        return self._modules.values()  # type: ignore[return-value]

    def items(self) -> Iterable[tuple[str, Module]]:
        return self._modules.items()  # type: ignore[return-value]

    def update(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]]) -> None:
        """Add or replace modules from a mapping or from ``(name, module)`` pairs."""
        pairs = modules.items() if isinstance(modules, Mapping) else modules
        for pair in pairs:
            if not isinstance(pair, tuple) or len(pair) != 2:
                raise TypeError(f"ModuleDict.update expects (name, module) pairs, got {pair!r}")
            self[pair[0]] = pair[1]

    def pop(self, key: str) -> Module:
        """Remove and return the module named ``key``."""
        module = self[key]
        del self[key]
        return module

    def clear(self) -> None:
        """Remove every module."""
        for key in list(self._modules):
            delattr(self, key)
