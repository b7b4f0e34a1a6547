"""Request and response bodies of ``POST /v1/encode``.

Validation is strict (no coercion: ``"255"`` is not a pixel). The OpenAPI document describes the
request with :data:`ENCODE_REQUEST_SCHEMA`, written out by hand because it says more than the
pydantic model can: exactly one of ``images`` and ``pixels``, never ``null``, and the two ways of
writing a pixel batch.
"""

from __future__ import annotations

from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, model_validator

from bitcluster.core.channels import GREY_TO_RGB, RGB_TO_GREY, RULES

Pixel = Union[StrictInt, StrictFloat]  # strict, so that 255 stays an int and 1.0 a float
RGBPixel = list[Pixel]  # [R, G, B]; its length is checked with the shape, after parsing


class EncodeRequest(BaseModel):
    """Either ``images`` (encoded files) or ``pixels`` (a raw batch), not both."""

    model_config = ConfigDict(extra="forbid", strict=True)

    images: list[str] | None = Field(None, description="Base64 PNG or JPEG files (any size; converted to the "
                                                       "model's grey or RGB).")
    pixels: list[list[list[Pixel]]] | list[list[list[RGBPixel]]] | None = Field(
        None, description="A raw (N, H, W) grey or (N, H, W, 3) RGB batch: integers 0..255, or numbers with a "
                          "decimal point in [0, 1].")

    @model_validator(mode="before")
    @classmethod
    def _exactly_one(cls, data: Any) -> Any:
        # Decided on the keys sent: {"images": null, "pixels": [...]} names both, and is refused.
        if isinstance(data, dict) and sum(key in data for key in ("images", "pixels")) != 1:
            raise ValueError("send exactly one of 'images' (base64 PNG/JPEG) or 'pixels' ((N, H, W) array)")
        return data

    @model_validator(mode="after")
    def _not_null(self) -> "EncodeRequest":
        if self.images is None and self.pixels is None:
            raise ValueError("'images' or 'pixels' must be an array, not null")
        return self


def _batch(items: dict, description: str) -> dict:
    # minItems 1: an empty batch is refused (422 empty_batch); maxItems is the service's max_batch.
    return {"type": "array", "minItems": 1, "items": items, "description": description}


def _pixel_batch(pixel: dict) -> dict:
    image = {"type": "array", "minItems": 1, "items": {"type": "array", "minItems": 1, "items": pixel}}
    return _batch(image, "")


def _rgb(value: dict) -> dict:
    return {"type": "array", "minItems": 3, "maxItems": 3, "items": value}


_LEVEL = {"type": "integer", "minimum": 0, "maximum": 255}
_UNIT = {"type": "number", "minimum": 0, "maximum": 1}


ENCODE_REQUEST_SCHEMA: dict = {
    "title": "EncodeRequest",
    "type": "object",
    "additionalProperties": False,
    "oneOf": [{"required": ["images"]}, {"required": ["pixels"]}],
    "properties": {
        # minLength 1: an empty string is no file (422 invalid_image), and the schema says so.
        "images": _batch({"type": "string", "format": "byte", "minLength": 1,
                          "description": "Standard base64 (optionally as a data: URL) of a PNG or JPEG file."},
                         "PNG or JPEG files of any size, converted to the model's grey or RGB (the answer "
                         "counts those converted); a size of another aspect ratio than the model's is refused "
                         "unless ?resize=true."),
        "pixels": {
            "description": "A raw (N, H, W) grey or (N, H, W, 3) RGB batch, every image of it the same size (H, W) "
                           "(422 otherwise): all integers 0..255, or all numbers written with a decimal point in "
                           "[0, 1]. Another size than the model's is resized; another aspect ratio is "
                           "refused unless ?resize=true; grey for an RGB model, or RGB for a grey one, is "
                           "converted (the answer says so).",
            "anyOf": [_pixel_batch(_LEVEL), _pixel_batch(_UNIT), _pixel_batch(_rgb(_LEVEL)), _pixel_batch(_rgb(_UNIT))],
        },
    },
}


class EncodeResponse(BaseModel):
    model_id: str = Field(..., description="Give it to the consumer with the codes.")
    bits: int = Field(..., description="Code length D.")
    count: int
    codes: list[str] = Field(..., description="Base64 of each packed code, ceil(D / 8) bytes, MSB first.")
    converted: int = Field(0, description="How many of the images were converted between grey and RGB to match "
                                          "the model (grey images for an RGB model, RGB for a grey one); binary "
                                          "answers carry it as the X-Converted header when not 0.")
    conversion: Optional[Literal[RGB_TO_GREY, GREY_TO_RGB]] = Field(
        None, description=f"The rule they were converted by, null when none was: rgb_to_grey "
                          f"({RULES[RGB_TO_GREY]}) or grey_to_rgb ({RULES[GREY_TO_RGB]}); the X-Conversion header "
                          "on binary answers.")
