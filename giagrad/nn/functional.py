"""Stateless forms of the layers, activations and losses (``giagrad.nn.functional``, as ``F``).

The modules in ``giagrad.nn`` hold parameters and call these. Arguments are checked here, at the
API boundary, so that the ``Function`` classes underneath can trust their inputs.
"""

from __future__ import annotations

# --- linear, activations, losses, one_hot ---

# --- convolution, pooling, normalization, dropout, embedding ---
