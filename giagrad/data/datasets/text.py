"""Character-level text: a vocabulary, encode/decode, a split by position, and blocks for batches.

A character-level language model reads ``block_size`` characters and predicts, at every
position, the next one. :class:`CharacterText` turns a text into integer ids (the vocabulary is
the sorted set of its characters) and splits it by position (the first 90% trains, the last 10%
validates, as nanoGPT's ``shakespeare_char``); :class:`TextBlocks` serves the contiguous blocks
of ``block_size + 1`` ids as input/target pairs shifted by one, ready for a ``DataLoader``
(random blocks for training with a ``RandomSampler(replacement=True)``, non-overlapping ones
for an exact validation loss).

Tiny Shakespeare (1,115,394 characters, 65 distinct) ships inside the package: see
``NOTICE.md`` beside this file for its provenance and licence.

Examples
--------
>>> text = CharacterText.tiny_shakespeare()
>>> text.vocab_size
65
>>> text.decode(text.encode("To be"))
'To be'
>>> train = TextBlocks(text.train_ids, block_size=64)
>>> x, y = train[0]                      # y is x shifted by one character
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
from collections.abc import Sequence
from importlib import resources

import numpy as np

from giagrad.data.dataset import Dataset

__all__ = ["CharacterText", "TextBlocks", "TINY_SHAKESPEARE_SHA256"]

TINY_SHAKESPEARE_FILE = "tinyshakespeare.txt.gz"
TINY_SHAKESPEARE_SHA256 = "0d845137de672a4d0a6e2fbe58db3eb196cb31611479555cdff993259cf957b9"  # of the .gz


class CharacterText:
    """A text as integer ids over its sorted characters, split by position into train/validation.

    Parameters
    ----------
    text : str
        The whole corpus. Its distinct characters, sorted, are the vocabulary.
    train_fraction : float
        The first ``train_fraction`` of the characters train, the rest validate (default 0.9).

    Attributes
    ----------
    chars : list of str
        The vocabulary: id ``i`` is ``chars[i]``.
    ids : numpy.ndarray
        The whole text as ids (``uint8`` for up to 256 characters, else ``int32``; ``encode``
        returns ``int64`` as models expect).
    train_ids, val_ids : numpy.ndarray
        The two parts of ``ids`` (views).

    Examples
    --------
    >>> text = CharacterText("hello world")
    >>> text.chars
    [' ', 'd', 'e', 'h', 'l', 'o', 'r', 'w']
    >>> text.encode("hold").tolist()
    [3, 5, 4, 1]
    """

    def __init__(self, text: str, train_fraction: float = 0.9) -> None:
        if not isinstance(text, str):
            raise TypeError(f"CharacterText: text must be a str, got {type(text).__name__}")
        if len(text) < 2:
            raise ValueError(f"CharacterText: the text needs at least 2 characters, got {len(text)}")
        if not 0.0 < train_fraction < 1.0:
            raise ValueError(f"CharacterText: train_fraction must be in (0, 1), got {train_fraction!r}")
        self.chars = sorted(set(text))
        self.index = {char: i for i, char in enumerate(self.chars)}
        code_points = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        table = np.array([ord(char) for char in self.chars], dtype=np.uint32)
        dtype = np.uint8 if len(self.chars) <= 256 else np.int32
        # The vocabulary is sorted, so a binary search maps every code point to its id at once.
        self.ids = np.searchsorted(table, code_points).astype(dtype)
        split = int(len(self.ids) * train_fraction)
        self.train_ids, self.val_ids = self.ids[:split], self.ids[split:]

    @classmethod
    def from_file(cls, path: str | os.PathLike, train_fraction: float = 0.9) -> CharacterText:
        """Read a UTF-8 text file (``.gz`` files are decompressed)."""
        raw = gzip.decompress(_read(path)) if str(path).endswith(".gz") else _read(path)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ValueError(f"CharacterText: {path} is not UTF-8 text ({error})") from None
        return cls(text, train_fraction)

    @classmethod
    def tiny_shakespeare(cls, train_fraction: float = 0.9) -> CharacterText:
        """The bundled tiny Shakespeare corpus (1,115,394 characters), checked against its sha256."""
        return cls(_tiny_shakespeare_text(), train_fraction)

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        """The ids of ``text``'s characters (int64); a character outside the vocabulary is an error."""
        try:
            return np.array([self.index[char] for char in text], dtype=np.int64)
        except KeyError as error:
            raise ValueError(f"CharacterText.encode: character {error.args[0]!r} is not in the vocabulary "
                             f"of {self.vocab_size} characters") from None

    def decode(self, ids: Sequence[int] | np.ndarray) -> str:
        """The text of a sequence of ids."""
        ids = np.asarray(ids).reshape(-1)
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise ValueError(f"CharacterText.decode: ids must be in [0, {self.vocab_size}), got values from "
                             f"{ids.min()} to {ids.max()}")
        return "".join([self.chars[i] for i in ids.tolist()])

    def __len__(self) -> int:
        return len(self.ids)

    def __repr__(self) -> str:
        return (f"CharacterText({len(self.ids):,} characters, vocabulary of {self.vocab_size}, "
                f"{len(self.train_ids):,} train / {len(self.val_ids):,} validation)")


class TextBlocks(Dataset):
    """Contiguous blocks of ``block_size + 1`` ids as ``(input, target)`` pairs shifted by one.

    Item ``i`` starts at position ``i * stride``: ``input = ids[s : s + block_size]`` and
    ``target = ids[s + 1 : s + block_size + 1]`` (both int64). With ``stride=1`` (training)
    every start position is an item, and a ``RandomSampler(..., replacement=True)`` draws random
    blocks; with ``stride=block_size`` the blocks tile the text without overlap, so that one pass
    measures the loss of (nearly) every character once.

    Examples
    --------
    >>> blocks = TextBlocks(np.arange(10), block_size=4)
    >>> x, y = blocks[2]
    >>> x.tolist(), y.tolist()
    ([2, 3, 4, 5], [3, 4, 5, 6])
    """

    def __init__(self, ids: np.ndarray, block_size: int, stride: int = 1) -> None:
        if not isinstance(block_size, (int, np.integer)) or isinstance(block_size, bool) or block_size < 1:
            raise ValueError(f"TextBlocks: block_size must be a positive integer, got {block_size!r}")
        if not isinstance(stride, (int, np.integer)) or isinstance(stride, bool) or stride < 1:
            raise ValueError(f"TextBlocks: stride must be a positive integer, got {stride!r}")
        ids = np.asarray(ids)
        if ids.ndim != 1 or ids.dtype.kind not in "iu":
            raise TypeError(f"TextBlocks: ids must be a 1-D integer array, got {ids.dtype} of shape {ids.shape}")
        if len(ids) < block_size + 1:
            raise ValueError(f"TextBlocks: {len(ids)} ids are too few for one block of {block_size} + 1")
        self.ids, self.block_size, self.stride = ids, int(block_size), int(stride)
        self._offsets = np.arange(self.block_size + 1)

    def __len__(self) -> int:
        return (len(self.ids) - self.block_size - 1) // self.stride + 1

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"TextBlocks: index {index} is out of range for {len(self)} blocks")
        inputs, targets = self.get_batch(np.array([index % len(self)]))
        return inputs[0], targets[0]

    def get_batch(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The blocks of ``indices`` at once: inputs and targets of shape ``(len(indices), block_size)``."""
        windows = self.ids[(np.asarray(indices, dtype=np.int64) * self.stride)[:, None] + self._offsets]
        windows = windows.astype(np.int64)
        return windows[:, :-1], windows[:, 1:]


def _read(path: str | os.PathLike) -> bytes:
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError as error:
        raise FileNotFoundError(f"CharacterText: cannot read {path}: {error.strerror or error}") from None


@functools.lru_cache(maxsize=1)
def _tiny_shakespeare_text() -> str:
    raw = resources.files("giagrad.data.datasets").joinpath(TINY_SHAKESPEARE_FILE).read_bytes()
    actual = hashlib.sha256(raw).hexdigest()
    if actual != TINY_SHAKESPEARE_SHA256:
        raise OSError(f"bundled {TINY_SHAKESPEARE_FILE}: sha256 {actual} is not the expected "
                      f"{TINY_SHAKESPEARE_SHA256}; the giagrad installation is damaged")
    return gzip.decompress(raw).decode("utf-8")
