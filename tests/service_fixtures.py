"""Fixtures of the service tests: small exported models and both services as real processes.

Test modules load this file with ``pytest_plugins = ["service_fixtures"]``, so its session
fixtures are built once for the whole run.

The models are exported by the real export code (``bitcluster.training.export``) from random weights
kept here in numpy, so every test can compare the services with an independent numpy
computation of the same model. 12 bits make the last byte of a code half padding.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

from bitcluster.core.mixture import bmm_log_joint
from bitcluster.core.codes import pack_codes, unpack_codes
from bitcluster.core.manifest import ModelManifest
from bitcluster.core.preprocessing import Preprocessing
from bitcluster.serving.process import ServiceProcess

BITS = 12
CLUSTERS = 5
SIDE = 8
# Small limits, so the tests can cross them with small requests.
LIMITS = {"BITCLUSTER_MAX_BATCH": "256", "BITCLUSTER_MAX_BODY_BYTES": str(256 * 1024),
          "BITCLUSTER_MAX_IMAGE_PIXELS": str(64 * 64)}
QUIET = {"BITCLUSTER_API_KEY": "", "BITCLUSTER_INTRA_OP_THREADS": "1", "BITCLUSTER_LOG_LEVEL": "warning"}


@dataclass
class SyntheticModel:
    """An exported model and the numpy parameters it was exported from."""

    dir: Path
    manifest: ModelManifest
    layers: list[tuple[np.ndarray, np.ndarray]]
    log_pi: np.ndarray
    means: np.ndarray

    @property
    def preprocessing(self) -> Preprocessing:
        return Preprocessing.from_dict(self.manifest.preprocessing)

    def encode(self, images: np.ndarray) -> np.ndarray:
        """numpy reference of the encoder: (N, H, W) or (N, H, W, 3) -> packed (N, ceil(D/8)) uint8."""
        h = self.preprocessing.apply(images).astype(np.float64)
        for i, (w, b) in enumerate(self.layers):
            h = h @ w.T + b
            if i < len(self.layers) - 1:
                h = np.maximum(h, 0.0)
        return pack_codes(h > 0)

    def classify(self, packed: np.ndarray) -> np.ndarray:
        """numpy reference of the classifier: packed codes -> (N,) clusters."""
        return bmm_log_joint(unpack_codes(packed, self.manifest.bits), self.log_pi, self.means).argmax(axis=1)


def write_synthetic_model(out: Path, seed: int, bits: int = BITS, clusters: int = CLUSTERS,
                          side: int = SIDE, hidden: int = 32, entropy_model: bool = True,
                          channels: int = 1, centre: str = "none") -> SyntheticModel:
    """A model of random weights exported to ``out``: grey ``side`` x ``side`` images, or RGB with ``channels=3``;
    ``centre="mass"``: a model of centred images."""
    from bitcluster.core.codes import code_bytes
    from bitcluster.training.export import (BmmClassifierHalf, VabEncoderHalf, classifier_onnx, encoder_onnx,
                                            write_model_dir)

    rng = np.random.default_rng(seed)
    preprocessing = Preprocessing(side, side, channels=channels, centre=centre)
    n_pixels = preprocessing.n_pixels
    layers = [(rng.normal(0, 2 / np.sqrt(n_pixels), (hidden, n_pixels)).astype(np.float32),
               rng.normal(0, 0.5, hidden).astype(np.float32)),
              (rng.normal(0, 2 / np.sqrt(hidden), (bits, hidden)).astype(np.float32),
               rng.normal(0, 0.5, bits).astype(np.float32))]
    # Centre the last layer on typical inputs so that every bit varies.
    x = rng.uniform(0, 1, (512, n_pixels))
    h = np.maximum(x @ layers[0][0].T + layers[0][1], 0) @ layers[1][0].T
    layers[1] = (layers[1][0], (-np.median(h, axis=0)).astype(np.float32))
    means = rng.uniform(0.05, 0.95, (clusters, bits))
    log_pi = np.log(rng.dirichlet(np.full(clusters, 5.0)))
    manifest = write_model_dir(out, encoder_onnx(VabEncoderHalf.from_layers(layers), n_pixels),
                               classifier_onnx(BmmClassifierHalf(log_pi, means), code_bytes(bits)),
                               method="synthetic", bits=bits, clusters=clusters,
                               preprocessing=preprocessing.to_dict(), metrics={}, training={"seed": seed},
                               entropy_model={"log_pi": log_pi, "means": means} if entropy_model else None)
    return SyntheticModel(Path(out), manifest, layers, log_pi, means)


def random_images(n: int, seed: int = 0, side: int = SIDE) -> np.ndarray:
    """(n, side, side) uint8 uniform noise: the synthetic encoder is centred on it, so codes vary."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, side, side), dtype=np.uint8)


def in_process_client(app, **options):
    """Starlette's TestClient for an in-process app (its import warns about httpx; we know)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient
    return TestClient(app, **options)


def png_bytes(image: np.ndarray, fmt: str = "PNG") -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, fmt)
    return buffer.getvalue()


def assert_error(response, status: int, code: str | None = None) -> dict:
    """The response is ``status`` with the one error shape (and ``code`` when given)."""
    assert response.status_code == status, (response.status_code, response.text[:500])
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code, body
    return body["error"]


@dataclass
class RunningServices:
    vendor: ServiceProcess
    consumer: ServiceProcess
    model: SyntheticModel


@pytest.fixture(scope="session")
def model_a(tmp_path_factory) -> SyntheticModel:
    return write_synthetic_model(tmp_path_factory.mktemp("model_a"), seed=1)


@pytest.fixture(scope="session")
def model_b(tmp_path_factory) -> SyntheticModel:
    return write_synthetic_model(tmp_path_factory.mktemp("model_b"), seed=2)


def start_pair(vendor: ServiceProcess, consumer: ServiceProcess) -> None:
    """Start both at once (their imports overlap), then wait for both."""
    vendor.start()
    consumer.start()
    try:
        vendor.wait_ready()
        consumer.wait_ready()
    except BaseException:
        vendor.stop()
        consumer.stop()
        raise


@contextlib.contextmanager
def service_pair(model_dir: Path, env: dict[str, str] | None = None) -> Iterator[tuple[ServiceProcess, ServiceProcess]]:
    """A vendor and a consumer of ``model_dir`` as processes, stopped on exit."""
    vendor = ServiceProcess("vendor", model_dir, env=env)
    consumer = ServiceProcess("consumer", model_dir, env=env)
    start_pair(vendor, consumer)
    try:
        yield vendor, consumer
    finally:
        vendor.stop()
        consumer.stop()


@pytest.fixture(scope="session")
def services(model_a) -> RunningServices:
    """Vendor and consumer of model A as `bitcluster serve` processes, with small limits."""
    env = {**QUIET, **LIMITS}
    vendor = ServiceProcess("vendor", model_a.dir, env=env)
    consumer = ServiceProcess("consumer", model_a.dir, env=env)
    start_pair(vendor, consumer)
    try:
        yield RunningServices(vendor, consumer, model_a)
    finally:
        vendor.stop()
        consumer.stop()
