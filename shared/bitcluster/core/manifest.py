"""The model manifest: what an exported model is, and proof that its files are the ones trained.

An exported model directory looks like::

    MODEL_DIR/
      manifest.json              # the same manifest is copied into each half
      vendor/encoder.onnx        # images (N, P) float32 -> packed codes (N, ceil(D/8)) uint8
      vendor/manifest.json
      consumer/classifier.onnx   # packed codes -> clusters (N,) int64, posteriors (N, K) float32
      consumer/manifest.json

``model_id`` is a hash of the whole manifest, both halves' file hashes included, so the vendor and
the consumer can check that they serve the same model without either holding the other's file, and
a service given the id it must serve (``expected_model_id``) refuses any other model: a file, a
hash or a field (preprocessing, bits, ...) changed makes another id. A loader reads each file once,
checks those bytes against their hash and uses those bytes (never the path again), and reads only
files its manifest lists. numpy-free, torch-free.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

# The model shipped inside the package (digits, 16 bits): what services and the Python API load by default.
DEFAULT_MODEL_DIR = Path(__file__).resolve().parents[1] / "default_model"

# 2: model_id covers the whole manifest (1 covered the file hashes alone: its other fields could be
# changed unseen), and every file a half loads is listed (1 loaded entropy_model.json unlisted).
SCHEMA_VERSION = 2
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
# The training codes' novelty reference (bitcluster.core.novelty), in the consumer half.
NOVELTY_FILE = "novelty.json"
# Every file name a half's loader reads when its manifest lists it; one in the half's directory unlisted is refused.
LOADABLE = {"vendor": (ENCODER_FILE, ENTROPY_MODEL_FILE),
            "consumer": (CLASSIFIER_FILE, CLUSTERS_ONLY_FILE, ENTROPY_MODEL_FILE, NOVELTY_FILE)}
BIT_ORDER = "msb-first"


class ManifestError(RuntimeError):
    """The model directory is incomplete, altered, or of another schema."""


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def compute_model_id(manifest: dict) -> str:
    """A short content id of the whole model: sha256 over the manifest's JSON (sorted keys, ``model_id`` left out).

    ``manifest`` is the manifest as read from (or as it will be written to) ``manifest.json``. The
    file hashes are part of it, so the id names the bytes of every file of both halves and every
    field that a half acts on.
    """
    body = {k: v for k, v in manifest.items() if k != "model_id"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


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

    @property
    def code_model_ids(self) -> frozenset[str]:
        """The models whose codes are this model's own: itself, and the models it was refit from.

        A refit (``bitcluster refit``) keeps the vendor's files byte for byte, checked when it is
        written, so codes its sources made are codes it would make; the ids are inside this
        manifest, which ``model_id`` covers.
        """
        return frozenset({self.model_id, *self.training.get("refit", {}).get("encoder_model_ids", ())})

    @classmethod
    def from_dict(cls, d: dict) -> "ModelManifest":
        if d.get("schema_version") != SCHEMA_VERSION:
            raise ManifestError(f"manifest schema {d.get('schema_version')!r} is not the supported {SCHEMA_VERSION}")
        known = set(cls.__dataclass_fields__)
        missing = {"model_id", "method", "bits", "clusters", "preprocessing", "files", "code_bytes"} - set(d)
        if missing:
            raise ManifestError(f"manifest lacks {sorted(missing)}")
        return cls(**{k: v for k, v in d.items() if k in known})


@dataclass(frozen=True)
class VerifiedHalf:
    """One half of an export, read once and verified: its manifest and the bytes of the files it lists.

    ``contents`` maps each of the half's manifest paths (``consumer/classifier.onnx``) to the bytes
    whose sha256 matched: what the loaders use, so a file replaced on disk after the check is never
    read.
    """

    manifest: ModelManifest
    half: str
    directory: Path
    contents: dict[str, bytes]

    @property
    def onnx_path(self) -> Path:
        """Where the half's ONNX graph was read from (for messages; its bytes are ``contents``)."""
        return self.directory / Path(HALVES[self.half]).name

    def file(self, name: str) -> bytes | None:
        """The verified bytes of the half's file ``name`` (``entropy_model.json``), None when the manifest lists none."""
        return self.contents.get(f"{self.half}/{Path(name).name}")

    @property
    def entropy_model(self) -> tuple[list[float], list[list[float]]] | None:
        """The BMM ``(log_pi, means)`` of the entropy-coded code format, or None when the export has none."""
        data = self.file(ENTROPY_MODEL_FILE)
        if data is None:
            return None
        try:
            d = json.loads(data)
            return d["log_pi"], d["means"]
        except (ValueError, TypeError, KeyError) as e:
            raise ManifestError(f"{self.directory / ENTROPY_MODEL_FILE} is not an entropy model: {e}") from e


def read_half(model_dir: Path, half: str, *, expected_model_id: str | None = None) -> VerifiedHalf:
    """Read and verify one half: its manifest, the model id, and each file it lists, every file read once.

    ``model_dir`` may be the whole export or just that half's directory. Checks the ``model_id``
    against the manifest's content, then (when given) against ``expected_model_id``, then each of
    the half's files against its sha256; a file the half's loader would read that the manifest does
    not list is refused.

    Raises :class:`ManifestError` with a message that says what to fix.
    """
    if half not in HALVES:
        raise ManifestError(f"unknown half {half!r}; expected one of {sorted(HALVES)}")
    model_dir = Path(model_dir)
    half_dir = model_dir / half if (model_dir / half / MANIFEST_FILE).is_file() else model_dir
    manifest_path = half_dir / MANIFEST_FILE
    if not manifest_path.is_file():
        raise ManifestError(f"no {MANIFEST_FILE} in {model_dir} or {model_dir / half}: export a model with "
                            "`bitcluster export RUN_DIR --out MODEL_DIR` and point --model-dir at it")
    try:
        raw = json.loads(manifest_path.read_bytes())
        if not isinstance(raw, dict):
            raise TypeError("not a JSON object")
        if raw.get("schema_version") == 1:
            raise ManifestError(f"{manifest_path} is of schema 1, whose model_id does not cover the whole manifest: "
                                "re-export the run (`bitcluster export RUN_DIR --out MODEL_DIR --force`)")
        manifest = ModelManifest.from_dict(raw)
    except (json.JSONDecodeError, TypeError) as e:
        raise ManifestError(f"{manifest_path} is not a valid manifest: {e}") from e
    if compute_model_id(raw) != manifest.model_id:
        raise ManifestError(f"{manifest_path}: model_id does not match the manifest's content: it was altered")
    if expected_model_id is not None and manifest.model_id != expected_model_id:
        raise ManifestError(f"{half_dir} holds model {manifest.model_id!r}, not the expected {expected_model_id!r}: "
                            "deploy that model there, or change the expected model id")
    if HALVES[half] not in manifest.files:
        raise ManifestError(f"{manifest_path} lists no {HALVES[half]}")
    for name in (Path(rel).name for rel in LOADABLE[half]):
        if f"{half}/{name}" not in manifest.files and (half_dir / name).exists():
            raise ManifestError(f"{half_dir / name} is not in {manifest_path}: a file no manifest lists is never "
                                "loaded; remove it, or re-export the model")
    contents = {}
    for listed, expected in manifest.files.items():
        if not listed.startswith(half + "/"):
            continue
        path = half_dir / Path(listed).name
        if not path.is_file():
            raise ManifestError(f"{path} is missing")
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if digest != expected:
            raise ManifestError(f"{path} has sha256 {digest[:12]}…, the manifest says {expected[:12]}…: "
                                "the file was altered or belongs to another model")
        contents[listed] = data
    return VerifiedHalf(manifest, half, half_dir, contents)


def load_manifest(model_dir: Path, half: str, *, expected_model_id: str | None = None) -> tuple[ModelManifest, Path]:
    """The verified manifest of one half and the path of its ONNX file (:func:`read_half`, the bytes left out).

    For callers that need the manifest alone; a loader uses :func:`read_half`'s bytes, never the path.
    """
    verified = read_half(model_dir, half, expected_model_id=expected_model_id)
    return verified.manifest, verified.onnx_path
