"""An RGB .npz trains an RGB model end to end: run, export, in-process model; grey-only methods refuse it."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from bitcluster.api.model import load_model
from bitcluster.core.channels import ChannelConversionWarning
from bitcluster.training.export import export_run
from bitcluster.training.pipeline import evaluate_run, train_run

from colour_fixtures import tinted_digits

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def colour_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("colour")
    x, y = tinted_digits(500)
    np.savez(root / "tinted.npz", x=x, y=y)
    metrics = train_run("vab-paper", str(root / "tinted.npz"), root / "run",
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


def test_a_grey_only_method_refuses_rgb_data_before_training(colour_run, tmp_path):
    root, _ = colour_run
    with pytest.raises(ValueError, match=r"convae-kmeans trains on grey images only.*8x8 RGB.*vab"):
        train_run("convae-kmeans", str(root / "tinted.npz"), tmp_path / "run", {"epochs": 1}, progress=False)
    assert not (tmp_path / "run").exists()


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
