"""A first run says what it does: the teacher build announced, no ETA to a cap, cleanup after SIGTERM,
collapse warned at export, sweep with the teacher's options and the data source recorded."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from bitcluster.cli import app
from bitcluster.training.loop import seeded_generator, train_epochs
from bitcluster.training.teacher import cache as cache_module

# An autoencoder teacher that builds in seconds (the UMAP of 300 points dominates).
TINY_TEACHER = ["features=autoencoder", "hidden=32", "latent=4", "max_steps=400", "gmm_restarts=1"]


def _teacher_options(options: list[str]) -> list[str]:
    """The command line's teacher options, and no centring (these tests are of the teacher's build, not of the choice)."""
    return [arg for option in options for arg in ("--teacher-option", option)] + ["--centring", "none"]


@pytest.fixture(scope="module")
def blobs_npz(tmp_path_factory):
    """300 + 60 images of 4x4: three noisy patterns."""
    rng = np.random.default_rng(0)
    patterns = rng.random((3, 4, 4))
    pick = lambda n: np.clip(patterns[rng.integers(0, 3, n)] + 0.05 * rng.standard_normal((n, 4, 4)), 0, 1)  # noqa: E731
    path = tmp_path_factory.mktemp("blobs") / "blobs.npz"
    np.savez(path, x_train=pick(300).astype(np.float32), x_test=pick(60).astype(np.float32))
    return path


@pytest.fixture(scope="module")
def tiny_teacher(blobs_npz, tmp_path_factory):
    """The tiny teacher of ``blobs_npz`` (K = 3) built by the command line: (cache dir, its stderr)."""
    cache = tmp_path_factory.mktemp("cache")
    result = CliRunner().invoke(app, ["teacher", str(blobs_npz), "--clusters", "3", "--cache-dir", str(cache),
                                      "--threads", "1", *_teacher_options(TINY_TEACHER)])
    assert result.exit_code == 0, result.output
    return cache, result.stderr


def _leftovers(*directories) -> list[str]:
    """Run temporaries, teacher lock files and teacher temporaries found in ``directories`` (recursively)."""
    found = []
    for directory in directories:
        found += [str(p) for p in directory.rglob("*") if ".tmp-" in p.name or p.suffix == ".lock"
                  or (p.parent.name == "teachers" and p.name.startswith("."))]
    return found


def test_the_teacher_build_says_what_it_builds_where_and_for_how_long_at_most(tiny_teacher):
    cache, stderr = tiny_teacher
    assert "learns from a teacher (PCA or autoencoder features + UMAP + GMM" in stderr
    assert f"Not in the cache: building it now, to be cached at {cache / 'teachers'}" in stderr
    # the plateau rule in words: its window, hence a minimum, and the cap from max_steps
    assert "so after at least" in stderr and "(max_steps=400)" in stderr
    assert "--epochs bounds the method's own training, not this autoencoder" in stderr
    assert "umap + gmm: 300 images" in stderr
    assert not _leftovers(cache)  # the lock file went with the build


def test_a_cached_teacher_is_said_to_be_found_and_quiet_says_nothing(tiny_teacher, blobs_npz):
    cache, _ = tiny_teacher
    args = ["teacher", str(blobs_npz), "--clusters", "3", "--cache-dir", str(cache), *_teacher_options(TINY_TEACHER)]
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0, again.output
    assert f"teacher: found in the cache at {cache / 'teachers'}" in again.stderr
    assert "building it now" not in again.stderr
    quiet = CliRunner().invoke(app, [*args, "--quiet"])
    assert quiet.exit_code == 0 and quiet.stderr == ""
    assert json.loads(quiet.stdout)["path"] == json.loads(again.stdout)["path"]


def test_a_bar_under_a_stop_rule_counts_epochs_to_the_cap_without_an_eta(capsys):
    net = torch.nn.Linear(2, 1)
    x = torch.randn(64, 2)
    rows = train_epochs(lambda xb, _idx: {"loss": net(xb).pow(2).mean()}, net.parameters(), x, 5000,
                        gen=seeded_generator(0), batch_size=16, lr=1e-2, phase="autoencoder", progress=True,
                        stop=lambda history: "enough" if len(history) == 3 else None)
    assert len(rows) == 3
    bar = capsys.readouterr().err
    assert "(at most 5000)" in bar
    assert "<" not in bar  # tqdm's "elapsed<remaining": no forecast to a cap the rule ends far sooner


def test_the_lock_file_goes_with_its_holder_and_a_waiter_is_told(tmp_path):
    inside, waited, order = threading.Event(), [], []

    def first():
        with cache_module.build_lock(tmp_path, "k"):
            inside.set()
            time.sleep(0.5)
            order.append("first out")

    holder = threading.Thread(target=first)
    holder.start()
    inside.wait(5)
    with cache_module.build_lock(tmp_path, "k", on_wait=waited.append):
        order.append("second in")
        assert cache_module.lock_path(tmp_path, "k").exists()  # the second holder's own file
    holder.join()
    assert order == ["first out", "second in"]  # never both inside, though the first unlinked its file
    assert waited == [cache_module.lock_path(tmp_path, "k")]
    assert not cache_module.lock_path(tmp_path, "k").exists()
    # a lock file left by a SIGKILLed holder (unlocked: the kernel dropped its lock) is taken and removed
    cache_module.lock_path(tmp_path, "k").touch()
    with cache_module.build_lock(tmp_path, "k", on_wait=waited.append):
        pass
    assert len(waited) == 1 and not cache_module.lock_path(tmp_path, "k").exists()


@pytest.mark.slow
def test_a_sigtermed_train_leaves_no_temporary_folder_and_no_lock(tmp_path, blobs_npz):
    cache = tmp_path / "cache"
    # a plateau window longer than the cap: the autoencoder trains until the signal comes
    never_stops = ["features=autoencoder", "hidden=32", "latent=4", "plateau_steps=1000000", "max_steps=1000000", "gmm_restarts=1"]
    command = [sys.executable, "-m", "bitcluster.cli", "train", "--data", str(blobs_npz), "--clusters", "3",
               "--epochs", "1", "--out", str(tmp_path / "runs" / "run"), "--cache-dir", str(cache), "--threads", "1",
               *_teacher_options(never_stops)]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        while not any(line.startswith("autoencoder: stops once") for line in lines):
            line = child.stderr.readline()
            assert line, "".join(lines)
            lines.append(line)
        assert list((tmp_path / "runs").glob("run.tmp-*")) and list(cache.glob("teachers/*.lock"))
        time.sleep(1.0)  # well inside the autoencoder's epochs
        child.send_signal(signal.SIGTERM)
        _, rest = child.communicate(timeout=60)
    finally:
        child.kill()
    assert child.returncode == 128 + signal.SIGTERM, rest
    assert "terminated (SIGTERM)" in rest
    assert not _leftovers(tmp_path / "runs", cache)
    assert not (tmp_path / "runs" / "run").exists()


def test_exporting_a_collapsed_run_warns_and_the_manifest_records_it(tmp_path, blobs_npz):
    # three patterns cannot fill ten clusters: the run is collapsed by its own metrics
    trained = CliRunner().invoke(app, ["train", "--method", "vab-paper", "--data", str(blobs_npz), "--clusters", "10",
                                       "--bits", "8", "--epochs", "2", "--out", str(tmp_path / "run"), "--quiet"])
    assert trained.exit_code == 0, trained.output
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["collapsed"] is True
    exported = CliRunner().invoke(app, ["export", str(tmp_path / "run"), "--out", str(tmp_path / "model")])
    assert exported.exit_code == 0, exported.output
    assert "warning: this run collapsed" in exported.stderr and "Try more epochs" in exported.stderr
    manifest = json.loads((tmp_path / "model" / "manifest.json").read_text())
    assert manifest["metrics"]["collapsed"] is True and manifest["metrics"]["warnings"]


def test_sweep_takes_the_teachers_options_and_records_where_its_data_is(tmp_path, tiny_teacher, blobs_npz):
    cache, _ = tiny_teacher
    args = ["sweep", "--method", "vab", "--bits", "4", "--seeds", "1", "--clusters", "3", "--epochs", "1",
            "--data", str(blobs_npz), "--out", str(tmp_path / "sweep"), "--cache-dir", str(cache),
            *_teacher_options(TINY_TEACHER)]
    swept = CliRunner().invoke(app, args)
    assert swept.exit_code == 0, swept.output
    assert "teacher: found in the cache" in swept.stderr  # the tiny teacher: its config reached the run
    run = tmp_path / "sweep" / "vab-b4-s0"
    config = json.loads((run / "config.json").read_text())
    assert config["teacher"]["hidden"] == [32] and config["teacher"]["max_steps"] == 400
    assert config["data_source"] == str(blobs_npz.resolve())
    evaluated = CliRunner().invoke(app, ["evaluate", str(run)])  # finds the npz from the sweep's record
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads(evaluated.stdout)["method"] == "vab"


def test_sweep_refuses_a_teacher_option_for_a_method_without_a_teacher_before_training(tmp_path, blobs_npz):
    result = CliRunner().invoke(app, ["sweep", "--method", "vab-paper", "--bits", "4", "--data", str(blobs_npz),
                                      "--out", str(tmp_path / "sweep"), "--teacher-option", "hidden=32"])
    assert result.exit_code == 2 and "vab-paper learns from no teacher" in result.stderr
    assert not (tmp_path / "sweep").exists()
