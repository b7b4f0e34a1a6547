"""A batch job's results file, ``RESULTS.jsonl``: its own state, appended chunk by chunk.

Results are JSON lines ``{"id", "cluster", "model_id"}``; no second file has to agree with them:

* each chunk of results is appended with one ``write`` and ``fsync``-ed before the next chunk is
  sent, so a finished chunk survives any crash;
* a crash in the middle of that ``write`` can leave only a torn last line without its newline.
  The next run cuts it before appending (the ids on it are simply done again), and a run that
  finishes always leaves whole lines. Only a tail that starts like a result line is cut: any
  other file (a model, an image, a text without a final newline) is refused untouched;
* the ids already in the file are what a rerun skips;
* one file holds the results of one model: a file mixing two is refused;
* the one lock: an exclusive ``flock`` on the open file keeps two jobs from writing it at once,
  and goes with the file descriptor, so a killed job never leaves a stale lock behind.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import stat
from pathlib import Path
from typing import Sequence

import numpy as np

from bitcluster.client.errors import BatchJobError
from bitcluster.core.atomic import fsync_directory


# How every line ``append`` writes begins (json.dumps of a dict whose first key is "id").
RESULT_LINE_START = b'{"id": '


def parse_results(data: bytes, name: str) -> tuple[int, list[dict]]:
    """Whole result lines of ``data``: ``(bytes they span, records)``; a torn tail is left out.

    Raises BatchJobError for a whole line that is not a result: a file this job did not write.
    """
    end = data.rfind(b"\n") + 1  # bytes after the last newline are a torn line
    tail = data[end:]
    if tail and not (tail.startswith(RESULT_LINE_START) or RESULT_LINE_START.startswith(tail)):
        raise BatchJobError(f"{name} does not end with a result line {{\"id\", \"cluster\", \"model_id\"}}; it "
                            "was not written by `bitcluster cluster --out` and is left untouched. Use another --out")
    records = []
    for number, line in enumerate(data[:end].split(b"\n")[:-1], start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            valid = (isinstance(record, dict) and isinstance(record.get("id"), str)
                     and isinstance(record.get("model_id"), str) and type(record.get("cluster")) is int)
        except ValueError:
            valid = False
        if not valid:
            raise BatchJobError(f"{name} line {number} is not a result line {{\"id\", \"cluster\", \"model_id\"}}; "
                                "it was not written by `bitcluster cluster --out`. Use another --out")
        records.append(record)
    return end, records


class ResultsFile:
    """``RESULTS.jsonl`` opened for appending: locked, torn tail cut, its ids and model read back.

    Attributes
    ----------
    done : the ids that have a result
    model_id : the model whose results the file holds, None while it is empty
    torn_bytes : bytes of a torn last line cut on opening (0 when there was none)
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self.torn_bytes = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        created = not self.path.exists()
        try:  # never through a symbolic link: a planted RESULTS.jsonl -> ~/.bashrc is not appended to
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o644)
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise BatchJobError(f"{self.path} is a symbolic link; results are written only to a regular "
                                    "file: give its real path as --out") from None
            raise
        try:
            if not stat.S_ISREG(os.fstat(self.fd).st_mode):
                raise BatchJobError(f"{self.path} is not a regular file; choose another --out")
            self._lock()
            if created:
                fsync_directory(self.path.parent)
            self._recover()
        except BaseException:
            os.close(self.fd)
            raise

    def _lock(self) -> None:
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BatchJobError(f"another job is writing {self.path}; wait for it to finish, or use another "
                                "--out") from None

    def _recover(self) -> None:
        size = os.fstat(self.fd).st_size
        data = os.pread(self.fd, size, 0) if size else b""
        end, records = parse_results(data, str(self.path))
        if end < size:  # an interrupted write: cut it, so that appends start on a fresh line
            os.ftruncate(self.fd, end)
            os.fsync(self.fd)
            self.torn_bytes = size - end
        models = {r["model_id"] for r in records}
        if len(models) > 1:
            raise BatchJobError(f"{self.path} mixes results of models {sorted(models)}; one file holds one model's "
                                "results. Use another --out")
        self.model_id: str | None = models.pop() if models else None
        self.done: set[str] = set()
        for r in records:
            if r["id"] in self.done:
                raise BatchJobError(f"{self.path} holds two results for {r['id']!r}; it was not written by "
                                    "`bitcluster cluster --out` alone. Use another --out")
            self.done.add(r["id"])

    def append(self, ids: Sequence[str], clusters: np.ndarray, model_id: str) -> None:
        """One chunk: ids (N,) and clusters (N,) in one write of whole lines, then fsync."""
        data = "".join(json.dumps({"id": i, "cluster": int(c), "model_id": model_id}) + "\n"
                       for i, c in zip(ids, clusters, strict=True)).encode()
        view = memoryview(data)
        while view:  # os.write may write less than asked (a signal, a full disk)
            view = view[os.write(self.fd, view):]
        os.fsync(self.fd)
        self.done.update(ids)
        self.model_id = model_id

    def close(self) -> None:
        os.close(self.fd)  # also releases the lock

    def __enter__(self) -> "ResultsFile":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
