"""The consumer's settings: the shared ones (it always runs on the CPU)."""

from __future__ import annotations

from pydantic import Field

from bitcluster.serving.settings import ServiceSettings


class Settings(ServiceSettings):
    port: int = Field(8002, ge=0, le=65535)
