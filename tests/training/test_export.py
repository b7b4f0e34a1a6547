"""The exported ONNX halves are the trained model: same codes, same clusters, same posteriors.

Each method is trained for a few epochs on scikit-learn's digits: agreement between the ONNX
file and the torch module it was traced from does not need a good model, only a real one.
"""

import json

import numpy as np
import onnxruntime as ort
import pytest
import torch
from torch import nn

from bitcluster.core.codes import pack_codes, unpack_codes
from bitcluster.core.manifest import CLUSTERS_ONLY_FILE, ManifestError, load_manifest
from bitcluster.core.mixture import EPS, bmm_log_joint, bmm_log_posterior, logsumexp
from bitcluster.core.onnx_model import load_onnx_model
from bitcluster.data import load_dataset
from bitcluster.training.export import (EXPORTABLE, BmmByteTables, BmmClassifierHalf, BmmPosteriorTable, ExportError,
                                        GaussianMixtureClassifierHalf, bmm_classifier_half, classifier_onnx,
                                        LatentEncoderHalf, VabEncoderHalf, encoder_onnx, export_run)
from bitcluster.training.export.onnx_file import clusters_only_onnx
from bitcluster.training.export.bit_packing import PackBits, PlaceValuedBits, place_valued_weights
from bitcluster.training.export.latent_networks import latent_network
from bitcluster.training.quantiser import quantised_mixture
from bitcluster.training.latent_mixtures import load_latent_head
from bitcluster.training.methods import get_method
from bitcluster.training.pipeline import train_run

# Few epochs each: enough for every latent dimension and cluster to be used.
LATENT_RUNS = {
    "ae-kmeans": {"epochs": 2},
    "ae-gmm": {"epochs": 2},
    "convae-kmeans": {"epochs": 2, "lr": 3e-3},
    "convae-gmm": {"epochs": 2, "lr": 3e-3},
    "vade": {"epochs": 3},
    "vc": {"epochs": 5, "batch_size": 32},
}
LATENT_BITS_PER_DIM = 3  # 10 dimensions -> 30 bits: the last byte has padding
# The paper's recipe: 5 epochs (3 s) give live bits and several clusters; ``vab`` needs ~10 (a minute).
VAB_METHOD, VAB_EPOCHS = "vab-paper", 5


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def x_test():
    return load_dataset("digits").x_test


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    # 13 bits: a code that does not fill its last byte, so the padding path is exercised
    train_run(VAB_METHOD, "digits", root / "run", {"bits": 13, "clusters": 10, "epochs": VAB_EPOCHS, "seed": 0},
              progress=False)
    manifest = export_run(root / "run", root / "model")
    return root, manifest


@pytest.fixture(scope="module")
def latent_exports(tmp_path_factory, digits_teacher):
    """method -> (run directory, model directory), each trained and exported on first use."""
    root, done = tmp_path_factory.mktemp("latent_export"), {}

    def get(method: str):
        if method not in done:
            run, model = root / f"{method}-run", root / f"{method}-model"
            train_run(method, "digits", run, {"bits": 32, "clusters": 10, "seed": 0, **LATENT_RUNS[method]},
                      progress=False)
            export_run(run, model, LATENT_BITS_PER_DIM)
            done[method] = (run, model)
        return done[method]

    return get


def _session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _run_halves(model_dir, x):
    """Codes, clusters and posteriors of the exported graphs; the clusters-only graph must agree."""
    codes = _session(model_dir / "vendor/encoder.onnx").run(["codes"], {"images": x})[0]
    clusters, posteriors, _ = _session(model_dir / "consumer/classifier.onnx").run(None, {"codes": codes})
    np.testing.assert_array_equal(_session(model_dir / CLUSTERS_ONLY_FILE).run(None, {"codes": codes})[0], clusters)
    return codes, clusters, posteriors


# --- the bit order in the graph --------------------------------------------------------------

@pytest.mark.parametrize("bits", [1, 8, 13, 32])
def test_in_graph_packing_equals_pack_codes(bits, tmp_path):
    z = np.random.default_rng(bits).integers(0, 2, (257, bits))
    graph = encoder_onnx(PackBits(bits), n_pixels=bits)
    packed = ort.InferenceSession(graph.SerializeToString()).run(["codes"], {"images": z.astype(np.float32)})[0]
    assert packed.dtype == np.uint8
    np.testing.assert_array_equal(packed, pack_codes(z))
    np.testing.assert_array_equal(PackBits(bits)(torch.from_numpy(z)).numpy(), pack_codes(z))


@pytest.mark.parametrize("bits", [1, 13, 32])
def test_place_valued_unpacking_reads_the_bits_of_pack_codes(bits):
    z = np.random.default_rng(bits).integers(0, 2, (100, bits))
    identity = torch.from_numpy(place_valued_weights(np.eye(bits)))
    read = PlaceValuedBits()(torch.from_numpy(pack_codes(z))) @ identity
    np.testing.assert_array_equal(read.numpy(), z)


def test_a_module_that_pins_the_batch_size_is_refused():
    class ReadsLen(nn.Module):
        def forward(self, x):
            return PackBits(4)(x.reshape(len(x), 4) > 0)

    with pytest.raises(ExportError, match="batch"):
        encoder_onnx(ReadsLen(), n_pixels=4)


# --- VAB ---------------------------------------------------------------------------------------

def test_onnx_codes_are_bit_identical_to_torch(exported, x_test):
    root, _ = exported
    model = get_method(VAB_METHOD).load(root / "run")
    onnx_codes = _session(root / "model/vendor/encoder.onnx").run(None, {"images": x_test})[0]
    torch_codes = model.encode(torch.from_numpy(x_test)).numpy()
    assert onnx_codes.dtype == np.uint8 and onnx_codes.shape == (len(x_test), 2)
    np.testing.assert_array_equal(onnx_codes, pack_codes(torch_codes))
    half = VabEncoderHalf(model.g_a, 13).eval()
    np.testing.assert_array_equal(onnx_codes, half(torch.from_numpy(x_test)).numpy())


def test_onnx_posteriors_match_numpy_and_torch(exported, x_test):
    root, _ = exported
    model = get_method(VAB_METHOD).load(root / "run")
    rng = np.random.default_rng(0)
    z = rng.integers(0, 2, (500, 13)).astype(np.uint8)
    clusters, post, _ = _session(root / "model/consumer/classifier.onnx").run(None, {"codes": pack_codes(z)})
    log_pi, means = model.prior.numpy_parameters()
    ref = np.exp(bmm_log_posterior(z, log_pi, means))
    np.testing.assert_allclose(post, ref, atol=1e-5)
    np.testing.assert_array_equal(clusters, model.classify(torch.from_numpy(z)).numpy())


def test_vab_onnx_halves_agree_with_their_torch_modules_on_every_test_image(exported, x_test):
    root, _ = exported
    model = get_method(VAB_METHOD).load(root / "run")
    codes, clusters, posteriors = _run_halves(root / "model", x_test)
    log_pi, means = model.prior.numpy_parameters()
    with torch.no_grad():
        torch_codes = VabEncoderHalf(model.g_a, 13).eval()(torch.from_numpy(x_test))
        torch_clusters, torch_posteriors, _ = bmm_classifier_half(log_pi, means)(torch_codes)
    np.testing.assert_array_equal(codes, torch_codes.numpy())
    np.testing.assert_array_equal(clusters, torch_clusters.numpy())
    np.testing.assert_allclose(posteriors, torch_posteriors.numpy(), atol=1e-5)
    assert len(np.unique(clusters)) > 1  # a model that sends everything to one cluster would prove little


@pytest.mark.parametrize("bits, half_class", [(13, BmmPosteriorTable), (16, BmmPosteriorTable), (13, BmmClassifierHalf),
                                              (16, BmmClassifierHalf), (32, BmmClassifierHalf), (20, BmmByteTables),
                                              (24, BmmByteTables), (32, BmmByteTables)])
def test_bmm_classifier_graph_gives_the_float64_posterior_on_random_codes(bits, half_class):
    """Either consumer half, exported, against the float64 BMM on random codes of a random BMM.

    Some means sit at the clip (EPS, 1 - EPS), so log joints reach -13.8 per bit: the softmax
    must subtract the row maximum. Clusters must be the float64 argmax wherever the top two log
    joints differ by more than float32 rounding can move them (ties aside).
    """
    rng = np.random.default_rng(bits)
    clusters_k = 10
    means = rng.uniform(0, 1, (clusters_k, bits))
    means[rng.random(means.shape) < 0.2] = EPS
    means[rng.random(means.shape) < 0.2] = 1 - EPS
    log_pi = np.log(rng.dirichlet(np.ones(clusters_k)))
    z = rng.integers(0, 2, (3000, bits))
    graph = classifier_onnx(half_class(log_pi, means), (bits + 7) // 8)
    clusters, posteriors, log_likelihood = ort.InferenceSession(graph.SerializeToString()).run(
        None, {"codes": pack_codes(z)})

    log_joint = bmm_log_joint(z, log_pi, means)
    top_two = np.sort(log_joint, axis=1)[:, -2:]
    decided = top_two[:, 1] - top_two[:, 0] > 1e-4 * (1 + np.abs(top_two[:, 1]))
    assert decided.mean() > 0.98 and len(np.unique(clusters)) > 1
    np.testing.assert_array_equal(clusters[decided], log_joint.argmax(axis=1)[decided])
    assert clusters.dtype == np.int64 and posteriors.dtype == np.float32
    np.testing.assert_allclose(posteriors, np.exp(bmm_log_posterior(z, log_pi, means)), atol=1e-5)
    assert log_likelihood.dtype == np.float32
    np.testing.assert_allclose(log_likelihood, logsumexp(log_joint, axis=1), rtol=1e-4)


@pytest.mark.parametrize("bits, half_class", [(16, BmmPosteriorTable), (32, BmmByteTables), (32, BmmClassifierHalf)])
def test_the_clusters_only_graph_is_the_classifier_pruned(bits, half_class):
    """Same clusters as the full graph, one output, and none of the softmax left in it."""
    rng = np.random.default_rng(bits)
    full = classifier_onnx(half_class(np.log(rng.dirichlet(np.ones(10))), rng.uniform(0.05, 0.95, (10, bits))),
                           bits // 8)
    pruned = clusters_only_onnx(full)
    assert [o.name for o in pruned.graph.output] == ["clusters"]
    assert len(pruned.graph.node) < len(full.graph.node)
    assert not {"Exp", "Softmax", "Div", "Log"} & {n.op_type for n in pruned.graph.node}
    packed = pack_codes(rng.integers(0, 2, (2000, bits)))
    (clusters,) = ort.InferenceSession(pruned.SerializeToString()).run(None, {"codes": packed})
    np.testing.assert_array_equal(clusters, ort.InferenceSession(full.SerializeToString()).run(
        ["clusters"], {"codes": packed})[0])


@pytest.mark.parametrize("bits, half_class", [(13, BmmPosteriorTable), (13, BmmClassifierHalf), (13, BmmByteTables),
                                              (21, BmmByteTables)])
def test_bmm_classifier_ignores_padding_bits(bits, half_class):
    rng = np.random.default_rng(0)
    half = half_class(np.log(np.full(4, 0.25)), rng.uniform(0.05, 0.95, (4, bits)))
    packed = pack_codes(rng.integers(0, 2, (200, bits)))
    dirty = packed.copy()
    dirty[:, -1] |= rng.integers(0, 8, 200).astype(np.uint8)  # the 3 padding bits of 13- and 21-bit codes
    session = ort.InferenceSession(classifier_onnx(half, (bits + 7) // 8).SerializeToString())
    clean_out, dirty_out = session.run(None, {"codes": packed}), session.run(None, {"codes": dirty})
    np.testing.assert_array_equal(clean_out[0], dirty_out[0])
    np.testing.assert_array_equal(clean_out[1], dirty_out[1])
    np.testing.assert_array_equal(clean_out[2], dirty_out[2])


def test_the_posterior_table_is_chosen_only_while_it_is_small():
    rng = np.random.default_rng(0)
    assert isinstance(bmm_classifier_half(np.zeros(10), rng.uniform(size=(10, 16))), BmmPosteriorTable)
    assert isinstance(bmm_classifier_half(np.zeros(10), rng.uniform(size=(10, 17))), BmmByteTables)
    assert isinstance(bmm_classifier_half(np.zeros(10), rng.uniform(size=(10, 32))), BmmByteTables)
    assert isinstance(bmm_classifier_half(np.zeros(10), rng.uniform(size=(10, 33))), BmmClassifierHalf)
    assert isinstance(bmm_classifier_half(np.zeros(20), rng.uniform(size=(20, 16))), BmmByteTables)
    assert isinstance(bmm_classifier_half(np.zeros(64), rng.uniform(size=(64, 32))), BmmByteTables)
    with pytest.raises(ValueError, match="at most 16 bits"):
        BmmPosteriorTable(np.zeros(2), rng.uniform(size=(2, 17)))
    with pytest.raises(ValueError, match="at most 32 bits"):
        BmmByteTables(np.zeros(2), rng.uniform(size=(2, 33)))


def test_halves_take_any_batch_size(exported, x_test):
    root, _ = exported
    codes, clusters, posteriors = _run_halves(root / "model", x_test[:1])
    assert codes.shape == (1, 2) and clusters.shape == (1,) and posteriors.shape == (1, 10)
    np.testing.assert_array_equal(codes, _run_halves(root / "model", x_test)[0][:1])


def test_each_half_stands_alone_and_is_verified(exported):
    root, manifest = exported
    for half in ("vendor", "consumer"):
        m, path = load_manifest(root / "model" / half, half)
        assert m.model_id == manifest.model_id and path.parent.name == half
    assert manifest.bits == 13 and manifest.code_bytes == 2 and manifest.clusters == 10
    assert manifest.preprocessing == {"height": 8, "width": 8, "resize": "bilinear", "channels": 1, "centre": "none"}
    assert "acc" in manifest.metrics


def test_the_consumer_loads_the_clusters_only_graph_beside_the_classifier(exported):
    root, _ = exported
    model = load_onnx_model(root / "model", "consumer")
    assert model.clusters_session is not None
    assert [o.name for o in model.clusters_session.get_outputs()] == ["clusters"]
    codes = pack_codes(np.random.default_rng(0).integers(0, 2, (300, 13)))
    np.testing.assert_array_equal(model.run_clusters({"codes": codes}),
                                  model.session.run(["clusters"], {"codes": codes})[0])


@pytest.mark.parametrize("rel", ["consumer/classifier.onnx", CLUSTERS_ONLY_FILE])
def test_tampered_file_is_refused(exported, tmp_path, rel):
    import shutil

    root, _ = exported
    shutil.copytree(root / "model", tmp_path / "model")
    with open(tmp_path / "model" / rel, "ab") as f:
        f.write(b"\0")
    with pytest.raises(ManifestError, match="sha256"):
        load_manifest(tmp_path / "model", "consumer")
    with pytest.raises(ManifestError, match="sha256"):
        load_onnx_model(tmp_path / "model", "consumer")
    m = json.loads((tmp_path / "model/vendor/manifest.json").read_text())
    m["model_id"] = "0" * 16
    (tmp_path / "model/vendor/manifest.json").write_text(json.dumps(m))
    with pytest.raises(ManifestError, match="model_id"):
        load_manifest(tmp_path / "model", "vendor")


# --- the latent baselines ----------------------------------------------------------------------

@pytest.mark.parametrize("method", EXPORTABLE)
def test_latent_onnx_halves_agree_with_their_torch_modules_on_every_test_image(method, latent_exports, x_test):
    run, model_dir = latent_exports(method)
    b = LATENT_BITS_PER_DIM
    codes, clusters, posteriors = _run_halves(model_dir, x_test)
    assert codes.dtype == np.uint8 and codes.shape == (len(x_test), 4)  # 30 bits

    state = get_method(method).load(run)
    mixture, _ = load_latent_head(run)
    with torch.no_grad():
        encoder = LatentEncoderHalf(latent_network(method, state), state.quantiser, b).eval()
        torch_codes = encoder(torch.from_numpy(x_test))
        classifier = GaussianMixtureClassifierHalf(quantised_mixture(mixture, state.quantiser, b), state.quantiser, b)
        torch_clusters, torch_posteriors, torch_log_likelihood = classifier(torch_codes)
    np.testing.assert_array_equal(codes, torch_codes.numpy())
    np.testing.assert_array_equal(clusters, torch_clusters.numpy())
    np.testing.assert_allclose(posteriors, torch_posteriors.numpy(), atol=1e-5)
    assert len(np.unique(clusters)) > 1
    # the log density of the dequantised latent under the widened mixture, against float64 numpy
    levels = (unpack_codes(codes, 10 * b).reshape(-1, 10, b) * 2 ** np.arange(b - 1, -1, -1)).sum(axis=2)
    z_hat = state.quantiser.values(levels, b).astype(np.float64)
    expected = logsumexp(quantised_mixture(mixture, state.quantiser, b).log_joint(z_hat), axis=1)
    log_likelihood = _session(model_dir / "consumer/classifier.onnx").run(["log_likelihood"], {"codes": codes})[0]
    np.testing.assert_allclose(log_likelihood, expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(torch_log_likelihood.numpy(), log_likelihood, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("method", ["ae-gmm", "convae-kmeans", "vade", "vc"])
def test_latent_codes_are_the_quantisers_levels_msb_first(method, latent_exports, x_test):
    """Independently of the torch halves: the numpy quantiser's levels of the network's own ``encode``."""
    run, model_dir = latent_exports(method)
    b = LATENT_BITS_PER_DIM
    codes, _, posteriors = _run_halves(model_dir, x_test)
    state = get_method(method).load(run)
    network = state.autoencoder if hasattr(state, "autoencoder") else state.model
    levels = state.quantiser.levels(network.encode(torch.from_numpy(x_test)).numpy(), b)   # (N, d)
    level_bits = (levels[:, :, None] >> np.arange(b - 1, -1, -1)) & 1                     # (N, d, b), MSB first
    np.testing.assert_array_equal(codes, pack_codes(level_bits.reshape(len(x_test), -1)))
    np.testing.assert_array_equal(unpack_codes(codes, 10 * b).reshape(-1, 10, b), level_bits)

    mixture, _ = load_latent_head(run)
    widened = quantised_mixture(mixture, state.quantiser, b)
    expected = widened.predict_proba(state.quantiser.values(levels, b))
    np.testing.assert_allclose(posteriors, expected, atol=1e-4)


@pytest.mark.parametrize("method, message", [("kdae", "raw image"), ("kdvae", "raw image"),
                                             ("kmeans", "no quantised-latent export")])
def test_methods_without_a_latent_code_are_refused(method, message, tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run/config.json").write_text(json.dumps({"method": method}))
    with pytest.raises(ValueError, match=message):
        export_run(tmp_path / "run", tmp_path / "model")
    assert not (tmp_path / "model").exists()


def test_the_manifest_keeps_a_teachers_key_but_not_the_training_machines_cache_path(tmp_path):
    from bitcluster.training.export.run import _metrics

    teacher = {"key": "474bfe660ecec396", "source": "cache", "path": "/home/someone/.cache/bitcluster/teachers/474b"}
    (tmp_path / "metrics.json").write_text(json.dumps({"acc": 0.9, "teachers": [teacher]}))
    assert _metrics(tmp_path) == {"acc": 0.9, "teachers": [{"key": "474bfe660ecec396", "source": "cache"}]}
