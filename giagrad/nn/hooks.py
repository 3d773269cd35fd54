"""Module hooks as in PyTorch: functions called around ``forward`` and during ``backward``.

- ``register_forward_pre_hook(hook)``: ``hook(module, args)`` before ``forward``; a returned
  value replaces the positional arguments (a tuple, or a single value).
- ``register_forward_hook(hook)``: ``hook(module, args, output)`` after ``forward``; a returned
  value replaces the output.
- ``register_full_backward_hook(hook)``: ``hook(module, grad_input, grad_output)`` once the
  gradients with respect to the module's inputs are known; a returned tuple replaces
  ``grad_input``. It works without the engine's help: the module's tensor inputs and outputs
  pass through an identity op (``shapeops.BackwardHook``) that records the gradient going by.

Each ``register_*`` returns a :class:`RemovableHandle`; ``handle.remove()`` unregisters the hook.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

from giagrad import shapeops
from giagrad.hooks import RemovableHandle, register
from giagrad.tensor import Tensor

# RemovableHandle and register live in giagrad.hooks (Tensor.register_hook, below nn, uses them too).
__all__ = ["RemovableHandle", "BackwardHookRecorder", "register"]

def run_forward_pre_hooks(module: Any, hooks: OrderedDict[int, Any], args: tuple[Any, ...],
                          kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    for hook, with_kwargs in list(hooks.values()):
        if with_kwargs:
            result = hook(module, args, kwargs)
            if result is not None:
                if not (isinstance(result, tuple) and len(result) == 2):
                    raise RuntimeError("forward pre-hook with with_kwargs=True must return None or (args, kwargs), "
                                       f"got {type(result).__name__}")
                args, kwargs = result
        else:
            result = hook(module, args)
            if result is not None:
                args = result if isinstance(result, tuple) else (result,)
    return args, kwargs


def run_forward_hooks(module: Any, hooks: OrderedDict[int, Any], args: tuple[Any, ...], kwargs: dict[str, Any],
                      output: Any) -> Any:
    for hook, with_kwargs in list(hooks.values()):
        result = hook(module, args, kwargs, output) if with_kwargs else hook(module, args, output)
        if result is not None:
            output = result
    return output


class BackwardHookRecorder:
    """One forward call's bookkeeping for full backward hooks: wraps inputs and outputs, collects gradients.

    ``grad_output`` fills as the gradient reaches the wrapped outputs. The hooks run when the
    last wrapped input receives its gradient (or, when no input requires grad, once every
    wrapped output has), with ``grad_input`` holding one entry per positional argument (None for
    arguments that are not tensors requiring grad).
    """

    def __init__(self, module: Any, hooks: Callable[[], list[Callable[..., Any]]]) -> None:
        self.module = module
        self.hooks = hooks
        self.grad_inputs: list[np.ndarray | None] = []
        self.grad_outputs: list[np.ndarray | None] = []
        self.inputs = 0  # how many inputs and outputs were wrapped
        self.outputs = 0
        self.received: dict[str, int] | None = None

    def wrap_inputs(self, args: tuple[Any, ...]) -> tuple[Any, ...]:
        self.grad_inputs = [None] * len(args)
        wrapped, self.inputs = self._wrap(args, "input")
        return wrapped

    def wrap_outputs(self, output: Any) -> Any:
        single = isinstance(output, Tensor)
        outputs = (output,) if single else output
        if not isinstance(outputs, (tuple, list)):
            return output
        self.grad_outputs = [None] * len(outputs)
        wrapped, self.outputs = self._wrap(outputs, "output")
        return wrapped[0] if single else type(outputs)(wrapped)

    def _wrap(self, values: Any, role: str) -> tuple[tuple[Any, ...], int]:
        """``values`` with each tensor that requires grad passed through a BackwardHook node; and their count."""
        wrapped = tuple(Tensor.comm(shapeops.BackwardHook, value, recorder=self, role=role, position=position)
                        if isinstance(value, Tensor) and value.requires_grad else value
                        for position, value in enumerate(values))
        return wrapped, sum(1 for new, old in zip(wrapped, values) if new is not old)

    def receive(self, role: str, position: int, grad: np.ndarray) -> np.ndarray:
        if self.received is None:  # the first gradient of a backward pass (there may be several)
            self.received = {"input": 0, "output": 0}
        self.received[role] += 1
        if role == "output":
            self.grad_outputs[position] = grad
            if self.inputs == 0 and self.received["output"] == self.outputs:
                self._call_hooks()
            return grad
        self.grad_inputs[position] = grad
        if self.received["input"] == self.inputs:
            replacement = self._call_hooks()
            if replacement is not None:
                return self._replacement_for(position, replacement, grad)
        return grad

    def _call_hooks(self) -> tuple[Any, ...] | None:
        self.received = None  # ready for another backward through the same graph (retain_graph)
        grad_input = tuple(self.grad_inputs)
        grad_output = tuple(self.grad_outputs)
        replaced = None
        for hook in self.hooks():
            result = hook(self.module, grad_input, grad_output)
            if result is not None:
                replaced = grad_input = tuple(result) if isinstance(result, (tuple, list)) else (result,)
        return replaced

    def _replacement_for(self, position: int, replacement: tuple[Any, ...], grad: np.ndarray) -> np.ndarray:
        if len(replacement) != len(self.grad_inputs):
            raise RuntimeError(f"backward hook of {type(self.module).__name__} returned {len(replacement)} "
                               f"gradients for {len(self.grad_inputs)} inputs")
        wrapped = sum(1 for g in self.grad_inputs if g is not None)
        if wrapped > 1:
            raise RuntimeError(
                f"backward hook of {type(self.module).__name__}: replacing grad_input is supported for modules "
                "with one input that requires grad (the others have already passed theirs on)"
            )
        new = replacement[position]
        new = np.asarray(new.data if isinstance(new, Tensor) else new)
        if new.shape != grad.shape:
            raise RuntimeError(f"backward hook of {type(self.module).__name__} returned a gradient of shape "
                               f"{new.shape} for an input of shape {grad.shape}")
        return new
