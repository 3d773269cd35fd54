"""Recurrent layers: ``RNN``, ``LSTM``, ``GRU`` over whole sequences, and their one-step cells.

Names, shapes, gate order and initialisation are PyTorch's, so a PyTorch ``state_dict`` loads by
name. Each layer and direction of a sequence is ONE node of the graph (``giagrad.rnnops``): the
loop over time runs in numpy inside it, forward and backward. A cell is the same node over a
sequence of length one.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from giagrad import rnnops
from giagrad._validation import check_floating, check_probability, float_dtype, positive_int, require_tensor
from giagrad.nn import functional as F
from giagrad.nn import init
from giagrad.nn.module import Module, Parameter
from giagrad.shapeops import cat, stack
from giagrad.tensor import Tensor

__all__ = ["RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell"]

# How many blocks of hidden_size rows the weights of each kind of layer stack (one per gate).
_GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}


def _check_nonlinearity(op: str, nonlinearity: Any) -> str:
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"{op}: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    return nonlinearity


def _run_direction(mode: str, x: Tensor, initial: list[Tensor], weights: list[Tensor], reverse: bool,
                   nonlinearity: str) -> tuple[Tensor, list[Tensor]]:
    """One layer in one direction over time-major ``x`` ``(T, B, I)``: the outputs ``(T, B, H)``
    and the final states (``[h_n]``, or ``[h_n, c_n]`` for the LSTM)."""
    steps = x.shape[0]
    last = 0 if reverse else steps - 1  # the step the direction ends on
    if mode == "LSTM":
        packed = Tensor.comm(rnnops.LSTMLayer, x, *initial, *weights, reverse=reverse)
        return packed[:steps], [packed[last], packed[steps]]
    if mode == "GRU":
        output = Tensor.comm(rnnops.GRULayer, x, *initial, *weights, reverse=reverse)
    else:
        output = Tensor.comm(rnnops.RNNLayer, x, *initial, *weights, reverse=reverse, nonlinearity=nonlinearity)
    return output, [output[last]]


class _RecurrentParameters(Module):
    """Creating, initialising and checking the weights both layers and cells have."""

    mode = "RNN"

    def _add_weights(self, suffix: str, input_size: int, bias: bool, dtype: np.dtype) -> None:
        rows = _GATES[self.mode] * self.hidden_size
        self.register_parameter(f"weight_ih{suffix}", Parameter(np.empty((rows, input_size), dtype=dtype)))
        self.register_parameter(f"weight_hh{suffix}", Parameter(np.empty((rows, self.hidden_size), dtype=dtype)))
        if bias:
            self.register_parameter(f"bias_ih{suffix}", Parameter(np.empty(rows, dtype=dtype)))
            self.register_parameter(f"bias_hh{suffix}", Parameter(np.empty(rows, dtype=dtype)))

    def _weights(self, suffix: str) -> list[Tensor]:
        names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh") if self.bias else ("weight_ih", "weight_hh")
        return [getattr(self, name + suffix) for name in names]

    def reset_parameters(self) -> None:
        """Draw every weight and bias from ``U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))``, as PyTorch."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for parameter in self.parameters():
            init.uniform_(parameter, -bound, bound)

    def _check_input(self, input: Any, batched_ndim: int) -> Tensor:  # noqa: A002 (PyTorch's name)
        op = type(self).__name__
        require_tensor(op, input)
        check_floating(op, input)
        if input.ndim not in (batched_ndim - 1, batched_ndim) or input.shape[-1] != self.input_size:
            layout = "(L, N, input_size)" if batched_ndim == 3 else "(N, input_size)"
            raise ValueError(f"{op}: expected input of shape {layout} or without the batch dim, with "
                             f"input_size={self.input_size}, got shape {input.shape}")
        if input.dtype != self._parameter_dtype:
            raise TypeError(f"{op}: input is {input.dtype} but the weights are {self._parameter_dtype}; "
                            "convert one of them")
        return input

    @property
    def _parameter_dtype(self) -> np.dtype:
        return next(iter(self.parameters())).dtype

    def _check_state(self, state: Any, name: str, shape: tuple[int, ...], dtype: np.dtype) -> Tensor:
        op = type(self).__name__
        require_tensor(op, state, name)
        if state.shape != shape:
            raise ValueError(f"{op}: expected {name} of shape {shape}, got shape {state.shape}")
        if state.dtype != dtype:
            raise TypeError(f"{op}: {name} is {state.dtype} but the input is {dtype}; convert one of them")
        return state

    def _states(self, hx: Any, shape: tuple[int, ...], dtype: np.dtype) -> list[Tensor]:
        """The initial states as a list (``[h]``, or ``[h, c]`` for the LSTM), zeros when ``hx`` is None."""
        names = ("h_0", "c_0") if self.mode == "LSTM" else ("h_0",)
        if hx is None:
            return [Tensor(np.zeros(shape, dtype=dtype)) for _ in names]
        if self.mode == "LSTM":
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise TypeError(f"{type(self).__name__}: hx must be a tuple (h_0, c_0), got {type(hx).__name__}")
            return [self._check_state(state, name, shape, dtype) for state, name in zip(hx, names, strict=True)]
        return [self._check_state(hx, names[0], shape, dtype)]


class RNNBase(_RecurrentParameters):
    """The multi-layer, optionally bidirectional recurrent layer that ``RNN``, ``LSTM`` and ``GRU`` are."""

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 nonlinearity: str = "tanh", dtype: Any = None) -> None:
        super().__init__()
        self.mode = mode
        op = type(self).__name__
        self.input_size = positive_int(op, "input_size", input_size)
        self.hidden_size = positive_int(op, "hidden_size", hidden_size)
        self.num_layers = positive_int(op, "num_layers", num_layers)
        self.dropout = check_probability(op, dropout)
        if self.dropout > 0 and self.num_layers == 1:
            warnings.warn(f"{op}: dropout={dropout} acts between layers, so with num_layers=1 it does nothing",
                          stacklevel=2)
        self.nonlinearity = _check_nonlinearity(op, nonlinearity)
        self.bias, self.batch_first, self.bidirectional = bool(bias), bool(batch_first), bool(bidirectional)
        dtype = float_dtype(op, dtype)
        directions = self.num_directions
        for layer in range(self.num_layers):
            layer_input = self.input_size if layer == 0 else self.hidden_size * directions
            for suffix in self._suffixes(layer):
                self._add_weights(suffix, layer_input, self.bias, dtype)
        self.reset_parameters()

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    def _suffixes(self, layer: int) -> list[str]:
        """The parameter name endings of one layer: ``_l0``, and ``_l0_reverse`` if bidirectional."""
        return [f"_l{layer}", f"_l{layer}_reverse"][:self.num_directions]

    def forward(self, input: Tensor, hx: Any = None) -> tuple[Tensor, Any]:  # noqa: A002 (PyTorch's name)
        op = type(self).__name__
        input = self._check_input(input, batched_ndim=3)
        batched = input.ndim == 3
        if not batched:
            input = input.unsqueeze(1)
        elif self.batch_first:
            input = input.permute(1, 0, 2)
        steps, batch = input.shape[:2]
        if steps == 0:
            raise ValueError(f"{op}: the sequence is empty (input shape {input.shape})")
        state_shape = (self.num_layers * self.num_directions, batch, self.hidden_size)
        states = self._states(hx, state_shape if batched else (state_shape[0], self.hidden_size), input.dtype)
        if not batched:
            states = [state.unsqueeze(1) for state in states]
        finals: list[list[Tensor]] = [[] for _ in states]
        layer_input = input
        for layer in range(self.num_layers):
            outputs = []
            for direction, suffix in enumerate(self._suffixes(layer)):
                index = layer * self.num_directions + direction
                output, last = _run_direction(self.mode, layer_input, [state[index] for state in states],
                                              self._weights(suffix), direction == 1, self.nonlinearity)
                outputs.append(output)
                for kept, state in zip(finals, last, strict=True):
                    kept.append(state)
            layer_input = outputs[0] if len(outputs) == 1 else cat(outputs, dim=2)
            if layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, self.training)
        output = layer_input
        final_states = [stack(kept, dim=0) for kept in finals]
        if not batched:
            output = output.squeeze(1)
            final_states = [state.squeeze(1) for state in final_states]
        elif self.batch_first:
            output = output.permute(1, 0, 2)
        return output, (tuple(final_states) if self.mode == "LSTM" else final_states[0])

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            text += f", num_layers={self.num_layers}"
        if not self.bias:
            text += ", bias=False"
        if self.batch_first:
            text += ", batch_first=True"
        if self.dropout != 0:
            text += f", dropout={self.dropout}"
        if self.bidirectional:
            text += ", bidirectional=True"
        return text


class RNN(RNNBase):
    r"""A multi-layer Elman RNN: :math:`h_t = \tanh(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh})`.

    Parameters
    ----------
    input_size : int
        The size of each step of the input.
    hidden_size : int
        The size of the hidden state.
    num_layers : int
        Stacked layers; layer ``k > 0`` reads the outputs of layer ``k - 1``.
    nonlinearity : {'tanh', 'relu'}
    bias : bool
        Whether to learn ``b_ih`` and ``b_hh``.
    batch_first : bool
        Input and output as ``(N, L, features)`` instead of ``(L, N, features)`` (not the states).
    dropout : float
        Dropout on the outputs of every layer but the last, in training.
    bidirectional : bool
        Also run every layer from the last step to the first; outputs concatenate both directions.
    dtype : numpy dtype, optional
        Of the parameters (float32 by default).

    Attributes
    ----------
    weight_ih_l[k], weight_hh_l[k], bias_ih_l[k], bias_hh_l[k] : Parameter
        ``(hidden_size, input_size or num_directions * hidden_size)``, ``(hidden_size, hidden_size)``,
        ``(hidden_size,)``; ``..._reverse`` for the reverse direction. All drawn from
        ``U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))``.

    Shapes
    ------
    ``rnn(input, h_0=None)`` returns ``(output, h_n)``: ``input`` ``(L, N, input_size)`` (or
    ``(L, input_size)`` unbatched), ``h_0`` and ``h_n`` ``(num_directions * num_layers, N,
    hidden_size)`` (zeros when omitted), ``output`` ``(L, N, num_directions * hidden_size)``.

    Examples
    --------
    >>> rnn = nn.RNN(10, 20, num_layers=2)
    >>> output, h_n = rnn(giagrad.randn(5, 3, 10))
    >>> output.shape, h_n.shape
    ((5, 3, 20), (2, 3, 20))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 dtype: Any = None) -> None:
        super().__init__("RNN", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         nonlinearity, dtype)


class LSTM(RNNBase):
    r"""A multi-layer long short-term memory network.

    .. math::
        i_t = \sigma(W_{ii} x_t + b_{ii} + W_{hi} h_{t-1} + b_{hi}),\quad
        f_t = \sigma(W_{if} x_t + b_{if} + W_{hf} h_{t-1} + b_{hf}),\\
        g_t = \tanh(W_{ig} x_t + b_{ig} + W_{hg} h_{t-1} + b_{hg}),\quad
        o_t = \sigma(W_{io} x_t + b_{io} + W_{ho} h_{t-1} + b_{ho}),\\
        c_t = f_t c_{t-1} + i_t g_t,\quad h_t = o_t \tanh(c_t)

    Parameters are those of :class:`RNN` without ``nonlinearity``. ``weight_ih_l[k]`` is
    ``(4 * hidden_size, ...)``: the blocks ``W_ii, W_if, W_ig, W_io`` in that order (PyTorch's),
    likewise ``weight_hh_l[k]`` and the biases. Unlike PyTorch, ``proj_size`` is not supported.

    ``lstm(input, (h_0, c_0)=None)`` returns ``(output, (h_n, c_n))``; the states have the shape
    of :class:`RNN`'s ``h_0``.

    Examples
    --------
    >>> lstm = nn.LSTM(10, 20, batch_first=True)
    >>> output, (h_n, c_n) = lstm(giagrad.randn(3, 5, 10))
    >>> output.shape, c_n.shape
    ((3, 5, 20), (1, 3, 20))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, proj_size: int = 0,
                 dtype: Any = None) -> None:
        if proj_size != 0:
            raise ValueError(f"LSTM: proj_size is not supported (got {proj_size!r}); leave it 0")
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         dtype=dtype)


class GRU(RNNBase):
    r"""A multi-layer gated recurrent unit network, with PyTorch's formulation of ``n``.

    .. math::
        r_t = \sigma(W_{ir} x_t + b_{ir} + W_{hr} h_{t-1} + b_{hr}),\quad
        z_t = \sigma(W_{iz} x_t + b_{iz} + W_{hz} h_{t-1} + b_{hz}),\\
        n_t = \tanh(W_{in} x_t + b_{in} + r_t (W_{hn} h_{t-1} + b_{hn})),\quad
        h_t = (1 - z_t) n_t + z_t h_{t-1}

    Parameters are those of :class:`RNN` without ``nonlinearity``; the weights stack the blocks
    ``r, z, n`` (``3 * hidden_size`` rows). ``gru(input, h_0=None)`` returns ``(output, h_n)``.

    Examples
    --------
    >>> gru = nn.GRU(10, 20, bidirectional=True)
    >>> output, h_n = gru(giagrad.randn(5, 3, 10))
    >>> output.shape, h_n.shape
    ((5, 3, 40), (2, 3, 20))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 dtype: Any = None) -> None:
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         dtype=dtype)


class RNNCellBase(_RecurrentParameters):
    """One time step of a recurrent layer, with parameters ``weight_ih, weight_hh, bias_ih, bias_hh``."""

    def __init__(self, mode: str, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh",
                 dtype: Any = None) -> None:
        super().__init__()
        self.mode = mode
        op = type(self).__name__
        self.input_size = positive_int(op, "input_size", input_size)
        self.hidden_size = positive_int(op, "hidden_size", hidden_size)
        self.bias = bool(bias)
        self.nonlinearity = _check_nonlinearity(op, nonlinearity)
        self._add_weights("", self.input_size, self.bias, float_dtype(op, dtype))
        self.reset_parameters()

    def _step(self, input: Any, hx: Any) -> list[Tensor]:  # noqa: A002 (PyTorch's name)
        """The new states (``[h']`` or ``[h', c']``), with the input's batch dim or without it."""
        input = self._check_input(input, batched_ndim=2)
        batched = input.ndim == 2
        shape = (input.shape[0], self.hidden_size) if batched else (self.hidden_size,)
        states = self._states(hx, shape, input.dtype)
        steps = input.reshape(1, -1, self.input_size)
        states = [state.reshape(-1, self.hidden_size) for state in states]
        _, finals = _run_direction(self.mode, steps, states, self._weights(""), False, self.nonlinearity)
        return finals if batched else [state.reshape(self.hidden_size) for state in finals]

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            text += ", bias=False"
        if self.mode == "RNN" and self.nonlinearity != "tanh":
            text += f", nonlinearity={self.nonlinearity}"
        return text


class RNNCell(RNNCellBase):
    r"""One step of an Elman RNN: :math:`h' = \tanh(W_{ih} x + b_{ih} + W_{hh} h + b_{hh})`.

    ``cell(input, hx=None)``: ``input`` ``(N, input_size)`` or ``(input_size,)``, ``hx`` ``(N,
    hidden_size)`` (zeros when omitted); returns ``h'``. ``nonlinearity`` is ``'tanh'`` or
    ``'relu'``; the parameters are drawn from ``U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))``.

    Examples
    --------
    >>> cell = nn.RNNCell(10, 20)
    >>> h = cell(giagrad.randn(3, 10))
    >>> h = cell(giagrad.randn(3, 10), h)
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh",
                 dtype: Any = None) -> None:
        super().__init__("RNN", input_size, hidden_size, bias, nonlinearity, dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:  # noqa: A002 (PyTorch's name)
        return self._step(input, hx)[0]


class LSTMCell(RNNCellBase):
    """One step of an LSTM (the equations of :class:`LSTM`); ``cell(input, (h, c))`` returns ``(h', c')``.

    Examples
    --------
    >>> cell = nn.LSTMCell(10, 20)
    >>> h, c = cell(giagrad.randn(3, 10))
    >>> h, c = cell(giagrad.randn(3, 10), (h, c))
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, dtype: Any = None) -> None:
        super().__init__("LSTM", input_size, hidden_size, bias, dtype=dtype)

    def forward(self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:  # noqa: A002
        h, c = self._step(input, hx)
        return h, c


class GRUCell(RNNCellBase):
    """One step of a GRU (the equations of :class:`GRU`); ``cell(input, hx=None)`` returns ``h'``.

    Examples
    --------
    >>> cell = nn.GRUCell(10, 20)
    >>> h = cell(giagrad.randn(3, 10))
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, dtype: Any = None) -> None:
        super().__init__("GRU", input_size, hidden_size, bias, dtype=dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:  # noqa: A002 (PyTorch's name)
        return self._step(input, hx)[0]
