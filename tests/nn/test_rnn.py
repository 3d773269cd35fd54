"""nn.RNN, LSTM, GRU and their cells: gradients, parity with PyTorch, shapes, initialisation, checks."""

import numpy as np
import pytest

import giagrad
from giagrad import nn

INPUT, HIDDEN, STEPS, BATCH = 3, 2, 3, 2

# (class, constructor keywords): every kind of layer, with each option that changes the computation
LAYERS = [
    ("RNN", {}),
    ("RNN", {"nonlinearity": "relu"}),
    ("LSTM", {}),
    ("GRU", {}),
]
OPTIONS = [
    {},
    {"num_layers": 2, "bidirectional": True},
    {"batch_first": True, "bias": False},
]
CELLS = [("RNNCell", {}), ("RNNCell", {"nonlinearity": "relu"}), ("LSTMCell", {}), ("GRUCell", {})]


def rng():
    return np.random.default_rng(0)


def layer_input(options, batched=True):
    if not batched:
        return rng().standard_normal((STEPS, INPUT))
    shape = (BATCH, STEPS, INPUT) if options.get("batch_first") else (STEPS, BATCH, INPUT)
    return rng().standard_normal(shape)


def state_shape(options, batched=True):
    layers = options.get("num_layers", 1) * (2 if options.get("bidirectional") else 1)
    return (layers, BATCH, HIDDEN) if batched else (layers, HIDDEN)


def flatten_outputs(name, result):
    """A layer's or cell's results as one list of tensors."""
    if name == "LSTM":
        output, (h, c) = result
        return [output, h, c]
    if name == "LSTMCell":
        return list(result)
    if isinstance(result, tuple):
        return list(result)
    return [result]


def combined(outputs):
    """One tensor that depends on every output (each weighted differently), for gradcheck."""
    total = outputs[0].reshape(-1)
    for k, out in enumerate(outputs[1:], start=2):
        total = giagrad.cat([total, out.reshape(-1) * float(k)])
    return total


def gradcheck_module(module, name, x, states):
    """gradcheck of ``module(x, states)`` for the input, the initial states and every parameter.

    gradcheck hands ``fn`` fresh tensors for the perturbed inputs; the parameters are the
    module's own, so ``fn`` points them at the values it is given (the first, recorded call
    passes the parameters themselves).
    """
    parameters = list(module.parameters())

    def fn(x, *rest):
        given_states, weights = rest[:len(states)], rest[len(states):]
        for parameter, weight in zip(parameters, weights, strict=True):
            parameter.data = weight.data
        hx = None
        if given_states:
            hx = tuple(given_states) if name.startswith("LSTM") else given_states[0]
        return combined(flatten_outputs(name, module(x, hx)))

    assert giagrad.gradcheck(fn, [x, *states, *parameters])


@pytest.mark.parametrize("name, keywords", LAYERS)
@pytest.mark.parametrize("options", OPTIONS)
def test_layer_gradcheck(name, keywords, options):
    giagrad.manual_seed(0)
    module = getattr(nn, name)(INPUT, HIDDEN, **keywords, **options, dtype=np.float64)
    x = giagrad.tensor(layer_input(options), requires_grad=True)
    count = 2 if name == "LSTM" else 1
    states = [giagrad.tensor(rng().standard_normal(state_shape(options)) * 0.5 + k, requires_grad=True)
              for k in range(count)]
    gradcheck_module(module, name, x, states)


@pytest.mark.parametrize("name, keywords", LAYERS)
def test_layer_gradcheck_unbatched_without_initial_states(name, keywords):
    giagrad.manual_seed(1)
    module = getattr(nn, name)(INPUT, HIDDEN, **keywords, bidirectional=True, dtype=np.float64)
    x = giagrad.tensor(layer_input({}, batched=False), requires_grad=True)
    gradcheck_module(module, name, x, [])


@pytest.mark.parametrize("name, keywords", CELLS)
@pytest.mark.parametrize("batched", [True, False])
def test_cell_gradcheck(name, keywords, batched):
    giagrad.manual_seed(2)
    module = getattr(nn, name)(INPUT, HIDDEN, **keywords, dtype=np.float64)
    shape = (BATCH,) if batched else ()
    x = giagrad.tensor(rng().standard_normal(shape + (INPUT,)), requires_grad=True)
    states = [giagrad.tensor(rng().standard_normal(shape + (HIDDEN,)) + k, requires_grad=True)
              for k in range(2 if name == "LSTMCell" else 1)]
    gradcheck_module(module, name, x, states)


def test_shapes_and_dtype_stay_float32():
    lstm = nn.LSTM(INPUT, 5, num_layers=2, bidirectional=True, batch_first=True)
    x = giagrad.randn(BATCH, 7, INPUT, requires_grad=True)
    output, (h, c) = lstm(x)
    assert output.shape == (BATCH, 7, 10) and h.shape == c.shape == (4, BATCH, 5)
    assert output.dtype == h.dtype == c.dtype == np.float32
    (output.sum() + c.sum()).backward()
    assert x.grad.dtype == np.float32 and lstm.weight_hh_l1_reverse.grad.dtype == np.float32
    unbatched, h = nn.GRU(INPUT, 5)(giagrad.randn(7, INPUT))
    assert unbatched.shape == (7, 5) and h.shape == (1, 5)
    assert nn.RNNCell(INPUT, 5)(giagrad.randn(INPUT)).shape == (5,)


def test_final_states_are_the_last_outputs_of_each_direction():
    rnn = nn.GRU(INPUT, HIDDEN, bidirectional=True)
    output, h = rnn(giagrad.tensor(layer_input({}).astype(np.float32)))
    np.testing.assert_array_equal(h.data[0], output.data[-1, :, :HIDDEN])
    np.testing.assert_array_equal(h.data[1], output.data[0, :, HIDDEN:])


def test_backward_twice_with_retain_graph_doubles_the_gradients():
    lstm = nn.LSTM(INPUT, HIDDEN, dtype=np.float64)
    output, _ = lstm(giagrad.tensor(layer_input({})))
    loss = (output * output).sum()
    loss.backward(retain_graph=True)
    once = lstm.weight_hh_l0.grad.copy()
    loss.backward()
    np.testing.assert_allclose(lstm.weight_hh_l0.grad, 2 * once)


def test_parameters_follow_pytorch_names_shapes_and_initialisation():
    giagrad.manual_seed(0)
    gru = nn.GRU(10, 20, num_layers=2, bidirectional=True)
    shapes = {name: p.shape for name, p in gru.named_parameters()}
    assert list(shapes)[:4] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]
    assert shapes["weight_ih_l0_reverse"] == (60, 10)
    assert shapes["weight_ih_l1"] == (60, 40) and shapes["weight_hh_l1_reverse"] == (60, 20)
    assert len(shapes) == 16
    values = np.concatenate([p.data.ravel() for p in gru.parameters()])
    bound = 1 / np.sqrt(20)
    assert values.min() >= -bound and values.max() <= bound and values.std() > bound / 2
    assert list(dict(nn.LSTMCell(3, 4).named_parameters())) == ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]
    assert list(dict(nn.RNN(3, 4, bias=False).named_parameters())) == ["weight_ih_l0", "weight_hh_l0"]


def test_dropout_between_layers_uses_the_seeded_generator_and_only_in_training():
    lstm = nn.LSTM(INPUT, HIDDEN, num_layers=2, dropout=0.5)
    x = giagrad.tensor(layer_input({}).astype(np.float32))
    giagrad.manual_seed(3)
    first, _ = lstm(x)
    giagrad.manual_seed(3)
    again, _ = lstm(x)
    np.testing.assert_array_equal(first.data, again.data)
    lstm.eval()
    quiet, _ = lstm(x)
    lstm.dropout = 0.0
    lstm.train()
    np.testing.assert_array_equal(quiet.data, lstm(x)[0].data)
    assert not np.array_equal(first.data, quiet.data)


def test_dropout_with_one_layer_warns():
    with pytest.warns(UserWarning, match="num_layers=1"):
        nn.GRU(3, 4, dropout=0.2)


@pytest.mark.parametrize("layer, text", [
    # strings from PyTorch 2.13
    (lambda: nn.LSTM(3, 4), "LSTM(3, 4)"),
    (lambda: nn.RNN(3, 4, 2, "relu", bias=False, batch_first=True, dropout=0.1, bidirectional=True),
     "RNN(3, 4, num_layers=2, bias=False, batch_first=True, dropout=0.1, bidirectional=True)"),
    (lambda: nn.RNNCell(3, 4, bias=False, nonlinearity="relu"), "RNNCell(3, 4, bias=False, nonlinearity=relu)"),
    (lambda: nn.GRUCell(3, 4), "GRUCell(3, 4)"),
])
def test_repr_matches_pytorch(layer, text):
    assert repr(layer()) == text


@pytest.mark.parametrize("call, error, message", [
    (lambda: nn.LSTM(3, 4)(giagrad.randn(5, 2, 6)), ValueError, r"LSTM: .*input_size=3, got shape \(5, 2, 6\)"),
    (lambda: nn.GRU(3, 4)(giagrad.randn(5)), ValueError, r"GRU: expected input of shape"),
    (lambda: nn.RNN(3, 4)(giagrad.randn(0, 2, 3)), ValueError, "RNN: the sequence is empty"),
    (lambda: nn.RNN(3, 4)(giagrad.randn(5, 2, 3), giagrad.randn(1, 3, 4)), ValueError,
     r"RNN: expected h_0 of shape \(1, 2, 4\), got shape \(1, 3, 4\)"),
    (lambda: nn.GRU(3, 4, bidirectional=True)(giagrad.randn(5, 3), giagrad.randn(1, 4)), ValueError,
     r"GRU: expected h_0 of shape \(2, 4\)"),
    (lambda: nn.LSTM(3, 4)(giagrad.randn(5, 2, 3), giagrad.randn(1, 2, 4)), TypeError, r"LSTM: hx must be a tuple"),
    (lambda: nn.LSTM(3, 4)(giagrad.randn(5, 2, 3), (giagrad.randn(1, 2, 4), giagrad.randn(2, 2, 4))),
     ValueError, r"LSTM: expected c_0 of shape \(1, 2, 4\)"),
    (lambda: nn.LSTM(3, 4)(giagrad.randn(5, 2, 3, dtype="float64")), TypeError, "LSTM: input is float64"),
    (lambda: nn.LSTMCell(3, 4)(giagrad.randn(2, 5)), ValueError, r"LSTMCell: expected input of shape \(N, "),
    (lambda: nn.RNNCell(3, 4)(giagrad.randn(2, 3), giagrad.randn(2, 5)), ValueError,
     r"RNNCell: expected h_0 of shape \(2, 4\)"),
    (lambda: nn.RNN(3, 4)(giagrad.tensor(np.zeros((5, 2, 3), dtype=np.int64))), TypeError, "floating"),
    (lambda: nn.RNN(3, 4, nonlinearity="sigmoid"), ValueError, "'tanh' or 'relu'"),
    (lambda: nn.LSTM(3, 4, proj_size=2), ValueError, "proj_size"),
    (lambda: nn.GRU(3, 0), ValueError, "hidden_size must be a positive integer"),
    (lambda: nn.GRU(3, 4, num_layers=2, dropout=1.5), ValueError, "dropout probability"),
])
def test_bad_arguments_raise_clear_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()


# ---------------------------------------------------------------------------------- PyTorch


def torch_module(torch, name, keywords, options=None):
    torch.manual_seed(0)
    cls = getattr(torch.nn, name)
    if name.endswith("Cell"):
        return cls(INPUT, HIDDEN, **keywords).double()
    return cls(INPUT, HIDDEN, **keywords, **options).double()


def loaded_copy(torch_layer, name, keywords, options=None):
    """A giagrad module of the same kind holding the PyTorch module's state_dict, loaded by name."""
    cls = getattr(nn, name)
    if name.endswith("Cell"):
        module = cls(INPUT, HIDDEN, **keywords, dtype=np.float64)
    else:
        module = cls(INPUT, HIDDEN, **keywords, **options, dtype=np.float64)
    module.load_state_dict({key: value.detach().numpy() for key, value in torch_layer.state_dict().items()})
    return module


def compare_with_torch(torch, ours, theirs, name, x, states):
    """Same outputs, and same gradients of a weighted sum of them for the input, states and weights."""
    ours_x = giagrad.tensor(x, requires_grad=True)
    theirs_x = torch.tensor(x, requires_grad=True)
    ours_states = [giagrad.tensor(s, requires_grad=True) for s in states]
    theirs_states = [torch.tensor(s, requires_grad=True) for s in states]

    def call(module, x, states):
        if not states:
            return flatten_outputs(name, module(x))
        return flatten_outputs(name, module(x, tuple(states) if name.startswith("LSTM") else states[0]))

    ours_out, theirs_out = call(ours, ours_x, ours_states), call(theirs, theirs_x, theirs_states)
    for k, (a, b) in enumerate(zip(ours_out, theirs_out, strict=True)):
        np.testing.assert_allclose(a.data, b.detach().numpy(), rtol=1e-10, atol=1e-12, err_msg=f"output {k}")
    weights = [rng().standard_normal(b.shape) for b in theirs_out]
    sum(((a * w).sum() for a, w in zip(ours_out, weights, strict=True)), giagrad.tensor(0.0)).backward()
    sum((b * torch.tensor(w)).sum() for b, w in zip(theirs_out, weights, strict=True)).backward()
    np.testing.assert_allclose(ours_x.grad, theirs_x.grad.numpy(), rtol=1e-9, atol=1e-12)
    for a, b in zip(ours_states, theirs_states, strict=True):
        np.testing.assert_allclose(a.grad, b.grad.numpy(), rtol=1e-9, atol=1e-12)
    for key, parameter in theirs.named_parameters():
        np.testing.assert_allclose(getattr(ours, key).grad, parameter.grad.numpy(), rtol=1e-9, atol=1e-12,
                                   err_msg=key)


@pytest.mark.parametrize("name, keywords", LAYERS)
@pytest.mark.parametrize("options", OPTIONS + [{"num_layers": 3, "batch_first": True, "bidirectional": True}])
@pytest.mark.parametrize("with_states", [True, False])
def test_layer_matches_pytorch(name, keywords, options, with_states):
    torch = pytest.importorskip("torch")
    theirs = torch_module(torch, name, keywords, options)
    ours = loaded_copy(theirs, name, keywords, options)
    count = (2 if name == "LSTM" else 1) if with_states else 0
    states = [rng().standard_normal(state_shape(options)) + k for k in range(count)]
    compare_with_torch(torch, ours, theirs, name, layer_input(options), states)


@pytest.mark.parametrize("name, keywords", LAYERS)
def test_unbatched_layer_matches_pytorch(name, keywords):
    torch = pytest.importorskip("torch")
    options = {"num_layers": 2, "bidirectional": True}
    theirs = torch_module(torch, name, keywords, options)
    ours = loaded_copy(theirs, name, keywords, options)
    states = [rng().standard_normal(state_shape(options, batched=False)) for _ in range(2 if name == "LSTM" else 1)]
    compare_with_torch(torch, ours, theirs, name, layer_input(options, batched=False), states)


@pytest.mark.parametrize("name, keywords", CELLS)
@pytest.mark.parametrize("batched", [True, False])
def test_cell_matches_pytorch(name, keywords, batched):
    torch = pytest.importorskip("torch")
    theirs = torch_module(torch, name, keywords)
    ours = loaded_copy(theirs, name, keywords)
    shape = (BATCH,) if batched else ()
    states = [rng().standard_normal(shape + (HIDDEN,)) + k for k in range(2 if name == "LSTMCell" else 1)]
    compare_with_torch(torch, ours, theirs, name, rng().standard_normal(shape + (INPUT,)), states)


@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell"])
def test_parameter_names_and_shapes_equal_pytorch(name):
    torch = pytest.importorskip("torch")
    options = {} if name.endswith("Cell") else {"num_layers": 2, "bidirectional": True}
    theirs = getattr(torch.nn, name)(5, 7, **options)
    ours = getattr(nn, name)(5, 7, **options)
    assert [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()] == \
        [(k, v.shape) for k, v in ours.state_dict().items()]


@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU"])
def test_no_grad_forward_gives_the_same_outputs(name):
    layer = getattr(nn, name)(INPUT, HIDDEN, bidirectional=True)
    x = giagrad.tensor(layer_input({}).astype(np.float32))
    recorded, _ = layer(x)
    with giagrad.no_grad():
        plain, _ = layer(x)
    assert recorded.requires_grad and not plain.requires_grad
    np.testing.assert_array_equal(recorded.data, plain.data)


def test_gradients_written_into_an_optimizers_buffers_are_the_same():
    giagrad.manual_seed(4)
    plain = nn.LSTM(INPUT, HIDDEN, bidirectional=True, dtype=np.float64)
    buffered = nn.LSTM(INPUT, HIDDEN, bidirectional=True, dtype=np.float64)
    buffered.load_state_dict(plain.state_dict())
    giagrad.optim.SGD(buffered.parameters(), lr=0.1)  # gives each parameter a gradient buffer
    x = giagrad.tensor(layer_input({}))
    for layer in (plain, buffered):
        output, (h, c) = layer(x)
        (output.sum() + (c * c).sum()).backward()
    for name, parameter in plain.named_parameters():
        np.testing.assert_allclose(getattr(buffered, name).grad, parameter.grad, rtol=1e-12, err_msg=name)


@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("frozen", ["input", "weights"])
def test_gradients_when_only_some_inputs_need_them(name, frozen):
    """Frozen weights still pass the input its gradient, and a constant input still gives the
    weights theirs: each equal to its value when everything needs a gradient."""
    giagrad.manual_seed(5)
    reference = getattr(nn, name)(INPUT, HIDDEN, bidirectional=True, dtype=np.float64)
    partial = getattr(nn, name)(INPUT, HIDDEN, bidirectional=True, dtype=np.float64)
    partial.load_state_dict(reference.state_dict())
    if frozen == "weights":
        partial.requires_grad_(False)
    data = layer_input({})
    grads = {}
    for layer, needs_input in ((reference, True), (partial, frozen == "weights")):
        x = giagrad.tensor(data, requires_grad=needs_input)
        output, _ = layer(x)
        (output * giagrad.tensor(np.linspace(-1, 1, output.shape[-1]))).sum().backward()
        grads[layer] = x.grad
    if frozen == "weights":
        np.testing.assert_allclose(grads[partial], grads[reference], rtol=1e-12)
        assert all(parameter.grad is None for parameter in partial.parameters())
    else:
        assert grads[partial] is None
        for key, parameter in reference.named_parameters():
            np.testing.assert_allclose(getattr(partial, key).grad, parameter.grad, rtol=1e-12, err_msg=key)
