"""MultiheadAttention and TransformerEncoder(Layer): PyTorch state_dicts load by name, and the
outputs and gradients match PyTorch's."""

import numpy as np
import pytest

import giagrad
from giagrad import gradcheck, nn

RNG = np.random.default_rng(0)


def _load_from_torch(ours, theirs):
    ours.load_state_dict({name: value.detach().numpy() for name, value in theirs.state_dict().items()})


def _compare(matches_torch, out, expected, ours, theirs, inputs, torch_inputs, tolerance=1e-10):
    matches_torch(out, expected, inputs, torch_inputs, tolerance)
    parameters = dict(ours.named_parameters())
    for name, reference in theirs.named_parameters():
        np.testing.assert_allclose(parameters[name].grad, reference.grad.numpy(), rtol=tolerance, atol=tolerance,
                                   err_msg=name)


def test_parameter_names_and_shapes_are_pytorch_s():
    attention = nn.MultiheadAttention(16, 4)
    assert {name: p.shape for name, p in attention.named_parameters()} == {
        "in_proj_weight": (48, 16), "in_proj_bias": (48,), "out_proj.weight": (16, 16), "out_proj.bias": (16,)}
    encoder = nn.TransformerEncoder(nn.TransformerEncoderLayer(16, 4, 32), num_layers=2)
    names = [name for name, _ in encoder.named_parameters()]
    assert "layers.1.self_attn.in_proj_weight" in names and "layers.0.linear2.bias" in names
    assert "layers.0.norm2.weight" in names and len(names) == 2 * 12


@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("masks", ["none", "bool", "float", "padding", "both", "per_head", "causal"])
@pytest.mark.parametrize("need_weights, average", [(False, True), (True, True), (True, False)])
def test_multihead_attention_matches_pytorch(batch_first, masks, need_weights, average, matches_torch):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    theirs = torch.nn.MultiheadAttention(8, 2, batch_first=batch_first).double()
    ours = nn.MultiheadAttention(8, 2, batch_first=batch_first, dtype=np.float64)
    _load_from_torch(ours, theirs)
    batch, length, source = 3, 4, 5
    shape = (batch, length, 8) if batch_first else (length, batch, 8)
    source_shape = (batch, source, 8) if batch_first else (source, batch, 8)
    arrays = [RNG.standard_normal(shape), RNG.standard_normal(source_shape), RNG.standard_normal(source_shape)]
    kwargs = {}
    if masks in ("bool", "both"):
        hidden = RNG.random((length, source)) > 0.7
        hidden[:, 0] = False
        kwargs["attn_mask"] = hidden
    if masks == "float":
        kwargs["attn_mask"] = RNG.standard_normal((length, source))
    if masks == "per_head":
        kwargs["attn_mask"] = RNG.standard_normal((batch * 2, length, source))
    if masks in ("padding", "both"):
        padding = np.zeros((batch, source), dtype=bool)
        padding[0, 3:] = True
        kwargs["key_padding_mask"] = padding
    if masks == "causal":
        arrays[1] = arrays[2] = arrays[0]
        kwargs["attn_mask"] = np.triu(np.ones((length, length), dtype=bool), k=1)
        kwargs["is_causal"] = True
    inputs = [giagrad.tensor(a, requires_grad=True) for a in arrays]
    torch_inputs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, weights = ours(*inputs, need_weights=need_weights, average_attn_weights=average,
                        **{k: giagrad.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()})
    expected, expected_weights = theirs(*torch_inputs, need_weights=need_weights, average_attn_weights=average,
                                        **{k: torch.tensor(v) if isinstance(v, np.ndarray) else v
                                           for k, v in kwargs.items()})
    if need_weights:
        np.testing.assert_allclose(weights.data, expected_weights.detach().numpy(), rtol=1e-10, atol=1e-12)
    else:
        assert weights is None and expected_weights is None
    _compare(matches_torch, out, expected, ours, theirs, inputs, torch_inputs)


def test_unbatched_self_attention_matches_pytorch(matches_torch):
    torch = pytest.importorskip("torch")
    theirs = torch.nn.MultiheadAttention(8, 4, bias=False).double()
    ours = nn.MultiheadAttention(8, 4, bias=False, dtype=np.float64)
    _load_from_torch(ours, theirs)
    x = RNG.standard_normal((6, 8))
    mine, reference = giagrad.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, weights = ours(mine, mine, mine)
    expected, expected_weights = theirs(reference, reference, reference)
    np.testing.assert_allclose(weights.data, expected_weights.detach().numpy(), rtol=1e-10, atol=1e-12)
    _compare(matches_torch, out, expected, ours, theirs, [mine], [reference])


@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
def test_encoder_matches_pytorch(activation, norm_first, batch_first, matches_torch):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    layer = torch.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, activation=activation, batch_first=batch_first,
                                             norm_first=norm_first, layer_norm_eps=1e-6)
    theirs = torch.nn.TransformerEncoder(layer, 2, norm=torch.nn.LayerNorm(8), enable_nested_tensor=False).double()
    ours = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, activation=activation,
                                                            batch_first=batch_first, norm_first=norm_first,
                                                            layer_norm_eps=1e-6, dtype=np.float64),
                                 2, norm=nn.LayerNorm(8, dtype=np.float64))
    _load_from_torch(ours, theirs)
    x = RNG.standard_normal((3, 5, 8))
    padding = np.zeros((3, 5) if batch_first else (5, 3), dtype=bool)
    padding[-1, -2:] = True
    length = x.shape[1] if batch_first else x.shape[0]
    causal = np.triu(np.ones((length, length), dtype=bool), k=1)
    mine, reference = giagrad.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out = ours(mine, mask=giagrad.tensor(causal), src_key_padding_mask=giagrad.tensor(padding))
    expected = theirs(reference, mask=torch.tensor(causal), src_key_padding_mask=torch.tensor(padding))
    _compare(matches_torch, out, expected, ours, theirs, [mine], [reference])


def test_multihead_attention_gradcheck():
    # The inputs' gradients; the parameters' are compared with PyTorch's above.
    attention = nn.MultiheadAttention(6, 3, batch_first=True, dtype=np.float64)
    x = giagrad.tensor(RNG.standard_normal((2, 4, 6)), requires_grad=True)
    memory = giagrad.tensor(RNG.standard_normal((2, 3, 6)), requires_grad=True)
    assert gradcheck(lambda query, keys: attention(query, keys, keys, need_weights=False)[0], [x, memory])
    assert gradcheck(lambda query: attention(query, query, query, is_causal=True)[0], [x])


def test_encoder_layer_dropout_only_in_training():
    layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.5, batch_first=True)
    x = giagrad.randn(2, 5, 8)
    layer.eval()
    np.testing.assert_array_equal(layer(x).detach().numpy(), layer(x).detach().numpy())
    layer.train()
    assert not np.array_equal(layer(x).detach().numpy(), layer(x).detach().numpy())


@pytest.mark.parametrize("make, error, message", [
    (lambda: nn.MultiheadAttention(10, 3), ValueError, "divisible by num_heads"),
    (lambda: nn.MultiheadAttention(8, 2, kdim=4), NotImplementedError, "kdim"),
    (lambda: nn.TransformerEncoderLayer(8, 2, activation="tanh"), ValueError, "activation"),
    (lambda: nn.MultiheadAttention(8, 2)(giagrad.randn(4, 2, 8), giagrad.randn(4, 2, 8), giagrad.randn(4, 2, 8),
                                         attn_mask=giagrad.ones(3, 3)), ValueError, "attn_mask must have shape"),
    (lambda: nn.MultiheadAttention(8, 2)(giagrad.randn(4, 2, 6), giagrad.randn(4, 2, 6), giagrad.randn(4, 2, 6)),
     ValueError, "embed_dim=8"),
    (lambda: nn.MultiheadAttention(8, 2)(giagrad.randn(4, 2, 8), giagrad.randn(4, 2, 8), giagrad.randn(4, 2, 8),
                                         key_padding_mask=np.zeros((4, 2), bool)), ValueError, "key_padding_mask"),
])
def test_bad_arguments_are_named(make, error, message):
    with pytest.raises(error, match=message):
        make()
