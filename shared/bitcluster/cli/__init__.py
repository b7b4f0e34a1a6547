"""The ``bitcluster`` command line (entry point ``bitcluster.cli:app``).

Heavy imports (torch, scikit-learn, onnxruntime) happen inside the commands, so that
``bitcluster serve consumer`` runs where only the consumer extra is installed.
"""

from bitcluster.cli.app import app

__all__ = ["app"]
