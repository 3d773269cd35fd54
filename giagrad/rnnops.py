"""Recurrent operations: one node runs a whole sequence through one layer in one direction.

Recording a node per time step and per gate would put thousands of small nodes in the graph of a
sequence model; here the loop over time runs inside ``forward`` (in numpy, saving the gates) and
backpropagation through time inside ``backward``. What does not depend on the recurrence is done
for all time steps at once, outside the loops:

- forward: the input projection ``x W_ih^T + b`` of every step is ONE matrix multiply;
- backward: the gate derivatives that depend only on saved values are computed for every step
  before the loop, and after it the gradients of ``x``, ``W_ih`` and ``W_hh`` are ONE matrix
  multiply each over all ``T * B`` rows.

Only ``h_{t-1} W_hh^T`` (forward) and ``dz_t W_hh`` (backward) and a few elementwise ops stay in
the loops, writing into preallocated arrays.

The layout is PyTorch's: time-major ``x`` of shape ``(T, B, input_size)``, weights
``W_ih (G * H, input_size)`` and ``W_hh (G * H, H)`` whose row blocks are the gates in PyTorch's
order (LSTM ``i, f, g, o``; GRU ``r, z, n``). With ``reverse=True`` the layer reads the sequence
from its last step to its first (the backward direction of a bidirectional layer); its output
stays in time order. Sigmoids are computed as ``0.5 * tanh(0.5 x) + 0.5``: exact, free of
overflow, and for the gates one ``tanh`` call covers the sigmoid gates and the tanh gate alike
once the sigmoid gates' weights are scaled by ``0.5``.
"""

from __future__ import annotations

import numpy as np

from giagrad.tensor import Function


def time_steps(length: int, reverse: bool) -> range:
    """The order in which a layer visits the time steps."""
    return range(length - 1, -1, -1) if reverse else range(length)


def previous_states(states: np.ndarray, initial: np.ndarray, reverse: bool) -> np.ndarray:
    """For every time step, the state the step started from, in time order: ``(T, B, H)``."""
    if reverse:
        return np.concatenate([states[1:], initial[None]])
    return np.concatenate([initial[None], states[:-1]])


def gate_scale(gates: int, hidden: int, sigmoid_gates: list[int], dtype: np.dtype) -> np.ndarray:
    """``0.5`` on the rows of the sigmoid gates, ``1`` elsewhere: ``(gates * hidden, 1)``."""
    scale = np.ones((gates, hidden, 1), dtype=dtype)
    scale[sigmoid_gates] = 0.5
    return scale.reshape(gates * hidden, 1)


def sigmoid_from_tanh_(half: np.ndarray) -> None:
    """``tanh(x / 2)`` -> ``sigmoid(x)``, in place."""
    half *= 0.5
    half += 0.5


class RecurrentLayer(Function):
    """The parts shared by the RNN, LSTM and GRU layer nodes.

    The inputs of every layer node are ``(x, h0, [c0], w_ih, w_hh, [b_ih, b_hh])``;
    ``weight_index`` says where ``w_ih`` is.
    """

    weight_index = 2

    @staticmethod
    def input_projection(x: np.ndarray, w_ih: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
        """``x W_ih^T + bias`` for every time step at once: ``(T, B, G)``."""
        steps, batch, features = x.shape
        projection = np.matmul(x.reshape(steps * batch, features), w_ih.T)
        if bias is not None:
            projection += bias
        return projection.reshape(steps, batch, -1)

    def input_and_weight_gradients(self, x: np.ndarray, w_ih: np.ndarray, grad_input_pre: np.ndarray,
                                   grad_hidden_pre: np.ndarray, previous: np.ndarray
                                   ) -> list[np.ndarray | None]:
        """Gradients of ``x``, ``w_ih``, ``w_hh``, ``b_ih``, ``b_hh`` from those of the projections.

        ``grad_input_pre`` is the gradient of ``x W_ih^T + b_ih`` at every step, ``grad_hidden_pre``
        that of ``h_{t-1} W_hh^T + b_hh`` (the same array except in the GRU), ``previous`` the
        ``h_{t-1}`` of every step. Each is one matrix multiply over all ``T * B`` rows.
        """
        need = self.needs_input_grad
        first = self.weight_index
        steps, batch, gates = grad_input_pre.shape
        rows_input = grad_input_pre.reshape(steps * batch, gates)
        rows_hidden = grad_hidden_pre.reshape(steps * batch, gates)
        grad_x = np.matmul(rows_input, w_ih).reshape(x.shape) if need[0] else None
        grad_w_ih = grad_w_hh = None
        if need[first]:
            grad_w_ih = np.matmul(rows_input.T, x.reshape(steps * batch, -1), out=self.gradient_destination(first))
        if need[first + 1]:
            grad_w_hh = np.matmul(rows_hidden.T, previous.reshape(steps * batch, -1),
                                  out=self.gradient_destination(first + 1))
        grads = [grad_x, grad_w_ih, grad_w_hh]
        if len(need) > first + 2:  # biases
            if rows_hidden is rows_input:  # the two biases add up: one gradient for both
                shared = rows_input.sum(axis=0) if need[first + 2] or need[first + 3] else None
                grad_b_ih = grad_b_hh = shared
            else:
                grad_b_ih = rows_input.sum(axis=0) if need[first + 2] else None
                grad_b_hh = rows_hidden.sum(axis=0) if need[first + 3] else None
            grads += [grad_b_ih, grad_b_hh]
        return grads


class RNNLayer(RecurrentLayer):
    r"""An Elman RNN over a whole sequence: :math:`h_t = act(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh})`.

    ``act`` is ``tanh`` or ``relu``. Inputs ``(x, h0, w_ih, w_hh, [b_ih, b_hh])``; the output
    is ``h_t`` for every step, ``(T, B, H)``.
    """

    def forward(self, x: np.ndarray, h0: np.ndarray, w_ih: np.ndarray, w_hh: np.ndarray, *biases: np.ndarray,
                reverse: bool, nonlinearity: str) -> np.ndarray:
        states = self.input_projection(x, w_ih, biases[0] + biases[1] if biases else None)
        product = np.empty_like(h0)
        w_hh_t = w_hh.T
        h = h0
        for t in time_steps(len(x), reverse):
            state = states[t]  # the pre-activation, turned into h_t in place
            np.matmul(h, w_hh_t, out=product)
            state += product
            if nonlinearity == "tanh":
                np.tanh(state, out=state)
            else:
                np.maximum(state, 0, out=state)
            h = state
        self.reverse, self.nonlinearity = reverse, nonlinearity
        self.save_for_backward(x, h0, w_ih, w_hh, states)
        return states

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        x, h0, w_ih, w_hh, states = self.saved_tensors
        # d h_t / d pre-activation for every step at once
        if self.nonlinearity == "tanh":
            derivative = np.square(states)
            np.subtract(1, derivative, out=derivative)
        else:
            derivative = (states > 0).astype(states.dtype)
        grad_pre = np.empty_like(states)
        grad_h = np.zeros_like(h0)  # from the step after
        for t in time_steps(len(x), not self.reverse):
            step = grad_pre[t]
            np.add(grad[t], grad_h, out=step)
            step *= derivative[t]
            np.matmul(step, w_hh, out=grad_h)
        previous = previous_states(states, h0, self.reverse)
        grad_x, *weights = self.input_and_weight_gradients(x, w_ih, grad_pre, grad_pre, previous)
        return (grad_x, grad_h if self.needs_input_grad[1] else None, *weights)


class LSTMLayer(RecurrentLayer):
    r"""A long short-term memory layer over a whole sequence, gates in PyTorch's order ``i, f, g, o``.

    .. math::
        i, f, o = \sigma(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh}) \text{ (their rows)},\quad
        g = \tanh(\dots),\quad c_t = f c_{t-1} + i g,\quad h_t = o \tanh(c_t)

    Inputs ``(x, h0, c0, w_ih, w_hh, [b_ih, b_hh])``. The output packs ``(T + 1, B, H)``: ``h_t``
    for every step, then the final cell state (a node has one output; the layer slices it).
    """

    weight_index = 3

    def forward(self, x: np.ndarray, h0: np.ndarray, c0: np.ndarray, w_ih: np.ndarray, w_hh: np.ndarray,
                *biases: np.ndarray, reverse: bool) -> np.ndarray:
        steps, batch, _ = x.shape
        hidden = h0.shape[-1]
        scale = gate_scale(4, hidden, [0, 1, 3], x.dtype)
        bias = (biases[0] + biases[1]) * scale[:, 0] if biases else None
        gates = self.input_projection(x, w_ih * scale, bias)  # becomes the activated gates in place
        w_hh_t = (w_hh * scale).T
        packed = np.empty((steps + 1, batch, hidden), dtype=x.dtype)
        cells = np.empty((steps, batch, hidden), dtype=x.dtype)
        tanh_cells = np.empty_like(cells)
        product = np.empty((batch, 4 * hidden), dtype=x.dtype)
        input_times_g = np.empty((batch, hidden), dtype=x.dtype)
        h, c = h0, c0
        for t in time_steps(steps, reverse):
            step = gates[t]
            np.matmul(h, w_hh_t, out=product)
            step += product
            np.tanh(step, out=step)
            sigmoid_from_tanh_(step[:, :2 * hidden])
            sigmoid_from_tanh_(step[:, 3 * hidden:])
            i, f, g, o = step[:, :hidden], step[:, hidden:2 * hidden], step[:, 2 * hidden:3 * hidden], \
                step[:, 3 * hidden:]
            c_t = cells[t]
            np.multiply(f, c, out=c_t)
            np.multiply(i, g, out=input_times_g)
            c_t += input_times_g
            np.tanh(c_t, out=tanh_cells[t])
            h = np.multiply(o, tanh_cells[t], out=packed[t])
            c = c_t
        packed[steps] = c
        self.reverse = reverse
        self.save_for_backward(x, h0, c0, w_ih, w_hh, gates, cells, tanh_cells, packed)
        return packed

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        x, h0, c0, w_ih, w_hh, gates, cells, tanh_cells, packed = self.saved_tensors
        steps, batch, hidden = cells.shape
        four = gates.reshape(steps, batch, 4, hidden)
        i, f, g, o = four[:, :, 0], four[:, :, 1], four[:, :, 2], four[:, :, 3]
        previous_cells = previous_states(cells, c0, self.reverse)
        # Per step: dz_o = dh * to_output_gate, dc = dh * to_cell + dc_next, and
        # (dz_i, dz_f, dz_g) = dc * from_cell. These factors depend on saved values only.
        to_output_gate = tanh_cells * o * (1 - o)
        to_cell = o * (1 - tanh_cells * tanh_cells)
        from_cell = np.empty((steps, batch, 3, hidden), dtype=x.dtype)
        np.multiply(g, i * (1 - i), out=from_cell[:, :, 0])
        np.multiply(previous_cells, f * (1 - f), out=from_cell[:, :, 1])
        np.multiply(i, 1 - g * g, out=from_cell[:, :, 2])
        grad_pre = np.empty((steps, batch, 4, hidden), dtype=x.dtype)
        grad_h = np.zeros_like(h0)
        grad_c = np.array(grad[steps], copy=True)  # the final cell state's own gradient
        grad_h_flat = np.empty((batch, hidden), dtype=x.dtype)
        for t in time_steps(steps, not self.reverse):
            step = grad_pre[t]
            grad_h += grad[t]
            np.multiply(grad_h, to_output_gate[t], out=step[:, 3])
            np.multiply(grad_h, to_cell[t], out=grad_h_flat)
            grad_c += grad_h_flat
            np.multiply(grad_c[:, None, :], from_cell[t], out=step[:, :3])
            grad_c *= f[t]
            np.matmul(step.reshape(batch, 4 * hidden), w_hh, out=grad_h)
        need = self.needs_input_grad
        previous = previous_states(packed[:steps], h0, self.reverse)
        grad_pre = grad_pre.reshape(steps, batch, 4 * hidden)
        grad_x, *weights = self.input_and_weight_gradients(x, w_ih, grad_pre, grad_pre, previous)
        return (grad_x, grad_h if need[1] else None, grad_c if need[2] else None, *weights)


class GRULayer(RecurrentLayer):
    r"""A gated recurrent unit layer over a whole sequence, gates in PyTorch's order ``r, z, n``.

    .. math::
        r, z = \sigma(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh}) \text{ (their rows)},\quad
        n = \tanh(W_{in} x_t + b_{in} + r (W_{hn} h_{t-1} + b_{hn})),\quad
        h_t = (1 - z) n + z h_{t-1}

    Inputs ``(x, h0, w_ih, w_hh, [b_ih, b_hh])``; the output is ``h_t`` for every step.
    """

    def forward(self, x: np.ndarray, h0: np.ndarray, w_ih: np.ndarray, w_hh: np.ndarray, *biases: np.ndarray,
                reverse: bool) -> np.ndarray:
        steps, batch, _ = x.shape
        hidden = h0.shape[-1]
        scale = gate_scale(3, hidden, [0, 1], x.dtype)
        bias = None
        if biases:
            # b_hh of r and z adds like b_ih; b_hn sits inside r * (...)
            bias = biases[0].copy()
            bias[:2 * hidden] += biases[1][:2 * hidden]
            bias *= scale[:, 0]
        gates = self.input_projection(x, w_ih * scale, bias)  # becomes r, z, n in place
        w_hh_t = (w_hh * scale).T
        hidden_n = np.empty((steps, batch, hidden), dtype=x.dtype)  # W_hn h_{t-1} + b_hn
        states = np.empty((steps, batch, hidden), dtype=x.dtype)
        product = np.empty((batch, 3 * hidden), dtype=x.dtype)
        h = h0
        for t in time_steps(steps, reverse):
            step = gates[t]
            np.matmul(h, w_hh_t, out=product)
            r_z = step[:, :2 * hidden]
            r_z += product[:, :2 * hidden]
            np.tanh(r_z, out=r_z)
            sigmoid_from_tanh_(r_z)
            r, z, n = step[:, :hidden], step[:, hidden:2 * hidden], step[:, 2 * hidden:]
            hn = hidden_n[t]
            if biases:
                np.add(product[:, 2 * hidden:], biases[1][2 * hidden:], out=hn)
            else:
                hn[...] = product[:, 2 * hidden:]
            n += r * hn
            np.tanh(n, out=n)
            h_t = np.subtract(h, n, out=states[t])
            h_t *= z
            h_t += n
            h = h_t
        self.reverse, self.has_bias = reverse, bool(biases)
        self.save_for_backward(x, h0, w_ih, w_hh, gates, hidden_n, states)
        return states

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        x, h0, w_ih, w_hh, gates, hidden_n, states = self.saved_tensors
        steps, batch, hidden = states.shape
        r, z, n = gates[:, :, :hidden], gates[:, :, hidden:2 * hidden], gates[:, :, 2 * hidden:]
        previous = previous_states(states, h0, self.reverse)
        # Per step, from dh: dz_n = dh * to_n, dz_z = dh * to_z, dz_r = dz_n * to_r,
        # d(W_hn h + b_hn) = dz_n * r, and dh_{t-1} = dh * z + (those) @ W_hh.
        to_n = (1 - z) * (1 - n * n)
        to_z = (previous - n) * z * (1 - z)
        to_r = hidden_n * r * (1 - r)
        grad_input_pre = np.empty_like(gates)
        grad_hidden_pre = np.empty_like(gates)
        grad_h = np.zeros_like(h0)
        through_z = np.empty_like(grad_h)
        for t in time_steps(steps, not self.reverse):
            input_step, hidden_step = grad_input_pre[t], grad_hidden_pre[t]
            grad_h += grad[t]
            grad_n = np.multiply(grad_h, to_n[t], out=input_step[:, 2 * hidden:])
            np.multiply(grad_h, to_z[t], out=hidden_step[:, hidden:2 * hidden])
            np.multiply(grad_n, to_r[t], out=hidden_step[:, :hidden])
            np.multiply(grad_n, r[t], out=hidden_step[:, 2 * hidden:])
            np.multiply(grad_h, z[t], out=through_z)
            np.matmul(hidden_step, w_hh, out=grad_h)
            grad_h += through_z
        grad_input_pre[:, :, :2 * hidden] = grad_hidden_pre[:, :, :2 * hidden]
        grad_x, *weights = self.input_and_weight_gradients(x, w_ih, grad_input_pre, grad_hidden_pre, previous)
        return (grad_x, grad_h if self.needs_input_grad[1] else None, *weights)
