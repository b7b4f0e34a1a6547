"""Finding 1 of the security review: no request within the body cap may blow up the vendor's memory.

Each attack is sent to a real ``bitcluster serve vendor`` process with the default limits, and
its peak resident memory (``VmHWM``, reset before each request through ``clear_refs``) must stay
within :data:`BUDGET_MB` of what the process holds idle. Every attack gets a proper answer:
200, or a 4xx naming the limit, never a 500.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import httpx
import numpy as np
import pytest

from bitcluster.serving.process import ServiceProcess

pytest.register_assert_rewrite("service_fixtures")
pytest_plugins = ["service_fixtures"]

from service_fixtures import QUIET, assert_error, write_synthetic_model  # noqa: E402
pytestmark = pytest.mark.slow

BUDGET_MB = 150
BODY_CAP = 32 * 1024 * 1024  # the default BITCLUSTER_MAX_BODY_BYTES


def memory_kb(pid: int, field: str) -> int:
    """``VmRSS`` or ``VmHWM`` of a process, in kB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def black_png(side: int) -> str:
    """Base64 of a black side x side grey PNG: 16 kB for 4096x4096, and 16.8 M pixels once decoded."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (side, side)).save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def black_strip_png(mode: str) -> str:
    """Base64 of a black 1 x 4,194,304 PNG, grey (``L``) or ``RGB``: at the default per-image cap of an 8x8 model."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new(mode, (2048 * 2048, 1)).save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def images_up_to_the_body_cap(image: str) -> list[str]:
    return [image] * ((BODY_CAP - 64) // (len(image) + 4))


class Vendor:
    """A vendor process, its idle memory, and the peak each request raises it to."""

    def __init__(self, process: ServiceProcess):
        self.process = process
        self.pid = process.process.pid
        httpx.post(process.url + "/v1/encode", json={"images": [black_png(8)]}).raise_for_status()  # warm: Pillow
        self.idle_kb = memory_kb(self.pid, "VmRSS")

    def send(self, **request) -> tuple[httpx.Response, float]:
        """The answer to one ``POST /v1/encode`` and how far it raised the peak memory over idle, in MB."""
        Path(f"/proc/{self.pid}/clear_refs").write_text("5")  # VmHWM := VmRSS
        response = httpx.post(self.process.url + "/v1/encode", timeout=120, **request)
        return response, (memory_kb(self.pid, "VmHWM") - self.idle_kb) / 1024


@pytest.fixture(scope="module")
def vendor(model_a):
    with ServiceProcess("vendor", model_a.dir, env=QUIET) as process:
        yield Vendor(process)


@pytest.fixture(scope="module")
def rgb_vendor(tmp_path_factory):
    model = write_synthetic_model(tmp_path_factory.mktemp("rgb_model"), seed=3, channels=3)
    with ServiceProcess("vendor", model.dir, env=QUIET) as process:
        yield Vendor(process)


@pytest.fixture(scope="module")
def vendor_with_large_images(model_a):
    """An operator raised the per-image cap back to 4096x4096: the request budget still holds."""
    with ServiceProcess("vendor", model_a.dir, env={**QUIET, "BITCLUSTER_MAX_IMAGE_PIXELS": str(4096 * 4096)}) as p:
        yield Vendor(p)


def check(response: httpx.Response, peak_mb: float, status: int, code: str | None = None) -> None:
    print(f"{status} {code or ''}: peak {peak_mb:.0f} MB over idle")
    if status == 200:
        assert response.status_code == 200, (response.status_code, response.text[:300])
    else:
        message = assert_error(response, status, code)["message"]
        assert "BITCLUSTER_" in message, message  # names the setting that raises the limit
    assert peak_mb <= BUDGET_MB


def test_four_4096_pngs_are_refused_from_their_headers(vendor):
    check(*vendor.send(json={"images": [black_png(4096)] * 4}), 413, "image_too_large")


def test_4096_pngs_up_to_the_body_cap_are_refused_from_their_headers(vendor):
    check(*vendor.send(json={"images": images_up_to_the_body_cap(black_png(4096))}), 413, "image_too_large")


def test_images_at_the_per_image_cap_are_decoded_one_at_a_time(vendor):
    response, peak = vendor.send(json={"images": [black_png(2048)] * 4})  # 4 x 4.2 M pixels: the request budget
    check(response, peak, 200)
    assert response.json()["count"] == 4


def test_images_over_the_request_budget_are_refused_before_decoding(vendor):
    check(*vendor.send(json={"images": images_up_to_the_body_cap(black_png(2048))}), 413, "request_too_large")


def test_20000_empty_multipart_parts_are_refused(vendor):
    files = [("files", (f"{i}.png", b"", "image/png")) for i in range(20_000)]
    check(*vendor.send(files=files), 413, "batch_too_large")


def test_a_json_pixel_body_over_the_number_cap_is_refused_before_parsing(vendor):
    body = json.dumps({"pixels": np.zeros((12, 1024, 1024), np.uint8).tolist()}, separators=(",", ":"))
    assert len(body) < BODY_CAP
    check(*vendor.send(content=body, headers={"Content-Type": "application/json"}), 413, "too_many_pixels")


def test_a_json_float_pixel_body_at_the_number_cap_is_encoded(vendor):
    pixels = np.random.default_rng(0).uniform(0, 1, (1, 1024, 1024))
    body = json.dumps({"pixels": pixels.tolist()}, separators=(",", ":"))
    assert len(body) < BODY_CAP
    response, peak = vendor.send(content=body, headers={"Content-Type": "application/json"})
    check(response, peak, 200)
    assert response.json()["count"] == 1


def test_a_raised_per_image_cap_still_decodes_one_image_at_a_time(vendor_with_large_images):
    response, peak = vendor_with_large_images.send(json={"images": [black_png(4096)]})
    check(response, peak, 200)


def test_a_raised_per_image_cap_still_meets_the_request_budget(vendor_with_large_images):
    check(*vendor_with_large_images.send(json={"images": [black_png(4096)] * 4}), 413, "request_too_large")


@pytest.mark.parametrize("model", ["vendor", "rgb_vendor"])
def test_thin_pngs_under_resize_are_shrunk_on_each_axis(model, request):
    """1 x 4,194,304 strips pass the per-image cap, and their aspect ratio is not checked under resize:
    decoded at full size, the larger raised the peak by about 150 MB (grey model) and 190 MB (RGB model)."""
    strips = [black_strip_png("L"), black_strip_png("RGB")]
    response, peak = request.getfixturevalue(model).send(params={"resize": "true"}, json={"images": strips})
    check(response, peak, 200)
    assert response.json()["count"] == 2
