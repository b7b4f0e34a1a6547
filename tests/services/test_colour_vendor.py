"""An RGB model behind the vendor: RGB files and pixels in, grey ones converted and said so, the consumer unchanged."""

from __future__ import annotations

import base64
import warnings

import httpx
import numpy as np
import pytest

pytest.register_assert_rewrite("service_fixtures")
pytest_plugins = ["service_fixtures"]

from colour_fixtures import tinted_digits  # noqa: E402
from service_fixtures import assert_error, in_process_client, png_bytes, write_synthetic_model  # noqa: E402

from bitcluster.client.http_client import BitclusterClient  # noqa: E402
from bitcluster.core.channels import ChannelConversionWarning  # noqa: E402
from bitcluster.core.wire import CONVERSION_HEADER, CONVERTED_HEADER, MODEL_ID_HEADER, CODE_BITS_HEADER  # noqa: E402

OCTET = "application/octet-stream"


@pytest.fixture(scope="module")
def rgb_model(tmp_path_factory):
    return write_synthetic_model(tmp_path_factory.mktemp("rgb_model"), seed=3, channels=3)


@pytest.fixture(scope="module")
def vendor(rgb_model):
    from bitcluster_vendor.config import Settings
    from bitcluster_vendor.main import create_app

    with in_process_client(create_app(Settings(model_dir=rgb_model.dir, use_gpu=False, intra_op_threads=1))) as c:
        yield c


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def test_the_manifest_and_the_served_model_say_rgb(rgb_model, vendor):
    assert rgb_model.manifest.preprocessing["channels"] == 3
    assert vendor.get("/v1/model").json()["preprocessing"]["channels"] == 3
    oip = vendor.get("/v2/models/encoder").json()
    assert oip["inputs"][0]["shape"] == [-1, 8, 8, 3]


def test_rgb_pngs_and_rgb_pixels_encode_as_the_numpy_reference_without_conversion(rgb_model, vendor):
    images = tinted_digits(6)[0]
    expected = rgb_model.encode(images)
    assert len({bytes(c) for c in expected}) > 1  # the codes tell the images apart
    by_files = vendor.post("/v1/encode", json={"images": [b64(png_bytes(im)) for im in images]}).json()
    by_pixels = vendor.post("/v1/encode", json={"pixels": images.tolist()}).json()
    for answer in (by_files, by_pixels):
        assert [base64.b64decode(c) for c in answer["codes"]] == [bytes(c) for c in expected]
        assert answer["converted"] == 0 and answer["conversion"] is None


def test_a_grey_png_for_an_rgb_model_is_converted_and_the_answer_says_so(rgb_model, vendor):
    rgb = tinted_digits(3)[0]
    grey = rgb[..., 1]
    files = [b64(png_bytes(rgb[0])), b64(png_bytes(grey[1])), b64(png_bytes(grey[2]))]
    answer = vendor.post("/v1/encode", json={"images": files}).json()
    assert answer["converted"] == 2 and answer["conversion"] == "grey_to_rgb"
    replicated = np.repeat(grey[1:, ..., None], 3, axis=-1)  # the rule: grey copied into R, G and B
    assert [base64.b64decode(c) for c in answer["codes"][1:]] == [bytes(c) for c in rgb_model.encode(replicated)]
    binary = vendor.post("/v1/encode", files=[("files", ("g.png", png_bytes(grey[1]), "image/png"))],
                         headers={"Accept": OCTET})
    assert binary.headers[CONVERTED_HEADER] == "1" and binary.headers[CONVERSION_HEADER] == "grey_to_rgb"
    plain = vendor.post("/v1/encode", json={"pixels": rgb[:1].tolist()}, headers={"Accept": OCTET})
    assert CONVERTED_HEADER not in plain.headers and CONVERSION_HEADER not in plain.headers


def test_the_openapi_document_describes_the_conversion_fields(vendor):
    schema = vendor.get("/openapi.json").json()
    response = schema["components"]["schemas"]["EncodeResponse"]["properties"]
    assert "converted" in response and "conversion" in response
    assert "ITU-R 601-2" in str(response["conversion"])
    example = schema["paths"]["/v1/encode"]["post"]["requestBody"]["content"]["application/json"]["examples"]
    assert np.asarray(example["pixels"]["value"]["pixels"]).shape == (1, 8, 8, 3)


def test_pixels_neither_grey_nor_rgb_are_refused(vendor):
    assert_error(vendor.post("/v1/encode", json={"pixels": np.zeros((1, 8, 8, 4), int).tolist()}), 422)


def test_the_client_warns_of_the_vendors_conversions_and_counts_them(vendor):
    def forward(request: httpx.Request) -> httpx.Response:
        answer = vendor.request(request.method, request.url.path, params=dict(request.url.params),
                                content=request.content, headers=dict(request.headers))
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)

    client = BitclusterClient("http://vendor", None, transport=httpx.MockTransport(forward))
    grey = tinted_digits(4)[0][..., 0]
    with pytest.warns(ChannelConversionWarning, match=r"4 of 4 images were grey and were converted to RGB"):
        codes = client.encode(grey)
    assert len(codes) == 4 and client.converted == 4
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        client.encode(tinted_digits(2)[0])  # RGB for an RGB model: nothing to say
    assert client.converted == 4


def test_the_consumer_of_a_grey_model_still_refuses_the_rgb_models_codes(rgb_model, model_a, vendor):
    from bitcluster_consumer.config import Settings
    from bitcluster_consumer.main import create_app

    encoded = vendor.post("/v1/encode", json={"pixels": tinted_digits(2)[0].tolist()}, headers={"Accept": OCTET})
    headers = {"Content-Type": OCTET, MODEL_ID_HEADER: encoded.headers[MODEL_ID_HEADER],
               CODE_BITS_HEADER: encoded.headers[CODE_BITS_HEADER]}
    with in_process_client(create_app(Settings(model_dir=model_a.dir, intra_op_threads=1))) as consumer:
        assert_error(consumer.post("/v1/classify", content=encoded.content, headers=headers), 409, "model_mismatch")
    with in_process_client(create_app(Settings(model_dir=rgb_model.dir, intra_op_threads=1))) as consumer:
        assert consumer.post("/v1/classify", content=encoded.content, headers=headers).json()["clusters"] == \
            rgb_model.classify(np.frombuffer(encoded.content, np.uint8).reshape(2, -1)).tolist()
