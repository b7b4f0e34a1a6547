"""``python -m bitcluster.cli``: the same as the ``bitcluster`` command."""

from bitcluster.cli.app import app

app()
