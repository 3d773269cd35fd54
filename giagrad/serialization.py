"""``giagrad.save`` and ``giagrad.load``: checkpoints as ``.npz`` files that never run code.

A checkpoint is a numpy ``.npz`` archive (a zip of ``.npy`` arrays). Every tensor and array of
the saved object is one entry, ``a0``, ``a1``, ...; one more entry, ``__giagrad__``, holds JSON
(as bytes) describing the structure around them::

    {"format": "giagrad.save", "version": 1, "sha256": "...", "object": <node>}

where a node is a JSON number, string, boolean or null for the same Python value, or one of

    {"type": "dict", "items": [[key, node], ...]}      keys: str, int, float, bool or None
    {"type": "list", "items": [node, ...]}              also "tuple"
    {"type": "tensor", "array": "a0", "requires_grad": false}
    {"type": "ndarray", "array": "a1"}
    {"type": "scalar", "array": "a2"}                   a numpy scalar such as np.float32(0.5)

JSON keeps Python integers of any size exactly (a numpy Generator's state holds 128-bit ones).
The digest covers, for each array entry in order, its name, dtype, shape and bytes, so a
changed array is detected even when the zip itself is intact. An array shared by several
entries of the object (tied weights) is stored once and comes back shared.

A path ending in ``.safetensors`` is handed to ``giagrad.safetensors_file`` instead: the format
PyTorch and others share, for state dicts.

Reading uses ``np.load(allow_pickle=False)``: a checkpoint holds only data, so loading one,
even from an untrusted source, cannot run code (unlike ``torch.load`` of a pickle).
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
import zipfile
from collections.abc import Callable
from typing import Any, BinaryIO

import numpy as np

from giagrad.device import check_load_options
from giagrad.tensor import Tensor

__all__ = ["save", "load", "CheckpointError"]

FORMAT = "giagrad.save"
VERSION = 1
METADATA_ENTRY = "__giagrad__"

_JSON_SCALARS = (str, int, float, bool, type(None))
# Containers nested deeper than this are refused by save and load: the encoder, the JSON parser
# and the decoder recurse, and Python's stack (about 1,000 frames) must never be the limit.
MAX_DEPTH = 200


class CheckpointError(ValueError):
    """A file is not a readable giagrad checkpoint (truncated, corrupted, foreign or too new)."""


# ------------------------------------------------------------------------------------ save


def _is_safetensors(path: str | os.PathLike[str]) -> bool:
    """A path ending in ``.safetensors`` is read and written with the safetensors library."""
    return os.fspath(path).lower().endswith(".safetensors")


def save(obj: Any, path: str | os.PathLike[str]) -> None:
    """Save a state dict (or any nesting of dicts, lists and tuples of tensors, arrays and plain values).

    The write is atomic: the file is written under a temporary name in the same directory,
    flushed to disk, then renamed over ``path``. A crash midway leaves any previous file at
    ``path`` intact.

    Parameters
    ----------
    obj : object
        Tensors, numpy arrays and numpy scalars, ``int``, ``float``, ``str``, ``bool``, ``None``,
        and dicts (keys ``str``, ``int``, ``float``, ``bool`` or ``None``), lists and tuples of them.
    path : str or path-like
        Where to write. The name is used as given (no ``.npz`` is appended). A name ending in
        ``.safetensors`` writes a safetensors file instead, which PyTorch reads; it holds a flat
        state dict only (see ``giagrad.safetensors_file``; needs ``giagrad[safetensors]``).

    Raises
    ------
    TypeError
        For an object of another type, naming where it sits in ``obj`` and the target path.
    ValueError
        For containers nested more than ``MAX_DEPTH`` (200) levels deep.
    OSError
        When the file cannot be written; the message names ``path`` (not the temporary file).

    Examples
    --------
    >>> giagrad.save({"model": model.state_dict(), "epoch": 3}, "checkpoint.npz")
    >>> state = giagrad.load("checkpoint.npz")
    >>> model.load_state_dict(state["model"])
    _IncompatibleKeys(missing_keys=[], unexpected_keys=[])
    """
    if _is_safetensors(path):
        from giagrad.safetensors_file import save_safetensors

        return save_safetensors(obj, path)
    arrays: dict[str, np.ndarray] = {}
    names_by_id: dict[int, str] = {}
    try:
        tree = _encode(obj, "obj", arrays, names_by_id)
    except (TypeError, ValueError) as error:
        raise type(error)(f"{error} (saving to {os.fspath(path)!r})") from None
    metadata = {"format": FORMAT, "version": VERSION, "sha256": _digest(arrays), "object": tree}
    entries = dict(arrays)
    entries[METADATA_ENTRY] = np.frombuffer(json.dumps(metadata).encode("utf-8"), dtype=np.uint8)
    _write_atomically(os.fspath(path), lambda file: np.savez(file, allow_pickle=False, **entries))


def _encode(value: Any, where: str, arrays: dict[str, np.ndarray], names_by_id: dict[int, str],
            depth: int = 0) -> Any:
    """The JSON node for ``value``; its arrays are added to ``arrays``."""
    if depth > MAX_DEPTH:
        raise ValueError(f"giagrad.save: the object is nested more than {MAX_DEPTH} levels deep at {where[:200]}...")
    if isinstance(value, Tensor):
        return {"type": "tensor", "array": _store(value.data, where, arrays, names_by_id),
                "requires_grad": bool(value.requires_grad)}
    if isinstance(value, np.ndarray):
        return {"type": "ndarray", "array": _store(value, where, arrays, names_by_id)}
    if isinstance(value, np.generic):  # before float: np.float64 is a subclass of float
        return {"type": "scalar", "array": _store(np.asarray(value), where, arrays, names_by_id)}
    if isinstance(value, _JSON_SCALARS):
        if type(value) not in _JSON_SCALARS:  # e.g. an IntEnum: would come back as a plain int
            raise TypeError(f"giagrad.save: cannot save {type(value).__name__} at {where}")
        return value
    if isinstance(value, dict):
        items = []
        for key, item in value.items():
            if type(key) not in _JSON_SCALARS:
                raise TypeError(f"giagrad.save: cannot save a dict key of type {type(key).__name__} "
                                f"({key!r}) at {where}; keys must be str, int, float, bool or None")
            items.append([key, _encode(item, f"{where}[{key!r}]", arrays, names_by_id, depth + 1)])
        return {"type": "dict", "items": items}
    if isinstance(value, (list, tuple)):
        return {"type": "tuple" if isinstance(value, tuple) else "list",
                "items": [_encode(item, f"{where}[{i}]", arrays, names_by_id, depth + 1)
                          for i, item in enumerate(value)]}
    raise TypeError(
        f"giagrad.save: cannot save an object of type {type(value).__name__} at {where}; "
        "supported are tensors, numpy arrays, numbers, strings, bools, None, and dicts, lists and tuples of them"
    )


def _store(array: np.ndarray, where: str, arrays: dict[str, np.ndarray], names_by_id: dict[int, str]) -> str:
    if array.dtype.hasobject:
        raise TypeError(f"giagrad.save: cannot save an array of dtype object at {where} (it would need pickle)")
    name = names_by_id.get(id(array))
    if name is None:
        name = f"a{len(arrays)}"
        names_by_id[id(array)] = name
        arrays[name] = array
    return name


def _digest(arrays: dict[str, np.ndarray]) -> str:
    hasher = hashlib.sha256()
    for name, array in arrays.items():
        hasher.update(f"{name}:{array.dtype.str}:{array.shape};".encode())
        hasher.update(np.ascontiguousarray(array).data)  # no copy when already contiguous
    return hasher.hexdigest()


def _write_atomically(path: str, write: Callable[[BinaryIO], object]) -> None:
    """Call ``write(file)`` on a temporary file beside ``path``, make it durable, rename it over ``path``."""
    directory = os.path.dirname(os.path.abspath(path))
    temporary = os.path.join(directory, f".{os.path.basename(path)}.{uuid.uuid4().hex}.tmp")
    try:
        # os.open applies the umask, so the checkpoint gets the usual permissions (mkstemp's are 0600)
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with os.fdopen(descriptor, "wb") as file:
                write(file)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException:
            try:
                os.unlink(temporary)
            except FileNotFoundError:
                pass
            raise
    except OSError as error:
        # The temporary file's name means nothing to the caller: name the file they asked for.
        raise type(error)(error.errno, f"giagrad.save: cannot write the checkpoint {path!r} "
                                       f"({error.strerror or error})") from error
    _sync_directory(directory)


def _sync_directory(directory: str) -> None:
    """Make the rename itself durable (POSIX); a no-op where directories cannot be opened."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


# ------------------------------------------------------------------------------------ load


def load(path: str | os.PathLike[str], map_location: Any = None, weights_only: bool = True,
         **pickle_options: Any) -> Any:
    """Load an object written by :func:`save`; tensors come back as tensors, arrays as arrays.

    Parameters
    ----------
    path : str or path-like
        A file written by ``giagrad.save``, or any ``.safetensors`` file (read as a dict of
        names to tensors; see ``giagrad.safetensors_file``).
    map_location : None, "cpu", a device, or a mapping/callable naming only the CPU
        Accepted as in ``torch.load``; everything loads on the CPU, so anything naming an
        accelerator (``"cuda"``, ``"cuda:0"``, ...) raises a RuntimeError.
    weights_only : bool
        Accepted as in ``torch.load``. A giagrad checkpoint holds only data (it never runs
        code), so both values load the same way.

    Raises
    ------
    FileNotFoundError
        When there is no file at ``path``.
    CheckpointError
        (a ``ValueError``) when the file is truncated, corrupted, changed since it was written,
        not a giagrad checkpoint, or from a newer version of giagrad; the message names the file.

    Examples
    --------
    >>> giagrad.save(model.state_dict(), "model.npz")
    >>> model.load_state_dict(giagrad.load("model.npz"))
    _IncompatibleKeys(missing_keys=[], unexpected_keys=[])
    """
    check_load_options(map_location, weights_only, pickle_options)
    if _is_safetensors(path):
        from giagrad.safetensors_file import load_safetensors

        return load_safetensors(path)
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"giagrad.load: no such file: {path!r}")
    if os.path.isdir(path):
        raise CheckpointError(f"giagrad.load: {path!r} is a directory, not a checkpoint file")
    try:
        is_zip = zipfile.is_zipfile(path)
    except OSError as error:
        raise CheckpointError(f"giagrad.load: cannot read {path!r}: {error}") from error
    if not is_zip:
        raise CheckpointError(f"giagrad.load: {path!r} is not a giagrad checkpoint (not an .npz/zip archive; "
                              "it may be truncated or another kind of file)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            if METADATA_ENTRY not in archive.files:
                raise CheckpointError(f"giagrad.load: {path!r} is an .npz archive but not a giagrad checkpoint "
                                      f"(it has no {METADATA_ENTRY!r} entry)")
            metadata = _read_metadata(path, archive[METADATA_ENTRY])
            names = [f"a{i}" for i in range(len(archive.files) - 1)]
            if sorted(names) != sorted(name for name in archive.files if name != METADATA_ENTRY):
                raise CheckpointError(f"giagrad.load: {path!r} has unexpected entries {archive.files}")
            arrays = {name: archive[name] for name in names}
    except CheckpointError:
        raise
    except Exception as error:
        # A damaged archive can fail in many ways inside zipfile and numpy (BadZipFile, a bad CRC,
        # "zip file version 17.3", "File is encrypted", struct and zlib errors, ...): all of them
        # mean the file cannot be read, which is what the caller needs to know, with the path.
        raise CheckpointError(f"giagrad.load: {path!r} is corrupted or truncated "
                              f"({type(error).__name__}: {error})") from error
    if _digest(arrays) != metadata["sha256"]:
        raise CheckpointError(f"giagrad.load: {path!r} has been changed or corrupted since it was saved "
                              "(its arrays do not match the recorded sha256 digest)")
    try:
        return _decode(metadata["object"], arrays, path, 0)
    except CheckpointError:
        raise
    except Exception as error:  # malformed structure: missing keys, wrong types, nesting too deep, ...
        raise CheckpointError(f"giagrad.load: {path!r} has malformed giagrad metadata "
                              f"({type(error).__name__}: {error})") from error


def _read_metadata(path: str, raw: np.ndarray) -> dict[str, Any]:
    try:
        metadata = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        # RecursionError: JSON nested deeper than the parser's stack (a save never writes that)
        raise CheckpointError(f"giagrad.load: {path!r} has unreadable giagrad metadata "
                              f"({type(error).__name__})") from None
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT or "object" not in metadata:
        raise CheckpointError(f"giagrad.load: {path!r} is not a giagrad checkpoint (unknown metadata)")
    version = metadata.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise CheckpointError(f"giagrad.load: {path!r} has format version {version!r}; this giagrad reads "
                              f"versions up to {VERSION} (upgrade giagrad)")
    if not isinstance(metadata.get("sha256"), str):
        raise CheckpointError(f"giagrad.load: {path!r} has no digest in its metadata")
    return metadata


def _decode(node: Any, arrays: dict[str, np.ndarray], path: str, depth: int) -> Any:
    if not isinstance(node, dict):
        if isinstance(node, list):  # save writes containers as typed nodes, never bare JSON lists
            raise CheckpointError(f"giagrad.load: {path!r} has a bare list in its metadata")
        return node
    if depth > MAX_DEPTH:
        raise CheckpointError(f"giagrad.load: {path!r} has metadata nested more than {MAX_DEPTH} levels deep")
    kind = node.get("type")
    depth += 1
    if kind == "dict":
        return {key: _decode(item, arrays, path, depth) for key, item in node["items"]}
    if kind == "list":
        return [_decode(item, arrays, path, depth) for item in node["items"]]
    if kind == "tuple":
        return tuple(_decode(item, arrays, path, depth) for item in node["items"])
    if kind == "tensor":
        return Tensor(arrays[node["array"]], requires_grad=node["requires_grad"])
    if kind == "ndarray":
        return arrays[node["array"]]
    if kind == "scalar":
        return arrays[node["array"]][()]
    raise CheckpointError(f"giagrad.load: {path!r} has an unknown node type {kind!r} in its metadata")
