"""The teacher: stopping rule, pseudo-labels, its config, the on-disk cache and its races, quality on digits."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from bitcluster.data import load_dataset
from bitcluster.training.loop import batch_size_for
from bitcluster.training.teacher import TeacherCache, TeacherConfig, build_teacher, default_cache_dir
from bitcluster.training.teacher import build as teacher_build
from bitcluster.training.teacher.cache import cache_key, data_hash
from bitcluster.training.teacher.stopping import PlateauRule

# A small autoencoder teacher and a short cap: these tests check the plumbing, not the teacher's quality.
TINY = TeacherConfig(features="autoencoder", hidden=(32, 32, 64), latent=4, plateau_steps=20,
                     max_steps=60, gmm_restarts=2)
# The same config as the command line's --teacher-option values.
TINY_OPTIONS = ["features=autoencoder", "hidden=32,32,64", "latent=4", "plateau_steps=20",
                "max_steps=60", "gmm_restarts=2"]
# The default PCA teacher, with fewer GMM restarts.
TINY_PCA = TeacherConfig(gmm_restarts=2)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits").subset(n_train=400)


@pytest.fixture
def count_trainings(monkeypatch):
    """How many times a teacher's features were computed (an autoencoder trained, or PCA fitted)."""
    calls = []
    real = teacher_build.teacher_features

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(teacher_build, "teacher_features", counting)
    return calls


def test_plateau_rule_stops_on_a_flat_curve_and_not_on_a_falling_one():
    rule = PlateauRule(window=5, tolerance=0.01, max_epochs=1000)
    falling = [100.0 * 0.97**e for e in range(40)]  # 3% per epoch: ~14% per window
    flat = [50.0 + 0.001 * np.sin(e) for e in range(40)]
    assert all(rule.stop_reason(falling[:k]) is None for k in range(1, 41))
    assert rule.stop_reason(flat[:5]) is None  # no full window yet
    assert rule.stop_reason(flat[:6]).startswith("plateau")
    # a falling curve that flattens stops soon after it flattens, not before
    bend = [100.0 * 0.9**e for e in range(20)] + [100.0 * 0.9**19] * 20
    first_stop = next(k for k in range(1, 41) if rule.stop_reason(bend[:k]))
    assert 20 < first_stop <= 26


def test_plateau_rule_caps_epochs_and_stops_on_divergence():
    rule = PlateauRule(window=3, tolerance=0.0, max_epochs=10)
    assert rule.stop_reason([10.0 - e for e in range(10)]).startswith("max_epochs")
    assert rule.stop_reason([3.0, 2.0, float("nan")]) == "non-finite loss"
    assert rule.stop_reason([1.0, 2.0, 3.0, 4.0]).startswith("plateau")  # rising is no progress


def test_stopping_window_counts_steps_so_small_data_gets_more_epochs():
    config = TeacherConfig()
    small, large = config.plateau_rule(1_000), config.plateau_rule(60_000)
    assert small.window > large.window
    # about the same number of Adam steps per judgement either way
    assert small.window * np.ceil(1_000 / batch_size_for(1_000, config.batch_size)) >= config.plateau_steps
    assert large.window * np.ceil(60_000 / 256) >= config.plateau_steps


def test_cache_key_changes_with_data_and_every_config_setting():
    x = np.zeros((10, 4), np.float32)
    base = cache_key(data_hash(x), 10, 0, TINY)
    x2 = x.copy()
    x2[3, 1] = 1.0
    assert cache_key(data_hash(x2), 10, 0, TINY) != base
    assert cache_key(data_hash(x.reshape(20, 2)), 10, 0, TINY) != base  # same bytes, other shape
    assert cache_key(data_hash(x), 9, 0, TINY) != base
    assert cache_key(data_hash(x), 10, 1, TINY) != base
    for change in ({"hidden": (32, 32, 65)}, {"umap_neighbors": 21}, {"gmm_restarts": 3}, {"recipe": 99},
                   {"features": "pca"}, {"pca_components": 20}):
        assert cache_key(data_hash(x), 10, 0, TeacherConfig(**{**TINY.__dict__, **change})) != base
    assert cache_key(data_hash(x.copy()), 10, 0, TeacherConfig(**TINY.__dict__)) == base


def test_second_build_is_read_from_the_cache(digits, tmp_path, count_trainings):
    first = build_teacher(digits, 10, 0, config=TINY, cache=TeacherCache(tmp_path), progress=False)
    second = build_teacher(digits, 10, 0, config=TINY, cache=TeacherCache(tmp_path), progress=False)
    assert len(count_trainings) == 1
    assert first.path == second.path and second.path.parent == tmp_path / "teachers"
    np.testing.assert_array_equal(first.responsibilities, second.responsibilities)
    np.testing.assert_array_equal(first.embedding, second.embedding)
    meta = json.loads((second.path / "metadata.json").read_text())
    assert meta["data_hash"] == data_hash(digits.x_train) and meta["config"] == TINY.as_dict()
    assert set(meta["seconds"]) >= {"features", "umap", "gmm", "total"}
    assert meta["features"]["kind"] == "autoencoder" and meta["autoencoder"]["epochs"] >= 1
    assert 0.0 <= meta["train_scores"]["acc"] <= 1.0
    assert {p.name for p in second.path.iterdir()} == {"metadata.json", "arrays.npz", "autoencoder.safetensors"}
    # the cached weights are the trained network: it reproduces the cached embedding
    import torch

    with torch.no_grad():
        z = second.autoencoder().g_a(torch.from_numpy(digits.x_train)).numpy()
    np.testing.assert_allclose(z, second.embedding, rtol=1e-4, atol=1e-4)


def test_other_seed_or_no_cache_builds_again(digits, tmp_path, count_trainings):
    build_teacher(digits, 10, 0, config=TINY, cache=TeacherCache(tmp_path), progress=False)
    build_teacher(digits, 10, 1, config=TINY, cache=TeacherCache(tmp_path), progress=False)
    assert len(count_trainings) == 2
    fresh = build_teacher(digits, 10, 0, config=TINY, cache=TeacherCache(tmp_path, enabled=False), progress=False)
    assert len(count_trainings) == 3 and fresh.path is None
    assert len(list((tmp_path / "teachers").glob("*/metadata.json"))) == 2


def test_racing_builders_leave_one_valid_entry(digits, tmp_path, count_trainings):
    results, errors = [], []

    def build():
        try:
            results.append(build_teacher(digits, 10, 0, config=TINY, cache=TeacherCache(tmp_path), progress=False))
        except Exception as e:  # noqa: BLE001 - reported by the assertion below
            errors.append(e)

    threads = [threading.Thread(target=build) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 2
    assert len(count_trainings) == 1  # the second waited for the lock, then reused the entry
    entries = [p for p in (tmp_path / "teachers").iterdir() if p.is_dir()]
    assert len(entries) == 1 and not entries[0].name.startswith(".")
    np.testing.assert_array_equal(results[0].responsibilities, results[1].responsibilities)


def test_responsibilities_are_distributions_over_k(digits, tmp_path):
    teacher = build_teacher(digits, 7, 0, config=TINY, cache=TeacherCache(tmp_path), progress=False)
    r = teacher.responsibilities
    assert r.shape == (len(digits.x_train), 7) and np.all(r >= 0)
    np.testing.assert_allclose(r.sum(axis=1), 1.0, atol=1e-6)
    assert teacher.embedding.shape == (len(digits.x_train), 4)
    assert teacher.manifold.shape == (len(digits.x_train), 7)  # UMAP into K dimensions


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("BITCLUSTER_CACHE_DIR", str(tmp_path / "elsewhere"))
    assert default_cache_dir() == tmp_path / "elsewhere"


@pytest.mark.slow
def test_default_teacher_on_digits_beats_kmeans_on_pixels(digits_teacher):
    """The default teacher (the session's, stopped by the plateau rule) beats K-means on pixels by a clear margin."""
    from sklearn.cluster import KMeans

    from bitcluster.core.metrics import cluster_accuracy

    from bitcluster.training.teacher.centring import resolve_centring

    data = load_dataset("digits")
    kmeans_acc = cluster_accuracy(data.y_train, KMeans(10, n_init=10, random_state=0).fit(data.x_train).labels_)
    # the images as a default run makes them (centring auto, the session's cached decision), then its teacher
    images, _ = resolve_centring(data, 10, 0, "auto", config=TeacherConfig(), cache=TeacherCache())
    teacher = build_teacher(images, 10, 0, progress=False)  # the session's, built once by its defaults
    assert teacher.metadata["key"] == digits_teacher["key"]
    assert teacher.metadata["features"]["kind"] == "pca" and teacher.metadata["autoencoder"] is None
    assert cluster_accuracy(data.y_train, teacher.labels) >= kmeans_acc + 0.06


def test_train_caches_its_teacher_where_cache_dir_says_and_nowhere_with_no_cache(tmp_path, monkeypatch,
                                                                                 count_trainings):
    from typer.testing import CliRunner

    from bitcluster import cli

    rng = np.random.default_rng(0)
    y = np.arange(200) % 3
    x = np.clip(rng.uniform(0, 1, (3, 8, 8))[y] + rng.normal(0, 0.05, (200, 8, 8)), 0, 1).astype(np.float32)
    np.savez(tmp_path / "blobs.npz", x=x, y=y)
    teacher_options = [arg for option in TINY_OPTIONS for arg in ("--teacher-option", option)] + ["--centring", "none"]

    def train(out, *options):
        result = CliRunner().invoke(cli.app, ["train", "--method", "vab", "--data", str(tmp_path / "blobs.npz"),
                                              "--clusters", "3", "--bits", "4", "--epochs", "2", "--quiet",
                                              "--out", str(tmp_path / out), *teacher_options, *options])
        assert result.exit_code == 0, result.output

    in_default = set(default_cache_dir().glob("teachers/*/metadata.json"))
    train("cached", "--cache-dir", str(tmp_path / "mine"))
    assert len(list((tmp_path / "mine" / "teachers").glob("*/metadata.json"))) == 1 and len(count_trainings) == 1
    train("again", "--cache-dir", str(tmp_path / "mine"))
    assert len(count_trainings) == 1  # read back from --cache-dir
    train("uncached", "--cache-dir", str(tmp_path / "other"), "--no-cache")
    assert len(count_trainings) == 2 and not (tmp_path / "other").exists()
    assert set(default_cache_dir().glob("teachers/*/metadata.json")) == in_default  # nor into the default

    # Each run's metrics say which teacher it learned from, and whether it was read or built.
    used = {run: json.loads((tmp_path / run / "metrics.json").read_text())["teachers"]
            for run in ("cached", "again", "uncached")}
    assert [[t["source"] for t in used[run]] for run in used] == [["built"], ["cache"], ["built, not cached"]]
    entry = next((tmp_path / "mine" / "teachers").glob("*/metadata.json")).parent
    assert used["cached"][0]["path"] == used["again"][0]["path"] == str(entry)
    assert used["cached"][0]["key"] == used["again"][0]["key"] == used["uncached"][0]["key"] == entry.name
    assert used["uncached"][0]["path"] is None
    assert used["again"][0]["train_scores"]["acc"] == used["cached"][0]["train_scores"]["acc"] > 0
    # the teacher config given on the command line is the one built, and the run records it
    assert json.loads((entry / "metadata.json").read_text())["config"] == TINY.as_dict()
    assert json.loads((tmp_path / "cached" / "config.json").read_text())["teacher"] == TINY.as_dict()
    assert used["cached"][0]["config"] == TINY.as_dict()


def test_teacher_options_are_read_by_field_type_and_refused_with_the_names_when_unknown():
    assert TeacherConfig.from_options(TINY_OPTIONS) == TINY
    assert TeacherConfig.from_options(["umap_components=none", "umap_min_dist=0.5"]) == \
        TeacherConfig(umap_components=None, umap_min_dist=0.5)
    for bad, says in (("umap_neigbors=15", "NAME one of features, pca_components"), ("umap_neighbors", "NAME=VALUE"),
                      ("umap_neighbors=many", "umap_neighbors takes int"), ("recipe=2", "NAME one of")):
        with pytest.raises(ValueError, match=says):
            TeacherConfig.from_options([bad])


def test_the_command_line_refuses_a_bad_teacher_option_and_one_for_a_method_without_teacher(tmp_path):
    from typer.testing import CliRunner

    from bitcluster import cli

    bad = CliRunner().invoke(cli.app, ["teacher", "digits", "--teacher-option", "umap_neigbors=15", "--quiet"])
    assert bad.exit_code != 0 and "umap_neigbors" in bad.output and "umap_neighbors" in bad.output
    no_teacher = CliRunner().invoke(cli.app, ["train", "--method", "vab-paper", "--out", str(tmp_path / "run"),
                                             "--teacher-option", "umap_neighbors=15", "--quiet"])
    assert no_teacher.exit_code != 0 and "learns from no teacher" in no_teacher.output
    assert not (tmp_path / "run").exists()


def test_a_run_passes_its_teacher_config_and_cache_down_to_the_method(tmp_path, count_trainings):
    from bitcluster.training.pipeline import train_run

    small = load_dataset("digits").subset(n_train=300, n_test=60)
    metrics = train_run("ae-kmeans", small, tmp_path / "run", {"hidden": [32, 32, 64], "latent": 4, "bits": 8},
                        progress=False, teacher=TINY, teacher_cache=TeacherCache(tmp_path / "cache"))
    assert len(count_trainings) == 1
    (used,) = metrics["teachers"]
    assert used["source"] == "built" and used["path"].startswith(str(tmp_path / "cache"))
    assert used["config"] == TINY.as_dict()  # the method fixed latent and hidden; the rest is the run's


def test_a_build_removes_what_a_killed_builder_of_the_same_entry_left(digits, tmp_path):
    key = cache_key(data_hash(digits.x_train), 10, 0, TINY)
    leftover = tmp_path / "teachers" / f".{key}.k1ll3d"  # write_entry's temporary, never renamed
    leftover.mkdir(parents=True)
    (leftover / "arrays.npz").write_bytes(b"half")
    other = tmp_path / "teachers" / ".another-key.k1ll3d"
    other.mkdir()
    teacher = build_teacher(digits, 10, 0, config=TINY, cache=TeacherCache(tmp_path), progress=False)
    assert teacher.source == "built" and not leftover.exists()
    assert other.exists()  # another key's temporary may be a live build: its own builder cleans it


def test_a_pca_teacher_keeps_no_autoencoder_and_is_read_back_from_the_cache(digits, tmp_path, count_trainings):
    first = build_teacher(digits, 10, 0, config=TINY_PCA, cache=TeacherCache(tmp_path), progress=False)
    second = build_teacher(digits, 10, 0, config=TINY_PCA, cache=TeacherCache(tmp_path), progress=False)
    assert len(count_trainings) == 1 and second.source == "cache"
    assert first.embedding.shape == (len(digits.x_train), 50)  # PCA's components (digits have 64 pixels)
    np.testing.assert_array_equal(first.responsibilities, second.responsibilities)
    meta = second.metadata
    assert meta["features"]["kind"] == "pca" and meta["features"]["centre"] == "none"
    assert 0.9 < meta["features"]["explained_variance"] <= 1.0 and meta["autoencoder"] is None
    assert second.weights == {} and second.usage()["autoencoder_epochs"] is None
    with pytest.raises(ValueError, match="features='autoencoder'"):
        second.autoencoder()


def test_bad_features_are_refused_with_the_choices_and_centring_is_sent_to_the_run():
    with pytest.raises(ValueError, match="pca, autoencoder"):
        TeacherConfig(features="umap")
    with pytest.raises(ValueError, match="run's preprocessing.*--centring auto|mass|none"):
        TeacherConfig.from_options(["centring=mass"])
    assert TeacherConfig.from_options(["features=autoencoder"]) == TeacherConfig(features="autoencoder")
