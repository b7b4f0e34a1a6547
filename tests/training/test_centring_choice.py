"""Whether a run centres its images: the choice by UMAP agreement, its cache, and a centred run end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bitcluster.core.centring import centre_by_mass
from bitcluster.core.preprocessing import Preprocessing
from bitcluster.data import Dataset
from bitcluster.training.teacher import TeacherCache, TeacherConfig, build_teacher
from bitcluster.training.teacher import centring as centring_module
from bitcluster.training.teacher.centring import choose_centring, resolve_centring

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SIDE = 16
PATTERNS = (  # three small figures, 5x5
    np.array([[1, 1, 1, 1, 1]] * 5, np.float32),                                    # filled square
    np.eye(5, dtype=np.float32) + np.eye(5, dtype=np.float32)[::-1],                # cross
    np.pad(np.ones((1, 5), np.float32), ((2, 2), (0, 0))),                          # bar
)
FAST = TeacherConfig(gmm_restarts=2, pca_components=20)


def figure_images(n: int, seed: int, move: int, noise: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """``n`` (SIDE, SIDE) images of the three figures at offsets up to ``move`` pixels from the centre, and labels."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    x = np.zeros((n, SIDE, SIDE), np.float32)
    for i, k in enumerate(y):
        dy, dx = rng.integers(-move, move + 1, size=2)
        top, left = SIDE // 2 - 2 + dy, SIDE // 2 - 2 + dx
        x[i, top:top + 5, left:left + 5] = PATTERNS[k]
    return np.clip(x + rng.normal(0, noise, x.shape), 0, 1).astype(np.float32), y


def figures(n: int, seed: int, move: int) -> Dataset:
    x, y = figure_images(n, seed, move)
    flat = x.reshape(n, -1)
    return Dataset("figures", flat, y, flat[:10], y[:10], Preprocessing(SIDE, SIDE))


def test_auto_centring_takes_mass_when_figures_move_about_the_frame():
    choice, record = choose_centring(figures(300, 0, move=5), 3, 0, FAST)
    assert choice == "mass"
    assert record["agreement"]["mass"] > record["agreement"]["none"] and record["images"] == 300


def test_auto_centring_keeps_the_images_when_centring_changes_nothing():
    still = figures(300, 1, move=0)  # every figure already mid-frame: both candidates see the same features
    still.x_train = centre_by_mass(still.preprocessing.images(still.x_train)).reshape(300, -1)
    choice, record = choose_centring(still, 3, 0, FAST)
    assert record["agreement"]["mass"] == pytest.approx(record["agreement"]["none"], abs=1e-9)
    assert choice == "none"  # a tie keeps the images as they are


def test_the_choice_is_cached_by_data_and_settings_and_read_back(tmp_path, monkeypatch):
    moving, cache = figures(300, 0, move=5), TeacherCache(tmp_path)
    said = []
    centred, first = resolve_centring(moving, 3, 0, "auto", config=FAST, cache=cache, say=said.append)
    assert first["centre"] == "mass" and first["choice"]["source"] == "measured"
    assert centred.preprocessing.centre == "mass" and moving.preprocessing.centre == "none"
    np.testing.assert_allclose(centred.x_test, centre_by_mass(moving.preprocessing.images(moving.x_test))
                               .reshape(10, -1), atol=1e-6)  # both splits are centred
    assert len(list((tmp_path / "centring").glob("*.json"))) == 1 and "judging" in said[0]

    judged = []
    original = centring_module.choose_centring
    monkeypatch.setattr(centring_module, "choose_centring", lambda *a, **k: judged.append(a) or original(*a, **k))
    again, second = resolve_centring(moving, 3, 0, "auto", config=FAST, cache=cache, say=said.append)
    assert judged == [] and second["choice"]["source"] == "cache"
    assert second["choice"]["agreement"] == first["choice"]["agreement"] and "read from" in said[-1]
    np.testing.assert_array_equal(again.x_train, centred.x_train)
    resolve_centring(moving, 4, 0, "auto", config=FAST, cache=cache)  # another K is another question
    assert len(judged) == 1


def test_asked_centring_is_applied_without_judging_and_a_centred_dataset_is_never_uncentred(tmp_path, monkeypatch):
    monkeypatch.setattr(centring_module, "choose_centring", lambda *a, **k: pytest.fail("judged"))
    moving, cache = figures(60, 0, move=5), TeacherCache(tmp_path)
    plain, record = resolve_centring(moving, 3, 0, "none", config=FAST, cache=cache)
    assert plain is moving and record == {"asked": "none", "centre": "none", "choice": None}
    centred, record = resolve_centring(moving, 3, 0, "mass", config=FAST, cache=cache)
    assert record["centre"] == "mass" and centred.preprocessing.centre == "mass"
    kept, record = resolve_centring(centred, 3, 0, "auto", config=FAST, cache=cache)
    assert kept is centred and record["centre"] == "mass"
    with pytest.raises(ValueError, match="already centred"):
        resolve_centring(centred, 3, 0, "none", config=FAST, cache=cache)
    with pytest.raises(ValueError, match="auto, none, mass"):
        resolve_centring(moving, 3, 0, "middle", config=FAST, cache=cache)


def test_the_teacher_of_centred_images_records_it_and_clusters_moving_figures(tmp_path):
    from bitcluster.core.metrics import cluster_accuracy

    moving = figures(300, 1, move=4)
    centred, _ = resolve_centring(moving, 3, 0, "mass", config=FAST, cache=TeacherCache(tmp_path))
    teacher = build_teacher(centred, 3, 0, config=FAST, cache=TeacherCache(tmp_path), progress=False)
    assert teacher.metadata["features"]["kind"] == "pca" and teacher.metadata["features"]["centre"] == "mass"
    assert cluster_accuracy(moving.y_train, teacher.labels) >= 0.9


@pytest.fixture(scope="module")
def centred_run(tmp_path_factory):
    """vab trained on an .npz of moving figures with the default centring (auto), and its export."""
    from bitcluster.training.export import export_run
    from bitcluster.training.pipeline import train_run

    root = tmp_path_factory.mktemp("centred_run")
    x, y = figure_images(400, 2, move=5)
    np.savez(root / "figures.npz", x=x, y=y)
    metrics = train_run("vab", str(root / "figures.npz"), root / "run",
                        {"bits": 8, "clusters": 3, "epochs": 30, "seed": 0}, progress=False,
                        teacher=FAST, teacher_cache=TeacherCache(root / "cache"))
    export_run(root / "run", root / "model")
    return root, metrics


def test_a_vab_run_centres_moving_figures_by_default_and_records_it(centred_run):
    from bitcluster.training.pipeline import evaluate_run

    root, metrics = centred_run
    config = json.loads((root / "run" / "config.json").read_text())
    assert config["preprocessing"]["centre"] == "mass"
    assert metrics["centring"]["asked"] == "auto" and metrics["centring"]["centre"] == "mass"
    assert metrics["centring"]["choice"]["agreement"]["mass"] > metrics["centring"]["choice"]["agreement"]["none"]
    assert metrics["teachers"][0]["features"]["centre"] == "mass"
    assert metrics["acc"] >= 0.9
    again = evaluate_run(root / "run")  # evaluate centres the test images as training did
    assert again["acc"] == pytest.approx(metrics["acc"])


def test_the_exported_centred_model_codes_a_figure_the_same_wherever_it_is(centred_run):
    from bitcluster.api.model import load_model

    root, _ = centred_run
    model = load_model(root / "model")
    assert model.preprocessing.centre == "mass"
    assert json.loads((root / "model" / "vendor" / "manifest.json").read_text())["preprocessing"]["centre"] == "mass"
    x, _ = figure_images(30, 3, move=0, noise=0.0)
    moved = np.zeros_like(x)
    moved[:, 3:, 2:] = x[:, :-3, :-2]  # 3 down, 2 right: the figures stay inside the frame
    np.testing.assert_array_equal(model.encode(x), model.encode(moved))
