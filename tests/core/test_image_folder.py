"""A folder of one's own PNG/JPEG files as a dataset: `--data DIR`, `--labels folders`, `--resize`."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from bitcluster import cli
from bitcluster.core.polarity import light_background
from bitcluster.data import DatasetError, data_source, load_dataset
from bitcluster.image_folder import find_image_files, read_image_folder

runner = CliRunner()


@pytest.fixture(scope="module")
def digit_images():
    """The first 60 digits as (60, 8, 8) uint8 images and their labels."""
    digits = load_dataset("digits")
    return np.rint(digits.x_train[:60].reshape(-1, 8, 8) * 255).astype(np.uint8), digits.y_train[:60]


def _write_folder(root, images, labels, nested=True):
    """Digit i as root/<label>/[sub/]i.png, every third one a JPEG; returns the paths in writing order."""
    paths = []
    for i, (image, label) in enumerate(zip(images, labels)):
        folder = root / f"class{label}" / ("deeper" if nested and i % 2 else "")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / (f"{i:03d}.jpg" if i % 3 == 0 else f"{i:03d}.png")
        Image.fromarray(image).save(path, quality=100)
        paths.append(path)
    return paths


def test_a_folder_is_found_recursively_in_sorted_order_and_split_like_an_npz(tmp_path, digit_images):
    images, labels = digit_images
    paths = _write_folder(tmp_path / "mine", images, labels)
    (tmp_path / "mine" / "notes.txt").write_text("not an image")
    assert find_image_files(tmp_path / "mine") == sorted(paths)
    a, b = load_dataset(str(tmp_path / "mine")), load_dataset(str(tmp_path / "mine"))
    assert a.name == "mine" and a.preprocessing.height == 8 and a.preprocessing.width == 8
    assert a.x_train.shape == (48, 64) and a.x_test.shape == (12, 64)
    assert a.y_train is None and a.y_test is None  # labels only when asked
    np.testing.assert_array_equal(a.x_test, b.x_test)
    # the images come back as written (PNG exactly, JPEG within its loss), in the fixed split's order
    order = np.random.default_rng(0).permutation(60)
    by_path = dict(zip(paths, images))
    expected = np.stack([by_path[p] for p in sorted(paths)]).reshape(60, 64)[order] / 255.0
    np.testing.assert_allclose(np.concatenate([a.x_test, a.x_train]), expected, atol=0.06)


def test_labels_come_from_the_top_sub_folder_only_when_asked(tmp_path, digit_images):
    images, labels = digit_images
    _write_folder(tmp_path / "mine", images, labels)
    folder = read_image_folder(tmp_path / "mine", labels=True)
    assert folder.class_names == sorted(f"class{c}" for c in set(labels.tolist()))
    names = [folder.class_names[k] for k in folder.y]
    assert names == [p.relative_to(tmp_path / "mine").parts[0] for p in folder.paths]
    d = load_dataset(str(tmp_path / "mine"), labels="folders")
    assert d.y_train.dtype == np.int64 and len(d.y_train) == 48 and len(np.unique(d.y_train)) > 5
    (tmp_path / "mine" / "loose.png").write_bytes((tmp_path / "mine" / "class0" / "000.jpg").read_bytes())
    with pytest.raises(DatasetError, match="lie directly in"):
        load_dataset(str(tmp_path / "mine"), labels="folders")


def test_an_unreadable_file_is_listed_and_skipped_and_none_readable_is_an_error(tmp_path, digit_images, caplog):
    images, labels = digit_images
    _write_folder(tmp_path / "mine", images[:20], labels[:20])
    (tmp_path / "mine" / "class9" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with caplog.at_level(logging.WARNING):
        d = load_dataset(str(tmp_path / "mine"))
    assert len(d.x_train) + len(d.x_test) == 20
    assert "skipped 1 of 21 files" in caplog.text and "broken.png" in caplog.text
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "a.png").write_bytes(b"nope")
    (junk / "b.jpg").write_bytes(b"")
    with pytest.raises(DatasetError, match="none of its 2 image files could be read"):
        load_dataset(str(junk))
    with pytest.raises(DatasetError, match="no such data file or folder"):
        load_dataset(str(tmp_path / "not-there"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="holds no .png"):
        load_dataset(str(tmp_path / "empty"))


def test_several_sizes_are_refused_unless_resize_and_other_aspect_ratios_are_stretched_with_a_warning(
        tmp_path, digit_images, caplog):
    images, labels = digit_images
    paths = _write_folder(tmp_path / "mine", images[:30], labels[:30], nested=False)
    Image.fromarray(images[40]).resize((16, 16)).save(tmp_path / "mine" / "big.png")  # same aspect ratio
    Image.fromarray(images[41]).resize((12, 8)).save(tmp_path / "mine" / "wide.png")  # 8x12: another one
    with pytest.raises(DatasetError, match=r"3 sizes.*8x8: 30.*--resize"):
        load_dataset(str(tmp_path / "mine"))
    with caplog.at_level(logging.WARNING):
        d = load_dataset(str(tmp_path / "mine"), resize=True)
    assert d.preprocessing.height == 8 and d.preprocessing.width == 8 and len(d.x_train) + len(d.x_test) == 32
    assert "1 image(s) of another aspect ratio" in caplog.text and "wide.png (8x12)" in caplog.text
    assert "big.png" not in caplog.text  # a change of scale alone is silent, as in the services
    assert len(paths) == 30


def test_one_colour_file_makes_an_rgb_set_and_its_grey_files_are_converted_with_a_warning(
        tmp_path, digit_images, caplog):
    images, labels = digit_images
    _write_folder(tmp_path / "mine", images[:10], labels[:10], nested=False)
    tinted = np.stack([images[10], images[10] // 2, np.zeros_like(images[10])], axis=-1)
    Image.fromarray(tinted).save(tmp_path / "mine" / "colour.png")
    with caplog.at_level(logging.WARNING):
        d = load_dataset(str(tmp_path / "mine"))
    assert d.preprocessing.channels == 3 and d.x_train.shape[1] == 8 * 8 * 3
    assert "10 of 11 images were grey and were converted to RGB" in caplog.text
    as_images = np.concatenate([d.preprocessing.images(d.x_train), d.preprocessing.images(d.x_test)])
    grey_files = [x for x in as_images if (x[..., 0] == x[..., 2]).all()]
    assert len(grey_files) == 10  # copied into R, G and B
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        grey = load_dataset(data_source(str(tmp_path / "mine"), channels="1"))
    assert grey.preprocessing.channels == 1 and grey.x_train.shape[1] == 8 * 8
    assert "1 of 11 images were RGB and were converted to grey" in caplog.text and "colour.png" in caplog.text
    with pytest.raises(DatasetError, match="channels"):
        load_dataset(str(tmp_path / "mine"), channels="2")


def test_grey_pixels_saved_as_rgb_keep_a_folder_grey_and_silent(tmp_path, digit_images, caplog):
    images, labels = digit_images
    _write_folder(tmp_path / "mine", images[:10], labels[:10], nested=False)
    Image.fromarray(images[10]).convert("RGB").save(tmp_path / "mine" / "grey_as_rgb.png")
    with caplog.at_level(logging.WARNING):
        d = load_dataset(str(tmp_path / "mine"))
    assert d.preprocessing.channels == 1 and "converted" not in caplog.text
    assert len(d.x_train) + len(d.x_test) == 11


def test_dark_on_light_images_get_a_warning_that_says_to_invert_them(tmp_path, digit_images, caplog):
    images, labels = digit_images
    assert not light_background(images / 255.0).any()
    _write_folder(tmp_path / "paper", 255 - images[:20], labels[:20])
    with caplog.at_level(logging.WARNING):
        load_dataset(str(tmp_path / "paper"))
    assert "20 of 20 images are dark on a light background" in caplog.text and "invert" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        load_dataset("digits")
    assert "light background" not in caplog.text


def test_the_data_source_carries_the_folder_options_and_refuses_them_elsewhere(tmp_path, digit_images):
    images, labels = digit_images
    _write_folder(tmp_path / "mine", images[:20], labels[:20])
    source = data_source(str(tmp_path / "mine"), labels="folders", resize=True)
    assert source == f"{tmp_path / 'mine'}?labels=folders&resize=true"
    assert load_dataset(source).y_train is not None
    assert data_source("digits") == "digits"
    with pytest.raises(DatasetError, match="for a folder of images"):
        load_dataset("digits", labels="folders")
    with pytest.raises(DatasetError, match="none or folders"):
        data_source(str(tmp_path / "mine"), labels="files")


def test_train_and_evaluate_take_a_folder(tmp_path, digit_images):
    images, labels = digit_images
    _write_folder(tmp_path / "mine", images, labels)
    run = tmp_path / "run"
    result = runner.invoke(cli.app, ["train", "--method", "vab-paper", "--data", str(tmp_path / "mine"),
                                     "--labels", "folders", "--epochs", "1", "--bits", "4", "--clusters", "3",
                                     "--out", str(run), "--device", "cpu", "--quiet"])
    assert result.exit_code == 0, result.output
    config = json.loads((run / "config.json").read_text())
    assert config["dataset"] == "mine" and config["data_source"].endswith("mine?labels=folders")
    assert "acc" in json.loads((run / "metrics.json").read_text())
    evaluated = runner.invoke(cli.app, ["evaluate", str(run)])  # reads the folder again, with its labels
    assert evaluated.exit_code == 0, evaluated.output
    assert "acc" in json.loads(evaluated.stdout)
