"""The rows of a ``bitcluster bulk`` Parquet file as arrays: ids, packed codes, clusters.

The schema is :data:`bitcluster.bulk.batches.OUTPUT_SCHEMA` (``id``, ``code``, ``cluster``);
the codes are read straight from the Arrow buffer, without a Python object per row.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

COLUMNS = ("id", "code", "cluster")


def read_bulk_codes(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``path`` -> (ids (N,) str, packed (N, B) uint8, clusters (N,) int64).

    Raises ValueError for a file without those columns or with codes of unequal lengths.
    """
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as e:
        raise ImportError(f"reading Parquet needs pyarrow ({e}): pip install 'bitcluster[search]'") from e

    try:
        names = pq.read_schema(path).names
    except pa.ArrowInvalid as e:
        raise ValueError(f"{path} is not a Parquet file ({e})") from e
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        raise ValueError(f"{path} is not a `bitcluster bulk` file: it has no {', '.join(missing)} column; "
                         f"expected {', '.join(COLUMNS)}")
    table = pq.read_table(path, columns=list(COLUMNS))
    if table.num_rows == 0:
        raise ValueError(f"{path} holds no rows")
    codes = table.column("code").combine_chunks()
    offsets = np.frombuffer(codes.buffers()[1], dtype=np.int32)[codes.offset:codes.offset + len(codes) + 1]
    widths = np.diff(offsets)
    if codes.null_count or (widths != widths[0]).any():
        raise ValueError(f"{path}: the codes are not all of one length (or some are missing)")
    data = np.frombuffer(codes.buffers()[2], dtype=np.uint8)[offsets[0]:offsets[-1]]
    ids = np.asarray(table.column("id").to_numpy(zero_copy_only=False), dtype=str)
    clusters = table.column("cluster").to_numpy().astype(np.int64)
    return ids, data.reshape(len(codes), int(widths[0])), clusters
