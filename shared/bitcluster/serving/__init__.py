"""What the vendor and the consumer services share: numpy, onnxruntime, FastAPI, never torch.

One concept per module:

* :mod:`.settings` -- the pydantic-settings base both services' ``Settings`` extend;
* :mod:`.errors` -- the one error shape, ``{"error": {"code", "message"}}``, for every 4xx/5xx;
* :mod:`.limits` -- the body-size cap (before parsing) and the batch-size check;
* :mod:`.auth` -- the optional bearer API key;
* :mod:`.metrics` -- Prometheus counters and histograms, ``GET /metrics``;
* :mod:`.runtime` -- ONNX Runtime sessions (CUDA when present and allowed, else CPU) and
  inference off the event loop with a deadline;
* :mod:`.model` -- a verified, loaded half of an exported model and its public description;
* :mod:`.health` -- ``/healthz``, ``/readyz`` and ``/v1/model``;
* :mod:`.app` -- assembles a service from the pieces above;
* :mod:`.probe` -- a stdlib-only readiness probe for container health checks.
"""
