"""The vendor's settings: the shared ones, the limits that keep decoding images safe, and the GPU switch.

Memory per request is bounded by these limits, whatever the request holds within the body cap:
images are checked from their headers before any is decoded, then decoded one at a time, so a
request costs one decoded image (at most ``max_image_pixels``) and the model input of its batch
(at most ``max_request_pixels`` float32 values, channels counted) on top of its body; a JSON pixel
batch becomes one Python object per number while parsed, many times its bytes on the wire, hence
``max_json_pixels`` (peak memory per attack: ``tests/security/test_vendor_memory.py``).
"""

from __future__ import annotations

from pydantic import Field

from bitcluster.core.wire import JSON_PIXELS_PER_REQUEST
from bitcluster.serving.settings import ServiceSettings

# The default per-image cap: 1024 times the model's input, within [2048^2, 4096^2] pixels.
IMAGE_PIXELS_PER_MODEL_PIXEL = 1024
IMAGE_PIXELS_FLOOR = 2048 * 2048
IMAGE_PIXELS_CEILING = 4096 * 4096


def default_max_image_pixels(model_pixels: int) -> int:
    """The per-image cap when ``BITCLUSTER_MAX_IMAGE_PIXELS`` is unset, from the model's image size.

    1024 times its pixels, height * width (32 times its side; an RGB model's channels do not
    count: a file costs Pillow a few bytes per pixel whatever its mode), but at least 2048x2048 (a
    photo) and at most 4096x4096 (16 M pixels, a few bytes each while decoded and reduced).
    """
    return min(IMAGE_PIXELS_CEILING, max(IMAGE_PIXELS_FLOOR, IMAGE_PIXELS_PER_MODEL_PIXEL * model_pixels))


class Settings(ServiceSettings):
    port: int = Field(8001, ge=0, le=65535)
    use_gpu: bool = Field(True, description="Run the encoder on CUDAExecutionProvider when onnxruntime-gpu "
                                            "is installed and a GPU is visible (BITCLUSTER_USE_GPU=false to "
                                            "force the CPU).")
    max_image_pixels: int | None = Field(None, ge=1, description="Most pixels (H * W) of one image; unset: "
                                                                 "1024 times the model's input, within "
                                                                 "[2048^2, 4096^2] (default_max_image_pixels).")
    max_request_pixels: int = Field(4 * IMAGE_PIXELS_FLOOR, ge=1,
                                    description="Most pixels of all images of one request together (their "
                                                "sizes H * W as the headers declare them, numbers of a JSON "
                                                "batch), and most values of the model input they become "
                                                "(N * height * width * channels: an RGB model's counts 3 per "
                                                "pixel), both checked before any is decoded.")
    max_json_pixels: int = Field(JSON_PIXELS_PER_REQUEST, ge=1, description="Most numbers of a JSON 'pixels' batch, counted "
                                                            "before the body is parsed: each becomes a Python "
                                                            "object while parsed.")
    max_concurrent_work: int = Field(4, ge=1, description="Encode requests decoding or encoding at once; "
                                                          "others wait for a slot within their deadline "
                                                          "(503 when none frees up).")

    def image_pixel_cap(self, model_pixels: int) -> int:
        """``max_image_pixels``, or the default the model's image size (height * width) gives."""
        return self.max_image_pixels or default_max_image_pixels(model_pixels)
