"""Recurrent operations: one node runs a whole sequence through one layer in one direction.

Recording a node per time step and per gate would put thousands of small nodes in the graph of a
sequence model; here the loop over time runs inside ``forward`` (in numpy) and backpropagation
through time inside ``backward``.

One product per step. The weights are stacked side by side, ``[W_hh | W_ih | b_ih + b_hh]``
``(G * H, H + I + 1)``, and so are the step's inputs, the column ``[h_{t-1}; x_t; 1]``
``(H + I + 1, B)``: ONE matrix product gives every gate's pre-activation, bias included, with no
separate input projection to add step by step. After the loop the gradients of all the weights
and both biases are ONE product over all ``T * B`` columns (the ``1`` row gives the biases'
sums), and that of ``x`` one more.

Layout. The API is PyTorch's (time-major ``x`` ``(T, B, I)``, weights ``(G * H, ...)`` with the
gates in PyTorch's order, LSTM ``i, f, g, o``; GRU ``r, z, n``), but inside the loops a step is
held as columns, ``(features, B)``: each gate is then one contiguous ``(H, B)`` block, and
OpenBLAS multiplies ``(G * H, K) @ (K, B)`` faster than the same product laid out as rows,
``(B, K) @ (K, G * H)`` (the benchmark's LSTM, 64 steps: 5.2 ms instead of 6.6 forward, 5.5
instead of 7.7 backward). The stacked inputs of all steps are one array ``(H + I + 1, T + 1, B)``
and the pre-activations' gradients one ``(G * H, T, B)``, steps side by side, so that each is one
matrix over all ``T * B`` columns for the weights' gradient without a copy; a step's block is a
strided view that BLAS reads and writes as it is. The output and the incoming gradient are
transposed once per sequence.

Sigmoids are computed as ``0.5 * tanh(0.5 x) + 0.5``: exact, free of overflow, and one ``tanh``
call covers the sigmoid gates and the tanh gate alike once the sigmoid gates' rows of the stacked
weights are scaled by ``0.5``. While a step's values are in cache, the forward loop also stores
the factors its backward will multiply the incoming gradients by (only when a backward will
follow), so that the backward loop is a handful of products. With ``reverse=True`` the layer
reads the sequence from its last step to its first (the backward direction of a bidirectional
layer); its output stays in time order.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from giagrad.autograd import Function


def per_gate(values: tuple[float, ...], hidden: int, dtype: np.dtype) -> np.ndarray:
    """One value per gate, repeated over the gate's ``hidden`` rows: ``(G * H, 1)``."""
    return np.repeat(np.asarray(values, dtype=dtype), hidden).reshape(-1, 1)


def in_visit_order(array: np.ndarray, reverse: bool) -> np.ndarray:
    """``array`` (time on its first axis) in the order the layer visits the steps: a view."""
    return array[::-1] if reverse else array


class RecurrentLayer(Function):
    """The parts shared by the RNN, LSTM and GRU layer nodes: the stacked weights and inputs.

    The inputs of every layer node are ``(x, h0, [c0], w_ih, w_hh, [b_ih, b_hh])``;
    ``weight_index`` says where ``w_ih`` is. In the stacked weights the rows ``W_hh`` fills
    come first and those ``W_ih`` fills last: all of them in the RNN and the LSTM; in the GRU,
    whose ``n`` keeps its hidden and input parts apart, ``n_h, r, z`` and ``r, z, n_x``.
    """

    weight_index = 2
    reverse = False

    def stack(self, x: np.ndarray, h0: np.ndarray, w_ih: np.ndarray, w_hh: np.ndarray,
              biases: tuple[np.ndarray, ...], reverse: bool, rows: int, input_rows: Any = slice(None),
              hidden_rows: Any = slice(None)) -> tuple[np.ndarray, np.ndarray]:
        """The stacked weights ``[W_hh | W_ih | b]`` ``(rows, H + I [+ 1])`` and the stacked inputs
        ``[h; x_t; 1]`` of every step in visiting order, ``(H + I [+ 1], T + 1, B)``.

        Row ``input_rows[j]`` holds row ``j`` of ``W_ih`` and ``b_ih``, ``hidden_rows[j]`` that of
        ``W_hh`` and ``b_hh`` (slices or index arrays: a layer orders its gates as suits its loop),
        within the first ``len(W_hh)`` rows and the last ``len(W_ih)`` rows respectively; the
        biases are summed where both have a row, zeros fill the rest. The ``x`` and ``1`` rows of
        the inputs are filled (those of the last step are zeros, never multiplied), the ``h``
        rows only for the first step (``h0``): step ``k`` reads ``inputs[:, k]`` and writes its
        ``h_t`` into ``inputs[:H, k + 1]``. Steps sit side by side (time before batch), so that
        ``inputs`` of all steps together is one matrix ``(H + I [+ 1], T * B)`` without a copy.
        """
        self.reverse, self.input_rows, self.hidden_rows = reverse, input_rows, hidden_rows
        self.rows_with_h, self.first_row_with_x = len(w_hh), rows - len(w_ih)
        steps, batch, features = x.shape
        hidden = h0.shape[-1]
        width = hidden + features + (1 if biases else 0)
        stacked = np.zeros((rows, width), dtype=w_ih.dtype)
        stacked[hidden_rows, :hidden] = w_hh
        stacked[input_rows, hidden:hidden + features] = w_ih
        inputs = np.empty((width, steps + 1, batch), dtype=x.dtype)
        inputs[:hidden, 0] = h0.T
        inputs[hidden:hidden + features, :steps] = in_visit_order(x, reverse).transpose(2, 0, 1)
        if biases:
            stacked[input_rows, -1] = biases[0]
            stacked[hidden_rows, -1] += biases[1]
            inputs[-1, :steps] = 1
        inputs[hidden:, steps] = 0
        return stacked, inputs

    @staticmethod
    def all_steps(inputs: np.ndarray, steps: int) -> np.ndarray:
        """The stacked inputs (or some of their rows) of every step as one matrix ``(K, T * B)``: a view."""
        return inputs.reshape(len(inputs), -1)[:, :steps * inputs.shape[-1]]

    def as_time_major(self, states: np.ndarray) -> np.ndarray:
        """Per-step columns ``(T, H, B)`` in visiting order as time-major rows ``(T, B, H)``."""
        return np.ascontiguousarray(in_visit_order(states, self.reverse).transpose(0, 2, 1))

    def as_columns(self, rows: np.ndarray) -> np.ndarray:
        """Time-major rows ``(T, B, H)`` (an incoming gradient) as columns in visiting order."""
        return np.ascontiguousarray(in_visit_order(rows, self.reverse).transpose(0, 2, 1))

    def input_and_weight_gradients(self, stacked: np.ndarray, inputs: np.ndarray, grad_pre: np.ndarray,
                                   hidden: int) -> list[np.ndarray | None]:
        """Gradients of ``x``, ``w_ih``, ``w_hh``, ``b_ih``, ``b_hh`` from those of the
        pre-activations.

        ``grad_pre[:, k]`` ``(rows, T, B)`` is the gradient of ``stacked @ inputs[:, k]`` at step
        ``k`` (visiting order), ``stacked`` the unscaled stacked weights and ``hidden`` the width
        of ``h``. One product over all ``T * B`` columns gives every weight's gradient (the ``1``
        row of the inputs gives the biases'), one more that of ``x``; the rows without ``h`` (or
        without ``x``) are left out of the products that would only multiply their zeros.
        """
        need = self.needs_input_grad
        first = self.weight_index
        with_biases = len(need) > first + 2
        rows, steps, batch = grad_pre.shape
        features = len(inputs) - hidden - (1 if with_biases else 0)
        with_h, with_x = self.rows_with_h, self.first_row_with_x
        columns = grad_pre.reshape(rows, steps * batch)
        grads: list[np.ndarray | None] = [None] * (4 if with_biases else 2)
        if any(need[first:]):
            all_inputs = self.all_steps(inputs, steps)
            grad_stacked = np.empty((rows, len(inputs)), dtype=grad_pre.dtype)
            np.matmul(columns[:with_h], all_inputs.T, out=grad_stacked[:with_h])
            if with_h < rows:
                np.matmul(columns[with_h:], all_inputs[hidden:].T, out=grad_stacked[with_h:, hidden:])
            grads[:2] = grad_stacked[self.input_rows, hidden:hidden + features], grad_stacked[self.hidden_rows, :hidden]
            if with_biases:
                grads[2:] = grad_stacked[self.input_rows, -1], grad_stacked[self.hidden_rows, -1]
        grad_x = None
        if need[0]:
            by_step = np.matmul(columns[with_x:].T, stacked[with_x:, hidden:hidden + features])
            by_step = by_step.reshape(steps, batch, features)
            grad_x = np.ascontiguousarray(in_visit_order(by_step, self.reverse))
        return [grad_x, *grads]

    def initial_state_gradient(self, grad: np.ndarray, index: int) -> np.ndarray | None:
        """The gradient of the initial state at input ``index``, from its columns ``(H, B)``."""
        return np.ascontiguousarray(grad.T) if self.needs_input_grad[index] else None


class RNNLayer(RecurrentLayer):
    r"""An Elman RNN over a whole sequence: :math:`h_t = act(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh})`.

    ``act`` is ``tanh`` or ``relu``. Inputs ``(x, h0, w_ih, w_hh, [b_ih, b_hh])``; the output
    is ``h_t`` for every step, ``(T, B, H)``.
    """

    def forward(self, x: np.ndarray, h0: np.ndarray, w_ih: np.ndarray, w_hh: np.ndarray, *biases: np.ndarray,
                reverse: bool, nonlinearity: str) -> np.ndarray:
        steps, hidden = x.shape[0], h0.shape[-1]
        stacked, inputs = self.stack(x, h0, w_ih, w_hh, biases, reverse, hidden)
        states = np.empty((steps, hidden, x.shape[1]), dtype=x.dtype)
        for k in range(steps):
            state = states[k]  # the pre-activation, turned into h_t in place
            np.matmul(stacked, inputs[:, k], out=state)
            if nonlinearity == "tanh":
                np.tanh(state, out=state)
            else:
                np.maximum(state, 0, out=state)
            inputs[:hidden, k + 1] = state  # computed apart: ops on the strided rows cost more
        self.nonlinearity = nonlinearity
        self.save_for_backward(stacked, inputs, states)
        return self.as_time_major(states)

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        stacked, inputs, states = self.saved_tensors
        hidden = stacked.shape[0]
        # d h_t / d pre-activation, for every step at once
        if self.nonlinearity == "tanh":
            derivative = np.square(states)
            np.subtract(1, derivative, out=derivative)
        else:
            derivative = (states > 0).astype(states.dtype)
        grad_states = self.as_columns(grad)
        hidden_t = np.ascontiguousarray(stacked[:, :hidden].T)
        steps, _, batch = grad_states.shape
        grad_pre = np.empty((hidden, steps, batch), dtype=grad.dtype)
        grad_h = np.zeros_like(grad_states[0])  # from the step after
        for k in range(steps - 1, -1, -1):
            step = grad_pre[:, k]
            np.add(grad_states[k], grad_h, out=step)
            step *= derivative[k]
            np.matmul(hidden_t, step, out=grad_h)
        grad_x, *weights = self.input_and_weight_gradients(stacked, inputs, grad_pre, hidden)
        return (grad_x, self.initial_state_gradient(grad_h, 1), *weights)


class LSTMLayer(RecurrentLayer):
    r"""A long short-term memory layer over a whole sequence, gates in PyTorch's order ``i, f, g, o``.

    .. math::
        i, f, o = \sigma(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh}) \text{ (their rows)},\quad
        g = \tanh(\dots),\quad c_t = f c_{t-1} + i g,\quad h_t = o \tanh(c_t)

    Inputs ``(x, h0, c0, w_ih, w_hh, [b_ih, b_hh])``. The output packs ``(T + 1, B, H)``: ``h_t``
    for every step, then the final cell state (a node has one output; the layer slices it).

    Backward through time needs, per step, only

    .. math::
        dz_o = dh \cdot \tanh(c_t)\, o (1 - o),\quad dc = dc_{t+1} + dh \cdot o (1 - \tanh^2 c_t),\quad
        (dz_i, dz_f, dz_g) = dc \cdot (i g (1 - i),\ f c_{t-1} (1 - f),\ i (1 - g^2)),\quad
        dc_t = dc \cdot f

    so the forward loop stores the five factors multiplying ``dh`` and ``dc``, from products it
    computes anyway (``i g``, ``f c_{t-1}``, ``h_t``).
    """

    weight_index = 3

    def forward(self, x: np.ndarray, h0: np.ndarray, c0: np.ndarray, w_ih: np.ndarray, w_hh: np.ndarray,
                *biases: np.ndarray, reverse: bool) -> np.ndarray:
        steps, hidden, batch = x.shape[0], h0.shape[-1], x.shape[1]
        dtype = x.dtype
        # The stacked rows hold the gates as o, i, f, g: the sigmoid gates form one block and
        # the gates dc multiplies another (rows[j]: where PyTorch's row j goes).
        rows = np.concatenate([np.arange(hidden) + hidden * block for block in (1, 2, 3, 0)])
        stacked, inputs = self.stack(x, h0, w_ih, w_hh, biases, reverse, 4 * hidden, rows, rows)
        # sigmoid(z) = tanh(z / 2) / 2 + 1 / 2: the sigmoid gates' rows are halved before the one
        # tanh, and their block is mapped from (-1, 1) to (0, 1) after it
        scaled = stacked * per_gate((0.5, 0.5, 0.5, 1.0), hidden, dtype)
        record = self.will_backward()
        gates = np.empty((steps, 4 * hidden, batch), dtype=dtype)  # activated, per step
        cells = np.empty((2, hidden, batch), dtype=dtype)  # c_{t-1} and c_t, alternately
        cells[0] = c0.T
        # per step, the factors of: dh for o, dc for i, f and g, dh for dc (see the docstring)
        # Any: None when no backward will follow (the loop only indexes it when recording)
        factors: Any = np.empty((steps, 5, hidden, batch), dtype=dtype) if record else None
        # h_t, i g and f c_{t-1}: what the sigmoid gates' derivatives multiply, in gate order
        products = np.empty((3, hidden, batch), dtype=dtype)
        h, input_times_g, forget_times_c = products
        tanh_cell = np.empty_like(h)
        for k in range(steps):
            step = gates[k]
            np.matmul(scaled, inputs[:, k], out=step)
            np.tanh(step, out=step)
            sigmoids = step[:3 * hidden]
            sigmoids *= 0.5
            sigmoids += 0.5
            o, i, f, g = step.reshape(4, hidden, batch)
            c, c_t = cells[k % 2], cells[(k + 1) % 2]
            np.multiply(i, g, out=input_times_g)
            np.multiply(f, c, out=forget_times_c)
            np.add(forget_times_c, input_times_g, out=c_t)
            np.tanh(c_t, out=tanh_cell)
            np.multiply(o, tanh_cell, out=h)
            if record:
                factor = factors[k]
                # s (1 - s) times the products, for o, i and f at once
                np.subtract(1, sigmoids.reshape(3, hidden, batch), out=factor[:3])
                factor[:3] *= products
                np.multiply(g, input_times_g, out=factor[3])
                np.subtract(i, factor[3], out=factor[3])  # i (1 - g^2)
                np.multiply(tanh_cell, h, out=factor[4])
                np.subtract(o, factor[4], out=factor[4])  # o (1 - tanh^2 c_t)
            inputs[:hidden, k + 1] = h  # computed apart: ops on the strided rows cost more
        packed = np.empty((steps + 1, batch, hidden), dtype=dtype)
        packed[:steps] = self.as_time_major(inputs[:hidden, 1:].transpose(1, 0, 2))
        packed[steps] = cells[steps % 2].T
        if record:
            self.save_for_backward(stacked, inputs, gates, factors)
        return packed

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        stacked, inputs, gates, factors = self.saved_tensors
        steps, _, hidden, batch = factors.shape
        forget = gates[:, 2 * hidden:3 * hidden]
        hidden_t = np.ascontiguousarray(stacked[:, :hidden].T)
        grad_states = self.as_columns(grad[:steps])
        grad_pre = np.empty((4, hidden, steps, batch), dtype=grad.dtype)  # o, i, f, g
        grad_h = np.zeros((hidden, batch), dtype=grad.dtype)
        grad_c = np.ascontiguousarray(grad[steps].T)  # the final cell state's own gradient
        through_h = np.empty_like(grad_h)
        for k in range(steps - 1, -1, -1):
            step, factor = grad_pre[:, :, k], factors[k]
            grad_h += grad_states[k]
            np.multiply(grad_h, factor[0], out=step[0])  # o
            np.multiply(grad_h, factor[4], out=through_h)
            grad_c += through_h
            np.multiply(grad_c, factor[1:4], out=step[1:])  # i, f, g
            grad_c *= forget[k]
            np.matmul(hidden_t, step.reshape(4 * hidden, batch), out=grad_h)
        grad_pre = grad_pre.reshape(4 * hidden, steps, batch)
        grad_x, *weights = self.input_and_weight_gradients(stacked, inputs, grad_pre, hidden)
        return (grad_x, self.initial_state_gradient(grad_h, 1), self.initial_state_gradient(grad_c, 2), *weights)


class GRULayer(RecurrentLayer):
    r"""A gated recurrent unit layer over a whole sequence, gates in PyTorch's order ``r, z, n``.

    .. math::
        r, z = \sigma(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh}) \text{ (their rows)},\quad
        n = \tanh(W_{in} x_t + b_{in} + r (W_{hn} h_{t-1} + b_{hn})),\quad
        h_t = (1 - z) n + z h_{t-1}

    Inputs ``(x, h0, w_ih, w_hh, [b_ih, b_hh])``; the output is ``h_t`` for every step. ``n``
    keeps its hidden and input parts apart, so the stacked weights have four row blocks
    ``n_h, r, z, n_x``: ``W_hh`` fills the first three, ``W_ih`` the last three, and ``n_x``,
    which does not depend on ``h``, is one product for all steps before the loop. As in the
    LSTM, forward stores per step the factors backward multiplies ``dh`` by:
    ``dz_n = dh (1 - z)(1 - n^2)``, ``dz_z = dh (h_{t-1} - n) z (1 - z)``, and
    ``dz_r = dz_n (W_{hn} h_{t-1} + b_{hn}) r (1 - r)``.
    """

    def forward(self, x: np.ndarray, h0: np.ndarray, w_ih: np.ndarray, w_hh: np.ndarray, *biases: np.ndarray,
                reverse: bool) -> np.ndarray:
        steps, hidden, batch = x.shape[0], h0.shape[-1], x.shape[1]
        dtype = x.dtype
        hidden_rows = np.r_[hidden:3 * hidden, 0:hidden]  # W_hh's r, z, n go to the rows r, z, n_h
        stacked, inputs = self.stack(x, h0, w_ih, w_hh, biases, reverse, 4 * hidden,
                                     slice(hidden, 4 * hidden), hidden_rows)
        scaled = stacked * per_gate((1.0, 0.5, 0.5, 1.0), hidden, dtype)  # r, z: sigmoid via tanh
        record = self.will_backward()
        gates = np.empty((steps, 4, hidden, batch), dtype=dtype)  # W_hn h + b_hn, r, z, n per step
        input_n = np.matmul(scaled[3 * hidden:, hidden:], self.all_steps(inputs[hidden:], steps))
        input_n = input_n.reshape(hidden, steps, batch)  # W_in x_t + b_in of every step
        # for dz_r, dz_z, dz_n; Any: None when no backward will follow
        factors: Any = np.empty((steps, 3, hidden, batch), dtype=dtype) if record else None
        scratch = np.empty((hidden, batch), dtype=dtype)
        one_minus_z = np.empty_like(scratch)
        states = np.empty((steps, hidden, batch), dtype=dtype)
        for k in range(steps):
            step = gates[k]
            np.matmul(scaled[:3 * hidden], inputs[:, k], out=step[:3].reshape(3 * hidden, batch))
            r_z = step[1:3]
            np.tanh(r_z, out=r_z)
            r_z *= 0.5
            r_z += 0.5
            hidden_n, r, z, n = step
            np.multiply(r, hidden_n, out=n)
            n += input_n[:, k]
            np.tanh(n, out=n)
            h_previous, h = (states[k - 1] if k else inputs[:hidden, 0]), states[k]
            np.subtract(h_previous, n, out=scratch)
            np.multiply(scratch, z, out=h)  # z (h_{t-1} - n)
            if record:
                factor = factors[k]
                np.subtract(1, z, out=one_minus_z)
                np.multiply(h, one_minus_z, out=factor[1])
                np.subtract(1, r, out=factor[0])
                factor[0] *= r
                factor[0] *= hidden_n
                np.multiply(n, n, out=factor[2])
                np.subtract(1, factor[2], out=factor[2])
                factor[2] *= one_minus_z
            h += n
            inputs[:hidden, k + 1] = h  # computed apart: ops on the strided rows cost more
        if record:
            self.save_for_backward(stacked, inputs, gates, factors)
        return self.as_time_major(states)

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        stacked, inputs, gates, factors = self.saved_tensors
        steps, _, hidden, batch = factors.shape
        r, z = gates[:, 1], gates[:, 2]
        hidden_t = np.ascontiguousarray(stacked[:3 * hidden, :hidden].T)
        grad_states = self.as_columns(grad)
        grad_pre = np.empty((4, hidden, steps, batch), dtype=grad.dtype)  # n_h, r, z, n_x
        grad_h = np.zeros((hidden, batch), dtype=grad.dtype)
        through_z = np.empty_like(grad_h)
        for k in range(steps - 1, -1, -1):
            step, factor = grad_pre[:, :, k], factors[k]
            grad_h += grad_states[k]
            grad_n = np.multiply(grad_h, factor[2], out=step[3])
            np.multiply(grad_h, factor[1], out=step[2])
            np.multiply(grad_n, factor[0], out=step[1])
            np.multiply(grad_n, r[k], out=step[0])
            np.multiply(grad_h, z[k], out=through_z)
            np.matmul(hidden_t, step[:3].reshape(3 * hidden, batch), out=grad_h)
            grad_h += through_z
        grad_pre = grad_pre.reshape(4 * hidden, steps, batch)
        grad_x, *weights = self.input_and_weight_gradients(stacked, inputs, grad_pre, hidden)
        return (grad_x, self.initial_state_gradient(grad_h, 1), *weights)
