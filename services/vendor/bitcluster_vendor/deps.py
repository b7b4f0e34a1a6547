"""The vendor's dependencies: its settings, its loaded encoder and its work slots, from ``app.state``."""

from __future__ import annotations

from fastapi import Request

from bitcluster.serving.deps import served_model
from bitcluster.serving.runtime import WorkSlots

from bitcluster_vendor.config import Settings
from bitcluster_vendor.encoder import Encoder


# async: a plain def would be run in a worker thread, a hop that costs more than the lookup.
async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_encoder(request: Request) -> Encoder:
    return served_model(request)


async def get_work_slots(request: Request) -> WorkSlots:
    return request.app.state.work_slots
