"""Real datasets: MNIST and Fashion-MNIST, the IDX format they use, and verified downloads.

Examples
--------
>>> from giagrad.data.datasets import MNIST, FashionMNIST
>>> digits = MNIST.sample(train=True)          # 4,000 bundled digits, no network needed
>>> clothes = FashionMNIST(train=True)         # folder, cache, Debian package or download
"""

from giagrad.data.datasets.download import Checksum, ChecksumError, DownloadError, download
from giagrad.data.datasets.idx import IdxFormatError, read_idx, write_idx
from giagrad.data.datasets.mnist import MNIST, DatasetNotFoundError, FashionMNIST

__all__ = [
    "MNIST", "FashionMNIST", "DatasetNotFoundError", "IdxFormatError", "read_idx", "write_idx",
    "Checksum", "ChecksumError", "DownloadError", "download",
]
