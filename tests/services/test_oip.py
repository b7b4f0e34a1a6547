"""The Open Inference Protocol (KServe v2) on both services, driven by NVIDIA's own ``tritonclient``.

The services run as real ``bitcluster serve`` processes; what the protocol returns is compared
with the ``/v1`` routes on the same inputs: codes byte-identical, clusters identical.
"""

from __future__ import annotations

import json

import httpx
import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from bitcluster.core.wire import CODE_BITS_HEADER, MODEL_ID_HEADER, OCTET_STREAM
from bitcluster.serving.process import ServiceProcess

pytest.register_assert_rewrite("service_fixtures")  # before the import, so its asserts explain failures

from service_fixtures import QUIET, in_process_client, random_images  # noqa: E402

pytest_plugins = ["service_fixtures"]
pytestmark = pytest.mark.slow
KEY = "oip-key"


def client(service: ServiceProcess) -> triton.InferenceServerClient:
    return triton.InferenceServerClient(service.url.removeprefix("http://"), network_timeout=30.0)


def encode_v1(services, images: np.ndarray) -> np.ndarray:
    r = httpx.post(services.vendor.url + "/v1/encode", json={"pixels": images.tolist()},
                   headers={"Accept": OCTET_STREAM})
    assert r.status_code == 200, r.text
    return np.frombuffer(r.content, np.uint8).reshape(len(images), -1)


def classify_v1(services, packed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    manifest = services.model.manifest
    r = httpx.post(services.consumer.url + "/v1/classify", params={"posteriors": "true"}, content=packed.tobytes(),
                   headers={"Content-Type": OCTET_STREAM, MODEL_ID_HEADER: manifest.model_id,
                            CODE_BITS_HEADER: str(manifest.bits)})
    assert r.status_code == 200, r.text
    return np.array(r.json()["clusters"]), np.array(r.json()["posteriors"], dtype=np.float32)


def tensor(name: str, array: np.ndarray, datatype: str, binary: bool) -> triton.InferInput:
    t = triton.InferInput(name, list(array.shape), datatype)
    t.set_data_from_numpy(array, binary_data=binary)
    return t


def oip_error(response: httpx.Response, status: int) -> str:
    """The response is ``status`` with the protocol's error body, ``{"error": "<message>"}``."""
    assert response.status_code == status, (response.status_code, response.text[:500])
    body = response.json()
    assert set(body) == {"error"} and isinstance(body["error"], str) and body["error"], body
    return body["error"]


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_encoder_codes_are_byte_identical_to_v1(services, binary):
    images = random_images(40, seed=11)
    result = client(services.vendor).infer(
        "encoder", [tensor("images", images, "UINT8", binary)],
        outputs=[triton.InferRequestedOutput("codes", binary_data=binary)], request_id="batch-7")
    codes = result.as_numpy("codes")
    assert codes.dtype == np.uint8 and codes.shape == (40, services.model.manifest.code_bytes)
    np.testing.assert_array_equal(codes, encode_v1(services, images))
    assert len(np.unique(codes, axis=0)) > 5  # a comparison that could fail
    response = result.get_response()
    assert response["model_name"] == "encoder" and response["id"] == "batch-7"
    assert response["model_version"] == services.model.manifest.model_id


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_classifier_clusters_are_identical_to_v1(services, binary):
    packed = encode_v1(services, random_images(60, seed=12))
    v1_clusters, v1_posteriors = classify_v1(services, packed)
    result = client(services.consumer).infer(
        "classifier", [tensor("codes", packed, "UINT8", binary)],
        outputs=[triton.InferRequestedOutput(name, binary_data=binary) for name in ("clusters", "posteriors")])
    clusters, posteriors = result.as_numpy("clusters"), result.as_numpy("posteriors")
    assert clusters.dtype == np.int64 and clusters.shape == (60,)
    assert posteriors.dtype == np.float32 and posteriors.shape == (60, services.model.manifest.clusters)
    np.testing.assert_array_equal(clusters, v1_clusters)
    np.testing.assert_array_equal(posteriors, v1_posteriors)
    np.testing.assert_array_equal(posteriors.argmax(axis=1), clusters)
    assert len(np.unique(clusters)) > 1


def test_outputs_default_to_all_in_binary_and_can_be_chosen(services):
    packed = encode_v1(services, random_images(10, seed=13))
    consumer = client(services.consumer)
    everything = consumer.infer("classifier", [tensor("codes", packed, "UINT8", True)])  # no outputs named
    names = [o["name"] for o in everything.get_response()["outputs"]]
    assert names == ["clusters", "posteriors", "log_likelihood"]
    assert all("binary_data_size" in o["parameters"] for o in everything.get_response()["outputs"])
    only = consumer.infer("classifier", [tensor("codes", packed, "UINT8", False)],
                          outputs=[triton.InferRequestedOutput("clusters", binary_data=False)])
    assert [o["name"] for o in only.get_response()["outputs"]] == ["clusters"]
    np.testing.assert_array_equal(only.as_numpy("clusters"), everything.as_numpy("clusters"))


def test_versioned_routes_serve_the_model_id(services):
    model_id = services.model.manifest.model_id
    packed = encode_v1(services, random_images(8, seed=14))
    result = client(services.consumer).infer("classifier", [tensor("codes", packed, "UINT8", True)],
                                             model_version=model_id)
    np.testing.assert_array_equal(result.as_numpy("clusters"), classify_v1(services, packed)[0])


def test_health_and_metadata(services):
    manifest = services.model.manifest
    for service, name in ((services.vendor, "encoder"), (services.consumer, "classifier")):
        c = client(service)
        assert c.is_server_live() and c.is_server_ready()
        assert c.is_model_ready(name) and c.is_model_ready(name, manifest.model_id)
        assert not c.is_model_ready(name, "0123456789abcdef") and not c.is_model_ready("other")
        server = c.get_server_metadata()
        assert server["name"] == f"bitcluster-{service.service}" and "binary_tensor_data" in server["extensions"]
        meta = c.get_model_metadata(name)
        assert meta["name"] == name and meta["versions"] == [manifest.model_id]
        assert meta == c.get_model_metadata(name, manifest.model_id)
    assert client(services.vendor).get_model_metadata("encoder")["inputs"] == [
        {"name": "images", "datatype": "UINT8", "shape": [-1, 8, 8]}]
    assert client(services.vendor).get_model_metadata("encoder")["outputs"] == [
        {"name": "codes", "datatype": "UINT8", "shape": [-1, manifest.code_bytes]}]
    assert client(services.consumer).get_model_metadata("classifier")["outputs"] == [
        {"name": "clusters", "datatype": "INT64", "shape": [-1]},
        {"name": "posteriors", "datatype": "FP32", "shape": [-1, manifest.clusters]},
        {"name": "log_likelihood", "datatype": "FP32", "shape": [-1]}]


def expect_refusal(call, status: int, *words: str) -> None:
    with pytest.raises(InferenceServerException) as refused:
        call()
    assert refused.value.status() == str(status), (refused.value.status(), refused.value.message())
    for word in words:
        assert word in refused.value.message(), refused.value.message()


def test_refusals_through_tritonclient(services):
    images, packed = random_images(4, seed=15), encode_v1(services, random_images(4, seed=15))
    vendor, consumer = client(services.vendor), client(services.consumer)
    expect_refusal(lambda: vendor.infer("classifier", [tensor("codes", packed, "UINT8", True)]), 404,
                   "unknown model", "'encoder'")
    expect_refusal(lambda: consumer.infer("classifier", [tensor("codes", packed, "UINT8", True)],
                                          model_version="0123456789abcdef"), 409,
                   "0123456789abcdef", services.model.manifest.model_id)
    expect_refusal(lambda: vendor.get_model_metadata("encoder", "1"), 404, "version '1'")
    expect_refusal(lambda: vendor.infer("encoder", [tensor("images", images[:, :, :7].copy(), "UINT8", True)]),
                   400, "shape", "[-1, 8, 8]")
    expect_refusal(lambda: vendor.infer("encoder", [tensor("images", images / 255.0, "FP64", False)]),
                   400, "must be UINT8")
    expect_refusal(lambda: consumer.infer("classifier", [tensor("codes", packed.astype(np.int32), "INT32", True)]),
                   400, "must be UINT8")
    expect_refusal(lambda: consumer.infer("classifier", [tensor("pixels", packed, "UINT8", True)]), 400, "'codes'")
    expect_refusal(lambda: consumer.infer("classifier", [tensor("codes", packed, "UINT8", True)],
                                          outputs=[triton.InferRequestedOutput("logits")]), 400, "no output 'logits'")
    padded = packed.copy()
    padded[:, -1] |= 1  # 12-bit codes: the low nibble of the second byte is padding and must be clear
    expect_refusal(lambda: consumer.infer("classifier", [tensor("codes", padded, "UINT8", True)]), 422, "padding")


def test_malformed_requests_get_protocol_error_bodies(services):
    url = services.consumer.url + "/v2/models/classifier/infer"
    good = {"inputs": [{"name": "codes", "datatype": "UINT8", "shape": [1, 2], "data": [1, 0]}]}
    assert httpx.post(url, json=good).status_code == 200
    header = json.dumps({"inputs": [{"name": "codes", "datatype": "UINT8", "shape": [2, 2],
                                     "parameters": {"binary_data_size": 4}}]}).encode()
    for length in ("x", "0", str(len(header) + 9)):
        assert "Inference-Header-Content-Length" in oip_error(
            httpx.post(url, content=header + b"\0" * 4, headers={"Inference-Header-Content-Length": length}), 400)
    short = httpx.post(url, content=header + b"\0" * 3, headers={"Inference-Header-Content-Length": str(len(header))})
    assert "binary_data_size" in oip_error(short, 400)
    too_much = httpx.post(url, content=header + b"\0" * 6,
                          headers={"Inference-Header-Content-Length": str(len(header))})
    assert "belong to no input" in oip_error(too_much, 400)
    bad_json = {"inputs": [{"name": "codes", "datatype": "UINT8", "shape": [1, 2], "data": [1, 256]}]}
    assert "range" in oip_error(httpx.post(url, json=bad_json), 400)
    fractions = {"inputs": [{"name": "codes", "datatype": "UINT8", "shape": [1, 2], "data": [1.5, 0]}]}
    assert "integers" in oip_error(httpx.post(url, json=fractions), 400)
    wrong_count = {"inputs": [{"name": "codes", "datatype": "UINT8", "shape": [2, 2], "data": [1, 0]}]}
    assert "4 elements" in oip_error(httpx.post(url, json=wrong_count), 400)
    oip_error(httpx.post(url, content=b"{not json"), 400)
    empty = {"inputs": [{"name": "codes", "datatype": "UINT8", "shape": [0, 2], "data": []}]}
    oip_error(httpx.post(url, json=empty), 422)
    oip_error(httpx.get(services.consumer.url + "/v2/nothing"), 404)
    oip_error(httpx.get(url), 405)
    # The /v1 routes keep their own error shape.
    assert set(httpx.get(services.consumer.url + "/v1/nothing").json()["error"]) == {"code", "message"}


@pytest.fixture(scope="module")
def keyed_consumer(model_a):
    with ServiceProcess("consumer", model_a.dir, env={**QUIET, "BITCLUSTER_API_KEY": KEY}) as consumer:
        yield consumer


def test_the_api_key_closes_everything_but_the_health_probes(keyed_consumer, model_a):
    assert httpx.get(keyed_consumer.url + "/v2/health/live").json() == {"live": True}
    assert httpx.get(keyed_consumer.url + "/v2/health/ready").json() == {"ready": True}
    for path in ("/v2", "/v2/models/classifier", "/v2/models/classifier/ready"):
        assert "API key" in oip_error(httpx.get(keyed_consumer.url + path), 401)
    expect_refusal(lambda: client(keyed_consumer).infer(
        "classifier", [tensor("codes", np.zeros((1, 2), np.uint8), "UINT8", True)]), 401, "missing API key")
    keyed = client(keyed_consumer).infer("classifier", [tensor("codes", np.zeros((1, 2), np.uint8), "UINT8", True)],
                                         headers={"Authorization": f"Bearer {KEY}"})
    assert keyed.as_numpy("clusters").shape == (1,)


def test_readiness_says_not_ready_until_the_model_is_loaded(model_a):
    from bitcluster_consumer.config import Settings
    from bitcluster_consumer.main import create_app

    app = create_app(Settings(model_dir=model_a.dir, api_key=KEY, intra_op_threads=1))
    idle = in_process_client(app)  # no `with`: the lifespan, which loads the model, does not run
    assert idle.get("/v2/health/live").status_code == 200
    assert "not loaded" in oip_error(idle.get("/v2/health/ready"), 503)
    with in_process_client(app) as running:
        assert running.get("/v2/health/ready").json() == {"ready": True}
