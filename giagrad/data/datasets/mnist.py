"""MNIST and Fashion-MNIST: found in a folder, the cache or the Debian package, else downloaded.

Where the files come from
-------------------------
A split (``train-*`` or ``t10k-*``: its images and labels) is always read from one folder.

- **A folder you name** (``root=``, else the ``GIAGRAD_DATA`` environment variable; the recipes'
  ``--data-dir``) is the only place looked at: ``<root>/<dataset>/`` (``mnist``,
  ``fashion-mnist``: so one folder holds both), ``<root>/<ClassName>/raw/`` (torchvision's
  layout) or ``<root>`` itself, the first of them holding a file of the split. Nothing else is
  used in its place: a broken file there (truncated, not IDX, wrong magic number) raises
  :class:`IdxFormatError` naming it; a missing folder or one without the files raises
  :class:`DatasetNotFoundError`, except that with ``download=True`` the missing files are
  downloaded into it (``<root>/<dataset>/`` when it held none; a ``root=`` folder is created
  as torchvision does, a ``GIAGRAD_DATA`` folder must exist).
- **Otherwise** the cache, ``~/.cache/giagrad/<dataset>`` (``cache_dir=`` or the class attribute
  overrides it), then system folders (for Fashion-MNIST the Debian package
  ``dataset-fashion-mnist``'s ``/usr/share/datasets/fashion-mnist``): the first holding both
  files of the split; else, with ``download=True``, the missing files are downloaded into the
  cache. A broken file there raises too.

Downloads come from the public mirrors, tried in turn, verified before they are kept, and never
replace an existing file (see :mod:`giagrad.data.datasets.download`). Files may be
gzip-compressed (``train-images-idx3-ubyte.gz``) or raw (``train-images-idx3-ubyte``). When
nothing works, one :class:`DatasetNotFoundError` says what was tried and how to provide the
files by hand. Offline, :meth:`MNIST.sample` gives 5,000 real digits shipped with giagrad.
``dataset.source`` holds the paths the images and labels were read from.

Checksums
---------
The same dataset's ``.gz`` files differ byte for byte between sources (the Debian package's were
recompressed), so where we know it we check the sha256 of the *decompressed* IDX content, which
holds for every source:

- Fashion-MNIST: sha256 of the decompressed content (computed from the Debian package's files),
  or the md5 of the ``.gz`` files published by Zalando Research for their mirrors;
- MNIST: we know no published checksum of the decompressed files, so a download is checked
  against the md5 of the mirrors' ``.gz`` files (as published with torchvision); a raw or
  recompressed copy can only be checked for its structure.

A file is always checked for its structure (magic numbers, dimensions, exact length; then
60,000 / 10,000 images of 28 x 28 and labels in range), and refused when its content is known
to be another dataset's. A structurally valid file whose checksum is unknown or different is
used as it is (a relabelled or cleaned copy is yours to use), with one warning per split naming
the files.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from giagrad.data.dataset import Dataset
from giagrad.data.datasets.download import DEFAULT_TIMEOUT, Checksum, DownloadError, download, verify_any
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
        variable. A named folder is the only place looked at (see the module docstring);
        downloads fill its missing files.
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
    timeout : float, optional
        Seconds a mirror may take to answer or stay silent while sending before the next one
        is tried (default the class attribute ``timeout``, 15).

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
    timeout = DEFAULT_TIMEOUT

    def __init__(self, root: str | os.PathLike | None = None, train: bool = True, download: bool = True,
                 transform: Callable[[Any], Any] | None = None, target_transform: Callable[[Any], Any] | None = None,
                 *, cache_dir: str | os.PathLike | None = None, mirrors: Sequence[str] | None = None,
                 timeout: float | None = None) -> None:
        if not isinstance(train, bool):
            raise TypeError(f"{type(self).__name__}: train should be a bool, got {train!r}")
        self._named_by = "root=" if root is not None else None
        if root is None and os.environ.get(DATA_ENVIRONMENT_VARIABLE):
            root, self._named_by = os.environ[DATA_ENVIRONMENT_VARIABLE], DATA_ENVIRONMENT_VARIABLE
        self.root: Path | None = Path(root).expanduser() if root is not None else None
        self.train = train
        self.transform = transform
        self.target_transform = target_transform
        cache = cache_dir if cache_dir is not None else type(self).cache_dir
        self.cache = Path(cache).expanduser() if cache is not None else default_cache_root() / self.name
        self._mirrors = tuple(mirrors) if mirrors is not None else tuple(type(self).mirrors)
        self._timeout = float(timeout) if timeout is not None else float(type(self).timeout)
        split = "train" if train else "t10k"
        names = (f"{split}-images-idx3-ubyte.gz", f"{split}-labels-idx1-ubyte.gz")
        if self.root is not None:
            paths = self._files_in_named_folder(names, download)
        else:
            paths = self._files_searched(names, download)
        unverified: list[str] = []
        images = self._read_checked(paths[0], names[0], 3, unverified)
        labels = self._read_checked(paths[1], names[1], 1, unverified)
        self._check_pair(images, labels, paths[0], paths[1], self.split_sizes.get(split))
        if unverified:
            warnings.warn(f"{type(self).__name__} ({'train' if train else 'test'} split): using "
                          f"{'; '.join(unverified)}. A structurally valid file is used as it is (a relabelled or "
                          "cleaned copy?); delete it to get the published one.", UserWarning, stacklevel=2)
        self.data = images
        self.targets = labels.astype(np.int64)
        self.source = tuple(paths)

    # ------------------------------------------------------------------ finding the files

    @staticmethod
    def _present(folder: Path, file_name: str) -> Path | None:
        """The file in ``folder``, compressed or not (the ``.gz`` first), or None."""
        for candidate in (folder / file_name, folder / file_name[:-3]):
            if candidate.is_file():
                return candidate
        return None

    def _named_folders(self) -> list[Path]:
        # <root>/<dataset> first: one GIAGRAD_DATA folder can hold both datasets, whose files
        # have the same names.
        assert self.root is not None
        return [self.root / self.name, self.root / type(self).__name__ / "raw", self.root]

    def _files_in_named_folder(self, names: tuple[str, str], allow_download: bool) -> list[Path]:
        """Both files of the split from the named folder: found there, or downloaded into it."""
        root, cls = self.root, type(self).__name__
        assert root is not None
        named = f"{root} (named by {self._named_by})"
        if root.exists() and not root.is_dir():
            raise DatasetNotFoundError(f"{cls}: {named} is not a folder")
        if not root.exists() and not (allow_download and self._named_by == "root="):
            raise DatasetNotFoundError(f"{cls}: the data folder {named} does not exist. Create it and put "
                                       f"{names[0]} and {names[1]} there, or name another folder")
        folders = self._named_folders()
        folder = next((f for f in folders if any(self._present(f, name) for name in names)), None)
        if folder is None:
            if not allow_download:
                raise DatasetNotFoundError(
                    f"{cls}: the data folder {named} holds neither {names[0]} nor {names[1]} (looked in "
                    f"{', '.join(str(f) for f in folders)}); nothing else is used in place of a named folder. "
                    "Put the files there, or pass download=True to download them into it")
            folder = folders[0]
        paths = []
        for name in names:
            path = self._present(folder, name)
            if path is None:
                if not allow_download:
                    other = names[1] if name == names[0] else names[0]
                    raise DatasetNotFoundError(f"{cls}: {folder} holds {other} but not {name}; a split is read "
                                               "from one folder: put it beside the other (or pass download=True)")
                path = self._download(name, folder, [f"named folder {folder}: {name} not found"])
            paths.append(path)
        return paths

    def _files_searched(self, names: tuple[str, str], allow_download: bool) -> list[Path]:
        """Both files of the split from the first folder holding both: the cache, the system folders."""
        looked = []
        for place, folder in [("cache", self.cache), *(("system", Path(f)) for f in self.system_dirs)]:
            present = [self._present(folder, name) for name in names]
            if all(present):
                return present  # type: ignore[return-value]
            found = [name for name, path in zip(names, present, strict=True) if path is not None]
            looked.append(f"{place} {folder}: " + (f"only {found[0]}" if found else "not found"))
        if not allow_download:
            raise DatasetNotFoundError(self._not_found_message(names, looked, [], allow_download))
        # Complete the cache: download only the files missing there.
        return [self._present(self.cache, name) or self._download(name, self.cache, looked) for name in names]

    def _download(self, file_name: str, folder: Path, looked: list[str]) -> Path:
        attempts: list[tuple[str, str]] = []
        if self._mirrors:
            try:
                return download([mirror + file_name for mirror in self._mirrors], folder / file_name,
                                self.checksums.get(file_name), progress=self.progress, timeout=self._timeout)
            except DownloadError as error:
                attempts = error.attempts
            except OSError as error:  # the folder cannot be written: nothing was downloaded
                raise DatasetNotFoundError(f"{type(self).__name__}: {error}. Choose a writable folder: "
                                           f"cache_dir= (or XDG_CACHE_HOME), or root=") from None
        raise DatasetNotFoundError(self._not_found_message((file_name,), looked, attempts, True))

    def _read_checked(self, path: Path, file_name: str, ndim: int, unverified: list[str]) -> np.ndarray:
        """The file's values, checked for structure; a checksum that does not hold is noted in ``unverified``."""
        content = read_idx_bytes(path)
        array = parse_idx(content, str(path), expected_ndim=ndim)
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
        if matched:
            return array
        digest = hashlib.sha256(content).hexdigest()
        if digest in self.foreign_content_sha256:
            raise IdxFormatError(f"{path}: this is {self.foreign_content_sha256[digest]}, not {type(self).__name__}")
        if content_checks:
            unverified.append(f"{path}, whose content differs from the published {file_name} (sha256 {digest}, "
                              f"expected {content_checks[0].hexdigest})")
        elif file_checks and path.name == file_name:
            unverified.append(f"{path}, which is not the mirrors' {file_name} (its md5 differs)")
        else:
            unverified.append(f"{path}, which no known checksum covers (checked for its structure only)")
        return array

    def _not_found_message(self, names: tuple[str, ...], looked: list[str], attempts: list[tuple[str, str]],
                           allow_download: bool) -> str:
        split = "train" if self.train else "t10k"
        lines = [f"{type(self).__name__} ({'train' if self.train else 'test'} split): could not find or download "
                 f"{' and '.join(names)}.", "Folders searched:"]
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
        dataset._named_by = None
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
        """The full MNIST when it can be found or downloaded, else the bundled sample with a one-line notice.

        Only when no folder is named: with ``root=`` or ``GIAGRAD_DATA``, a missing dataset raises.
        """
        try:
            return cls(root, train=train, download=download, transform=transform,
                       target_transform=target_transform, **options)
        except DatasetNotFoundError:
            if root is not None or os.environ.get(DATA_ENVIRONMENT_VARIABLE):
                raise
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
