"""giagrad.save / giagrad.load with .safetensors paths: round trips, PyTorch interchange, bad files."""

import os

import numpy as np
import pytest

import giagrad
from giagrad import nn
from giagrad.serialization import CheckpointError

pytest.importorskip("safetensors", reason="the safetensors extra is not installed")


def small_cnn():
    """Conv - BatchNorm - ReLU - Flatten - Linear: parameters, running statistics and an int64 counter."""
    return nn.Sequential(nn.Conv2d(2, 4, kernel_size=3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.Flatten(), nn.Linear(4 * 5 * 5, 3))


def trained_small_cnn(seed=0):
    """A small CNN whose batch-norm statistics have moved off their initial values."""
    giagrad.manual_seed(seed)
    model = small_cnn()
    model(giagrad.randn(8, 2, 5, 5) * 3 + 1)
    return model.eval()


def test_state_dict_round_trip_gives_identical_outputs(tmp_path):
    model = trained_small_cnn()
    path = tmp_path / "model.safetensors"
    giagrad.save(model.state_dict(), path)
    state = giagrad.load(str(path))
    assert set(state) == set(model.state_dict())
    assert state["1.num_batches_tracked"].dtype == np.int64 and int(state["1.num_batches_tracked"].item()) == 1
    clone = small_cnn().eval()
    clone.load_state_dict(state)
    x = giagrad.randn(2, 2, 5, 5)
    np.testing.assert_array_equal(clone(x).data, model(x).data)


def test_suffix_is_case_insensitive_and_file_is_plain_safetensors(tmp_path):
    from safetensors.numpy import load_file

    path = tmp_path / "weights.SafeTensors"
    giagrad.save({"w": giagrad.ones(2, 3), "n": np.arange(4, dtype=np.int32)}, path)
    arrays = load_file(str(path))
    assert arrays["w"].dtype == np.float32 and arrays["n"].dtype == np.int32
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]


@pytest.mark.parametrize("state, message", [
    ([giagrad.ones(2)], "flat dict"),
    ({"epoch": 3}, "'epoch'"),
    ({"nested": {"w": giagrad.ones(2)}}, "'nested'"),
    ({"text": np.array(["a"])}, "'text'"),
])
def test_what_the_format_cannot_hold_is_refused_before_writing(tmp_path, state, message):
    path = tmp_path / "bad.safetensors"
    with pytest.raises(TypeError, match=message):
        giagrad.save(state, path)
    assert not path.exists()


def saved_file(tmp_path):
    path = tmp_path / "model.safetensors"
    giagrad.save(trained_small_cnn().state_dict(), path)
    return path


@pytest.mark.parametrize("damage", ["truncate_half", "truncate_header", "empty", "garbage", "huge_header_length",
                                    "header_not_json", "npz_renamed"])
def test_bad_files_raise_a_checkpoint_error_naming_the_file(tmp_path, damage):
    path = saved_file(tmp_path)
    content = path.read_bytes()
    header_length = int.from_bytes(content[:8], "little")
    damaged = {
        "truncate_half": content[: len(content) // 2],
        "truncate_header": content[: 8 + header_length // 2],
        "empty": b"",
        "garbage": bytes(range(256)) * 4,
        "huge_header_length": (2**40).to_bytes(8, "little") + content[8:],
        "header_not_json": content[:8] + b"\x00" * header_length + content[8 + header_length:],
    }
    if damage == "npz_renamed":
        giagrad.save({"w": giagrad.ones(2)}, tmp_path / "other.npz")
        damaged[damage] = (tmp_path / "other.npz").read_bytes()
    path.write_bytes(damaged[damage])
    with pytest.raises(CheckpointError, match="model.safetensors"):
        giagrad.load(path)


def test_a_changed_array_fails_the_digest(tmp_path):
    path = saved_file(tmp_path)
    content = bytearray(path.read_bytes())
    content[-3] ^= 0xFF  # a byte of the last array's data: the header stays valid
    path.write_bytes(bytes(content))
    with pytest.raises(CheckpointError, match="sha256"):
        giagrad.load(path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.safetensors"):
        giagrad.load(tmp_path / "nothing.safetensors")


# ------------------------------------------------------------------------------ with PyTorch


def torch_small_cnn(torch):
    return torch.nn.Sequential(torch.nn.Conv2d(2, 4, kernel_size=3, padding=1), torch.nn.BatchNorm2d(4),
                               torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(4 * 5 * 5, 3))


def test_weights_saved_by_pytorch_load_into_giagrad_with_identical_outputs(tmp_path):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed: the interchange test needs it")
    from safetensors.torch import save_file

    torch.manual_seed(0)
    reference = torch_small_cnn(torch)
    reference(torch.randn(8, 2, 5, 5) * 3 + 1)  # move the running statistics
    reference.eval()
    path = tmp_path / "torch.safetensors"
    save_file(reference.state_dict(), str(path))

    model = small_cnn().eval()
    model.load_state_dict(giagrad.load(path))
    x = np.random.default_rng(1).standard_normal((3, 2, 5, 5)).astype(np.float32)
    with torch.no_grad():
        expected = reference(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(model(giagrad.tensor(x)).data, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(model[1].running_var.data, reference[1].running_var.numpy())
    assert int(model[1].num_batches_tracked.item()) == 1


def test_weights_saved_by_giagrad_load_into_pytorch_with_identical_outputs(tmp_path):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed: the interchange test needs it")
    from safetensors.torch import load_file

    model = trained_small_cnn(seed=3)
    path = tmp_path / "giagrad.safetensors"
    giagrad.save(model.state_dict(), path)

    reference = torch_small_cnn(torch)
    reference.load_state_dict(load_file(str(path)))  # strict: every name and shape matches
    reference.eval()
    x = np.random.default_rng(2).standard_normal((3, 2, 5, 5)).astype(np.float32)
    with torch.no_grad():
        expected = reference(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(model(giagrad.tensor(x)).data, expected, rtol=1e-5, atol=1e-5)
    assert reference[1].num_batches_tracked.dtype == torch.int64
