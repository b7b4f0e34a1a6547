"""The Ray engine: Ray Data's ``map_batches`` over a pool of actors that each load the model once.

``RAY_ADDRESS`` (read by ``ray.init``) joins an existing cluster; without it a local Ray instance
starts for the job and stops after it. Ray comes with the ``[bulk]`` extra and is imported only here.

Image files are read by the actors from their paths, so on a cluster the paths must be visible on
every node (a shared file system); ``.npz`` images travel inside the dataset, and the model's
files inside the actors' constructor arguments.
"""

from __future__ import annotations

import logging
from pathlib import Path
from types import ModuleType
from typing import Sequence

from bitcluster.bulk.batches import BatchClassifier, Tally, chunk_table
from bitcluster.bulk.model_files import ModelFiles
from bitcluster.bulk.options import BulkOptions
from bitcluster.bulk.parquet import ParquetOutput
from bitcluster.client.inputs import Chunk

log = logging.getLogger(__name__)
INSTALL_HINT = "pip install 'bitcluster[bulk]'"


class RayMissingError(ImportError):
    """Ray Data is not installed: the ``[bulk]`` extra is needed for ``--engine ray``."""


def import_ray() -> ModuleType:
    """``ray`` with ``ray.data`` loaded, or :class:`RayMissingError` saying how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401 - ray without the [data] extra has no ray.data
    except ImportError as e:
        raise RayMissingError(f"--engine ray needs Ray Data, which is not installed ({e}): {INSTALL_HINT}") from None
    return ray


def default_actors(ray: ModuleType, cpus_per_actor: float) -> int:
    """As many actors as the cluster's CPUs hold (at least one)."""
    cpus = ray.cluster_resources().get("CPU", 1.0)
    return max(1, int(cpus // cpus_per_actor)) if cpus_per_actor > 0 else max(1, int(cpus))


def run_ray(chunks: Sequence[Chunk], model_dir: Path, options: BulkOptions,
            output: ParquetOutput) -> Tally:
    """Classify ``chunks`` on Ray and append their rows to ``output`` in input order; returns what was skipped
    and counted.

    ``chunks`` are the batches (``options.batch_size`` inputs each, fewer at the end of an input).
    """
    ray = import_ray()
    from ray.data import ActorPoolStrategy, DataContext

    model = ModelFiles.read(model_dir)
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(include_dashboard=False, logging_level=logging.WARNING)  # honours RAY_ADDRESS
    try:
        context = DataContext.get_current()
        context.execution_options.preserve_order = True  # rows in input order, as the local engine writes them
        context.enable_progress_bars = options.progress
        if not options.progress:  # --quiet: Ray Data's per-dataset INFO lines too
            logging.getLogger("ray.data").setLevel(logging.WARNING)
        actors = options.actors or default_actors(ray, options.cpus_per_actor)
        # One block per chunk of the inputs, and batch_size=None makes each block one batch: blocks
        # of files and of pixel arrays (of any size) then share one dataset and one actor pool,
        # though their columns differ, because no batch ever mixes two of them.
        dataset = ray.data.from_arrow([chunk_table(c) for c in chunks])
        rows = dataset.map_batches(
            BatchClassifier,
            fn_constructor_kwargs={"model": model, "threads": options.threads, "use_gpu": options.gpus_per_actor > 0,
                                   "resize": options.resize},
            batch_size=None, batch_format="numpy", compute=ActorPoolStrategy(size=actors),
            num_cpus=options.cpus_per_actor, num_gpus=options.gpus_per_actor or None)
        tally = Tally()
        for table in rows.iter_batches(batch_format="pyarrow", batch_size=None):
            tally.write(output, table)
        return tally
    finally:
        if started_here:
            ray.shutdown()
