"""Finding 5 of the security review: a model directory cannot be swapped under a service.

Each test reproduces one way in: a whole directory replaced (caught by the model id pin), a
manifest field changed with its id kept, an entropy model no manifest lists, a listed one altered,
and a file swapped between its hash check and its load (ONNX Runtime gets the checked bytes).
"""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest

from bitcluster.core import onnx_model
from bitcluster.core.manifest import DEFAULT_MODEL_DIR, ENTROPY_MODEL_FILE, ManifestError, compute_model_id, read_half
from bitcluster.core.onnx_model import load_onnx_model
from service_fixtures import write_synthetic_model


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Two exports of different models: A (with an entropy model) and B (seed 1, without one)."""
    root = tmp_path_factory.mktemp("models")
    return (write_synthetic_model(root / "a", seed=0),
            write_synthetic_model(root / "b", seed=1, entropy_model=False))


@pytest.fixture
def model_a(models, tmp_path):
    shutil.copytree(models[0].dir, tmp_path / "model")
    return tmp_path / "model"


def _codes(bits: int) -> np.ndarray:
    from bitcluster.core.codes import pack_codes

    return pack_codes(np.random.default_rng(0).integers(0, 2, (200, bits)))


def test_a_replaced_model_directory_is_refused_by_the_pin(models, model_a, monkeypatch):
    import bitcluster as bc
    from bitcluster.cli import app
    from bitcluster_consumer.classifier import Classifier
    from bitcluster_consumer.config import Settings
    from typer.testing import CliRunner

    a, b = models
    pinned = a.manifest.model_id
    assert load_onnx_model(model_a, "consumer", expected_model_id=pinned).manifest.model_id == pinned
    # The attacker's model: a valid export of its own, with a consistent manifest.
    shutil.rmtree(model_a)
    shutil.copytree(b.dir, model_a)
    for half in ("vendor", "consumer"):
        with pytest.raises(ManifestError, match=f"holds model '{b.manifest.model_id}', not the expected '{pinned}'"):
            load_onnx_model(model_a, half, expected_model_id=pinned)
    with pytest.raises(ManifestError, match="not the expected"):
        bc.load_model(model_a, expected_model_id=pinned)
    with pytest.raises(ManifestError, match="not the expected"):
        Classifier.load(Settings(model_dir=model_a, expected_model_id=pinned))
    # The command the containers run refuses to start, from the flag or from the environment.
    result = CliRunner().invoke(app, ["serve", "consumer", "--model-dir", str(model_a), "--expected-model-id", pinned])
    assert result.exit_code != 0 and "not the expected" in result.output
    monkeypatch.setenv("BITCLUSTER_EXPECTED_MODEL_ID", pinned)
    result = CliRunner().invoke(app, ["serve", "vendor", "--model-dir", str(model_a)])
    assert result.exit_code != 0 and "not the expected" in result.output


def test_a_manifest_field_changed_under_its_model_id_is_refused(model_a):
    # The file hashes untouched, the preprocessing changed: the id must cover it too.
    for manifest_path in model_a.rglob("manifest.json"):
        m = json.loads(manifest_path.read_text())
        m["preprocessing"]["resize"] = "nearest"
        manifest_path.write_text(json.dumps(m))
    with pytest.raises(ManifestError, match="model_id does not match"):
        read_half(model_a, "vendor")
    # Recomputing the id makes it another model, which a pin refuses.
    pinned = json.loads((model_a / "vendor/manifest.json").read_text())["model_id"]
    m["model_id"] = compute_model_id(m)
    (model_a / "vendor/manifest.json").write_text(json.dumps(m))
    assert read_half(model_a, "vendor").manifest.model_id == m["model_id"] != pinned
    with pytest.raises(ManifestError, match="not the expected"):
        read_half(model_a, "vendor", expected_model_id=pinned)


def test_an_entropy_model_that_no_manifest_lists_is_refused(models, tmp_path):
    _, b = models
    shutil.copytree(b.dir, tmp_path / "model")
    assert load_onnx_model(tmp_path / "model", "consumer").entropy_model is None
    for half in ("vendor", "consumer"):
        (tmp_path / "model" / half / ENTROPY_MODEL_FILE).write_text(json.dumps({"log_pi": [0.0], "means": [[0.5]]}))
        with pytest.raises(ManifestError, match="is not in .*manifest.json"):
            load_onnx_model(tmp_path / "model", half)


def test_an_altered_entropy_model_is_refused(model_a):
    path = model_a / "consumer" / ENTROPY_MODEL_FILE
    d = json.loads(path.read_text())
    d["log_pi"][0] += 1.0
    path.write_text(json.dumps(d))
    with pytest.raises(ManifestError, match="sha256"):
        load_onnx_model(model_a, "consumer")


def test_onnx_runtime_gets_the_bytes_that_were_hashed(models, model_a, monkeypatch):
    """Files swapped for model B's between the hash check and the load cannot be served."""
    a, b = models
    real_session = onnx_model.ort.InferenceSession
    given = []

    def swapping_session(model, *args, **kwargs):
        # The attacker's moment: every file of the directory is already hashed; swap them all now.
        shutil.copy(b.dir / "consumer/classifier.onnx", model_a / "consumer/classifier.onnx")
        shutil.copy(b.dir / "consumer/clusters.onnx", model_a / "consumer/clusters.onnx")
        (model_a / "consumer" / ENTROPY_MODEL_FILE).write_text(json.dumps({"log_pi": [0.0], "means": [[0.5]]}))
        given.append(model)
        return real_session(model, *args, **kwargs)

    monkeypatch.setattr(onnx_model.ort, "InferenceSession", swapping_session)
    model = load_onnx_model(model_a, "consumer", expected_model_id=a.manifest.model_id)
    files = a.manifest.files
    assert [type(m) for m in given] == [bytes, bytes]
    assert [hashlib.sha256(m).hexdigest() for m in given] == [files["consumer/classifier.onnx"],
                                                              files["consumer/clusters.onnx"]]
    # What is served is model A: its clusters and its entropy model, though B's files are on disk now.
    codes = _codes(a.manifest.bits)
    np.testing.assert_array_equal(model.run_clusters({"codes": codes}), a.classify(codes))
    np.testing.assert_array_equal(model.session.run(["clusters"], {"codes": codes})[0], a.classify(codes))
    log_pi, means = model.entropy_model
    np.testing.assert_allclose(log_pi, a.log_pi)
    np.testing.assert_allclose(means, a.means)
    assert not np.array_equal(a.classify(codes), b.classify(codes))  # the swap would have shown


def test_a_schema_1_manifest_is_refused_with_what_to_do(model_a):
    for manifest_path in model_a.rglob("manifest.json"):
        m = json.loads(manifest_path.read_text())
        m["schema_version"] = 1
        manifest_path.write_text(json.dumps(m))
    with pytest.raises(ManifestError, match="schema 1.*re-export"):
        load_onnx_model(model_a, "consumer")


def test_the_embedded_default_model_verifies_under_its_own_pin():
    model_id = json.loads((DEFAULT_MODEL_DIR / "manifest.json").read_text())["model_id"]
    for half in ("vendor", "consumer"):
        verified = read_half(DEFAULT_MODEL_DIR, half, expected_model_id=model_id)
        assert set(verified.contents) == {f for f in verified.manifest.files if f.startswith(half + "/")}
        assert verified.entropy_model is not None


def test_the_novelty_reference_served_is_the_one_that_was_hashed(tmp_path, monkeypatch):
    from bitcluster.core.novelty import NOVELTY_FILE, NoveltyReference
    from bitcluster_consumer.classifier import Classifier
    from bitcluster_consumer.config import Settings

    shutil.copytree(DEFAULT_MODEL_DIR, tmp_path / "model")
    path = tmp_path / "model" / "consumer" / NOVELTY_FILE
    original = NoveltyReference.load(path)
    real_session = onnx_model.ort.InferenceSession

    def swapping_session(model, *args, **kwargs):
        path.write_text("{}")  # after the hash check, before anything parses it
        return real_session(model, *args, **kwargs)

    monkeypatch.setattr(onnx_model.ort, "InferenceSession", swapping_session)
    classifier = Classifier.load(Settings(model_dir=tmp_path / "model"))
    np.testing.assert_array_equal(classifier.novelty.quantiles, original.quantiles)
