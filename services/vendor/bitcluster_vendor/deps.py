"""The vendor's dependencies: its settings and its loaded encoder, from ``app.state``."""

from __future__ import annotations

from fastapi import Request

from bitcluster.serving.deps import served_model

from bitcluster_vendor.config import Settings
from bitcluster_vendor.encoder import Encoder


# async: a plain def would be run in a worker thread, a hop that costs more than the lookup.
async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_encoder(request: Request) -> Encoder:
    return served_model(request)
