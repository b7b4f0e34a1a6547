"""BitclusterClient: the octet-stream round trip, retries, and model mismatches."""

from __future__ import annotations

import contextlib
import json

import httpx
import numpy as np
import pytest

from bitcluster.api.codes import Codes
from bitcluster.client.errors import BitclusterError, ModelMismatchError
from bitcluster.client.http_client import BitclusterClient
from bitcluster.client.retry import RetriesExhausted, RetryPolicy
from bitcluster.core.wire import CODE_BITS_HEADER, COUNT_HEADER, MODEL_ID_HEADER
from bitcluster.serving.process import ServiceProcess, free_port

pytest.register_assert_rewrite("service_fixtures")  # before the import, so its asserts explain failures

from service_fixtures import QUIET, png_bytes, random_images  # noqa: E402

pytest_plugins = ["service_fixtures"]


def reference_clusters(model, images: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    enc = ort.InferenceSession(str(model.dir / "vendor/encoder.onnx"), providers=["CPUExecutionProvider"])
    cls = ort.InferenceSession(str(model.dir / "consumer/classifier.onnx"), providers=["CPUExecutionProvider"])
    return cls.run(["clusters"], {"codes": enc.run(["codes"], {"images": model.preprocessing.apply(images)})[0]})[0]


@pytest.mark.slow
def test_cluster_round_trip_in_batches(services):
    images = random_images(300, seed=7)  # over the services' max_batch of 256: the client must split
    with BitclusterClient(services.vendor.url, services.consumer.url, batch_size=64) as client:
        codes = client.encode(images)
        model_id, bits, packed = codes.model_id, codes.bits, codes.packed
        assert (model_id, bits, packed.shape, packed.dtype) == (services.model.manifest.model_id, 12, (300, 2),
                                                                np.uint8)
        clusters = client.classify(codes)
        np.testing.assert_array_equal(clusters, reference_clusters(services.model, images))
        np.testing.assert_array_equal(client.cluster(images), clusters)
        assert client.vendor_model()["model_id"] == client.consumer_model()["model_id"] == model_id


def test_large_arrays_are_split_within_the_vendors_bound_on_json_numbers():
    from bitcluster_vendor.config import Settings
    from bitcluster_vendor.images import check_json_numbers

    def vendor(request: httpx.Request) -> httpx.Response:
        check_json_numbers(request.content, Settings().max_json_pixels)  # raises the vendor's 413
        count = len(json.loads(request.content)["pixels"])
        sizes.append(count)
        return httpx.Response(200, content=bytes(2 * count), headers={MODEL_ID_HEADER: "m", CODE_BITS_HEADER: "12"})

    sizes: list[int] = []
    client = BitclusterClient("http://vendor", None, transport=httpx.MockTransport(vendor))
    codes = client.encode(random_images(40, seed=9, side=200))  # 1.6 M numbers: over 2^20 in one request
    assert codes.packed.shape == (40, 2) and sizes == [26, 14]


@pytest.mark.slow
def test_cluster_files(services, tmp_path):
    images = random_images(3, seed=8)
    (tmp_path / "a.png").write_bytes(png_bytes(images[0]))
    files = [tmp_path / "a.png", str(tmp_path / "a.png"), png_bytes(images[2])]
    with BitclusterClient(services.vendor.url, services.consumer.url) as client:
        clusters = client.cluster(files)
    np.testing.assert_array_equal(clusters, reference_clusters(services.model, images[[0, 0, 2]]))


@pytest.mark.slow
def test_a_consumer_of_another_model_is_a_clear_error(services, model_b):
    consumer_b = ServiceProcess("consumer", model_b.dir, env={**QUIET, "BITCLUSTER_LOG_LEVEL": "info"})
    with consumer_b:
        with BitclusterClient(services.vendor.url, consumer_b.url) as client:
            with pytest.raises(ModelMismatchError) as e:
                client.cluster(random_images(4))
        assert e.value.status == 409 and e.value.code == "model_mismatch"
        assert services.model.manifest.model_id in str(e.value) and model_b.manifest.model_id in str(e.value)
        # SIGTERM: uvicorn drains, runs the lifespan's shutdown, then re-raises the signal (exit -15).
        assert consumer_b.stop() in (0, -15)
        assert "Application shutdown complete" in consumer_b.log()


def mock(responses: list):
    """A transport answering from ``responses`` in turn (an exception is raised instead)."""
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        item = responses[min(len(calls) - 1, len(responses) - 1)]
        if isinstance(item, Exception):
            raise item
        return item

    return httpx.MockTransport(handler), calls


def classified(n: int) -> httpx.Response:
    return httpx.Response(200, json={"model_id": "m", "clusters": list(range(n))})


def unavailable() -> httpx.Response:
    return httpx.Response(503, json={"error": {"code": "not_ready", "message": "starting"}})


def test_503_and_connection_errors_are_retried_with_backoff():
    transport, calls = mock([unavailable(), httpx.ConnectError("refused"), classified(2)])
    notes = []
    client = BitclusterClient(None, "http://consumer", transport=transport, on_retry=notes.append,
                              retry=RetryPolicy(first_delay_s=0.001, max_attempts=5))
    np.testing.assert_array_equal(client.classify(Codes(np.zeros((2, 2), np.uint8), 12, "m")), [0, 1])
    assert len(calls) == 3 and client.retries == 2 and len(notes) == 2
    assert "the consumer at http://consumer unavailable (503 not_ready)" in notes[0]
    assert calls[-1].headers[MODEL_ID_HEADER] == "m" and calls[-1].headers[CODE_BITS_HEADER] == "12"
    assert calls[-1].headers[COUNT_HEADER] == "2" and calls[-1].content == b"\0" * 4


def test_retries_are_bounded():
    transport, calls = mock([unavailable()])
    client = BitclusterClient(None, "http://consumer", transport=transport,
                              retry=RetryPolicy(first_delay_s=0.001, max_attempts=3))
    with pytest.raises(RetriesExhausted, match="503 not_ready") as e:
        client.classify(Codes(np.zeros((1, 2), np.uint8), 12, "m"))
    assert len(calls) == 3 and e.value.attempts == 3
    assert isinstance(e.value.last_error, BitclusterError) and e.value.last_error.status == 503
    dead = BitclusterClient(None, f"http://127.0.0.1:{free_port()}",
                            retry=RetryPolicy(first_delay_s=0.001, max_attempts=2))
    with pytest.raises(RetriesExhausted) as e:
        dead.classify(Codes(np.zeros((1, 2), np.uint8), 12, "m"))
    assert isinstance(e.value.last_error, httpx.ConnectError) and e.value.attempts == 2


def test_refusals_are_not_retried_and_say_why():
    transport, calls = mock([httpx.Response(422, json={"error": {"code": "invalid_codes", "message": "padding"}})])
    client = BitclusterClient(None, "http://consumer", transport=transport, retry=RetryPolicy(first_delay_s=0.001))
    with pytest.raises(BitclusterError) as e:
        client.classify(Codes(np.zeros((1, 2), np.uint8), 12, "m"))
    assert len(calls) == 1 and e.value.code == "invalid_codes" and "padding" in str(e.value)
    transport, _ = mock([httpx.Response(409, json={"error": {"code": "model_mismatch", "message": "other"}})])
    with pytest.raises(ModelMismatchError):
        BitclusterClient(None, "http://consumer", transport=transport).classify(
            Codes(np.zeros((1, 2), np.uint8), 12, "m"))


def test_a_refused_model_over_http_is_the_same_error_as_in_process():
    """One name, one meaning: ``except bc.ModelMismatchError`` catches the client's 409 too."""
    import bitcluster as bc
    from bitcluster.core import onnx_model

    assert onnx_model.ModelMismatchError is bc.ModelMismatchError  # what the model layer raises
    transport, _ = mock([httpx.Response(409, json={"error": {"code": "model_mismatch", "message": "other"}})])
    with pytest.raises(bc.ModelMismatchError) as e:
        BitclusterClient(None, "http://consumer", transport=transport).classify(
            Codes(np.zeros((1, 2), np.uint8), 12, "m"))
    assert isinstance(e.value, BitclusterError) and isinstance(e.value, ModelMismatchError) and e.value.status == 409


def test_the_http_client_imports_no_onnxruntime():
    """The client shares the model layer's error without loading the model layer's runtime."""
    import subprocess
    import sys

    code = ("import sys, bitcluster as bc; from bitcluster.client.http_client import BitclusterClient; "
            "bc.ModelMismatchError; print(sorted(m for m in ('onnxruntime', 'torch') if m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "[]"


def test_the_api_key_is_sent_as_a_bearer_token():
    transport, calls = mock([classified(1)])
    BitclusterClient(None, "http://consumer", api_key="k", transport=transport).classify(
        Codes(np.zeros((1, 2), np.uint8), 12, "m"))
    assert calls[0].headers["Authorization"] == "Bearer k"


@pytest.fixture(scope="module")
def rgb_model(tmp_path_factory):
    from service_fixtures import write_synthetic_model

    return write_synthetic_model(tmp_path_factory.mktemp("rgb_model"), seed=3, channels=3)


@contextlib.contextmanager
def services_in_process(model, max_request_pixels: int, batch_size: int = 1024):
    """A BitclusterClient of the real vendor and consumer apps in process, and (status, images sent) of each
    request the vendor answered."""
    from bitcluster_consumer.config import Settings as ConsumerSettings
    from bitcluster_consumer.main import create_app as create_consumer
    from bitcluster_vendor.config import Settings
    from bitcluster_vendor.main import create_app
    from service_fixtures import in_process_client

    settings = Settings(model_dir=model.dir, use_gpu=False, intra_op_threads=1, max_request_pixels=max_request_pixels)
    answered: list[tuple[int, int]] = []
    with in_process_client(create_app(settings)) as vendor, \
            in_process_client(create_consumer(ConsumerSettings(model_dir=model.dir))) as consumer:
        def forward(request: httpx.Request) -> httpx.Response:
            service = vendor if request.url.host == "vendor" else consumer
            answer = service.request(request.method, request.url.path, params=dict(request.url.params),
                                     content=request.content, headers=dict(request.headers))
            if service is vendor:
                sent = (request.content.count(b'name="files"') if "multipart" in request.headers["content-type"]
                        else len(json.loads(request.content)["pixels"]))
                answered.append((answer.status_code, sent))
            return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)

        with BitclusterClient("http://vendor", "http://consumer", batch_size=batch_size,
                              transport=httpx.MockTransport(forward)) as client:
            yield client, answered


def rgb_noise(n: int, seed: int) -> np.ndarray:
    """(n, 8, 8, 3) uint8 uniform noise: the synthetic encoder is centred on it, so codes vary."""
    return np.random.default_rng(seed).integers(0, 256, (n, 8, 8, 3), dtype=np.uint8)


def test_a_batch_over_the_vendors_request_budget_is_sent_in_halves(rgb_model):
    images = rgb_noise(23, seed=4)  # an 8x8 RGB model's input: 192 values an image
    files = [png_bytes(im) for im in images]
    with services_in_process(rgb_model, max_request_pixels=5 * 192, batch_size=5) as (small, answered):
        expected = small.encode(files).packed  # batches within the budget: one request each
        assert answered == [(200, 5)] * 4 + [(200, 3)]
    np.testing.assert_array_equal(expected, rgb_model.encode(images))
    assert len({bytes(c) for c in expected}) > 1  # the codes tell the images apart
    for batch in (files, images):  # a multipart form of files, and JSON pixels
        with services_in_process(rgb_model, max_request_pixels=5 * 192) as (client, answered):
            np.testing.assert_array_equal(client.encode(batch).packed, expected)
        # 23 and its first half 11 refused; 5 accepted, and so the size of the requests after it
        assert answered == [(413, 23), (413, 11)] + [(200, 5)] * 4 + [(200, 3)]


def test_the_batch_size_the_vendor_accepted_bounds_the_later_requests(rgb_model):
    images = rgb_noise(20, seed=7)
    with services_in_process(rgb_model, max_request_pixels=3 * 192, batch_size=8) as (client, answered):
        first = client.encode(images).packed  # 8 -> 4 -> 2 for the first batch; its followers at once 2
        assert answered == [(413, 8), (413, 4)] + [(200, 2)] * 10 and client.vendor_batch_limit == 2
        answered.clear()
        second = client.encode([png_bytes(im) for im in images]).packed
        assert answered == [(200, 2)] * 10  # no refused request
    np.testing.assert_array_equal(first, rgb_model.encode(images))
    np.testing.assert_array_equal(second, first)


def test_the_learned_batch_size_is_forgotten_when_the_vendor_serves_another_model():
    served = {"model": "a", "budget": 2}  # images per request the vendor accepts

    def vendor(request: httpx.Request) -> httpx.Response:
        count = len(json.loads(request.content)["pixels"])
        sizes.append(count)
        if count > served["budget"]:
            return httpx.Response(413, json={"error": {"code": "request_too_large", "message": "split the batch"}})
        return httpx.Response(200, content=bytes(2 * count),
                              headers={MODEL_ID_HEADER: served["model"], CODE_BITS_HEADER: "12"})

    sizes: list[int] = []
    client = BitclusterClient("http://vendor", None, batch_size=4, transport=httpx.MockTransport(vendor))
    assert client.encode(random_images(8, seed=1)).model_id == "a"
    assert sizes == [4, 2, 2, 2, 2] and client.vendor_batch_limit == 2
    served.update(model="b", budget=4)
    sizes.clear()
    assert client.encode(random_images(8, seed=1)).model_id == "b"
    assert sizes == [2, 4, 2] and client.vendor_batch_limit is None  # model b's budget is not model a's


def test_one_image_over_the_request_budget_fails_with_the_vendors_message(rgb_model):
    images = rgb_noise(4, seed=5)
    with services_in_process(rgb_model, max_request_pixels=100) as (client, answered):
        for batch, sent in ((images[:1], [1]), (images, [4, 2, 1]), ([png_bytes(im) for im in images], [4, 2, 1])):
            answered.clear()
            with pytest.raises(BitclusterError) as e:
                client.encode(batch)  # one image; four, halved down to the first one
            assert e.value.status == 413 and e.value.code == "request_too_large"
            assert "at most 100" in e.value.message and "BITCLUSTER_MAX_REQUEST_PIXELS" in e.value.message
            assert answered == [(413, n) for n in sent]


def test_a_refusal_after_halving_names_the_image_by_its_place_in_the_batch(rgb_model):
    files = [png_bytes(im) for im in rgb_noise(8, seed=6)]
    files[6] = b"not an image"
    with services_in_process(rgb_model, max_request_pixels=2 * 192) as (client, answered):
        with pytest.raises(BitclusterError) as e:
            client.encode(files)
    assert e.value.code == "invalid_image" and "files[6]" in e.value.message, e.value.message
    # 8 -> 4 -> files 0-1 encoded, and so 2-3 and 4-5; 6-7 refused for file 6
    assert answered == [(413, 8), (413, 4), (200, 2), (200, 2), (200, 2), (422, 2)]


def test_the_entropy_coded_round_trip_is_sent_within_the_vendors_request_budget(rgb_model):
    images = rgb_noise(20, seed=8)
    with services_in_process(rgb_model, max_request_pixels=3 * 192, batch_size=8) as (client, answered):
        clusters, wire_bytes = client.cluster_entropy_coded(images)
        assert answered == [(413, 8), (413, 4)] + [(200, 2)] * 10 and client.vendor_batch_limit == 2
        answered.clear()
        np.testing.assert_array_equal(clusters, client.cluster(images))  # the octet-stream round trip agrees
        assert answered == [(200, 2)] * 10  # and uses the batch size the entropy-coded requests learned
    assert len(set(clusters.tolist())) > 1 and 0 < wire_bytes
