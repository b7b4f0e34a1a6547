"""The consumer's dependencies: its settings and its loaded classifier, from ``app.state``."""

from __future__ import annotations

from fastapi import Request

from bitcluster.serving.deps import served_model

from bitcluster_consumer.classifier import Classifier
from bitcluster_consumer.config import Settings


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_classifier(request: Request) -> Classifier:
    return served_model(request)
