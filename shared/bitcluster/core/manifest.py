"""The model manifest: what an exported model is, and proof that its files are the ones trained.

An exported model directory looks like::

    MODEL_DIR/
      manifest.json              # the same manifest is copied into each half
      vendor/encoder.onnx        # images (N, P) float32 -> packed codes (N, ceil(D/8)) uint8
      vendor/manifest.json
      consumer/classifier.onnx   # packed codes -> clusters (N,) int64, posteriors (N, K) float32
      consumer/manifest.json

``model_id`` is a hash of both halves' file hashes, so the vendor and the consumer can check that
they serve the same model without either holding the other's file. numpy-free, torch-free.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

# The model shipped inside the package (digits, 16 bits): what services and the Python API load by default.
DEFAULT_MODEL_DIR = Path(__file__).resolve().parents[1] / "default_model"

SCHEMA_VERSION = 1
ENCODER_FILE = "vendor/encoder.onnx"
CLASSIFIER_FILE = "consumer/classifier.onnx"
# The classifier pruned to its ``clusters`` output. ONNX Runtime runs every node of a graph
# whatever outputs are asked for, so a request without posteriors runs this one. Optional: an
# export without it is served from the classifier alone.
CLUSTERS_ONLY_FILE = "consumer/clusters.onnx"
# The BMM parameters, for the optional entropy-coded code format; each half holds a copy.
ENTROPY_MODEL_FILE = "entropy_model.json"
MANIFEST_FILE = "manifest.json"
HALVES = {"vendor": ENCODER_FILE, "consumer": CLASSIFIER_FILE}
BIT_ORDER = "msb-first"


class ManifestError(RuntimeError):
    """The model directory is incomplete, altered, or of another schema."""


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def compute_model_id(file_hashes: dict[str, str]) -> str:
    """A short content id of the whole model: sha256 over the sorted ``path:sha256`` lines."""
    text = "\n".join(f"{k}:{file_hashes[k]}" for k in sorted(file_hashes))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class ModelManifest:
    model_id: str
    method: str
    bits: int
    clusters: int
    preprocessing: dict
    files: dict[str, str]
    code_bytes: int
    bit_order: str = BIT_ORDER
    needs_raw_image: bool = False
    metrics: dict = field(default_factory=dict)
    training: dict = field(default_factory=dict)
    versions: dict = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, d: dict) -> "ModelManifest":
        if d.get("schema_version") != SCHEMA_VERSION:
            raise ManifestError(f"manifest schema {d.get('schema_version')!r} is not the supported {SCHEMA_VERSION}")
        known = set(cls.__dataclass_fields__)
        missing = {"model_id", "method", "bits", "clusters", "preprocessing", "files", "code_bytes"} - set(d)
        if missing:
            raise ManifestError(f"manifest lacks {sorted(missing)}")
        return cls(**{k: v for k, v in d.items() if k in known})


def load_manifest(model_dir: Path, half: str) -> tuple[ModelManifest, Path]:
    """Read and verify the manifest of one half.

    ``model_dir`` may be the whole export or just that half's directory. Checks the half's file
    against its sha256 and the ``model_id`` against the listed hashes.

    Returns the manifest and the path of the half's ONNX file.
    """
    if half not in HALVES:
        raise ManifestError(f"unknown half {half!r}; expected one of {sorted(HALVES)}")
    model_dir = Path(model_dir)
    rel = HALVES[half]
    half_dir = model_dir / half if (model_dir / half / MANIFEST_FILE).is_file() else model_dir
    manifest_path = half_dir / MANIFEST_FILE
    if not manifest_path.is_file():
        raise ManifestError(f"no {MANIFEST_FILE} in {model_dir} or {model_dir / half}: export a model with "
                            "`bitcluster export RUN_DIR --out MODEL_DIR` and point --model-dir at it")
    try:
        manifest = ModelManifest.from_dict(json.loads(manifest_path.read_text()))
    except (json.JSONDecodeError, TypeError) as e:
        raise ManifestError(f"{manifest_path} is not a valid manifest: {e}") from e
    if compute_model_id(manifest.files) != manifest.model_id:
        raise ManifestError(f"{manifest_path}: model_id does not match the listed file hashes")
    if rel not in manifest.files:
        raise ManifestError(f"{manifest_path} lists no {rel}")
    # Every file of this half is checked, the ONNX graph and anything beside it.
    for listed, expected in manifest.files.items():
        if not listed.startswith(half + "/"):
            continue
        path = half_dir / Path(listed).name
        if not path.is_file():
            raise ManifestError(f"{path} is missing")
        digest = sha256_file(path)
        if digest != expected:
            raise ManifestError(f"{path} has sha256 {digest[:12]}…, the manifest says {expected[:12]}…: "
                                "the file was altered or belongs to another model")
    return manifest, half_dir / Path(rel).name


def load_entropy_model(onnx_path: Path) -> tuple[list[float], list[list[float]]] | None:
    """The BMM ``(log_pi, means)`` stored beside a half's ONNX file, or None for models without one.

    Call after :func:`load_manifest`, which has verified the file's hash.
    """
    path = Path(onnx_path).parent / ENTROPY_MODEL_FILE
    if not path.is_file():
        return None
    d = json.loads(path.read_text())
    return d["log_pi"], d["means"]
