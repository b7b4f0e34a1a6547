import numpy as np
import pytest

from bitcluster.data import DatasetError, load_dataset, load_npz
from bitcluster.core.preprocessing import ImageFormatError, Preprocessing


def test_digits_is_a_fixed_split_in_unit_range():
    a, b = load_dataset("digits"), load_dataset("digits")
    assert a.x_train.shape == (1438, 64) and a.x_test.shape == (359, 64)
    assert a.x_train.dtype == np.float32 and 0.0 <= a.x_train.min() and a.x_train.max() <= 1.0
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert a.preprocessing == Preprocessing(8, 8)


def _save(path, **arrays):
    np.savez(path, **arrays)
    return path


def test_npz_with_x_and_y_is_split(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (50, 6, 5), dtype=np.uint8)
    d = load_npz(_save(tmp_path / "d.npz", x=x, y=np.arange(50) % 3))
    assert d.x_train.shape == (40, 30) and d.x_test.shape == (10, 30)
    assert d.preprocessing == Preprocessing(6, 5)
    # every image lands in exactly one split, unchanged up to the 0..255 -> [0, 1] scaling
    all_rows = np.concatenate([d.x_train, d.x_test])
    np.testing.assert_allclose(np.sort(all_rows.sum(1)), np.sort(x.reshape(50, -1).sum(1) / 255.0), rtol=1e-5)


def test_npz_with_explicit_split_and_no_labels(tmp_path):
    x = np.random.default_rng(1).random((12, 4, 4)).astype(np.float32)
    d = load_npz(_save(tmp_path / "d.npz", x_train=x[:8], x_test=x[8:]))
    assert d.y_train is None and d.y_test is None
    np.testing.assert_allclose(d.x_test, x[8:].reshape(4, 16))


def test_npz_resized_when_asked(tmp_path):
    x = np.zeros((10, 28, 28), np.uint8)
    x[:, 10:18, 10:18] = 255
    d = load_npz(_save(tmp_path / "d.npz", x=x), Preprocessing(32, 32))
    assert d.x_train.shape == (8, 1024) and 0.0 <= d.x_train.min() and d.x_train.max() <= 1.0


@pytest.mark.parametrize("arrays, message", [
    ({"images": np.zeros((3, 4, 4))}, "expected 'x'"),
    ({"x": np.zeros((3, 16))}, r"\(N, H, W\)"),
    ({"x": np.full((5, 4, 4), np.nan)}, "NaN"),
    ({"x": np.full((5, 4, 4), 3.0)}, r"\[0, 1\]"),
    ({"x": np.zeros((5, 4, 4)), "y": np.zeros(4)}, "do not match"),
    ({"x_train": np.zeros((5, 4, 4)), "x_test": np.zeros((5, 4, 3))}, "differ in size"),
    ({"x_train": np.zeros((5, 4, 4)), "x_test": np.zeros((5, 4, 4)), "y_train": np.zeros(5)}, "both"),
])
def test_bad_npz_files_get_clear_errors(tmp_path, arrays, message):
    with pytest.raises(DatasetError, match=message):
        load_npz(_save(tmp_path / "bad.npz", **arrays))


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(DatasetError, match="no such data file"):
        load_dataset(str(tmp_path / "nope.npz"))
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(DatasetError, match="not a readable"):
        load_npz(tmp_path / "junk.npz")
    with pytest.raises(DatasetError, match="unknown dataset"):
        load_dataset("cifar-1000")


def test_preprocessing_rejects_bad_batches():
    p = Preprocessing(4, 4)
    with pytest.raises(ImageFormatError):
        p.apply(np.zeros((0, 4, 4), np.uint8))
    with pytest.raises(ImageFormatError, match=r"\(N, H, W, 3\) RGB"):  # RGBA, or two channels: neither grey nor RGB
        p.apply(np.zeros((2, 4, 4, 4), np.uint8))
    with pytest.raises(ImageFormatError):
        p.apply(np.zeros((2, 4, 4, 2), np.uint8))
    with pytest.raises(ImageFormatError):
        p.apply(np.array([[[np.inf]]], dtype=np.float32))
    assert p.apply(np.full((2, 4, 4), 255, np.uint8)).max() == 1.0
