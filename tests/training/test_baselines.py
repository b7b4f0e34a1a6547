"""The baselines: each learns on digits, and the pieces that are easy to get wrong match a direct computation."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import stats

from bitcluster.training import latent_mixtures, quantiser
from bitcluster.training.methods import kdvae
from bitcluster.training.loop import in_chunks
from bitcluster.training.nets.autoencoders import ConvAutoencoder, conv_sizes
from bitcluster.training.nets.gaussian_mixture_prior import GaussianMixturePrior, mixture_prior_kl
from bitcluster.training.methods.variational_clustering import gumbel_softmax
from bitcluster.core.codes import unpack_codes
from bitcluster.data import load_dataset
from bitcluster.core.manifest import load_manifest
from bitcluster.training.methods import METHODS, get_method, make_config
from bitcluster.training.pipeline import evaluate_run, train_run
from bitcluster.training.teacher import features as teacher_features
from bitcluster.training.teacher import load_teacher

# The shared pre-trained network, smaller than P-500-500-2000-10 so that its one build (trained
# until its loss flattens) stays short; every method that pre-trains starts from this one.
SHARED_HIDDEN = [128, 128, 256]
# A few epochs each, enough to beat the untrained model on digits.
SHORT_RUNS = {
    "kmeans": {},
    "gmm": {},
    "ae-kmeans": {"hidden": SHARED_HIDDEN},
    "ae-gmm": {"hidden": SHARED_HIDDEN},
    "convae-kmeans": {"epochs": 10, "lr": 3e-3},  # at 1e-3 it needs ~30 epochs on 8x8 images
    "convae-gmm": {"epochs": 10, "lr": 3e-3},
    "vade": {"epochs": 10, "hidden": SHARED_HIDDEN},
    "kdae": {"epochs": 8, "lr": 3e-3, "global_hidden": SHARED_HIDDEN},
    "kdvae": {"epochs": 15, "vade_hidden": SHARED_HIDDEN},
    "vc": {"epochs": 15, "batch_size": 32},  # from scratch: it needs more steps than the others
}
SHARED_PRETRAINING = ("ae-kmeans", "ae-gmm", "vade", "kdae", "kdvae")
LATENT_METHODS = ("ae-kmeans", "ae-gmm", "convae-kmeans", "convae-gmm", "vade", "vc")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.fixture(scope="module")
def teacher_builds():
    """One entry per autoencoder the representation stage trained while this module's runs were made."""
    return []


@pytest.fixture(scope="module")
def runs(tmp_path_factory, digits, teacher_builds):
    """Every baseline trained once, against an empty representation cache: method -> (run directory, metrics)."""
    root = tmp_path_factory.mktemp("baselines")
    real = teacher_features.train_autoencoder

    def counting(*args, **kwargs):
        teacher_builds.append(1)
        return real(*args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BITCLUSTER_CACHE_DIR", str(root / "cache"))
        mp.setattr(teacher_features, "train_autoencoder", counting)
        return {m: (root / m, train_run(m, digits, root / m, {**_bits_32(m), "clusters": 10, "seed": 0, **opts},
                                        progress=False))
                for m, opts in SHORT_RUNS.items()}


def _untrained_options(method):
    """The method's short-run options with nothing trained: no epochs, and no pre-trained network."""
    options = {**SHORT_RUNS[method], "seed": 0, "epochs": 0}
    if "pretraining" in METHODS[method].options():
        options["pretraining"] = "own"
    if "pretrain_epochs" in METHODS[method].options():
        options["pretrain_epochs"] = 0
    return options


def _bits_32(method):
    """A 32-bit budget for the methods that have a code length (kmeans, gmm, kdae, kdvae have none)."""
    return {"bits": 32} if "bits" in METHODS[method].options() else {}


def test_every_baseline_is_registered():
    assert set(SHORT_RUNS) <= set(METHODS)
    for name in ("kdae", "kdvae"):
        assert "not exportable" in METHODS[name].help


@pytest.mark.parametrize("method", list(SHORT_RUNS))
def test_method_beats_chance_and_its_untrained_model(method, runs, digits):
    _, metrics = runs[method]
    assert metrics["acc"] > 0.5, metrics  # chance is about 0.12
    if method in ("kmeans", "gmm"):
        return
    untrained_config = make_config(method, _untrained_options(method))
    untrained_state, _ = get_method(method).train(digits, untrained_config, progress=False)
    untrained = get_method(method).evaluate(untrained_state, digits)
    assert metrics["acc"] > untrained["acc"] + 0.05, (metrics["acc"], untrained["acc"])
    assert metrics["psnr"] > untrained["psnr"] + 3


@pytest.mark.parametrize("method", LATENT_METHODS)
def test_latent_methods_report_their_quantised_code(method, runs, digits):
    _, m = runs[method]
    assert m["bits_per_dim"] == 3 and m["bits"] == 30 and m["bpp"] == pytest.approx(30 / 64)
    # 3 bits per dimension keep most of the decision (without widening the GMM for the
    # quantisation noise, ae-gmm fell to ~0.17 here)
    assert m["acc_quantised"] > m["acc"] - 0.1 and m["agreement_quantised"] > 0.7


@pytest.mark.parametrize("method", list(SHORT_RUNS))
def test_run_directory_reloads_to_the_same_metrics(method, runs):
    run_dir, metrics = runs[method]
    assert json.loads((run_dir / "config.json").read_text())["model"]["clusters"] == 10
    assert not list(run_dir.glob("*.pkl")) and not list(run_dir.glob("*.pt"))
    again = evaluate_run(run_dir)
    for key in ("acc", "nmi", "psnr", "acc_quantised"):
        if key in metrics:
            assert again[key] == pytest.approx(metrics[key]), key


@pytest.mark.slow  # trains each method twice
@pytest.mark.parametrize("method", ["vade", "kdae", "vc"])
def test_same_seed_same_model(method, digits, tmp_path, monkeypatch):
    # the first run builds the shared network, the second reads it from the cache: same model
    monkeypatch.setenv("BITCLUSTER_CACHE_DIR", str(tmp_path / "cache"))
    small = digits.subset(300, 50)
    opts = {"epochs": 2, "seed": 3, "hidden": [32, 16] if method == "kdae" else [64]}
    if method == "kdae":
        opts["global_hidden"] = [64]
    a = train_run(method, small, tmp_path / "a", opts, progress=False)
    b = train_run(method, small, tmp_path / "b", opts, progress=False)
    assert (tmp_path / "a/model.safetensors").read_bytes() == (tmp_path / "b/model.safetensors").read_bytes()
    assert a["acc"] == b["acc"]


# --- the latent clusterers ---------------------------------------------------------------------

def _blobs(n=600, d=4, k=3, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=5.0, size=(k, d))
    return centres[rng.integers(0, k, n)] + rng.normal(size=(n, d)) * rng.uniform(0.3, 1.5, size=d)


def test_kmeans_mixture_predicts_the_nearest_centroid():
    from sklearn.cluster import KMeans

    z = _blobs()
    params, _ = latent_mixtures.fit_latent_mixture(z, "kmeans", 3, seed=0)
    km = KMeans(3, n_init=10, random_state=0).fit(z)
    np.testing.assert_array_equal(params.predict(z), km.predict(z))
    np.testing.assert_allclose(params.predict_proba(z).sum(axis=1), 1.0)


@pytest.mark.parametrize("covariance", ["full", "diag"])
def test_gmm_params_score_like_sklearn(covariance):
    from sklearn.mixture import GaussianMixture

    z = _blobs()
    params, _ = latent_mixtures.fit_latent_mixture(z, "gmm", 3, seed=0, covariance=covariance)
    gmm = GaussianMixture(3, covariance_type=covariance, random_state=0).fit(z)
    np.testing.assert_allclose(params.predict_proba(z), gmm.predict_proba(z), atol=1e-8)
    np.testing.assert_allclose(np.logaddexp.reduce(params.log_joint(z), axis=1), gmm.score_samples(z), rtol=1e-10)


def test_with_noise_adds_the_noise_variance_to_every_covariance():
    z = _blobs()
    params, _ = latent_mixtures.fit_latent_mixture(z, "gmm", 3, seed=0, covariance="full")
    v = np.array([0.1, 0.2, 0.3, 0.4])
    p, q = params.full_precision_cholesky(), params.with_noise(v).full_precision_cholesky()
    for pk, qk in zip(p, q):
        np.testing.assert_allclose(np.linalg.inv(qk @ qk.T), np.linalg.inv(pk @ pk.T) + np.diag(v), atol=1e-10)
    km, _ = latent_mixtures.fit_latent_mixture(z, "kmeans", 3, seed=0)
    assert km.with_noise(v) is km  # the nearest centroid stays the decision


def test_quantiser_is_within_half_a_step_inside_its_range():
    z = _blobs().astype(np.float32)
    q = quantiser.UniformQuantiser.fit(z, tail=0.0)
    for bits in (1, 3, 8):
        levels = q.levels(z, bits)
        assert levels.dtype == np.uint8 and levels.min() == 0 and levels.max() == 2**bits - 1
        assert np.all(np.abs(q.values(levels, bits) - z) <= q.step(bits) / 2 + 1e-5)
    with pytest.raises(ValueError, match="bits per latent dimension"):
        q.levels(z, 9)
    assert quantiser.bits_per_dim_for(32, 10) == 3 and quantiser.bits_per_dim_for(4, 10) == 1


# --- VaDE's KL term ----------------------------------------------------------------------------

def test_vade_kl_matches_a_monte_carlo_estimate():
    rng = np.random.default_rng(0)
    k, d = 3, 2
    prior = GaussianMixturePrior(k, d)
    with torch.no_grad():
        prior.pi_logits.copy_(torch.tensor([0.2, -0.5, 1.0]))
        prior.mu.copy_(torch.tensor(rng.normal(size=(k, d)), dtype=torch.float32))
        prior.log_var.copy_(torch.tensor(rng.normal(scale=0.5, size=(k, d)), dtype=torch.float32))
    mu, log_var = np.array([0.3, -0.2]), np.array([-0.7, 0.4])
    gamma = np.array([0.5, 0.2, 0.3])
    row = lambda a: torch.tensor(a[None], dtype=torch.float32)  # noqa: E731
    kl = mixture_prior_kl(row(mu), row(log_var), row(gamma), prior).item()

    # KL(q(z) q(c) || p(z|c) p(c)) = E_{q(z) q(c)} [log q(z) + log q(c) - log p(z|c) - log p(c)]
    z = mu + np.exp(0.5 * log_var) * rng.standard_normal((400_000, d))
    log_q_z = stats.norm.logpdf(z, mu, np.exp(0.5 * log_var)).sum(axis=1)
    pi = np.exp(prior.log_pi.detach().numpy().astype(np.float64))
    p_mu, p_sd = prior.mu.detach().numpy(), np.exp(0.5 * prior.log_var.detach().numpy())
    log_p_z_c = np.stack([stats.norm.logpdf(z, p_mu[c], p_sd[c]).sum(axis=1) for c in range(k)], axis=1)
    monte_carlo = np.mean(log_q_z - log_p_z_c @ gamma) + np.sum(gamma * np.log(gamma / pi))
    assert kl == pytest.approx(monte_carlo, abs=0.01)
    assert kl > 0


# --- k-DVAE's eq. 8 ----------------------------------------------------------------------------

def test_kdvae_hard_assignment_is_eq_8():
    torch.manual_seed(0)
    model = kdvae.KVAEs(n_pixels=6, clusters=3, latent=2, hidden=[5])
    x = torch.rand(7, 6)
    scores = model.scores(x).numpy()

    # eq. 7 directly: log p(x | z) + log N(z; 0, I) - log N(z; mu_i, sigma_i^2) at z = mu_i(x)
    direct = np.zeros((7, 3))
    with torch.no_grad():
        for i in range(3):
            mu, log_var = (t.double().numpy() for t in model.q_z[i](x))
            p = torch.sigmoid(model.g_s[i](model.q_z[i](x)[0])).double().numpy()
            xn = x.double().numpy()
            log_px = (xn * np.log(p) + (1 - xn) * np.log1p(-p)).sum(axis=1)
            log_prior = stats.norm.logpdf(mu).sum(axis=1)
            log_q = stats.norm.logpdf(mu, mu, np.exp(0.5 * log_var)).sum(axis=1)
            direct[:, i] = log_px + log_prior - log_q
    np.testing.assert_allclose(scores, direct, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(model.assign(x).numpy(), direct.argmax(axis=1))


# --- vc's Gumbel-Softmax -----------------------------------------------------------------------

def test_gumbel_softmax_is_softmax_of_logits_plus_gumbel_noise():
    logits = torch.tensor([[1.0, -0.5, 0.2], [0.0, 2.0, -1.0]])
    y = gumbel_softmax(logits, tau=0.7, generator=torch.Generator().manual_seed(5))
    u = torch.rand(logits.shape, generator=torch.Generator().manual_seed(5)).double().numpy()
    a = (logits.double().numpy() - np.log(-np.log(u))) / 0.7
    expected = np.exp(a - a.max(axis=1, keepdims=True))
    np.testing.assert_allclose(y.numpy(), expected / expected.sum(axis=1, keepdims=True), rtol=1e-5)


def test_gumbel_softmax_samples_the_categorical():
    logits = torch.tensor([1.0, -0.5, 0.2, 0.0]).repeat(40000, 1)
    y = gumbel_softmax(logits, tau=0.5, hard=True, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(y.mean(0), torch.softmax(logits[0], 0), atol=0.01, rtol=0)


def test_hard_gumbel_softmax_is_one_hot_with_the_relaxed_gradient():
    logits = torch.randn(16, 5, requires_grad=True)
    weights = torch.randn(5)
    hard = gumbel_softmax(logits, 0.5, hard=True, generator=torch.Generator().manual_seed(2))
    assert set(hard.detach().unique().tolist()) == {0.0, 1.0} and (hard.sum(1) == 1).all()
    (hard * weights).sum().backward()
    grad_hard = logits.grad.clone()
    logits.grad = None
    soft = gumbel_softmax(logits, 0.5, hard=False, generator=torch.Generator().manual_seed(2))
    (soft * weights).sum().backward()
    torch.testing.assert_close(grad_hard, logits.grad)


# --- the convolutional autoencoder -------------------------------------------------------------

# The parameter names in the model.safetensors of a convae run saved before colour: the network
# must keep them to load those runs.
PRE_COLOUR_CONV_PARAMETERS = [f"{net}.{layer}.{p}" for net, layers in (("g_a", (1, 3, 5, 8)), ("g_s", (0, 3, 5, 7)))
                              for layer in layers for p in ("weight", "bias")]


@pytest.mark.parametrize("image_channels", [1, 3])
@pytest.mark.parametrize("size", [(8, 8), (32, 32), (28, 28), (7, 9)])
def test_conv_autoencoder_fits_any_image_size(size, image_channels):
    h, w = size
    model = ConvAutoencoder(h, w, image_channels=image_channels)
    out = model(torch.rand(2, h * w * image_channels))
    assert out["z"].shape == (2, 10) and out["x_logits"].shape == (2, h * w * image_channels)
    assert conv_sizes(32, 32)[-1] == (4, 4) and conv_sizes(8, 8)[-1] == (1, 1)
    assert list(model.state_dict()) == PRE_COLOUR_CONV_PARAMETERS


def test_conv_autoencoder_reads_and_writes_rgb_vectors_in_hwc_order():
    h, w = 7, 9
    images = torch.rand(2, h, w, 3)                       # (N, H, W, C), flattened as Preprocessing does
    model = ConvAutoencoder(h, w, image_channels=3)
    torch.testing.assert_close(model.g_a[0](images.flatten(1)), images.permute(0, 3, 1, 2), rtol=0, atol=0)
    torch.testing.assert_close(model.g_s[-1](images.permute(0, 3, 1, 2)), images.flatten(1), rtol=0, atol=0)
    # the decoder's plane c is channel c of every pixel of the flat output
    last = model.g_s[-2]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.copy_(torch.tensor([1.0, 2.0, 3.0]))
        x_logits = model(images.flatten(1))["x_logits"]
    torch.testing.assert_close(x_logits.unflatten(1, (h, w, 3)), torch.tensor([1.0, 2.0, 3.0]).expand(2, h, w, 3))


def test_a_conv_architecture_from_before_colour_builds_the_grey_network():
    from bitcluster.training.methods.ae_mixtures import build_autoencoder

    old = {"architecture": "conv", "clusterer": "kmeans", "clusters": 10, "latent": 10, "n_pixels": 64, "height": 8,
           "width": 8, "hidden": [500, 500, 2000], "channels": [32, 64, 128], "bits_per_dim": 3}
    autoencoder = build_autoencoder(old)
    assert autoencoder.g_a[1].in_channels == 1 and autoencoder.g_s[-2].out_channels == 1
    assert autoencoder(torch.rand(2, 64))["x_logits"].shape == (2, 64)
    assert build_autoencoder({**old, "n_pixels": 192, "image_channels": 3}).g_a[1].in_channels == 3


# --- export of the latent methods --------------------------------------------------------------

@pytest.mark.parametrize("method", ["ae-gmm", "convae-kmeans", "vade", "vc"])
@pytest.mark.parametrize("bits_per_dim", [3, 5])
def test_exported_halves_are_the_quantised_model(method, bits_per_dim, runs, digits, tmp_path):
    import onnxruntime as ort

    from bitcluster.training.export import export_latent_run

    run_dir, _ = runs[method]
    manifest = export_latent_run(run_dir, tmp_path / "model", bits_per_dim)
    assert manifest.bits == 10 * bits_per_dim and manifest.code_bytes == -(-10 * bits_per_dim // 8)
    assert not manifest.needs_raw_image
    for half in ("vendor", "consumer"):
        assert load_manifest(tmp_path / "model" / half, half)[0].model_id == manifest.model_id
    session = lambda half, name: ort.InferenceSession(str(tmp_path / "model" / half / name))  # noqa: E731
    codes = session("vendor", "encoder.onnx").run(["codes"], {"images": digits.x_test})[0]
    clusters, posteriors = session("consumer", "classifier.onnx").run(["clusters", "posteriors"], {"codes": codes})

    # the codes are the quantiser's levels of the torch latent, MSB first, dimension after dimension
    state = get_method(method).load(run_dir)
    net = state.autoencoder if hasattr(state, "autoencoder") else state.model
    levels = state.quantiser.levels(in_chunks(net.encode, digits.x_test), bits_per_dim)
    bits = unpack_codes(codes, 10 * bits_per_dim).reshape(-1, 10, bits_per_dim)
    np.testing.assert_array_equal((bits * 2 ** np.arange(bits_per_dim - 1, -1, -1)).sum(axis=2), levels)
    # and the consumer applies the quantisation-widened mixture to the dequantised latent
    mixture, _ = latent_mixtures.load_latent_head(run_dir)
    widened = quantiser.quantised_mixture(mixture, state.quantiser, bits_per_dim)
    expected = widened.predict_proba(state.quantiser.values(levels, bits_per_dim))
    np.testing.assert_allclose(posteriors, expected, atol=1e-4)
    assert np.mean(clusters == expected.argmax(axis=1)) > 0.99  # float32 ties aside


@pytest.mark.parametrize("method", ["kdae", "kmeans"])
def test_methods_without_a_latent_code_are_not_exported(method, runs, tmp_path):
    from bitcluster.training.export import export_latent_run

    with pytest.raises(ValueError, match="raw image" if method == "kdae" else "no quantised-latent export"):
        export_latent_run(runs[method][0], tmp_path / "model")


def test_bit_allocation_spends_exactly_the_budget_evenly():
    assert quantiser.bit_allocation(32, 10).tolist() == [4, 4, 3, 3, 3, 3, 3, 3, 3, 3]
    assert quantiser.bit_allocation(8, 10).tolist() == [1] * 8 + [0, 0]
    assert quantiser.bit_allocation(80, 10).tolist() == [8] * 10
    assert quantiser.bit_allocation(128, 10, max_bits_per_dim=16).tolist() == [13] * 8 + [12] * 2
    for bad in (0, 81):
        with pytest.raises(ValueError, match="does not fit"):
            quantiser.bit_allocation(bad, 10)


def test_allocated_quantiser_matches_the_uniform_one_and_sends_nothing_at_zero_bits():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(500, 4)).astype(np.float32)
    q = quantiser.UniformQuantiser.fit(z)
    # with the same bits in every dimension it is the exported quantiser
    np.testing.assert_allclose(quantiser.allocated_roundtrip(q, z, [3, 3, 3, 3]), q.roundtrip(z, 3), atol=1e-5)
    out = quantiser.allocated_roundtrip(q, z, [2, 0, 1, 0])
    np.testing.assert_allclose(out[:, 1], (q.low[1] + q.high[1]) / 2, rtol=1e-6)
    assert len(np.unique(out[:, 0])) == 4 and len(np.unique(out[:, 2])) == 2
    # the error variance of a 0-bit dimension is that of the whole range
    var = quantiser.allocated_noise_variance(q, [2, 0, 1, 0])
    np.testing.assert_allclose(var[1], (q.high[1] - q.low[1]) ** 2 / 12, rtol=1e-6)
    np.testing.assert_allclose(var[0], q.noise_variance(2)[0], rtol=1e-6)


def test_gmm_reuses_the_kmeans_runs_autoencoder(runs, digits, tmp_path):
    kmeans_dir, _ = runs["ae-kmeans"]
    m = train_run("ae-gmm", digits, tmp_path / "reused",
                  {"bits": 32, "clusters": 10, "seed": 0, **SHORT_RUNS["ae-gmm"], "autoencoder_from": str(kmeans_dir)},
                  progress=False)
    reused = get_method("ae-gmm").load(tmp_path / "reused")
    original = get_method("ae-kmeans").load(kmeans_dir)
    np.testing.assert_array_equal(reused.latent(digits.x_test), original.latent(digits.x_test))
    history = json.loads((tmp_path / "reused" / "history.json").read_text())
    # the same rows as the K-means run (its own epochs and the shared network's, counted apart)
    assert m["epochs"] + m["shared_pretraining_epochs"] == len(json.loads((kmeans_dir / "history.json").read_text()))
    assert len(history) == m["epochs"] + m["shared_pretraining_epochs"]
    assert all(row["reused_from"] == str(kmeans_dir) for row in history)
    # another recipe (here: its own 7 epochs instead of the shared network) is not the same autoencoder
    with pytest.raises(ValueError, match="does not hold the same autoencoder"):
        train_run("ae-gmm", digits, tmp_path / "refused",
                  {"bits": 32, "clusters": 10, "seed": 0, "hidden": SHARED_HIDDEN, "pretraining": "own", "epochs": 7,
                   "autoencoder_from": str(kmeans_dir)}, progress=False)
    # nor is the convolutional one
    with pytest.raises(ValueError, match="does not hold the same autoencoder"):
        train_run("ae-gmm", digits, tmp_path / "refused2",
                  {"bits": 32, "clusters": 10, "seed": 0, **SHORT_RUNS["convae-gmm"],
                   "autoencoder_from": str(runs["convae-kmeans"][0])}, progress=False)


# --- the shared pre-trained network ------------------------------------------------------------

def test_methods_that_pretrain_share_one_cached_network(runs, digits, teacher_builds):
    # five methods, one autoencoder trained: the others found it in the cache
    assert len(teacher_builds) == 1
    entries = set()
    for method in SHARED_PRETRAINING:
        history = json.loads((runs[method][0] / "history.json").read_text())
        entries |= {row["teacher"] for row in history if "teacher" in row}
        assert any("shared representation stage" in note for note in runs[method][1]["protocol_notes"])
    assert len(entries) == 1
    # and ae-kmeans clusters the latent of that very network, not of one it trained further
    shared = load_teacher(Path(entries.pop())).autoencoder()
    state = get_method("ae-kmeans").load(runs["ae-kmeans"][0])
    np.testing.assert_allclose(state.latent(digits.x_test), in_chunks(shared.encode, digits.x_test), atol=1e-5)


def test_conv_autoencoders_keep_their_own_pretraining(digits, tmp_path):
    assert make_config("convae-gmm", {}).pretraining == "own"
    with pytest.raises(ValueError, match="convolutional autoencoder"):
        train_run("convae-gmm", digits, tmp_path / "conv", {"pretraining": "shared"}, progress=False)


def test_a_protocol_cut_is_recorded(runs):
    notes = runs["vade"][1]["protocol_notes"]
    assert "ELBO phase cut to 10 epochs (Jiang et al.: 500)" in notes
    assert make_config("vade", {}).epochs == 500 and make_config("vade", {}).batch_size == 100


# --- vc does not collapse ----------------------------------------------------------------------

def test_vc_uses_most_clusters(runs):
    _, m = runs["vc"]
    assert m["clusters_used"] >= 8, m  # it collapsed onto 2 of 10 with a learned p(c)
