"""Centring by centre of mass (numpy, shared by training and the vendor) and the preprocessing step that applies it."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from bitcluster.core.centring import centre_by_mass, shift_bilinear
from bitcluster.core.preprocessing import Preprocessing

SIDE = 16
MID = (SIDE - 1) / 2


def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    rows, cols = np.indices(image.shape)
    return float((rows * image).sum() / image.sum()), float((cols * image).sum() / image.sum())


def test_centring_puts_the_ink_mid_frame_and_leaves_an_empty_image_alone():
    x = np.zeros((3, SIDE, SIDE), np.float32)
    x[0, 1:4, 1:4] = 1.0          # top left
    x[1, 10:13, 11:15] = 0.5      # bottom right, dimmer
    out = centre_by_mass(x)
    assert out.shape == x.shape and out.dtype == np.float32
    for image in out[:2]:
        np.testing.assert_allclose(centre_of_mass(image), (MID, MID), atol=0.05)
    np.testing.assert_array_equal(out[2], 0.0)
    np.testing.assert_allclose(out[:2].sum(axis=(1, 2)), x[:2].sum(axis=(1, 2)), rtol=1e-5)  # shifted, not lost


def test_an_rgb_image_moves_as_one_its_channels_together():
    x = np.zeros((1, SIDE, SIDE, 3), np.float32)
    x[0, 2:5, 10:13] = (1.0, 0.5, 0.25)  # an orange square, top right
    out = centre_by_mass(x)[0]
    for channel in range(3):
        np.testing.assert_allclose(centre_of_mass(out[..., channel]), (MID, MID), atol=0.05)
    np.testing.assert_allclose(out[..., 1], out[..., 0] / 2, atol=1e-6)  # the colour is kept


def test_faint_background_noise_does_not_pull_the_centre_to_mid_frame():
    rng = np.random.default_rng(0)
    image = np.clip(rng.normal(0, 0.05, (SIDE, SIDE)), 0, 1).astype(np.float32)  # noise over the whole frame
    image[1:2, 1:6] = 1.0                                                         # a thin bar in a corner
    out = centre_by_mass(image[None])[0]
    rows, cols = np.nonzero(out > 0.5)
    assert abs(rows.mean() - MID) <= 0.5 and abs(cols.mean() - MID) <= 0.5


@pytest.mark.parametrize("rows, cols", [(1.3, -2.7), (-0.5, 0.25), (5.9, 3.1), (0.0, 0.0), (-15.5, 2.0), (20.0, 1.0)])
def test_the_bilinear_shift_is_scipys_with_zeros_outside_the_frame(rows, cols):
    image = np.random.default_rng(1).random((SIDE, SIDE, 3)).astype(np.float32)
    expected = ndimage.shift(image, (rows, cols, 0), order=1, mode="grid-constant", cval=0.0)
    np.testing.assert_allclose(shift_bilinear(image, rows, cols), expected, atol=1e-6)


def test_preprocessing_centres_last_after_resizing_and_records_it():
    p = Preprocessing(SIDE, SIDE, centre="mass")
    x = np.zeros((2, 2 * SIDE, 2 * SIDE), np.uint8)
    x[:, 2:10, 3:11] = 255                       # a square near the top left, at twice the size
    out = p.images(p.apply(x))
    for image in out:
        np.testing.assert_allclose(centre_of_mass(image), (MID, MID), atol=0.05)
    plain = Preprocessing(SIDE, SIDE)
    np.testing.assert_allclose(out, centre_by_mass(plain.images(plain.apply(x))), atol=1e-6)
    assert p.to_dict()["centre"] == "mass" and Preprocessing.from_dict(p.to_dict()) == p
    assert p.describe() == f"{SIDE}x{SIDE} grey, centred" and plain.describe() == f"{SIDE}x{SIDE} grey"


def test_a_manifest_from_before_centring_reads_as_uncentred_and_a_bad_centre_is_refused():
    old = {"height": 8, "width": 8, "resize": "bilinear", "channels": 1}
    assert Preprocessing.from_dict(old).centre == "none"
    with pytest.raises(ValueError, match="none, mass"):
        Preprocessing(8, 8, centre="middle")


def test_vectors_are_centred_once_and_never_uncentred():
    plain = Preprocessing(SIDE, SIDE)
    x = np.zeros((1, SIDE, SIDE), np.float32)
    x[0, :3, :3] = 1.0
    vectors = plain.apply(x)
    centred, moved = plain.centred("mass", vectors)
    assert centred == Preprocessing(SIDE, SIDE, centre="mass")
    np.testing.assert_allclose(moved, centred.apply(x), atol=1e-6)
    assert centred.centred("mass", moved) == (centred, moved)
    with pytest.raises(ValueError, match="already centred"):
        centred.centred("none", moved)
