"""``Embedding``: a learnable lookup table from integer ids to vectors."""

from __future__ import annotations

from typing import Any

import numpy as np

from giagrad._validation import float_dtype, positive_int
from giagrad.grad_mode import no_grad
from giagrad.nn import functional as F
from giagrad.nn import init
from giagrad.nn.module import Module, Parameter
from giagrad.tensor import Tensor

__all__ = ["Embedding"]


class Embedding(Module):
    """A table of ``num_embeddings`` vectors of size ``embedding_dim``, looked up by index.

    Parameters
    ----------
    num_embeddings : int
        The number of rows (the vocabulary size).
    embedding_dim : int
        The size of each vector.
    padding_idx : int, optional
        This row starts at zero and receives no gradient (a "nothing here" token). Negative
        values count from the end.
    dtype : numpy dtype, optional

    Attributes
    ----------
    weight : Parameter
        ``(num_embeddings, embedding_dim)``, drawn from ``N(0, 1)`` as in PyTorch.

    Examples
    --------
    >>> emb = nn.Embedding(10, 3, padding_idx=0)
    >>> emb(giagrad.tensor([[1, 2, 0], [4, 0, 9]])).shape
    (2, 3, 3)
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 dtype: Any = None) -> None:
        super().__init__()
        num_embeddings = positive_int("Embedding", "num_embeddings", num_embeddings)
        embedding_dim = positive_int("Embedding", "embedding_dim", embedding_dim)
        if padding_idx is not None:
            if not isinstance(padding_idx, (int, np.integer)) or not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"Embedding: padding_idx must be within num_embeddings ({num_embeddings}), "
                                 f"got {padding_idx!r}")
            padding_idx = int(padding_idx) % num_embeddings
        dtype = float_dtype("Embedding", dtype)
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.padding_idx = padding_idx
        self.weight = Parameter(np.empty((self.num_embeddings, self.embedding_dim), dtype=dtype))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw the table from ``N(0, 1)`` and zero the padding row."""
        init.normal_(self.weight)
        if self.padding_idx is not None:
            with no_grad():
                self.weight.data[self.padding_idx] = 0
                self.weight._mark_modified()

    @classmethod
    def from_pretrained(cls, embeddings: Tensor, freeze: bool = True, padding_idx: int | None = None) -> Embedding:
        """An ``Embedding`` holding a copy of ``embeddings`` (2-D), frozen unless ``freeze=False``.

        Examples
        --------
        >>> emb = nn.Embedding.from_pretrained(giagrad.tensor([[1.0, 2.0], [3.0, 4.0]]))
        """
        values = embeddings.data if isinstance(embeddings, Tensor) else np.asarray(embeddings)
        if values.ndim != 2:
            raise ValueError(f"Embedding.from_pretrained: embeddings must be 2-D, got shape {values.shape}")
        embedding = cls(values.shape[0], values.shape[1], padding_idx=padding_idx, dtype=values.dtype)
        with no_grad():
            embedding.weight.copy_(values)
        embedding.weight.requires_grad_(not freeze)
        return embedding

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002 (PyTorch's name)
        return F.embedding(input, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        text = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            text += f", padding_idx={self.padding_idx}"
        return text
