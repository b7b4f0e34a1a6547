"""Novelty: the training codes' log-likelihood quantiles in the consumer half, Model.is_novel, the consumer's ``novel``."""

from __future__ import annotations

import base64

import numpy as np
import pytest

pytest.register_assert_rewrite("service_fixtures", "novelty_fixtures")  # before the imports: asserts explained

from novelty_fixtures import NoveltyModel  # noqa: E402
from service_fixtures import assert_error, in_process_client  # noqa: E402

import bitcluster as bc  # noqa: E402
from bitcluster.core.codes import pack_codes  # noqa: E402
from bitcluster.core.manifest import ManifestError  # noqa: E402
from bitcluster.core.novelty import LEVELS, NOVELTY_FILE, NoveltyReference, NoveltyUnavailableError  # noqa: E402

pytest_plugins = ["service_fixtures", "novelty_fixtures"]


def test_the_reference_is_the_quantiles_of_the_scores_and_interpolates_between_them(tmp_path):
    scores = np.random.default_rng(0).normal(-20, 3, 10_000)
    reference = NoveltyReference.from_scores(scores)
    assert reference.threshold(0.01) == pytest.approx(np.quantile(scores, 0.01))
    assert reference.threshold(0.00025) == pytest.approx(np.quantile(scores, [0, 0.0005]).mean())
    flagged = reference.is_novel(scores, 0.05)
    assert flagged.dtype == bool and flagged.mean() == pytest.approx(0.05, abs=0.001)
    (tmp_path / NOVELTY_FILE).write_text(reference.to_json())
    np.testing.assert_array_equal(NoveltyReference.load(tmp_path / NOVELTY_FILE).quantiles, reference.quantiles)


@pytest.mark.parametrize("rate", [0, 1, -0.1, 1.5, float("nan"), "much"])
def test_a_rate_outside_0_1_is_refused(rate):
    with pytest.raises(ValueError, match="rate"):
        NoveltyReference.from_scores(np.arange(10.0)).threshold(rate)


def test_the_export_keeps_the_training_codes_scores_in_the_consumer_half(novelty_model: NoveltyModel):
    model = bc.load_model(novelty_model.dir)
    assert f"consumer/{NOVELTY_FILE}" in model.manifest.files and (novelty_model.dir / "consumer" / NOVELTY_FILE).is_file()
    expected = np.quantile(novelty_model.log_likelihood(novelty_model.training), LEVELS)
    np.testing.assert_allclose(model.novelty.quantiles, expected, rtol=1e-5)
    assert model.novelty.n_codes == len(novelty_model.training)
    # the consumer half alone carries it
    assert bc.load_model(novelty_model.dir / "consumer").novelty.n_codes == len(novelty_model.training)


def test_is_novel_flags_about_rate_of_training_like_codes_and_most_random_ones(novelty_model: NoveltyModel):
    model = bc.load_model(novelty_model.dir)
    fresh = pack_codes(novelty_model.sample(20_000, seed=11))
    random = pack_codes(np.random.default_rng(11).integers(0, 2, (2000, novelty_model.bits)))
    for rate in (0.01, 0.05, 0.2):
        flagged = model.is_novel(fresh, rate=rate)
        assert flagged.dtype == bool and flagged.shape == (20_000,)
        assert 0.6 * rate < flagged.mean() < 1.4 * rate, (rate, flagged.mean())
    assert model.is_novel(random).mean() > 0.9
    np.testing.assert_array_equal(model.is_novel(fresh), model.score_samples(fresh) < model.novelty.threshold(0.01))
    with pytest.raises(ValueError, match="rate"):
        model.is_novel(fresh, rate=1.0)


def test_a_model_without_novelty_data_says_so(model_without_novelty: NoveltyModel):
    model = bc.load_model(model_without_novelty.dir)
    codes = pack_codes(model_without_novelty.sample(3, seed=0))
    assert model.score_samples(codes).shape == (3,)
    with pytest.raises(NoveltyUnavailableError, match="re-export"):
        model.is_novel(codes)


def test_an_altered_novelty_file_is_refused(novelty_model: NoveltyModel, tmp_path):
    import shutil

    copy = tmp_path / "m"
    shutil.copytree(novelty_model.dir, copy)
    path = copy / "consumer" / NOVELTY_FILE
    path.write_text(path.read_text().replace('"n_codes": 5000', '"n_codes": 5001'))
    with pytest.raises(ManifestError, match="altered"):
        bc.load_model(copy)


def _client(model_dir):
    from bitcluster_consumer.config import Settings
    from bitcluster_consumer.main import create_app

    return in_process_client(create_app(Settings(model_dir=model_dir, api_key=None, intra_op_threads=1)))


def _novel_counter(client) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(client.get("/metrics").text):
        for sample in family.samples:
            if sample.name == "bitcluster_novel_codes_total" and sample.labels["route"] == "/v1/classify":
                return sample.value
    return 0.0


def test_the_consumer_flags_novel_codes_and_counts_them(novelty_model: NoveltyModel):
    model = bc.load_model(novelty_model.dir)
    z = np.concatenate([novelty_model.sample(60, seed=3), np.random.default_rng(3).integers(0, 2, (40, 20))])
    packed = pack_codes(z)
    headers = {"Content-Type": "application/octet-stream", "X-Model-Id": model.model_id, "X-Code-Bits": "20"}
    json_body = {"model_id": model.model_id, "codes": [base64.b64encode(c.tobytes()).decode() for c in packed]}
    with _client(novelty_model.dir) as client:
        by_query = client.post("/v1/classify?novel=true&rate=0.05", content=packed.tobytes(), headers=headers)
        by_body = client.post("/v1/classify", json={**json_body, "novel": True, "rate": 0.05})
        default_rate = client.post("/v1/classify?novel=true", content=packed.tobytes(), headers=headers)
        counted = _novel_counter(client)
        refusals = [client.post(f"/v1/classify?{query}", content=packed.tobytes(), headers=headers)
                    for query in ("novel=true&rate=1", "novel=true&rate=abc", "novel=true&rate=nan")]
        # Schema-valid, so answered: a rate without novel is ignored; the body's rate wins over the query's.
        rate_alone = client.post("/v1/classify?rate=0.05", content=packed.tobytes(), headers=headers)
        both_rates = client.post("/v1/classify?novel=true&rate=0.1", json={**json_body, "novel": True, "rate": 0.05})
        body_rate_out_of_range = client.post("/v1/classify", json={**json_body, "novel": True, "rate": 0})
    expected = model.is_novel(packed, rate=0.05)
    assert 30 <= expected.sum() < 60  # the random codes, and few of the likely ones
    for answer in (by_query, by_body, both_rates):
        assert answer.status_code == 200, answer.text
        assert answer.json()["novel"] == expected.tolist()
        assert "log_likelihood" not in answer.json() and "posteriors" not in answer.json()
    assert default_rate.json()["novel"] == model.is_novel(packed).tolist()
    assert counted == 2 * expected.sum() + model.is_novel(packed).sum()
    assert rate_alone.status_code == 200 and "novel" not in rate_alone.json(), rate_alone.text
    for refused in (*refusals, body_rate_out_of_range):
        assert_error(refused, 422)


def test_the_consumer_refuses_novelty_for_a_model_exported_without_it(model_without_novelty: NoveltyModel):
    model = bc.load_model(model_without_novelty.dir)
    packed = pack_codes(model_without_novelty.sample(3, seed=0))
    headers = {"Content-Type": "application/octet-stream", "X-Model-Id": model.model_id, "X-Code-Bits": "20"}
    with _client(model_without_novelty.dir) as client:
        refused = client.post("/v1/classify?novel=true", content=packed.tobytes(), headers=headers)
        scored = client.post("/v1/classify?log_likelihood=true", content=packed.tobytes(), headers=headers)
    assert_error(refused, 422, "novelty_unavailable")
    assert scored.status_code == 200 and len(scored.json()["log_likelihood"]) == 3


def test_the_openapi_document_offers_novelty_only_where_the_model_has_it(novelty_model: NoveltyModel,
                                                                          model_without_novelty: NoveltyModel):
    def novel_declarations(model_dir) -> list[dict]:
        with _client(model_dir) as client:
            operation = client.get("/openapi.json").json()["paths"]["/v1/classify"]["post"]
        body = operation["requestBody"]["content"]["application/json"]["schema"]["properties"]
        return [p["schema"] for p in operation["parameters"] if p["name"] == "novel"] + [body["novel"]]

    assert all(schema.get("const") is False for schema in novel_declarations(model_without_novelty.dir))
    assert all("const" not in schema for schema in novel_declarations(novelty_model.dir))
