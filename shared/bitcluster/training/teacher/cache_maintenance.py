"""What the teacher cache holds, and removing what no run of this version can use (``bitcluster cache``).

Every teacher's cache key holds its recipe (:data:`~bitcluster.training.teacher.config.RECIPE_VERSION`),
and every centring decision's key the recipe and the settings of the choice: once the recipe is
bumped, the older entries are never found again, and no build removes them (an autoencoder
teacher of MNIST is a few hundred MB). :func:`prune_cache` removes them, with what killed builds
left: entries with files missing, ``<key>.lock`` files and ``.<key>.*`` temporaries.

What it removes of a key it removes holding the key's build lock
(:func:`~bitcluster.training.teacher.cache.build_lock_if_free`): a key whose lock a live build holds
is kept whole, its temporaries included. Nothing outside ``teachers/`` and ``centring/`` is touched
(the data sets cached beside them stay).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from bitcluster.training.teacher.cache import (METADATA, build_lock_if_free, decisions_dir, entry_dir, is_complete,
                                               lock_is_held, lock_path, remove_stale_temporaries, teachers_dir)
from bitcluster.training.teacher.centring import CHOICE_SETTINGS
from bitcluster.training.teacher.config import RECIPE_VERSION

# A decision's temporary (.<key>.json.<pid>) lives between a write and a rename: one older than this
# belongs to a process that died in between.
DECISION_TEMPORARY_SECONDS = 3600.0

USABLE, OTHER_RECIPE, INCOMPLETE, UNREADABLE = "usable", "other recipe", "incomplete", "unreadable"


@dataclass(frozen=True)
class CachedTeacher:
    """One entry ``teachers/<key>/``.

    Attributes
    ----------
    key : the entry's name (32 hex digits)
    path : its directory
    size : bytes of its files
    status : ``usable`` (of this version's recipe), ``other recipe``, ``incomplete`` (files missing:
        damaged by hand, a build renames only complete entries into place) or ``unreadable``
        (``metadata.json`` is not a JSON object)
    metadata : what ``metadata.json`` holds; empty when incomplete or unreadable
    """

    key: str
    path: Path
    size: int
    status: str
    metadata: dict = field(default_factory=dict, repr=False)

    @property
    def usable(self) -> bool:
        return self.status == USABLE

    @property
    def recipe(self) -> int | None:
        return (self.metadata.get("config") or {}).get("recipe")

    @property
    def features(self) -> str | None:
        """The kind of features clustered (``pca``, ``autoencoder``)."""
        record = self.metadata.get("features")
        kind = record.get("kind") if isinstance(record, dict) else None
        return kind or (self.metadata.get("config") or {}).get("features")

    def row(self) -> dict:
        """What ``bitcluster cache list --json`` prints of it."""
        meta = self.metadata
        return {"key": self.key, "path": str(self.path), "data_name": meta.get("data_name"),
                "clusters": meta.get("clusters"), "seed": meta.get("seed"), "features": self.features,
                "recipe": self.recipe, "size": self.size, "created": meta.get("created"), "status": self.status,
                "usable": self.usable}


@dataclass(frozen=True)
class CentringDecision:
    """One file ``centring/<key>.json``: usable when made for this recipe with the current choice settings."""

    path: Path
    size: int
    usable: bool


@dataclass(frozen=True)
class CacheContents:
    """What a cache root holds of teachers (:func:`read_cache`).

    Attributes
    ----------
    root : the cache root
    recipe : the recipe the entries were judged against
    teachers : the entries, oldest first (unknown creation last)
    decisions : the centring decisions
    locks : ``teachers/<key>.lock`` files: of a build under way, or left by a killed one
    temporaries : ``teachers/.<key>.*`` directories: of a build under way, or left by a killed one
    decision_temporaries : ``centring/.<key>.json.<pid>`` files
    """

    root: Path
    recipe: int
    teachers: list[CachedTeacher]
    decisions: list[CentringDecision]
    locks: list[Path]
    temporaries: list[Path]
    decision_temporaries: list[Path]

    @property
    def size(self) -> int:
        """Bytes of everything listed."""
        return (sum(t.size for t in self.teachers) + sum(d.size for d in self.decisions)
                + sum(map(size_on_disk, self.locks + self.temporaries + self.decision_temporaries)))


@dataclass(frozen=True)
class Removal:
    """One thing :func:`prune_cache` removed (or, on a dry run, would remove): ``what`` says why."""

    path: Path
    what: str
    size: int


@dataclass(frozen=True)
class PruneResult:
    """What :func:`prune_cache` did: ``removed`` (what it would remove, when ``dry_run``), and the keys
    it kept whole because a live build holds their lock (``locked``)."""

    removed: list[Removal]
    locked: list[str]
    dry_run: bool

    @property
    def freed(self) -> int:
        return sum(r.size for r in self.removed)


def read_cache(root: Path, recipe: int = RECIPE_VERSION) -> CacheContents:
    """The teachers, centring decisions and leftovers under ``root``; reads and changes nothing else."""
    root = Path(root)
    teachers, locks, temporaries = [], [], []
    for path in _children(teachers_dir(root)):
        if path.name.startswith(".") and path.is_dir():
            temporaries.append(path)
        elif path.suffix == ".lock" and path.is_file():
            locks.append(path)
        elif path.is_dir() and not path.is_symlink():
            teachers.append(_read_teacher(path, recipe))
    teachers.sort(key=lambda t: (t.metadata.get("created") is None, str(t.metadata.get("created")), t.key))
    decisions, decision_temporaries = [], []
    for path in _children(decisions_dir(root)):
        if path.name.startswith(".") and path.is_file():
            decision_temporaries.append(path)
        elif path.suffix == ".json" and path.is_file():
            decisions.append(CentringDecision(path, size_on_disk(path), _decision_is_usable(path, recipe)))
    return CacheContents(root, recipe, teachers, decisions, locks, temporaries, decision_temporaries)


def prune_cache(root: Path, *, everything: bool = False, dry_run: bool = False,
                recipe: int = RECIPE_VERSION) -> PruneResult:
    """Remove what no run of ``recipe`` can use; with ``everything``, every teacher and centring decision.

    Always removed: teachers of other recipes, incomplete or unreadable ones, lock files and
    temporaries that killed builds left, centring decisions of other recipes or choice settings,
    and their temporaries older than :data:`DECISION_TEMPORARY_SECONDS`. Each key is handled
    holding its build lock; a key whose lock is held is left alone and reported in ``locked``.
    With ``dry_run`` nothing is removed (and no lock is taken): the result says what would be.
    """
    contents = read_cache(root, recipe)
    stale_locks = set(contents.locks)
    keys = {t.key for t in contents.teachers if everything or not t.usable}
    keys |= {_temporary_key(p) for p in contents.temporaries} | {p.stem for p in contents.locks}
    removed, locked = [], []
    for key in sorted(keys):
        if dry_run:
            if lock_is_held(contents.root, key):
                locked.append(key)
            else:
                removed += _teacher_removals(contents.root, key, recipe, everything, stale_locks)
            continue
        with build_lock_if_free(contents.root, key) as free:
            if not free:
                locked.append(key)
                continue
            # judged again holding the lock: a build may have replaced what read_cache saw
            planned = _teacher_removals(contents.root, key, recipe, everything, stale_locks)
            entry = entry_dir(contents.root, key)
            if any(r.path == entry for r in planned):
                shutil.rmtree(entry)
            remove_stale_temporaries(entry)
            removed += planned  # the lock file goes when the lock is released
    now = time.time()
    planned = [Removal(d.path, "centring decision" + ("" if d.usable else " of another recipe or choice"), d.size)
               for d in contents.decisions if everything or not d.usable]
    planned += [Removal(p, "temporary left by a killed centring decision", size_on_disk(p))
                for p in contents.decision_temporaries if now - _mtime(p, now) > DECISION_TEMPORARY_SECONDS]
    for removal in planned:
        if not dry_run:
            _remove(removal.path)
        removed.append(removal)
    return PruneResult(removed, locked, dry_run)


def size_on_disk(path: Path) -> int:
    """Bytes of a file, or of every file under a directory (symbolic links not followed)."""
    try:
        if not path.is_dir() or path.is_symlink():
            return path.lstat().st_size
        total = 0
        for folder, _, files in os.walk(path):
            for name in files:
                try:
                    total += (Path(folder) / name).lstat().st_size
                except FileNotFoundError:  # removed meanwhile by its builder
                    pass
        return total
    except FileNotFoundError:
        return 0


def _teacher_removals(root: Path, key: str, recipe: int, everything: bool, stale_locks: set[Path]) -> list[Removal]:
    """What to remove of ``key``: its entry (of no use, or ``everything``), its temporaries, its stale lock file."""
    entry = entry_dir(root, key)
    planned = []
    if entry.is_dir() and not entry.is_symlink():
        teacher = _read_teacher(entry, recipe)
        if everything or not teacher.usable:
            what = (f"teacher of recipe {teacher.recipe}" if teacher.status in (USABLE, OTHER_RECIPE)
                    else f"{teacher.status} teacher")
            planned.append(Removal(entry, what, teacher.size))
    planned += [Removal(p, "temporary left by a killed build", size_on_disk(p))
                for p in sorted(entry.parent.glob(f".{key}.*"))]  # what remove_stale_temporaries removes
    lock = lock_path(root, key)
    if lock in stale_locks:
        planned.append(Removal(lock, "lock file left by a killed build", size_on_disk(lock)))
    return planned


def _temporary_key(path: Path) -> str:
    return path.name[1:].split(".")[0]  # .<key>.<random>: write_entry's temporary directory


def _read_teacher(path: Path, recipe: int) -> CachedTeacher:
    size = size_on_disk(path)
    if not is_complete(path):
        return CachedTeacher(path.name, path, size, INCOMPLETE)
    try:
        metadata = json.loads((path / METADATA).read_text())
    except (OSError, ValueError):
        metadata = None
    if not isinstance(metadata, dict):
        return CachedTeacher(path.name, path, size, UNREADABLE)
    status = USABLE if (metadata.get("config") or {}).get("recipe") == recipe else OTHER_RECIPE
    return CachedTeacher(path.name, path, size, status, metadata)


def _decision_is_usable(path: Path, recipe: int) -> bool:
    """Whether the current code can find it: its key's settings are :data:`CHOICE_SETTINGS`, its recipe ``recipe``."""
    try:
        settings = json.loads(path.read_text())["key"]["settings"]
        return set(settings) == set(CHOICE_SETTINGS) and settings["recipe"] == recipe
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _children(folder: Path) -> list[Path]:
    return sorted(folder.iterdir()) if folder.is_dir() else []


def _mtime(path: Path, default: float) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return default


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
