"""Never lose a file: outputs are refused when something is there, and appear whole or not at all.

A directory output (a training run, an exported model) is written into a sibling temporary
directory ``DIR.tmp-<host>-<pid>-<random>`` and renamed into place once complete, so a crash
never leaves half a model where a service or a user will look for one; a file output the same way
(:func:`create_temporary_file`). What a killed process left behind is removed by the next write into the
same parent directory on that host, once its process is gone. An existing non-empty ``DIR`` is refused
before any work, unless replacing it was asked for (``--force``); it is then swapped out by
renames (old away, new in, old deleted) and the window without ``DIR`` is two ``rename`` calls.
Standard library only: the core stands alone.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import shutil
import socket
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


log = logging.getLogger(__name__)


class TargetExistsError(ValueError):
    """The output exists and is not empty, and replacing it was not asked for."""


def is_occupied(path: Path) -> bool:
    """True when ``path`` exists and is anything but an empty directory (a file, a link, a directory with entries)."""
    path = Path(path)
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        return True
    return path.is_dir() and any(path.iterdir())


def refuse_existing(target: Path, force: bool, option: str = "--out") -> None:
    """Raise :class:`TargetExistsError` when ``target`` is occupied and ``force`` is not set; touch nothing."""
    if not force and is_occupied(target):
        raise TargetExistsError(f"{target} already exists and is not empty; it was left untouched. Pass --force to "
                                f"replace it, or choose another {option}")


@contextmanager
def replacing_directory(target: Path, force: bool = False) -> Iterator[Path]:
    """A fresh sibling temporary directory to write into; on a clean exit it becomes ``target``.

    Parameters
    ----------
    target : the directory to create (or, with ``force``, replace)
    force : replace an occupied ``target``; without it an occupied ``target`` raises
        :class:`TargetExistsError`, both on entry (before any work) and again at the end (another
        process may have written it meanwhile)

    On an exception the temporary directory is deleted and ``target`` is as it was. A process
    killed mid-write leaves only ``target.tmp-<host>-<pid>-<hex>`` beside it, never a half
    ``target``; :func:`remove_abandoned_temporaries` clears it on the next write beside it.
    """
    target = Path(target)
    if target.parent.is_dir():
        remove_abandoned_temporaries(target.parent)
    refuse_existing(target, force)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Not tempfile.mkdtemp: its 0700 mode would follow the directory into place, unreadable to a
    # service running as another user. mkdir gives the usual mode (umask); the name is unique.
    tmp = target.with_name(_temporary_prefix(target) + secrets.token_hex(8))
    tmp.mkdir()
    try:
        yield tmp
        _fsync_tree(tmp)
        move_into_place(tmp, target, force)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _host() -> str:
    return socket.gethostname().replace("-", "_") or "localhost"


def _process_runs(pid: int) -> bool:
    """True while process ``pid`` of this host runs (another user's included)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it runs
        return True
    return True


def _temporary_prefix(target: Path) -> str:
    return f"{target.name}.tmp-{_host()}-{os.getpid()}-"


# A temporary of this module: NAME.tmp-<host>-<pid>-<random> (the host has no '-').
_TEMPORARY = re.compile(r".+\.tmp-(?P<host>[^-]+)-(?P<pid>[0-9]{1,9})-[A-Za-z0-9_]+")


def create_temporary_file(target: Path) -> tuple[int, Path]:
    """A new file beside ``target`` to write the output into: ``(open descriptor, path)``.

    The name is unpredictable and the file created exclusively (``tempfile.mkstemp``), so nothing
    planted under a guessed name (a symbolic link) is written through; its mode is the usual one
    (umask), not mkstemp's 0600, since it becomes ``target``. The caller writes it, closes the
    descriptor, renames the file into place and removes it on failure; what a killed process
    left is removed by :func:`remove_abandoned_temporaries`.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_abandoned_temporaries(target.parent)
    fd, name = tempfile.mkstemp(prefix=_temporary_prefix(target), dir=target.parent)
    os.fchmod(fd, 0o666 & ~_umask())
    return fd, Path(name)


def _umask() -> int:
    try:  # Linux: read it without changing it
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def remove_abandoned_temporaries(directory: Path) -> list[Path]:
    """Delete the temporaries in ``directory`` (``NAME.tmp-<host>-<pid>-<random>``, files or
    directories) of this host whose process no longer runs.

    Temporaries of other hosts (a shared filesystem), of running processes, symbolic links and
    names of any other shape are left alone. Returns what was removed.
    """
    removed = []
    for path in Path(directory).glob("*.tmp-*"):
        match = _TEMPORARY.fullmatch(path.name)
        if match is None or match["host"] != _host() or path.is_symlink():
            continue
        pid = int(match["pid"])
        if pid == os.getpid() or _process_runs(pid):
            continue
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        log.warning("removed %s, left behind by process %s, which no longer runs", path, pid)
        removed.append(path)
    return removed


def move_into_place(source: Path, target: Path, force: bool = False) -> None:
    """Rename ``source`` to ``target`` (same filesystem); an occupied ``target`` only with ``force``.

    With ``force`` the old ``target`` is renamed away first, and renamed back if the new one cannot
    go in; it is deleted only once the new one is in place.
    """
    source, target = Path(source), Path(target)
    refuse_existing(target, force)
    old = None
    if is_occupied(target):
        old = target.with_name(f"{target.name}.old-{secrets.token_hex(4)}")
        os.rename(target, old)
    elif target.is_dir():
        target.rmdir()  # an empty directory: renaming a file onto it would fail, a directory onto it may not
    try:
        os.rename(source, target)
    except BaseException as error:
        if old is not None:
            try:
                os.rename(old, target)
            except OSError:  # something took the name meanwhile: keep the old one where it is
                raise OSError(f"could not move {source} to {target} ({error}); what was there is kept in "
                              f"{old}") from error
        raise
    fsync_directory(target.parent)
    if old is not None:
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink(missing_ok=True)


def _fsync_tree(root: Path) -> None:
    """Flush every file under ``root`` to disk, so that what is renamed into place is what was written."""
    for directory, _, files in os.walk(root):
        for name in files:
            fd = os.open(os.path.join(directory, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_directory(Path(directory))


def fsync_directory(path: Path) -> None:
    """Make renames and new entries in ``path`` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
