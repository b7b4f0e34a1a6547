"""The vendor's dependencies: its settings and its loaded encoder, from ``app.state``."""

from __future__ import annotations

from fastapi import Request

from bitcluster.serving.deps import served_model

from bitcluster_vendor.config import Settings
from bitcluster_vendor.encoder import Encoder


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_encoder(request: Request) -> Encoder:
    return served_model(request)
