"""Transforms: values, shapes, dtypes, and per-sample results equal to the batch path."""

import numpy as np
import pytest

import giagrad
from giagrad.data.transforms import (
    Compose,
    Flatten,
    Lambda,
    Normalize,
    RandomCrop,
    RandomHorizontalFlip,
    ToTensor,
    apply_batch,
)

RNG = np.random.default_rng(0)
GRAY = RNG.integers(0, 256, (6, 5, 7), dtype=np.uint8)            # 6 images of 5 x 7
COLOR = RNG.integers(0, 256, (6, 5, 7, 3), dtype=np.uint8)        # 6 images of 5 x 7 x 3
CHW = RNG.random((6, 3, 5, 7)).astype(np.float32)


def test_to_tensor_values_and_shapes():
    out = ToTensor()(GRAY[0])
    assert isinstance(out, giagrad.Tensor)
    assert out.shape == (1, 5, 7) and out.dtype == np.float32
    np.testing.assert_array_equal(out.data[0], GRAY[0].astype(np.float32) / np.float32(255))
    assert ToTensor()(np.array([[0, 255]], np.uint8)).data.tolist() == [[[0.0, 1.0]]]
    assert ToTensor()(COLOR[0]).shape == (3, 5, 7)
    np.testing.assert_array_equal(ToTensor()(COLOR[0]).data[2], COLOR[0][..., 2] / np.float32(255))
    assert ToTensor().apply_batch(GRAY).shape == (6, 1, 5, 7)
    assert ToTensor().apply_batch(COLOR).shape == (6, 3, 5, 7)
    floats = np.full((2, 2), 3.0, np.float64)
    assert ToTensor()(floats).dtype == np.float64 and ToTensor()(floats).data.max() == 3.0


@pytest.mark.parametrize("bad", [np.zeros(3, np.uint8), np.zeros((1, 2, 3, 4), np.uint8)])
def test_to_tensor_rejects_wrong_shapes(bad):
    with pytest.raises(ValueError, match="ToTensor"):
        ToTensor()(bad)


def test_normalize_values_and_dtype():
    out = Normalize((0.5, 0.25, 0.0), (0.5, 0.5, 2.0))(CHW[0])
    assert out.dtype == np.float32
    expected = (CHW[0] - np.array([0.5, 0.25, 0.0])[:, None, None]) / np.array([0.5, 0.5, 2.0])[:, None, None]
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    single = Normalize((0.1307,), (0.3081,))(np.ones((784,), np.float32))
    assert single.dtype == np.float32 and np.allclose(single, (1 - 0.1307) / 0.3081)
    assert Normalize(0.5, 0.5)(np.ones((1, 2, 2), np.float64)).dtype == np.float64
    with pytest.raises(ValueError):
        Normalize((0.5, 0.5), (1.0,))
    with pytest.raises(ValueError):
        Normalize((0.5,), (0.0,))
    with pytest.raises(ValueError, match="channel"):
        Normalize((0.5, 0.5), (1.0, 1.0))(CHW[0])
    with pytest.raises(TypeError, match="ToTensor"):
        Normalize(0.5, 0.5)(GRAY[0])


def test_flatten():
    assert Flatten()(CHW[0]).shape == (105,)
    assert Flatten().apply_batch(CHW).shape == (6, 105)


def test_random_crop_with_padding_stays_inside_the_padded_image():
    image = np.arange(1, 26, dtype=np.uint8).reshape(5, 5)
    crops = {RandomCrop(5, padding=2)(image).tobytes() for _ in range(60)}
    assert len(crops) > 5
    for _ in range(20):
        out = RandomCrop(3, padding=1)(image)
        assert out.shape == (3, 3)
        inner = out[out > 0]
        assert set(inner.tolist()) <= set(image.ravel().tolist())
    full = RandomCrop((5, 5))(image)
    np.testing.assert_array_equal(full, image)
    with pytest.raises(ValueError, match="larger"):
        RandomCrop(6)(image)


def test_random_crop_matches_a_window():
    giagrad.manual_seed(0)
    image = np.arange(49, dtype=np.float32).reshape(7, 7)
    out = RandomCrop(3)(image)
    top, left = int(out[0, 0]) // 7, int(out[0, 0]) % 7
    np.testing.assert_array_equal(out, image[top:top + 3, left:left + 3])


def test_random_horizontal_flip():
    image = np.array([[1, 2, 3]])
    assert RandomHorizontalFlip(p=1.0)(image).tolist() == [[3, 2, 1]]
    assert RandomHorizontalFlip(p=0.0)(image).tolist() == [[1, 2, 3]]
    flipped = RandomHorizontalFlip(p=0.5).apply_batch(np.repeat(image[None], 400, axis=0))
    share = (flipped[:, 0, 0] == 3).mean()
    assert 0.4 < share < 0.6
    with pytest.raises(ValueError):
        RandomHorizontalFlip(p=1.5)


@pytest.mark.parametrize("transform, batch", [
    (ToTensor(), GRAY),
    (ToTensor(), COLOR),
    (Normalize((0.5, 0.25, 0.0), (0.5, 0.5, 2.0)), CHW),
    (Normalize((0.2,), (0.3,)), CHW),
    (Flatten(), CHW),
    (RandomCrop(4, padding=2), GRAY),
    (RandomCrop((3, 5), padding=(1, 0)), CHW),
    (RandomHorizontalFlip(), COLOR),
    (RandomHorizontalFlip(), CHW),
    (Compose([ToTensor(), Normalize((0.1307,), (0.3081,)), Flatten()]), GRAY),
    (Lambda(lambda x: x * 2), GRAY),
])
def test_batch_path_equals_per_sample(transform, batch):
    giagrad.manual_seed(3)
    batched = transform.apply_batch(batch)
    giagrad.manual_seed(3)
    samples = [transform(sample) for sample in batch]
    stacked = np.stack([s.data if isinstance(s, giagrad.Tensor) else s for s in samples])
    assert batched.dtype == stacked.dtype
    np.testing.assert_array_equal(batched, stacked)


def test_apply_batch_of_a_plain_function_loops():
    out = apply_batch(lambda x: x.sum(), GRAY)
    assert out.shape == (6,)


def test_tensor_in_tensor_out():
    out = Flatten()(giagrad.tensor(CHW[0]))
    assert isinstance(out, giagrad.Tensor) and out.shape == (105,)


@pytest.mark.parametrize("images, mean, std", [
    (GRAY, (0.1307,), (0.3081,)),
    (COLOR, (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)),
])
def test_compose_fuses_to_tensor_and_normalize_up_to_rounding(images, mean, std):
    fused = Compose([ToTensor(), Normalize(mean, std)])
    stepwise = Normalize(mean, std).apply_batch(ToTensor().apply_batch(images))
    batched = fused.apply_batch(images)
    assert batched.dtype == np.float32 and batched.shape == stepwise.shape
    np.testing.assert_allclose(batched, stepwise, rtol=1e-6, atol=1e-6)
    one = fused(images[0])
    assert isinstance(one, giagrad.Tensor)
    np.testing.assert_array_equal(one.data, batched[0])


def test_compose_with_float_pixels_normalizes_without_scaling():
    floats = np.full((2, 3, 3), 0.5, np.float32)
    out = Compose([ToTensor(), Normalize((0.25,), (0.5,))]).apply_batch(floats)
    np.testing.assert_allclose(out, 0.5)


def test_compose_honours_edits_to_its_list():
    compose = Compose([ToTensor(), Flatten()])
    assert compose.apply_batch(GRAY).shape == (6, 35)
    compose.transforms.pop()
    assert compose.apply_batch(GRAY).shape == (6, 1, 5, 7)
    compose.transforms.append(Normalize((0.5,), (0.5,)))
    np.testing.assert_allclose(compose.apply_batch(GRAY), (GRAY[:, None] / 255 - 0.5) / 0.5, rtol=1e-5, atol=1e-5)
