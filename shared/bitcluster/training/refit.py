"""Re-clustering from codes alone: a new Bernoulli mixture fitted on stored codes, a new consumer half.

No image, no vendor network and no start from the old mixture: the codes are all there is.

* :func:`fit_code_mixture` fits K components reliably. EM on binary codes has many poor local
  optima (two digits merged in one component, one digit split over two); which one a single start
  reaches is luck. So many cheap starts (k-means++ on the Hamming distance) run a few EM steps,
  the best few by likelihood run to convergence, and the best of those wins. EM runs on the
  distinct codes weighted by their counts: the same fit as on every code, in fewer operations.
* :func:`choose_clusters` picks K for ``--clusters auto`` by held-out log-likelihood (see there).
* :func:`refit_model_dir` writes the new model directory: the vendor's files copied byte for byte,
  a new consumer half traced from the new mixture, a manifest that records the refit.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import onnx

from bitcluster.core.atomic import refuse_existing
from bitcluster.core.codes import check_packed_codes, code_bytes, unpack_codes
from bitcluster.core.manifest import ENCODER_FILE, ModelManifest, read_half
from bitcluster.core.mixture import BernoulliMixture
from bitcluster.training.export import bmm_classifier_half, classifier_onnx, write_model_dir
from bitcluster.training.export.novelty import novelty_reference


# K tried by ``--clusters auto``.
CANDIDATE_CLUSTERS = range(2, 21)


@dataclass(frozen=True)
class FitSettings:
    """How :func:`fit_code_mixture` searches: ``starts`` short runs of ``screen_iter`` EM steps, the
    ``finalists`` best of them run on to ``tol`` (at most ``max_iter`` steps)."""

    starts: int = 30
    screen_iter: int = 15
    finalists: int = 3
    max_iter: int = 500
    tol: float = 1e-6


def distinct_codes(bits_matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of (N, D) binary codes and how often each occurs: ((M, D) uint8, (M,) float64)."""
    z = np.ascontiguousarray(bits_matrix, dtype=np.uint8)
    rows = z.view(np.dtype((np.void, z.shape[1]))).ravel()
    _, first, counts = np.unique(rows, return_index=True, return_counts=True)
    return z[first], counts.astype(np.float64)


def fit_code_mixture(bits_matrix: np.ndarray, clusters: int, *, random_state: int = 0,
                     settings: FitSettings = FitSettings()) -> BernoulliMixture:
    """A ``clusters``-component Bernoulli mixture fitted to binary codes (N, D) by screened restarts.

    Returns the fitted :class:`BernoulliMixture` with the best mean log-likelihood (no labels
    involved); ``lower_bound_`` is that mean log-likelihood per code.
    """
    return _screened_fits(*distinct_codes(bits_matrix), clusters, random_state, settings)[0]


def choose_clusters(bits_matrix: np.ndarray, *, candidates: range = CANDIDATE_CLUSTERS, held_out: float = 0.2,
                    random_state: int = 0, settings: FitSettings = FitSettings()) -> tuple[int, dict]:
    """K for ``--clusters auto``: the elbow of the held-out log-likelihood against K.

    A share ``held_out`` of the codes is set aside; a mixture is fitted to the rest for every K in
    ``candidates`` and scored on the held-out codes (mean log-likelihood per code). BIC is no use
    here: on tens of thousands of codes its penalty is too small and it keeps falling to K = 30.
    The held-out likelihood keeps rising too, but it rises steeply while components still separate
    real groups and slowly once they only split groups: the elbow is the K farthest above the chord
    from the first to the last point of the curve, both axes scaled to [0, 1] ("Kneedle", Satopää
    et al. 2011). The curve is measured in ``bench/results/refit.md``.

    Returns
    -------
    K, and a record of how it was chosen (the method and the curve) for the manifest
    """
    candidates = list(candidates)
    if len(candidates) < 3:
        raise ValueError(f"choosing K needs at least 3 candidate values, got {candidates}")
    rng = np.random.default_rng(random_state)
    order = rng.permutation(len(bits_matrix))
    n_held = int(round(held_out * len(bits_matrix)))
    held, train = distinct_codes(bits_matrix[order[:n_held]]), distinct_codes(bits_matrix[order[n_held:]])
    if n_held == 0 or len(train[0]) < max(candidates):
        raise ValueError(f"{len(bits_matrix)} codes are too few to choose among {candidates[0]}-{candidates[-1]} "
                         "clusters; give --clusters")
    scores = [float(np.average(_screened_fits(*train, k, random_state, settings)[0].score_samples(held[0]),
                               weights=held[1])) for k in candidates]
    k = candidates[int(np.argmax(_height_above_chord(np.array(candidates, dtype=float), np.array(scores))))]
    return k, {"method": "held-out log-likelihood elbow (kneedle)", "held_out": held_out,
               "curve": [{"clusters": c, "held_out_log_likelihood": v} for c, v in zip(candidates, scores)]}


def _height_above_chord(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """How far each point of the curve lies above the chord from its first to its last point, both axes scaled to [0, 1]."""
    span = y[-1] - y[0]
    y_scaled = (y - y[0]) / span if span != 0 else np.zeros_like(y)
    return y_scaled - (x - x[0]) / (x[-1] - x[0])


def _screened_fits(z: np.ndarray, counts: np.ndarray, clusters: int, random_state: int,
                   settings: FitSettings) -> list[BernoulliMixture]:
    """The finalists run to convergence, best first."""
    if len(z) < clusters:
        raise ValueError(f"{clusters} clusters need at least {clusters} distinct codes, got {len(z)}")
    rng = np.random.default_rng(random_state)
    screened = [BernoulliMixture(clusters, max_iter=settings.screen_iter, tol=settings.tol, random_state=rng)
                .fit(z, sample_weight=counts) for _ in range(settings.starts)]
    screened.sort(key=lambda m: -m.lower_bound_)
    finals = [BernoulliMixture(clusters, max_iter=settings.max_iter, tol=settings.tol, weights_init=m.weights_,
                               means_init=m.means_).fit(z, sample_weight=counts)
              for m in screened[:settings.finalists]]
    return sorted(finals, key=lambda m: -m.lower_bound_)


@dataclass(frozen=True)
class Refit:
    """What :func:`refit_model_dir` wrote: the new manifest and how its mixture was found."""

    manifest: ModelManifest
    mixture: BernoulliMixture
    record: dict


def refit_model_dir(packed: np.ndarray, model_dir: Path, out: Path, clusters: int | str = "auto", *,
                    random_state: int = 0, settings: FitSettings = FitSettings(), force: bool = False) -> Refit:
    """Fit a new mixture on packed codes of ``model_dir``'s encoder and write the model ``out``.

    ``out``'s vendor files are ``model_dir``'s, byte for byte (checked); its consumer half is
    traced from the new mixture; its manifest (one, copied into both halves, so the two agree on
    the new ``model_id``) records the refit under ``training["refit"]``. The entropy model stays
    the old one in both halves: it is how the vendor codes codes on the wire, not how they are
    clustered.

    Parameters
    ----------
    packed : (N, ceil(bits / 8)) uint8 codes made by ``model_dir``'s encoder
    model_dir : an exported VAB model (its vendor half and top-level manifest are read)
    clusters : K, or ``"auto"`` for :func:`choose_clusters`
    """
    vendor = read_half(Path(model_dir), "vendor")
    source = vendor.manifest
    if not source.method.startswith("vab"):
        raise ValueError(f"{model_dir} is a {source.method} model, whose consumer is not a Bernoulli mixture over "
                         "the code's bits; refit works on VAB models")
    refuse_existing(Path(out), force)
    z = unpack_codes(check_packed_codes(packed, source.bits), source.bits)
    if clusters == "auto":
        clusters, choice = choose_clusters(z, random_state=random_state, settings=settings)
    else:
        choice = {"method": "given"}
    mixture = fit_code_mixture(z, int(clusters), random_state=random_state, settings=settings)
    classifier = bmm_classifier_half(np.log(mixture.weights_), mixture.means_)
    entropy_model = vendor.entropy_model
    # Every model whose encoder this one keeps byte for byte: their codes are this model's codes too.
    encoder_model_ids = [source.model_id, *source.training.get("refit", {}).get("encoder_model_ids", ())]
    record = {"source_model_id": source.model_id, "encoder_model_ids": encoder_model_ids, "codes": int(len(z)),
              "distinct_codes": int(len(distinct_codes(z)[0])), "clusters": int(clusters), "clusters_chosen_by": choice,
              "random_state": random_state, "settings": asdict(settings),
              "log_likelihood_per_code": float(mixture.lower_bound_), "em_iterations": int(mixture.n_iter_)}
    manifest = write_model_dir(
        out, onnx.load_from_string(vendor.file(ENCODER_FILE)), classifier_onnx(classifier, code_bytes(source.bits)),
        method=source.method, bits=source.bits, clusters=int(clusters), preprocessing=source.preprocessing,
        metrics={}, training={**source.training, "refit": record}, needs_raw_image=source.needs_raw_image,
        entropy_model=None if entropy_model is None else {"log_pi": entropy_model[0], "means": entropy_model[1]},
        novelty=novelty_reference(classifier, packed), force=force)
    changed = [rel for rel, digest in source.files.items()
               if rel.startswith("vendor/") and manifest.files.get(rel) != digest]
    if changed:
        raise RuntimeError(f"the vendor files {changed} of {out} differ from {model_dir}'s; the refit is not valid")
    return Refit(manifest, mixture, record)
