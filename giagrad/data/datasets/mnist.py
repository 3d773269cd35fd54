"""MNIST and Fashion-MNIST: found in a folder, the cache or the Debian package, else downloaded.

Where the files come from, in this order (the first valid copy of each file wins):

1. the folder the user names: ``root``, or else the ``GIAGRAD_DATA`` environment variable: the
   files in ``<root>/<dataset>/`` (``mnist``, ``fashion-mnist``: so one folder holds both), in
   ``<root>/<ClassName>/raw/`` (torchvision's layout) or directly in ``<root>``;
2. the cache, ``~/.cache/giagrad/<dataset>`` (``cache_dir=`` or the class attribute overrides it);
3. system folders: for Fashion-MNIST the Debian package ``dataset-fashion-mnist``'s
   ``/usr/share/datasets/fashion-mnist``;
4. a download from the public mirrors, tried in turn (into ``root`` when one is named, else the
   cache), verified before it is kept (see :mod:`giagrad.data.datasets.download`).

Files may be gzip-compressed (``train-images-idx3-ubyte.gz``) or raw (``train-images-idx3-ubyte``).
When nothing works, one :class:`DatasetNotFoundError` lists every folder and URL tried and how to
provide the files by hand. Offline, :meth:`MNIST.sample` gives 5,000 real digits shipped with giagrad.

Checksums
---------
The same dataset's ``.gz`` files differ byte for byte between sources (the Debian package's were
recompressed), so where we know it we check the sha256 of the *decompressed* IDX content, which
holds for every source:

- Fashion-MNIST: sha256 of the decompressed content (computed from the Debian package's files),
  or the md5 of the ``.gz`` files published by Zalando Research for their mirrors;
- MNIST: we know no published checksum of the decompressed files, so a download is checked
  against the md5 of the mirrors' ``.gz`` files (as published with torchvision). An MNIST file
  found in a folder is accepted when it matches that md5 or, failing that, on its IDX structure
  alone (magic numbers, dimensions, exact length, 60,000 / 10,000 images of 28 x 28, labels 0-9),
  unless its content is known to be Fashion-MNIST's.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
import sys
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from giagrad.data.dataset import Dataset
from giagrad.data.datasets.download import Checksum, DownloadError, download, verify_any
from giagrad.data.datasets.idx import IdxFormatError, parse_idx, read_idx_bytes
from giagrad.data.transforms import apply_batch

__all__ = ["MNIST", "FashionMNIST", "DatasetNotFoundError"]

DATA_ENVIRONMENT_VARIABLE = "GIAGRAD_DATA"


# Said once when the full MNIST cannot be had and the bundled digits stand in (one line, no details:
# the DatasetNotFoundError itself lists what was searched and tried).
SAMPLE_FALLBACK_NOTICE = ("the full MNIST files were not found or downloaded; using the 5,000 digits bundled "
                          "with giagrad (MNIST.sample) instead.")


class DatasetNotFoundError(RuntimeError):
    """The dataset's files were neither found nor downloaded; the message says what was tried."""


def default_cache_root() -> Path:
    """``~/.cache/giagrad`` (``$XDG_CACHE_HOME/giagrad`` when that is set)."""
    base = os.environ.get("XDG_CACHE_HOME")
    return (Path(base) if base else Path.home() / ".cache") / "giagrad"


def _md5(hexdigest: str) -> Checksum:
    return Checksum("md5", hexdigest, of_content=False)


def _content_sha256(hexdigest: str) -> Checksum:
    return Checksum("sha256", hexdigest, of_content=True)


class MNIST(Dataset):
    """The MNIST handwritten digits: 60,000 training and 10,000 test images of 28 x 28.

    Parameters
    ----------
    root : path, optional
        A folder holding the ``*-idx?-ubyte[.gz]`` files, in ``<root>/mnist/``,
        ``<root>/MNIST/raw/`` or ``<root>`` itself; default the ``GIAGRAD_DATA`` environment
        variable. Downloads go to ``<root>`` when it is given.
    train : bool
        The training split (``train-*``) or the test split (``t10k-*``).
    download : bool
        Download from the mirrors when no folder has the files.
    transform : callable, optional
        Applied to each image (a uint8 ``28 x 28`` numpy array; torchvision gives a PIL image).
        Transforms from :mod:`giagrad.data.transforms` also run on whole batches in the DataLoader.
    target_transform : callable, optional
        Applied to each label.
    cache_dir : path, optional
        The cache folder (default ``~/.cache/giagrad/mnist``, or the class attribute ``cache_dir``).
    mirrors : sequence of str, optional
        Base URLs to download from, tried in order (default the class attribute ``mirrors``).

    Attributes
    ----------
    data : numpy.ndarray
        uint8, ``N x 28 x 28``.
    targets : numpy.ndarray
        int64 labels, ``N``.
    classes : list of str
        The class names, as PyTorch names them.

    Examples
    --------
    >>> train = MNIST(train=True, transform=Compose([ToTensor(), Normalize((0.1307,), (0.3081,))]))  # doctest: +SKIP
    >>> loader = DataLoader(train, batch_size=64, shuffle=True, seed=0)  # doctest: +SKIP
    >>> images, labels = next(iter(loader))  # doctest: +SKIP
    """

    name = "mnist"
    mirrors: Sequence[str] = (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    )
    checksums: dict[str, tuple[Checksum, ...]] = {
        "train-images-idx3-ubyte.gz": (_md5("f68b3c2dcbeaaa9fbdd348bbdeb94873"),),
        "train-labels-idx1-ubyte.gz": (_md5("d53e105ee54ea40749a09fcbcd1e9432"),),
        "t10k-images-idx3-ubyte.gz": (_md5("9fb629c4189551a2d022fa330f9573f3"),),
        "t10k-labels-idx1-ubyte.gz": (_md5("ec29112dd5afa0611ce80d1b7f02629c"),),
    }
    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four",
               "5 - five", "6 - six", "7 - seven", "8 - eight", "9 - nine"]
    # Number of images per split; None skips the check (for small test copies).
    split_sizes: dict[str, int | None] = {"train": 60000, "t10k": 10000}
    image_size = (28, 28)
    system_dirs: Sequence[str] = ()
    # sha256 of decompressed files known to belong to other datasets -> their name (filled below).
    foreign_content_sha256: dict[str, str] = {}
    cache_dir: str | os.PathLike | None = None
    progress = True

    def __init__(self, root: str | os.PathLike | None = None, train: bool = True, download: bool = True,
                 transform: Callable[[Any], Any] | None = None, target_transform: Callable[[Any], Any] | None = None,
                 *, cache_dir: str | os.PathLike | None = None, mirrors: Sequence[str] | None = None) -> None:
        if not isinstance(train, bool):
            raise TypeError(f"{type(self).__name__}: train should be a bool, got {train!r}")
        if root is None and os.environ.get(DATA_ENVIRONMENT_VARIABLE):
            root = os.environ[DATA_ENVIRONMENT_VARIABLE]
        self.root: Path | None = Path(root).expanduser() if root is not None else None
        self.train = train
        self.transform = transform
        self.target_transform = target_transform
        cache = cache_dir if cache_dir is not None else type(self).cache_dir
        self.cache = Path(cache).expanduser() if cache is not None else default_cache_root() / self.name
        self._mirrors = tuple(mirrors) if mirrors is not None else tuple(type(self).mirrors)
        split = "train" if train else "t10k"
        image_file, label_file = f"{split}-images-idx3-ubyte.gz", f"{split}-labels-idx1-ubyte.gz"
        images_path, images = self._locate(image_file, 3, download)
        labels_path, labels = self._locate(label_file, 1, download)
        self._check_pair(images, labels, images_path, labels_path, self.split_sizes.get(split))
        self.data = images
        self.targets = labels.astype(np.int64)
        self.source = (images_path, labels_path)

    # ------------------------------------------------------------------ finding the files

    def _folders(self) -> list[tuple[str, Path]]:
        folders: list[tuple[str, Path]] = []
        if self.root is not None:
            # <root>/<dataset> first: one GIAGRAD_DATA folder can hold both datasets, whose files
            # have the same names.
            folders += [("root", self.root / self.name), ("root", self.root / type(self).__name__ / "raw"),
                        ("root", self.root)]
        folders.append(("cache", self.cache))
        folders += [("system", Path(folder)) for folder in self.system_dirs]
        return folders

    def _read_verified(self, path: Path, file_name: str, ndim: int) -> np.ndarray:
        content = read_idx_bytes(path)
        checks = self.checksums.get(file_name, ())
        content_checks = [c for c in checks if c.of_content]
        file_checks = [c for c in checks if not c.of_content]
        matched = any(hashlib.new(c.algorithm, content).hexdigest() == c.hexdigest for c in content_checks)
        if not matched and file_checks and path.name == file_name:
            try:
                verify_any(path, file_checks)
                matched = True
            except ValueError:
                pass
        if checks and not matched and content_checks:
            raise IdxFormatError(f"{path}: its content does not match the known checksum of {file_name} "
                                 f"(sha256 of the decompressed content should be {content_checks[0].hexdigest})")
        if not matched and self.foreign_content_sha256:
            # No checksum of ours holds; at least refuse a file we know belongs to another dataset.
            digest = hashlib.sha256(content).hexdigest()
            if digest in self.foreign_content_sha256:
                raise IdxFormatError(f"{path}: this is {self.foreign_content_sha256[digest]}, "
                                     f"not {type(self).__name__}")
        # Without a known content checksum (MNIST), the IDX checks below are what we have.
        return parse_idx(content, str(path), expected_ndim=ndim)

    def _locate(self, file_name: str, ndim: int, allow_download: bool) -> tuple[Path, np.ndarray]:
        looked: list[str] = []
        raw_name = file_name[:-3]
        for place, folder in self._folders():
            for candidate in (folder / file_name, folder / raw_name):
                if candidate.is_file():
                    try:
                        return candidate, self._read_verified(candidate, file_name, ndim)
                    except (IdxFormatError, OSError) as error:
                        looked.append(f"{place} {candidate}: present but unusable: {error}")
                        break
            else:
                looked.append(f"{place} {folder}: not found")
        attempts: list[tuple[str, str]] = []
        if allow_download and self._mirrors:
            destination = (self.root if self.root is not None else self.cache) / file_name
            try:
                path = download([mirror + file_name for mirror in self._mirrors], destination,
                                self.checksums.get(file_name), progress=self.progress)
                return path, self._read_verified(path, file_name, ndim)
            except DownloadError as error:
                attempts = error.attempts
            except (IdxFormatError, OSError) as error:
                attempts = [(str(destination), f"downloaded but unusable: {error}")]
        raise DatasetNotFoundError(self._not_found_message(file_name, looked, attempts, allow_download))

    def _not_found_message(self, file_name: str, looked: list[str], attempts: list[tuple[str, str]],
                           allow_download: bool) -> str:
        split = "train" if self.train else "t10k"
        lines = [f"{type(self).__name__} ({'train' if self.train else 'test'} split): could not find or download "
                 f"{file_name}.", "Folders searched:"]
        lines += [f"  - {entry}" for entry in looked]
        if not allow_download:
            lines.append("Download: not tried (download=False).")
        elif not attempts:
            lines.append("Download: no mirrors configured.")
        else:
            lines.append("Downloads tried:")
            lines += [f"  - {url}: {reason}" for url, reason in attempts]
        mirror = self._mirrors[0] if self._mirrors else type(self).mirrors[0] if type(self).mirrors else "a mirror"
        lines.append(f"To provide the files by hand: download {split}-images-idx3-ubyte.gz and "
                     f"{split}-labels-idx1-ubyte.gz (e.g. from {mirror}) into a folder, then pass "
                     f"root='that folder' or set {DATA_ENVIRONMENT_VARIABLE}=that folder.")
        if type(self).name == "mnist":
            lines.append("Without any download, MNIST.sample() gives 5,000 real digits shipped with giagrad.")
        return "\n".join(lines)

    def _check_pair(self, images: np.ndarray, labels: np.ndarray, images_path: Path, labels_path: Path,
                    expected_count: int | None) -> None:
        if images.shape[1:] != self.image_size:
            raise IdxFormatError(f"{images_path}: images of {images.shape[1:]} pixels, expected {self.image_size}")
        if expected_count is not None and len(images) != expected_count:
            raise IdxFormatError(f"{images_path}: {len(images)} images, expected {expected_count}")
        if len(labels) != len(images):
            raise IdxFormatError(f"{labels_path}: {len(labels)} labels for the {len(images)} images of {images_path}")
        if len(labels) and labels.max() >= len(self.classes):
            raise IdxFormatError(f"{labels_path}: label {int(labels.max())} out of range for "
                                 f"{len(self.classes)} classes")

    @classmethod
    def from_arrays(cls, data: np.ndarray, targets: np.ndarray, train: bool = True,
                    transform: Callable[[Any], Any] | None = None,
                    target_transform: Callable[[Any], Any] | None = None, source: Any = ("arrays",)) -> MNIST:
        """A dataset of this kind over arrays already in memory (uint8 ``N x 28 x 28`` and labels).

        Examples
        --------
        >>> images = np.zeros((10, 28, 28), np.uint8)
        >>> MNIST.from_arrays(images, np.arange(10)).targets.dtype
        dtype('int64')
        """
        data = np.asarray(data)
        targets = np.asarray(targets)
        if data.dtype != np.uint8 or data.ndim != 3 or targets.shape != (len(data),):
            raise ValueError(f"{cls.__name__}.from_arrays: expected uint8 images N x H x W and N labels, got "
                             f"{data.dtype} {data.shape} and {targets.shape}")
        dataset = cls.__new__(cls)
        dataset.root, dataset.cache, dataset._mirrors = None, None, ()  # type: ignore[assignment]  # no files
        dataset.train, dataset.transform, dataset.target_transform = train, transform, target_transform
        dataset.data, dataset.targets, dataset.source = data, targets.astype(np.int64), source
        return dataset

    # ------------------------------------------------------------------ the dataset

    @property
    def class_to_idx(self) -> dict[str, int]:
        return {name: index for index, name in enumerate(self.classes)}

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        """``(image, label)``: the uint8 ``28 x 28`` image (transformed) and its int label."""
        image, target = self.data[index], int(self.targets[index])
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return image, target

    def get_batch(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A whole batch: one fancy-index of the uint8 images, then the transforms on the batch."""
        images, targets = np.take(self.data, indices, axis=0), np.take(self.targets, indices, axis=0)
        if self.transform is not None:
            images = apply_batch(self.transform, images)
        if self.target_transform is not None:
            targets = apply_batch(self.target_transform, targets)
        return images, targets

    def __repr__(self) -> str:
        split = "train" if self.train else "test"
        return f"{type(self).__name__}(split={split}, size={len(self)}, source={[str(s) for s in self.source]})"

    # ------------------------------------------------------------------ the bundled sample

    SAMPLE_FILES = {
        "mnist-5k-images-idx3-ubyte.gz": "865d75946b856c9f66e3ef95ed5feafd7d119ba58c4ec9b8bfffdc31346746b0",
        "mnist-5k-labels-idx1-ubyte.gz": "172b7d4f03715dc32b87b873d47d66455a2d4f268ac9ae358e4955a66b5b2da5",
    }
    SAMPLE_TEST_PER_CLASS = 100
    SAMPLE_SPLIT_SEED = 0

    @classmethod
    def sample(cls, train: bool = True, transform: Callable[[Any], Any] | None = None,
               target_transform: Callable[[Any], Any] | None = None) -> MNIST:
        """5,000 real MNIST digits shipped with giagrad: 4,000 for training, 1,000 held out.

        The bundled files (500 digits per class; see the NOTICE beside them for provenance and the
        CC BY-SA 3.0 attribution) are checked against their sha256, then split once, stratified
        and reproducibly: 100 digits of each class form the test part, the other 400 the training
        part, each part shuffled (a fixed seed: the same split on every machine).

        Examples
        --------
        >>> train, test = MNIST.sample(train=True), MNIST.sample(train=False)
        >>> len(train), len(test)
        (4000, 1000)
        """
        if cls is not MNIST:
            raise TypeError(f"{cls.__name__}.sample: the bundled sample holds MNIST digits only")
        images, labels, train_indices, test_indices = _bundled_sample()
        indices = train_indices if train else test_indices
        source = ("bundled sample", "train" if train else "test")
        return cls.from_arrays(images[indices], labels[indices], train, transform, target_transform, source)

    @classmethod
    def full_or_sample(cls, root: str | os.PathLike | None = None, train: bool = True, download: bool = True,
                       transform: Callable[[Any], Any] | None = None,
                       target_transform: Callable[[Any], Any] | None = None, **options: Any) -> MNIST:
        """The full MNIST when it can be found or downloaded, else the bundled sample with a one-line notice."""
        try:
            return cls(root, train=train, download=download, transform=transform,
                       target_transform=target_transform, **options)
        except DatasetNotFoundError:
            print(f"MNIST: {SAMPLE_FALLBACK_NOTICE} Pass root= or set GIAGRAD_DATA to use them.", file=sys.stderr)
            return cls.sample(train=train, transform=transform, target_transform=target_transform)


@functools.lru_cache(maxsize=1)
def _bundled_sample() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    folder = resources.files("giagrad.data.datasets")
    arrays = []
    for file_name, expected in MNIST.SAMPLE_FILES.items():
        raw = folder.joinpath(file_name).read_bytes()
        actual = hashlib.sha256(raw).hexdigest()
        if actual != expected:
            raise IdxFormatError(f"bundled {file_name}: sha256 {actual} is not the expected {expected}; "
                                 f"the giagrad installation is damaged")
        ndim = 3 if "images" in file_name else 1
        arrays.append(parse_idx(gzip.decompress(raw), f"bundled {file_name}", expected_ndim=ndim))
    images, labels = arrays
    rng = np.random.default_rng(MNIST.SAMPLE_SPLIT_SEED)
    train_parts, test_parts = [], []
    for digit in range(10):
        members = rng.permutation(np.flatnonzero(labels == digit))
        test_parts.append(members[:MNIST.SAMPLE_TEST_PER_CLASS])
        train_parts.append(members[MNIST.SAMPLE_TEST_PER_CLASS:])
    train_indices = rng.permutation(np.concatenate(train_parts))
    test_indices = rng.permutation(np.concatenate(test_parts))
    return images, labels.astype(np.int64), train_indices, test_indices


class FashionMNIST(MNIST):
    """Fashion-MNIST (Zalando Research): 60,000 + 10,000 clothing images of 28 x 28, ten classes.

    Same interface as :class:`MNIST`. Also found in the Debian package ``dataset-fashion-mnist``'s
    folder ``/usr/share/datasets/fashion-mnist`` (after ``root``/``GIAGRAD_DATA`` and the cache
    ``~/.cache/giagrad/fashion-mnist``). Files are checked by the sha256 of their decompressed
    content, or by the md5 of the mirrors' ``.gz`` files.

    Examples
    --------
    >>> train = FashionMNIST(train=True, transform=ToTensor())  # doctest: +SKIP
    >>> train.classes[0]  # doctest: +SKIP
    'T-shirt/top'
    """

    name = "fashion-mnist"
    mirrors = (
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    )
    checksums = {
        "train-images-idx3-ubyte.gz": (
            _content_sha256("c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
            _md5("8d4fb7e6c68d591d4c3dfef9ec88bf0d")),
        "train-labels-idx1-ubyte.gz": (
            _content_sha256("bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
            _md5("25c81989df183df01b3e8a0aad5dffbe")),
        "t10k-images-idx3-ubyte.gz": (
            _content_sha256("5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
            _md5("bef4ecab320f06d8554ea6380940ec79")),
        "t10k-labels-idx1-ubyte.gz": (
            _content_sha256("0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
            _md5("bb300cfdad3c16e7a12a480ee83cd310")),
    }
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
               "Ankle boot"]
    system_dirs = ("/usr/share/datasets/fashion-mnist",)
    foreign_content_sha256 = {}


# MNIST knows no checksum of its decompressed files: it refuses at least Fashion-MNIST's, which
# have the same names and shapes.
MNIST.foreign_content_sha256 = {
    checksum.hexdigest: f"Fashion-MNIST's {name}"
    for name, checks in FashionMNIST.checksums.items() for checksum in checks if checksum.of_content
}
