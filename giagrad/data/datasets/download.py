"""Download a file from mirrors tried in turn, verified, written atomically, with a progress bar.

A download goes to a temporary file in the destination folder (``.name.XXXX.part``), is checked
against its known checksum, and only then renamed to its final name. An interrupted download, a
dropped connection or a wrong checksum leaves no file under the final name, so a later run never
trusts a partial or corrupted file (and a leftover ``.part`` file is never read). A download
never replaces a file that already exists: it only fills a missing file's place.

A mirror gets ``timeout`` seconds (default 15, as pip's) to connect, to answer and between any
two pieces of the file; one that goes silent for longer, or that drips less than 1 KiB in
``timeout`` seconds, counts as stalled and the next mirror is tried, so no download hangs.

Examples
--------
>>> checksum = Checksum("sha256", "3a7c...", of_content=True)
>>> download(["https://mirror-a/x.gz", "https://mirror-b/x.gz"], Path("cache/x.gz"), checksum)  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from giagrad.data.datasets.idx import IdxFormatError, read_idx_bytes

__all__ = ["Checksum", "ChecksumError", "DownloadError", "StalledError", "download", "verify_any"]

_CHUNK = 1 << 16
DEFAULT_TIMEOUT = 15.0
# A mirror that sends less than this in ``timeout`` seconds is dripping: as good as stalled.
MIN_BYTES_PER_TIMEOUT = 1024


class StalledError(OSError):
    """A mirror that stopped sending (or drips too slowly to ever finish)."""


class ChecksumError(ValueError):
    """A file whose checksum is not the known one."""


class DownloadError(RuntimeError):
    """Every URL failed; ``attempts`` lists ``(url, reason)`` for each."""

    def __init__(self, name: str, attempts: list[tuple[str, str]]) -> None:
        self.attempts = attempts
        tried = "; ".join(f"{url} ({reason})" for url, reason in attempts) or "no URL"
        super().__init__(f"could not download {name}: tried {tried}")


@dataclass(frozen=True)
class Checksum:
    """A known digest of a file.

    Parameters
    ----------
    algorithm : str
        A ``hashlib`` name, e.g. ``"sha256"`` or ``"md5"``.
    hexdigest : str
        The expected digest.
    of_content : bool
        True: the digest of the decompressed IDX content (the same whatever the source recompressed
        it with); False: of the file's bytes as served (holds only for the mirror it came from).
    """

    algorithm: str
    hexdigest: str
    of_content: bool

    def digest_of(self, path: str | os.PathLike) -> str:
        if self.of_content:
            return hashlib.new(self.algorithm, read_idx_bytes(path)).hexdigest()
        digest = hashlib.new(self.algorithm)
        with open(path, "rb") as file:
            for chunk in iter(lambda: file.read(1 << 20), b""):
                digest.update(chunk)
        return digest.hexdigest()

    def verify(self, path: str | os.PathLike, name: str | None = None) -> None:
        """Raise :class:`ChecksumError` unless ``path`` has this digest."""
        actual = self.digest_of(path)
        if actual != self.hexdigest:
            what = "decompressed content" if self.of_content else "file"
            raise ChecksumError(f"{name or path}: wrong {self.algorithm} of the {what}: expected {self.hexdigest}, "
                                f"got {actual}")


def verify_any(path: str | os.PathLike, checksums: Sequence[Checksum], name: str | None = None) -> None:
    """Raise :class:`ChecksumError` unless ``path`` matches at least one of ``checksums``."""
    errors = []
    for checksum in checksums:
        try:
            checksum.verify(path, name)
            return
        except (ChecksumError, IdxFormatError) as error:
            errors.append(str(error))
    if errors:
        raise ChecksumError("; ".join(errors))


def _fetch(url: str, temporary: Path, name: str, progress: bool, timeout: float) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": "giagrad"})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except TimeoutError:
        raise StalledError(f"no answer within {timeout:g} s") from None
    except urllib.error.URLError as error:
        if isinstance(error.reason, TimeoutError):
            raise StalledError(f"no answer within {timeout:g} s") from None
        raise
    with response, open(temporary, "wb") as file:
        length = response.headers.get("Content-Length")
        expected = int(length) if length is not None and length.isdigit() else None
        received = 0
        # The socket's timeout bounds each wait for data; the window bounds a slow drip.
        window_start, window_bytes = time.monotonic(), 0
        with tqdm(total=expected, unit="B", unit_scale=True, unit_divisor=1024, desc=name,
                  disable=not progress, leave=False) as bar:
            while True:
                try:
                    chunk = response.read1(_CHUNK)  # what has arrived, not a full chunk: a drip shows
                except TimeoutError:
                    raise StalledError(f"stalled: no data for {timeout:g} s after {received} bytes") from None
                if not chunk:
                    break
                file.write(chunk)
                received += len(chunk)
                bar.update(len(chunk))
                window_bytes += len(chunk)
                now = time.monotonic()
                if now - window_start >= timeout:
                    if window_bytes < MIN_BYTES_PER_TIMEOUT:
                        raise StalledError(f"stalled: only {window_bytes} bytes in {now - window_start:.3g} s "
                                           f"(after {received} bytes)")
                    window_start, window_bytes = now, 0
        if expected is not None and received != expected:
            raise OSError(f"connection closed after {received} of {expected} bytes")
        file.flush()
        os.fsync(file.fileno())


def _describe(error: BaseException) -> str:
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    if isinstance(error, urllib.error.URLError):
        return f"unreachable: {error.reason}"
    if isinstance(error, (ChecksumError, StalledError)):
        return str(error)
    return f"{type(error).__name__}: {error}"


def download(urls: Sequence[str], destination: str | os.PathLike, checksum: Checksum | Sequence[Checksum] | None,
             progress: bool = True, timeout: float = DEFAULT_TIMEOUT) -> Path:
    """Download to ``destination`` from the first of ``urls`` that gives a verified file.

    Parameters
    ----------
    urls : sequence of str
        Mirrors of the same file, tried in order.
    destination : path
        The final file name, which must not exist yet; its folder is created if needed.
    checksum : Checksum or sequence of Checksum, optional
        Checked before the file gets its final name; with several, one match is enough. A mismatch
        counts as that mirror failing.
    progress : bool
        Show a tqdm progress bar.
    timeout : float
        Seconds a mirror may take to connect and answer, and may stay silent while sending
        (default 15); sending less than 1 KiB in that time also counts as stalled.

    Raises
    ------
    FileExistsError
        When ``destination`` exists: a download never replaces a file.
    OSError
        When the destination folder cannot be written (before any URL is tried).
    DownloadError
        When every URL failed; it lists each URL with its reason ("stalled: no data for 15 s
        after 1024 bytes", "HTTP 404 Not Found", a wrong checksum, ...).
    """
    destination = Path(destination)
    checksums = [] if checksum is None else [checksum] if isinstance(checksum, Checksum) else list(checksum)
    if not timeout > 0:
        raise ValueError(f"download: timeout must be a positive number of seconds, got {timeout!r}")
    _refuse_existing(destination)
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary_name = tempfile.mkstemp(prefix=f".{destination.name}.", suffix=".part",
                                                  dir=destination.parent)
    except OSError as error:
        raise type(error)(error.errno, f"cannot write the download of {destination.name} to "
                                       f"{destination.parent} ({error.strerror or error})") from error
    os.close(handle)
    temporary = Path(temporary_name)
    attempts: list[tuple[str, str]] = []
    try:
        for url in urls:
            try:
                _fetch(url, temporary, destination.name, progress, timeout)
                verify_any(temporary, checksums, name="the downloaded file")
            except Exception as error:  # any failure of this mirror: note it and try the next
                attempts.append((url, _describe(error)))
                continue
            _refuse_existing(destination)  # appeared meanwhile: still not ours to replace
            os.replace(temporary, destination)
            return destination
    finally:
        # Also on KeyboardInterrupt: nothing partial stays behind.
        if temporary.exists():
            temporary.unlink()
    raise DownloadError(destination.name, attempts)


def _refuse_existing(destination: Path) -> None:
    if destination.exists():
        raise FileExistsError(f"download: {destination} already exists; a download never replaces a file "
                              "(delete it first to download it again)")
