"""The teacher's representation: centring by centre of mass, and the choice of it by UMAP agreement."""

from __future__ import annotations

import numpy as np
import pytest

from bitcluster.core.preprocessing import Preprocessing
from bitcluster.data import Dataset
from bitcluster.training.teacher import TeacherCache, TeacherConfig, build_teacher
from bitcluster.training.teacher.centring import centre_by_mass
from bitcluster.training.teacher.features import choose_centring

SIDE = 16
PATTERNS = (  # three small figures, 5x5
    np.array([[1, 1, 1, 1, 1]] * 5, np.float32),                                    # filled square
    np.eye(5, dtype=np.float32) + np.eye(5, dtype=np.float32)[::-1],                # cross
    np.pad(np.ones((1, 5), np.float32), ((2, 2), (0, 0))),                          # bar
)


def figures(n: int, seed: int, move: int) -> Dataset:
    """``n`` images of the three figures at offsets up to ``move`` pixels from the centre."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    x = np.zeros((n, SIDE, SIDE), np.float32)
    for i, k in enumerate(y):
        dy, dx = rng.integers(-move, move + 1, size=2)
        top, left = SIDE // 2 - 2 + dy, SIDE // 2 - 2 + dx
        x[i, top:top + 5, left:left + 5] = PATTERNS[k]
    x = np.clip(x + rng.normal(0, 0.05, x.shape), 0, 1).astype(np.float32)
    flat = x.reshape(n, -1)
    return Dataset("figures", flat, y, flat[:10], y[:10], Preprocessing(SIDE, SIDE))


def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    rows, cols = np.indices(image.shape)
    return float((rows * image).sum() / image.sum()), float((cols * image).sum() / image.sum())


def test_centring_puts_the_ink_mid_frame_and_leaves_an_empty_image_alone():
    x = np.zeros((3, SIDE, SIDE), np.float32)
    x[0, 1:4, 1:4] = 1.0          # top left
    x[1, 10:13, 11:15] = 0.5      # bottom right, dimmer
    out = centre_by_mass(x.reshape(3, -1), Preprocessing(SIDE, SIDE)).reshape(3, SIDE, SIDE)
    for image in out[:2]:
        np.testing.assert_allclose(centre_of_mass(image), ((SIDE - 1) / 2, (SIDE - 1) / 2), atol=0.05)
    np.testing.assert_array_equal(out[2], 0.0)
    np.testing.assert_allclose(out[:2].sum(axis=(1, 2)), x[:2].sum(axis=(1, 2)), rtol=1e-5)  # shifted, not lost


def test_an_rgb_image_moves_as_one_its_channels_together():
    x = np.zeros((1, SIDE, SIDE, 3), np.float32)
    x[0, 2:5, 10:13] = (1.0, 0.5, 0.25)  # an orange square, top right
    out = centre_by_mass(x.reshape(1, -1), Preprocessing(SIDE, SIDE, channels=3)).reshape(SIDE, SIDE, 3)
    for channel in range(3):
        np.testing.assert_allclose(centre_of_mass(out[..., channel]), ((SIDE - 1) / 2, (SIDE - 1) / 2), atol=0.05)
    np.testing.assert_allclose(out[..., 1], out[..., 0] / 2, atol=1e-6)  # the colour is kept


def test_faint_background_noise_does_not_pull_the_centre_to_mid_frame():
    rng = np.random.default_rng(0)
    image = np.clip(rng.normal(0, 0.05, (SIDE, SIDE)), 0, 1).astype(np.float32)  # noise over the whole frame
    image[1:2, 1:6] = 1.0                                                         # a thin bar in a corner
    out = centre_by_mass(image.reshape(1, -1), Preprocessing(SIDE, SIDE)).reshape(SIDE, SIDE)
    bar = out > 0.5
    rows, cols = np.nonzero(bar)
    assert abs(rows.mean() - (SIDE - 1) / 2) <= 0.5 and abs(cols.mean() - (SIDE - 1) / 2) <= 0.5


def test_auto_centring_takes_mass_when_figures_move_about_the_frame():
    moving = figures(300, 0, move=5)
    config = TeacherConfig(gmm_restarts=2, pca_components=20)
    choice, record = choose_centring(moving, 3, 0, config)
    assert choice == "mass"
    assert record["agreement"]["mass"] > record["agreement"]["none"] and record["images"] == 300


def test_auto_centring_keeps_the_images_when_centring_changes_nothing():
    still = figures(300, 1, move=0)  # every figure already mid-frame: both candidates see the same features
    still.x_train = centre_by_mass(still.x_train, still.preprocessing)
    choice, record = choose_centring(still, 3, 0, TeacherConfig(gmm_restarts=2, pca_components=20))
    assert record["agreement"]["mass"] == pytest.approx(record["agreement"]["none"], abs=1e-9)
    assert choice == "none"  # a tie keeps the images as they are


def test_the_default_teacher_records_its_choice_and_clusters_moving_figures(tmp_path):
    from bitcluster.core.metrics import cluster_accuracy

    moving = figures(300, 1, move=4)
    teacher = build_teacher(moving, 3, 0, config=TeacherConfig(gmm_restarts=2, pca_components=20),
                            cache=TeacherCache(tmp_path), progress=False)
    features = teacher.metadata["features"]
    assert features["kind"] == "pca" and features["centring"] == "mass"
    assert set(features["centring_choice"]["agreement"]) == {"none", "mass"}
    assert cluster_accuracy(moving.y_train, teacher.labels) >= 0.9
