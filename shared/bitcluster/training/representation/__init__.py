"""The representation stage: one strong, cached teacher per (data, K, seed).

A deep autoencoder (``P-500-500-2000-10``, the DEC / VaDE / N2D family) is trained on
reconstruction until its loss flattens; UMAP + a Gaussian mixture on its embedding give soft
pseudo-labels (N2D). The result is cached on disk, keyed by the data and the config::

    from bitcluster.training.representation import build_teacher
    teacher = build_teacher(data, clusters=10, seed=0)
    teacher.responsibilities    # (N, K) soft pseudo-labels of data.x_train
    teacher.autoencoder()       # the trained torch autoencoder (g_a encodes, g_s decodes)
"""

from bitcluster.training.representation.cache import default_cache_dir
from bitcluster.training.representation.config import RECIPE_VERSION, TeacherConfig
from bitcluster.training.representation.pseudo_labels import MixtureFit, pseudo_labels
from bitcluster.training.representation.stage import Teacher, build_teacher, load_teacher

__all__ = ["RECIPE_VERSION", "MixtureFit", "Teacher", "TeacherConfig", "build_teacher", "default_cache_dir",
           "load_teacher", "pseudo_labels"]
