"""The handle every ``register_*hook`` returns (tensors' and modules'), and the one way to register.

It sits low in the layers so that ``Tensor.register_hook`` (the engine) and the module hooks of
``giagrad.nn`` share one class, as PyTorch's ``torch.utils.hooks.RemovableHandle``.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

__all__ = ["RemovableHandle", "register"]

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
