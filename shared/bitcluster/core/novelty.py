"""Novelty from codes alone: a code is novel when it is less likely than nearly all training codes.

The export scores the training codes with the consumer's own graph (``log_likelihood``, ``log p(z)``
in nats under the BMM) and keeps the quantiles of those scores in the consumer half
(:data:`NOVELTY_FILE`, listed and hashed in the manifest). A code is flagged at ``rate`` when its
log-likelihood is below the training codes' ``rate`` quantile, so about ``rate`` of codes like the
training ones are flagged. numpy only: the consumer and the Python API share this module.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bitcluster.core.manifest import NOVELTY_FILE, ManifestError, VerifiedHalf
SCORE = "log_likelihood"
# Quantile levels kept: every 1/2000 (0.05 %), so a rate between two of them is interpolated
# between neighbouring order statistics of a training set of tens of thousands of codes.
LEVELS = np.linspace(0.0, 1.0, 2001)
DEFAULT_RATE = 0.01


class NoveltyUnavailableError(ValueError):
    """The model was exported without the training codes' scores that novelty is judged by."""


def check_rate(rate: float) -> float:
    """``rate`` as a float in (0, 1), or a ValueError that says what is allowed."""
    try:
        value = float(rate)
    except (TypeError, ValueError):
        raise ValueError(f"rate must be a number in (0, 1), got {rate!r}") from None
    if not 0.0 < value < 1.0:
        raise ValueError(f"rate must be in (0, 1) (the share of training-like codes flagged), got {rate}")
    return value


@dataclass(frozen=True)
class NoveltyReference:
    """The training codes' log-likelihood quantiles: ``quantiles[i]`` at level ``LEVELS[i]``.

    Parameters
    ----------
    quantiles : (len(LEVELS),) float64, non-decreasing
    n_codes : how many training codes were scored
    """

    quantiles: np.ndarray
    n_codes: int
    score: str = SCORE

    @classmethod
    def from_scores(cls, scores: np.ndarray) -> "NoveltyReference":
        """The reference of training codes' scores (N,), e.g. their ``log_likelihood`` output."""
        scores = np.asarray(scores, dtype=np.float64).ravel()
        if len(scores) == 0 or not np.all(np.isfinite(scores)):
            raise ValueError("novelty needs at least one finite training score")
        return cls(np.quantile(scores, LEVELS), len(scores))

    def threshold(self, rate: float = DEFAULT_RATE) -> float:
        """The score below which a code is novel at ``rate``: the training scores' ``rate`` quantile."""
        return float(np.interp(check_rate(rate), LEVELS, self.quantiles))

    def is_novel(self, scores: np.ndarray, rate: float = DEFAULT_RATE) -> np.ndarray:
        """(N,) bool: scores below :meth:`threshold`."""
        return np.asarray(scores) < self.threshold(rate)

    def to_json(self) -> str:
        # repr-exact floats: the consumer and the Python API must draw the same line
        return json.dumps({"score": self.score, "n_codes": self.n_codes, "levels": LEVELS.tolist(),
                           "quantiles": [float(q) for q in self.quantiles]})

    @classmethod
    def load(cls, path: Path) -> "NoveltyReference":
        return cls.from_json(Path(path).read_bytes(), source=str(path))

    @classmethod
    def from_json(cls, text: str | bytes, source: str = NOVELTY_FILE) -> "NoveltyReference":
        d = json.loads(text)
        if d.get("score") != SCORE or not np.array_equal(d.get("levels"), LEVELS):
            raise ManifestError(f"{source} holds another kind of novelty reference (score {d.get('score')!r}); "
                                "re-export the model with this version of bitcluster")
        return cls(np.asarray(d["quantiles"], dtype=np.float64), int(d["n_codes"]))


def load_novelty_reference(half: VerifiedHalf | None) -> NoveltyReference | None:
    """The reference of a verified consumer half, or None for a model exported without one.

    Parsed from the bytes whose hash :func:`~bitcluster.core.manifest.read_half` checked (the file
    is not read again), and only when the manifest lists it.
    """
    data = half.file(NOVELTY_FILE) if half is not None else None
    return None if data is None else NoveltyReference.from_json(data, source=str(half.directory / NOVELTY_FILE))
