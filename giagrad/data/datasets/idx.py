"""Read and write IDX files, the format of MNIST and Fashion-MNIST (gzip-compressed or raw).

An IDX file is a big-endian header followed by the values, row-major::

    bytes 0-1   zero
    byte  2     the value type: 0x08 = unsigned byte (the only one MNIST uses, and the only one read here)
    byte  3     the number of dimensions d
    then        d sizes, each a big-endian uint32
    then        prod(sizes) values

So images (N x 28 x 28 bytes) start with the magic number 0x00000803 and labels (N bytes) with
0x00000801. The reader checks the magic number, the dimensions and that the file holds exactly
the values its header announces; anything else raises :class:`IdxFormatError` naming the file.

Examples
--------
>>> write_idx("labels.gz", np.array([3, 1, 4], dtype=np.uint8))
>>> read_idx("labels.gz", expected_ndim=1)
array([3, 1, 4], dtype=uint8)
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np

__all__ = ["IdxFormatError", "read_idx", "read_idx_bytes", "parse_idx", "write_idx", "idx_bytes", "sha256_of_content"]

UNSIGNED_BYTE = 0x08
_GZIP_MAGIC = b"\x1f\x8b"


class IdxFormatError(ValueError):
    """A file that is not a valid IDX file of the expected kind (the message names the file)."""


def read_idx_bytes(path: str | os.PathLike) -> bytes:
    """The IDX content of ``path``: decompressed when the file is gzip (detected by its first bytes)."""
    path = Path(path)
    with open(path, "rb") as file:
        raw = file.read()
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as error:  # BadGzipFile is an OSError; a cut file is EOFError
        raise IdxFormatError(f"{path}: not a readable gzip file ({error}); the file may be truncated "
                             f"or corrupted: delete it and get it again") from None


def parse_idx(content: bytes, name: str = "<bytes>", expected_ndim: int | None = None) -> np.ndarray:
    """Check an IDX header against the data that follows it and return the values (uint8).

    Parameters
    ----------
    content : bytes
        The whole (decompressed) file.
    name : str
        What to call the file in error messages.
    expected_ndim : int, optional
        Require this many dimensions (3 for images, 1 for labels).
    """
    if len(content) < 4:
        raise IdxFormatError(f"{name}: too short to be an IDX file ({len(content)} bytes)")
    zero, dtype_code, ndim = struct.unpack(">HBB", content[:4])
    magic = int.from_bytes(content[:4], "big")
    if zero != 0 or ndim == 0:
        raise IdxFormatError(f"{name}: not an IDX file (magic number 0x{magic:08x}; expected 0x00000801 for labels "
                             f"or 0x00000803 for images)")
    if dtype_code != UNSIGNED_BYTE:
        raise IdxFormatError(f"{name}: IDX value type 0x{dtype_code:02x} is not supported "
                             f"(only 0x08, unsigned byte; magic number 0x{magic:08x})")
    if expected_ndim is not None and ndim != expected_ndim:
        expected_magic = 0x800 + expected_ndim
        raise IdxFormatError(f"{name}: magic number 0x{magic:08x} announces {ndim} dimensions, expected "
                             f"{expected_ndim} (magic number 0x{expected_magic:08x})")
    header_size = 4 + 4 * ndim
    if len(content) < header_size:
        raise IdxFormatError(f"{name}: truncated header: {len(content)} bytes, the header alone needs {header_size}")
    shape = struct.unpack(f">{ndim}I", content[4:header_size])
    expected_size = header_size + math.prod(shape)  # Python ints: a corrupted header cannot overflow
    if len(content) < expected_size:
        raise IdxFormatError(f"{name}: truncated: the header announces shape {shape} ({expected_size} bytes) "
                             f"but the file has {len(content)} bytes")
    if len(content) > expected_size:
        raise IdxFormatError(f"{name}: {len(content) - expected_size} unexpected trailing bytes after the "
                             f"{expected_size} bytes that shape {shape} needs")
    # A writable copy: the dataset's arrays belong to the user.
    return np.frombuffer(content, dtype=np.uint8, offset=header_size).reshape(shape).copy()


def read_idx(path: str | os.PathLike, expected_ndim: int | None = None) -> np.ndarray:
    """Read an IDX file (gzip or raw) into a uint8 array, checking it as :func:`parse_idx` does.

    Examples
    --------
    >>> images = read_idx("train-images-idx3-ubyte.gz", expected_ndim=3)  # doctest: +SKIP
    """
    return parse_idx(read_idx_bytes(path), str(path), expected_ndim)


def sha256_of_content(path: str | os.PathLike) -> str:
    """The sha256 of the file's IDX content (decompressed when gzip): the same for every source."""
    return hashlib.sha256(read_idx_bytes(path)).hexdigest()


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of a uint8 array (header + values)."""
    array = np.asarray(array)
    if array.dtype != np.uint8:
        raise TypeError(f"idx_bytes: only uint8 arrays can be written, got {array.dtype}")
    if not 1 <= array.ndim <= 255:
        raise ValueError(f"idx_bytes: expected 1 to 255 dimensions, got shape {array.shape}")
    header = struct.pack(">HBB", 0, UNSIGNED_BYTE, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array).tobytes()


def write_idx(path: str | os.PathLike, array: np.ndarray, compress: bool | None = None) -> None:
    """Write a uint8 array as an IDX file, gzip-compressed when ``compress`` (default: name ends in .gz)."""
    path = Path(path)
    content = idx_bytes(array)
    if compress if compress is not None else path.suffix == ".gz":
        # mtime=0: the same array always gives the same bytes.
        content = gzip.compress(content, mtime=0)
    with open(path, "wb") as file:
        file.write(content)
