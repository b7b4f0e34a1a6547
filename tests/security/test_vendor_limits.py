"""The vendor's decoding limits one by one: what each refuses, when, and what its message says."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from bitcluster.core.preprocessing import Preprocessing

pytest.register_assert_rewrite("service_fixtures")
pytest_plugins = ["service_fixtures"]

from colour_fixtures import tinted_digits  # noqa: E402
from service_fixtures import (assert_error, in_process_client, png_bytes, random_images,  # noqa: E402
                              write_synthetic_model)

from bitcluster_vendor.config import Settings, default_max_image_pixels  # noqa: E402
from bitcluster_vendor.images import decode_image  # noqa: E402
from bitcluster_vendor.main import create_app  # noqa: E402


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def image_file(side: int, fmt: str = "PNG") -> bytes:
    gradient = np.add.outer(np.arange(side), np.arange(side)) * 255 // (2 * side)
    buffer = io.BytesIO()
    Image.fromarray(gradient.astype(np.uint8)).save(buffer, fmt)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def client(model_a):
    settings = Settings(model_dir=model_a.dir, use_gpu=False, intra_op_threads=1, max_image_pixels=64 * 64,
                        max_request_pixels=3 * 64 * 64, max_json_pixels=1000, max_batch=16)
    with in_process_client(create_app(settings)) as client:
        yield client


def test_the_default_per_image_cap_follows_the_model_within_a_floor_and_a_ceiling():
    assert default_max_image_pixels(8 * 8) == 2048 * 2048  # the floor
    assert default_max_image_pixels(100 * 100) == 1024 * 100 * 100
    assert default_max_image_pixels(256 * 256) == 4096 * 4096  # the ceiling
    assert Settings(max_image_pixels=123).image_pixel_cap(8 * 8) == 123
    assert Settings().image_pixel_cap(8 * 8) == 2048 * 2048


def test_an_image_over_the_cap_is_named_with_the_setting(client):
    images = [b64(png_bytes(random_images(1)[0])), b64(image_file(65))]
    error = assert_error(client.post("/v1/encode", json={"images": images}), 413, "image_too_large")
    assert "images[1]" in error["message"] and "BITCLUSTER_MAX_IMAGE_PIXELS" in error["message"]


def test_the_request_budget_is_checked_from_the_headers_before_any_decoding(client):
    truncated = image_file(64)[:-40]  # its header is whole; decoding it would fail with 422
    images = [b64(truncated)] * 3 + [b64(image_file(64))]
    error = assert_error(client.post("/v1/encode", json={"images": images}), 413, "request_too_large")
    assert "first 4 images" in error["message"] and "BITCLUSTER_MAX_REQUEST_PIXELS" in error["message"]
    assert_error(client.post("/v1/encode", json={"images": images[:3]}), 422, "invalid_image")


def test_json_pixel_values_are_counted_before_parsing(client):
    error = assert_error(client.post("/v1/encode", json={"pixels": np.zeros((16, 8, 8), int).tolist()}),
                         413, "too_many_pixels")
    assert "1024" in error["message"] and "BITCLUSTER_MAX_JSON_PIXELS" in error["message"]
    assert client.post("/v1/encode", json={"pixels": np.zeros((15, 8, 8), int).tolist()}).status_code == 200


# 6 images of 8x8 pixels (files: 6 * 64 = 384 pixels, grey JSON: 384 numbers) fit this budget, and so
# does their input to an 8x8 grey model (384 values); their input to an 8x8 RGB model does not
# (6 * 192 = 1152 values; 5 * 192 = 960 do).
MODEL_INPUT_BUDGET = 1000


def png_form(images: np.ndarray) -> list:
    return [("files", (f"{i}.png", png_bytes(image), "image/png")) for i, image in enumerate(images)]


def test_the_request_budget_counts_the_model_inputs_values_an_rgb_model_three_per_pixel(model_a, tmp_path):
    rgb_model = write_synthetic_model(tmp_path, seed=3, channels=3)
    colour = tinted_digits(6)[0]
    grey = colour[..., 0]
    requests = {"rgb files": {"files": png_form(colour)}, "grey files": {"files": png_form(grey)},
                "grey pixels": {"json": {"pixels": grey.tolist()}}}

    def vendor(model):
        settings = Settings(model_dir=model.dir, use_gpu=False, intra_op_threads=1,
                            max_request_pixels=MODEL_INPUT_BUDGET)
        return in_process_client(create_app(settings))

    with vendor(model_a) as grey_vendor:  # a grey model's input: 6 * 64 values
        for request in requests.values():
            assert grey_vendor.post("/v1/encode", **request).json()["count"] == 6
    with vendor(rgb_model) as rgb_vendor:
        for what, request in requests.items():
            error = assert_error(rgb_vendor.post("/v1/encode", **request), 413, "request_too_large")
            assert "6 images" in error["message"] and "8x8 RGB" in error["message"], what
            assert "1152" in error["message"] and "BITCLUSTER_MAX_REQUEST_PIXELS" in error["message"], what
        assert rgb_vendor.post("/v1/encode", json={"pixels": grey[:5].tolist()}).json()["count"] == 5
        assert rgb_vendor.post("/v1/encode", files=png_form(colour[:5])).json()["count"] == 5


def test_a_form_stops_being_parsed_past_the_batch_size(client):
    files = [("files", (f"{i}.png", b"", "image/png")) for i in range(100)]
    error = assert_error(client.post("/v1/encode", files=files), 413, "batch_too_large")
    assert "at most 16" in error["message"] and "BITCLUSTER_MAX_BATCH" in error["message"]
    files = [("files", (f"{i}.png", png_bytes(random_images(1)[0]), "image/png")) for i in range(17)]
    assert_error(client.post("/v1/encode", files=files), 413, "batch_too_large")  # our own check, one part past


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_a_large_image_is_shrunk_in_8_bits_to_4_times_the_model(fmt):
    grey = decode_image(image_file(1024, fmt), "images[0]", Preprocessing(8, 8))
    assert grey.shape == (32, 32) and grey.dtype == np.uint8
    small = image_file(16, fmt)  # under 4 times the model's side: the exact path of training
    np.testing.assert_array_equal(decode_image(small, "images[0]", Preprocessing(8, 8)),
                                  np.asarray(Image.open(io.BytesIO(small)).convert("L")))


def png_file(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("channels", [1, 3])
def test_a_thin_image_is_shrunk_on_its_long_axis_alone(channels):
    """A 1 x 4,194,304 strip (within the default per-image cap; its aspect ratio is not checked under
    resize) leaves the decoder as 1 x 32, not at full size, and encodes as the full-size strip would.

    tracemalloc sees numpy's arrays (the decoded image, its float32 copy, the conversion), not
    Pillow's own buffers: the full-size strip made 36 to 108 MB of them before each axis had its factor.
    """
    import tracemalloc

    n = 2048 * 2048
    strip = (np.arange(n) * 256 // n).astype(np.uint8)[None]  # a ramp, 0..255 along the strip
    model = Preprocessing(8, 8, channels=channels)
    for pixels in (strip, np.stack([strip, 255 - strip, strip // 2], axis=-1)):  # a grey and an RGB file
        data = png_file(pixels)
        tracemalloc.start()
        try:
            decoded = decode_image(data, "images[0]", model)
            x = model.apply(decoded[None], any_aspect_ratio=True)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert decoded.shape == (1, 32) + pixels.shape[2:] and x.shape == (1, model.n_pixels)
        assert peak < 2**20, peak
        exact = model.apply(pixels[None], any_aspect_ratio=True)  # the full-size path
        assert np.abs(x - exact).max() <= 1 / 255


def test_an_image_of_the_model_aspect_ratio_keeps_it_when_shrunk():
    model = Preprocessing(8, 8)
    for (height, width), shrunk in {(255, 256): (37, 37),  # one factor, 7, the smaller of 255 // 32 and 256 // 32
                                    (1024, 1024): (32, 32),
                                    (240, 256): (35, 32),  # another ratio: 7 and 8, each axis its own
                                    (64, 2048): (32, 32)}.items():
        decoded = decode_image(png_file(np.zeros((height, width), np.uint8)), "images[0]", model)
        assert decoded.shape == shrunk, (height, width)


def test_a_thin_image_without_resize_is_still_refused_for_its_aspect_ratio(client):
    strip = png_file(np.zeros((1, 64 * 64), np.uint8))
    error = assert_error(client.post("/v1/encode", json={"images": [b64(strip)]}), 422)
    assert "aspect ratio" in error["message"]
    answer = client.post("/v1/encode", params={"resize": "true"}, json={"images": [b64(strip)]})
    assert answer.status_code == 200 and answer.json()["count"] == 1


def test_a_large_jpeg_is_decoded_at_a_reduced_scale(monkeypatch):
    from PIL.JpegImagePlugin import JpegImageFile

    drafts, draft = [], JpegImageFile.draft

    def recorded(self, mode, size):
        result = draft(self, mode, size)
        drafts.append((mode, size, self.size))
        return result

    monkeypatch.setattr(JpegImageFile, "draft", recorded)
    decode_image(image_file(1024, "JPEG"), "images[0]", Preprocessing(8, 8))
    decode_image(image_file(16, "JPEG"), "images[0]", Preprocessing(8, 8))
    assert drafts == [("L", (32, 32), (128, 128))]  # 1024 / 8: Pillow decodes 1/8 of each side
