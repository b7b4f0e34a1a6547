"""HTTP only at the edge: the model layer raises domain errors, the serving layer alone picks status codes."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
from fastapi import FastAPI
from starlette.exceptions import HTTPException

from bitcluster.core.codes import CodeFormatError, check_packed_codes, pack_codes, unpack_codes
from bitcluster.core.model_mismatch import ModelMismatchError
from bitcluster.core.onnx_model import CodeBitsMismatchError
from bitcluster.core.preprocessing import ImageFormatError
from bitcluster.serving.errors import DOMAIN_ERRORS, domain_error_status, install_error_handlers

pytest.register_assert_rewrite("service_fixtures")  # before the import, so its asserts explain failures

from service_fixtures import assert_error, in_process_client, random_images  # noqa: E402

pytest_plugins = ["service_fixtures"]
ROOT = Path(__file__).resolve().parents[2]
MODEL_LAYER = [ROOT / "shared/bitcluster/core/onnx_model.py",
               ROOT / "services/vendor/bitcluster_vendor/encoder.py",
               ROOT / "services/consumer/bitcluster_consumer/classifier.py",
               ROOT / "services/vendor/bitcluster_vendor/images.py",
               ROOT / "shared/bitcluster/api/images.py",
               ROOT / "shared/bitcluster/core/cancellation.py"]
HTTP_PACKAGES = ("fastapi", "starlette", "pydantic", "httpx", "bitcluster.serving")


def raising_app(error: Exception) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/fail")
    def fail() -> None:
        raise error

    return app


@pytest.mark.parametrize("error, status, code", [
    (ModelMismatchError("codes of model a, serving b"), 409, "model_mismatch"),
    (CodeBitsMismatchError("16-bit codes, the model takes 12"), 422, "bits_mismatch"),
    (CodeFormatError("padding bits set"), 422, "invalid_codes"),
    (ImageFormatError("NaN pixel"), 422, "invalid_pixels"),
])
def test_each_domain_error_becomes_its_status_and_code(error, status, code):
    with in_process_client(raising_app(error)) as client:
        body = assert_error(client.get("/fail"), status, code)
    assert body["message"] == str(error)


def test_a_subclass_gets_its_own_row_and_every_row_is_reachable():
    assert issubclass(CodeBitsMismatchError, CodeFormatError)
    assert domain_error_status(CodeBitsMismatchError("x")) == (422, "bits_mismatch")
    for error_type, answer in DOMAIN_ERRORS.items():
        assert domain_error_status(error_type("x")) == answer


def test_other_errors_are_not_domain_errors_and_stay_500():
    assert domain_error_status(ValueError("x")) is None and domain_error_status(KeyError("x")) is None
    test_client_class = type(in_process_client(FastAPI()))  # imported quietly there
    # raise_server_exceptions=False: answer the 500, as a server would, instead of raising here
    with test_client_class(raising_app(ValueError("a bug, not a refusal")), raise_server_exceptions=False) as client:
        assert_error(client.get("/fail"), 500, "internal_error")


@pytest.mark.parametrize("path", MODEL_LAYER, ids=lambda p: p.name)
def test_the_model_layer_imports_nothing_of_http(path):
    imported = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
    leaks = {m for m in imported if any(m == p or m.startswith(p + ".") for p in HTTP_PACKAGES)}
    assert not leaks, f"{path.name} imports {sorted(leaks)}: the model layer raises domain errors, not HTTP ones"


def _no_http_error(call, expected: type[Exception]) -> Exception:
    with pytest.raises(Exception) as e:
        call()
    assert isinstance(e.value, expected) and not isinstance(e.value, HTTPException), repr(e.value)
    return e.value


def test_the_classifier_raises_domain_errors(model_a):
    from bitcluster_consumer.classifier import Classifier
    from bitcluster_consumer.config import Settings

    classifier = Classifier.load(Settings(model_dir=model_a.dir, intra_op_threads=1))
    model_id = model_a.manifest.model_id
    error = _no_http_error(lambda: classifier.check_codes_origin("0123456789abcdef", 12), ModelMismatchError)
    assert model_id in str(error)
    _no_http_error(lambda: classifier.check_codes_origin(model_id, 16), CodeBitsMismatchError)
    classifier.check_codes_origin(model_id, 12)
    classifier.check_codes_origin(model_id)  # bits unknown (JSON without 'bits'): only the model is checked
    _no_http_error(lambda: classifier.classify(np.array([[0x12, 0x3F]], np.uint8)), CodeFormatError)  # padding
    _no_http_error(lambda: classifier.classify(np.zeros((2, 3), np.uint8)), CodeFormatError)  # 3 bytes, not 2
    packed = model_a.encode(random_images(50, seed=5))
    clusters, posteriors = classifier.classify(packed, posteriors=True)
    np.testing.assert_array_equal(clusters, model_a.classify(packed))
    assert posteriors.shape == (50, model_a.manifest.clusters)


def test_the_encoder_raises_domain_errors(model_a):
    from bitcluster_vendor.config import Settings
    from bitcluster_vendor.encoder import Encoder

    encoder = Encoder.load(Settings(model_dir=model_a.dir, use_gpu=False, intra_op_threads=1))
    nan = np.full((1, 8, 8), np.nan)
    _no_http_error(lambda: encoder.encode(nan), ImageFormatError)
    _no_http_error(lambda: encoder.encode(np.full((1, 8, 8), 1.5)), ImageFormatError)
    images = random_images(20, seed=6)
    np.testing.assert_array_equal(encoder.encode(images), model_a.encode(images))


@pytest.mark.parametrize("bits", [1, 7, 8, 12, 16, 33])
def test_checking_packed_codes_refuses_exactly_what_unpacking_refuses(bits):
    rng = np.random.default_rng(bits)
    packed = rng.integers(0, 256, (200, (bits + 7) // 8), dtype=np.uint8)  # padding bits mostly set
    packed[::2] = pack_codes(rng.integers(0, 2, (100, bits)))  # padding bits clear
    verdicts = [(_accepts(unpack_codes, row, bits), _accepts(check_packed_codes, row, bits)) for row in packed]
    assert all(unpacks == checks for unpacks, checks in verdicts), bits
    assert all(checks for _, checks in verdicts[::2])  # made by pack_codes: accepted
    if bits % 8:  # random last bytes have padding bits set but in 1 row of 2^(8 - bits % 8)
        assert not all(checks for _, checks in verdicts[1::2])
    assert not _accepts(check_packed_codes, packed.astype(np.int64)[0], bits)  # not uint8


def _accepts(check, row: np.ndarray, bits: int) -> bool:
    try:
        check(row[None], bits)
        return True
    except CodeFormatError:
        return False


def test_the_wire_constants_are_the_published_protocol():
    from bitcluster.core import wire

    assert (wire.OCTET_STREAM, wire.ENTROPY_CODED) == ("application/octet-stream",
                                                       "application/x-bitcluster-entropy-coded")
    assert wire.CODE_HEADERS == ("X-Model-Id", "X-Code-Bits", "X-Count")
    assert wire.code_headers("m", 12, 3) == {"X-Model-Id": "m", "X-Code-Bits": "12", "X-Count": "3"}
    assert wire.code_headers("m", 12) == {"X-Model-Id": "m", "X-Code-Bits": "12"}
