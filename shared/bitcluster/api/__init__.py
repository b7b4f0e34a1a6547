"""The Python API: an exported model run in this process, torch-free.

* :mod:`.model` -- :func:`~.model.load_model` and :class:`~.model.Model`: ``encode`` images into
  codes, ``classify`` codes into clusters, ``cluster`` both at once (numpy + onnxruntime, and
  Pillow only to read image files or resize);
* :mod:`.codes` -- :class:`~.codes.Codes`: packed codes with the model and code length that made them;
* :mod:`.images` -- what counts as images: arrays, lists of arrays, PNG/JPEG files.

:class:`~bitcluster.client.http_client.BitclusterClient` offers the same three methods over HTTP.
Users reach all of it as ``import bitcluster as bc; bc.load_model()``. Nothing is imported here,
so the HTTP client can use :mod:`.codes` without loading onnxruntime.
"""
