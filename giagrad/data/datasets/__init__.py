"""Real datasets: MNIST and Fashion-MNIST, the IDX format they use, verified downloads, and text.

Examples
--------
>>> from giagrad.data.datasets import MNIST, FashionMNIST
>>> digits = MNIST.sample(train=True)          # 4,000 bundled digits, no network needed
>>> clothes = FashionMNIST(train=True)         # folder, cache, Debian package or download
>>> text = CharacterText.tiny_shakespeare()    # bundled, for character-level language models
"""

from giagrad.data.datasets.download import Checksum, ChecksumError, DownloadError, download
from giagrad.data.datasets.idx import IdxFormatError, read_idx, write_idx
from giagrad.data.datasets.mnist import MNIST, DatasetNotFoundError, FashionMNIST
from giagrad.data.datasets.text import CharacterText, TextBlocks

__all__ = [
    "MNIST", "FashionMNIST", "DatasetNotFoundError", "IdxFormatError", "read_idx", "write_idx",
    "Checksum", "ChecksumError", "DownloadError", "download", "CharacterText", "TextBlocks",
]
