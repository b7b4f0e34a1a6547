"""bitcluster: clustering in the compressed domain.

The package is split so that each half imports only what it needs:

* ``bitcluster.codes``, ``bitcluster.manifest``, ``bitcluster.bmm`` and
  ``bitcluster.preprocessing`` are numpy-only and shared by both services;
* ``bitcluster.models``, ``bitcluster.training`` and ``bitcluster.export`` need torch and
  are used for training only. The consumer service never imports them.
"""

__version__ = "0.1.0"
