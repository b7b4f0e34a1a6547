"""Files are never lost: `train`, `export` and `cluster --out` refuse what they did not write, and
a directory appears whole or not at all."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from bitcluster import cli
from bitcluster.client.batch_runner import run_batch_job
from bitcluster.client.errors import BatchJobError
from bitcluster.client.inputs import collect_inputs
from bitcluster.core.atomic import TargetExistsError, replacing_directory
from bitcluster.data import Dataset, load_dataset
from bitcluster.training.pipeline import train_run

runner = CliRunner()


def snapshot(path: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``path`` (or ``path`` itself) with its bytes and mtime: equal means untouched."""
    path = Path(path)
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return {str(p.relative_to(path.parent)): (p.read_bytes(), p.stat().st_mtime_ns) for p in files}


def siblings(path: Path) -> list[str]:
    """Names beside ``path`` that start with its name: the temporary and old copies the writes use."""
    return sorted(p.name for p in path.parent.iterdir() if p.name.startswith(path.name) and p != path)


@pytest.fixture(scope="module")
def small_digits() -> Dataset:
    return load_dataset("digits").subset(300, 100)


@pytest.fixture(scope="module")
def vab_run(tmp_path_factory, small_digits) -> Path:
    """A short vab-paper run: something to export."""
    run = tmp_path_factory.mktemp("vab") / "run"
    train_run("vab-paper", small_digits, run, {"bits": 8, "epochs": 1, "seed": 0}, progress=False, device="cpu")
    return run


@pytest.fixture
def occupied(tmp_path) -> Path:
    """A directory that holds someone's files."""
    d = tmp_path / "target"
    (d / "sub").mkdir(parents=True)
    (d / "keep.txt").write_text("do not lose me")
    (d / "sub" / "weights.bin").write_bytes(bytes(range(256)))
    return d


# -- the helper --------------------------------------------------------------------------------------
def test_an_occupied_directory_is_refused_before_the_block_runs(occupied):
    before, ran = snapshot(occupied), []
    with pytest.raises(TargetExistsError, match="--force"):
        with replacing_directory(occupied):
            ran.append(True)
    assert not ran and snapshot(occupied) == before and siblings(occupied) == []


def test_a_failure_inside_the_block_leaves_the_old_directory_and_no_temporary_one(occupied):
    before = snapshot(occupied)
    with pytest.raises(RuntimeError, match="disk died"):
        with replacing_directory(occupied, force=True) as tmp:
            (tmp / "half.onnx").write_bytes(b"half")
            raise RuntimeError("disk died")
    assert snapshot(occupied) == before and siblings(occupied) == []


def test_force_replaces_the_whole_directory(occupied):
    with replacing_directory(occupied, force=True) as tmp:
        assert tmp.parent == occupied.parent and tmp.name.startswith("target.tmp-") and not occupied.samefile(tmp)
        (tmp / "new.txt").write_text("new")
    assert sorted(p.name for p in occupied.iterdir()) == ["new.txt"] and siblings(occupied) == []


def test_a_temporary_left_by_a_killed_process_is_removed_by_the_next_write(tmp_path):
    import os
    import socket
    import subprocess
    import sys

    target = tmp_path / "run"
    host = socket.gethostname().replace("-", "_")
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    dead = tmp_path / f"run.tmp-{host}-{int(gone.stdout)}-00ff"       # its process has exited
    alive = tmp_path / f"run.tmp-{host}-{os.getppid()}-00ff"           # a running process's
    elsewhere = tmp_path / f"run.tmp-otherhost-{int(gone.stdout)}-00ff"  # another host's: its pids mean nothing here
    unknown = tmp_path / "run.tmp-0123456789abcdef"                     # not our naming
    for d in (dead, alive, elsewhere, unknown):
        d.mkdir()
        (d / "half.onnx").write_bytes(b"half")
    with replacing_directory(target) as tmp:
        assert tmp.name.startswith(f"run.tmp-{host}-{os.getpid()}-")
        (tmp / "a").write_text("a")
    assert not dead.exists() and alive.exists() and elsewhere.exists() and unknown.exists()
    assert (target / "a").read_text() == "a"


def test_an_empty_directory_or_a_missing_one_is_written_without_force(tmp_path):
    (tmp_path / "empty").mkdir()
    for target in (tmp_path / "empty", tmp_path / "deep" / "missing"):
        with replacing_directory(target) as tmp:
            (tmp / "a").write_text("a")
        assert (target / "a").read_text() == "a"


def test_the_directory_put_in_place_has_the_usual_mode_not_a_private_temporary_one(tmp_path):
    import os
    import stat

    umask = os.umask(0o022)
    try:
        with replacing_directory(tmp_path / "model"):
            pass
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "model").stat().st_mode) == 0o755  # readable by a service's user


# -- export ------------------------------------------------------------------------------------------
def export(run: Path, out: Path, *extra: str):
    return runner.invoke(cli.app, ["export", str(run), "--out", str(out), *extra])


def test_export_refuses_an_existing_model_directory_and_force_replaces_it(vab_run, tmp_path):
    model = tmp_path / "model"
    first = export(vab_run, model)
    assert first.exit_code == 0, first.output
    (model / "served-from-here.txt").write_text("a service was started from this directory")
    before = snapshot(model)

    refused = export(vab_run, model)
    assert refused.exit_code == 2
    assert "already exists" in refused.output and "--force" in refused.output
    assert snapshot(model) == before and siblings(model) == []

    forced = export(vab_run, model, "--force")
    assert forced.exit_code == 0, forced.output
    assert not (model / "served-from-here.txt").exists()
    assert json.loads((model / "manifest.json").read_text())["model_id"] == json.loads(forced.stdout)["model_id"]
    assert siblings(model) == []


def test_an_export_that_crashes_midway_leaves_the_old_model_and_no_half_directory(vab_run, tmp_path, monkeypatch):
    from bitcluster.training.export import model_dir

    model = tmp_path / "model"
    assert export(vab_run, model).exit_code == 0
    before = snapshot(model)
    real_save, saved = model_dir.onnx.save, []

    def save_then_crash(proto, path, *args, **kwargs):
        if saved:  # the encoder is written, the classifier is not
            raise OSError("no space left on device")
        saved.append(path)
        real_save(proto, path, *args, **kwargs)

    monkeypatch.setattr(model_dir.onnx, "save", save_then_crash)
    crashed = export(vab_run, model, "--force")
    assert crashed.exit_code != 0 and saved, crashed.output
    assert ".tmp-" in saved[0]  # the half model was written beside the target, not into it
    assert snapshot(model) == before and siblings(model) == []


# -- train -------------------------------------------------------------------------------------------
def train(data: Path, out: Path, *extra: str):
    return runner.invoke(cli.app, ["train", "--method", "kmeans", "--clusters", "3", "--data", str(data),
                                   "--out", str(out), "--quiet", *extra])


@pytest.fixture(scope="module")
def blobs_npz(tmp_path_factory) -> Path:
    rng = np.random.default_rng(0)
    centres = rng.uniform(0, 1, (3, 8, 8))
    y = np.arange(150) % 3
    x = np.clip(centres[y] + rng.normal(0, 0.05, (150, 8, 8)), 0, 1).astype(np.float32)
    path = tmp_path_factory.mktemp("data") / "blobs.npz"
    np.savez(path, x=x, y=y)
    return path


def test_train_refuses_a_non_empty_run_directory_and_force_replaces_it(blobs_npz, occupied):
    before = snapshot(occupied)
    refused = train(blobs_npz, occupied)
    assert refused.exit_code == 2 and "already exists" in refused.output
    assert snapshot(occupied) == before and siblings(occupied) == []

    forced = train(blobs_npz, occupied, "--force")
    assert forced.exit_code == 0, forced.output
    assert not (occupied / "keep.txt").exists()
    assert json.loads((occupied / "metrics.json").read_text())["method"] == "kmeans"
    assert siblings(occupied) == []


def test_a_training_run_that_fails_while_saving_leaves_no_run_directory(blobs_npz, tmp_path, monkeypatch):
    from bitcluster.training.methods import pixel_mixtures

    def crash(state, run_dir):
        (Path(run_dir) / "model.partial").write_bytes(b"half")
        raise OSError("killed while saving")

    monkeypatch.setattr(pixel_mixtures, "save", crash)
    out = tmp_path / "run"
    result = train(blobs_npz, out)
    assert result.exit_code != 0
    assert not out.exists() and siblings(out) == []


# -- cluster --out -----------------------------------------------------------------------------------
@dataclass
class FakeCodes:
    packed: np.ndarray
    model_id: str


class FakeClient:
    """Both services in one: the cluster of an image is its first pixel mod 3."""

    def __init__(self, model_id: str = "model-a"):
        self.model_id, self.retries, self.encoded = model_id, 0, 0

    def vendor_model(self) -> dict:
        return {"model_id": self.model_id}

    consumer_model = vendor_model

    def encode(self, images) -> FakeCodes:
        self.encoded += len(images)
        return FakeCodes(np.array([int(np.asarray(im).ravel()[0]) for im in images]), self.model_id)

    def classify(self, codes: FakeCodes) -> np.ndarray:
        return codes.packed % 3


@pytest.fixture
def job_inputs(tmp_path) -> list:
    npz = tmp_path / "batch.npz"
    np.savez(npz, x=np.arange(5 * 4, dtype=np.uint8).reshape(5, 2, 2))
    return collect_inputs([npz])


def test_cluster_out_resumes_the_same_job(job_inputs, tmp_path):
    out = tmp_path / "clusters.jsonl"
    first = run_batch_job(job_inputs, FakeClient(), out, chunk_size=2, progress=False)
    assert (first.already_done, first.written) == (0, 5)
    lines = out.read_bytes().splitlines(keepends=True)
    out.write_bytes(b"".join(lines[:2]))  # as if the job had died after its first chunk

    client = FakeClient()
    resumed = run_batch_job(job_inputs, client, out, chunk_size=2, progress=False)
    assert (resumed.already_done, resumed.written, client.encoded) == (2, 3, 3)
    assert out.read_bytes() == b"".join(lines)


def test_cluster_out_refuses_another_jobs_results_untouched(job_inputs, tmp_path):
    out = tmp_path / "clusters.jsonl"
    out.write_text('{"id": "/elsewhere/other.png", "cluster": 1, "model_id": "model-a"}\n')
    before = snapshot(out)
    client = FakeClient()
    with pytest.raises(BatchJobError, match="another job's results file"):
        run_batch_job(job_inputs, client, out, progress=False)
    assert snapshot(out) == before and client.encoded == 0


@pytest.mark.parametrize("content", [b"\x89PNG\r\n\x1a\n\x00\x00binary", b"my notes, no final newline",
                                     b"\x08\x07\x12\x04onnx-protobuf"])
def test_cluster_out_refuses_a_file_it_did_not_write_untouched(job_inputs, tmp_path, content):
    out = tmp_path / "precious.bin"
    out.write_bytes(content)
    before = snapshot(out)
    with pytest.raises(BatchJobError, match="not written by `bitcluster cluster --out`"):
        run_batch_job(job_inputs, FakeClient(), out, progress=False)
    assert snapshot(out) == before


def test_an_inputs_id_does_not_depend_on_how_its_path_is_typed(tmp_path, monkeypatch):
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.png").write_bytes(b"not read here")
    (tmp_path / "link.png").symlink_to(tmp_path / "a.png")
    monkeypatch.chdir(tmp_path / "sub")
    spellings = [Path("../a.png"), tmp_path / "a.png", tmp_path / "sub" / ".." / "a.png", tmp_path / "link.png"]
    ids = [collect_inputs([p])[0].ids for p in spellings]
    assert ids == [[str((tmp_path / "a.png").resolve())]] * len(spellings)
    monkeypatch.chdir(tmp_path)
    assert collect_inputs([Path("./a.png")])[0].ids == ids[0]
    assert collect_inputs([Path(".")])[0].ids == ids[0] * 2  # a directory's files too: the link is a.png
