"""The teacher a training run learns from: its config and cache, passed down, and what it handed out.

A run makes one :class:`TeacherSource` from what its caller chose (``bitcluster train
--teacher-option ... --cache-dir ... --no-cache``, or :func:`~bitcluster.training.pipeline.train_run`'s
``teacher`` and ``teacher_cache``) and gives it to a method that declares ``uses_teacher``. The
method asks it for the teacher; the run reads :attr:`TeacherSource.used` into its ``metrics.json``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import torch

from bitcluster.data import Dataset
from bitcluster.training.teacher.build import Teacher, build_teacher
from bitcluster.training.teacher.cache import TeacherCache
from bitcluster.training.teacher.config import TeacherConfig


@dataclass
class TeacherSource:
    """How a run's teacher is built and cached, and a record of each teacher it handed out.

    Attributes
    ----------
    config : the run's teacher config (a method may fix the autoencoder's shape, see :meth:`teacher`)
    cache : where teachers are looked up and kept
    used : one :meth:`Teacher.usage` record per distinct teacher handed out, in order
    """

    config: TeacherConfig = field(default_factory=TeacherConfig)
    cache: TeacherCache = field(default_factory=TeacherCache)
    used: list[dict] = field(default_factory=list)

    def teacher(self, data: Dataset, clusters: int, seed: int, *, progress: bool, **shape) -> Teacher:
        """:func:`build_teacher` with this source's config and cache, recorded in :attr:`used`.

        ``shape`` (``latent``, ``hidden``) replaces those config fields: a baseline that starts
        from the teacher's autoencoder fixes its shape from its own config.
        """
        threads = torch.get_num_threads()
        teacher = build_teacher(data, clusters, seed, config=dataclasses.replace(self.config, **shape),
                                cache=self.cache, progress=progress)
        torch.set_num_threads(threads)  # scikit-learn's threadpoolctl may have reset torch's pool
        if all(record["key"] != teacher.metadata["key"] for record in self.used):
            self.used.append(teacher.usage())
        return teacher
