"""What the vendor and the consumer services share: numpy, onnxruntime, FastAPI, never torch.

The HTTP edge of both services. The models themselves are loaded by the torch-free core
(:mod:`bitcluster.core.onnx_model`) and raise domain errors; only this layer turns errors into
status codes. One concept per module:

* :mod:`.settings` -- the pydantic-settings base both services' ``Settings`` extend;
* :mod:`.errors` -- the one error shape, ``{"error": {"code", "message"}}``, for every 4xx/5xx,
  and the mapping of the model layer's domain errors to status codes;
* :mod:`.limits` -- the body-size cap (before parsing) and the batch-size check;
* :mod:`.auth` -- the optional bearer API key;
* :mod:`.metrics` -- Prometheus counters and histograms, ``GET /metrics``;
* :mod:`.oip` -- the Open Inference Protocol (KServe v2) under ``/v2``, for any served model;
* :mod:`.runtime` -- inference off the event loop with a deadline;
* :mod:`.model` -- the public description of the served model (``GET /v1/model``);
* :mod:`.deps` -- the settings and the served model as route dependencies;
* :mod:`.health` -- ``/healthz``, ``/readyz`` and ``/v1/model``;
* :mod:`.direct_routes` -- hot routes answered ahead of FastAPI's routing;
* :mod:`.app` -- assembles a service from the pieces above;
* :mod:`.process` -- a service as a child process (demo, tests, benchmarks);
* :mod:`.probe` -- a stdlib-only readiness probe for container health checks.
"""
