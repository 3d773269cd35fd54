"""giagrad.save / giagrad.load: round trips, atomic writes, and refusing bad files clearly."""

import json
import math
import os
import pathlib
import zipfile

import numpy as np
import pytest

import giagrad
from giagrad import nn
from giagrad.serialization import METADATA_ENTRY, CheckpointError


def assert_same(a, b):
    """Deep equality that also checks types, dtypes and requires_grad."""
    assert type(a) is type(b), (type(a), type(b))
    if isinstance(a, giagrad.Tensor):
        assert a.dtype == b.dtype and a.requires_grad == b.requires_grad
        np.testing.assert_array_equal(a.data, b.data)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, dict):
        assert list(a) == list(b) and [type(k) for k in a] == [type(k) for k in b]
        for key in a:
            assert_same(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y)
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b)
    else:
        assert a == b


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 6), nn.Linear(6, 3))
        self.register_buffer("counter", giagrad.tensor([7]))

    def forward(self, x):
        return self.body(x) + self.counter


# -------------------------------------------------------------------------------- round trips


def test_round_trip_of_a_nested_checkpoint(tmp_path):
    rng_state = np.random.default_rng(123).bit_generator.state  # holds 128-bit integers
    checkpoint = {
        "model": {"0.weight": giagrad.randn(3, 2), "0.bias": giagrad.zeros(3, dtype=np.float64)},
        "optimizer": {
            "state": {0: {"step": 12, "exp_avg": np.ones((3, 2), np.float32)}, 1: {}},
            "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "params": [0, 1], "nesterov": False,
                              "maximize": None}],
        },
        "history": {"loss": [2.5, 1.25, float("nan"), float("inf")], "epoch": [1, 2, 3, 4]},
        "rng": rng_state,
        "huge": 2**200, "negative": -(2**70),
        "scalars": [np.float32(0.5), np.int64(-3), np.bool_(True), np.float64(0.1)],
        "arrays": [np.arange(6, dtype=np.int64).reshape(2, 3).T, np.array(3.5, np.float16),
                   np.zeros((0, 4), np.uint8), np.array([True, False])],
        "text": "ünïcode ✓", "empty": {}, "nothing": None, "flags": (True, 1, 1.0),
        "keys": {3: "int", "3": "str", True: "bool", None: "none", 2.5: "float"},
        "grad": giagrad.ones(2, requires_grad=True),
    }
    path = tmp_path / "checkpoint.npz"
    giagrad.save(checkpoint, path)
    loaded = giagrad.load(path)
    assert_same(checkpoint, loaded)
    assert loaded["huge"] == 2**200 and type(loaded["rng"]["state"]["state"]) is int
    assert loaded["rng"] == rng_state


def test_rng_state_round_trip_reproduces_draws(tmp_path):
    giagrad.manual_seed(5)
    giagrad.save({"rng": giagrad.get_rng_state()}, tmp_path / "rng.npz")
    expected = giagrad.randn(4).data
    giagrad.manual_seed(99)
    giagrad.set_rng_state(giagrad.load(tmp_path / "rng.npz")["rng"])
    np.testing.assert_array_equal(giagrad.randn(4).data, expected)


def test_model_state_dict_round_trip_gives_the_same_outputs(tmp_path):
    source, target = Net(), Net()
    target.counter = giagrad.tensor([0])
    x = giagrad.randn(5, 4)
    giagrad.save(source.state_dict(), tmp_path / "model.npz")
    state = giagrad.load(tmp_path / "model.npz")
    assert list(state) == ["counter", "body.0.weight", "body.0.bias", "body.1.weight", "body.1.bias"]  # as PyTorch
    target.load_state_dict(state)
    np.testing.assert_array_equal(target(x).data, source(x).data)
    assert target.body[0].weight.dtype == np.float32


def test_shared_arrays_are_stored_once_and_come_back_shared(tmp_path):
    weight = giagrad.randn(100, 100)
    giagrad.save({"a": weight, "b": weight.detach(), "c": weight.data}, tmp_path / "tied.npz")
    with np.load(tmp_path / "tied.npz", allow_pickle=False) as archive:
        assert sorted(archive.files) == sorted(["a0", METADATA_ENTRY])
    loaded = giagrad.load(tmp_path / "tied.npz")
    assert loaded["a"].data is loaded["b"].data is loaded["c"]


def test_file_is_a_plain_npz_with_json_metadata(tmp_path):
    giagrad.save({"w": np.arange(3.0)}, tmp_path / "x.npz")
    with np.load(tmp_path / "x.npz", allow_pickle=False) as archive:
        metadata = json.loads(archive[METADATA_ENTRY].tobytes())
        np.testing.assert_array_equal(archive["a0"], np.arange(3.0))
    assert metadata["format"] == "giagrad.save" and metadata["version"] == 1 and len(metadata["sha256"]) == 64


def test_path_is_used_as_given_and_overwritten(tmp_path):
    path = tmp_path / "weights.ckpt"
    giagrad.save([1], str(path))
    giagrad.save([2], pathlib.Path(path))
    assert giagrad.load(path) == [2]
    assert sorted(os.listdir(tmp_path)) == ["weights.ckpt"]


def test_saved_file_gets_ordinary_permissions(tmp_path):
    umask = os.umask(0)
    os.umask(umask)
    giagrad.save({}, tmp_path / "p.npz")
    assert os.stat(tmp_path / "p.npz").st_mode & 0o777 == 0o666 & ~umask


# -------------------------------------------------------------------------------- atomicity


def test_a_crash_midway_keeps_the_previous_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.npz"
    giagrad.save({"epoch": 1, "w": np.ones(3)}, path)
    before = path.read_bytes()

    def failing_savez(file, *args, **kwargs):
        file.write(b"PK\x03\x04 half a checkpoint")
        raise OSError("No space left on device")

    monkeypatch.setattr(np, "savez", failing_savez)
    with pytest.raises(OSError, match="No space left"):
        giagrad.save({"epoch": 2, "w": np.zeros(3)}, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["checkpoint.npz"]
    monkeypatch.undo()
    assert giagrad.load(path)["epoch"] == 1


def test_an_interrupt_during_the_rename_step_also_cleans_up(tmp_path, monkeypatch):
    path = tmp_path / "c.npz"

    def interrupted_replace(source, destination):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted_replace)
    with pytest.raises(KeyboardInterrupt):
        giagrad.save({"a": 1}, path)
    assert os.listdir(tmp_path) == []


def test_unsupported_objects_fail_before_anything_is_written(tmp_path):
    path = tmp_path / "c.npz"
    giagrad.save({"ok": 1}, path)
    with pytest.raises(TypeError, match=r"set at obj\['state'\]\[0\]\['momentum'\]"):
        giagrad.save({"state": {0: {"momentum": {1, 2}}}}, path)
    assert giagrad.load(path) == {"ok": 1} and os.listdir(tmp_path) == ["c.npz"]


@pytest.mark.parametrize("obj, where", [
    ({"f": lambda x: x}, r"function at obj\['f'\]"),
    ([np.array([object()])], r"dtype object at obj\[0\]"),
    ({(1, 2): 3}, "dict key of type tuple"),
    ({"m": nn.Linear(1, 1)}, r"Linear at obj\['m'\]"),
    (b"bytes", "bytes at obj"),
])
def test_unsupported_types_name_their_key_path(tmp_path, obj, where):
    with pytest.raises(TypeError, match=where):
        giagrad.save(obj, tmp_path / "x.npz")


# ------------------------------------------------------------------------------- bad files


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        giagrad.load(tmp_path / "nope.npz")


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.99])
def test_truncated_file(tmp_path, keep):
    path = tmp_path / "big.npz"
    giagrad.save({"w": giagrad.randn(64, 64), "b": giagrad.randn(64)}, path)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(CheckpointError, match="big.npz"):
        giagrad.load(path)


def test_foreign_files(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("epoch 3: loss 0.25\n")
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    npy = tmp_path / "array.npy"
    np.save(npy, np.arange(3))
    other_npz = tmp_path / "other.npz"
    np.savez(other_npz, weights=np.ones(3))
    other_zip = tmp_path / "other.zip"
    with zipfile.ZipFile(other_zip, "w") as archive:
        archive.writestr("readme.txt", "hello")
    for path in (text, empty, npy, other_npz, other_zip):
        with pytest.raises(CheckpointError, match=path.name):
            giagrad.load(path)
    with pytest.raises(ValueError):  # CheckpointError is a ValueError
        giagrad.load(text)


def rewrite(path, change):
    """Rewrite a checkpoint's entries after ``change(entries)`` (keeping a valid zip)."""
    with np.load(path, allow_pickle=False) as archive:
        entries = {name: archive[name] for name in archive.files}
    change(entries)
    with open(path, "wb") as file:
        np.savez(file, **entries)


def test_tampered_array_fails_the_digest(tmp_path):
    path = tmp_path / "c.npz"
    giagrad.save({"w": np.arange(10.0)}, path)

    def tamper(entries):
        entries["a0"] = entries["a0"].copy()
        entries["a0"][3] = 1e6

    rewrite(path, tamper)
    with pytest.raises(CheckpointError, match="c.npz.*digest"):
        giagrad.load(path)


def test_a_changed_dtype_fails_the_digest(tmp_path):
    path = tmp_path / "c.npz"
    giagrad.save({"w": np.arange(4, dtype=np.int64)}, path)
    rewrite(path, lambda entries: entries.update(a0=entries["a0"].view(np.float64)))
    with pytest.raises(CheckpointError, match="digest"):
        giagrad.load(path)


def test_flipped_bytes_are_detected(tmp_path):
    path = tmp_path / "c.npz"
    giagrad.save({"w": np.zeros(1000)}, path)
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="c.npz"):
        giagrad.load(path)


def test_a_newer_format_version_is_refused(tmp_path):
    path = tmp_path / "c.npz"
    giagrad.save({"a": 1}, path)

    def bump(entries):
        metadata = json.loads(entries[METADATA_ENTRY].tobytes())
        metadata["version"] = 99
        entries[METADATA_ENTRY] = np.frombuffer(json.dumps(metadata).encode(), np.uint8)

    rewrite(path, bump)
    with pytest.raises(CheckpointError, match="version 99"):
        giagrad.load(path)


def test_loading_never_unpickles(tmp_path):
    # A file claiming to be a checkpoint but holding a pickled object array is refused, not run.
    path = tmp_path / "evil.npz"
    giagrad.save({"w": np.zeros(2)}, path)
    with np.load(path, allow_pickle=False) as archive:
        metadata = archive[METADATA_ENTRY]
    with open(path, "wb") as file:
        np.savez(file, allow_pickle=True, a0=np.array([print], dtype=object), **{METADATA_ENTRY: metadata})
    with pytest.raises(CheckpointError, match="evil.npz"):
        giagrad.load(path)


def test_malformed_metadata_is_a_checkpoint_error(tmp_path):
    path = tmp_path / "c.npz"
    giagrad.save({"w": np.zeros(2)}, path)

    def break_structure(entries):
        metadata = json.loads(entries[METADATA_ENTRY].tobytes())
        metadata["object"] = {"type": "dict", "items": [["w", {"type": "tensor", "array": "a7"}]]}
        entries[METADATA_ENTRY] = np.frombuffer(json.dumps(metadata).encode(), np.uint8)

    rewrite(path, break_structure)
    with pytest.raises(CheckpointError, match="malformed"):
        giagrad.load(path)
    rewrite(path, lambda entries: entries.update({METADATA_ENTRY: np.frombuffer(b"\xff{", np.uint8)}))
    with pytest.raises(CheckpointError, match="unreadable"):
        giagrad.load(path)


def small_checkpoint():
    giagrad.manual_seed(0)
    model = nn.Linear(3, 2)
    optimizer = giagrad.optim.Adam(model.parameters())
    model(giagrad.randn(4, 3)).sum().backward()
    optimizer.step()
    return {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": 3, "name": "run"}


def test_every_single_byte_corruption_is_a_checkpoint_error_or_harmless(tmp_path):
    # Each byte of a small checkpoint (about 2.8 kB) inverted, and every fourth one with its low
    # bit flipped: the load either raises CheckpointError naming the file or gives exactly the
    # saved object (a byte that zip does not read, such as a timestamp).
    original = tmp_path / "ok.npz"
    giagrad.save(small_checkpoint(), original)
    obj = giagrad.load(original)
    raw = original.read_bytes()
    path = tmp_path / "corrupt.npz"
    escaped = []
    for position in range(len(raw)):
        for change in (0xFF, 0x01) if position % 4 == 0 else (0xFF,):
            data = bytearray(raw)
            data[position] ^= change
            path.write_bytes(bytes(data))
            try:
                loaded = giagrad.load(path)
            except CheckpointError as error:
                if "corrupt.npz" not in str(error):
                    escaped.append((position, change, f"no path in {error}"))
                continue
            except Exception as error:  # noqa: BLE001 - the point of the test
                escaped.append((position, change, f"{type(error).__name__}: {error}"))
                continue
            try:
                assert_same(obj, loaded)
            except AssertionError:
                escaped.append((position, change, "loaded a different object"))
    assert escaped == []


def deep_metadata_file(path, depth):
    giagrad.save({"w": np.zeros(2)}, path)
    # written by hand: json.dumps itself cannot nest 5,000 deep
    node = '{"type": "list", "items": [' * depth + "1" + "]}" * depth

    def deepen(entries):
        metadata = json.loads(entries[METADATA_ENTRY].tobytes())
        metadata["object"] = "OBJECT"
        text = json.dumps(metadata).replace('"OBJECT"', node)
        entries[METADATA_ENTRY] = np.frombuffer(text.encode(), np.uint8)

    rewrite(path, deepen)


@pytest.mark.parametrize("depth", [300, 5000])
def test_deeply_nested_metadata_is_a_checkpoint_error(tmp_path, depth):
    path = tmp_path / "deep.npz"
    deep_metadata_file(path, depth)
    with pytest.raises(CheckpointError, match="deep.npz"):
        giagrad.load(path)


def test_saving_a_too_deeply_nested_object_names_the_target(tmp_path):
    nested: list = []
    inner = nested
    for _ in range(5000):
        inner.append([])
        inner = inner[0]
    with pytest.raises(ValueError, match="nested more than 200 levels.*deep.npz"):
        giagrad.save(nested, tmp_path / "deep.npz")
    assert list(tmp_path.iterdir()) == []


def test_save_errors_name_the_target_not_the_temporary_file(tmp_path):
    target = tmp_path / "missing-folder" / "c.npz"
    with pytest.raises(FileNotFoundError) as raised:
        giagrad.save({"a": 1}, target)
    assert str(target) in str(raised.value) and ".tmp" not in str(raised.value)
    (tmp_path / "folder.npz").mkdir()
    with pytest.raises(OSError) as raised:
        giagrad.save({"a": 1}, tmp_path / "folder.npz")
    assert "folder.npz'" in str(raised.value) and ".tmp" not in str(raised.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder.npz"]


def test_a_directory_is_not_a_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="is a directory"):
        giagrad.load(tmp_path)
