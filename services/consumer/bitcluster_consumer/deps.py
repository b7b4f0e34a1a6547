"""The consumer's dependencies: its settings and its loaded classifier, from ``app.state``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from bitcluster.serving.deps import served_model

from bitcluster_consumer.classifier import Classifier
from bitcluster_consumer.config import Settings


# async: a plain def would be run in a worker thread, a hop that costs more than the lookup.
async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_classifier(request: Request) -> Classifier:
    """The loaded classifier; 503 before it is loaded or once shutdown has begun."""
    return served_model(request)


SettingsDep = Annotated[Settings, Depends(get_settings)]
ClassifierDep = Annotated[Classifier, Depends(get_classifier)]
