"""``bitcluster watch``: the scene changes in a stream of codes, printed as they are found.

Runs where the consumer's install and the ``streams`` extra are: nothing here imports torch.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterator, Optional

import numpy as np
import typer

from bitcluster.cli.common import fail

SIGNAL_CHOICES = ("both", "frequencies", "likelihood")


def parquet_batches(path: Path, rows: int) -> Iterator[tuple[list[str], np.ndarray]]:
    """(ids, packed codes) of a ``bitcluster bulk`` Parquet file, ``rows`` at a time, in file order."""
    import pyarrow.parquet as pq

    for batch in pq.ParquetFile(path).iter_batches(batch_size=rows, columns=["id", "code"]):
        codes = batch.column("code").to_pylist()
        yield batch.column("id").to_pylist(), np.frombuffer(b"".join(codes), dtype=np.uint8).reshape(len(codes), -1)


def stdin_batches(code_bytes: int, rows: int) -> Iterator[tuple[None, bytes]]:
    """Packed codes concatenated on standard input, ``rows`` codes at a time."""
    while chunk := sys.stdin.buffer.read(code_bytes * rows):
        yield None, chunk


def watch(
    codes: str = typer.Argument(..., help="A Parquet file from `bitcluster bulk` (its code column, in row order), "
                                          "or - for packed codes concatenated on standard input."),
    model_dir: Optional[Path] = typer.Option(None, help="Exported model directory, or just its consumer half "
                                                        "(default: the embedded model)."),
    signals: str = typer.Option("both", help="frequencies (the clusters' mix), likelihood (-log p of each code) "
                                             "or both."),
    batch: int = typer.Option(4096, min=1, help="Codes read and classified at a time."),
) -> None:
    """Print the positions (counted from the first code, 0-based) where the stream's clusters or likelihoods change.

    One line per change: position, the signal that fired, and the row's id for a Parquet input.
    """
    if signals not in SIGNAL_CHOICES:
        fail(f"--signals must be one of {', '.join(SIGNAL_CHOICES)}, not {signals!r}")
    from bitcluster.api.change_detector import SIGNALS, ChangeDetector
    from bitcluster.api.model import load_model
    from bitcluster.core.manifest import ManifestError

    try:
        model = load_model(model_dir)
        detector = ChangeDetector(model, signals=SIGNALS if signals == "both" else (signals,))
    except (ManifestError, ValueError) as e:
        fail(str(e))
    except ImportError as e:
        fail(f"the likelihood signal needs the streams extra ({e}): pip install 'bitcluster[streams]', "
             "or watch --signals frequencies")
    if codes == "-":
        batches = stdin_batches(model.manifest.code_bytes, batch)
    elif Path(codes).is_file():
        batches = parquet_batches(Path(codes), batch)
    else:
        fail(f"{codes} is not a file: give a Parquet file from `bitcluster bulk`, or - for standard input")
    given = 0
    for ids, packed in batches:
        try:
            found = detector.update(packed)
        except ValueError as e:
            fail(f"codes {given}-: {e}")
        for change in detector.changes[len(detector.changes) - len(found):]:
            row = f"\t{ids[change.position - given]}" if ids is not None else ""
            typer.echo(f"{change.position}\t{change.signal}{row}")
        given = detector.position
    if given == 0:
        fail("no codes in the input")
    typer.echo(f"{given} codes, {len(detector.changes)} changes", err=True)
