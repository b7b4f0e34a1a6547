"""A bulk job: the inputs of ``bitcluster cluster`` -> one Parquet file of ``id``, ``code``, ``cluster``.

Inputs (image files, directories of them, ``.npz`` arrays) are collected and ided as the HTTP
batch job does (:mod:`bitcluster.client.inputs`); an id given twice gets one row. The model runs
in process (:func:`bitcluster.api.model.load_model`), never behind the services.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

from bitcluster.bulk.batches import OUTPUT_SCHEMA
from bitcluster.bulk.engine_local import run_local
from bitcluster.bulk.engine_ray import run_ray
from bitcluster.bulk.options import BulkOptions
from bitcluster.bulk.parquet import ParquetOutput, refuse_existing
from bitcluster.client.inputs import collect_inputs, plan_chunks
from bitcluster.core.channels import CONVERSION_INTO
from bitcluster.core.manifest import load_manifest
from bitcluster.core.preprocessing import Preprocessing

ENGINES = {"local": run_local, "ray": run_ray}


@dataclass(frozen=True)
class BulkSummary:
    """What a finished bulk job did: rows written, ids given more than once, inputs skipped (with
    why: ``{"id", "error"}`` each), time and throughput, how many of the images written are
    dark on a light background (:mod:`bitcluster.core.polarity`), and how many were ``converted``
    between grey and RGB to match the model, by the rule ``conversion`` names (``rgb_to_grey`` or
    ``grey_to_rgb``, :mod:`bitcluster.core.channels`; None when none was)."""

    engine: str
    out: str
    model_id: str
    rows: int
    repeated_ids: int
    seconds: float
    rows_per_s: float
    skipped: int = 0
    skipped_inputs: list[dict[str, str]] = field(default_factory=list)
    light_background: int = 0
    converted: int = 0
    conversion: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def run_bulk_job(inputs: Sequence[Path], model_dir: Path, out: Path, *, engine: str = "local",
                 options: BulkOptions = BulkOptions(), force: bool = False) -> BulkSummary:
    """Encode and classify every input with the model in ``model_dir``, writing ``out`` (Parquet).

    An input that cannot be encoded (not a PNG or JPEG, truncated, a decompression bomb, another
    aspect ratio, unless ``options.resize``) is skipped and listed in the summary; the job goes on.

    Raises :class:`~bitcluster.bulk.parquet.OutputExistsError` when ``out`` exists without
    ``force`` (before any work), :class:`~bitcluster.client.inputs.InputError` for unusable
    inputs (a path that is not there), :class:`~bitcluster.core.manifest.ManifestError` for a broken model and
    :class:`~bitcluster.bulk.engine_ray.RayMissingError` for ``engine="ray"`` without Ray.
    """
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; expected one of {sorted(ENGINES)}")
    refuse_existing(out, force)
    manifest, _ = load_manifest(Path(model_dir), "vendor")  # fail on a broken model before reading inputs
    chunks, repeated = plan_chunks(collect_inputs(inputs), done=set(), chunk_size=options.batch_size)
    started = time.perf_counter()
    with ParquetOutput(out, OUTPUT_SCHEMA, force=force) as output:
        tally = ENGINES[engine](chunks, Path(model_dir), options, output)
    seconds = time.perf_counter() - started
    return BulkSummary(engine, str(out), manifest.model_id, output.rows, repeated, round(seconds, 3),
                       round(output.rows / seconds, 1) if seconds > 0 else 0.0, len(tally.skipped), tally.skipped,
                       tally.light_background, tally.converted,
                       CONVERSION_INTO[Preprocessing.from_dict(manifest.preprocessing).channels] if tally.converted
                       else None)
