"""An exported model's files as bytes, so that a Ray actor on any node can load it.

On a cluster the workers do not see the driver's disk: the model (kilobytes to a few megabytes)
travels inside the actors' constructor arguments and is written to a temporary directory there,
where the manifest's sha256 checks run again as for any model directory, and loaded once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bitcluster.core.manifest import HALVES, MANIFEST_FILE, ManifestError


@dataclass(frozen=True)
class ModelFiles:
    """The files of both halves of an export, by path relative to the model directory."""

    files: dict[str, bytes]

    @classmethod
    def read(cls, model_dir: Path) -> "ModelFiles":
        """Read ``model_dir/manifest.json`` and every file of ``model_dir/vendor`` and ``model_dir/consumer``.

        Raises ManifestError when a half is missing: a bulk job needs the whole export.
        """
        model_dir = Path(model_dir)
        files: dict[str, bytes] = {}
        for half in HALVES:
            half_dir = model_dir / half
            if not (half_dir / MANIFEST_FILE).is_file():
                raise ManifestError(f"{model_dir} has no {half}/{MANIFEST_FILE}: a bulk job needs the whole "
                                    "export (`bitcluster export RUN_DIR --out MODEL_DIR`), both halves")
            for path in sorted(p for p in half_dir.iterdir() if p.is_file()):
                files[f"{half}/{path.name}"] = path.read_bytes()
        top = model_dir / MANIFEST_FILE
        if top.is_file():
            files[MANIFEST_FILE] = top.read_bytes()
        return cls(files)

    def write_to(self, directory: Path) -> Path:
        """Write the files under ``directory``; returns it, ready for a model loader."""
        for rel, data in self.files.items():
            path = Path(directory) / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        return Path(directory)
