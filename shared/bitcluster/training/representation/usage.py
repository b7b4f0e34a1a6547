"""Which teachers a run used: one record per teacher that :func:`build_teacher` handed out.

A run's ``metrics.json`` says which representation stage its pseudo-labels or its pre-trained
autoencoder came from (the cache key, the teacher's own train scores, whether it was read from
the cache or built for the run), so that two runs can be compared knowing whether they shared it.
"""

from __future__ import annotations

import contextlib
import contextvars
from typing import Iterator

# The records of the innermost recording_teachers() block, or None outside any block.
_USED: contextvars.ContextVar[list[dict] | None] = contextvars.ContextVar("bitcluster_teachers_used", default=None)


@contextlib.contextmanager
def recording_teachers() -> Iterator[list[dict]]:
    """Inside the block, every teacher handed out is recorded (once per cache key) in the list yielded."""
    used: list[dict] = []
    token = _USED.set(used)
    try:
        yield used
    finally:
        _USED.reset(token)


def record_teacher(metadata: dict, path, source: str) -> None:
    """Note a teacher handed out (``source``: "cache", "built" or "built, not cached"), if anyone records."""
    used = _USED.get()
    if used is None or any(r["key"] == metadata["key"] for r in used):
        return
    seconds = metadata.get("seconds", {})
    used.append({"key": metadata["key"], "source": source, "path": None if path is None else str(path),
                 "data_hash": metadata.get("data_hash"), "clusters": metadata.get("clusters"),
                 "seed": metadata.get("seed"), "created": metadata.get("created"),
                 "autoencoder_epochs": metadata.get("autoencoder", {}).get("epochs"),
                 "build_seconds": seconds.get("total"), "gmm_log_likelihood": metadata.get("gmm_log_likelihood"),
                 "train_scores": metadata.get("train_scores")})
