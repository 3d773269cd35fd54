"""``giagrad.onnx.export``: trace a model's recorded graph and write it as an ONNX file.

How it works, in four steps:

1. The model runs once in eval mode with grad recording on; a floating example input is given
   ``requires_grad=True`` so that every op on the way from the input is recorded, not only the
   ones that touch a parameter.
2. :func:`recorded_inputs` is all the exporter knows of the engine: for a tensor, the node that
   made it and that node's input tensors. The graph is ordered from the output back to the
   leaves, like ``backward`` does.
3. Leaves become graph inputs (the example inputs), initializers (parameters and buffers, under
   their ``state_dict`` names) or constants (anything else, such as the ``2`` of ``x * 2``).
4. Each node is written by the converter registered for its ``Function`` class in
   ``giagrad.onnx.converters.CONVERTERS``; a class without one raises
   :class:`UnsupportedOperatorError` naming it.

What the graph does not record is not exported: computations on integer tensors (which never
require grad) and Python control flow are fixed at the values of the example run, as with
``torch.onnx.export``'s tracing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, cast

import numpy as np

from giagrad.grad_mode import enable_grad
from giagrad.serialization import _write_atomically
from giagrad.tensor import Function, Tensor

__all__ = ["export", "UnsupportedOperatorError", "recorded_inputs", "GraphBuilder", "DEFAULT_OPSET"]

DEFAULT_OPSET = 17
MIN_OPSET = 13  # Softmax along one axis, Squeeze/Unsqueeze/Split with axes as inputs


class UnsupportedOperatorError(NotImplementedError):
    """The model uses an op (a ``Function`` class) that has no ONNX converter yet."""


def recorded_inputs(tensor: Tensor) -> tuple[Function, tuple[Tensor, ...]] | None:
    """The node that computed ``tensor`` and the tensors it was computed from; None for a leaf.

    The one place where the exporter reads how the engine records the graph.
    """
    node = tensor._ctx
    if node is None:
        return None
    return node, cast(tuple[Tensor, ...], node.parents)  # a graph's tensors are giagrad.Tensors


def _onnx() -> Any:
    try:
        import onnx
    except ImportError:
        raise ImportError('giagrad.onnx.export needs the onnx package: pip install "giagrad[onnx]"') from None
    return onnx


class GraphBuilder:
    """Collects ONNX nodes and initializers; converters call :meth:`add` and :meth:`constant`."""

    def __init__(self, opset_version: int, array_names: Mapping[int, str]) -> None:
        self.onnx = _onnx()
        self.opset_version = opset_version
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._array_names = array_names  # id(array) -> state_dict name, for parameters and buffers
        self._constants: dict[int, str] = {}
        self._used: set[str] = set()
        self._keep_alive: list[np.ndarray] = []  # ids stay unique while the arrays live

    def fresh_name(self, hint: str) -> str:
        name, count = hint, 1
        while name in self._used:
            count += 1
            name = f"{hint}_{count}"
        self._used.add(name)
        return name

    def add(self, op_type: str, inputs: Sequence[str], outputs: int = 1, **attributes: Any) -> Any:
        """Append one node; return its output name (or the list of names when ``outputs > 1``)."""
        names = [self.fresh_name(f"{op_type}_{len(self.nodes)}" + (f"_{i}" if outputs > 1 else ""))
                 for i in range(outputs)]
        self.nodes.append(self.onnx.helper.make_node(op_type, list(inputs), names, name=f"{op_type}_{len(self.nodes)}",
                                                     **attributes))
        return names[0] if outputs == 1 else names

    def constant(self, value: Any, dtype: Any = None, hint: str = "const") -> str:
        """An initializer holding ``value``; a parameter or buffer keeps its ``state_dict`` name."""
        array = np.asarray(value, dtype=dtype)
        key = id(value) if isinstance(value, np.ndarray) and dtype is None else None
        if key is not None and key in self._constants:
            return self._constants[key]
        name = self.fresh_name(self._array_names.get(key, hint) if key is not None else hint)
        # a 0-d array stays a scalar (Gather with a scalar index drops the dim; Range wants scalars)
        self.initializers.append(self.onnx.numpy_helper.from_array(np.ascontiguousarray(array) if array.ndim else array,
                                                                   name))
        if key is not None:
            self._constants[key] = name
            self._keep_alive.append(value)
        return name

    def int64s(self, values: Sequence[int], hint: str = "shape") -> str:
        """A constant 1-D int64 tensor (shapes, axes, pads), as ONNX wants for those inputs."""
        return self.constant(np.asarray(list(values), dtype=np.int64), hint=hint)


def export(model: Any, example_input: Tensor | Sequence[Tensor], path: str | os.PathLike[str], *,
           input_names: Sequence[str] | None = None, output_names: Sequence[str] | None = None,
           dynamic_axes: Mapping[str, Mapping[int, str] | Sequence[int]] | None = None,
           opset_version: int = DEFAULT_OPSET, check: bool = True) -> Any:
    """Write ``model`` as an ONNX file, traced from the graph of one run on ``example_input``.

    Parameters
    ----------
    model : nn.Module or callable
        Put in eval mode for the trace (dropout is the identity, batch norm uses its running
        statistics) and restored to its modes afterwards. Its parameters and buffers become
        initializers named as in ``state_dict()``.
    example_input : Tensor or sequence of Tensor
        The inputs of one call, ``model(*example_input)``. Their shapes and dtypes are the
        inputs' in the file, except along ``dynamic_axes``.
    path : str or path-like
        Where to write the file (atomically).
    input_names, output_names : sequence of str, optional
        Names of the graph's inputs and outputs (default ``input``/``input_1``...,
        ``output``/``output_1``...).
    dynamic_axes : mapping, optional
        For an input or output name, the dims that may vary: ``{"input": {0: "batch"}}`` or
        ``{"input": [0]}`` (named ``{name}_dim{axis}``), as in ``torch.onnx.export``.
    opset_version : int
        The ONNX operator set, 13 or newer (default 17).
    check : bool
        Run ``onnx.checker.check_model`` on the result before writing it.

    Returns
    -------
    onnx.ModelProto
        The exported model (also written to ``path``).

    Raises
    ------
    UnsupportedOperatorError
        When the model uses an op with no converter; the message names its ``Function`` class.
    ValueError
        When an input reaches the outputs through no recorded op (a bool attention mask, which
        becomes an additive one outside the graph): its values would be baked into the file.

    Examples
    --------
    >>> import giagrad.onnx
    >>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> giagrad.onnx.export(model, giagrad.randn(1, 4), "model.onnx",
    ...                     input_names=["x"], dynamic_axes={"x": {0: "batch"}})  # doctest: +SKIP
    """
    from giagrad.onnx.converters import CONVERTERS

    onnx = _onnx()
    if not MIN_OPSET <= opset_version <= onnx.defs.onnx_opset_version():
        raise ValueError(f"giagrad.onnx.export: opset_version must be in [{MIN_OPSET}, "
                         f"{onnx.defs.onnx_opset_version()}], got {opset_version}")
    inputs = [example_input] if isinstance(example_input, Tensor) else list(example_input)
    if not inputs or not all(isinstance(x, Tensor) for x in inputs):
        raise TypeError("giagrad.onnx.export: example_input must be a Tensor or a sequence of Tensors")
    traced_inputs = [Tensor(x.data.copy(), requires_grad=x.data.dtype.kind == "f") for x in inputs]
    outputs = _trace(model, traced_inputs)
    input_names = _names("input", input_names, len(inputs))
    output_names = _names("output", output_names, len(outputs))
    unknown = set(dynamic_axes or {}) - set(input_names) - set(output_names)
    if unknown:
        raise ValueError(f"giagrad.onnx.export: dynamic_axes names {sorted(unknown)} are neither inputs "
                         f"{input_names} nor outputs {output_names}")

    builder = GraphBuilder(opset_version, _state_names(model))
    values: dict[int, str] = {}  # id(tensor) -> the ONNX value holding it
    for tensor, name in zip(traced_inputs, input_names, strict=True):
        values[id(tensor)] = name
        builder.fresh_name(name)
        if tensor.data.dtype.kind != "f":  # integer inputs reach ops as options (embedding indices)
            builder._constants[id(tensor.data)] = name
    for tensor in _topological_order(outputs):
        recorded = recorded_inputs(tensor)
        if id(tensor) in values:
            continue
        if recorded is None:
            values[id(tensor)] = builder.constant(tensor.data, hint="const")
            continue
        node, parents = recorded
        converter = CONVERTERS.get(type(node))
        if converter is None:
            raise UnsupportedOperatorError(
                f"giagrad.onnx.export: no ONNX converter for {type(node).__module__}.{type(node).__name__} "
                "(register one with giagrad.onnx.converts)")
        values[id(tensor)] = converter(builder, node, [values[id(parent)] for parent in parents], parents, tensor)

    for tensor, name in zip(outputs, output_names, strict=True):
        if values.get(id(tensor)) in input_names or values[id(tensor)] in {i.name for i in builder.initializers}:
            builder.nodes.append(onnx.helper.make_node("Identity", [values[id(tensor)]], [name]))
        else:
            _rename_output(builder, values[id(tensor)], name)
    used = {name for node in builder.nodes for name in node.input}  # a converter may leave a traced constant unread
    builder.initializers = [init for init in builder.initializers if init.name in used]
    unread = [name for name in input_names if name not in used]
    if unread:  # its values were baked in as constants: the file would ignore what it is fed
        raise ValueError(f"giagrad.onnx.export: the inputs {unread} reach the outputs through no recorded op (computed "
                         "on outside the graph, e.g. a bool mask turned into an additive one with numpy); pass them "
                         "in a form the graph records (a float additive mask) or leave them out of the inputs")
    graph = onnx.helper.make_graph(
        builder.nodes, "giagrad", [_value_info(onnx, n, t, dynamic_axes) for n, t in zip(input_names, traced_inputs,
                                                                                             strict=True)],
        [_value_info(onnx, n, t, dynamic_axes) for n, t in zip(output_names, outputs, strict=True)],
        initializer=builder.initializers)
    proto = onnx.helper.make_model(graph, producer_name="giagrad",
                                   opset_imports=[onnx.helper.make_opsetid("", opset_version)])
    if check:
        onnx.checker.check_model(proto, full_check=True)
    content = proto.SerializeToString()
    _write_atomically(os.fspath(path), lambda file: file.write(content))
    return proto


def _trace(model: Any, inputs: list[Tensor]) -> list[Tensor]:
    """Run ``model`` in eval mode with recording on; restore every submodule's mode afterwards."""
    modules = list(model.modules()) if hasattr(model, "modules") else []
    modes = [module.training for module in modules]
    try:
        if hasattr(model, "eval"):
            model.eval()
        with enable_grad():
            result = model(*inputs)
    finally:
        for module, mode in zip(modules, modes, strict=True):  # each as it was: some may have been frozen in eval
            module.training = mode
    outputs = [result] if isinstance(result, Tensor) else list(result)
    if not outputs or not all(isinstance(out, Tensor) for out in outputs):
        raise TypeError(f"giagrad.onnx.export: the model must return a Tensor or a tuple of Tensors, "
                        f"got {type(result).__name__}")
    return outputs


def _topological_order(outputs: list[Tensor]) -> list[Tensor]:
    """Every tensor the outputs depend on, each after its inputs (iterative: deep graphs are fine)."""
    order: list[Tensor] = []
    seen: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(out, False) for out in reversed(outputs)]
    while stack:
        tensor, expanded = stack.pop()
        if expanded:
            order.append(tensor)
            continue
        if id(tensor) in seen:
            continue
        seen.add(id(tensor))
        stack.append((tensor, True))
        recorded = recorded_inputs(tensor)
        if recorded is not None:
            stack.extend((parent, False) for parent in reversed(recorded[1]) if id(parent) not in seen)
    return order


def _state_names(model: Any) -> dict[int, str]:
    """id(array) -> ``state_dict`` name, for the model's parameters and buffers."""
    if not hasattr(model, "state_dict"):
        return {}
    return {id(value.data): name for name, value in model.state_dict(keep_vars=True).items()
            if isinstance(value, Tensor)}


def _names(prefix: str, names: Sequence[str] | None, count: int) -> list[str]:
    if names is None:
        return [prefix if i == 0 else f"{prefix}_{i}" for i in range(count)]
    names = list(names)
    if len(names) != count or len(set(names)) != count:
        raise ValueError(f"giagrad.onnx.export: expected {count} distinct {prefix} names, got {names}")
    return names


def _rename_output(builder: GraphBuilder, old: str, new: str) -> None:
    """Let the node that produces ``old`` write ``new`` instead (and its readers read ``new``)."""
    for node in builder.nodes:
        node.output[:] = [new if name == old else name for name in node.output]
        node.input[:] = [new if name == old else name for name in node.input]


def _value_info(onnx: Any, name: str, tensor: Tensor,
                dynamic_axes: Mapping[str, Mapping[int, str] | Sequence[int]] | None) -> Any:
    dims: list[int | str] = list(tensor.shape)
    dynamic = (dynamic_axes or {}).get(name, {})
    axes = dict(dynamic) if isinstance(dynamic, Mapping) else {axis: f"{name}_dim{axis}" for axis in dynamic}
    for axis, label in axes.items():
        if not -len(dims) <= axis < len(dims):
            raise ValueError(f"giagrad.onnx.export: dynamic axis {axis} is out of range for {name!r} "
                             f"of shape {tensor.shape}")
        dims[axis] = label
    element_type = onnx.helper.np_dtype_to_tensor_dtype(tensor.data.dtype)
    return onnx.helper.make_tensor_value_info(name, element_type, dims)
