"""``/healthz``, ``/readyz`` and ``/v1/model``: the same for both services, built in bitcluster.serving."""

from bitcluster.serving.health import build_health_router

router = build_health_router()
