"""``giagrad.utils.summary``: a table of a model's layers, their output shapes and parameter counts.

As torchinfo's ``summary`` (and Keras's ``model.summary()``) print it: one forward pass on an
input of the given size, watched by forward hooks, then one row per module in the order they
ran, and the totals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from giagrad.grad_mode import no_grad
from giagrad.nn.module import Module
from giagrad.tensor import Tensor

__all__ = ["summary", "ModelStatistics", "LayerInfo"]


@dataclass
class LayerInfo:
    """One row of the table: a module call."""

    name: str
    class_name: str
    depth: int
    output_shape: list[Any]
    num_params: int
    trainable_params: int
    is_leaf: bool


@dataclass
class ModelStatistics:
    """What :func:`summary` found; ``str()`` (and ``print``) gives the table.

    Attributes
    ----------
    summary_list : list of LayerInfo
        One entry per module call, in call order.
    total_params, trainable_params : int
        Parameters of the model (each shared parameter counted once).
    total_output : int
        Elements of every leaf module's outputs (what a forward pass keeps for backward, roughly).
    """

    model_name: str
    summary_list: list[LayerInfo]
    total_params: int
    trainable_params: int
    param_bytes: int
    input_bytes: int
    total_output: int
    output_bytes: int
    depth: int = 3
    _rows: list[tuple[str, str, str]] = field(default_factory=list, repr=False)

    @property
    def non_trainable_params(self) -> int:
        return self.total_params - self.trainable_params

    def __str__(self) -> str:
        header = ("Layer (type:depth-idx)", "Output Shape", "Param #")
        rows = [(self.model_name, "", "")]
        counters: dict[int, int] = {}
        for layer in self.summary_list:
            if layer.depth > self.depth:
                continue
            counters[layer.depth] = counters.get(layer.depth, 0) + 1
            for deeper in [d for d in counters if d > layer.depth]:
                del counters[deeper]
            label = f"{'│    ' * (layer.depth - 1)}└─{layer.class_name}: {layer.depth}-{counters[layer.depth]}"
            params = f"{layer.num_params:,}" if layer.num_params else "--"
            rows.append((label, str(layer.output_shape), params))
        widths = [max(len(row[i]) for row in [header, *rows]) + 4 for i in range(3)]
        rule = "=" * sum(widths)

        def line(row: tuple[str, str, str]) -> str:
            return "".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()

        megabytes = 1024 ** 2
        total_bytes = self.input_bytes + self.output_bytes + self.param_bytes
        lines = [rule, line(header), rule, *[line(row) for row in rows], rule,
                 f"Total params: {self.total_params:,}",
                 f"Trainable params: {self.trainable_params:,}",
                 f"Non-trainable params: {self.non_trainable_params:,}",
                 rule,
                 f"Input size (MB): {self.input_bytes / megabytes:.2f}",
                 f"Forward pass size (MB): {self.output_bytes / megabytes:.2f}",
                 f"Params size (MB): {self.param_bytes / megabytes:.2f}",
                 f"Estimated Total Size (MB): {total_bytes / megabytes:.2f}",
                 rule]
        return "\n".join(lines)

    __repr__ = __str__


def _shapes(output: Any) -> list[Any]:
    if isinstance(output, Tensor):
        return list(output.shape)
    if isinstance(output, (tuple, list)):
        return [_shapes(item) for item in output]
    if isinstance(output, dict):
        return [_shapes(item) for item in output.values()]
    return []


def _elements_and_bytes(output: Any) -> tuple[int, int]:
    if isinstance(output, Tensor):
        return output.data.size, output.data.nbytes
    if isinstance(output, (tuple, list, dict)):
        parts = [_elements_and_bytes(item) for item in (output.values() if isinstance(output, dict) else output)]
        return sum(p[0] for p in parts), sum(p[1] for p in parts)
    return 0, 0


def summary(model: Module, input_size: Sequence[int] | Sequence[Sequence[int]] | None = None,
            input_data: Any = None, dtypes: Sequence[Any] | None = None, depth: int = 3,
            verbose: int = 1) -> ModelStatistics:
    """Run ``model`` once on zeros of ``input_size`` and tabulate its layers (torchinfo's ``summary``).

    Parameters
    ----------
    model : Module
        The model. It runs in eval mode under ``no_grad`` (so batch-norm statistics do not move);
        its training mode is restored afterwards.
    input_size : sequence of int, or a sequence of them
        The shape of the input, batch dim included (several shapes for several inputs).
    input_data : Tensor or sequence of Tensors, optional
        Real inputs instead of ``input_size``.
    dtypes : sequence of dtypes, optional
        One dtype per input (default float32); e.g. ``[giagrad.long]`` for token ids.
    depth : int
        Nesting depth of the modules shown (the totals always count every parameter).
    verbose : int
        1 prints the table (as torchinfo does); 0 only returns it.

    Returns
    -------
    ModelStatistics
        ``print(stats)`` shows the table; ``stats.total_params`` and so on hold the figures.

    Examples
    --------
    >>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> stats = giagrad.utils.summary(model, input_size=(32, 4), verbose=0)
    >>> stats.total_params
    58
    """
    if not isinstance(model, Module):
        raise TypeError(f"summary: expected an nn.Module, got {type(model).__name__}")
    inputs = _make_inputs(input_size, input_data, dtypes)
    rows: list[LayerInfo] = []
    leaf_outputs: list[Any] = []
    handles = []
    depths = {id(model): 0}
    for _, module in model.named_modules():
        for child in module.children():
            depths.setdefault(id(child), depths[id(module)] + 1)

    def record(module: Module, args: Any, output: Any) -> None:
        own = list(module.parameters(recurse=False))
        is_leaf = not any(True for _ in module.children())
        rows.append(LayerInfo(names.get(id(module), ""), type(module).__name__, depths.get(id(module), 1),
                              _shapes(output), sum(p.data.size for p in own),
                              sum(p.data.size for p in own if p.requires_grad), is_leaf))
        if is_leaf:
            leaf_outputs.append(output)

    names = {id(module): name for name, module in model.named_modules()}
    for _, module in model.named_modules():
        if module is not model:
            handles.append(module.register_forward_hook(record))
    was_training = model.training
    try:
        model.eval()
        with no_grad():
            model(*inputs)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    rows = _in_call_order(rows, model)
    unique = {id(p): p for p in model.parameters()}.values()
    output_elements = output_bytes = 0
    for output in leaf_outputs:
        elements, size = _elements_and_bytes(output)
        output_elements += elements
        output_bytes += size
    stats = ModelStatistics(
        model_name=type(model).__name__, summary_list=rows,
        total_params=sum(p.data.size for p in unique),
        trainable_params=sum(p.data.size for p in unique if p.requires_grad),
        param_bytes=sum(p.data.nbytes for p in unique),
        input_bytes=sum(x.data.nbytes for x in inputs if isinstance(x, Tensor)),
        total_output=output_elements, output_bytes=output_bytes, depth=depth,
    )
    if verbose:
        print(stats)
    return stats


def _in_call_order(rows: list[LayerInfo], model: Module) -> list[LayerInfo]:
    # Forward hooks fire when a module *finishes*, so a container comes after its children;
    # the table lists it before them, as torchinfo does: move each container before the first
    # row of its subtree.
    ordered: list[LayerInfo] = []
    for row in rows:
        if row.is_leaf:
            ordered.append(row)
            continue
        prefix = row.name + "."
        start = len(ordered)
        while start > 0 and ordered[start - 1].name.startswith(prefix):
            start -= 1
        ordered.insert(start, row)
    return ordered


def _make_inputs(input_size: Any, input_data: Any, dtypes: Sequence[Any] | None) -> list[Any]:
    if input_data is not None:
        if isinstance(input_data, (Tensor, np.ndarray)):
            return [input_data if isinstance(input_data, Tensor) else Tensor(input_data)]
        return list(input_data)
    if input_size is None:
        raise ValueError("summary: give input_size (the input's shape, batch dim included) or input_data")
    sizes = list(input_size)
    if not sizes or all(isinstance(s, (int, np.integer)) for s in sizes):
        sizes = [tuple(sizes)]
    if dtypes is None:
        dtypes = [np.float32] * len(sizes)
    if len(dtypes) != len(sizes):
        raise ValueError(f"summary: {len(dtypes)} dtypes for {len(sizes)} inputs")
    inputs = []
    for size, dtype in zip(sizes, dtypes, strict=True):
        if not all(isinstance(s, (int, np.integer)) and s > 0 for s in size):
            raise ValueError(f"summary: input_size entries must be positive integers, got {tuple(size)}")
        inputs.append(Tensor(np.zeros(tuple(size), dtype=np.dtype(dtype))))
    return inputs
