"""What a Prometheus user expects of /metrics, and ONNX Runtime's thread count from the container's CPU quota."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bitcluster.core import cpu_limit as cpu_limit_module
from bitcluster.core.cpu_limit import cgroup_v1_cpus, cgroup_v2_cpus, cpu_limit
from bitcluster.core.wire import CONVERTED_HEADER, OCTET_STREAM

pytest.register_assert_rewrite("service_fixtures")  # before the import, so its asserts explain failures

from colour_fixtures import tinted_digits  # noqa: E402
from service_fixtures import in_process_client, png_bytes, random_images  # noqa: E402

pytest_plugins = ["service_fixtures"]


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    """Every sample of a Prometheus exposition, keyed by (name, labels)."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(found: dict, name: str, **labels: str) -> float | None:
    return found.get((name, frozenset(labels.items())))


def test_consumer_metrics_by_route_template_status_items_and_model(model_a):
    from bitcluster_consumer.config import Settings
    from bitcluster_consumer.main import create_app

    packed = model_a.encode(random_images(7, seed=21))
    body = {"inputs": [{"name": "codes", "datatype": "UINT8", "shape": list(packed.shape),
                        "data": packed.tolist()}]}
    with in_process_client(create_app(Settings(model_dir=model_a.dir, api_key=None, intra_op_threads=1))) as client:
        for version in ("", f"/versions/{model_a.manifest.model_id}"):
            assert client.post(f"/v2/models/classifier{version}/infer", json=body).status_code == 200
        assert client.post("/v2/models/nothing/infer", json=body).status_code == 404
        assert client.get("/v1/model").status_code == 200
        assert client.get("/no/such/path/42").status_code == 404
        for invented in ("BREW", "WHEN"):
            assert client.request(invented, "/v1/model").status_code == 405
        found = samples(client.get("/metrics").text)

    infer = "/v2/models/{model_name}/infer"
    c = {"service": "consumer"}
    assert value(found, "bitcluster_requests_total", **c, route=infer, method="POST", status="200") == 1
    assert value(found, "bitcluster_requests_total", **c, route=infer, method="POST", status="404") == 1
    versioned = "/v2/models/{model_name}/versions/{model_version}/infer"
    assert value(found, "bitcluster_requests_total", **c, route=versioned, method="POST", status="200") == 1
    # An invented path is one 'unmatched' series, never its own label value.
    assert value(found, "bitcluster_requests_total", **c, route="unmatched", method="GET", status="404") == 1
    assert not any("/no/such" in str(labels) for _, labels in found)
    # So is an invented method: both requests count under "other".
    assert value(found, "bitcluster_requests_total", **c, route="/v1/model", method="other", status="405") == 2
    assert not any(labels & {("method", "BREW"), ("method", "WHEN")} for _, labels in found)
    assert value(found, "bitcluster_request_seconds_count", **c, route=infer, status="200") == 1
    assert value(found, "bitcluster_request_seconds_count", **c, route=infer, status="404") == 1
    # Only the batches that reached the model count as processed.
    assert value(found, "bitcluster_items_processed_total", **c, route=infer, kind="codes") == 7
    assert value(found, "bitcluster_items_processed_total", **c, route=versioned, kind="codes") == 7
    assert value(found, "bitcluster_batch_size_sum", **c, route=infer) == 7
    # The scrape itself is the one request in flight.
    assert value(found, "bitcluster_requests_in_flight", **c) == 1
    m = model_a.manifest
    assert value(found, "bitcluster_model_info", service="consumer", model_id=m.model_id, method=m.method,
                 bits=str(m.bits), clusters=str(m.clusters), provider="CPUExecutionProvider") == 1
    assert value(found, "process_cpu_seconds_total") > 0
    assert value(found, "process_resident_memory_bytes") > 0
    assert any(name == "python_info" for name, _ in found)


def test_vendor_counts_images(model_a):
    from bitcluster_vendor.config import Settings
    from bitcluster_vendor.main import create_app

    images = random_images(5, seed=22)
    settings = Settings(model_dir=model_a.dir, api_key=None, intra_op_threads=1, use_gpu=False)
    with in_process_client(create_app(settings)) as client:
        assert client.post("/v1/encode", json={"pixels": images.tolist()}).status_code == 200
        found = samples(client.get("/metrics").text)
    assert value(found, "bitcluster_items_processed_total", service="vendor", route="/v1/encode", kind="images") == 5
    assert value(found, "bitcluster_requests_total", service="vendor", route="/v1/encode", method="POST",
                 status="200") == 1


def test_vendor_counts_the_images_it_converts_by_rule(model_a):
    from bitcluster_vendor.config import Settings
    from bitcluster_vendor.main import create_app

    colour = tinted_digits(4)[0]
    grey = random_images(1, seed=23)
    settings = Settings(model_dir=model_a.dir, api_key=None, intra_op_threads=1, use_gpu=False)
    with in_process_client(create_app(settings)) as client:
        files = [("files", (f"{i}.png", png_bytes(im), "image/png")) for i, im in enumerate([*colour[:2], grey[0]])]
        by_files = client.post("/v1/encode", files=files)
        assert by_files.json()["converted"] == 2  # the grey file needs no conversion
        by_pixels = client.post("/v1/encode", json={"pixels": colour[2:].tolist()},
                                headers={"Accept": OCTET_STREAM})
        assert by_pixels.headers[CONVERTED_HEADER] == "2"
        assert client.post("/v1/encode", json={"pixels": grey.tolist()}).json()["converted"] == 0
        found = samples(client.get("/metrics").text)
    v = {"service": "vendor", "route": "/v1/encode"}
    assert value(found, "bitcluster_images_converted_total", **v, conversion="rgb_to_grey") == 4
    assert value(found, "bitcluster_images_converted_total", **v, conversion="grey_to_rgb") is None
    assert value(found, "bitcluster_items_processed_total", **v, kind="images") == 6


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


@pytest.mark.parametrize("cpu_max, cpus", [("200000 100000\n", 2.0), ("150000 100000\n", 1.5),
                                           ("50000 100000\n", 0.5), ("max 100000\n", None), ("garbage\n", None)])
def test_cgroup_v2_cpu_max(tmp_path, cpu_max, cpus):
    assert cgroup_v2_cpus(write(tmp_path, {"cpu.max": cpu_max})) == cpus


@pytest.mark.parametrize("controller", ["cpu", "cpu,cpuacct"])
def test_cgroup_v1_cfs_quota(tmp_path, controller):
    root = write(tmp_path, {f"{controller}/cpu.cfs_quota_us": "300000\n",
                            f"{controller}/cpu.cfs_period_us": "100000\n"})
    assert cgroup_v1_cpus(root) == 3.0
    write(tmp_path, {f"{controller}/cpu.cfs_quota_us": "-1\n"})  # -1: no quota
    assert cgroup_v1_cpus(root) is None


def test_cpu_limit_rounds_the_quota_up_and_never_exceeds_the_cpus(tmp_path, monkeypatch):
    monkeypatch.setattr(cpu_limit_module, "available_cpus", lambda: 8)
    assert cpu_limit(tmp_path) == 8  # no cgroup files: every CPU the process may run on
    write(tmp_path, {"cpu.max": "150000 100000"})
    assert cpu_limit(tmp_path) == 2
    write(tmp_path, {"cpu.max": "10000 100000"})
    assert cpu_limit(tmp_path) == 1  # a tenth of a CPU still needs one thread
    write(tmp_path, {"cpu.max": "6400000 100000"})
    assert cpu_limit(tmp_path) == 8  # a quota of 64 CPUs on an 8-CPU affinity mask
    write(tmp_path, {"cpu.max": "max 100000"})
    v1 = write(tmp_path / "v1", {"cpu/cpu.cfs_quota_us": "250000", "cpu/cpu.cfs_period_us": "100000"})
    assert cpu_limit(v1) == 3
    assert cpu_limit(tmp_path) == 8


def test_sessions_take_the_cpu_limit_unless_a_thread_count_is_set(model_a, monkeypatch):
    from bitcluster.core import onnx_model

    onnx_path = model_a.dir / "consumer/classifier.onnx"
    monkeypatch.setattr(onnx_model, "cpu_limit", lambda: 3)
    session, _ = onnx_model.create_session(onnx_path)
    assert session.get_session_options().intra_op_num_threads == 3
    session, _ = onnx_model.create_session(onnx_path, intra_op_threads=1)
    assert session.get_session_options().intra_op_num_threads == 1
    packed = np.zeros((2, model_a.manifest.code_bytes), np.uint8)
    assert session.run(["clusters"], {"codes": packed})[0].shape == (2,)
