"""The local engine: every batch in this process, one after the other, with one loaded model.

On one machine this is the fastest way (no serialisation, no scheduling); the Ray engine is for
when one machine is not enough.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from bitcluster.bulk.batches import BatchClassifier, chunk_batch, write_rows
from bitcluster.bulk.options import BulkOptions
from bitcluster.bulk.parquet import ParquetOutput
from bitcluster.client.inputs import Chunk


def run_local(chunks: Sequence[Chunk], model_dir: Path, options: BulkOptions,
              output: ParquetOutput) -> list[dict[str, str]]:
    """Classify ``chunks`` in order and append their rows to ``output``; returns the skipped inputs."""
    classifier = BatchClassifier(model_dir, threads=options.threads)
    return [skip for chunk in chunks for skip in write_rows(output, classifier(chunk_batch(chunk)))]
