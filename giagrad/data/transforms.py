"""Transforms for image samples: per sample, and on a whole batch where the transform allows it.

Every transform is called on one sample (``transform(image)``) and has ``apply_batch(images)``
for a batch whose first dimension indexes the samples. The batch form gives the same result as
calling the transform on each sample and stacking, but runs as a few numpy calls on the whole
batch. Random transforms draw per-sample randomness (one crop position, one coin per image) from
``giagrad.random.generator()``, in the same order either way, so for one transform a batch equals
the per-sample results for the same generator state. (A ``Compose`` of several random transforms
draws all crops and then all flips for a batch, rather than crop and flip per sample: the same
distribution, not the same numbers.)

Samples are numpy arrays (or giagrad Tensors, which get a Tensor back); images are ``H x W``
(grayscale, as MNIST stores them), ``H x W x C`` before :class:`ToTensor`, ``C x H x W`` after.

Examples
--------
>>> transform = Compose([ToTensor(), Normalize((0.1307,), (0.3081,)), Flatten()])
>>> transform(np.zeros((28, 28), np.uint8)).shape
(784,)
>>> transform.apply_batch(np.zeros((64, 28, 28), np.uint8)).shape
(64, 784)
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from typing import Any, cast

import numpy as np

from giagrad import random as _random
from giagrad.tensor import Tensor

__all__ = [
    "Transform", "Compose", "ToTensor", "Normalize", "Flatten", "RandomCrop", "RandomHorizontalFlip", "Lambda",
    "apply_batch",
]


def apply_batch(transform: Callable[[Any], Any], batch: np.ndarray) -> np.ndarray:
    """Apply ``transform`` to a batch: its ``apply_batch`` when it has one, else sample by sample."""
    batch_form = getattr(transform, "apply_batch", None)
    if batch_form is not None:
        return batch_form(batch)
    results = [transform(sample) for sample in batch]
    return np.stack([r.data if isinstance(r, Tensor) else np.asarray(r) for r in results])


class Transform:
    """Base class: write ``_apply(array, batched)`` working on numpy arrays.

    ``batched`` says whether the first dimension indexes samples. ``__call__`` handles one sample
    (a Tensor in gives a Tensor out); ``apply_batch`` a whole batch of numpy arrays.
    """

    def _apply(self, array: np.ndarray, batched: bool) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} has no _apply")

    def __call__(self, sample: Any) -> Any:
        if isinstance(sample, Tensor):
            return Tensor(self._apply(sample.data, batched=False))
        return self._apply(np.asarray(sample), batched=False)

    def apply_batch(self, batch: Any) -> np.ndarray:
        """Transform a batch (first dimension = samples) at once."""
        return self._apply(batch.data if isinstance(batch, Tensor) else np.asarray(batch), batched=True)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Compose(Transform):
    """Apply transforms one after the other.

    ``ToTensor()`` directly followed by ``Normalize(mean, std)`` runs as one affine map of the
    uint8 pixels, ``x * (1 / (255 std)) - mean / std``, in place on the converted array: three passes
    over the pixels instead of four, and one new array instead of two. It equals the two steps up
    to float32 rounding (a few units in the last place).

    Examples
    --------
    >>> Compose([ToTensor(), Flatten()])(np.zeros((2, 2), np.uint8)).shape
    (4,)
    """

    def __init__(self, transforms: Sequence[Callable[[Any], Any]]) -> None:
        self.transforms = list(transforms)
        self._planned_for: list[Callable[[Any], Any]] = []
        self._plan: list[Callable[[Any], Any]] = []

    def _steps(self) -> list[Callable[[Any], Any]]:
        # Planned once, and again if `self.transforms` was edited (compared element by element).
        if self._planned_for != self.transforms:
            self._plan = self._fuse(self.transforms)
            self._planned_for = list(self.transforms)
        return self._plan

    @staticmethod
    def _fuse(transforms: list[Callable[[Any], Any]]) -> list[Callable[[Any], Any]]:
        steps: list[Callable[[Any], Any]] = []
        i = 0
        while i < len(transforms):
            if type(transforms[i]) is ToTensor and i + 1 < len(transforms) and type(transforms[i + 1]) is Normalize:
                steps.append(_NormalizedToTensor(cast(Normalize, transforms[i + 1])))
                i += 2
            else:
                steps.append(transforms[i])
                i += 1
        return steps

    def __call__(self, sample: Any) -> Any:
        for transform in self._steps():
            sample = transform(sample)
        return sample

    def apply_batch(self, batch: Any) -> np.ndarray:
        batch = batch.data if isinstance(batch, Tensor) else batch
        for transform in self._steps():
            batch = apply_batch(transform, batch)
        return batch

    def __repr__(self) -> str:
        inner = ", ".join(repr(t) for t in self.transforms)
        return f"Compose([{inner}])"


class Lambda(Transform):
    """Wrap a function of one sample (applied sample by sample to a batch)."""

    def __init__(self, function: Callable[[Any], Any]) -> None:
        if not callable(function):
            raise TypeError(f"Lambda: expected a callable, got {type(function).__name__}")
        self.function = function

    def __call__(self, sample: Any) -> Any:
        return self.function(sample)

    def apply_batch(self, batch: Any) -> np.ndarray:
        return apply_batch(self.function, batch)


class ToTensor(Transform):
    """Images to float ``C x H x W``: uint8 scaled to float32 in [0, 1], a channel dimension added.

    ``H x W`` becomes ``1 x H x W`` and ``H x W x C`` becomes ``C x H x W``, as torchvision's
    ``ToTensor`` (a batch: ``B x H x W`` -> ``B x 1 x H x W``). uint8 pixels are divided by 255;
    floating images keep their dtype and values. Called on one sample it returns a Tensor.

    .. math:: y = x / 255

    Examples
    --------
    >>> ToTensor()(np.full((28, 28), 255, np.uint8)).shape
    (1, 28, 28)
    """

    def __call__(self, sample: Any) -> Tensor:
        return Tensor(self._apply(sample.data if isinstance(sample, Tensor) else np.asarray(sample), batched=False))

    @staticmethod
    def _channels_first(array: np.ndarray, batched: bool) -> tuple[np.ndarray, bool]:
        """``C x H x W`` (batched: ``B x C x H x W``) floats, and whether they are a fresh uint8 conversion."""
        image_ndim = array.ndim - 1 if batched else array.ndim
        if image_ndim not in (2, 3):
            kind = "batch of images (B x H x W or B x H x W x C)" if batched else "image (H x W or H x W x C)"
            raise ValueError(f"ToTensor: expected a {kind}, got shape {array.shape}")
        converted = array.dtype == np.uint8
        if not converted and array.dtype.kind != "f":
            raise TypeError(f"ToTensor: expected uint8 or floating pixels, got {array.dtype}")
        if image_ndim == 2:
            array = array[:, None] if batched else array[None]
            return (array.astype(np.float32) if converted else array), converted
        # One pass moves the channels first and (for uint8) converts.
        dtype = np.float32 if converted else array.dtype
        return np.ascontiguousarray(np.moveaxis(array, -1, -3), dtype=dtype), converted

    def _apply(self, array: np.ndarray, batched: bool) -> np.ndarray:
        array, converted = self._channels_first(array, batched)
        if converted:
            array /= np.float32(255)  # in place on the fresh conversion: torchvision's x / 255
        return array


class Normalize(Transform):
    """Subtract a per-channel mean and divide by a per-channel std (channels at dim -3).

    .. math:: y_c = (x_c - \\mathrm{mean}_c) / \\mathrm{std}_c

    One mean and std apply to every element of any shape (so Normalize may come after Flatten).
    The result keeps the input's floating dtype.

    Examples
    --------
    >>> Normalize((0.5,), (0.5,))(np.ones((1, 2, 2), np.float32)).max()
    np.float32(1.0)
    """

    def __init__(self, mean: Sequence[float] | float, std: Sequence[float] | float) -> None:
        self.mean = np.atleast_1d(np.asarray(mean, dtype=np.float64))
        self.std = np.atleast_1d(np.asarray(std, dtype=np.float64))
        if self.mean.ndim != 1 or self.std.ndim != 1 or self.mean.shape != self.std.shape:
            raise ValueError(f"Normalize: mean and std should be sequences of the same length, "
                             f"got {self.mean.shape} and {self.std.shape}")
        if np.any(self.std == 0):
            raise ValueError("Normalize: std should not contain zeros")
        self._affine_cache: tuple[Any, Any] | None = None

    def _check_channels(self, array: np.ndarray, batched: bool) -> None:
        channels = len(self.mean)
        if channels == 1:
            return
        image_ndim = array.ndim - 1 if batched else array.ndim
        if image_ndim != 3 or array.shape[-3] != channels:
            raise ValueError(f"Normalize: {channels} channel means need images of shape C x H x W with "
                             f"C = {channels}, got shape {array.shape}")

    def _pixel_affine(self, dtype: np.dtype) -> tuple[Any, Any]:
        """``(scale, shift)`` with ``Normalize(ToTensor(x)) ~= x * scale + shift`` for uint8 ``x``."""
        # Computed once per dtype (mean and std are fixed at construction): this runs once per batch.
        key = dtype
        cached = self._affine_cache if self._affine_cache is not None and self._affine_cache[0] == key else None
        if cached is None:
            scale = (1.0 / (255.0 * self.std)).astype(dtype)
            shift = (-self.mean / self.std).astype(dtype)
            if len(self.mean) == 1:
                constants = (scale[0], shift[0])
            else:
                constants = (scale.reshape(-1, 1, 1), shift.reshape(-1, 1, 1))
            self._affine_cache = cached = (key, constants)
        return cached[1]

    def _apply(self, array: np.ndarray, batched: bool) -> np.ndarray:
        if array.dtype.kind != "f":
            raise TypeError(f"Normalize: expected floating input (use ToTensor first), got {array.dtype}")
        self._check_channels(array, batched)
        channels = len(self.mean)
        if channels == 1:
            # Python floats keep float32 arrays float32; the product is taken in place on the
            # fresh difference, so the batch costs one temporary.
            out = array - float(self.mean[0])
            out *= 1.0 / float(self.std[0])
            return out
        mean = self.mean.astype(array.dtype).reshape(channels, 1, 1)
        scale = (1.0 / self.std).astype(array.dtype).reshape(channels, 1, 1)
        out = array - mean
        out *= scale
        return out

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean.tolist()}, std={self.std.tolist()})"


class Flatten(Transform):
    """Flatten each sample to one dimension: ``1 x 28 x 28`` -> ``784`` (a batch -> ``B x 784``).

    Examples
    --------
    >>> Flatten()(np.zeros((1, 28, 28))).shape
    (784,)
    """

    def _apply(self, array: np.ndarray, batched: bool) -> np.ndarray:
        return array.reshape(len(array), -1) if batched else array.reshape(-1)


class _NormalizedToTensor(Transform):
    """``ToTensor`` then ``Normalize`` as one affine map of uint8 pixels (what Compose runs for the pair)."""

    def __init__(self, normalize: Normalize) -> None:
        self.normalize = normalize

    def __call__(self, sample: Any) -> Tensor:
        return Tensor(self._apply(sample.data if isinstance(sample, Tensor) else np.asarray(sample), batched=False))

    def _apply(self, array: np.ndarray, batched: bool) -> np.ndarray:
        array, converted = ToTensor._channels_first(array, batched)
        if not converted:  # floating pixels: ToTensor leaves them, Normalize alone applies
            return self.normalize._apply(array, batched)
        self.normalize._check_channels(array, batched)
        scale, shift = self.normalize._pixel_affine(array.dtype)
        array *= scale
        array += shift
        return array


def _pair(size: int | Sequence[int], name: str, owner: str) -> tuple[int, int]:
    if isinstance(size, (int, numbers.Integral)):
        size = (int(size), int(size))
    size = tuple(int(s) for s in size)
    if len(size) != 2 or min(size) < 0:
        raise ValueError(f"{owner}: {name} should be an int or a pair of non-negative ints, got {size}")
    return size


class RandomCrop(Transform):
    """Crop a random ``size`` window out of the image, after padding its borders.

    Works on the last two dimensions (``H x W`` or ``C x H x W``; a batch adds a first dimension).
    Each image gets its own window, drawn from ``giagrad.random.generator()``.

    Parameters
    ----------
    size : int or (int, int)
        The output height and width.
    padding : int or (int, int), optional
        Pixels added on each side (top/bottom, left/right) before cropping.
    fill : float
        The value of the padding.

    Examples
    --------
    >>> RandomCrop(28, padding=4)(np.zeros((28, 28), np.uint8)).shape
    (28, 28)
    """

    def __init__(self, size: int | Sequence[int], padding: int | Sequence[int] | None = None,
                 fill: float = 0) -> None:
        self.size = _pair(size, "size", "RandomCrop")
        if min(self.size) < 1:
            raise ValueError(f"RandomCrop: size should be positive, got {self.size}")
        self.padding = _pair(padding if padding is not None else 0, "padding", "RandomCrop")
        self.fill = fill

    def _offsets(self, count: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        out_h, out_w = self.size
        if out_h > height or out_w > width:
            raise ValueError(f"RandomCrop: crop size {self.size} is larger than the padded image ({height}, {width})")
        # Uniform floats (one per draw, in sample order) so a batch draws what the samples would.
        uniform = _random.generator().random((count, 2))
        tops = np.floor(uniform[:, 0] * (height - out_h + 1)).astype(np.int64)
        lefts = np.floor(uniform[:, 1] * (width - out_w + 1)).astype(np.int64)
        return tops, lefts

    def _apply(self, array: np.ndarray, batched: bool) -> np.ndarray:
        if array.ndim < (3 if batched else 2):
            raise ValueError(f"RandomCrop: expected images with height and width, got shape {array.shape}")
        pad_h, pad_w = self.padding
        if pad_h or pad_w:
            widths = [(0, 0)] * (array.ndim - 2) + [(pad_h, pad_h), (pad_w, pad_w)]
            array = np.pad(array, widths, mode="constant", constant_values=self.fill)
        images = array if batched else array[None]
        height, width = images.shape[-2:]
        out_h, out_w = self.size
        tops, lefts = self._offsets(len(images), height, width)
        # One gather for the whole batch: rows then columns, each image at its own offsets.
        middle = (1,) * (images.ndim - 3)
        rows = (tops[:, None] + np.arange(out_h)).reshape((len(images),) + middle + (out_h, 1))
        cols = (lefts[:, None] + np.arange(out_w)).reshape((len(images),) + middle + (1, out_w))
        cropped = np.take_along_axis(np.take_along_axis(images, rows, axis=-2), cols, axis=-1)
        return cropped if batched else cropped[0]

    def __repr__(self) -> str:
        return f"RandomCrop(size={self.size}, padding={self.padding})"


class RandomHorizontalFlip(Transform):
    """Mirror the image left to right with probability ``p`` (each image its own coin).

    Examples
    --------
    >>> RandomHorizontalFlip(p=1.0)(np.array([[1, 2, 3]]))
    array([[3, 2, 1]])
    """

    def __init__(self, p: float = 0.5) -> None:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"RandomHorizontalFlip: p should be in [0, 1], got {p}")
        self.p = float(p)

    def _apply(self, array: np.ndarray, batched: bool) -> np.ndarray:
        if array.ndim < (2 if batched else 1):
            raise ValueError(f"RandomHorizontalFlip: expected images, got shape {array.shape}")
        count = len(array) if batched else 1
        flip = _random.generator().random(count) < self.p
        if not batched:
            return np.ascontiguousarray(array[..., ::-1]) if flip[0] else array
        mask = flip.reshape((count,) + (1,) * (array.ndim - 1))
        return np.where(mask, array[..., ::-1], array)

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"
