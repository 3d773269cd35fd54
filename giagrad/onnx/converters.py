"""One ONNX converter per ``Function`` class: the table ``giagrad.onnx.export`` writes graphs with.

A converter receives the :class:`~giagrad.onnx.export.GraphBuilder`, the recorded node (whose
attributes hold the options its ``forward`` kept, such as ``axis`` or ``kernel``), the ONNX names
of the node's inputs, the input tensors and the output tensor (for shapes), and returns the ONNX
name of its output. Supporting a new op is one entry::

    @converts(mlops.Hardswish)
    def _hardswish(builder, node, inputs, parents, out):
        return builder.add("HardSwish", inputs)

Attention (``F.scaled_dot_product_attention``, which ``nn.MultiheadAttention`` and the
transformer layers use) is written as MatMul, Mul, Add and Softmax, so it runs from opset 13.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from giagrad import attentionops, convops, mathops, mlops, normops, reductionops, shapeops
from giagrad.onnx.export import UnsupportedOperatorError, recorded_inputs
from giagrad.tensor import Function, Tensor

Converter = Callable[[Any, Any, list[str], Sequence[Tensor], Tensor], str]
CONVERTERS: dict[type[Function], Converter] = {}


def converts(*functions: type[Function]) -> Callable[[Converter], Converter]:
    """Register the decorated converter for these ``Function`` classes."""
    def register(converter: Converter) -> Converter:
        for function in functions:
            CONVERTERS[function] = converter
        return converter
    return register


def _same_op(op_type: str) -> Converter:
    """A converter for ops that are one ONNX operator with the same inputs and no attributes."""
    return lambda builder, node, inputs, parents, out: builder.add(op_type, inputs)


for _function, _op_type in {
    mathops.Add: "Add", mathops.Sub: "Sub", mathops.Mul: "Mul", mathops.Div: "Div", mathops.Pow: "Pow",
    mathops.Maximum: "Max", mathops.Minimum: "Min", mathops.MatMul: "MatMul", mathops.Neg: "Neg",
    mathops.Exp: "Exp", mathops.Log: "Log", mathops.Sqrt: "Sqrt", mathops.Abs: "Abs", mathops.Sin: "Sin",
    mathops.Cos: "Cos", mathops.Tanh: "Tanh", mathops.Reciprocal: "Reciprocal", mathops.Where: "Where",
    mlops.Sigmoid: "Sigmoid", mlops.ReLU: "Relu", shapeops.Contiguous: "Identity",
}.items():
    CONVERTERS[_function] = _same_op(_op_type)


def _scalar(builder: Any, value: float, like: Tensor) -> str:
    """A constant scalar in the dtype of ``like``."""
    return builder.constant(np.asarray(value, dtype=like.data.dtype), hint="scalar")


# ------------------------------------------------------------------------------ elementwise


@converts(mathops.PowScalar)
def _pow_scalar(builder, node, inputs, parents, out):
    return builder.add("Pow", [inputs[0], _scalar(builder, node.exponent, parents[0])])


@converts(mathops.Square)
def _square(builder, node, inputs, parents, out):
    return builder.add("Mul", [inputs[0], inputs[0]])


@converts(mathops.Log1p)
def _log1p(builder, node, inputs, parents, out):
    return builder.add("Log", [builder.add("Add", [inputs[0], _scalar(builder, 1.0, parents[0])])])


@converts(mathops.Clamp)
def _clamp(builder, node, inputs, parents, out):
    low = "" if node.low is None else _scalar(builder, node.low, parents[0])
    high = "" if node.high is None else _scalar(builder, node.high, parents[0])
    return builder.add("Clip", [inputs[0], low, high])


@converts(mathops.Cast)
def _cast(builder, node, inputs, parents, out):
    return builder.add("Cast", inputs, to=builder.onnx.helper.np_dtype_to_tensor_dtype(out.data.dtype))


# ------------------------------------------------------------------------------ activations


@converts(mlops.LeakyReLU)
def _leaky_relu(builder, node, inputs, parents, out):
    return builder.add("LeakyRelu", inputs, alpha=float(node.negative_slope))


@converts(mlops.ELU)
def _elu(builder, node, inputs, parents, out):
    return builder.add("Elu", inputs, alpha=float(node.alpha))


@converts(mlops.SiLU)
def _silu(builder, node, inputs, parents, out):
    return builder.add("Mul", [inputs[0], builder.add("Sigmoid", inputs)])


@converts(mlops.GELU)
def _gelu(builder, node, inputs, parents, out):
    # Gelu is an operator only from opset 20: write its formula, exact or tanh form.
    x, like = inputs[0], parents[0]
    if node.approximate == "tanh":
        cube = builder.add("Mul", [builder.add("Mul", [x, x]), x])
        inner = builder.add("Add", [x, builder.add("Mul", [cube, _scalar(builder, 0.044715, like)])])
        tanh = builder.add("Tanh", [builder.add("Mul", [inner, _scalar(builder, math.sqrt(2 / math.pi), like)])])
    else:
        tanh = builder.add("Erf", [builder.add("Mul", [x, _scalar(builder, 1 / math.sqrt(2), like)])])
    one_plus = builder.add("Add", [tanh, _scalar(builder, 1.0, like)])
    return builder.add("Mul", [builder.add("Mul", [x, one_plus]), _scalar(builder, 0.5, like)])


@converts(mlops.Softmax, mlops.LogSoftmax)
def _softmax(builder, node, inputs, parents, out):
    op_type = "Softmax" if isinstance(node, mlops.Softmax) else "LogSoftmax"
    if node.axis is None:  # over all elements: flatten, then back
        flat = builder.add("Reshape", [inputs[0], builder.int64s([1, -1])])
        return builder.add("Reshape", [builder.add(op_type, [flat], axis=1), builder.int64s(out.shape)])
    return builder.add(op_type, inputs, axis=int(node.axis))


# ---------------------------------------------------------------------------- linear layers


@converts(mlops.Linear)
def _linear(builder, node, inputs, parents, out):
    if parents[0].ndim == 2:
        return builder.add("Gemm", inputs, transB=1)
    product = builder.add("MatMul", [inputs[0], builder.add("Transpose", [inputs[1]], perm=[1, 0])])
    return builder.add("Add", [product, inputs[2]]) if len(inputs) == 3 else product


@converts(convops.Conv2d)
def _conv2d(builder, node, inputs, parents, out):
    stride, (top, bottom, left, right), dilation, groups, _ = node.options
    return builder.add("Conv", inputs, kernel_shape=list(parents[1].shape[2:]), strides=list(stride),
                       pads=[top, left, bottom, right], dilations=list(dilation), group=int(groups))


@converts(normops.Embedding)
def _embedding(builder, node, inputs, parents, out):
    (indices,) = node.saved_tensors  # the example input itself when the model was called with it
    return builder.add("Gather", [inputs[0], builder.constant(indices, hint="indices")], axis=0)


# -------------------------------------------------------------------------------- pooling


@converts(convops.MaxPool2d)
def _max_pool2d(builder, node, inputs, parents, out):
    kernel, stride, (top, bottom, left, right), dilation = node.options
    x, pads = inputs[0], [top, left, bottom, right]
    if top >= kernel[0] or bottom >= kernel[0] or left >= kernel[1] or right >= kernel[1]:
        # onnxruntime wants pads smaller than the kernel (ceil_mode with dilation can exceed it): pad first
        widths = builder.int64s([0, 0, top, left, 0, 0, bottom, right], hint="pads")
        x, pads = builder.add("Pad", [x, widths, _scalar(builder, -np.inf, parents[0])]), [0, 0, 0, 0]
    return builder.add("MaxPool", [x], kernel_shape=list(kernel), strides=list(stride), pads=pads,
                       dilations=list(dilation))


@converts(convops.AvgPool2d)
def _avg_pool2d(builder, node, inputs, parents, out):
    kernel, stride, (top, bottom, left, right), divisor, _ = node.options
    # ONNX divides by the whole window (count_include_pad=1) or by its cells inside the input (0)
    inside = np.pad(np.ones(parents[0].shape[2:]), ((top, bottom), (left, right)))
    out_h, out_w = divisor.shape
    cells_inside = sum(inside[a:a + stride[0] * out_h:stride[0], b:b + stride[1] * out_w:stride[1]]
                       for a in range(kernel[0]) for b in range(kernel[1]))
    for count_include_pad, expected in ((1, kernel[0] * kernel[1]), (0, cells_inside)):
        if np.array_equal(divisor, np.broadcast_to(expected, divisor.shape)):
            return builder.add("AveragePool", inputs, kernel_shape=list(kernel), strides=list(stride),
                               pads=[top, left, bottom, right], count_include_pad=count_include_pad)
    raise UnsupportedOperatorError("giagrad.onnx.export: AvgPool2d with ceil_mode windows that count padding, or "
                                   "with divisor_override, has no ONNX AveragePool equivalent")


@converts(convops.AdaptiveAvgPool2d)
def _adaptive_avg_pool2d(builder, node, inputs, parents, out):
    if out.shape[2:] == (1, 1):
        return builder.add("GlobalAveragePool", inputs)
    rows, cols = node.matrices  # out = rows @ x @ cols.T, exactly as the forward computes it
    by_rows = builder.add("MatMul", [builder.constant(rows, hint="adaptive_rows"), inputs[0]])
    return builder.add("MatMul", [by_rows, builder.constant(np.ascontiguousarray(cols.T), hint="adaptive_cols")])


# -------------------------------------------------------------------------- normalization


def _reduce(builder: Any, op_type: str, x: str, axes: Sequence[int], keepdims: bool) -> str:
    """ReduceSum/ReduceMean/...: axes are an input from opset 18 (ReduceSum: 13), an attribute before."""
    if op_type == "ReduceSum" or builder.opset_version >= 18:
        return builder.add(op_type, [x, builder.int64s(axes, hint="axes")], keepdims=int(keepdims))
    return builder.add(op_type, [x], axes=list(axes), keepdims=int(keepdims))


@converts(normops.Normalize, normops.BatchNorm)
def _normalize(builder, node, inputs, parents, out):
    """``(x - mean) / sqrt(var + eps) * weight + bias``, the statistics of the batch or the running ones."""
    x, like = inputs[0], parents[0]
    if node.batch_stats:  # layer norm, group norm: statistics of this input
        mean = _reduce(builder, "ReduceMean", x, node.axis, keepdims=True)
        centered = builder.add("Sub", [x, mean])
        var = _reduce(builder, "ReduceMean", builder.add("Mul", [centered, centered]), node.axis, keepdims=True)
    else:  # batch norm in eval: the running statistics, constants
        mean, var = (builder.constant(array, hint="stat") for array in node.statistics)
        centered = builder.add("Sub", [x, mean])
    std = builder.add("Sqrt", [builder.add("Add", [var, _scalar(builder, node.eps, like)])])
    result = builder.add("Div", [centered, std])
    params = inputs[1:]
    shape = builder.int64s(node.affine_shape) if params else ""
    if node.has_weight:
        result = builder.add("Mul", [result, builder.add("Reshape", [params[0], shape])])
        params = params[1:]
    if params:
        result = builder.add("Add", [result, builder.add("Reshape", [params[0], shape])])
    return result


# ------------------------------------------------------------------------------ reductions


@converts(reductionops.Sum, reductionops.Mean, reductionops.Amax, reductionops.Amin)
def _reduction(builder, node, inputs, parents, out):
    op_type = {reductionops.Sum: "ReduceSum", reductionops.Mean: "ReduceMean", reductionops.Amax: "ReduceMax",
               reductionops.Amin: "ReduceMin"}[type(node)]
    axes = tuple(range(parents[0].ndim)) if node.axis is None else node.axis
    return _reduce(builder, op_type, inputs[0], axes, node.keepdims)


# ---------------------------------------------------------------------------------- shapes


@converts(shapeops.Reshape)
def _reshape(builder, node, inputs, parents, out):
    # Leading dims that keep their size are written as 0 ("copy the input's"), so a dynamic
    # batch (or sequence) dim flows through flatten-like reshapes.
    shape = list(out.shape)
    for i, (before, after) in enumerate(zip(parents[0].shape, out.shape)):
        if before != after:
            break
        shape[i] = 0
    return builder.add("Reshape", [inputs[0], builder.int64s(shape)])


@converts(shapeops.Permute)
def _permute(builder, node, inputs, parents, out):
    return builder.add("Transpose", inputs, perm=[int(axis) for axis in node.axes])


@converts(shapeops.Expand)
def _expand(builder, node, inputs, parents, out):
    return builder.add("Expand", [inputs[0], builder.int64s(out.shape)])


@converts(shapeops.Cat)
def _cat(builder, node, inputs, parents, out):
    return builder.add("Concat", inputs, axis=int(node.axis))


@converts(shapeops.Getitem)
def _getitem(builder, node, inputs, parents, out):
    """Basic indexing (ints, slices, None, ``...``) as Slice/Gather/Unsqueeze; one integer array as Gather."""
    index = list(node.index)
    arrays = [item for item in index if isinstance(item, np.ndarray)]
    if node.then is not None or len(arrays) > 1 or any(item.dtype.kind == "b" for item in arrays):
        raise UnsupportedOperatorError("giagrad.onnx.export: Getitem with a bool mask or several index arrays "
                                       f"has no ONNX converter (index {node.index!r})")
    ellipsis = [i for i, item in enumerate(index) if item is Ellipsis]  # `in` would compare arrays elementwise
    if ellipsis:
        at = ellipsis[0]
        explicit = sum(item is not None for item in index) - 1
        index[at:at + 1] = [slice(None)] * (len(node.input_shape) - explicit)
    x, axis, input_axis = inputs[0], 0, 0  # axis in the result so far, axis of the input it reads
    for item in index:
        if item is None:
            x = builder.add("Unsqueeze", [x, builder.int64s([axis], hint="axes")])
            axis += 1
            continue
        if isinstance(item, slice):
            if item != slice(None):  # a full slice writes nothing, so a dynamic dim stays dynamic
                start, stop, step = item.indices(node.input_shape[input_axis])
                if step < 0 and stop < 0:
                    stop = np.iinfo(np.int64).min  # "past the front": -1 would mean the last element
                bounds = [builder.int64s([value], hint=hint) for value, hint in
                          ((start, "starts"), (stop, "ends"), (axis, "axes"), (step, "steps"))]
                x = builder.add("Slice", [x, *bounds])
            axis += 1
        elif isinstance(item, np.ndarray):  # integer array: its dims replace the indexed one
            x = builder.add("Gather", [x, builder.constant(item.astype(np.int64), hint="indices")], axis=axis)
            axis += item.ndim
        else:  # an integer: picks one element and drops the dim
            x = builder.add("Gather", [x, builder.constant(np.int64(item), hint="index")], axis=axis)
        input_axis += 1
    return x


# ------------------------------------------------------------------------------- attention


def _dim(builder: Any, x: str, axis: int) -> str:
    """The size of ``x``'s dim ``axis`` as a scalar int64 read at run time (so it may be dynamic)."""
    return builder.add("Gather", [builder.add("Shape", [x]), builder.constant(np.int64(axis), hint="axis")], axis=0)


def _causal_mask(builder: Any, q: str, k: str, like: Tensor) -> str:
    """``(L, S)``: 0 where key ``j <= i`` for query ``i``, -inf above, built from the run's lengths."""
    zero, one = builder.constant(np.int64(0), hint="zero"), builder.constant(np.int64(1), hint="one")
    rows = builder.add("Range", [zero, _dim(builder, q, -2), one])
    cols = builder.add("Range", [zero, _dim(builder, k, -2), one])
    future = builder.add("Greater", [cols, builder.add("Unsqueeze", [rows, builder.int64s([1], hint="axes")])])
    return builder.add("Where", [future, _scalar(builder, -np.inf, like), _scalar(builder, 0.0, like)])


def _is_causal_mask(mask: Tensor, length: int, source: int) -> bool:
    """Whether ``mask`` is the constant causal mask ``F.scaled_dot_product_attention(is_causal=True)`` adds."""
    return (recorded_inputs(mask) is None and not mask.requires_grad and mask.shape == (length, source)
            and np.array_equal(mask.data, attentionops.causal_mask(length, source, mask.data.dtype)))


@converts(attentionops.ScaledDotProductAttention)
def _scaled_dot_product_attention(builder, node, inputs, parents, out):
    """``softmax(q k^T * scale + mask) v``; a query whose keys are all hidden gets 0, as in giagrad.

    The causal mask is rebuilt from the lengths of ``q`` and ``k`` at run time, so a model traced
    at one sequence length runs at others; any other mask is the traced input or constant. Dropout
    on the weights is not exported (the trace runs in eval mode).
    """
    q, k, v = inputs[:3]
    like = parents[0]
    rank = parents[1].ndim
    key_t = builder.add("Transpose", [k], perm=list(range(rank - 2)) + [rank - 1, rank - 2])
    scores = builder.add("MatMul", [builder.add("Mul", [q, _scalar(builder, node.scale, like)]), key_t])
    if len(inputs) == 4:
        length, source = parents[0].shape[-2], parents[1].shape[-2]
        mask = _causal_mask(builder, q, k, like) if _is_causal_mask(parents[3], length, source) else inputs[3]
        scores = builder.add("Add", [scores, mask])
    weights = builder.add("Softmax", [scores], axis=-1)
    if len(inputs) == 4:  # Softmax of a row of -inf is NaN; giagrad gives weights 0 there
        weights = builder.add("Where", [builder.add("IsNaN", [weights]), _scalar(builder, 0.0, like), weights])
    return builder.add("MatMul", [weights, v])
