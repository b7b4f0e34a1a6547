"""The local engine: every batch in this process, one after the other, with one loaded model.

On one machine this is the fastest way (no serialisation, no scheduling); the Ray engine is for
when one machine is not enough.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from bitcluster.bulk.batches import BatchClassifier, Tally, chunk_batch
from bitcluster.bulk.options import BulkOptions
from bitcluster.bulk.parquet import ParquetOutput
from bitcluster.client.inputs import Chunk


def run_local(chunks: Sequence[Chunk], model_dir: Path, options: BulkOptions,
              output: ParquetOutput) -> Tally:
    """Classify ``chunks`` in order and append their rows to ``output``; returns what was skipped and counted."""
    classifier = BatchClassifier(model_dir, threads=options.threads, resize=options.resize)
    tally = Tally()
    for chunk in chunks:
        tally.write(output, classifier(chunk_batch(chunk)))
    return tally
