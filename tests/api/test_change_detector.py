"""``bc.ChangeDetector``: the changes of a stream of codes found where they are, none where there is none."""

from __future__ import annotations

import numpy as np
import pytest

import bitcluster as bc
from bitcluster.api.change_detector import ChangeDetector, chi2_quantile, g_statistic
from bitcluster.api.codes import Codes
from bitcluster.data import load_dataset


@pytest.fixture(scope="module")
def model() -> bc.Model:
    return bc.load_model(threads=1)


@pytest.fixture(scope="module")
def coded_digits(model) -> tuple[np.ndarray, np.ndarray]:
    """(packed codes, labels) of every digit image (8x8), under the embedded model."""
    d = load_dataset("digits")
    x = np.concatenate([d.x_train, d.x_test]).reshape(-1, 8, 8)
    return np.asarray(model.encode(x)), np.concatenate([d.y_train, d.y_test])


def digit_stream(coded_digits, segments: list[tuple[tuple[int, ...], int]], seed: int = 0) -> np.ndarray:
    """Packed codes: for each (classes, length), ``length`` codes drawn with replacement from those classes."""
    packed, labels = coded_digits
    rng = np.random.default_rng(seed)
    return np.concatenate([packed[rng.choice(np.flatnonzero(np.isin(labels, classes)), length)]
                           for classes, length in segments])


ALL, NO_NINE = tuple(range(10)), tuple(range(9))


def test_a_stream_without_change_has_none(model, coded_digits):
    stream = digit_stream(coded_digits, [(ALL, 30_000)])
    detector = ChangeDetector(model, signals=("frequencies",))
    assert detector.update(stream) == []
    assert detector.position == 30_000


@pytest.mark.parametrize("before, after", [(NO_NINE, ALL), (ALL, NO_NINE)], ids=["appears", "disappears"])
def test_a_class_that_appears_or_disappears_is_found_soon_after(model, coded_digits, before, after):
    stream = digit_stream(coded_digits, [(before, 3000), (after, 3000)])
    found = ChangeDetector(model, signals=("frequencies",)).update(stream)
    assert len(found) == 1 and 3000 <= found[0] <= 3000 + 600, found


def test_positions_count_from_the_first_code_whatever_the_batches(model, coded_digits):
    stream = digit_stream(coded_digits, [(ALL, 2500), (NO_NINE, 2500), (ALL, 2500)], seed=1)
    whole = ChangeDetector(model, signals=("frequencies",)).update(stream)
    detector = ChangeDetector(model, signals=("frequencies",))
    batched = [p for start in range(0, len(stream), 333) for p in detector.update(stream[start:start + 333])]
    assert batched == whole
    assert len(whole) == 2, whole  # after the first change the detector re-baselined and found the second
    assert 2500 <= whole[0] < 5000 <= whole[1] < 7500
    assert [c.signal for c in detector.changes] == ["frequencies", "frequencies"]


def test_bad_batches_are_refused_with_a_value_error(model, coded_digits):
    detector = ChangeDetector(model, signals=("frequencies",))
    with pytest.raises(ValueError, match="no codes"):
        detector.update(np.zeros((0, 2), dtype=np.uint8))
    with pytest.raises(ValueError):
        detector.update(np.zeros((5, 3), dtype=np.uint8))  # 24-bit codes to a 16-bit model
    with pytest.raises(ValueError, match="another-model"):
        detector.update(Codes(coded_digits[0][:5], model.bits, "another-model"))
    with pytest.raises(ValueError, match="signals"):
        ChangeDetector(model, signals=("colour",))
    assert detector.position == 0


class ScoredStub:
    """The part of a Model the detector uses, with the log-likelihood of each code in its first byte."""

    model_id, bits, clusters = "stub", 8, 4

    def classify(self, packed: np.ndarray) -> np.ndarray:
        return np.arange(len(packed)) % self.clusters  # the same mix of clusters throughout

    def score_samples(self, packed: np.ndarray) -> np.ndarray:
        return -packed[:, 0].astype(np.float64)


def test_the_likelihood_signal_finds_codes_that_grow_less_likely():
    rng = np.random.default_rng(0)
    surprise = np.concatenate([rng.integers(20, 25, 5000), rng.integers(30, 35, 2000)]).astype(np.uint8)
    detector = ChangeDetector(ScoredStub())
    found = detector.update(surprise[:, None])
    assert len(found) == 1 and 5000 <= found[0] <= 5300, found
    assert detector.changes[0].signal == "likelihood"


def test_g_statistic_and_its_threshold_match_hand_computed_values():
    recent, reference = np.array([10, 0]), np.array([10, 20])
    share = np.array([20, 20]) / 40
    expected = 2 * (10 * np.log(10 / (share[0] * 10)) + 10 * np.log(10 / (share[0] * 30))
                    + 20 * np.log(20 / (share[1] * 30)))
    assert g_statistic(recent, reference) == pytest.approx(expected)
    assert g_statistic(np.array([3, 6]), np.array([30, 60])) == pytest.approx(0.0, abs=1e-12)
    assert chi2_quantile(1e-3, 9) == pytest.approx(27.877, rel=1e-2)  # tables; Wilson-Hilferty is within 1%
