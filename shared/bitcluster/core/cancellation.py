"""A piece of work's cancel flag: the ``terminate`` flag of the ``onnxruntime.RunOptions`` it runs with.

The serving layer sets it at the request's deadline (:func:`bitcluster.serving.runtime.run_with_deadline`);
ONNX Runtime checks it between nodes, and work that loops in Python (the vendor decodes images one at
a time) calls :func:`raise_if_cancelled` between steps. No HTTP here: the model layer calls it.
"""

from __future__ import annotations

import onnxruntime as ort


class WorkCancelled(Exception):
    """The request's deadline passed; the work stops where it is (nobody reads its result)."""


def raise_if_cancelled(run_options: ort.RunOptions) -> None:
    """Call between the steps of a long piece of work: stops it once its request has been answered 504."""
    if run_options.terminate:
        raise WorkCancelled()
