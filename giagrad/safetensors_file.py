"""State dicts as ``.safetensors`` files: the format PyTorch, JAX and the Hugging Face hub share.

``giagrad.save(model.state_dict(), "model.safetensors")`` and ``giagrad.load("model.safetensors")``
come here (the suffix chooses the format). The file is written and read by the ``safetensors``
package's numpy API (``pip install "giagrad[safetensors]"``), so a state dict saved by PyTorch
with ``safetensors.torch.save_file`` loads into the same giagrad model, and the reverse: giagrad
uses PyTorch's parameter names and layouts.

Like ``.npz`` checkpoints, a ``.safetensors`` file holds only data, so loading it cannot run
code. The format holds one flat mapping of names to arrays (no nesting, no plain numbers), which
is what a state dict is. giagrad writes the SHA-256 digest of the arrays into the file's string
metadata and checks it on load when it is there (files from other libraries have none; the
format itself already checks the header and the sizes).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from giagrad.serialization import CheckpointError, _digest, _write_atomically
from giagrad.tensor import Tensor

__all__ = ["save_safetensors", "load_safetensors", "SUFFIX"]

SUFFIX = ".safetensors"
DIGEST_KEY = "giagrad.sha256"


def _safetensors_numpy() -> Any:
    try:
        import safetensors.numpy
    except ImportError:
        raise ImportError("giagrad: .safetensors files need the safetensors package: "
                          'pip install "giagrad[safetensors]"') from None
    return safetensors.numpy


def save_safetensors(state: Mapping[str, Any], path: str | os.PathLike[str]) -> None:
    """Write a flat mapping of names to tensors or arrays as a ``.safetensors`` file, atomically.

    Parameters
    ----------
    state : mapping of str to Tensor or numpy array
        Usually ``model.state_dict()``. Nested dicts and plain numbers have no place in the
        format: save those in a ``.npz`` checkpoint instead.
    path : str or path-like
        Where to write.

    Raises
    ------
    TypeError
        For a state that is not a mapping of str to tensors or numeric arrays, naming the entry.

    Examples
    --------
    >>> giagrad.save(model.state_dict(), "model.safetensors")  # doctest: +SKIP
    """
    if not isinstance(state, Mapping):
        raise TypeError(f"giagrad.save: a .safetensors file holds a flat dict of names to tensors (a state "
                        f"dict), not a {type(state).__name__}; use a .npz path for other objects")
    arrays: dict[str, np.ndarray] = {}
    for name in sorted(state):
        value = state[name]
        if not isinstance(name, str):
            raise TypeError(f"giagrad.save: a .safetensors file needs str keys, got {name!r}")
        array = value.data if isinstance(value, Tensor) else value
        if not isinstance(array, np.ndarray | np.generic) or np.asarray(array).dtype.kind not in "biuf":
            raise TypeError(f"giagrad.save: cannot save {name!r} ({type(value).__name__}) in a .safetensors file: "
                            "only tensors and numeric numpy arrays; use a .npz path for other objects")
        arrays[name] = np.asarray(array, order="C")  # not ascontiguousarray: it makes 0-d arrays 1-d
    content = _safetensors_numpy().save(arrays, metadata={DIGEST_KEY: _digest(arrays)})
    _write_atomically(os.fspath(path), lambda file: file.write(content))


def load_safetensors(path: str | os.PathLike[str]) -> dict[str, Tensor]:
    """Read a ``.safetensors`` file as a dict of names to tensors (in the file's order).

    Raises
    ------
    FileNotFoundError
        When there is no file at ``path``.
    CheckpointError
        When the file is truncated, corrupted, not a safetensors file, holds a dtype numpy
        cannot represent (``bfloat16``), or its arrays do not match giagrad's recorded digest.

    Examples
    --------
    >>> model.load_state_dict(giagrad.load("model.safetensors"))  # doctest: +SKIP
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"giagrad.load: no such file: {path!r}")
    library = _safetensors_numpy()
    with open(path, "rb") as file:
        content = file.read()
    try:
        arrays = library.load(content)
        with library.safe_open(path, framework="np") as reader:
            metadata = reader.metadata() or {}
            names = list(reader.keys())
    except Exception as error:  # the library raises its own SafetensorError, and ValueError/TypeError for dtypes
        raise CheckpointError(f"giagrad.load: {path!r} is not a readable .safetensors file (it may be truncated, "
                              f"corrupted or another kind of file): {error}") from None
    expected = metadata.get(DIGEST_KEY)
    if expected is not None and _digest({name: arrays[name] for name in sorted(arrays)}) != expected:
        raise CheckpointError(f"giagrad.load: {path!r} has been changed or corrupted since it was saved "
                              "(its arrays do not match the recorded sha256 digest)")
    return {name: Tensor(np.array(arrays[name])) for name in names}
