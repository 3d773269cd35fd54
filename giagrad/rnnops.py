"""Recurrent operations: one node runs a whole sequence through one layer in one direction.

Recording a node per time step and per gate would put thousands of small nodes in the graph of a
sequence model; here the loop over time runs inside ``forward`` (in numpy) and backpropagation
through time inside ``backward``. What does not depend on the recurrence is done for all time
steps at once, outside the loops:

- forward: the input projection ``x W_ih^T`` of every step is ONE (gate-batched) matrix multiply;
- backward: the gradients of ``x``, ``W_ih``, ``W_hh`` and the biases are one matrix multiply
  (or sum) each over all ``T * B`` rows, after the loop.

Inside the loops remain ``h_{t-1} W_hh^T`` (forward), ``dz_t W_hh`` (backward) and a few
elementwise ops on preallocated arrays. While a step's values are in cache, the forward loop also
stores the factors its backward will multiply the incoming gradients by (only when a backward will
follow), so that the backward loop is a handful of products.

Layout. The API is PyTorch's: time-major ``x`` of shape ``(T, B, input_size)``, weights
``W_ih (G * H, input_size)`` and ``W_hh (G * H, H)`` whose ``G`` row blocks are the gates in
PyTorch's order (LSTM ``i, f, g, o``; GRU ``r, z, n``). The forward pass keeps the gates
gate-major, ``(G, T, B, H)``, so that the elementwise ops see every gate as one contiguous block
(numpy is several times slower on the strided column blocks of a ``(B, G * H)`` matrix);
``h @ W_hh^T`` is one multiply per step into ``(B, G * H)``, and adding it to the step's input
projection is what moves it into that layout. The backward pass keeps
the gradients of the pre-activations in rows, ``(T, B, G * H)``, so that ``dz_t W_hh`` is ONE
multiply over all gates and so are the weight gradients after the loop.

With ``reverse=True`` the layer reads the sequence from its last step to its first (the backward
direction of a bidirectional layer); its output stays in time order. Sigmoids are computed as
``0.5 * tanh(0.5 x) + 0.5``: exact, free of overflow, and one ``tanh`` call covers the sigmoid
gates and the tanh gate alike once the sigmoid gates' weights are scaled by ``0.5``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from giagrad.autograd import Function
from giagrad.grad_mode import is_grad_enabled


def time_steps(length: int, reverse: bool) -> range:
    """The order in which a layer visits the time steps."""
    return range(length - 1, -1, -1) if reverse else range(length)


def per_gate(values: tuple[float, ...], dtype: np.dtype) -> np.ndarray:
    """One value per gate, shaped ``(G, 1, 1)`` to broadcast over gate-major ``(G, B, H)``."""
    return np.asarray(values, dtype=dtype).reshape(-1, 1, 1)


class RecurrentLayer(Function):
    """The parts shared by the RNN, LSTM and GRU layer nodes.

    The inputs of every layer node are ``(x, h0, [c0], w_ih, w_hh, [b_ih, b_hh])``;
    ``weight_index`` says where ``w_ih`` is.
    """

    weight_index = 2
    reverse = False

    def will_backward(self) -> bool:
        """Whether this node is being recorded, so that forward should keep what backward needs."""
        return is_grad_enabled() and any(parent.requires_grad for parent in self.parents)

    @staticmethod
    def input_projection(x: np.ndarray, w_ih: np.ndarray, bias: np.ndarray | None, gates: int) -> np.ndarray:
        """``x W_ih^T + bias`` for every time step at once, gate by gate: ``(G, T, B, H)``.

        One multiply per gate (a batched matmul), each writing its gate's contiguous block.
        """
        steps, batch, features = x.shape
        hidden = w_ih.shape[0] // gates
        per_gate_weights = w_ih.reshape(gates, hidden, features).transpose(0, 2, 1)
        projection = np.matmul(x.reshape(steps * batch, features), per_gate_weights)
        if bias is not None:
            projection += bias.reshape(gates, 1, hidden)
        return projection.reshape(gates, steps, batch, hidden)

    @staticmethod
    def transposed_hidden_weights(w_hh: np.ndarray, scale: np.ndarray) -> np.ndarray:
        """``(W_hh * scale[g] on gate g's rows)^T``, C-contiguous ``(H, G * H)``, in one pass.

        ``h @ result`` is then ONE matrix multiply per step for all gates: a single call into
        BLAS, whose threads synchronise at every call.
        """
        hidden = w_hh.shape[1]
        return np.multiply(w_hh.T, np.repeat(scale.reshape(-1), hidden), order="C")

    def input_and_weight_gradients(self, x: np.ndarray, w_ih: np.ndarray, grad_input_pre: np.ndarray,
                                   grad_hidden_pre: np.ndarray, states: np.ndarray, h0: np.ndarray
                                   ) -> list[np.ndarray | None]:
        """Gradients of ``x``, ``w_ih``, ``w_hh``, ``b_ih``, ``b_hh`` from those of the projections.

        ``grad_input_pre`` ``(T, B, G * H)`` is the gradient of ``x W_ih^T + b_ih`` at every step,
        ``grad_hidden_pre`` that of ``h_{t-1} W_hh^T + b_hh`` (the same array except in the
        GRU), ``states`` the ``h_t`` of every step and ``h0`` the initial one. Each gradient is
        one matrix multiply (or sum) over all ``T * B`` rows.
        """
        need = self.needs_input_grad
        first = self.weight_index
        steps, batch, width = grad_input_pre.shape
        hidden = h0.shape[-1]
        rows_input = grad_input_pre.reshape(steps * batch, width)
        grad_x = np.matmul(rows_input, w_ih).reshape(x.shape) if need[0] else None
        grad_w_ih = grad_w_hh = None
        if need[first]:
            grad_w_ih = np.matmul(rows_input.T, x.reshape(steps * batch, -1))
        if need[first + 1]:
            # Step t multiplied h_{t-1} (h_{t+1} in reverse): pair the rows one step apart, and
            # the first step visited with h0, instead of copying the states into a shifted array.
            if self.reverse:
                later, earlier, first_visited = grad_hidden_pre[:-1], states[1:], grad_hidden_pre[-1]
            else:
                later, earlier, first_visited = grad_hidden_pre[1:], states[:-1], grad_hidden_pre[0]
            rows = (steps - 1) * batch
            grad_w_hh = np.matmul(later.reshape(rows, width).T, earlier.reshape(rows, hidden))
            grad_w_hh += first_visited.T @ h0
        grads = [grad_x, grad_w_ih, grad_w_hh]
        if len(need) > first + 2:  # biases
            if grad_hidden_pre is grad_input_pre:  # the two biases add up: one gradient for both
                shared = rows_input.sum(axis=0) if need[first + 2] or need[first + 3] else None
                grad_b_ih = grad_b_hh = shared
            else:
                grad_b_ih = rows_input.sum(axis=0) if need[first + 2] else None
                grad_b_hh = grad_hidden_pre.sum(axis=(0, 1)) if need[first + 3] else None
            grads += [grad_b_ih, grad_b_hh]
        return grads


class RNNLayer(RecurrentLayer):
    r"""An Elman RNN over a whole sequence: :math:`h_t = act(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh})`.

    ``act`` is ``tanh`` or ``relu``. Inputs ``(x, h0, w_ih, w_hh, [b_ih, b_hh])``; the output
    is ``h_t`` for every step, ``(T, B, H)``.
    """

    def forward(self, x: np.ndarray, h0: np.ndarray, w_ih: np.ndarray, w_hh: np.ndarray, *biases: np.ndarray,
                reverse: bool, nonlinearity: str) -> np.ndarray:
        steps, batch, _ = x.shape
        # the pre-activations, turned into h_t in place
        states = self.input_projection(x, w_ih, biases[0] + biases[1] if biases else None, 1)[0]
        w_hh_t = self.transposed_hidden_weights(w_hh, per_gate((1.0,), w_hh.dtype))
        product = np.empty_like(h0)
        h = h0
        for t in time_steps(steps, reverse):
            state = states[t]
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
        # d h_t / d pre-activation, for every step at once
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
        grad_x, *weights = self.input_and_weight_gradients(x, w_ih, grad_pre, grad_pre, states, h0)
        return (grad_x, grad_h if self.needs_input_grad[1] else None, *weights)


class LSTMLayer(RecurrentLayer):
    r"""A long short-term memory layer over a whole sequence, gates in PyTorch's order ``i, f, g, o``.

    .. math::
        i, f, o = \sigma(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh}) \text{ (their rows)},\quad
        g = \tanh(\dots),\quad c_t = f c_{t-1} + i g,\quad h_t = o \tanh(c_t)

    Inputs ``(x, h0, c0, w_ih, w_hh, [b_ih, b_hh])``. The output packs ``(T + 1, B, H)``: ``h_t``
    for every step, then the final cell state (a node has one output; the layer slices it).

    Backward through time needs, per step, only

    .. math::
        dz_o = dh \cdot \tanh(c_t) \sigma'_o,\quad dc = dc_{t+1} + dh \cdot o (1 - \tanh^2 c_t),\quad
        (dz_i, dz_f, dz_g) = dc \cdot (g \sigma'_i,\ c_{t-1} \sigma'_f,\ i \tanh'_g),\quad
        dc_t = dc \cdot f

    so the forward loop stores the five factors multiplying ``dh`` and ``dc``.
    """

    weight_index = 3

    def forward(self, x: np.ndarray, h0: np.ndarray, c0: np.ndarray, w_ih: np.ndarray, w_hh: np.ndarray,
                *biases: np.ndarray, reverse: bool) -> np.ndarray:
        steps, batch, _ = x.shape
        hidden = h0.shape[-1]
        dtype = x.dtype
        # Per gate: the scale before the one tanh, the affine map after it (sigmoid = tanh(x/2)/2 + 1/2),
        # and the derivative's factor (sigmoid' = (1 - tanh^2) / 4).
        scale = per_gate((0.5, 0.5, 1.0, 0.5), dtype)
        offset = per_gate((0.5, 0.5, 0.0, 0.5), dtype)
        derivative_scale = per_gate((0.25, 0.25, 1.0, 0.25), dtype)
        row_scale = np.repeat(scale.reshape(4), hidden)
        gates = self.input_projection(x, w_ih * row_scale[:, None], None, 4)  # becomes the activated gates
        # The biases are added step by step: one more small op per step costs less than a pass over
        # the whole projection.
        bias = ((biases[0] + biases[1]) * row_scale).reshape(4, 1, hidden) if biases else None
        w_hh_t = self.transposed_hidden_weights(w_hh, scale)
        record = self.will_backward()
        packed = np.empty((steps + 1, batch, hidden), dtype=dtype)
        cells = np.empty((2, batch, hidden), dtype=dtype)  # c_t, alternately in one and the other
        # per step: the factors of dc for i, f, g, then of dh for o and for dc (see the docstring)
        # Any: None when no backward will follow (the loop only indexes it when recording)
        factors: Any = np.empty((steps, 5, batch, hidden), dtype=dtype) if record else None
        product = np.empty((batch, 4 * hidden), dtype=dtype)
        product_by_gate = product.reshape(batch, 4, hidden).transpose(1, 0, 2)  # a view: (4, B, H)
        derivative = np.empty((4, batch, hidden), dtype=dtype)
        input_times_g = np.empty((batch, hidden), dtype=dtype)
        tanh_cell = np.empty_like(input_times_g)
        h, c = h0, c0
        for t in time_steps(steps, reverse):
            step = gates[:, t]
            np.matmul(h, w_hh_t, out=product)
            step += product_by_gate
            if bias is not None:
                step += bias
            np.tanh(step, out=step)
            if record:
                np.multiply(step, step, out=derivative)
                derivative *= -derivative_scale
                derivative += derivative_scale
            step *= scale
            step += offset
            i, f, g, o = step
            c_t = cells[t % 2]
            np.multiply(f, c, out=c_t)
            np.multiply(i, g, out=input_times_g)
            c_t += input_times_g
            np.tanh(c_t, out=tanh_cell)
            if record:
                factor = factors[t]
                np.multiply(derivative[0], g, out=factor[0])
                np.multiply(derivative[1], c, out=factor[1])
                np.multiply(derivative[2], i, out=factor[2])
                np.multiply(derivative[3], tanh_cell, out=factor[3])
                to_cell = factor[4]
                np.multiply(tanh_cell, tanh_cell, out=to_cell)
                np.subtract(1, to_cell, out=to_cell)
                to_cell *= o
            h = np.multiply(o, tanh_cell, out=packed[t])
            c = c_t
        packed[steps] = c
        self.reverse = reverse
        if record:
            self.save_for_backward(x, h0, w_ih, w_hh, gates, factors, packed)
        return packed

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        x, h0, w_ih, w_hh, gates, factors, packed = self.saved_tensors
        steps, _, batch, hidden = factors.shape
        forget = gates[1]
        # Row layout (T, B, 4H) here: dz_t @ W_hh is then ONE multiply over all four gates.
        grad_pre = np.empty((steps, batch, 4, hidden), dtype=x.dtype)
        grad_h = np.zeros_like(h0)
        grad_c = np.array(grad[steps], copy=True)  # the final cell state's own gradient
        through_h = np.empty((batch, hidden), dtype=x.dtype)
        for t in time_steps(steps, not self.reverse):
            step, factor = grad_pre[t], factors[t]
            grad_h += grad[t]
            np.multiply(grad_h, factor[3], out=step[:, 3])
            np.multiply(grad_h, factor[4], out=through_h)
            grad_c += through_h
            np.multiply(grad_c, factor[:3], out=step[:, :3].transpose(1, 0, 2))
            grad_c *= forget[t]
            np.matmul(step.reshape(batch, 4 * hidden), w_hh, out=grad_h)
        need = self.needs_input_grad
        grad_pre = grad_pre.reshape(steps, batch, 4 * hidden)
        grad_x, *weights = self.input_and_weight_gradients(x, w_ih, grad_pre, grad_pre, packed[:steps], h0)
        return (grad_x, grad_h if need[1] else None, grad_c if need[2] else None, *weights)


class GRULayer(RecurrentLayer):
    r"""A gated recurrent unit layer over a whole sequence, gates in PyTorch's order ``r, z, n``.

    .. math::
        r, z = \sigma(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh}) \text{ (their rows)},\quad
        n = \tanh(W_{in} x_t + b_{in} + r (W_{hn} h_{t-1} + b_{hn})),\quad
        h_t = (1 - z) n + z h_{t-1}

    Inputs ``(x, h0, w_ih, w_hh, [b_ih, b_hh])``; the output is ``h_t`` for every step. As in
    the LSTM, forward stores per step the factors backward multiplies ``dh`` by:
    ``dz_n = dh (1 - z)(1 - n^2)``, ``dz_z = dh (h_{t-1} - n) \sigma'_z``, and
    ``dz_r = dz_n (W_{hn} h_{t-1} + b_{hn}) \sigma'_r``.
    """

    def forward(self, x: np.ndarray, h0: np.ndarray, w_ih: np.ndarray, w_hh: np.ndarray, *biases: np.ndarray,
                reverse: bool) -> np.ndarray:
        steps, batch, _ = x.shape
        hidden = h0.shape[-1]
        dtype = x.dtype
        # r and z: sigmoid(x) = tanh(x / 2) / 2 + 1 / 2
        row_scale = np.repeat(np.asarray((0.5, 0.5, 1.0), dtype=dtype), hidden)
        bias = None
        if biases:
            # b_hh of r and z adds like b_ih; b_hn sits inside r * (...)
            bias = biases[0].copy()
            bias[:2 * hidden] += biases[1][:2 * hidden]
            bias *= row_scale
        gates = self.input_projection(x, w_ih * row_scale[:, None], bias, 3)  # becomes r, z, n in place
        w_hh_t = self.transposed_hidden_weights(w_hh, per_gate((0.5, 0.5, 1.0), dtype))
        record = self.will_backward()
        states = np.empty((steps, batch, hidden), dtype=dtype)
        # for dz_r, dz_z, dz_n; Any: None when no backward will follow
        factors: Any = np.empty((steps, 3, batch, hidden), dtype=dtype) if record else None
        product = np.empty((batch, 3 * hidden), dtype=dtype)
        product_by_gate = product.reshape(batch, 3, hidden).transpose(1, 0, 2)  # a view: (3, B, H)
        derivative = np.empty((2, batch, hidden), dtype=dtype)
        hidden_n = np.empty((batch, hidden), dtype=dtype)  # W_hn h_{t-1} + b_hn
        scratch = np.empty_like(hidden_n)
        h = h0
        for t in time_steps(steps, reverse):
            step = gates[:, t]
            np.matmul(h, w_hh_t, out=product)
            r_z = step[:2]
            r_z += product_by_gate[:2]
            np.tanh(r_z, out=r_z)
            if record:  # sigmoid' = (1 - tanh^2) / 4
                np.multiply(r_z, r_z, out=derivative)
                derivative *= -0.25
                derivative += 0.25
            r_z *= 0.5
            r_z += 0.5
            r, z, n = step
            if biases:
                np.add(product_by_gate[2], biases[1][2 * hidden:], out=hidden_n)
            else:
                np.copyto(hidden_n, product_by_gate[2])
            np.multiply(r, hidden_n, out=scratch)
            n += scratch
            np.tanh(n, out=n)
            h_t = np.subtract(h, n, out=states[t])
            if record:
                factor = factors[t]
                np.multiply(hidden_n, derivative[0], out=factor[0])
                np.multiply(h_t, derivative[1], out=factor[1])
                to_n = factor[2]
                np.multiply(n, n, out=to_n)
                np.subtract(1, to_n, out=to_n)
                np.subtract(1, z, out=scratch)
                to_n *= scratch
            h_t *= z
            h_t += n
            h = h_t
        self.reverse = reverse
        if record:
            self.save_for_backward(x, h0, w_ih, w_hh, gates, factors, states)
        return states

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        x, h0, w_ih, w_hh, gates, factors, states = self.saved_tensors
        steps, batch, hidden = states.shape
        r, z = gates[0], gates[1]
        # Row layout (T, B, 3H) here: dz_t @ W_hh is then ONE multiply over all three gates.
        grad_input_pre = np.empty((steps, batch, 3, hidden), dtype=x.dtype)
        grad_hidden_pre = np.empty_like(grad_input_pre)
        grad_h = np.zeros_like(h0)
        through_z = np.empty_like(grad_h)
        for t in time_steps(steps, not self.reverse):
            input_step, hidden_step, factor = grad_input_pre[t], grad_hidden_pre[t], factors[t]
            grad_h += grad[t]
            grad_n = np.multiply(grad_h, factor[2], out=input_step[:, 2])
            np.multiply(grad_h, factor[1], out=hidden_step[:, 1])
            np.multiply(grad_n, factor[0], out=hidden_step[:, 0])
            np.multiply(grad_n, r[t], out=hidden_step[:, 2])
            np.multiply(grad_h, z[t], out=through_z)
            np.matmul(hidden_step.reshape(batch, 3 * hidden), w_hh, out=grad_h)
            grad_h += through_z
        grad_input_pre[:, :, :2] = grad_hidden_pre[:, :, :2]
        grad_input_pre = grad_input_pre.reshape(steps, batch, 3 * hidden)
        grad_hidden_pre = grad_hidden_pre.reshape(steps, batch, 3 * hidden)
        grad_x, *weights = self.input_and_weight_gradients(x, w_ih, grad_input_pre, grad_hidden_pre, states, h0)
        return (grad_x, grad_h if self.needs_input_grad[1] else None, *weights)
