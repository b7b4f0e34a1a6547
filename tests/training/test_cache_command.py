"""``bitcluster cache list`` / ``prune``: what no run of this version can use goes, the rest and live builds stay."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from bitcluster import cli
from bitcluster.cli.cache_commands import human_size
from bitcluster.training.teacher import RECIPE_VERSION, TeacherConfig
from bitcluster.training.teacher.cache import (build_lock, build_lock_if_free, cache_key, entry_dir, lock_is_held,
                                               lock_path, write_entry)
from bitcluster.training.teacher.centring import CHOICE_SETTINGS

runner = CliRunner()
OLD = RECIPE_VERSION - 1


def _teacher(root: Path, recipe: int, seed: int, features: str = "pca") -> str:
    """A cache entry written as a build writes it, of ``recipe``; returns its key."""
    config = TeacherConfig(features=features, recipe=recipe)
    key = cache_key("ab" * 32, 10, seed, config)
    metadata = {"key": key, "data_hash": "ab" * 32, "data_name": "digits", "clusters": 10, "seed": seed,
                "config": config.as_dict(), "created": f"2026-12-0{recipe}T10:00:00+00:00",
                "features": {"kind": features, "centre": "none"}}
    weights = {"g_a.0.weight": torch.ones(4, 3)} if features == "autoencoder" else {}
    write_entry(entry_dir(root, key), metadata, {"responsibilities": np.full((50, 10), 0.1)}, weights)
    return key


def _decision(root: Path, recipe: int) -> Path:
    settings = {name: getattr(TeacherConfig(), name) for name in CHOICE_SETTINGS} | {"recipe": recipe}
    path = root / "centring" / f"decision-of-recipe-{recipe}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"centre": "none", "choice": {}, "key": {"data": "ab", "settings": settings}}))
    return path


def _files(root: Path) -> dict[str, int]:
    """Every file under ``root`` (relative path -> bytes)."""
    return {str(Path(folder, name).relative_to(root)): os.path.getsize(Path(folder, name))
            for folder, _, names in os.walk(root) for name in names}


def _bytes(path: Path) -> int:
    return sum(_files(path).values()) if path.is_dir() else path.stat().st_size


@pytest.fixture
def cache(tmp_path):
    """A cache root holding a teacher of each recipe, and what killed builds and older versions left."""
    root = tmp_path / "cache"
    keys = {"current": _teacher(root, RECIPE_VERSION, 0, "autoencoder"), "old": _teacher(root, OLD, 0),
            "old_ae": _teacher(root, OLD, 1, "autoencoder")}
    incomplete = entry_dir(root, "c" * 32)  # damaged by hand: its arrays are gone
    incomplete.mkdir()
    (incomplete / "metadata.json").write_text("{}")
    lock_path(root, "d" * 32).touch()  # a build SIGKILLed before it could unlink its lock
    killed = root / "teachers" / f".{'e' * 32}.k1ll3d"  # write_entry's temporary, never renamed
    killed.mkdir()
    (killed / "arrays.npz").write_bytes(b"x" * 300)
    _decision(root, RECIPE_VERSION)
    _decision(root, OLD)
    old_temporary = root / "centring" / f".{'f' * 32}.json.4242"  # a decision's writer died before its rename
    old_temporary.write_text("{}")
    os.utime(old_temporary, (time.time() - 7200, time.time() - 7200))
    (root / "centring" / f".{'9' * 32}.json.4343").write_text("{}")  # being written now
    (root / "mnist.npz").write_bytes(b"the data set, cached beside the teachers")
    return root, keys


def _invoke(*args: str):
    result = runner.invoke(cli.app, ["cache", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_list_shows_each_teacher_with_its_recipe_size_and_whether_this_version_can_use_it(cache):
    root, keys = cache
    lines = _invoke("list", "--cache-dir", str(root)).splitlines()
    assert lines[0] == f"teacher cache: {root} (this version reads recipe {RECIPE_VERSION})"
    row = {key: next(line for line in lines if line.startswith(key[:12])).split() for key in keys.values()}
    size = {key: _bytes(entry_dir(root, key)) for key in keys.values()}
    assert row[keys["current"]] == [keys["current"][:12], "digits", "10", "0", "autoencoder",
                                    str(RECIPE_VERSION), *human_size(size[keys["current"]]).split(),
                                    f"2026-12-0{RECIPE_VERSION}T10:00:00+00:00", "yes"]
    assert row[keys["old"]][1:6] == ["digits", "10", "0", "pca", str(OLD)]
    assert row[keys["old"]][-3:] == ["no", "(other", "recipe)"]
    assert row[keys["old_ae"]][2:5] == ["10", "1", "autoencoder"]
    assert next(line for line in lines if line.startswith("c" * 12)).endswith("no (incomplete)")
    teachers = sum(size.values()) + _bytes(entry_dir(root, "c" * 32))
    unusable = teachers - size[keys["current"]]
    assert f"4 teachers, {human_size(teachers)}; 3 this version cannot use ({human_size(unusable)})" in lines
    assert "centring decisions: 2 (1 usable)" in lines
    assert "builds under way or killed: 1 lock file, 3 temporaries (prune removes those of killed builds)" in lines
    data_set = (root / "mnist.npz").stat().st_size
    assert f"total: {human_size(sum(_files(root).values()) - data_set)}" in lines
    assert lines[-1].startswith("`bitcluster cache prune` removes what this version cannot use")
    _invoke("prune", "--cache-dir", str(root))
    lines = _invoke("list", "--cache-dir", str(root)).splitlines()
    assert any(line.startswith("1 teacher, 5") for line in lines)
    assert lines[-1].startswith("total: ")  # nothing left that prune would remove: no hint


def test_list_as_json_gives_full_keys_sizes_and_status(cache):
    root, keys = cache
    listed = json.loads(_invoke("list", "--cache-dir", str(root), "--json"))
    rows = {row["key"]: row for row in listed["teachers"]}
    assert set(rows) == {*keys.values(), "c" * 32}
    assert rows[keys["current"]] | {"path": None} == {
        "key": keys["current"], "path": None, "data_name": "digits", "clusters": 10, "seed": 0,
        "features": "autoencoder", "recipe": RECIPE_VERSION, "size": _bytes(entry_dir(root, keys["current"])),
        "created": f"2026-12-0{RECIPE_VERSION}T10:00:00+00:00", "status": "usable", "usable": True}
    assert [rows[k]["status"] for k in (keys["old"], "c" * 32)] == ["other recipe", "incomplete"]
    assert listed["centring"]["decisions"] == 2 and listed["centring"]["usable"] == 1
    assert listed["leftovers"]["locks"] == [str(lock_path(root, "d" * 32))]
    assert listed["size"] == sum(_files(root).values()) - (root / "mnist.npz").stat().st_size


def test_prune_removes_exactly_what_this_version_cannot_use_and_says_how_much(cache):
    root, keys = cache
    before = _files(root)
    output = _invoke("prune", "--cache-dir", str(root))
    after = _files(root)
    assert sorted(p.name for p in (root / "teachers").iterdir()) == [keys["current"]]
    assert sorted(p.name for p in (root / "centring").iterdir()) == [f".{'9' * 32}.json.4343",
                                                                     f"decision-of-recipe-{RECIPE_VERSION}.json"]
    assert (root / "mnist.npz").exists()
    assert set(after) < set(before)
    freed = sum(before.values()) - sum(after.values())
    assert output.splitlines()[-1] == f"freed {human_size(freed)} (7 items) in {root}"
    assert f"teachers/{keys['old']}  (teacher of recipe {OLD})" in output
    assert f"teachers/{'d' * 32}.lock  (lock file left by a killed build)" in output
    assert _invoke("prune", "--cache-dir", str(root)).splitlines() == [f"freed 0 B (0 items) in {root}"]


def test_dry_run_removes_nothing_and_lists_what_prune_removes(cache):
    root, _ = cache
    before = _files(root)
    for flags in ([], ["--all"]):
        dry = _invoke("prune", "--cache-dir", str(root), "--dry-run", *flags)
        assert _files(root) == before
        assert lock_path(root, "d" * 32).exists()
    dry = _invoke("prune", "--cache-dir", str(root), "--dry-run")
    real = _invoke("prune", "--cache-dir", str(root))
    assert dry.replace("would remove", "removed").replace("would free", "freed") == real


def test_all_removes_every_teacher_and_decision_but_no_data_set(cache):
    root, _ = cache
    output = _invoke("prune", "--cache-dir", str(root), "--all")
    assert list((root / "teachers").iterdir()) == []
    assert [p.name for p in (root / "centring").iterdir()] == [f".{'9' * 32}.json.4343"]  # a writer alive
    assert (root / "mnist.npz").exists()
    assert f"(teacher of recipe {RECIPE_VERSION})" in output


def test_a_key_whose_lock_a_live_build_holds_is_kept_whole(cache):
    root, keys = cache
    building = root / "teachers" / f".{keys['old']}.l1ve"  # a build of that key writing now
    building.mkdir()
    with build_lock(root, keys["old"]):
        assert lock_is_held(root, keys["old"])
        for flags in (["--dry-run"], [], ["--all"]):
            output = _invoke("prune", "--cache-dir", str(root), *flags)
            assert f"kept {keys['old'][:12]}: a live build holds its lock" in output
            assert keys["old"] not in output
            assert building.is_dir() and entry_dir(root, keys["old"]).is_dir()
            assert lock_path(root, keys["old"]).exists()
    output = _invoke("prune", "--cache-dir", str(root))
    assert not building.exists() and not entry_dir(root, keys["old"]).exists()
    assert not lock_path(root, keys["old"]).exists()


def test_the_non_blocking_lock_yields_false_when_held_and_removes_a_stale_lock_file_when_free(tmp_path):
    lock_path(tmp_path, "k").parent.mkdir(parents=True)
    assert not lock_is_held(tmp_path, "k") and not lock_path(tmp_path, "k").exists()  # the probe creates nothing
    with build_lock(tmp_path, "k"):
        with build_lock_if_free(tmp_path, "k") as free:
            assert free is False
        assert lock_path(tmp_path, "k").exists()  # still the holder's
    lock_path(tmp_path, "k").touch()
    with build_lock_if_free(tmp_path, "k") as free:
        assert free is True and lock_is_held(tmp_path, "k")
    assert not lock_path(tmp_path, "k").exists()


def test_a_cache_that_does_not_exist_is_listed_empty_and_not_created(tmp_path):
    root = tmp_path / "nowhere"
    assert "0 teachers, 0 B; 0 this version cannot use (0 B)" in _invoke("list", "--cache-dir", str(root))
    assert _invoke("prune", "--cache-dir", str(root)).strip() == f"freed 0 B (0 items) in {root}"
    assert not root.exists()


def test_sizes_are_written_in_binary_units():
    assert [human_size(n) for n in (0, 1023, 1024, 312 * 2**20, 3 * 2**40)] == [
        "0 B", "1023 B", "1.0 KiB", "312.0 MiB", "3072.0 GiB"]
