"""One batch of a bulk job: ids and images in, Parquet rows ``id``, ``code``, ``cluster`` out.

The same :class:`BatchClassifier` runs every batch, in this process (``--engine local``) and in
each actor of a Ray pool (``--engine ray``), so both engines give the same rows byte for byte.
A batch is a dict of columns, as Ray Data hands them to ``map_batches`` with
``batch_format="numpy"``: ``id`` and either ``image`` (an (n, H, W) pixel array, from an ``.npz``)
or ``path`` (image files, decoded by the actor that classifies them).

An input that cannot be encoded (a file that is not a PNG or JPEG, truncated, a decompression
bomb, gone, or of another aspect ratio than the model's) does not stop the job: the batch comes
back with a row for it that carries the reason in ``error`` and no code, and :class:`Tally`
writes the other rows and keeps the skipped ones for the job's summary. Each row also says whether
its image is dark on a light background (:mod:`bitcluster.core.polarity`) and whether it was
converted between grey and RGB to match the model (:mod:`bitcluster.core.channels`), which the
summary counts.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Union

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bitcluster.api.images import pixel_groups
from bitcluster.api.model import load_model
from bitcluster.bulk.model_files import ModelFiles
from bitcluster.bulk.parquet import ParquetOutput
from bitcluster.client.inputs import Chunk
from bitcluster.core.codes import code_bytes
from bitcluster.core.polarity import light_background
from bitcluster.core.preprocessing import ImageFormatError, to_unit_float

# The rows of the output file: the input's id, its packed code (ceil(bits / 8) bytes, MSB first,
# as the vendor ships it) and its cluster.
OUTPUT_SCHEMA = pa.schema([("id", pa.string()), ("code", pa.binary()), ("cluster", pa.int64())])
# What a batch returns: those rows, why an input was skipped (null for the rows written), whether
# its image has a light background, and whether it was converted between grey and RGB.
BATCH_SCHEMA = pa.schema(list(OUTPUT_SCHEMA) + [pa.field("error", pa.string()),
                                                pa.field("light_background", pa.bool_()),
                                                pa.field("converted", pa.bool_())])
# The columns a batch adds to the output's rows: counted, not written.
REPORT_COLUMNS = ["error", "light_background", "converted"]
Batch = dict[str, np.ndarray]
# Why one input could not be encoded; anything else (a broken model, no memory) still ends the job.
INPUT_ERRORS = (ImageFormatError, OSError)


def chunk_batch(chunk: Chunk) -> Batch:
    """A chunk of inputs (from :func:`bitcluster.client.inputs.plan_chunks`) as a batch of columns."""
    ids = np.asarray(chunk.ids, dtype=object)
    if isinstance(chunk.images, np.ndarray):
        return {"id": ids, "image": chunk.images}
    return {"id": ids, "path": np.asarray([str(p) for p in chunk.images], dtype=object)}


def chunk_table(chunk: Chunk) -> pa.Table:
    """A chunk as an Arrow table (one block of a Ray dataset): ``id`` and ``image`` (a tensor column) or ``path``."""
    from ray.data.extensions import ArrowTensorArray  # only the Ray engine builds tables of inputs

    batch = chunk_batch(chunk)
    if "image" in batch:
        return pa.table({"id": pa.array(chunk.ids, pa.string()), "image": ArrowTensorArray.from_numpy(batch["image"])})
    return pa.table({"id": pa.array(chunk.ids, pa.string()), "path": pa.array(list(batch["path"]), pa.string())})


def binary_column(packed: np.ndarray) -> pa.Array:
    """(n, B) uint8 packed codes -> an Arrow binary array of n values of B bytes, without a Python loop."""
    n, width = packed.shape
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    data = np.ascontiguousarray(packed).tobytes()
    return pa.Array.from_buffers(pa.binary(), n, [None, pa.py_buffer(offsets.tobytes()), pa.py_buffer(data)])


def output_table(ids: np.ndarray, packed: np.ndarray, clusters: np.ndarray,
                 skipped: dict[str, str] | None = None, light: np.ndarray | None = None,
                 converted: np.ndarray | None = None) -> pa.Table:
    """The rows of one batch (:data:`BATCH_SCHEMA`): the encoded inputs, then the skipped ones.

    Parameters
    ----------
    ids : (n,) strings of the encoded inputs
    packed : (n, ceil(bits / 8)) uint8 packed codes
    clusters : (n,) integer clusters
    skipped : id -> why that input was skipped
    light : (n,) bool, whether each image has a light background (default: none has)
    converted : (n,) bool, whether each image was converted between grey and RGB (default: none was)
    """
    skipped = skipped or {}
    m = len(skipped)
    return pa.Table.from_arrays([
        pa.array(list(ids) + list(skipped), pa.string()),
        pa.concat_arrays([binary_column(packed), pa.nulls(m, pa.binary())]),
        pa.array(np.concatenate([np.asarray(clusters, dtype=np.int64), np.zeros(m, np.int64)]),
                 mask=np.arange(len(ids) + m) >= len(ids)),
        pa.array([None] * len(ids) + list(skipped.values()), pa.string()),
        _flags(light, len(ids), m), _flags(converted, len(ids), m)], schema=BATCH_SCHEMA)


def _flags(values: np.ndarray | None, n: int, skipped: int) -> pa.Array:
    """(n,) bool of the encoded rows (all False when None), then False for the skipped ones."""
    return pa.array(np.concatenate([np.zeros(n, bool) if values is None else np.asarray(values, bool),
                                    np.zeros(skipped, bool)]))


def write_rows(output: ParquetOutput, table: pa.Table) -> list[dict[str, str]]:
    """Write a batch's encoded rows to ``output``; returns its skipped inputs as ``{"id", "error"}``."""
    failed = table["error"].is_valid()
    output.write(table.filter(pc.invert(failed)).drop_columns(REPORT_COLUMNS))
    return table.filter(failed).select(["id", "error"]).to_pylist()


@dataclass
class Tally:
    """What the batches of a job wrote: the inputs skipped (``{"id", "error"}`` each), and among the
    images encoded, those with a light background and those converted between grey and RGB."""

    skipped: list[dict[str, str]] = field(default_factory=list)
    light_background: int = 0
    converted: int = 0

    def write(self, output: ParquetOutput, table: pa.Table) -> None:
        """Write a batch's encoded rows to ``output`` (:func:`write_rows`) and count the rest."""
        self.skipped += write_rows(output, table)
        self.light_background += _count(table["light_background"])
        self.converted += _count(table["converted"])


def _count(flags: pa.ChunkedArray) -> int:
    return int(pc.sum(flags.cast(pa.int64())).as_py() or 0)


class BatchClassifier:
    """Loads the in-process model once, then encodes and classifies batch after batch.

    Parameters
    ----------
    model : an export directory (in process) or its files as bytes (:class:`ModelFiles`, for
        actors that may run on another machine than the files)
    threads : onnxruntime intra-op threads per session (0: onnxruntime's choice)
    use_gpu : run the encoder on CUDA where this onnxruntime build and the worker have it
    resize : also resize images of another aspect ratio than the model's (stretching them)
    """

    def __init__(self, model: Union[Path, str, ModelFiles], threads: int = 1, use_gpu: bool = False,
                 resize: bool = False) -> None:
        self.resize = resize
        if isinstance(model, ModelFiles):
            # onnxruntime reads the graph when the session opens: the files need not outlive the load
            with tempfile.TemporaryDirectory(prefix="bitcluster-model-") as directory:
                self.model = load_model(model.write_to(Path(directory)), threads=threads, allow_gpu=use_gpu)
        else:
            self.model = load_model(model, threads=threads, allow_gpu=use_gpu)

    def __call__(self, batch: Batch) -> pa.Table:
        """Encode and classify one batch; returns its rows in the batch's order (:data:`BATCH_SCHEMA`)."""
        ids = batch["id"]
        images = batch["image"] if "image" in batch else [str(p) for p in batch["path"]]
        try:
            groups = pixel_groups(images)  # files decoded once, for the polarity and the encoder
            codes, converted = self.model.encode_with_conversions(groups, resize=self.resize)
        except INPUT_ERRORS:  # one input or more cannot be encoded: find them, one at a time
            return self._each(ids, images)
        light = np.concatenate([light_background(to_unit_float(g)) for g in groups])
        return output_table(ids, codes.packed, self.model.classify(codes), light=light, converted=converted)

    def _each(self, ids: np.ndarray, images) -> pa.Table:
        kept, packed, light, converted, skipped = [], [], [], [], {}
        for i, image in zip(ids, images):
            try:
                pixels = pixel_groups(image)[0]  # an image array or one file, as (1, H, W) or (1, H, W, 3)
                codes, was_converted = self.model.encode_with_conversions(pixels, resize=self.resize)
                packed.append(codes.packed)
                converted.append(was_converted[0])
                light.append(light_background(to_unit_float(pixels))[0])
                kept.append(i)
            except INPUT_ERRORS as e:
                # the error names the file when it was not decodable; an array's image, or a size, it cannot
                skipped[str(i)] = str(e) if str(i) in str(e) else f"{i}: {e}"
        packed = np.concatenate(packed) if kept else np.zeros((0, code_bytes(self.model.bits)), np.uint8)
        clusters = self.model.classify(packed) if kept else np.zeros(0, np.int64)
        return output_table(np.asarray(kept, dtype=object), packed, clusters, skipped, np.asarray(light, bool),
                            np.asarray(converted, bool))
