"""Both services as real `bitcluster serve` processes: encode -> classify over HTTP."""

from __future__ import annotations

import base64
import subprocess
import sys

import httpx
import numpy as np
import onnxruntime as ort
import pytest

from bitcluster.core.codes import codes_from_bytes
from bitcluster.core.wire import CODE_BITS_HEADER, COUNT_HEADER, ENTROPY_CODED, MODEL_ID_HEADER
from bitcluster.core.wire import OCTET_STREAM as OCTET

pytest.register_assert_rewrite("service_fixtures")  # before the import, so its asserts explain failures

from service_fixtures import png_bytes, random_images, in_process_client  # noqa: E402

pytest_plugins = ["service_fixtures"]
pytestmark = pytest.mark.slow


def in_process(model, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The exported ONNX graphs run here, without HTTP: (packed codes, clusters)."""
    encoder = ort.InferenceSession(str(model.dir / "vendor/encoder.onnx"), providers=["CPUExecutionProvider"])
    classifier = ort.InferenceSession(str(model.dir / "consumer/classifier.onnx"), providers=["CPUExecutionProvider"])
    (packed,) = encoder.run(["codes"], {"images": model.preprocessing.apply(images)})
    (clusters,) = classifier.run(["clusters"], {"codes": packed})
    return packed, clusters


def test_octet_stream_round_trip_matches_the_model_run_in_process(services):
    model, images = services.model, random_images(200, seed=3)
    r = httpx.post(services.vendor.url + "/v1/encode", json={"pixels": images.tolist()}, headers={"Accept": OCTET})
    assert r.status_code == 200 and r.headers["content-type"] == OCTET
    assert r.headers[MODEL_ID_HEADER] == model.manifest.model_id and r.headers[CODE_BITS_HEADER] == "12"
    assert r.headers[COUNT_HEADER] == "200" and len(r.content) == 200 * 2
    packed = codes_from_bytes(r.content, 12)
    r = httpx.post(services.consumer.url + "/v1/classify", content=r.content,
                   headers={"Content-Type": OCTET, MODEL_ID_HEADER: model.manifest.model_id, CODE_BITS_HEADER: "12"})
    assert r.status_code == 200
    clusters = np.array(r.json()["clusters"])

    ref_packed, ref_clusters = in_process(model, images)
    np.testing.assert_array_equal(packed, ref_packed)
    np.testing.assert_array_equal(clusters, ref_clusters)
    # And against numpy alone (float64; a logit within rounding of 0 may differ, hence not exact).
    assert (model.encode(images) == packed).all(axis=1).mean() > 0.98
    assert (model.classify(packed) == clusters).mean() > 0.98
    assert len(np.unique(clusters)) > 1 and len(np.unique(packed, axis=0)) > 10  # a test that can fail


def test_json_paths_agree_with_octet_stream(services):
    model, images = services.model, random_images(20, seed=4)
    ref_packed, ref_clusters = in_process(model, images)
    for body in ({"pixels": images.tolist()}, {"pixels": (images / 255.0).tolist()},
                 {"images": [base64.b64encode(png_bytes(im)).decode() for im in images]}):
        r = httpx.post(services.vendor.url + "/v1/encode", json=body)
        assert r.status_code == 200, r.text
        out = r.json()
        assert (out["model_id"], out["bits"], out["count"]) == (model.manifest.model_id, 12, 20)
        packed = np.stack([np.frombuffer(base64.b64decode(c), np.uint8) for c in out["codes"]])
        np.testing.assert_array_equal(packed, ref_packed)
    r = httpx.post(services.consumer.url + "/v1/classify",
                   json={"model_id": out["model_id"], "codes": out["codes"], "posteriors": True})
    assert r.status_code == 200
    result = r.json()
    np.testing.assert_array_equal(result["clusters"], ref_clusters)
    posteriors = np.array(result["posteriors"])
    assert posteriors.shape == (20, model.manifest.clusters)
    np.testing.assert_allclose(posteriors.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(posteriors.argmax(axis=1), ref_clusters)
    # Posteriors by query parameter, and none unless asked.
    r = httpx.post(services.consumer.url + "/v1/classify?posteriors=true", json={"model_id": out["model_id"],
                                                                                 "codes": out["codes"]})
    assert len(r.json()["posteriors"]) == 20
    r = httpx.post(services.consumer.url + "/v1/classify", json={"model_id": out["model_id"], "codes": out["codes"]})
    assert "posteriors" not in r.json()


def test_multipart_files_of_any_size_are_resized_like_training(services):
    model = services.model
    big = random_images(3, seed=5, side=16)
    files = [("files", (f"{i}.png", png_bytes(im), "image/png")) for i, im in enumerate(big)]
    files.append(("files", ("3.jpg", png_bytes(big[0], "JPEG"), "image/jpeg")))
    r = httpx.post(services.vendor.url + "/v1/encode", files=files, headers={"Accept": OCTET})
    assert r.status_code == 200, r.text
    packed = codes_from_bytes(r.content, 12)
    ref, _ = in_process(model, big)  # Preprocessing resizes 16x16 -> 8x8, as in training
    np.testing.assert_array_equal(packed[:3], ref)
    assert packed.shape == (4, 2)


def test_model_endpoint_health_metrics_and_openapi(services):
    for svc, half in ((services.vendor, "vendor"), (services.consumer, "consumer")):
        assert httpx.get(svc.url + "/healthz").json() == {"status": "alive"}
        assert httpx.get(svc.url + "/readyz").json()["model_id"] == services.model.manifest.model_id
        info = httpx.get(svc.url + "/v1/model").json()
        assert info["half"] == half and info["bits"] == 12 and info["clusters"] == 5 and info["code_bytes"] == 2
        assert info["provider"] == "CPUExecutionProvider" and info["preprocessing"]["height"] == 8
        spec = httpx.get(svc.url + "/openapi.json").json()
        assert "ErrorResponse" in spec["components"]["schemas"]
        path = "/v1/encode" if half == "vendor" else "/v1/classify"
        responses = spec["paths"][path]["post"]["responses"]
        assert responses["422"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorResponse")
        body = spec["paths"][path]["post"]["requestBody"]["content"]
        assert set(body) == ({"application/json", "multipart/form-data"} if half == "vendor"
                             else {"application/json", OCTET, ENTROPY_CODED})
        assert info["code_formats"] == [OCTET, ENTROPY_CODED]
        assert "properties" in body["application/json"]["schema"]
        metrics = httpx.get(svc.url + "/metrics").text
        assert f'bitcluster_requests_total{{method="GET",route="/v1/model",service="{half}",status="200"}}' in metrics
        assert "bitcluster_request_seconds_bucket" in metrics and "bitcluster_batch_size_bucket" in metrics


def test_a_tampered_model_stops_the_service_from_starting(model_a, tmp_path):
    import shutil

    bad = tmp_path / "model"
    shutil.copytree(model_a.dir, bad)
    with open(bad / "consumer/classifier.onnx", "ab") as f:
        f.write(b"\0")
    (bad / "vendor/encoder.onnx").unlink()
    for service, expect in (("consumer", "altered"), ("vendor", "missing")):
        done = subprocess.run([sys.executable, "-m", "bitcluster.cli", "serve", service, "--model-dir", str(bad),
                               "--port", "1"], capture_output=True, text=True, timeout=60)
        assert done.returncode != 0
        assert "refusing to serve" in done.stderr and expect in done.stderr, done.stderr


def test_the_app_itself_refuses_a_tampered_model(model_a, tmp_path):
    """Also without the CLI's early check: the lifespan verifies before serving."""
    import shutil

    from bitcluster.core.manifest import ManifestError
    from bitcluster_consumer.config import Settings
    from bitcluster_consumer.main import create_app

    bad = tmp_path / "model"
    shutil.copytree(model_a.dir, bad)
    (bad / "consumer/classifier.onnx").write_bytes(b"not the model")
    with pytest.raises(ManifestError, match="altered"):
        with in_process_client(create_app(Settings(model_dir=bad))):
            pass


def test_cluster_command_prints_one_cluster_per_input(services, tmp_path):
    images = random_images(6, seed=6)
    for i, im in enumerate(images[:3]):
        (tmp_path / f"{i}.png").write_bytes(png_bytes(im))
    np.savez(tmp_path / "batch.npz", x_test=images[3:].reshape(3, -1))  # flat square images
    done = subprocess.run([sys.executable, "-m", "bitcluster.cli", "cluster", str(tmp_path / "batch.npz"),
                           str(tmp_path), "--vendor", services.vendor.url, "--consumer", services.consumer.url],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = [line.split("\t") for line in done.stdout.splitlines()]
    _, ref = in_process(services.model, np.concatenate([images[3:], images[:3]]))
    assert [int(c) for _, c in lines] == ref.tolist()
    assert lines[0][0].endswith("batch.npz[0]") and lines[-1][0].endswith("2.png")


def test_demo_reports_accuracy_bytes_and_throughput(model_a):
    done = subprocess.run([sys.executable, "-m", "bitcluster.cli", "demo", "--model-dir", str(model_a.dir)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr + done.stdout
    out = done.stdout
    assert "clustering accuracy" in out and "2 B of code on the wire vs 64 B" in out and "images/s" in out
    assert "services stopped" in out


def test_readyz_is_503_until_the_model_is_loaded(model_a):
    from bitcluster_consumer.config import Settings
    from bitcluster_consumer.main import create_app

    client = in_process_client(create_app(Settings(model_dir=model_a.dir)))  # no `with`: no lifespan yet
    assert client.get("/healthz").status_code == 200
    r = client.get("/readyz")
    assert r.status_code == 503 and r.json()["error"]["code"] == "not_ready" and r.headers["Retry-After"] == "1"
    with client:
        assert client.get("/readyz").status_code == 200
    assert client.get("/readyz").status_code == 503  # after shutdown


def test_entropy_coded_round_trip_gives_the_same_clusters(services):
    model, images = services.model, random_images(200, seed=5)
    raw = httpx.post(services.vendor.url + "/v1/encode", json={"pixels": images.tolist()}, headers={"Accept": OCTET})
    coded = httpx.post(services.vendor.url + "/v1/encode", json={"pixels": images.tolist()},
                       headers={"Accept": ENTROPY_CODED})
    assert coded.status_code == 200 and coded.headers["content-type"] == ENTROPY_CODED
    assert coded.headers[COUNT_HEADER] == "200" and coded.headers[MODEL_ID_HEADER] == model.manifest.model_id
    headers = {k: coded.headers[k] for k in (MODEL_ID_HEADER, CODE_BITS_HEADER)}
    via_coded = httpx.post(services.consumer.url + "/v1/classify", content=coded.content,
                           headers={"Content-Type": ENTROPY_CODED, **headers})
    via_raw = httpx.post(services.consumer.url + "/v1/classify", content=raw.content,
                         headers={"Content-Type": OCTET, **headers})
    assert via_coded.status_code == 200
    assert via_coded.json()["clusters"] == via_raw.json()["clusters"]
    np.testing.assert_array_equal(via_coded.json()["clusters"], model.classify(codes_from_bytes(raw.content, 12)))


def test_corrupted_entropy_coded_stream_is_refused(services):
    coded = httpx.post(services.vendor.url + "/v1/encode", json={"pixels": random_images(50, seed=6).tolist()},
                       headers={"Accept": ENTROPY_CODED})
    body = bytearray(coded.content)
    body[-3] ^= 0xFF
    headers = {"Content-Type": ENTROPY_CODED, MODEL_ID_HEADER: coded.headers[MODEL_ID_HEADER], CODE_BITS_HEADER: "12"}
    r = httpx.post(services.consumer.url + "/v1/classify", content=bytes(body), headers=headers)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_entropy_coded"
    r = httpx.post(services.consumer.url + "/v1/classify", content=b"junk", headers=headers)
    assert r.status_code == 422
