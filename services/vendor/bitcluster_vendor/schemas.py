"""Request and response bodies of ``POST /v1/encode``."""

from __future__ import annotations

from typing import Union

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, model_validator

Pixel = Union[StrictInt, StrictFloat]  # strict, so that 255 stays an int and 1.0 a float


class EncodeRequest(BaseModel):
    """Either ``images`` (encoded files) or ``pixels`` (a raw batch), not both."""

    model_config = ConfigDict(extra="forbid")

    images: list[str] | None = Field(None, description="Base64 PNG or JPEG files (any size; converted to grey).")
    pixels: list[list[list[Pixel]]] | None = Field(
        None, description="A raw (N, H, W) grey-scale batch: integers 0..255, or numbers with a decimal "
                          "point in [0, 1].")

    @model_validator(mode="after")
    def _exactly_one(self) -> "EncodeRequest":
        if (self.images is None) == (self.pixels is None):
            raise ValueError("send exactly one of 'images' (base64 PNG/JPEG) or 'pixels' ((N, H, W) array)")
        return self


class EncodeResponse(BaseModel):
    model_id: str = Field(..., description="Give it to the consumer with the codes.")
    bits: int = Field(..., description="Code length D.")
    count: int
    codes: list[str] = Field(..., description="Base64 of each packed code, ceil(D / 8) bytes, MSB first.")
