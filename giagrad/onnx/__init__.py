"""Export a model to ONNX, for serving it with onnxruntime or any other ONNX runtime.

``giagrad.onnx.export(model, example_input, "model.onnx")`` runs the model once on the example
input, walks the graph giagrad records (one ``Function`` node per op) and writes each node as ONNX
operators. It needs the ``onnx`` package (``pip install "giagrad[onnx]"``, which also brings
``onnxruntime`` to run the file); ``import giagrad.onnx`` alone does not.
"""

from giagrad.onnx.converters import CONVERTERS, converts
from giagrad.onnx.export import UnsupportedOperatorError, export

__all__ = ["export", "UnsupportedOperatorError", "CONVERTERS", "converts"]
