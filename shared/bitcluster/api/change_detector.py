"""Scene changes in a stream of codes: when did the mix of clusters, or how typical the codes are, change?

Two signals, each watched by its own test, both re-baselined after any detection:

* ``frequencies``: the clusters the model gives the codes. At every code, the last ``L`` codes
  (for each ``L`` of ``windows``) are compared with every code since the baseline before them by a
  two-sample G-test (the multinomial likelihood ratio, chi-square with K - 1 degrees of freedom).
  It sees a class that appears, one that disappears, and proportions that shift: changes that
  barely move the likelihood. river's ADWIN on one indicator per cluster was measured against it
  and is slower on a class that disappears (``bench/changes.py``, column ``adwin frequencies``).
* ``likelihood``: -log p(z) of each code under the model's Bernoulli mixture
  (:meth:`Model.score_samples`), watched by river's ADWIN (codes of another kind of image).

    >>> detector = bc.ChangeDetector(model)
    >>> detector.update(codes_1)    # [] : nothing changed in the first batch
    >>> detector.update(codes_2)    # [12345]: positions counted from the first code ever given
    >>> detector.changes            # [Change(position=12345, signal='frequencies')]

Needs river (the ``streams`` extra) for the likelihood signal only; never torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from bitcluster.api.codes import Codes, CodesLike, packed_codes_of

SIGNALS = ("frequencies", "likelihood")


@dataclass(frozen=True)
class Change:
    """A change found at ``position`` (codes counted from the first ever given) by ``signal``."""

    position: int
    signal: str


def chi2_quantile(p_exceed: float, dof: int) -> float:
    """The chi-square(``dof``) value exceeded with probability ``p_exceed`` (Wilson-Hilferty; no scipy)."""
    z = NormalDist().inv_cdf(1.0 - p_exceed)
    a = 2.0 / (9.0 * dof)
    return dof * (1.0 - a + z * math.sqrt(a)) ** 3


def g_statistic(recent: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Two-sample G-test statistic of count rows ``recent`` vs ``reference``, both (..., K) -> (...)."""
    total = recent + reference
    n_recent = recent.sum(-1, keepdims=True)
    n_reference = reference.sum(-1, keepdims=True)
    share = total / np.maximum(total.sum(-1, keepdims=True), 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = (np.where(recent > 0, recent * np.log(recent / (share * n_recent)), 0.0)
                 + np.where(reference > 0, reference * np.log(reference / (share * n_reference)), 0.0))
    return 2.0 * terms.sum(-1)


class ChangeDetector:
    """Finds the positions in a stream of codes where its clusters' frequencies or likelihoods change.

    Parameters
    ----------
    model : a :class:`~bitcluster.api.model.Model` with its consumer half
    signals : which of ``("frequencies", "likelihood")`` to watch
    windows : lengths of the recent windows the frequency test compares with what came before
    alpha : chance that one frequency test (one window, one code) fires by luck: sets the G threshold
        (1e-6: the most sensitive of those tuned in ``bench/changes.py`` without a false alarm)
    min_reference : codes since the baseline before a window is tested (estimates need data)
    likelihood_delta : ADWIN's confidence on -log p(z)
    """

    def __init__(self, model, *, signals: tuple[str, ...] = SIGNALS, windows: tuple[int, ...] = (100, 200, 400),
                 alpha: float = 1e-6, min_reference: int = 400, likelihood_delta: float = 1e-5) -> None:
        unknown = set(signals) - set(SIGNALS)
        if unknown or not signals:
            raise ValueError(f"signals must be some of {SIGNALS}, got {signals!r}")
        if not windows or min(windows) < 1:
            raise ValueError(f"windows must be positive lengths, got {windows!r}")
        self.model = model
        self.signals = tuple(signals)
        self.windows = np.array(sorted(windows))
        self.threshold = chi2_quantile(alpha, max(model.clusters - 1, 1))
        self.min_reference = min_reference
        self.likelihood_delta = likelihood_delta
        self.position = 0  # codes seen so far
        self.changes: list[Change] = []
        self._rebaseline()

    def _rebaseline(self) -> None:
        """Forget the stream so far: the codes from here on are the new reference."""
        self._seen = 0  # codes since the baseline
        # cluster counts since the baseline after each of the last max(windows) codes (one zero row at first)
        self._cumulative = np.zeros((1, self.model.clusters), dtype=np.int64)
        if "likelihood" in self.signals:
            from river.drift import ADWIN  # the streams extra; only this signal needs it

            self._adwin = ADWIN(delta=self.likelihood_delta)

    def update(self, codes: CodesLike) -> list[int]:
        """Feed the next codes; return the stream positions of the changes found among them.

        ``codes``: :class:`~bitcluster.api.codes.Codes` of this model, or packed (N, ceil(bits / 8))
        uint8 codes. Raises ValueError for an empty batch, codes of another model or length.
        """
        if isinstance(codes, Codes) and codes.model_id != self.model.model_id:
            raise ValueError(f"these codes were made by model {codes.model_id!r}, this detector watches "
                             f"model {self.model.model_id!r}")
        packed = packed_codes_of(codes, self.model.bits)
        if len(packed) == 0:
            raise ValueError("no codes in this batch: give at least one code")
        clusters = self.model.classify(packed)
        surprise = -self.model.score_samples(packed) if "likelihood" in self.signals else None
        found, start = [], 0
        while start < len(packed):
            offset, signal = self._first_change(clusters[start:], None if surprise is None else surprise[start:])
            if offset is None:
                break
            position = self.position + start + offset
            self.changes.append(Change(position, signal))
            found.append(position)
            start += offset + 1
            self._rebaseline()
        self.position += len(packed)
        return found

    def _first_change(self, clusters: np.ndarray, surprise: np.ndarray | None) -> tuple[int | None, str | None]:
        """Offset in this batch of the first code at which a signal fires (state advanced up to it)."""
        candidates = []
        if "frequencies" in self.signals:
            offset = self._frequency_change(clusters)
            if offset is not None:
                candidates.append((offset, "frequencies"))
        if surprise is not None:
            limit = min([o for o, _ in candidates], default=len(surprise) - 1)
            offset = self._likelihood_change(surprise[:limit + 1])
            if offset is not None:
                candidates.append((offset, "likelihood"))
        return min(candidates) if candidates else (None, None)

    def _frequency_change(self, clusters: np.ndarray) -> int | None:
        """Offset of the first code whose recent window's cluster counts differ from those before it."""
        kept = len(self._cumulative)
        onehot = np.eye(self.model.clusters, dtype=np.int64)[clusters]
        cumulative = np.concatenate([self._cumulative, self._cumulative[-1] + np.cumsum(onehot, axis=0)])
        rows = np.arange(kept, len(cumulative))
        since_base = self._seen - kept + 1 + rows  # codes since the baseline that each new row has counted
        first = None
        for window in self.windows:
            tested = rows[(since_base - window >= self.min_reference) & (rows >= window)]
            recent = cumulative[tested] - cumulative[tested - window]
            fired = np.flatnonzero(g_statistic(recent, cumulative[tested - window]) > self.threshold)
            if len(fired) and (first is None or tested[fired[0]] - kept < first):
                first = int(tested[fired[0]] - kept)
        self._seen += len(clusters)
        self._cumulative = cumulative[-(self.windows[-1] + 1):]
        return first

    def _likelihood_change(self, surprise: np.ndarray) -> int | None:
        """Offset of the first code at which ADWIN finds the mean of -log p(z) changed."""
        for offset, value in enumerate(surprise.tolist()):
            self._adwin.update(value)
            if self._adwin.drift_detected:
                return offset
        return None
