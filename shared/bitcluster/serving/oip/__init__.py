"""The Open Inference Protocol (KServe v2, the protocol of Triton, KServe and Seldon) for both services.

Beside the services' own ``/v1`` routes, each serves its one model over the protocol:

* :mod:`.tensors` -- datatypes, declared tensors (:class:`TensorSpec`), JSON and binary data to numpy;
* :mod:`.protocol` -- the inference request and response, with the binary tensor extension;
* :mod:`.errors` -- error answers under ``/v2`` in the protocol's ``{"error": "<message>"}`` shape;
* :mod:`.router` -- the routes, built from a service's :class:`OIPModel` by :func:`build_oip_router`.
"""

from bitcluster.serving.oip.errors import OIPErrorBodyMiddleware
from bitcluster.serving.oip.router import OIPModel, build_oip_router
from bitcluster.serving.oip.tensors import TensorSpec

__all__ = ["OIPErrorBodyMiddleware", "OIPModel", "TensorSpec", "build_oip_router"]
