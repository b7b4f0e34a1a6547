"""The settings of a bulk job that the engines share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class BulkOptions:
    """How a bulk job runs.

    Attributes
    ----------
    batch_size : images per batch (one ``encode`` + ``classify`` call; Ray's ``map_batches`` batch)
    threads : onnxruntime intra-op threads per session, in process and in each actor (0: its choice)
    actors : Ray only: actors in the pool (None: as many as the cluster's CPUs allow)
    cpus_per_actor : Ray only: CPUs reserved for each actor
    gpus_per_actor : Ray only: GPUs reserved for each actor; above 0 the encoder runs on CUDA
    progress : show progress (Ray Data's bars)
    resize : also resize images of another aspect ratio than the model's, stretching them (by
        default they are skipped, with the reason)
    """

    batch_size: int = 8192
    threads: int = 1
    actors: Optional[int] = None
    cpus_per_actor: float = 1.0
    gpus_per_actor: float = 0.0
    progress: bool = True
    resize: bool = False

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")
        if self.actors is not None and self.actors < 1:
            raise ValueError(f"actors must be at least 1, got {self.actors}")
        if self.cpus_per_actor < 0 or self.gpus_per_actor < 0:
            raise ValueError("cpus_per_actor and gpus_per_actor cannot be negative")
