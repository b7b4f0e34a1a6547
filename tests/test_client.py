"""BitclusterClient: the octet-stream round trip, retries, and model mismatches."""

from __future__ import annotations

import httpx
import numpy as np
import pytest

from bitcluster.client.http_client import BitclusterClient, BitclusterError, ModelMismatchError
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
        model_id, bits, packed = client.encode(images)
        assert (model_id, bits, packed.shape, packed.dtype) == (services.model.manifest.model_id, 12, (300, 2),
                                                                np.uint8)
        clusters = client.classify(model_id, bits, packed)
        np.testing.assert_array_equal(clusters, reference_clusters(services.model, images))
        np.testing.assert_array_equal(client.cluster(images), clusters)
        assert client.vendor_model()["model_id"] == client.consumer_model()["model_id"] == model_id


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
    client = BitclusterClient(None, "http://consumer", transport=transport, backoff_s=0.001)
    np.testing.assert_array_equal(client.classify("m", 12, np.zeros((2, 2), np.uint8)), [0, 1])
    assert len(calls) == 3
    assert calls[-1].headers["X-Model-Id"] == "m" and calls[-1].headers["X-Code-Bits"] == "12"
    assert calls[-1].headers["X-Count"] == "2" and calls[-1].content == b"\0" * 4


def test_retries_are_bounded():
    transport, calls = mock([unavailable()])
    client = BitclusterClient(None, "http://consumer", transport=transport, max_attempts=3, backoff_s=0.001)
    with pytest.raises(BitclusterError, match="503 not_ready"):
        client.classify("m", 12, np.zeros((1, 2), np.uint8))
    assert len(calls) == 3
    dead = BitclusterClient(None, f"http://127.0.0.1:{free_port()}", max_attempts=2, backoff_s=0.001)
    with pytest.raises(httpx.ConnectError):
        dead.classify("m", 12, np.zeros((1, 2), np.uint8))


def test_refusals_are_not_retried_and_say_why():
    transport, calls = mock([httpx.Response(422, json={"error": {"code": "invalid_codes", "message": "padding"}})])
    client = BitclusterClient(None, "http://consumer", transport=transport, backoff_s=0.001)
    with pytest.raises(BitclusterError) as e:
        client.classify("m", 12, np.zeros((1, 2), np.uint8))
    assert len(calls) == 1 and e.value.code == "invalid_codes" and "padding" in str(e.value)
    transport, _ = mock([httpx.Response(409, json={"error": {"code": "model_mismatch", "message": "other"}})])
    with pytest.raises(ModelMismatchError):
        BitclusterClient(None, "http://consumer", transport=transport).classify("m", 12, np.zeros((1, 2), np.uint8))


def test_the_api_key_is_sent_as_a_bearer_token():
    transport, calls = mock([classified(1)])
    BitclusterClient(None, "http://consumer", api_key="k", transport=transport).classify(
        "m", 12, np.zeros((1, 2), np.uint8))
    assert calls[0].headers["Authorization"] == "Bearer k"
