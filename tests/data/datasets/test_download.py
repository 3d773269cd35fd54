"""Downloads through a real HTTP server on 127.0.0.1: success, checksums, drops, mirrors."""

import gzip
import hashlib
import socket
import sys
import threading

import numpy as np
import pytest

from giagrad.data.datasets.download import Checksum, ChecksumError, DownloadError, download, verify_any
from giagrad.data.datasets.idx import idx_bytes, read_idx

ARRAY = np.random.default_rng(1).integers(0, 256, (50, 28, 28), dtype=np.uint8)
CONTENT = idx_bytes(ARRAY)
GZ = gzip.compress(CONTENT, mtime=0)
CONTENT_SHA256 = Checksum("sha256", hashlib.sha256(CONTENT).hexdigest(), of_content=True)
GZ_MD5 = Checksum("md5", hashlib.md5(GZ).hexdigest(), of_content=False)


def unused_port_url():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/x.gz"      # nothing listens there once the socket is closed


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.mark.parametrize("checksum", [CONTENT_SHA256, GZ_MD5, [GZ_MD5, CONTENT_SHA256], None])
def test_success(file_server, tmp_path, checksum):
    file_server.files["/m1/x.gz"] = GZ
    path = download([file_server.url + "/m1/x.gz"], tmp_path / "cache" / "x.gz", checksum, progress=False)
    assert path == tmp_path / "cache" / "x.gz"
    np.testing.assert_array_equal(read_idx(path), ARRAY)
    assert leftovers(tmp_path / "cache") == ["x.gz"]


def test_wrong_checksum_leaves_nothing(file_server, tmp_path):
    file_server.files["/m1/x.gz"] = GZ
    file_server.wrong_content.add("/m1/x.gz")
    with pytest.raises(DownloadError, match="wrong sha256") as raised:
        download([file_server.url + "/m1/x.gz"], tmp_path / "cache" / "x.gz", CONTENT_SHA256, progress=False)
    assert raised.value.attempts[0][0] == file_server.url + "/m1/x.gz"
    assert leftovers(tmp_path / "cache") == []


def test_content_checksum_accepts_a_recompressed_file(file_server, tmp_path):
    file_server.files["/m1/x.gz"] = gzip.compress(CONTENT, compresslevel=1, mtime=99)
    download([file_server.url + "/m1/x.gz"], tmp_path / "x.gz", CONTENT_SHA256, progress=False)
    with pytest.raises(DownloadError, match="wrong md5"):
        download([file_server.url + "/m1/x.gz"], tmp_path / "y.gz", GZ_MD5, progress=False)


@pytest.mark.parametrize("sent", [0, 100, len(GZ) - 1])
def test_connection_dropped_mid_file_leaves_nothing(file_server, tmp_path, sent):
    file_server.files["/m1/x.gz"] = GZ
    file_server.drop_after["/m1/x.gz"] = sent
    with pytest.raises(DownloadError) as raised:
        download([file_server.url + "/m1/x.gz"], tmp_path / "cache" / "x.gz", None, progress=False)
    assert "IncompleteRead" in str(raised.value) or "connection closed" in str(raised.value)
    assert leftovers(tmp_path / "cache") == []


def test_first_mirror_down_second_used(file_server, tmp_path):
    file_server.files["/m2/x.gz"] = GZ
    file_server.errors["/m1/x.gz"] = 503
    urls = [unused_port_url(), file_server.url + "/m1/x.gz", file_server.url + "/m2/x.gz"]
    path = download(urls, tmp_path / "x.gz", CONTENT_SHA256, progress=False)
    np.testing.assert_array_equal(read_idx(path), ARRAY)
    assert file_server.requests == ["/m1/x.gz", "/m2/x.gz"]


def test_all_mirrors_down_one_error_listing_every_url(file_server, tmp_path):
    file_server.files["/bad/x.gz"] = GZ
    file_server.wrong_content.add("/bad/x.gz")
    file_server.errors["/m1/x.gz"] = 500
    urls = [file_server.url + "/m1/x.gz", file_server.url + "/missing/x.gz", file_server.url + "/bad/x.gz",
            unused_port_url()]
    with pytest.raises(DownloadError) as raised:
        download(urls, tmp_path / "x.gz", CONTENT_SHA256, progress=False)
    message = str(raised.value)
    for url in urls:
        assert url in message
    assert "HTTP 500" in message and "HTTP 404" in message and "wrong sha256" in message
    assert "unreachable" in message
    assert [url for url, _ in raised.value.attempts] == urls
    assert leftovers(tmp_path) == []


def test_an_existing_file_is_never_replaced(file_server, tmp_path):
    target = tmp_path / "x.gz"
    target.write_bytes(b"old")
    file_server.files["/m1/x.gz"] = GZ
    with pytest.raises(FileExistsError, match="never replaces"):
        download([file_server.url + "/m1/x.gz"], target, CONTENT_SHA256, progress=False)
    assert target.read_bytes() == b"old" and file_server.requests == []
    assert leftovers(tmp_path) == ["x.gz"]


def download_in_a_thread(*args, **kwargs):
    """Run download in a thread and give up waiting after 20 s (a hang must fail, not block)."""
    outcome = {}

    def run():
        try:
            outcome["path"] = download(*args, **kwargs)
        except BaseException as error:  # noqa: BLE001 - handed to the test
            outcome["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout=20)
    assert not thread.is_alive(), "download hung"
    return outcome


def test_stalled_dripping_and_silent_mirrors_are_left_for_the_next(file_server, tmp_path):
    for prefix in ("stall", "drip", "silent", "good"):
        file_server.files[f"/{prefix}/x.gz"] = GZ
    file_server.stall_after["/stall/x.gz"] = 100
    file_server.drip["/drip/x.gz"] = 0.02
    file_server.silent.add("/silent/x.gz")
    urls = [f"{file_server.url}/{prefix}/x.gz" for prefix in ("stall", "drip", "silent", "good")]
    outcome = download_in_a_thread(urls, tmp_path / "x.gz", CONTENT_SHA256, progress=False, timeout=0.5)
    assert outcome.get("path") == tmp_path / "x.gz", outcome
    np.testing.assert_array_equal(read_idx(tmp_path / "x.gz"), ARRAY)
    assert leftovers(tmp_path) == ["x.gz"]

    (tmp_path / "x.gz").unlink()
    outcome = download_in_a_thread(urls[:3], tmp_path / "x.gz", CONTENT_SHA256, progress=False, timeout=0.5)
    error = outcome["error"]
    assert isinstance(error, DownloadError)
    reasons = dict(error.attempts)
    assert reasons[urls[0]] == "stalled: no data for 0.5 s after 100 bytes"
    assert reasons[urls[1]].startswith("stalled: only ") and "bytes in" in reasons[urls[1]]
    assert reasons[urls[2]] == "no answer within 0.5 s"
    assert leftovers(tmp_path) == []


def test_an_unwritable_folder_says_so_before_any_url(file_server, tmp_path):
    (tmp_path / "a-file").write_bytes(b"")
    file_server.files["/m1/x.gz"] = GZ
    with pytest.raises(OSError, match=r"cannot write the download of x.gz to .*a-file"):
        download([file_server.url + "/m1/x.gz"], tmp_path / "a-file" / "cache" / "x.gz", None, progress=False)
    assert file_server.requests == []


def test_verify_any(tmp_path):
    path = tmp_path / "x.gz"
    path.write_bytes(GZ)
    verify_any(path, [Checksum("md5", "0" * 32, of_content=False), CONTENT_SHA256])
    with pytest.raises(ChecksumError, match="expected 0000"):
        verify_any(path, [Checksum("md5", "0" * 32, of_content=False)])


def test_progress_bar_download(file_server, tmp_path, capsys):
    file_server.files["/m1/x.gz"] = GZ
    download([file_server.url + "/m1/x.gz"], tmp_path / "x.gz", CONTENT_SHA256, progress=True)
    assert (tmp_path / "x.gz").read_bytes() == GZ


def test_interrupted_download_leaves_nothing_and_interrupts(file_server, tmp_path, monkeypatch):
    # The package re-exports the function `download` under the module's name: fetch the module itself.
    download_module = sys.modules[download.__module__]

    def interrupted(url, temporary, name, progress, timeout):
        temporary.write_bytes(GZ[:100])
        raise KeyboardInterrupt

    monkeypatch.setattr(download_module, "_fetch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        download([file_server.url + "/m1/x.gz"], tmp_path / "cache" / "x.gz", CONTENT_SHA256, progress=False)
    assert leftovers(tmp_path / "cache") == []
