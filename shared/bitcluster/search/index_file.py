"""The file a :class:`~bitcluster.search.CodeIndex` is saved in: an ``.npz`` of its arrays and a format marker.

No pickles (strings are stored as numpy unicode arrays), so loading a file runs no code from it.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

FORMAT = "bitcluster-code-index"
FORMAT_VERSION = 1


class IndexFormatError(ValueError):
    """A file that is not a saved CodeIndex, or one of a format this version cannot read."""


def write_index_file(path: str | Path, arrays: dict[str, np.ndarray]) -> Path:
    """``arrays`` and the format marker into ``path``; the file appears whole or not at all."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            np.savez(f, format=np.array(FORMAT), version=np.array(FORMAT_VERSION), **arrays)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def read_index_file(path: str | Path) -> dict[str, np.ndarray]:
    """The arrays :func:`write_index_file` wrote; :class:`IndexFormatError` for any other file."""
    path = Path(path)
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise ValueError("a single array, not an archive of them")
        with loaded:
            stored = {name: loaded[name] for name in loaded.files}
    except FileNotFoundError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise IndexFormatError(f"{path} is not a saved CodeIndex ({e})") from e
    if str(stored.get("format", "")) != FORMAT:
        raise IndexFormatError(f"{path} is not a saved CodeIndex (no {FORMAT!r} marker): build one with "
                               "CodeIndex(...).save(path) or `bitcluster search build`")
    if int(stored["version"]) != FORMAT_VERSION:
        raise IndexFormatError(f"{path} is a CodeIndex of format version {int(stored['version'])}; this "
                               f"bitcluster reads version {FORMAT_VERSION}: rebuild the index")
    return stored
