"""MNIST and Fashion-MNIST: where files are found, downloads, the dataset interface, the bundled sample."""

import gzip
import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

from giagrad.data import DataLoader
from giagrad.data.datasets import MNIST, DatasetNotFoundError, FashionMNIST, IdxFormatError
from giagrad.data.datasets import mnist as mnist_module
from giagrad.data.datasets.download import Checksum
from giagrad.data.datasets.idx import idx_bytes, write_idx
from giagrad.data.transforms import Compose, Flatten, Normalize, ToTensor

# Most files below are not the "official" ones: the warning about them is tested on its own.
pytestmark = pytest.mark.filterwarnings(r"ignore:.*split\)\W using:UserWarning")

SPLITS = {"train": 12, "t10k": 6}


def fake_split(split, seed):
    rng = np.random.default_rng([seed, SPLITS[split]])
    images = rng.integers(0, 256, (SPLITS[split], 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, SPLITS[split], dtype=np.uint8)
    return images, labels


def gz_files(seed):
    """The four files of a fake dataset, as a mirror would serve them."""
    files = {}
    for split in SPLITS:
        images, labels = fake_split(split, seed)
        files[f"{split}-images-idx3-ubyte.gz"] = gzip.compress(idx_bytes(images), mtime=0)
        files[f"{split}-labels-idx1-ubyte.gz"] = gzip.compress(idx_bytes(labels), mtime=0)
    return files


def write_dataset(folder, seed, compressed=True, splits=SPLITS):
    folder.mkdir(parents=True, exist_ok=True)
    for split in splits:
        images, labels = fake_split(split, seed)
        suffix = ".gz" if compressed else ""
        write_idx(folder / f"{split}-images-idx3-ubyte{suffix}", images)
        write_idx(folder / f"{split}-labels-idx1-ubyte{suffix}", labels)


OFFICIAL = 7   # the seed of "the real" fake dataset, whose checksums the classes below know
OFFICIAL_FILES = gz_files(OFFICIAL)


class TinyMNIST(MNIST):
    """MNIST's rules (md5 of the served .gz files) on a small fake dataset."""

    checksums = {name: (Checksum("md5", hashlib.md5(data).hexdigest(), of_content=False),)
                 for name, data in OFFICIAL_FILES.items()}
    split_sizes = {"train": None, "t10k": None}
    mirrors = ()
    progress = False


class TinyFashion(FashionMNIST):
    """Fashion-MNIST's rules (sha256 of the decompressed content) on a small fake dataset."""

    checksums = {name: (Checksum("sha256", hashlib.sha256(gzip.decompress(data)).hexdigest(), of_content=True),)
                 for name, data in OFFICIAL_FILES.items()}
    split_sizes = {"train": None, "t10k": None}
    mirrors = ()
    system_dirs = ()
    progress = False


@pytest.fixture
def folders(tmp_path):
    return {"root": tmp_path / "root", "cache": tmp_path / "cache", "system": tmp_path / "system"}


def assert_is_seed(dataset, seed, split="train"):
    images, labels = fake_split(split, seed)
    np.testing.assert_array_equal(dataset.data, images)
    np.testing.assert_array_equal(dataset.targets, labels)


def test_lookup_order_root_then_cache_then_system(folders, monkeypatch):
    monkeypatch.setattr(TinyFashion, "system_dirs", (str(folders["system"]),))
    write_dataset(folders["root"], OFFICIAL)
    write_dataset(folders["cache"], OFFICIAL, compressed=False)
    write_dataset(folders["system"], OFFICIAL)
    # The same content everywhere (the checksum must hold); `source` tells which copy was read.
    ds = TinyFashion(folders["root"], cache_dir=folders["cache"], download=False)
    assert ds.source[0].parent == folders["root"]
    ds = TinyFashion(cache_dir=folders["cache"], download=False)
    assert ds.source[0] == folders["cache"] / "train-images-idx3-ubyte"
    for path in folders["cache"].iterdir():
        path.unlink()
    ds = TinyFashion(cache_dir=folders["cache"], download=False, train=False)
    assert ds.source[0].parent == folders["system"]
    assert_is_seed(ds, OFFICIAL, "t10k")


def test_giagrad_data_environment_variable_and_torchvision_layout(folders, monkeypatch):
    write_dataset(folders["root"] / "TinyMNIST" / "raw", 3)
    write_dataset(folders["cache"], 4)
    monkeypatch.setenv("GIAGRAD_DATA", str(folders["root"]))
    ds = TinyMNIST(cache_dir=folders["cache"], download=False)
    assert_is_seed(ds, 3)
    monkeypatch.delenv("GIAGRAD_DATA")
    assert_is_seed(TinyMNIST(cache_dir=folders["cache"], download=False), 4)


def test_dataset_subfolder_of_root_comes_first(folders):
    write_dataset(folders["root"], 1)
    write_dataset(folders["root"] / "mnist", 2)
    assert_is_seed(TinyMNIST(folders["root"], cache_dir=folders["cache"], download=False), 2)


def test_mnist_refuses_files_known_to_be_fashion_mnist(folders, monkeypatch):
    fashion = {c.hexdigest: f"Fashion-MNIST's {name}" for name, (c,) in TinyFashion.checksums.items()}
    monkeypatch.setattr(TinyMNIST, "foreign_content_sha256", fashion)
    write_dataset(folders["root"], OFFICIAL, compressed=False)     # raw: the .gz md5 cannot vouch for it
    with pytest.raises(IdxFormatError, match="this is Fashion-MNIST's train-images"):
        TinyMNIST(folders["root"], cache_dir=folders["cache"], download=False)
    assert "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b" in MNIST.foreign_content_sha256
    assert FashionMNIST.foreign_content_sha256 == {}


def test_mnist_uses_local_files_no_checksum_covers_with_one_warning(folders):
    write_dataset(folders["root"], 5, compressed=False)        # not the mirrors' .gz: md5 cannot match
    with pytest.warns(UserWarning, match="no known checksum covers") as caught:
        assert_is_seed(TinyMNIST(folders["root"], cache_dir=folders["cache"], download=False), 5)
    assert len(caught) == 1 and "train-images-idx3-ubyte," in str(caught[0].message)
    assert "train-labels-idx1-ubyte," in str(caught[0].message)


def test_verified_files_give_no_warning(folders, recwarn):
    write_dataset(folders["root"], OFFICIAL)
    assert_is_seed(TinyFashion(folders["root"], cache_dir=folders["cache"], download=False), OFFICIAL)
    assert_is_seed(TinyMNIST(folders["root"], cache_dir=folders["cache"], download=False), OFFICIAL)
    assert len(recwarn) == 0


def test_a_named_folder_with_other_valid_content_is_used_with_a_warning(folders):
    write_dataset(folders["root"], 5)                          # valid IDX, but not the known content
    write_dataset(folders["cache"], OFFICIAL)
    with pytest.warns(UserWarning, match="content differs from the published train-images"):
        ds = TinyFashion(folders["root"], cache_dir=folders["cache"], download=False)
    assert_is_seed(ds, 5)
    assert ds.source == (folders["root"] / "train-images-idx3-ubyte.gz", folders["root"] / "train-labels-idx1-ubyte.gz")


def truncated(data):
    return data[:50]


def not_idx(data):
    return b"<html>404 Not Found</html>"


def wrong_magic(data):
    content = bytearray(gzip.decompress(data))
    content[3] = 2                                         # announces 2 dimensions
    return gzip.compress(bytes(content), mtime=0)


@pytest.mark.parametrize("dataset_class", [TinyMNIST, TinyFashion])
@pytest.mark.parametrize("breakage, message", [(truncated, "truncated"), (not_idx, "not an IDX file"),
                                               (wrong_magic, "magic number 0x00000802")])
@pytest.mark.parametrize("named_by", ["root", "GIAGRAD_DATA"])
def test_a_broken_file_in_the_named_folder_raises_naming_it(folders, monkeypatch, dataset_class, breakage, message,
                                                            named_by, file_server):
    # valid copies elsewhere (the cache, a mirror) are not used in its place, nor downloaded over it
    serve(file_server, "m1", OFFICIAL_FILES)
    write_dataset(folders["cache"], OFFICIAL)
    write_dataset(folders["root"], OFFICIAL)
    broken = folders["root"] / "train-images-idx3-ubyte.gz"
    broken.write_bytes(breakage(OFFICIAL_FILES["train-images-idx3-ubyte.gz"]))
    before = broken.read_bytes()
    root = folders["root"] if named_by == "root" else None
    if named_by == "GIAGRAD_DATA":
        monkeypatch.setenv("GIAGRAD_DATA", str(folders["root"]))
    with pytest.raises(IdxFormatError, match=message) as raised:
        dataset_class(root, cache_dir=folders["cache"], mirrors=[f"{file_server.url}/m1/"])
    assert str(broken) in str(raised.value)
    assert broken.read_bytes() == before and file_server.requests == []


def test_a_user_file_is_never_replaced_by_a_download(file_server, folders):
    # The user's own (relabelled) labels, no images: the images are downloaded beside them,
    # the labels are used as they are, with a warning.
    serve(file_server, "m1", OFFICIAL_FILES)
    folders["root"].mkdir()
    _, labels = fake_split("train", OFFICIAL)
    relabelled = (labels + 1) % 10
    write_idx(folders["root"] / "train-labels-idx1-ubyte.gz", relabelled)
    before = (folders["root"] / "train-labels-idx1-ubyte.gz").read_bytes()
    with pytest.warns(UserWarning, match="train-labels-idx1-ubyte.gz, whose content differs"):
        ds = TinyFashion(folders["root"], cache_dir=folders["cache"], mirrors=[f"{file_server.url}/m1/"])
    np.testing.assert_array_equal(ds.targets, relabelled)
    assert (folders["root"] / "train-labels-idx1-ubyte.gz").read_bytes() == before
    assert file_server.requests == ["/m1/train-images-idx3-ubyte.gz"]
    assert ds.source == (folders["root"] / "train-images-idx3-ubyte.gz", folders["root"] / "train-labels-idx1-ubyte.gz")
    assert not folders["cache"].exists()


def test_a_missing_or_empty_named_folder_raises(folders, monkeypatch, file_server):
    write_dataset(folders["cache"], OFFICIAL)                  # a valid copy that must not stand in
    with pytest.raises(DatasetNotFoundError, match=r"does not exist"):
        TinyMNIST(folders["root"], cache_dir=folders["cache"], download=False)
    monkeypatch.setenv("GIAGRAD_DATA", str(folders["root"]))
    serve(file_server, "m1", OFFICIAL_FILES)
    with pytest.raises(DatasetNotFoundError, match=r"named by GIAGRAD_DATA\) does not exist"):
        TinyMNIST(cache_dir=folders["cache"], mirrors=[f"{file_server.url}/m1/"])   # even with download
    folders["root"].mkdir()
    with pytest.raises(DatasetNotFoundError, match="holds neither .* nothing else is used"):
        TinyMNIST(cache_dir=folders["cache"], download=False)
    assert file_server.requests == []


def test_one_split_never_mixes_two_folders(folders, monkeypatch):
    write_dataset(folders["cache"], OFFICIAL)
    folders["root"].mkdir()
    images, _ = fake_split("train", 5)
    write_idx(folders["root"] / "train-images-idx3-ubyte.gz", images)
    with pytest.raises(DatasetNotFoundError, match="holds train-images-idx3-ubyte.gz but not train-labels"):
        TinyMNIST(folders["root"], cache_dir=folders["cache"], download=False)
    # unnamed: the cache and system folders count only when they hold both files
    monkeypatch.setattr(TinyFashion, "system_dirs", (str(folders["root"]),))
    (folders["cache"] / "train-labels-idx1-ubyte.gz").rename(folders["root"] / "train-labels-idx1-ubyte.gz")
    ds = TinyFashion(cache_dir=folders["cache"], download=False)
    assert [path.parent for path in ds.source] == [folders["root"], folders["root"]]


def test_a_broken_cache_file_raises_naming_it(folders):
    write_dataset(folders["cache"], OFFICIAL)
    broken = folders["cache"] / "train-labels-idx1-ubyte.gz"
    broken.write_bytes(b"\x1f\x8b broken")
    with pytest.raises(IdxFormatError, match="train-labels-idx1-ubyte.gz: not a readable gzip file"):
        TinyMNIST(cache_dir=folders["cache"], download=False)


def test_an_unwritable_cache_says_what_failed(file_server, folders):
    serve(file_server, "m1", OFFICIAL_FILES)
    folders["cache"].parent.mkdir(exist_ok=True)
    (folders["cache"].parent / "a-file").write_bytes(b"")
    with pytest.raises(DatasetNotFoundError, match="cannot write the download of train-images.*cache_dir=") as raised:
        TinyMNIST(cache_dir=folders["cache"].parent / "a-file" / "cache", mirrors=[f"{file_server.url}/m1/"])
    assert "downloaded but unusable" not in str(raised.value) and file_server.requests == []


def test_the_download_timeout_is_an_option(file_server, folders):
    serve(file_server, "slow", OFFICIAL_FILES)
    serve(file_server, "m2", OFFICIAL_FILES)
    for name in OFFICIAL_FILES:
        file_server.silent.add(f"/slow/{name}")
    mirrors = [f"{file_server.url}/slow/", f"{file_server.url}/m2/"]
    assert_is_seed(TinyFashion(cache_dir=folders["cache"], mirrors=mirrors, timeout=0.3), OFFICIAL)
    assert TinyFashion.timeout == 15.0


def serve(file_server, prefix, files):
    for name, data in files.items():
        file_server.files[f"/{prefix}/{name}"] = data


@pytest.mark.parametrize("dataset_class", [TinyMNIST, TinyFashion])
def test_download_with_first_mirror_down(file_server, folders, dataset_class):
    serve(file_server, "m2", OFFICIAL_FILES)
    mirrors = [f"{file_server.url}/m1/", f"{file_server.url}/m2/"]
    ds = dataset_class(cache_dir=folders["cache"], mirrors=mirrors)
    assert_is_seed(ds, OFFICIAL)
    assert sorted(p.name for p in folders["cache"].iterdir()) == ["train-images-idx3-ubyte.gz",
                                                                   "train-labels-idx1-ubyte.gz"]
    assert file_server.requests == ["/m1/train-images-idx3-ubyte.gz", "/m2/train-images-idx3-ubyte.gz",
                                    "/m1/train-labels-idx1-ubyte.gz", "/m2/train-labels-idx1-ubyte.gz"]
    requests = len(file_server.requests)
    assert_is_seed(dataset_class(cache_dir=folders["cache"], mirrors=mirrors), OFFICIAL)
    assert len(file_server.requests) == requests              # the second time comes from the cache


def test_download_goes_to_the_dataset_folder_of_the_named_root(file_server, folders):
    serve(file_server, "m1", OFFICIAL_FILES)
    ds = TinyMNIST(folders["root"], cache_dir=folders["cache"], mirrors=[f"{file_server.url}/m1/"], train=False)
    assert sorted(p.name for p in (folders["root"] / "mnist").iterdir()) == ["t10k-images-idx3-ubyte.gz",
                                                                             "t10k-labels-idx1-ubyte.gz"]
    assert ds.source[0] == folders["root"] / "mnist" / "t10k-images-idx3-ubyte.gz"
    assert not folders["cache"].exists()


@pytest.mark.parametrize("dataset_class", [TinyMNIST, TinyFashion])
def test_wrong_checksum_leaves_nothing_in_the_cache(file_server, folders, dataset_class):
    serve(file_server, "m1", gz_files(seed=99))               # valid files, but not the known ones
    with pytest.raises(DatasetNotFoundError, match="wrong (md5|sha256)"):
        dataset_class(cache_dir=folders["cache"], mirrors=[f"{file_server.url}/m1/"])
    assert list(folders["cache"].iterdir()) == []


def test_dropped_connection_leaves_nothing(file_server, folders):
    serve(file_server, "m1", OFFICIAL_FILES)
    file_server.drop_after["/m1/train-images-idx3-ubyte.gz"] = 1000
    with pytest.raises(DatasetNotFoundError):
        TinyFashion(cache_dir=folders["cache"], mirrors=[f"{file_server.url}/m1/"])
    assert list(folders["cache"].iterdir()) == []
    del file_server.drop_after["/m1/train-images-idx3-ubyte.gz"]
    assert_is_seed(TinyFashion(cache_dir=folders["cache"], mirrors=[f"{file_server.url}/m1/"]), OFFICIAL)


def test_all_mirrors_down_one_clear_error(file_server, folders, monkeypatch):
    monkeypatch.setattr(TinyFashion, "system_dirs", (str(folders["system"]),))
    file_server.errors["/m1/train-images-idx3-ubyte.gz"] = 503
    mirrors = [f"{file_server.url}/m1/", f"{file_server.url}/m2/"]
    with pytest.raises(DatasetNotFoundError) as raised:
        TinyFashion(cache_dir=folders["cache"], mirrors=mirrors)
    message = str(raised.value)
    for place in (folders["cache"], folders["system"]):
        assert str(place) in message
    assert f"{file_server.url}/m1/train-images-idx3-ubyte.gz: HTTP 503" in message
    assert f"{file_server.url}/m2/train-images-idx3-ubyte.gz: HTTP 404" in message
    assert "root=" in message and "GIAGRAD_DATA" in message


def test_download_false_tries_no_url(file_server, folders):
    serve(file_server, "m1", OFFICIAL_FILES)
    with pytest.raises(DatasetNotFoundError, match="not tried"):
        TinyMNIST(cache_dir=folders["cache"], mirrors=[f"{file_server.url}/m1/"], download=False)
    assert file_server.requests == []


def test_real_mnist_checks_the_split_size(folders):
    write_dataset(folders["root"], 1)
    with pytest.raises(IdxFormatError, match="12 images, expected 60000"):
        MNIST(folders["root"], cache_dir=folders["cache"], download=False)


def test_mismatched_labels_are_rejected(folders):
    write_dataset(folders["root"], 1)
    write_idx(folders["root"] / "train-labels-idx1-ubyte.gz", np.zeros(5, np.uint8))
    with pytest.raises(IdxFormatError, match="5 labels for the 12 images"):
        TinyMNIST(folders["root"], cache_dir=folders["cache"], download=False)


def test_dataset_interface_and_loader(folders):
    write_dataset(folders["root"], 2)
    transform = Compose([ToTensor(), Normalize((0.1307,), (0.3081,))])
    ds = TinyMNIST(folders["root"], cache_dir=folders["cache"], download=False, transform=transform,
                   target_transform=lambda y: y + 100)
    assert ds.data.dtype == np.uint8 and ds.data.shape == (12, 28, 28)
    assert ds.targets.dtype == np.int64
    assert ds.classes[3] == "3 - three" and ds.class_to_idx["9 - nine"] == 9
    image, label = ds[4]
    assert image.shape == (1, 28, 28) and image.dtype == np.float32
    assert label == int(ds.targets[4]) + 100
    images, labels = ds.get_batch(np.array([4, 0, 4]))
    assert images.shape == (3, 1, 28, 28) and images.dtype == np.float32
    np.testing.assert_array_equal(images[0], image.data)
    assert labels.tolist() == [label, int(ds.targets[0]) + 100, label]
    x, y = next(iter(DataLoader(ds, batch_size=5, shuffle=True, seed=0)))
    assert x.shape == (5, 1, 28, 28) and x.dtype == np.float32 and y.dtype == np.int64


def test_without_transform_images_stay_uint8(folders):
    write_dataset(folders["root"], 2)
    ds = TinyMNIST(folders["root"], cache_dir=folders["cache"], download=False)
    image, label = ds[0]
    assert image.dtype == np.uint8 and isinstance(label, int)
    x, y = next(iter(DataLoader(ds, batch_size=4)))
    assert x.dtype == np.uint8 and x.shape == (4, 28, 28)


def test_class_names():
    assert FashionMNIST.classes == ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                                    "Sneaker", "Bag", "Ankle boot"]
    assert len(MNIST.classes) == 10


# ---------------------------------------------------------------------------- the bundled sample

def test_sample_split_sizes_and_stratification():
    train, test = MNIST.sample(train=True), MNIST.sample(train=False)
    assert isinstance(train, MNIST) and len(train) == 4000 and len(test) == 1000
    assert train.data.shape == (4000, 28, 28) and train.data.dtype == np.uint8 and train.targets.dtype == np.int64
    assert np.bincount(train.targets, minlength=10).tolist() == [400] * 10
    assert np.bincount(test.targets, minlength=10).tolist() == [100] * 10
    assert len(set(train.targets[:50].tolist())) > 5           # shuffled, not sorted by label
    assert train.data.max() == 255 and train.data.min() == 0


def test_sample_parts_are_disjoint_and_deterministic():
    _, _, train_indices, test_indices = mnist_module._bundled_sample()
    assert len(np.intersect1d(train_indices, test_indices)) == 0
    assert len(np.union1d(train_indices, test_indices)) == 5000
    mnist_module._bundled_sample.cache_clear()
    again = mnist_module._bundled_sample()
    np.testing.assert_array_equal(again[2], train_indices)
    np.testing.assert_array_equal(again[3], test_indices)


def test_sample_verifies_the_sha256(monkeypatch):
    wrong = dict(MNIST.SAMPLE_FILES)
    wrong["mnist-5k-labels-idx1-ubyte.gz"] = "0" * 64
    monkeypatch.setattr(MNIST, "SAMPLE_FILES", wrong)
    mnist_module._bundled_sample.cache_clear()
    try:
        with pytest.raises(IdxFormatError, match="sha256"):
            MNIST.sample()
    finally:
        mnist_module._bundled_sample.cache_clear()


def test_sample_with_transform_in_a_loader():
    ds = MNIST.sample(train=False, transform=Compose([ToTensor(), Flatten()]))
    x, y = next(iter(DataLoader(ds, batch_size=100)))
    assert x.shape == (100, 784) and x.dtype == np.float32 and float(x.data.max()) <= 1.0


def test_sample_only_for_mnist():
    with pytest.raises(TypeError):
        FashionMNIST.sample()


def test_full_or_sample_falls_back_with_a_notice(folders, capsys):
    ds = MNIST.full_or_sample(cache_dir=folders["cache"], download=False)
    assert len(ds) == 4000
    notice = capsys.readouterr().err.strip()
    assert "MNIST.sample" in notice and len(notice.splitlines()) == 1
    with pytest.raises(DatasetNotFoundError, match="does not exist"):   # a named folder is not replaced
        MNIST.full_or_sample(folders["root"], cache_dir=folders["cache"], download=False)


def test_bundled_files_and_notice_ship_with_the_package():
    folder = Path(mnist_module.__file__).parent
    notice = (folder / "NOTICE.md").read_text()
    assert "Creative Commons Attribution-Share Alike 3.0" in notice and "LeCun" in notice
    for name, digest in MNIST.SAMPLE_FILES.items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest


# ---------------------------------------------------------------------------- the real Fashion-MNIST

DEBIAN = "/usr/share/datasets/fashion-mnist"


@pytest.mark.skipif(not os.path.isdir(DEBIAN), reason="Debian package dataset-fashion-mnist is not installed")
@pytest.mark.parametrize("train, size", [(True, 60000), (False, 10000)])
def test_real_fashion_mnist_from_the_debian_package(folders, train, size):
    ds = FashionMNIST(cache_dir=folders["cache"], download=False, train=train)
    assert ds.data.shape == (size, 28, 28) and ds.data.dtype == np.uint8
    assert ds.targets.dtype == np.int64
    assert np.bincount(ds.targets).tolist() == [size // 10] * 10
    assert str(ds.source[0]).startswith(DEBIAN)


def test_from_arrays():
    ds = FashionMNIST.from_arrays(np.zeros((3, 28, 28), np.uint8), np.array([1, 2, 3], np.uint8))
    assert len(ds) == 3 and ds.targets.dtype == np.int64 and ds.classes[1] == "Trouser"
    with pytest.raises(ValueError, match="uint8"):
        MNIST.from_arrays(np.zeros((3, 28, 28), np.float32), np.arange(3))


@pytest.mark.skipif(not os.path.isdir(DEBIAN), reason="Debian package dataset-fashion-mnist is not installed")
def test_mnist_refuses_the_real_fashion_mnist_files(folders):
    with pytest.raises(IdxFormatError, match="this is Fashion-MNIST's t10k-images"):
        MNIST(DEBIAN, train=False, cache_dir=folders["cache"], download=False)
