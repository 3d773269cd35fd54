"""giagrad.onnx.export: each covered op runs in onnxruntime with giagrad's outputs, batch dim dynamic."""

import numpy as np
import pytest

import giagrad
from giagrad import Function, nn
from giagrad.nn import functional as F

pytest.importorskip("onnx", reason="the onnx extra is not installed")
ort = pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")

import giagrad.onnx  # noqa: E402  (after the skips: it needs the onnx package)


class Lambda(nn.Module):
    """A module around a function of tensors, for the op-by-op cases."""

    def __init__(self, function, *modules):
        super().__init__()
        self.function, self.layers = function, nn.ModuleList(modules)

    def forward(self, *inputs):
        return self.function(*inputs, *self.layers)


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
    ("indexing", lambda: Lambda(lambda x, lin: lin(x[:, 1:, ::2])[..., None, 0]
                                + lin(x[:, ::-1, 1::2])[:, [2, 0, 2], :1] + x[:, -1, None, :1]
                                + x.unbind(1)[3][:, 4:5, None], nn.Linear(3, 5)), (2, 4, 6)),
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


# ------------------------------------------------------------------------------- attention

TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}


def check_file(path):
    import onnx

    onnx.checker.check_model(onnx.load(str(path)), full_check=True)


def test_char_gpt_model_runs_at_another_batch_size(tmp_path):
    from recipes.char_gpt import GPT

    giagrad.manual_seed(0)
    model = GPT(vocab_size=13, block_size=8, n_layer=2, n_head=2, n_embd=8)
    path = tmp_path / "gpt.onnx"
    giagrad.onnx.export(model, giagrad.tensor(np.zeros((2, 8), dtype=np.int64)), path, input_names=["ids"],
                        output_names=["logits"], dynamic_axes={"ids": {0: "batch"}, "logits": {0: "batch"}})
    check_file(path)
    ids = np.random.default_rng(0).integers(0, 13, (5, 8))
    (got,) = run_onnx(path, [ids])
    np.testing.assert_allclose(got, model(giagrad.tensor(ids)).data, **TOLERANCE)


ENCODERS = [(batch_first, norm_first, activation) for batch_first in (True, False) for norm_first in (True, False)
            for activation in ("relu", "gelu")]


@pytest.mark.parametrize("batch_first, norm_first, activation", ENCODERS)
@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_transformer_encoder_runs_at_other_batch_sizes_and_lengths(tmp_path, batch_first, norm_first, activation,
                                                                   causal):
    giagrad.manual_seed(0)
    layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.1, activation=activation, batch_first=batch_first,
                                       norm_first=norm_first)
    model = Lambda(lambda x, encoder: encoder(x, is_causal=causal), nn.TransformerEncoder(layer, 2))
    batch_axis, length_axis = (0, 1) if batch_first else (1, 0)
    dynamic = {name: {batch_axis: "batch", length_axis: "length"} for name in ("input", "output")}
    path = tmp_path / "encoder.onnx"
    giagrad.onnx.export(model, giagrad.randn(2, 5, 8), path, dynamic_axes=dynamic)
    check_file(path)
    x = np.random.default_rng(1).standard_normal((3, 7, 8)).astype(np.float32)
    model.eval()
    (got,) = run_onnx(path, [x])
    np.testing.assert_allclose(got, model(giagrad.tensor(x)).data, **TOLERANCE)


def test_transformer_encoder_with_a_constant_bool_mask(tmp_path):
    giagrad.manual_seed(0)
    encoder = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16, batch_first=True), 1)
    mask = giagrad.tensor(np.random.default_rng(2).random((5, 5)) < 0.3)  # True: may not attend
    model = Lambda(lambda x, encoder: encoder(x, mask=mask), encoder)
    path = tmp_path / "encoder.onnx"
    giagrad.onnx.export(model, giagrad.randn(2, 5, 8), path, dynamic_axes={"input": [0], "output": [0]})
    x = np.random.default_rng(1).standard_normal((4, 5, 8)).astype(np.float32)
    model.eval()
    (got,) = run_onnx(path, [x])
    np.testing.assert_allclose(got, model(giagrad.tensor(x)).data, **TOLERANCE)


@pytest.mark.parametrize("need_weights", [False, True])
@pytest.mark.parametrize("batch_first", [True, False])
def test_multihead_attention_takes_float_masks_as_inputs(tmp_path, need_weights, batch_first):
    giagrad.manual_seed(0)
    attention = nn.MultiheadAttention(8, 2, batch_first=batch_first)
    model = Lambda(lambda x, mask, padding, attention: attention(x, x, x, key_padding_mask=padding, attn_mask=mask,
                                                                 need_weights=need_weights)[0], attention)
    rng = np.random.default_rng(3)

    def masks(batch):
        attn_mask = rng.standard_normal((5, 5)).astype(np.float32)
        padding = np.where(rng.random((batch, 5)) < 0.3, -np.inf, 0).astype(np.float32)
        padding[:, 0] = 0  # every query keeps a key: a fully hidden row is NaN in the unfused path
        if not need_weights:
            padding[-1] = -np.inf  # the fused node gives such a row 0, and so must the file
        return attn_mask, padding

    shape = (2, 5, 8) if batch_first else (5, 2, 8)
    path = tmp_path / "attention.onnx"
    example = [giagrad.randn(*shape), *(giagrad.tensor(m) for m in masks(2))]
    batch_axis = 0 if batch_first else 1
    giagrad.onnx.export(model, example, path, input_names=["x", "attn_mask", "padding"],
                        dynamic_axes={"x": [batch_axis], "padding": [0], "output": [batch_axis]})
    check_file(path)
    x = rng.standard_normal((4, 5, 8) if batch_first else (5, 4, 8)).astype(np.float32)
    attn_mask, padding = masks(4)
    model.eval()
    (got,) = run_onnx(path, [x, attn_mask, padding])
    expected = model(giagrad.tensor(x), giagrad.tensor(attn_mask), giagrad.tensor(padding)).data
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, expected, **TOLERANCE)


def test_cross_attention_with_constant_bool_masks_and_weights(tmp_path):
    giagrad.manual_seed(0)
    attention = nn.MultiheadAttention(8, 2, batch_first=True)
    attn_mask = giagrad.tensor(np.triu(np.ones((3, 5), dtype=bool), k=2))
    padding = giagrad.tensor(np.array([[False, False, False, True, True], [False] * 5]))

    class Cross(nn.Module):
        def __init__(self):
            super().__init__()
            self.attention = attention

        def forward(self, query, memory):
            return self.attention(query, memory, memory, key_padding_mask=padding, attn_mask=attn_mask,
                                  average_attn_weights=False)

    model = Cross()
    query, memory = giagrad.randn(2, 3, 8), giagrad.randn(2, 5, 8)
    path = tmp_path / "cross.onnx"
    giagrad.onnx.export(model, (query, memory), path, input_names=["query", "memory"],
                        output_names=["output", "weights"])
    got = run_onnx(path, [query.data, memory.data])
    model.eval()
    for value, expected in zip(got, model(query, memory), strict=True):
        np.testing.assert_allclose(value, expected.data, **TOLERANCE)


def test_causal_attention_with_a_scale_at_other_lengths(tmp_path):
    model = Lambda(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=0.3))
    path = tmp_path / "sdpa.onnx"
    dynamic = {"q": [0, 2], "k": [0, 2], "v": [0, 2], "output": [0, 2]}
    giagrad.onnx.export(model, (giagrad.randn(2, 2, 3, 4), giagrad.randn(2, 2, 5, 4), giagrad.randn(2, 2, 5, 6)),
                        path, input_names=["q", "k", "v"], dynamic_axes=dynamic)
    rng = np.random.default_rng(4)
    q, k, v = (rng.standard_normal(shape).astype(np.float32) for shape in ((3, 2, 6, 4), (3, 2, 4, 4), (3, 2, 4, 6)))
    (got,) = run_onnx(path, [q, k, v])  # more queries than keys: the last ones see every key
    np.testing.assert_allclose(got, model(*(giagrad.tensor(a) for a in (q, k, v))).data, **TOLERANCE)


def test_a_bool_mask_input_the_graph_never_reads_is_refused(tmp_path):
    attention = nn.MultiheadAttention(8, 2, batch_first=True)
    model = Lambda(lambda x, padding, attention: attention(x, x, x, key_padding_mask=padding)[0], attention)
    padding = giagrad.tensor(np.array([[False, True, False], [False, False, False]]))
    with pytest.raises(ValueError, match="reach the outputs through no recorded op"):
        giagrad.onnx.export(model, (giagrad.randn(2, 3, 8), padding), tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


@pytest.mark.parametrize("index", [np.array([True, False, True]), (np.array([0, 1]), np.array([1, 2]))],
                         ids=["bool_mask", "two_arrays"])
def test_indexing_without_an_onnx_form_is_named(index):
    with pytest.raises(giagrad.onnx.UnsupportedOperatorError, match="Getitem"):
        giagrad.onnx.export(Lambda(lambda x: x[index]), giagrad.randn(3, 3), "never-written.onnx")
