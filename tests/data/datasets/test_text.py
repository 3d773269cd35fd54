"""Character-level text: vocabulary, encode/decode, the split by position, blocks, the bundled corpus."""

import gzip

import numpy as np
import pytest

from giagrad.data import DataLoader, RandomSampler
from giagrad.data.datasets import CharacterText, TextBlocks
from giagrad.data.datasets import text as text_module


def test_vocabulary_is_the_sorted_characters_and_encode_decode_round_trip():
    text = CharacterText("hello, wörld ✓")
    assert text.chars == sorted(set("hello, wörld ✓"))
    ids = text.encode("wörld")
    assert ids.dtype == np.int64 and text.decode(ids) == "wörld"
    assert text.decode(text.ids) == "hello, wörld ✓"


def test_split_by_position_first_ninety_percent_trains():
    text = CharacterText("abcdefghij" * 10)
    assert len(text.train_ids) == 90 and len(text.val_ids) == 10
    assert text.decode(text.val_ids) == "abcdefghij"
    assert len(CharacterText("ab" * 50, train_fraction=0.5).train_ids) == 50


def test_from_file_reads_utf8_and_gzip(tmp_path):
    plain, packed = tmp_path / "a.txt", tmp_path / "a.txt.gz"
    plain.write_text("ça va\n", encoding="utf-8")
    packed.write_bytes(gzip.compress("ça va\n".encode()))
    assert CharacterText.from_file(plain).decode(CharacterText.from_file(packed).ids) == "ça va\n"


@pytest.mark.parametrize("call, error, message", [
    (lambda tmp: CharacterText("a"), ValueError, "at least 2 characters"),
    (lambda tmp: CharacterText(b"ab"), TypeError, "must be a str"),
    (lambda tmp: CharacterText("abc", train_fraction=1.0), ValueError, "train_fraction"),
    (lambda tmp: CharacterText("abc").encode("abz"), ValueError, "'z' is not in the vocabulary"),
    (lambda tmp: CharacterText("abc").decode([0, 3]), ValueError, "ids must be in"),
    (lambda tmp: CharacterText.from_file(tmp / "missing.txt"), FileNotFoundError, "cannot read"),
])
def test_bad_input_is_named(call, error, message, tmp_path):
    with pytest.raises(error, match=message):
        call(tmp_path)


def test_non_utf8_file_is_refused(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("café".encode("latin-1"))
    with pytest.raises(ValueError, match="not UTF-8"):
        CharacterText.from_file(path)


def test_blocks_are_input_and_target_shifted_by_one():
    blocks = TextBlocks(np.arange(20, dtype=np.uint8), block_size=5)
    assert len(blocks) == 15  # start positions 0..14 leave room for 5 + 1 ids
    x, y = blocks[14]
    assert x.tolist() == [14, 15, 16, 17, 18] and y.tolist() == [15, 16, 17, 18, 19]
    inputs, targets = blocks.get_batch(np.array([0, 3]))
    assert inputs.shape == (2, 5) and inputs.dtype == np.int64
    np.testing.assert_array_equal(inputs[:, 1:], targets[:, :-1])


def test_strided_blocks_tile_the_text_without_overlap():
    blocks = TextBlocks(np.arange(21), block_size=5, stride=5)
    assert len(blocks) == 4
    starts = [int(blocks[i][0][0]) for i in range(len(blocks))]
    assert starts == [0, 5, 10, 15]


def test_random_blocks_through_a_dataloader_are_reproducible():
    blocks = TextBlocks(np.arange(1000), block_size=8)

    def first_batch():
        loader = DataLoader(blocks, batch_size=4, sampler=RandomSampler(blocks, replacement=True, num_samples=8,
                                                                        seed=3))
        return next(iter(loader))

    (x1, y1), (x2, _) = first_batch(), first_batch()
    assert x1.shape == (4, 8) and np.array_equal(x1.numpy(), x2.numpy())
    np.testing.assert_array_equal(y1.numpy(), x1.numpy() + 1)


@pytest.mark.parametrize("kwargs, message", [
    ({"block_size": 0}, "block_size"), ({"block_size": 4, "stride": 0}, "stride"), ({"block_size": 10}, "too few"),
])
def test_blocks_check_their_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TextBlocks(np.arange(10), **kwargs)


def test_bundled_tiny_shakespeare():
    text = CharacterText.tiny_shakespeare()
    assert len(text) == 1_115_394 and text.vocab_size == 65
    assert text.decode(text.ids[:14]) == "First Citizen:"
    assert len(text.val_ids) == 111_540


def test_damaged_bundle_is_detected(monkeypatch):
    monkeypatch.setattr(text_module, "TINY_SHAKESPEARE_SHA256", "0" * 64)
    text_module._tiny_shakespeare_text.cache_clear()
    try:
        with pytest.raises(OSError, match="damaged"):
            CharacterText.tiny_shakespeare()
    finally:
        text_module._tiny_shakespeare_text.cache_clear()
