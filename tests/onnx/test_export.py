"""giagrad.onnx.export: each covered op runs in onnxruntime with giagrad's outputs, batch dim dynamic."""

import numpy as np
import pytest

import giagrad
from giagrad import Function, nn

pytest.importorskip("onnx", reason="the onnx extra is not installed")
ort = pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")

import giagrad.onnx  # noqa: E402  (after the skips: it needs the onnx package)


class Lambda(nn.Module):
    """A module around a function of tensors, for the op-by-op cases."""

    def __init__(self, function, *modules):
        super().__init__()
        self.function, self.layers = function, nn.ModuleList(modules)

    def forward(self, x):
        return self.function(x, *self.layers)


def conv_net():
    return nn.Sequential(nn.Conv2d(2, 6, 3, padding=1, bias=False), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(6, 4, 3, stride=2, padding=(1, 0), groups=2), nn.AvgPool2d(2, stride=1),
                         nn.Dropout(0.5), nn.Flatten(), nn.Linear(4 * 2 * 1, 3))


# (name, model, input shape): every op the recipes' models use, and the common elementwise ones
CASES = [
    ("mlp", lambda: nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.ReLU(), nn.Dropout(0.3), nn.Linear(8, 5)),
     (3, 3, 4)),
    ("conv_bn_pool", conv_net, (2, 2, 12, 10)),
    ("adaptive_avg_pool", lambda: nn.Sequential(nn.Conv2d(2, 3, 3), nn.AdaptiveAvgPool2d((2, 3))), (2, 2, 7, 8)),
    ("avg_pool_padding_counted", lambda: nn.AvgPool2d(3, stride=2, padding=1), (2, 3, 7, 6)),
    ("avg_pool_padding_not_counted", lambda: nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False),
     (2, 3, 7, 6)),
    ("avg_pool_ceil_mode", lambda: nn.AvgPool2d(2, ceil_mode=True, count_include_pad=False), (2, 3, 7, 5)),
    ("max_pool_ceil_mode_dilation", lambda: nn.MaxPool2d(2, stride=2, padding=1, dilation=2, ceil_mode=True),
     (2, 3, 7, 6)),
    ("global_avg_pool", lambda: nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()), (2, 3, 5, 5)),
    ("layer_norm_gelu_3d", lambda: nn.Sequential(nn.Linear(6, 8), nn.LayerNorm(8), nn.GELU(), nn.Linear(8, 4),
                                                 nn.Softmax(dim=-1)), (2, 5, 6)),
    ("gelu_tanh_log_softmax", lambda: nn.Sequential(nn.Linear(4, 6), nn.GELU(approximate="tanh"),
                                                    nn.LogSoftmax(dim=1)), (3, 4)),
    ("activations", lambda: nn.Sequential(nn.LeakyReLU(0.1), nn.ELU(), nn.SiLU(), nn.Sigmoid(), nn.Tanh()), (2, 7)),
    ("group_norm", lambda: nn.Sequential(nn.GroupNorm(2, 4), nn.Conv2d(4, 2, 1)), (2, 4, 3, 3)),
    ("batch_norm_1d_no_affine", lambda: nn.Sequential(nn.Linear(5, 6), nn.BatchNorm1d(6, affine=False)), (4, 5)),
    ("reshape_permute", lambda: Lambda(lambda x, lin: lin(x.reshape(x.shape[0], 3, 4).permute(0, 2, 1))
                                       .flatten(1).transpose(0, 1).transpose(0, 1), nn.Linear(3, 2)), (2, 12)),
    ("elementwise", lambda: Lambda(lambda x, lin: ((lin(x) * 2 - x.exp() / 3) ** 2 + x.abs().sqrt()
                                                   - (1 + x.square()).log() + x.maximum(x * 0.5).clamp(-1, 1)
                                                   + x.sin() * x.cos() - (-x).sigmoid() + (x.abs() + 1) ** x),
                                   nn.Linear(4, 4)), (3, 4)),
    ("reductions_and_matmul", lambda: Lambda(lambda x, lin: lin(x).T @ x + x.sum(dim=1, keepdim=True)
                                             - x.mean() + x.amax(dim=1, keepdim=True), nn.Linear(4, 3)), (3, 4)),
]


def run_onnx(path, inputs):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return session.run(None, dict(zip(names, inputs)))


@pytest.mark.parametrize("name, make_model, shape", CASES, ids=[case[0] for case in CASES])
def test_exported_model_runs_in_onnxruntime_with_giagrad_outputs(tmp_path, name, make_model, shape):
    giagrad.manual_seed(0)
    model = make_model()
    model(giagrad.randn(*shape) * 2 + 0.5)  # batch norm: running statistics off their start values
    path = tmp_path / "model.onnx"
    batch_free = name not in ("reductions_and_matmul",)  # x.T mixes the batch dim with the others
    dynamic = {"input": {0: "batch"}, "output": {0: "batch"}} if batch_free else None
    giagrad.onnx.export(model, giagrad.randn(*shape), path, dynamic_axes=dynamic)
    assert model.training  # the modes are restored after the trace

    other_batch = (shape[0] + 3,) + shape[1:] if batch_free else shape
    x = np.random.default_rng(1).standard_normal(other_batch).astype(np.float32)
    model.eval()
    expected = model(giagrad.tensor(x)).data
    (got,) = run_onnx(path, [x])
    assert got.shape == expected.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_embedding_takes_integer_input_and_names_parameters(tmp_path):
    giagrad.manual_seed(0)
    model = nn.Sequential(nn.Embedding(10, 4), nn.Flatten(), nn.Linear(12, 2))
    path = tmp_path / "embedding.onnx"
    proto = giagrad.onnx.export(model, giagrad.tensor(np.array([[1, 2, 3]])), path, input_names=["tokens"],
                                output_names=["logits"], dynamic_axes={"tokens": [0], "logits": [0]})
    assert {init.name for init in proto.graph.initializer} >= {"0.weight", "2.weight", "2.bias"}
    tokens = np.array([[0, 9, 4], [3, 3, 3]], dtype=np.int64)
    (got,) = run_onnx(path, [tokens])
    np.testing.assert_allclose(got, model(giagrad.tensor(tokens)).data, rtol=1e-5, atol=1e-6)


def test_several_inputs_and_outputs(tmp_path):
    class TwoHeads(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(3, 2), nn.Linear(4, 2)

        def forward(self, x, y):
            return self.a(x) + self.b(y), self.a(x).relu()

    model = TwoHeads()
    x, y = giagrad.randn(2, 3), giagrad.randn(2, 4)
    path = tmp_path / "two.onnx"
    giagrad.onnx.export(model, (x, y), path, input_names=["x", "y"], output_names=["sum", "relu"])
    got = run_onnx(path, [x.data, y.data])
    for value, expected in zip(got, model(x, y), strict=True):
        np.testing.assert_allclose(value, expected.data, rtol=1e-5, atol=1e-6)


def test_an_op_without_a_converter_is_named():
    class Softsign(Function):
        def forward(self, x):
            return x / (1 + np.abs(x))

    model = Lambda(lambda x, lin: Softsign.apply(lin(x)), nn.Linear(2, 2))
    with pytest.raises(giagrad.onnx.UnsupportedOperatorError, match="Softsign"):
        giagrad.onnx.export(model, giagrad.randn(1, 2), "never-written.onnx")


def test_a_registered_converter_is_used(tmp_path, monkeypatch):
    class Softsign(Function):
        def forward(self, x):
            return x / (1 + np.abs(x))

    monkeypatch.setitem(giagrad.onnx.CONVERTERS, Softsign, lambda builder, node, inputs, parents, out:
                        builder.add("Softsign", inputs))
    model = Lambda(lambda x, lin: Softsign.apply(lin(x)), nn.Linear(2, 2))
    x = giagrad.randn(3, 2)
    giagrad.onnx.export(model, x, tmp_path / "softsign.onnx")
    (got,) = run_onnx(tmp_path / "softsign.onnx", [x.data])
    np.testing.assert_allclose(got, model(x).data, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"opset_version": 11}, ValueError, "opset_version"),
    ({"dynamic_axes": {"nope": [0]}}, ValueError, "nope"),
    ({"dynamic_axes": {"input": [5]}}, ValueError, "dynamic axis 5"),
    ({"input_names": ["a", "b"]}, ValueError, "input names"),
])
def test_bad_arguments_are_refused(tmp_path, kwargs, error, message):
    with pytest.raises(error, match=message):
        giagrad.onnx.export(nn.Linear(2, 2), giagrad.randn(1, 2), tmp_path / "m.onnx", **kwargs)
    assert not (tmp_path / "m.onnx").exists()


@pytest.mark.parametrize("opset_version", [13, 18, 20])
def test_opsets_with_reduction_axes_as_attribute_or_input(tmp_path, opset_version):
    model = nn.Sequential(nn.Linear(3, 6), nn.LayerNorm(6), nn.GELU())
    x = giagrad.randn(2, 3)
    proto = giagrad.onnx.export(model, x, tmp_path / "m.onnx", opset_version=opset_version)
    assert proto.opset_import[0].version == opset_version
    (got,) = run_onnx(tmp_path / "m.onnx", [x.data])
    np.testing.assert_allclose(got, model(x).data, rtol=1e-5, atol=1e-6)
