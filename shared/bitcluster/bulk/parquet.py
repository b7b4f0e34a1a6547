"""The output file of a bulk job: one Parquet file that appears whole or not at all.

Rows are written to a temporary file beside the target (unpredictable name, created exclusively)
and renamed into place only once every row is in, so a job that dies leaves no half-written
``OUT.parquet`` for a later reader to trust. An ``OUT`` that is a symbolic link is refused.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType

import pyarrow as pa
import pyarrow.parquet as pq

from bitcluster.core.atomic import create_temporary_file

# Rows per Parquet row group: batches are small (thousands of rows of a few bytes), and one row
# group per batch would make the file's metadata larger than its data.
ROW_GROUP_ROWS = 1 << 18


class OutputExistsError(FileExistsError):
    """The output file exists and overwriting it was not asked for."""


def refuse_existing(path: Path, force: bool) -> None:
    """Raise :class:`OutputExistsError` when ``path`` exists and ``force`` is not set, or is a symbolic link."""
    if Path(path).is_symlink():
        raise OutputExistsError(f"{path} is a symbolic link; results are written only to a regular file: give "
                                "its real path as --out")
    if Path(path).exists() and not force:
        raise OutputExistsError(f"{path} exists; pass --force to replace it, or choose another --out")


class ParquetOutput:
    """Collects row tables of one schema into ``path``; use as a context manager.

    On a clean exit the temporary file is renamed to ``path`` (replacing it only with ``force``);
    on an exception it is removed and ``path`` is left as it was.
    """

    def __init__(self, path: Path, schema: pa.Schema, force: bool = False) -> None:
        refuse_existing(path, force)
        self.path = Path(path)
        self.schema = schema
        self.force = force
        self.rows = 0
        self._pending: list[pa.Table] = []
        self._pending_rows = 0
        self._writer: pq.ParquetWriter | None = None

    def __enter__(self) -> "ParquetOutput":
        fd, self._tmp = create_temporary_file(self.path)
        try:
            self._sink = os.fdopen(fd, "wb")
            self._writer = pq.ParquetWriter(self._sink, self.schema)
        except BaseException:
            self._tmp.unlink(missing_ok=True)
            raise
        return self

    def write(self, table: pa.Table) -> None:
        """Append rows (a table of this output's schema)."""
        if table.schema != self.schema:
            raise ValueError(f"rows of schema {table.schema} written to an output of schema {self.schema}")
        self._pending.append(table)
        self._pending_rows += table.num_rows
        self.rows += table.num_rows
        if self._pending_rows >= ROW_GROUP_ROWS:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            self._writer.write_table(pa.concat_tables(self._pending), row_group_size=ROW_GROUP_ROWS)
            self._pending, self._pending_rows = [], 0

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            try:
                if exc_type is None:
                    self._flush()
            finally:
                self._writer.close()
                self._sink.close()
            if exc_type is None:
                refuse_existing(self.path, self.force)  # another process may have written it meanwhile
                os.replace(self._tmp, self.path)
        finally:
            self._tmp.unlink(missing_ok=True)  # gone already after a successful rename
