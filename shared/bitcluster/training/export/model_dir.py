"""Write an exported model: both ONNX halves (the classifier also pruned to its clusters), the entropy
model when there is one, the training codes' novelty reference when there is one, and the manifest."""

from __future__ import annotations

import json
from pathlib import Path

import onnx

from bitcluster import __version__
from bitcluster.core.atomic import replacing_directory
from bitcluster.core.codes import code_bytes
from bitcluster.core.novelty import NOVELTY_FILE, NoveltyReference
from bitcluster.core.manifest import (CLASSIFIER_FILE, CLUSTERS_ONLY_FILE, ENCODER_FILE, ENTROPY_MODEL_FILE,
                                      MANIFEST_FILE, ModelManifest, compute_model_id, sha256_file)
from bitcluster.training.export.onnx_file import OPSET, clusters_only_onnx


def write_model_dir(out: Path, encoder: onnx.ModelProto, classifier: onnx.ModelProto, *, method: str,
                    bits: int, clusters: int, preprocessing: dict, metrics: dict, training: dict,
                    needs_raw_image: bool = False, entropy_model: dict | None = None,
                    novelty: NoveltyReference | None = None, force: bool = False) -> ModelManifest:
    """Write both halves and the manifest (a copy in each half, so each directory stands alone).

    ``entropy_model`` (``{"log_pi": [...], "means": [[...]]}``), when given, is written into both
    halves so that they can speak the entropy-coded code format (:mod:`bitcluster.core.entropy_coding`).
    ``novelty``, the training codes' log-likelihood quantiles (:mod:`bitcluster.core.novelty`), goes
    into the consumer half.
    An ``out`` that exists and is not empty is refused (:class:`~bitcluster.core.atomic.TargetExistsError`)
    unless ``force``. Everything is written into a sibling temporary directory renamed to ``out`` at
    the end, so a service started from ``out`` never sees half a model, and a failed export leaves
    what was there.
    """
    with replacing_directory(Path(out), force) as tmp:
        return _write_files(tmp, encoder, classifier, method=method, bits=bits, clusters=clusters,
                            preprocessing=preprocessing, metrics=metrics, training=training,
                            needs_raw_image=needs_raw_image, entropy_model=entropy_model, novelty=novelty)


def _write_files(out: Path, encoder: onnx.ModelProto, classifier: onnx.ModelProto, *, method: str, bits: int,
                 clusters: int, preprocessing: dict, metrics: dict, training: dict, needs_raw_image: bool,
                 entropy_model: dict | None, novelty: NoveltyReference | None) -> ModelManifest:
    import onnxruntime

    graphs = {ENCODER_FILE: encoder, CLASSIFIER_FILE: classifier, CLUSTERS_ONLY_FILE: clusters_only_onnx(classifier)}
    for rel, model in graphs.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        onnx.save(model, str(out / rel))
    written = list(graphs)
    if entropy_model is not None:
        # repr-exact floats: both halves must build bit-identical coding probabilities
        text = json.dumps({"log_pi": [float(v) for v in entropy_model["log_pi"]],
                           "means": [[float(v) for v in row] for row in entropy_model["means"]]})
        for half in ("vendor", "consumer"):
            (out / half / ENTROPY_MODEL_FILE).write_text(text)
            written.append(f"{half}/{ENTROPY_MODEL_FILE}")
    if novelty is not None:
        (out / "consumer" / NOVELTY_FILE).write_text(novelty.to_json())
        written.append(f"consumer/{NOVELTY_FILE}")
    files = {rel: sha256_file(out / rel) for rel in written}
    manifest = ModelManifest(
        model_id="", method=method, bits=bits, clusters=clusters,
        preprocessing=preprocessing, files=files, code_bytes=code_bytes(bits), needs_raw_image=needs_raw_image,
        metrics=metrics, training=training,
        versions={"bitcluster": __version__, "onnx_opset": OPSET, "onnx": onnx.__version__,
                  "onnxruntime_at_export": onnxruntime.__version__})
    # The id of the manifest as a loader reads it back (JSON's floats and lists), file hashes included.
    manifest.model_id = compute_model_id(json.loads(manifest.to_json()))
    text = manifest.to_json()
    for d in (out, out / "vendor", out / "consumer"):
        (d / MANIFEST_FILE).write_text(text)
    return manifest
