"""The teacher: one strong, cached source of pseudo-labels per (data, K, seed, config).

The run's training images (centred by their centre of mass when that measurably helps: a step of
the run's preprocessing that :mod:`.centring` decides) are reduced to PCA features (or, asked for, the embedding of a ``P-500-500-2000-10`` autoencoder of the DEC /
VaDE / N2D family, trained until its loss flattens): :mod:`.features`. UMAP + a Gaussian mixture
on them give soft pseudo-labels (N2D). The result is cached on disk, keyed by the data and every
config field::

    from bitcluster.training.teacher import TeacherCache, TeacherConfig, build_teacher
    teacher = build_teacher(data, clusters=10, seed=0, config=TeacherConfig(umap_neighbors=15),
                            cache=TeacherCache("/tmp/cache"))
    teacher.responsibilities    # (N, K) soft pseudo-labels of data.x_train
    teacher.metadata["features"]  # what was clustered: the kind of features, of centred images or not

    ae = build_teacher(data, 10, 0, config=TeacherConfig(features="autoencoder"))
    ae.autoencoder()            # the trained torch autoencoder (g_a encodes, g_s decodes)

``vab``'s legacy ``teacher="own"`` recipe, the same two steps on a run's own features, is
:mod:`.own_features`.
"""

from bitcluster.training.teacher.build import Teacher, build_teacher, load_teacher
from bitcluster.training.teacher.cache import TeacherCache, default_cache_dir
from bitcluster.training.teacher.config import RECIPE_VERSION, TeacherConfig
from bitcluster.training.teacher.pseudo_labels import MixtureFit, pseudo_labels
from bitcluster.training.teacher.source import TeacherSource

__all__ = ["RECIPE_VERSION", "MixtureFit", "Teacher", "TeacherCache", "TeacherConfig", "TeacherSource",
           "build_teacher", "default_cache_dir", "load_teacher", "pseudo_labels"]
