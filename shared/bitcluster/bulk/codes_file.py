"""Packed codes read back from a file: the ``code`` column of a ``bitcluster bulk`` Parquet, or an array.

A file of codes does not say which model made them nor how long they are: the caller gives
``bits`` (from the model's manifest) and every code is checked against it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bitcluster.core.codes import check_packed_codes, code_bytes

CODE_COLUMN = "code"
SUFFIXES = (".parquet", ".npy", ".npz")


def read_packed_codes(path: str | Path, bits: int) -> np.ndarray:
    """Codes stored in ``path`` as a checked (N, ceil(bits / 8)) uint8 array, MSB first.

    ``.parquet``: the ``code`` column of ``bitcluster bulk``'s output (binary values of
    ``ceil(bits / 8)`` bytes); ``.npy``: an (N, ceil(bits / 8)) uint8 array; ``.npz``: the array
    ``codes`` (or the archive's only array). Raises ValueError for anything else, an empty file
    included.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path} is not a file of codes")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        packed = _parquet_codes(path, code_bytes(bits))
    elif suffix == ".npy":
        packed = np.load(path, allow_pickle=False)
    elif suffix == ".npz":
        with np.load(path, allow_pickle=False) as archive:
            names = archive.files
            if "codes" not in names and len(names) != 1:
                raise ValueError(f"{path} holds arrays {names}; name the packed codes 'codes'")
            packed = archive["codes" if "codes" in names else names[0]]
    else:
        raise ValueError(f"{path}: codes are read from {', '.join(SUFFIXES)} files, not {suffix or 'no suffix'}")
    if len(packed) == 0:
        raise ValueError(f"{path} holds no codes")
    return np.ascontiguousarray(check_packed_codes(packed, bits))


def _parquet_codes(path: Path, width: int) -> np.ndarray:
    import pyarrow.parquet as pq

    schema = pq.read_schema(path)
    if CODE_COLUMN not in schema.names:
        raise ValueError(f"{path} has no {CODE_COLUMN!r} column (columns: {schema.names}); "
                         "expected the output of `bitcluster bulk`")
    column = pq.read_table(path, columns=[CODE_COLUMN]).column(CODE_COLUMN).combine_chunks()
    if column.null_count:
        raise ValueError(f"{path}: {column.null_count} rows have no code")
    values = column.cast("binary")
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int32)[values.offset:values.offset + len(values) + 1]
    if np.any(np.diff(offsets) != width):
        raise ValueError(f"{path}: every code should be {width} bytes for this model, found lengths "
                         f"{sorted(set(np.diff(offsets).tolist()))[:5]}")
    data = np.frombuffer(values.buffers()[2], dtype=np.uint8) if len(values) else np.zeros(0, np.uint8)
    return data[offsets[0]:offsets[-1]].reshape(len(values), width)
