"""An exported model run in this process: images -> codes -> clusters, without the two services.

The same verified ONNX halves the vendor and the consumer serve (:mod:`bitcluster.core.onnx_model`),
the same preprocessing (:mod:`bitcluster.core.preprocessing`), so the codes and clusters are
those the services would give. Needs numpy and onnxruntime (the consumer's install), and Pillow
only to read image files or resize; never torch.

    >>> import bitcluster as bc
    >>> model = bc.load_model()              # the embedded default model
    >>> codes = model.encode(images)         # Codes: packed (N, ceil(D/8)) uint8, bits, model_id
    >>> clusters = model.classify(codes)     # (N,) int64
    >>> model.score_samples(codes)           # (N,) float64 log p(z) in nats under the BMM
    >>> model.is_novel(codes, rate=0.01)     # (N,) bool: less likely than 99% of training codes
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bitcluster.api.codes import Codes, CodesLike, packed_codes_of
from bitcluster.api.images import Images, pixel_groups
from bitcluster.core.channels import CONVERSION_INTO, ChannelConversionWarning, conversion_message
from bitcluster.core.manifest import DEFAULT_MODEL_DIR, HALVES, ManifestError, ModelManifest
from bitcluster.core.novelty import DEFAULT_RATE, NoveltyReference, NoveltyUnavailableError, load_novelty_reference
from bitcluster.core.onnx_model import OnnxModel, load_onnx_model
from bitcluster.core.preprocessing import Preprocessing

# Rows per onnxruntime call: bounds the float32 input held at once (8192 x 1024 pixels = 32 MiB).
RUN_ROWS = 8192


@dataclass
class Model:
    """Both halves of an exported model (or the one a directory holds), loaded and verified.

    Build it with :func:`load_model`. ``encoder`` is None where only the consumer half was given
    (``encode`` then says so), ``classifier`` None where only the vendor half was.
    """

    manifest: ModelManifest
    encoder: OnnxModel | None
    classifier: OnnxModel | None
    # The training codes' log-likelihood quantiles (consumer/novelty.json), None when not exported.
    novelty: NoveltyReference | None = field(default=None, repr=False)

    @property
    def model_id(self) -> str:
        return self.manifest.model_id

    @property
    def bits(self) -> int:
        return self.manifest.bits

    @property
    def clusters(self) -> int:
        return self.manifest.clusters

    @property
    def preprocessing(self) -> Preprocessing:
        return Preprocessing.from_dict(self.manifest.preprocessing)

    def __repr__(self) -> str:
        p = self.preprocessing
        return (f"Model({self.model_id}: {self.manifest.method}, {p.describe()} images -> {self.bits}-bit "
                f"codes -> {self.clusters} clusters)")

    def encode(self, images: Images, *, resize: bool = False) -> Codes:
        """Images -> their binary codes.

        Parameters
        ----------
        images : grey (N, H, W) or (H, W), or RGB (N, H, W, 3) or (H, W, 3) array, uint8 0..255 or
            float in [0, 1]; a PNG/JPEG path or its bytes; or a list of those. Images of another
            size are resized to the model's; grey images for an RGB model, or RGB images for a grey
            one, are converted (:mod:`bitcluster.core.channels`) with a
            :class:`~bitcluster.core.channels.ChannelConversionWarning`.
        resize : also resize images of another aspect ratio (stretching them); by default they
            raise :class:`~bitcluster.core.preprocessing.ImageFormatError`

        Returns
        -------
        Codes: ``packed`` (N, ceil(bits / 8)) uint8 with this model's ``bits`` and ``model_id``
        """
        codes, converted = self.encode_with_conversions(images, resize=resize)
        if converted.any():
            rule = CONVERSION_INTO[self.preprocessing.channels]
            warnings.warn(conversion_message(int(converted.sum()), len(codes), rule), ChannelConversionWarning,
                          stacklevel=2)
        return codes

    def encode_with_conversions(self, images: Images, *, resize: bool = False) -> tuple[Codes, np.ndarray]:
        """:meth:`encode` without the warning: the codes, and (N,) bool, which images were converted
        between grey and RGB to match the model (for callers that report it their own way, as bulk jobs)."""
        half = self._half(self.encoder, "vendor", "encode images")
        preprocessing = self.preprocessing
        chunks, converted = [], []
        for batch in pixel_groups(images):
            x = preprocessing.apply(batch, any_aspect_ratio=resize)
            converted.append(np.full(len(batch), preprocessing.conversion(batch) is not None))
            chunks += [half.session.run(["codes"], {"images": x[i:i + RUN_ROWS]})[0]
                       for i in range(0, len(x), RUN_ROWS)]
        return Codes(np.concatenate(chunks), self.bits, self.model_id), np.concatenate(converted)

    def classify(self, codes: CodesLike) -> np.ndarray:
        """Codes -> (N,) int64 clusters, the most probable BMM component of each code.

        ``codes`` are :class:`Codes` (refused with ModelMismatchError when another model made
        them) or packed codes alone: an (N, ceil(bits / 8)) uint8 array or their bytes.
        """
        return self._run_classifier(codes, "clusters")

    def predict_proba(self, codes: CodesLike) -> np.ndarray:
        """Codes -> (N, K) float32 posterior probabilities of the clusters (rows sum to 1)."""
        return self._run_classifier(codes, "posteriors")

    def score_samples(self, codes: CodesLike) -> np.ndarray:
        """Codes -> (N,) float64 ``log p(z)``, the log-likelihood in nats of each code under the model's mixture.

        Low values mark codes unlike the training codes (:meth:`is_novel`). Computed in the
        exported graph (float32, within 1e-4 relative of a float64 computation).
        """
        return self._run_classifier(codes, "log_likelihood").astype(np.float64)

    def is_novel(self, codes: CodesLike, rate: float = DEFAULT_RATE) -> np.ndarray:
        """Codes -> (N,) bool: ``score_samples`` below the training codes' ``rate`` quantile.

        About ``rate`` of codes like the training ones are flagged. Raises ValueError for a rate
        outside (0, 1) and :class:`~bitcluster.core.novelty.NoveltyUnavailableError` for a model
        exported without the training codes' scores.
        """
        if self.novelty is None:
            raise NoveltyUnavailableError(f"model {self.model_id} was exported without novelty data "
                                          "(consumer/novelty.json): re-export its run with `bitcluster export`")
        threshold = self.novelty.threshold(rate)
        return self.score_samples(codes) < threshold

    def cluster(self, images: Images, *, resize: bool = False) -> np.ndarray:
        """Images -> (N,) int64 clusters: ``classify(encode(images))``."""
        return self.classify(self.encode(images, resize=resize))

    def _run_classifier(self, codes: CodesLike, output: str) -> np.ndarray:
        half = self._half(self.classifier, "consumer", "classify codes")
        if isinstance(codes, Codes):
            half.check_codes_origin(codes.model_id, codes.bits)
        packed = packed_codes_of(codes, self.bits)
        if len(packed) == 0:
            raise ValueError("no codes to classify")
        if output not in {o.name for o in half.session.get_outputs()}:
            raise ManifestError(f"model {self.model_id} was exported without the {output!r} output: re-export its "
                                "run with this version of bitcluster (`bitcluster export RUN_DIR --out MODEL_DIR`)")
        run = (half.run_clusters if output == "clusters" else
               lambda feed: half.session.run([output], feed)[0])
        return np.concatenate([run({"codes": packed[i:i + RUN_ROWS]}) for i in range(0, len(packed), RUN_ROWS)])

    def _half(self, half: OnnxModel | None, name: str, task: str) -> OnnxModel:
        if half is None:
            raise ManifestError(f"this model was loaded without its {name} half ({HALVES[name]}), needed to {task}: "
                                "load the whole export directory")
        return half


def load_model(path: str | Path | None = None, *, threads: int = 0, allow_gpu: bool = False,
               expected_model_id: str | None = None) -> Model:
    """Load and verify an exported model (from ``bitcluster export``) for use in this process.

    Parameters
    ----------
    path : the export directory, or one half of it (``.../consumer`` classifies only); None for
        the embedded default model (8x8 digits, 16 bits, 10 clusters)
    threads : onnxruntime threads per call (0: onnxruntime's choice)
    allow_gpu : run the encoder on CUDA when this onnxruntime build has it (the classifier is CPU)
    expected_model_id : the ``model_id`` the directory must hold (a pin: any other model is refused)

    Raises :class:`~bitcluster.core.manifest.ManifestError` for a directory that holds no model,
    an altered file, two halves of different models, or another model than ``expected_model_id``.
    """
    model_dir = Path(DEFAULT_MODEL_DIR if path is None else path)
    present = [half for half, rel in HALVES.items()
               if (model_dir / rel).is_file() or (model_dir / Path(rel).name).is_file()]
    if not present:
        raise ManifestError(f"{model_dir} holds no exported model (neither {' nor '.join(HALVES.values())}): "
                            "export one with `bitcluster export RUN_DIR --out MODEL_DIR`")
    encoder = classifier = None
    if "vendor" in present:
        encoder = load_onnx_model(model_dir, "vendor", expected_model_id=expected_model_id, allow_gpu=allow_gpu,
                                  intra_op_threads=threads)
        encoder.expect_io({"images": Preprocessing.from_dict(encoder.manifest.preprocessing).n_pixels}, ("codes",))
    if "consumer" in present:
        classifier = load_onnx_model(model_dir, "consumer", expected_model_id=expected_model_id,
                                     intra_op_threads=threads)
        classifier.expect_io({"codes": classifier.manifest.code_bytes}, ("clusters", "posteriors"))
    if encoder and classifier and encoder.manifest.model_id != classifier.manifest.model_id:
        raise ManifestError(f"{model_dir}: the vendor half is model {encoder.manifest.model_id} and the consumer "
                            f"half {classifier.manifest.model_id}; export both halves together")
    novelty = load_novelty_reference(classifier.verified) if classifier else None
    return Model((encoder or classifier).manifest, encoder, classifier, novelty)
