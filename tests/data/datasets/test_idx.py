"""IDX reader and writer: round trips and every corruption case."""

import gzip
import struct

import numpy as np
import pytest

from giagrad.data.datasets.idx import IdxFormatError, idx_bytes, parse_idx, read_idx, sha256_of_content, write_idx

IMAGES = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
LABELS = np.array([3, 1, 4, 1, 5], dtype=np.uint8)


@pytest.mark.parametrize("name", ["images-idx3-ubyte.gz", "images-idx3-ubyte"])
@pytest.mark.parametrize("array", [IMAGES, LABELS, np.zeros((2, 3, 4, 5), np.uint8), np.zeros((0, 28, 28), np.uint8)])
def test_round_trip(tmp_path, name, array):
    path = tmp_path / name
    write_idx(path, array)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == name.endswith(".gz")
    back = read_idx(path, expected_ndim=array.ndim)
    assert back.dtype == np.uint8 and back.shape == array.shape
    np.testing.assert_array_equal(back, array)
    back[...] = 0                                   # a writable copy


def test_magic_numbers_of_mnist_files():
    assert idx_bytes(IMAGES)[:16] == struct.pack(">IIII", 0x00000803, 5, 28, 28)
    assert idx_bytes(LABELS)[:8] == struct.pack(">II", 0x00000801, 5)


def test_gzip_and_raw_have_the_same_content_checksum(tmp_path):
    write_idx(tmp_path / "a.gz", LABELS)
    write_idx(tmp_path / "a", LABELS)
    (tmp_path / "b.gz").write_bytes(gzip.compress(idx_bytes(LABELS), compresslevel=1, mtime=123))
    digests = {sha256_of_content(tmp_path / n) for n in ("a.gz", "a", "b.gz")}
    assert len(digests) == 1


GOOD = idx_bytes(IMAGES)


@pytest.mark.parametrize("content, ndim, message", [
    (b"\x00\x00", None, "too short"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, None, "not an IDX file"),
    (b"hello world, this is a text file\n", None, "not an IDX file"),
    (b"\x00\x00\x0d\x03" + GOOD[4:], None, "value type 0x0d"),
    (b"\x00\x00\x08\x00", None, "not an IDX file"),
    (GOOD, 1, "announces 3 dimensions, expected 1"),
    (idx_bytes(LABELS), 3, "announces 1 dimensions, expected 3"),
    (GOOD[:10], None, "truncated header"),
    (GOOD[:-1], None, "truncated"),
    (GOOD[:16], None, "truncated"),
    (GOOD + b"\x00", None, "1 unexpected trailing bytes"),
    (struct.pack(">IIII", 0x803, 5, 28, 27) + GOOD[16:], None, "trailing bytes"),
    # sizes whose product overflows int64 (2**64 wraps to 0): still a truncated file, not a reshape error
    (struct.pack(">I4I", 0x804, *(65536,) * 4), None, "truncated"),
])
def test_corruptions_raise_naming_the_file(tmp_path, content, ndim, message):
    path = tmp_path / "broken-idx3-ubyte"
    path.write_bytes(content)
    with pytest.raises(IdxFormatError, match=message) as raised:
        read_idx(path, expected_ndim=ndim)
    assert str(path) in str(raised.value)
    with pytest.raises(IdxFormatError, match=message):
        parse_idx(content, "x", expected_ndim=ndim)


@pytest.mark.parametrize("cut", [10, 100, 1000])
def test_truncated_gzip_raises_naming_the_file(tmp_path, cut):
    path = tmp_path / "images.gz"
    path.write_bytes(gzip.compress(GOOD)[:cut])
    with pytest.raises(IdxFormatError, match="truncated or corrupted") as raised:
        read_idx(path)
    assert str(path) in str(raised.value)


def test_corrupted_gzip_body(tmp_path):
    data = bytearray(gzip.compress(GOOD))
    data[20:60] = b"\xff" * 40
    path = tmp_path / "images.gz"
    path.write_bytes(bytes(data))
    with pytest.raises(IdxFormatError, match=str(path).replace("\\", "\\\\")):
        read_idx(path)


def test_writer_checks_dtype():
    with pytest.raises(TypeError, match="uint8"):
        idx_bytes(np.zeros(3, np.float32))
    with pytest.raises(ValueError):
        idx_bytes(np.uint8(3))
