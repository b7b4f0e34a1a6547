"""An RGB .npz trains an RGB model end to end: run, export, in-process model; a method declared
grey-only refuses it. The convolutional baselines read RGB as three planes; their runs from before
colour load as grey."""

from __future__ import annotations

import dataclasses
import json
import warnings

import numpy as np
import pytest
import torch

from bitcluster.api.model import load_model
from bitcluster.core.channels import ChannelConversionWarning
from bitcluster.core.codes import pack_codes
from bitcluster.training.export import export_run
from bitcluster.training.methods import METHODS, get_method
from bitcluster.training.pipeline import evaluate_run, train_run

from colour_fixtures import tinted_digits

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tinted_npz(tmp_path_factory):
    """A user's .npz of 500 tinted digits: (N, 8, 8, 3) uint8 RGB."""
    path = tmp_path_factory.mktemp("tinted") / "tinted.npz"
    x, y = tinted_digits(500)
    np.savez(path, x=x, y=y)
    return path


@pytest.fixture(scope="module")
def colour_run(tmp_path_factory, tinted_npz):
    root = tmp_path_factory.mktemp("colour")
    metrics = train_run("vab-paper", str(tinted_npz), root / "run",
                        {"bits": 8, "clusters": 10, "epochs": 2, "seed": 0}, progress=False)
    return root, metrics


def test_an_rgb_npz_trains_an_rgb_run_that_records_its_channels(colour_run):
    root, metrics = colour_run
    config = json.loads((root / "run" / "config.json").read_text())
    assert config["preprocessing"] == {"height": 8, "width": 8, "resize": "bilinear", "channels": 3, "centre": "none"}
    assert config["model"]["n_pixels"] == 8 * 8 * 3
    assert 0 <= metrics["acc"] <= 1 and metrics["bpp"] == pytest.approx(8 / 64)  # per pixel, as codecs count
    assert metrics["compression_ratio"] == pytest.approx(8 * 192 / 8)  # against 24-bit raw pixels
    assert (root / "run" / "clusters.png").is_file()  # the report draws RGB samples
    assert evaluate_run(root / "run")["n_test"] == 100


def test_an_rgb_run_exports_an_rgb_model_that_encodes_rgb_and_converts_grey(colour_run):
    root, _ = colour_run
    manifest = export_run(root / "run", root / "model")
    assert manifest.preprocessing["channels"] == 3
    for half in ("vendor", "consumer"):
        assert json.loads((root / "model" / half / "manifest.json").read_text())["preprocessing"]["channels"] == 3
    model = load_model(root / "model")
    rgb = tinted_digits(20, seed=1)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clusters = model.cluster(rgb)
    assert clusters.shape == (20,)
    with pytest.warns(ChannelConversionWarning, match="20 of 20 images were grey and were converted to RGB"):
        model.encode(rgb[..., 0])


def test_a_method_declared_grey_only_refuses_rgb_data_before_training(tinted_npz, tmp_path, monkeypatch):
    # every registered method trains on colour today: declare one grey-only to test the refusal
    monkeypatch.setitem(METHODS, "gmm", dataclasses.replace(METHODS["gmm"], trains_on_colour=False))
    with pytest.raises(ValueError, match=r"^gmm trains on grey images only, and this data is RGB \(8x8 RGB\): "
                                         r"train vab, vab-paper, kmeans, ae-kmeans, "):
        train_run("gmm", str(tinted_npz), tmp_path / "run", {"clusters": 10}, progress=False)
    assert not (tmp_path / "run").exists()


# --- the convolutional autoencoder on colour ---------------------------------------------------

@pytest.fixture(scope="module")
def convae_colour_run(tmp_path_factory, tinted_npz):
    """A convae-kmeans run on the tinted digits (2 epochs) and its export: (run, model directory)."""
    root = tmp_path_factory.mktemp("convae_colour")
    train_run("convae-kmeans", str(tinted_npz), root / "run", {"clusters": 10, "epochs": 2, "lr": 3e-3, "seed": 0},
              progress=False)
    export_run(root / "run", root / "model")
    return root / "run", root / "model"


def test_convae_trains_on_rgb_and_records_the_image_channels(convae_colour_run):
    run, _ = convae_colour_run
    config = json.loads((run / "config.json").read_text())
    assert config["preprocessing"]["channels"] == 3
    assert config["model"]["image_channels"] == 3 and config["model"]["channels"] == [32, 64, 128]
    autoencoder = get_method("convae-kmeans").load(run).autoencoder
    assert autoencoder.g_a[1].in_channels == 3 and autoencoder.g_s[-2].out_channels == 3
    metrics = evaluate_run(run)
    assert metrics["n_test"] == 100 and metrics["bpp"] == pytest.approx(30 / 64)


def test_an_exported_rgb_convae_encodes_rgb_images_as_its_torch_model_does(convae_colour_run):
    run, model_dir = convae_colour_run
    model = load_model(model_dir)
    assert model.preprocessing.channels == 3 and model.bits == 30
    rgb = tinted_digits(60, seed=1)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # RGB into an RGB model: nothing is converted
        codes = model.encode(rgb)

    # the torch model's own quantised latent of the same input vectors, MSB first
    state = get_method("convae-kmeans").load(run)
    b = state.bits_per_dim
    latent = state.autoencoder.encode(torch.from_numpy(model.preprocessing.apply(rgb))).numpy()
    levels = state.quantiser.levels(latent, b)                                              # (N, 10)
    level_bits = (levels[:, :, None] >> np.arange(b - 1, -1, -1)) & 1                       # (N, 10, b)
    np.testing.assert_array_equal(codes.packed, pack_codes(level_bits.reshape(len(rgb), -1)))
    assert len(np.unique(codes.packed, axis=0)) > 1
    assert model.cluster(rgb).shape == (60,)


def test_a_convae_run_from_before_colour_loads_as_grey_and_can_be_reused(small_npz, tmp_path):
    train_run("convae-kmeans", str(small_npz), tmp_path / "run", {"clusters": 3, "epochs": 1, "seed": 0},
              progress=False)
    config_path = tmp_path / "run" / "config.json"
    config = json.loads(config_path.read_text())
    assert config["model"].pop("image_channels") == 1  # as conv runs were written before colour
    config_path.write_text(json.dumps(config))

    autoencoder = get_method("convae-kmeans").load(tmp_path / "run").autoencoder
    assert autoencoder.g_a[1].in_channels == 1 and autoencoder.g_s[-2].out_channels == 1
    assert evaluate_run(tmp_path / "run")["n_test"] == 24
    # a new run recording image_channels 1 takes the old run's autoencoder as the same network
    train_run("convae-gmm", str(small_npz), tmp_path / "gmm", {"clusters": 3, "epochs": 1, "seed": 0,
                                                                "autoencoder_from": str(tmp_path / "run")},
              progress=False)
    reused = get_method("convae-gmm").load(tmp_path / "gmm").autoencoder
    for ours, theirs in zip(reused.state_dict().values(), autoencoder.state_dict().values(), strict=True):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=0)


def test_a_run_from_before_colour_is_evaluated_as_grey(small_npz, tmp_path):
    train_run("vab-paper", str(small_npz), tmp_path / "run", {"bits": 8, "clusters": 3, "epochs": 1, "seed": 0},
              progress=False)
    config_path = tmp_path / "run" / "config.json"
    config = json.loads(config_path.read_text())
    del config["preprocessing"]["channels"]  # as runs were written before colour
    config_path.write_text(json.dumps(config))
    assert evaluate_run(tmp_path / "run")["n_test"] == 24
    manifest = export_run(tmp_path / "run", tmp_path / "model")
    assert load_model(tmp_path / "model").preprocessing.channels == 1 and manifest.bits == 8
