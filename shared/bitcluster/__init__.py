"""bitcluster: clustering in the compressed domain.

The package is split so that each half imports only what it needs:

* ``bitcluster.core.codes``, ``bitcluster.core.manifest``, ``bitcluster.core.bmm`` and
  ``bitcluster.core.preprocessing`` are numpy-only and shared by both services;
* ``bitcluster.models``, ``bitcluster.training`` and ``bitcluster.training.export`` need torch and
  are used for training only. The consumer service never imports them.
"""

__version__ = "0.1.0"
