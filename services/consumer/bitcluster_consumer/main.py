"""The consumer app: wiring only. ``create_app(settings)`` is what ``bitcluster serve consumer`` runs."""

from __future__ import annotations

from fastapi import FastAPI

from bitcluster.serving.app import create_service_app

from bitcluster_consumer.classifier import Classifier
from bitcluster_consumer.config import Settings
from bitcluster_consumer.openapi import ROUTE, classify_contract
from bitcluster_consumer.routes import classify, health, oip

DESCRIPTION = """The data consumer's half of bitcluster: packed binary codes from the vendor's
`/v1/encode` become clusters. It never sees an image, and runs on numpy + onnxruntime alone."""


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(service="consumer", title="bitcluster consumer", description=DESCRIPTION,
                              settings=settings or Settings(), load_model=Classifier.load,
                              routers=[health.router, classify.router, oip.router], contract=classify_contract,
                              direct={ROUTE: classify.classify_directly})  # see bench/results/classify_routing.md
