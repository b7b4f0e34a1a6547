"""``log_likelihood``, log p(z) in nats: the exported graph against float64 numpy, and everywhere it is served."""

from __future__ import annotations

import base64

import numpy as np
import onnxruntime as ort
import pytest

pytest.register_assert_rewrite("service_fixtures", "novelty_fixtures")  # before the imports: asserts explained

from novelty_fixtures import NoveltyModel  # noqa: E402
from service_fixtures import assert_error, in_process_client  # noqa: E402

import bitcluster as bc  # noqa: E402
from bitcluster.core.codes import pack_codes, unpack_codes  # noqa: E402
from bitcluster.core.manifest import ManifestError  # noqa: E402
from bitcluster.core.mixture import EPS, bmm_log_joint, logsumexp  # noqa: E402
from bitcluster.data import load_dataset  # noqa: E402

pytest_plugins = ["service_fixtures", "novelty_fixtures"]


def _random_bmm(bits: int, seed: int, clusters: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Means spread over (0, 1) with some at the clip, as trained BMMs have them."""
    rng = np.random.default_rng(seed)
    means = rng.beta(0.5, 0.5, (clusters, bits))
    means[rng.random(means.shape) < 0.1] = EPS
    means[rng.random(means.shape) < 0.1] = 1 - EPS
    return np.log(rng.dirichlet(np.ones(clusters))), means


@pytest.mark.parametrize("bits, half", [(8, "BmmPosteriorTable"), (16, "BmmPosteriorTable"), (8, "BmmByteTables"),
                                        (16, "BmmByteTables"), (32, "BmmByteTables"), (16, "BmmClassifierHalf"),
                                        (32, "BmmClassifierHalf"), (64, "BmmClassifierHalf")])
def test_the_graphs_log_likelihood_is_the_float64_one(bits, half):
    """Within 1e-4 relative of float64 numpy on codes of the model and on random codes."""
    import bitcluster.training.export as export

    log_pi, means = _random_bmm(bits, seed=bits)
    rng = np.random.default_rng(1)
    k = rng.choice(len(log_pi), 2000, p=np.exp(log_pi))
    likely = (rng.random((2000, bits)) < means[k]).astype(np.uint8)
    z = np.concatenate([likely, rng.integers(0, 2, (2000, bits))])
    graph = export.classifier_onnx(getattr(export, half)(log_pi, means), bits // 8)
    (log_likelihood,) = ort.InferenceSession(graph.SerializeToString()).run(["log_likelihood"],
                                                                            {"codes": pack_codes(z)})
    expected = logsumexp(bmm_log_joint(z, log_pi, means), axis=1)
    assert log_likelihood.dtype == np.float32 and log_likelihood.shape == (len(z),)
    np.testing.assert_allclose(log_likelihood, expected, rtol=1e-4, atol=0)
    assert np.all(expected <= 0) and np.ptp(expected) > 5  # a spread of scores, not one value


def test_model_score_samples_is_log_p_of_the_default_models_codes():
    model = bc.load_model()
    log_pi, means = model.classifier.entropy_model
    codes = model.encode(load_dataset("digits").x_test.reshape(-1, 8, 8))
    scores = model.score_samples(codes)
    assert scores.dtype == np.float64 and scores.shape == (len(codes),)
    expected = logsumexp(bmm_log_joint(unpack_codes(codes.packed, model.bits), log_pi, means), axis=1)
    np.testing.assert_allclose(scores, expected, rtol=1e-4)
    np.testing.assert_array_equal(model.score_samples(codes.packed), scores)


def test_score_samples_refuses_another_models_codes_and_a_wrong_length(novelty_model: NoveltyModel):
    model = bc.load_model(novelty_model.dir)
    other = bc.load_model()
    with pytest.raises(ValueError, match="another model|model"):
        model.score_samples(other.encode(np.zeros((1, 8, 8))))
    with pytest.raises(ValueError):
        model.score_samples(np.zeros((2, 2), np.uint8))  # 20-bit codes are 3 bytes


def test_an_export_without_the_output_is_told_to_re_export(tmp_path):
    """A model exported before log_likelihood existed: a clear error in the API (ManifestError) and
    at the consumer (422 output_unavailable), never an onnxruntime error or a 500."""
    import onnx.utils

    from bitcluster.training.export import BmmByteTables, classifier_onnx, encoder_onnx, write_model_dir
    from bitcluster.training.export.halves import VabEncoderHalf
    from bitcluster_consumer.config import Settings
    from bitcluster_consumer.main import create_app

    log_pi, means = _random_bmm(24, seed=3)
    full = classifier_onnx(BmmByteTables(log_pi, means), 3)
    older = onnx.utils.Extractor(full).extract_model(["codes"], ["clusters", "posteriors"])
    layers = [(np.ones((24, 64), np.float32), np.zeros(24, np.float32))]
    write_model_dir(tmp_path / "m", encoder_onnx(VabEncoderHalf.from_layers(layers), 64), older, method="synthetic",
                    bits=24, clusters=10, preprocessing={"height": 8, "width": 8, "resize": "bilinear"}, metrics={},
                    training={})
    model = bc.load_model(tmp_path / "m")
    packed = pack_codes(np.random.default_rng(0).integers(0, 2, (5, 24)))
    assert model.classify(packed).shape == (5,)
    with pytest.raises(ManifestError, match="re-export"):
        model.score_samples(packed)
    headers = {"Content-Type": "application/octet-stream", "X-Model-Id": model.model_id, "X-Code-Bits": "24"}
    with in_process_client(create_app(Settings(model_dir=tmp_path / "m", api_key=None, intra_op_threads=1))) as client:
        refused = client.post("/v1/classify?log_likelihood=true", content=packed.tobytes(), headers=headers)
        metadata = client.get("/v2/models/classifier").json()
    assert_error(refused, 422, "output_unavailable")
    assert [o["name"] for o in metadata["outputs"]] == ["clusters", "posteriors"]


def test_the_consumer_returns_log_likelihood_when_asked(novelty_model: NoveltyModel):
    from bitcluster_consumer.config import Settings
    from bitcluster_consumer.main import create_app

    z = np.concatenate([novelty_model.sample(20, seed=5), np.random.default_rng(5).integers(0, 2, (20, 20))])
    packed = pack_codes(z)
    model = bc.load_model(novelty_model.dir)
    headers = {"Content-Type": "application/octet-stream", "X-Model-Id": model.model_id, "X-Code-Bits": "20"}
    json_body = {"model_id": model.model_id, "codes": [base64.b64encode(c.tobytes()).decode() for c in packed]}
    settings = Settings(model_dir=novelty_model.dir, api_key=None, intra_op_threads=1)
    with in_process_client(create_app(settings)) as client:
        by_query = client.post("/v1/classify?log_likelihood=true", content=packed.tobytes(), headers=headers)
        by_body = client.post("/v1/classify", json={**json_body, "log_likelihood": True})
        plain = client.post("/v1/classify", json=json_body)
        binary_refused = client.post("/v1/classify?log_likelihood=true", content=packed.tobytes(),
                                     headers={**headers, "Accept": "application/octet-stream"})
        bad_flag = client.post("/v1/classify?log_likelihood=yes", content=packed.tobytes(), headers=headers)
        oip = client.post("/v2/models/classifier/infer", json={
            "inputs": [{"name": "codes", "datatype": "UINT8", "shape": list(packed.shape), "data": packed.tolist()}],
            "outputs": [{"name": "log_likelihood"}]})
        metadata = client.get("/v2/models/classifier").json()
    for answer in (by_query, by_body):
        assert answer.status_code == 200, answer.text
        np.testing.assert_allclose(answer.json()["log_likelihood"], novelty_model.log_likelihood(z), rtol=1e-4)
        assert answer.json()["clusters"] == model.classify(packed).tolist()
    np.testing.assert_array_equal(np.float32(by_query.json()["log_likelihood"]), model.score_samples(packed))
    assert set(plain.json()) == {"model_id", "clusters"}
    assert binary_refused.status_code == 406
    assert_error(bad_flag, 422)
    assert oip.status_code == 200, oip.text
    (tensor,) = oip.json()["outputs"]
    assert tensor["name"] == "log_likelihood" and tensor["datatype"] == "FP32" and tensor["shape"] == [len(z)]
    np.testing.assert_allclose(tensor["data"], novelty_model.log_likelihood(z), rtol=1e-4)
    assert {"name": "log_likelihood", "datatype": "FP32", "shape": [-1]} in metadata["outputs"]


def test_the_client_scores_codes_at_the_consumer(novelty_model: NoveltyModel):
    import httpx

    from bitcluster.client.http_client import BitclusterClient
    from bitcluster_consumer.config import Settings
    from bitcluster_consumer.main import create_app

    z = novelty_model.sample(30, seed=9)
    model = bc.load_model(novelty_model.dir)
    codes = bc.Codes(pack_codes(z), 20, model.model_id)
    settings = Settings(model_dir=novelty_model.dir, api_key=None, intra_op_threads=1)
    with in_process_client(create_app(settings)) as app_client:
        transport = httpx.MockTransport(lambda request: _forward(app_client, request))
        client = BitclusterClient(None, "http://consumer", transport=transport, batch_size=8)
        scores = client.score_samples(codes)
        novel = client.is_novel(codes, rate=0.2)
    assert scores.dtype == np.float64 and scores.shape == (30,)
    np.testing.assert_allclose(scores, model.score_samples(codes), rtol=1e-6)
    np.testing.assert_array_equal(novel, model.is_novel(codes, rate=0.2))


def _forward(app_client, request):
    import httpx

    answer = app_client.request(request.method, str(request.url.copy_with(scheme="http", host="testserver")),
                                content=request.content, headers=dict(request.headers))
    return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)
