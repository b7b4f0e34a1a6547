"""One batch of a bulk job: ids and images in, Parquet rows ``id``, ``code``, ``cluster`` out.

The same :class:`BatchClassifier` runs every batch, in this process (``--engine local``) and in
each actor of a Ray pool (``--engine ray``), so both engines give the same rows byte for byte.
A batch is a dict of columns, as Ray Data hands them to ``map_batches`` with
``batch_format="numpy"``: ``id`` and either ``image`` (an (n, H, W) pixel array, from an ``.npz``)
or ``path`` (image files, decoded by the actor that classifies them).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Union

import numpy as np
import pyarrow as pa

from bitcluster.api.model import load_model
from bitcluster.bulk.model_files import ModelFiles
from bitcluster.client.inputs import Chunk

# The rows of the output file: the input's id, its packed code (ceil(bits / 8) bytes, MSB first,
# as the vendor ships it) and its cluster.
OUTPUT_SCHEMA = pa.schema([("id", pa.string()), ("code", pa.binary()), ("cluster", pa.int64())])
Batch = dict[str, np.ndarray]


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


def output_table(ids: np.ndarray, packed: np.ndarray, clusters: np.ndarray) -> pa.Table:
    """The Parquet rows of one batch.

    Parameters
    ----------
    ids : (n,) strings
    packed : (n, ceil(bits / 8)) uint8 packed codes
    clusters : (n,) integer clusters
    """
    return pa.Table.from_arrays([pa.array(list(ids), pa.string()), binary_column(packed),
                                 pa.array(np.asarray(clusters, dtype=np.int64))], schema=OUTPUT_SCHEMA)


class BatchClassifier:
    """Loads the in-process model once, then encodes and classifies batch after batch.

    Parameters
    ----------
    model : an export directory (in process) or its files as bytes (:class:`ModelFiles`, for
        actors that may run on another machine than the files)
    threads : onnxruntime intra-op threads per session (0: onnxruntime's choice)
    use_gpu : run the encoder on CUDA where this onnxruntime build and the worker have it
    """

    def __init__(self, model: Union[Path, str, ModelFiles], threads: int = 1, use_gpu: bool = False) -> None:
        if isinstance(model, ModelFiles):
            # onnxruntime reads the graph when the session opens: the files need not outlive the load
            with tempfile.TemporaryDirectory(prefix="bitcluster-model-") as directory:
                self.model = load_model(model.write_to(Path(directory)), threads=threads, allow_gpu=use_gpu)
        else:
            self.model = load_model(model, threads=threads, allow_gpu=use_gpu)

    def __call__(self, batch: Batch) -> pa.Table:
        """Encode and classify one batch; returns its rows in the batch's order (:data:`OUTPUT_SCHEMA`)."""
        images = batch["image"] if "image" in batch else [str(p) for p in batch["path"]]
        codes = self.model.encode(images)
        return output_table(batch["id"], codes.packed, self.model.classify(codes))
