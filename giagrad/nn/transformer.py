"""Attention layers: ``MultiheadAttention``, ``TransformerEncoderLayer`` and ``TransformerEncoder``.

Same arguments, defaults, masks conventions and parameter names as PyTorch (``in_proj_weight``,
``in_proj_bias``, ``out_proj.weight``, ``self_attn``, ``linear1``, ``norm1``, ...), so that a
PyTorch ``state_dict`` loads by name. Attention runs in one fused node
(``F.scaled_dot_product_attention``) unless the attention weights are asked for.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from giagrad._validation import check_probability, float_dtype, positive_int
from giagrad.nn import functional as F
from giagrad.nn import init
from giagrad.nn.containers import ModuleList
from giagrad.nn.dropout import Dropout
from giagrad.nn.linear import Linear
from giagrad.nn.module import Module, Parameter
from giagrad.nn.normalization import LayerNorm
from giagrad.tensor import Tensor

__all__ = ["MultiheadAttention", "TransformerEncoderLayer", "TransformerEncoder"]


class MultiheadAttention(Module):
    r"""Attention of ``num_heads`` heads over ``embed_dim // num_heads`` features each.

    .. math:: \mathrm{out} = \mathrm{concat}(\mathrm{head}_1, \dots, \mathrm{head}_h) W_O^T + b_O,
              \quad \mathrm{head}_i = \mathrm{softmax}\left(\frac{(Q W_{Q,i}^T)(K W_{K,i}^T)^T}
              {\sqrt{d}} + M\right) V W_{V,i}^T

    Parameters
    ----------
    embed_dim : int
        Width of queries, keys and values (``kdim``/``vdim`` other than ``embed_dim`` are not
        supported).
    num_heads : int
        Must divide ``embed_dim``.
    dropout : float
        Dropout on the attention weights, in training mode.
    bias : bool
        Biases of the input and output projections.
    batch_first : bool
        Inputs ``(N, L, E)`` instead of PyTorch's default ``(L, N, E)``. Unbatched ``(L, E)``
        inputs work either way.

    Attributes
    ----------
    in_proj_weight : Parameter
        ``(3 E, E)``: the query, key and value projections stacked (Xavier-uniform initialised).
    in_proj_bias : Parameter or None
        ``(3 E,)``, zeros.
    out_proj : Linear
        ``E -> E`` (its bias zeroed).

    Examples
    --------
    >>> attention = nn.MultiheadAttention(64, 4, batch_first=True)
    >>> x = giagrad.randn(2, 10, 64)
    >>> out, weights = attention(x, x, x)
    >>> out.shape, weights.shape
    ((2, 10, 64), (2, 10, 10))
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim: int | None = None,
                 vdim: int | None = None, batch_first: bool = False, dtype: Any = None) -> None:
        super().__init__()
        embed_dim = positive_int("MultiheadAttention", "embed_dim", embed_dim)
        num_heads = positive_int("MultiheadAttention", "num_heads", num_heads)
        if embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim ({embed_dim}) must be divisible by "
                             f"num_heads ({num_heads})")
        if add_bias_kv or add_zero_attn or kdim not in (None, embed_dim) or vdim not in (None, embed_dim):
            raise NotImplementedError("MultiheadAttention: add_bias_kv, add_zero_attn and kdim/vdim other than "
                                      "embed_dim are not supported")
        self.embed_dim, self.num_heads, self.head_dim = embed_dim, num_heads, embed_dim // num_heads
        self.dropout = check_probability("MultiheadAttention", dropout)
        self.batch_first = bool(batch_first)
        dtype = float_dtype("MultiheadAttention", dtype)
        self.in_proj_weight = Parameter(np.empty((3 * embed_dim, embed_dim), dtype=dtype))
        if bias:
            self.in_proj_bias = Parameter(np.zeros(3 * embed_dim, dtype=dtype))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, dtype=dtype)
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        init.xavier_uniform_(self.in_proj_weight)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)

    def forward(self, query: Tensor, key: Tensor, value: Tensor, key_padding_mask: Tensor | None = None,
                need_weights: bool = True, attn_mask: Tensor | None = None, average_attn_weights: bool = True,
                is_causal: bool = False) -> tuple[Tensor, Tensor | None]:
        """Attend from ``query`` to ``key``/``value``; return ``(output, weights or None)``.

        Parameters
        ----------
        query, key, value : Tensor
            ``(L, N, E)``, ``(S, N, E)``, ``(S, N, E)`` (``(N, L, E)`` ... with ``batch_first``),
            or unbatched ``(L, E)``, ``(S, E)``, ``(S, E)``.
        key_padding_mask : Tensor, optional
            ``(N, S)`` (or ``(S,)`` unbatched). Bool: **True marks a key to ignore** (PyTorch's
            convention here, the opposite of ``F.scaled_dot_product_attention``); float: added.
        need_weights : bool
            Also return the attention weights (computed with separate ops instead of the fused node).
        attn_mask : Tensor, optional
            ``(L, S)`` or ``(N * num_heads, L, S)``. Bool: True marks a pair that may not attend;
            float: added to the scores.
        average_attn_weights : bool
            Average the returned weights over heads: ``(N, L, S)``; else ``(N, num_heads, L, S)``.
        is_causal : bool
            Without ``attn_mask``, query ``i`` attends to keys ``0..i`` only (PyTorch requires
            ``attn_mask`` with it, as a hint; here it builds the causal mask itself).
        """
        op = "MultiheadAttention"
        batched = query.ndim == 3
        if query.ndim not in (2, 3) or key.ndim != query.ndim or value.ndim != query.ndim:
            raise ValueError(f"{op}: query, key and value must all be 3-D (batched) or 2-D (unbatched), got shapes "
                             f"{query.shape}, {key.shape}, {value.shape}")
        if query.shape[-1] != self.embed_dim or key.shape[-1] != self.embed_dim or value.shape[-1] != self.embed_dim:
            raise ValueError(f"{op}: the last dim of query {query.shape}, key {key.shape} and value {value.shape} "
                             f"must be embed_dim={self.embed_dim}")
        if key.shape[:-1] != value.shape[:-1]:
            raise ValueError(f"{op}: key {key.shape} and value {value.shape} must have the same leading dims")
        if not batched:
            query, key, value = query.unsqueeze(0), key.unsqueeze(0), value.unsqueeze(0)
            if key_padding_mask is not None:
                key_padding_mask = _as_tensor(key_padding_mask).unsqueeze(0)
        elif not self.batch_first:
            query, key, value = query.transpose(0, 1), key.transpose(0, 1), value.transpose(0, 1)
        batch, length, source = query.shape[0], query.shape[1], key.shape[1]
        if key.shape[0] != batch:
            raise ValueError(f"{op}: query has batch size {batch} but key has {key.shape[0]}")
        q, k, v = self._project(query, key, value)
        mask = self._merged_mask(key_padding_mask, attn_mask, is_causal, batch, length, source, q.dtype)
        dropout = self.dropout if self.training else 0.0
        weights = None
        if need_weights:
            scores = (q * (1.0 / math.sqrt(self.head_dim))) @ k.transpose(-1, -2)
            if mask is not None:
                scores = scores + mask
            weights = F.dropout(scores.softmax(dim=-1), dropout, training=dropout > 0)
            out = weights @ v
            if average_attn_weights:
                weights = weights.mean(dim=1)
            if not batched:
                weights = weights.squeeze(0)
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout)
        out = self.out_proj(out.transpose(1, 2).reshape(batch, length, self.embed_dim))
        if not batched:
            out = out.squeeze(0)
        elif not self.batch_first:
            out = out.transpose(0, 1)
        return out, weights

    def _project(self, query: Tensor, key: Tensor, value: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The heads' queries, keys and values, each ``(N, heads, length, head_dim)``."""
        width = self.embed_dim
        if query is key and key is value:  # self-attention: one product for all three
            packed = F.linear(query, self.in_proj_weight, self.in_proj_bias)
            batch, length = query.shape[:2]
            heads = packed.reshape(batch, length, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
            q, k, v = heads.unbind(0)
            return q, k, v
        weights = self.in_proj_weight.split(width)
        biases = self.in_proj_bias.split(width) if self.in_proj_bias is not None else (None, None, None)
        q, k, v = (self._heads(F.linear(x, w, b)) for x, w, b in zip((query, key, value), weights, biases,
                                                                    strict=True))
        return q, k, v

    def _heads(self, x: Tensor) -> Tensor:
        batch, length = x.shape[:2]
        return x.reshape(batch, length, self.num_heads, self.head_dim).transpose(1, 2)

    def _merged_mask(self, key_padding_mask: Any, attn_mask: Any, is_causal: bool, batch: int, length: int,
                     source: int, dtype: np.dtype) -> Tensor | None:
        """The additive ``(N, heads, L, S)``-broadcastable mask of both masks (None when neither)."""
        op = "MultiheadAttention"
        mask = None
        if attn_mask is None and is_causal:
            attn_mask = Tensor(np.triu(np.ones((length, source), dtype=bool), k=1))
        if attn_mask is not None:
            attn_mask = _additive(op, "attn_mask", attn_mask, dtype)
            if attn_mask.shape == (length, source):
                mask = attn_mask
            elif attn_mask.shape == (batch * self.num_heads, length, source):
                mask = attn_mask.reshape(batch, self.num_heads, length, source)
            else:
                raise ValueError(f"{op}: attn_mask must have shape {(length, source)} or "
                                 f"{(batch * self.num_heads, length, source)}, got {attn_mask.shape}")
        if key_padding_mask is not None:
            padding = _additive(op, "key_padding_mask", key_padding_mask, dtype)
            if padding.shape != (batch, source):
                raise ValueError(f"{op}: key_padding_mask must have shape {(batch, source)}, got {padding.shape}")
            padding = padding.reshape(batch, 1, 1, source)
            mask = padding if mask is None else mask + padding
        return mask

    def extra_repr(self) -> str:
        return (f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, dropout={self.dropout}, "
                f"batch_first={self.batch_first}")


def _as_tensor(value: Any) -> Tensor:
    return value if isinstance(value, Tensor) else Tensor(np.asarray(value))


def _additive(op: str, name: str, mask: Any, dtype: np.dtype) -> Tensor:
    """A PyTorch-module mask as an additive float tensor: bool True (masked out) becomes -inf."""
    mask = _as_tensor(mask)
    if mask.dtype == np.bool_:
        return Tensor(np.where(mask.data, np.array(-np.inf, dtype=dtype), np.array(0, dtype=dtype)))
    if mask.dtype != dtype:
        raise TypeError(f"{op}: {name} must be bool or of the input's dtype {dtype}, got {mask.dtype}")
    return mask


_ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {"relu": F.relu, "gelu": F.gelu}


class TransformerEncoderLayer(Module):
    """Self-attention then a feed-forward network, each with dropout, a residual and a layer norm.

    Post-norm (PyTorch's default): ``x = norm1(x + sa(x))``, ``x = norm2(x + ff(x))``. With
    ``norm_first=True`` (pre-norm, as GPT): ``x = x + sa(norm1(x))``, ``x = x + ff(norm2(x))``.
    ``ff(x) = linear2(dropout(activation(linear1(x))))``.

    Parameters
    ----------
    d_model : int
    nhead : int
    dim_feedforward : int
    dropout : float
    activation : {'relu', 'gelu'} or callable
    layer_norm_eps : float
    batch_first : bool
        ``(N, L, E)`` inputs instead of ``(L, N, E)``.
    norm_first : bool
    bias : bool
        Biases of the linear layers and layer norms.

    Examples
    --------
    >>> layer = nn.TransformerEncoderLayer(d_model=64, nhead=4, batch_first=True)
    >>> layer(giagrad.randn(2, 10, 64)).shape
    (2, 10, 64)
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation: str | Callable[[Tensor], Tensor] = "relu", layer_norm_eps: float = 1e-5,
                 batch_first: bool = False, norm_first: bool = False, bias: bool = True, dtype: Any = None) -> None:
        super().__init__()
        if isinstance(activation, str):
            if activation not in _ACTIVATIONS:
                raise ValueError(f"TransformerEncoderLayer: activation should be 'relu' or 'gelu', got {activation!r}")
            activation = _ACTIVATIONS[activation]
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first,
                                            dtype=dtype)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, dtype=dtype)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, dtype=dtype)
        self.norm_first = bool(norm_first)
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.activation = activation

    def forward(self, src: Tensor, src_mask: Tensor | None = None, src_key_padding_mask: Tensor | None = None,
                is_causal: bool = False) -> Tensor:
        """``src`` through the layer; the masks follow ``MultiheadAttention``'s conventions."""
        x = src
        if self.norm_first:
            x = x + self._self_attention(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            return x + self._feed_forward(self.norm2(x))
        x = self.norm1(x + self._self_attention(x, src_mask, src_key_padding_mask, is_causal))
        return self.norm2(x + self._feed_forward(x))

    def _self_attention(self, x: Tensor, mask: Any, padding: Any, is_causal: bool) -> Tensor:
        out, _ = self.self_attn(x, x, x, attn_mask=mask, key_padding_mask=padding, need_weights=False,
                                is_causal=is_causal)
        return self.dropout1(out)

    def _feed_forward(self, x: Tensor) -> Tensor:
        return self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(x)))))


class TransformerEncoder(Module):
    """``num_layers`` copies of ``encoder_layer`` (``layers.0``, ``layers.1``, ...), then ``norm`` if given.

    Examples
    --------
    >>> layer = nn.TransformerEncoderLayer(d_model=64, nhead=4, batch_first=True)
    >>> encoder = nn.TransformerEncoder(layer, num_layers=2)
    >>> encoder(giagrad.randn(2, 10, 64)).shape
    (2, 10, 64)
    """

    def __init__(self, encoder_layer: TransformerEncoderLayer, num_layers: int, norm: Module | None = None,
                 enable_nested_tensor: bool = True, mask_check: bool = True) -> None:
        super().__init__()
        num_layers = positive_int("TransformerEncoder", "num_layers", num_layers)
        self.layers = ModuleList([copy.deepcopy(encoder_layer) for _ in range(num_layers)])
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, src: Tensor, mask: Tensor | None = None, src_key_padding_mask: Tensor | None = None,
                is_causal: bool | None = None) -> Tensor:
        x = src
        for layer in self.layers:
            x = layer(x, src_mask=mask, src_key_padding_mask=src_key_padding_mask, is_causal=bool(is_causal))
        return self.norm(x) if self.norm is not None else x
