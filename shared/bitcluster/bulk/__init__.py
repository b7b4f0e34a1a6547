"""Bulk jobs: encode and classify many images with the in-process model, into one Parquet file.

* :mod:`.job` -- :func:`~.job.run_bulk_job`, what ``bitcluster bulk`` runs;
* :mod:`.batches` -- the work of one batch (:class:`~.batches.BatchClassifier`), the same callable
  in process and in each Ray actor, and the Parquet row schema;
* :mod:`.engine_local` -- the batches one after the other in this process;
* :mod:`.engine_ray` -- the batches through Ray Data's ``map_batches`` over an actor pool, on a local
  Ray instance or the cluster ``RAY_ADDRESS`` names (the ``[bulk]`` extra);
* :mod:`.parquet` -- the output file, written to a temporary name and renamed into place.

Nothing is imported here, so ``bitcluster bulk --engine local`` never imports Ray.
"""
