"""Hostile files and planted paths (security review, issue 23, finding 4).

* an image that declares more pixels than Pillow decodes (a decompression bomb) is an
  ImageFormatError in the Python API, and ``bitcluster bulk`` skips it, with other unusable files,
  listing them instead of dying;
* the bulk job's Parquet temporary is not a predictable name written through whatever is there,
  and neither the Parquet output nor a batch job's results file is written through a symlink;
* what a killed ``train``/``export``/``bulk`` left beside its output is removed by the next write
  into that directory once the process is gone.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image
from typer.testing import CliRunner

from bitcluster import cli
from bitcluster.api.model import DEFAULT_MODEL_DIR, load_model
from bitcluster.bulk.job import run_bulk_job
from bitcluster.bulk.options import BulkOptions
from bitcluster.bulk.parquet import OutputExistsError
from bitcluster.client.errors import BatchJobError
from bitcluster.client.results import ResultsFile
from bitcluster.core.atomic import replacing_directory
from bitcluster.core.preprocessing import ImageFormatError

SIDE = 20_000  # 4 * 10^8 pixels: over twice Pillow's MAX_IMAGE_PIXELS, so opening it raises


def bomb_png() -> bytes:
    """A 150-byte PNG that declares SIDE x SIDE grey pixels (its data would inflate to 400 MB)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", SIDE, SIDE, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + \
        chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def model():
    return load_model(DEFAULT_MODEL_DIR)


@pytest.fixture
def mixed_folder(tmp_path):
    """Three digit PNGs of the model's size, a bomb, a truncated PNG and a text file named .png."""
    side = load_model(DEFAULT_MODEL_DIR).preprocessing.height
    folder = tmp_path / "pngs"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (side, side), dtype=np.uint8)).save(folder / f"good{i}.png")
    (folder / "bomb.png").write_bytes(bomb_png())
    (folder / "truncated.png").write_bytes((folder / "good0.png").read_bytes()[:60])
    (folder / "text.png").write_bytes(b"not a png")
    return folder


@pytest.mark.parametrize("as_bytes", [False, True])
def test_a_decompression_bomb_is_an_image_format_error_in_the_python_api(model, tmp_path, as_bytes):
    path = tmp_path / "bomb.png"
    path.write_bytes(bomb_png())
    with pytest.raises(ImageFormatError, match="decompression bomb"):
        model.encode(path.read_bytes() if as_bytes else path)


def test_a_truncated_image_is_an_image_format_error_and_a_missing_one_an_os_error(model, mixed_folder):
    with pytest.raises(ImageFormatError, match="truncated or corrupt"):
        model.encode(mixed_folder / "truncated.png")
    with pytest.raises(FileNotFoundError):
        model.encode(mixed_folder / "absent.png")


@pytest.mark.parametrize("batch_size", [2, 100])
def test_bulk_skips_and_lists_files_it_cannot_encode(model, mixed_folder, tmp_path, batch_size):
    out = tmp_path / "out.parquet"
    summary = run_bulk_job([mixed_folder], DEFAULT_MODEL_DIR, out,
                           options=BulkOptions(progress=False, batch_size=batch_size))
    good = sorted(mixed_folder.glob("good*.png"))
    table = pq.read_table(out)
    assert table.schema.names == ["id", "code", "cluster"]
    assert table["id"].to_pylist() == [str(p) for p in good]
    assert table["code"].to_pylist() == [bytes(c) for c in model.encode(good).packed]
    assert table["cluster"].to_pylist() == model.classify(model.encode(good)).tolist()
    assert summary.rows == 3 and summary.skipped == 3
    reasons = {Path(s["id"]).name: s["error"] for s in summary.skipped_inputs}
    assert sorted(reasons) == ["bomb.png", "text.png", "truncated.png"]
    assert "decompression bomb" in reasons["bomb.png"] and "not a PNG or JPEG" in reasons["text.png"]


def test_the_bulk_command_reports_skipped_files_and_succeeds(mixed_folder, tmp_path):
    out = tmp_path / "out.parquet"
    result = CliRunner().invoke(cli.app, ["bulk", str(mixed_folder), "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "3 input(s) could not be encoded" in result.stderr
    summary = json.loads(result.stdout)
    assert summary["rows"] == 3 and summary["skipped"] == 3 and len(summary["skipped_inputs"]) == 3


def test_the_parquet_temporary_is_not_written_through_a_planted_link(mixed_folder, tmp_path):
    """The old temporary was `.OUT.<pid>.tmp`, opened with truncate: a link planted there was followed."""
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / "out.parquet"
    os.symlink(victim, tmp_path / f".{out.name}.{os.getpid()}.tmp")
    umask = os.umask(0o022)
    try:
        run_bulk_job([mixed_folder / "good0.png"], DEFAULT_MODEL_DIR, out, options=BulkOptions(progress=False))
    finally:
        os.umask(umask)
    assert victim.read_text() == "precious"
    assert pq.read_table(out).num_rows == 1
    assert stat.S_IMODE(out.stat().st_mode) == 0o644  # the usual mode, not the temporary's 0600
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([".out.parquet.%d.tmp" % os.getpid(), "out.parquet",
                                                                 "pngs", "victim.txt"])


@pytest.mark.parametrize("force", [False, True])
def test_a_parquet_output_that_is_a_symlink_is_refused(mixed_folder, tmp_path, force):
    victim = tmp_path / "victim.parquet"
    out = tmp_path / "out.parquet"
    os.symlink(victim, out)  # dangling: the job would create the file it points to
    with pytest.raises(OutputExistsError, match="symbolic link"):
        run_bulk_job([mixed_folder / "good0.png"], DEFAULT_MODEL_DIR, out,
                     options=BulkOptions(progress=False), force=force)
    assert not victim.exists() and out.is_symlink()


def test_a_results_file_that_is_a_symlink_is_refused(tmp_path):
    victim = tmp_path / "victim.jsonl"
    results = tmp_path / "results.jsonl"
    os.symlink(victim, results)
    with pytest.raises(BatchJobError, match="symbolic link"):
        ResultsFile(results)
    assert not victim.exists()


KILL_MYSELF = "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"


def _killed_while_writing(code: str) -> None:
    """Run ``code`` in a child process, which SIGKILLs itself (``KILL_MYSELF``) while writing."""
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert child.returncode == -signal.SIGKILL, child.stderr


def test_what_a_killed_train_or_export_left_is_removed_by_the_next_write_beside_it(tmp_path):
    _killed_while_writing("from bitcluster.core.atomic import replacing_directory\n"
                          f"with replacing_directory({str(tmp_path / 'run_a')!r}) as tmp:\n"
                          "    (tmp / 'model.onnx').write_bytes(b'half')\n"
                          f"    {KILL_MYSELF}")
    assert [p.name.startswith("run_a.tmp-") for p in tmp_path.iterdir()] == [True]
    with replacing_directory(tmp_path / "run_b") as tmp:  # another run, into the same directory
        (tmp / "model.onnx").write_bytes(b"whole")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run_b"]


def test_what_a_killed_bulk_job_left_is_removed_by_the_next_job_beside_it(mixed_folder, tmp_path):
    out = tmp_path / "jobs" / "a.parquet"
    _killed_while_writing("from bitcluster.bulk.parquet import ParquetOutput\n"
                          "from bitcluster.bulk.batches import OUTPUT_SCHEMA\n"
                          f"with ParquetOutput({str(out)!r}, OUTPUT_SCHEMA):\n"
                          f"    {KILL_MYSELF}")
    assert len(list(out.parent.iterdir())) == 1 and not out.exists()
    run_bulk_job([mixed_folder / "good0.png"], DEFAULT_MODEL_DIR, out.with_name("b.parquet"),
                 options=BulkOptions(progress=False))
    assert sorted(p.name for p in out.parent.iterdir()) == ["b.parquet"]
