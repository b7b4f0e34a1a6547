"""Grey and RGB: the one conversion rule, the channels of the preprocessing, and RGB datasets."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from bitcluster.core.channels import GREY_TO_RGB, RGB_TO_GREY, has_colour, to_channels
from bitcluster.core.polarity import light_background
from bitcluster.core.preprocessing import ImageFormatError, Preprocessing, to_unit_float
from bitcluster.data import load_dataset, load_npz

from colour_fixtures import tinted_digits


def test_rgb_to_grey_is_pillows_convert_l_within_one_grey_level():
    rgb = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    rgb[0, :8] = [[255, 255, 255], [255, 0, 0], [0, 255, 0], [0, 0, 255], [1, 2, 3], [0, 0, 0], [254, 1, 128],
                  [128, 128, 128]]
    ours = np.rint(to_channels(to_unit_float(rgb[None]), 1)[0] * 255)
    pillow = np.asarray(Image.fromarray(rgb).convert("L"), dtype=np.float64)
    assert np.abs(ours - pillow).max() <= 1
    assert np.mean(ours == pillow) > 0.95  # Pillow rounds in fixed point; the rule is the same


def test_grey_to_rgb_copies_the_grey_level_into_r_g_and_b():
    grey = np.random.default_rng(1).uniform(0, 1, (3, 4, 5)).astype(np.float32)
    rgb = to_channels(grey, 3)
    assert rgb.shape == (3, 4, 5, 3) and rgb.dtype == np.float32
    for c in range(3):
        np.testing.assert_array_equal(rgb[..., c], grey)
    np.testing.assert_allclose(to_channels(rgb, 1), grey, atol=1e-6)  # and back: grey pixels lose nothing
    assert not has_colour(rgb[0]) and has_colour(np.dstack([grey[0], grey[0], grey[0] * 0.5]))


def test_the_vector_of_an_rgb_image_is_its_pixels_in_hwc_order():
    p = Preprocessing(2, 3, channels=3)
    images = np.arange(2 * 2 * 3 * 3, dtype=np.uint8).reshape(2, 2, 3, 3)
    x = p.apply(images)
    assert p.n_pixels == 18 and x.shape == (2, 18)
    np.testing.assert_array_equal(x[0], images[0].reshape(-1) / np.float32(255.0))  # row by row, R G B in a pixel
    assert x[0, 1] == images[0, 0, 0, 1] / np.float32(255.0)  # the second number is the first pixel's green
    np.testing.assert_array_equal(p.images(x), images / np.float32(255.0))


def test_a_model_converts_the_other_kind_by_the_rule_and_says_which_way():
    rgb = tinted_digits(5)[0]
    grey_model, rgb_model = Preprocessing(8, 8), Preprocessing(8, 8, channels=3)
    assert grey_model.conversion(rgb) == RGB_TO_GREY and rgb_model.conversion(rgb) is None
    np.testing.assert_allclose(grey_model.apply(rgb), to_channels(to_unit_float(rgb), 1).reshape(5, 64))
    grey = rgb[..., 0]
    assert rgb_model.conversion(grey) == GREY_TO_RGB and grey_model.conversion(grey) is None
    np.testing.assert_array_equal(rgb_model.images(rgb_model.apply(grey))[..., 2], grey / np.float32(255.0))
    big = np.repeat(np.repeat(rgb, 2, axis=1), 2, axis=2)  # 16x16 RGB into an 8x8 RGB model: resized per channel
    resized = rgb_model.images(rgb_model.apply(big))
    for c in range(3):
        np.testing.assert_array_equal(resized[..., c], grey_model.images(grey_model.apply(big[..., c])))


def test_a_manifest_from_before_colour_reads_as_grey_and_new_ones_record_channels():
    old = {"height": 8, "width": 8, "resize": "bilinear"}
    assert Preprocessing.from_dict(old) == Preprocessing(8, 8) and Preprocessing.from_dict(old).channels == 1
    assert Preprocessing(8, 8, channels=3).to_dict() == {**old, "channels": 3, "centre": "none"}
    assert Preprocessing.from_dict(Preprocessing(8, 8, channels=3).to_dict()).n_pixels == 192
    with pytest.raises(ValueError, match="channels must be 1"):
        Preprocessing(8, 8, channels=4)


def test_an_npz_of_rgb_images_is_an_rgb_dataset(tmp_path):
    x, y = tinted_digits(100)
    np.savez(tmp_path / "tinted.npz", x=x, y=y)
    d = load_npz(tmp_path / "tinted.npz")
    assert d.preprocessing == Preprocessing(8, 8, channels=3)
    assert d.x_train.shape == (80, 192) and d.x_test.shape == (20, 192)
    assert len(d.y_train) == 80
    grey = load_dataset("digits")
    assert grey.preprocessing.channels == 1 and grey.x_train.shape[1] == 64


def test_the_polarity_of_rgb_images_is_that_of_their_luma():
    rgb = tinted_digits(20)[0] / 255.0
    assert not light_background(rgb).any() and light_background(1 - rgb).all()


def test_arrays_neither_grey_nor_rgb_are_refused():
    with pytest.raises(ImageFormatError, match=r"\(N, H, W, 3\) RGB"):
        Preprocessing(8, 8, channels=3).apply(np.zeros((2, 8, 8, 4), np.uint8))
