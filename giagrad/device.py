"""Devices and dtype names, so that PyTorch's ``.to(device)`` habits keep working.

giagrad computes with numpy on the CPU: ``giagrad.device("cpu")`` is the only device there is.
It exists so that scripts written for PyTorch (``model.to(device)``, ``x.to(device, dtype)``,
``torch.device("cuda" if torch.cuda.is_available() else "cpu")``) run unchanged; asking for an
accelerator (``"cuda"``, ``"mps"``, ...) raises a clear error instead of silently staying on the CPU.

The dtype names ``giagrad.float32``, ``giagrad.long``, ``giagrad.bool`` and so on are numpy
scalar types, so they are accepted wherever a ``dtype=`` is (by numpy too).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["device", "resolve_dtype", "parse_to_arguments", "check_load_options", "CPU"]

# What PyTorch calls its device types; all but "cpu" name hardware giagrad does not drive.
_ACCELERATORS = ("cuda", "mps", "xpu", "xla", "hip", "meta", "vulkan", "ipu", "hpu", "mtia", "privateuseone")


class device:  # noqa: N801 (PyTorch's name: giagrad.device("cpu"))
    """Where a tensor's data lives: always the CPU in giagrad.

    Parameters
    ----------
    type : str or device
        ``"cpu"`` (or ``"cpu:0"``, or a device). ``"cuda"``, ``"mps"`` and other accelerators
        raise a RuntimeError: giagrad computes on the CPU only.
    index : int, optional
        Accepted as PyTorch does; only 0 (or None) exists.

    Examples
    --------
    >>> dev = giagrad.device("cpu")
    >>> giagrad.ones(2).to(dev).device
    device(type='cpu')
    """

    __slots__ = ("type", "index")
    type: str
    index: int | None

    def __init__(self, type: str | device = "cpu", index: int | None = None) -> None:  # noqa: A002
        if isinstance(type, device):
            type, index = type.type, type.index if index is None else index  # noqa: A001
        if isinstance(type, int) and not isinstance(type, bool):  # torch.device(0) means cuda:0
            type = f"cuda:{type}"  # noqa: A001
        if not isinstance(type, str):
            raise TypeError(f"device: expected a string such as 'cpu', got {type!r}")
        name, _, suffix = type.strip().lower().partition(":")
        if suffix:
            if index is not None or not suffix.isdigit():
                raise ValueError(f"device: invalid device string {type!r}")
            index = int(suffix)
        if name in _ACCELERATORS:
            raise RuntimeError(
                f"device: {type!r} is not available: giagrad computes with numpy on the CPU only; "
                "use 'cpu' (or drop the .to(device) calls)"
            )
        if name != "cpu":
            raise ValueError(f"device: unknown device type {type!r}; giagrad has only 'cpu'")
        if index not in (None, 0):
            raise RuntimeError(f"device: there is one CPU device (index 0 or None), got index {index}")
        object.__setattr__(self, "type", "cpu")
        object.__setattr__(self, "index", index)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("device is immutable")

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            try:
                other = device(other)
            except (RuntimeError, ValueError):
                return False
        return isinstance(other, device) and other.type == self.type and other.index == self.index

    def __hash__(self) -> int:
        return hash((self.type, self.index))

    def __repr__(self) -> str:
        index = "" if self.index is None else f", index={self.index}"
        return f"device(type='{self.type}'{index})"

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __reduce__(self) -> tuple[Any, ...]:
        return device, (self.type, self.index)


CPU = device("cpu")


def _looks_like_device(value: Any) -> bool:
    if isinstance(value, device):
        return True
    if isinstance(value, int) and not isinstance(value, bool):  # .to(0) means cuda:0 in PyTorch
        return True
    if isinstance(value, str):
        return value.strip().lower().partition(":")[0] in ("cpu",) + _ACCELERATORS
    return False


def resolve_dtype(op: str, dtype: Any) -> np.dtype:
    """``dtype`` (``giagrad.float32``, ``np.float32``, ``"float32"``, ``float``...) as a numpy dtype."""
    try:
        return np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{op}: {dtype!r} is not a dtype; use e.g. giagrad.float32 or giagrad.long") from None


def parse_to_arguments(op: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[device | None, np.dtype | None]:
    """The ``(device, dtype)`` of a PyTorch-style ``.to(...)`` call; either may be None (unchanged).

    Accepts ``to(device)``, ``to(dtype)``, ``to(device, dtype)``, ``to(tensor)`` (its device and
    dtype) and the keywords ``device=``, ``dtype=``, ``non_blocking=`` and ``copy=`` (the last two
    handled by the caller). Strings name a device when they start with a device type.
    """
    unknown = set(kwargs) - {"device", "dtype", "non_blocking", "copy", "memory_format"}
    if unknown:
        raise TypeError(f"{op}: unexpected keyword arguments {sorted(unknown)}")
    target_device = kwargs.get("device")
    target_dtype = kwargs.get("dtype")
    positional = list(args)
    if positional and hasattr(positional[0], "dtype") and hasattr(positional[0], "device") \
            and not isinstance(positional[0], (np.dtype, type)):
        other = positional.pop(0)  # to(other_tensor): its device and dtype
        target_device, target_dtype = other.device, other.dtype
    if positional and (positional[0] is None or _looks_like_device(positional[0])):
        target_device = positional.pop(0)
    if positional:
        target_dtype = positional.pop(0)
    if positional and isinstance(positional[0], bool):  # to(dtype, non_blocking, copy)
        positional.pop(0)
        if positional and isinstance(positional[0], bool):
            positional.pop(0)
    if positional:
        raise TypeError(f"{op}: unexpected arguments {positional!r}; expected .to(device), .to(dtype), "
                        ".to(device, dtype) or .to(tensor)")
    return (device(target_device) if target_device is not None else None,
            resolve_dtype(op, target_dtype) if target_dtype is not None else None)


def check_load_options(map_location: Any, weights_only: Any, pickle_options: dict[str, Any]) -> None:
    """``torch.load``'s options: accepted when they keep everything on the CPU."""
    unknown = set(pickle_options) - {"mmap", "pickle_module", "encoding"}
    if unknown:
        raise TypeError(f"giagrad.load: unexpected keyword arguments {sorted(unknown)}")
    if not isinstance(weights_only, bool):
        raise TypeError(f"giagrad.load: weights_only must be a bool, got {weights_only!r}")
    if isinstance(map_location, dict):
        targets = list(map_location.values())
    elif callable(map_location):
        targets = []  # a function mapping storages: there is nothing for it to move on the CPU
    else:
        targets = [map_location]
    for target in targets:
        if target is not None:
            try:
                device(target)
            except RuntimeError as error:
                raise RuntimeError(f"giagrad.load: map_location={map_location!r}: {error}") from None
