"""The Python API and bulk jobs with images of the other kind than the model's: converted by the rule, and said so."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from PIL import Image

from bitcluster.api.model import load_model
from bitcluster.bulk.job import run_bulk_job
from bitcluster.bulk.options import BulkOptions
from bitcluster.core.channels import ChannelConversionWarning, to_channels
from bitcluster.core.manifest import DEFAULT_MODEL_DIR
from bitcluster.core.preprocessing import to_unit_float

from colour_fixtures import tinted_digits


@pytest.fixture(scope="module")
def grey_model():
    return load_model()  # the embedded default model: 8x8 grey, exported before models had channels


def test_the_default_model_from_before_colour_loads_as_grey(grey_model):
    assert "channels" not in grey_model.manifest.preprocessing
    assert grey_model.preprocessing.channels == 1 and "8x8 grey" in repr(grey_model)


def test_rgb_arrays_for_a_grey_model_are_converted_by_the_luma_with_a_warning_naming_it(grey_model):
    rgb = tinted_digits(10)[0]
    with pytest.warns(ChannelConversionWarning, match=r"10 of 10 images were RGB and were converted to grey "
                                                      r"\(RGB -> grey is the ITU-R 601-2 luma"):
        codes = grey_model.encode(rgb)
    luma = to_channels(to_unit_float(rgb), 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # grey for a grey model: nothing to say
        np.testing.assert_array_equal(codes.packed, grey_model.encode(luma).packed)
    with pytest.warns(ChannelConversionWarning, match="1 of 3 images were RGB"):
        grey_model.encode([luma[0], rgb[1], luma[2]])  # one (8, 8, 3) image among grey ones


def test_an_rgb_png_is_decoded_as_rgb_and_converted_as_its_array_is(grey_model, tmp_path):
    rgb = tinted_digits(3)[0]
    paths = []
    for i, image in enumerate(rgb):
        Image.fromarray(image).save(tmp_path / f"{i}.png")
        paths.append(tmp_path / f"{i}.png")
    with pytest.warns(ChannelConversionWarning, match="3 of 3 images were RGB"):
        from_files = grey_model.encode(paths)
    with pytest.warns(ChannelConversionWarning):
        np.testing.assert_array_equal(from_files.packed, grey_model.encode(rgb).packed)


def test_a_bulk_job_counts_the_images_it_converted(tmp_path):
    rgb = tinted_digits(30)[0]
    np.savez(tmp_path / "tinted.npz", x=rgb)
    np.savez(tmp_path / "grey.npz", x=rgb[:10, ..., 0])
    with warnings.catch_warnings():
        warnings.simplefilter("error", ChannelConversionWarning)  # counted in the summary, not warned per batch
        summary = run_bulk_job([tmp_path / "tinted.npz", tmp_path / "grey.npz"], DEFAULT_MODEL_DIR,
                               tmp_path / "out.parquet", options=BulkOptions(progress=False, batch_size=8))
    assert summary.rows == 40 and summary.converted == 30 and summary.conversion == "rgb_to_grey"
    assert json.loads(json.dumps(summary.to_dict()))["converted"] == 30
