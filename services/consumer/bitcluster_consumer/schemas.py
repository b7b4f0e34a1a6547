"""Request and response bodies of ``POST /v1/classify``."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ClassifyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model_id: str = Field(..., description="The model_id the vendor returned with the codes.")
    codes: list[str] = Field(..., description="Base64 of each packed code, ceil(D / 8) bytes, MSB first.")
    bits: int | None = Field(None, description="Code length D, checked against the model when given.")
    posteriors: bool = Field(False, description="Also return the posterior over clusters of each code.")


class ClassifyResponse(BaseModel):
    model_id: str
    clusters: list[int] = Field(..., description="The most probable cluster of each code.")
    posteriors: list[list[float]] | None = Field(None, description="(N, K) posteriors, when asked for.")
