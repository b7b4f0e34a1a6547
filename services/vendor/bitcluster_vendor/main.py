"""The vendor app: wiring only. ``create_app(settings)`` is what ``bitcluster serve vendor`` runs."""

from __future__ import annotations

from fastapi import FastAPI

from bitcluster.serving.app import create_service_app
from bitcluster.serving.runtime import WorkSlots

from bitcluster_vendor.config import Settings
from bitcluster_vendor.encoder import Encoder
from bitcluster_vendor.openapi import encode_contract
from bitcluster_vendor.routes import encode, health, oip

DESCRIPTION = """The data vendor's half of bitcluster: images become packed binary codes
(`ceil(D/8)` bytes each), ready to send to the consumer's `/v1/classify`. Images are never logged."""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    app = create_service_app(service="vendor", title="bitcluster vendor", description=DESCRIPTION,
                             settings=settings, load_model=Encoder.load,
                             routers=[health.router, encode.router, oip.router], contract=encode_contract)
    app.state.work_slots = WorkSlots(settings.max_concurrent_work)
    return app
