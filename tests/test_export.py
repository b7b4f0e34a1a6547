"""The exported ONNX halves are the trained model: same codes, same posteriors."""

import json

import numpy as np
import onnxruntime as ort
import pytest
import torch

from bitcluster.core.bmm import bmm_log_posterior
from bitcluster.core.codes import pack_codes
from bitcluster.data import load_dataset
from bitcluster.training.export import export_run
from bitcluster.core.manifest import ManifestError, load_manifest
from bitcluster.training.methods import vab
from bitcluster.training.pipeline import train_run


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    # 13 bits: a code that does not fill its last byte, so the padding path is exercised
    train_run("vab", "digits", root / "run", {"bits": 13, "clusters": 10, "epochs": 3, "seed": 0}, progress=False)
    manifest = export_run(root / "run", root / "model")
    return root, manifest


def _session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def test_onnx_codes_are_bit_identical_to_torch(exported):
    root, manifest = exported
    model = vab.load(root / "run")
    x = load_dataset("digits").x_test
    onnx_codes = _session(root / "model/vendor/encoder.onnx").run(None, {"images": x})[0]
    torch_codes = model.encode(torch.from_numpy(x)).numpy()
    assert onnx_codes.dtype == np.uint8 and onnx_codes.shape == (len(x), 2)
    np.testing.assert_array_equal(onnx_codes, pack_codes(torch_codes))


def test_onnx_posteriors_match_numpy_and_torch(exported):
    root, _ = exported
    model = vab.load(root / "run")
    rng = np.random.default_rng(0)
    z = rng.integers(0, 2, (500, 13)).astype(np.uint8)
    clusters, post = _session(root / "model/consumer/classifier.onnx").run(None, {"codes": pack_codes(z)})
    log_pi, means = model.prior.numpy_parameters()
    ref = np.exp(bmm_log_posterior(z, log_pi, means))
    np.testing.assert_allclose(post, ref, atol=1e-5)
    np.testing.assert_array_equal(clusters, model.classify(torch.from_numpy(z)).numpy())


def test_each_half_stands_alone_and_is_verified(exported):
    root, manifest = exported
    for half in ("vendor", "consumer"):
        m, path = load_manifest(root / "model" / half, half)
        assert m.model_id == manifest.model_id and path.parent.name == half
    assert manifest.bits == 13 and manifest.code_bytes == 2 and manifest.clusters == 10
    assert manifest.preprocessing == {"height": 8, "width": 8, "resize": "bilinear"}
    assert "acc" in manifest.metrics


def test_tampered_file_is_refused(exported, tmp_path):
    import shutil

    root, _ = exported
    shutil.copytree(root / "model", tmp_path / "model")
    with open(tmp_path / "model/consumer/classifier.onnx", "ab") as f:
        f.write(b"\0")
    with pytest.raises(ManifestError, match="sha256"):
        load_manifest(tmp_path / "model", "consumer")
    m = json.loads((tmp_path / "model/vendor/manifest.json").read_text())
    m["model_id"] = "0" * 16
    (tmp_path / "model/vendor/manifest.json").write_text(json.dumps(m))
    with pytest.raises(ManifestError, match="model_id"):
        load_manifest(tmp_path / "model", "vendor")
