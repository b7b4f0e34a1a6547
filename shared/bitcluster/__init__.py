"""bitcluster: clustering in the compressed domain.

The folders are the architecture; each half imports only what it needs:

* ``bitcluster.core``: torch-free conventions both services import (numpy, no scikit-learn):
  bit packing (``codes``), the model manifest, preprocessing, metrics, the entropy-coded code
  format, and the mixture models (``core.mixture``: the Bernoulli mixture the consumer
  evaluates, the Gaussian mixture parameters of the latent-clustering methods);
* ``bitcluster.training``: the torch side (networks, clustering methods, trainers, export to
  ONNX). The consumer service never imports it;
* ``bitcluster.serving``: the FastAPI pieces both services share (settings, errors, auth, limits,
  metrics);
* ``bitcluster.client``: the HTTP client and the resumable batch job;
* ``bitcluster.api``: an exported model run in this process (numpy + onnxruntime, no torch).

The Python API, from here::

    import bitcluster as bc
    model = bc.load_model()                  # the embedded default model, or load_model(path)
    codes = model.encode(images)             # bc.Codes: packed bytes, bits, model_id
    clusters = model.classify(codes)         # or model.cluster(images); the same over HTTP:
    client = bc.BitclusterClient(vendor_url, consumer_url)

``from bitcluster import BernoulliMixture`` gives the numpy BMM estimator.
"""

from __future__ import annotations

import importlib

from bitcluster.core.mixture import BernoulliMixture

# Loaded on first use (PEP 562), so `import bitcluster` pulls in neither onnxruntime nor httpx.
_LAZY = {
    "load_model": "bitcluster.api.model",
    "Model": "bitcluster.api.model",
    "DEFAULT_MODEL_DIR": "bitcluster.api.model",
    "Codes": "bitcluster.api.codes",
    "ImageFormatError": "bitcluster.core.preprocessing",
    "ChannelConversionWarning": "bitcluster.core.channels",
    "ModelMismatchError": "bitcluster.core.model_mismatch",
    "BitclusterClient": "bitcluster.client.http_client",
    "CodeIndex": "bitcluster.search.code_index",
    "ChangeDetector": "bitcluster.api.change_detector",
}

__all__ = ["BernoulliMixture", *_LAZY]
__version__ = "0.1.0"


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'bitcluster' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
