"""``bitcluster cluster ... --out RESULTS.jsonl``: a resumable batch job with exactly one result per input.

Inputs are image files, directories of them, or ``.npz`` files (``x`` or ``x_test``); each input
has a stable id, its path or ``path[i]`` for the i-th image of an array. Results are JSON lines
``{"id", "cluster", "model_id"}``.

The results file is its own state; no second file has to agree with it:

* each chunk of results (one vendor request, one consumer request) is appended with one
  ``write`` and ``fsync``-ed before the next chunk is sent, so a finished chunk survives any crash;
* a crash in the middle of that ``write`` can leave only a torn last line without its newline.
  The next run cuts it before appending (the ids on it are simply done again), and a run that
  finishes always leaves whole lines;
* a rerun with the same ``--out`` skips every id already in the file, which is what makes the
  job resumable and each input's result unique;
* one file holds the results of one model: a file written under another ``model_id`` is refused,
  and so is a vendor or consumer that changes model mid-run;
* a chunk is retried while a service is down or restarting (connection errors, 502/503/504), with
  backoff, for at most ``retry_for_s`` seconds; then the job stops, and a rerun resumes it;
* an exclusive lock on the file keeps two jobs from writing it at once.
"""

from __future__ import annotations

import json
import os
import re
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence, TypeVar, Union

import httpx
import numpy as np

from bitcluster.client.http_client import BitclusterClient, BitclusterError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
TRANSIENT_STATUSES = (502, 503, 504)
T = TypeVar("T")


class InputError(ValueError):
    """An input path that is neither an image file, a directory of them, nor a usable ``.npz``."""


class BatchJobError(RuntimeError):
    """The job cannot go on. Results already written stay valid; the message says what to do."""


# -- inputs ---------------------------------------------------------------------------------
@dataclass
class InputGroup:
    """Inputs sent in the same requests: image files, or the (N, H, W) images of one ``.npz``."""

    ids: list[str]
    images: Union[list[Path], np.ndarray]

    def take(self, positions: list[int]) -> Union[list[Path], np.ndarray]:
        if isinstance(self.images, np.ndarray):
            return self.images[positions]
        return [self.images[i] for i in positions]


def _load_npz(path: Path) -> np.ndarray:
    try:
        with np.load(path) as f:
            key = next((k for k in ("x", "x_test") if k in f), None)
            if key is None:
                raise InputError(f"{path} has neither 'x' nor 'x_test' (it has {sorted(f.files)})")
            x = f[key]
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        if isinstance(e, InputError):
            raise
        raise InputError(f"{path} cannot be read as an .npz file ({e})") from None
    if x.ndim == 2 and round(x.shape[1] ** 0.5) ** 2 == x.shape[1]:
        side = round(x.shape[1] ** 0.5)
        x = x.reshape(len(x), side, side)  # flat square images
    if x.ndim != 3:
        raise InputError(f"{path}:{key} must be (N, H, W) or (N, H*W) square images, got {x.shape}")
    return x


def collect_inputs(paths: Sequence[Path]) -> list[InputGroup]:
    """The command line's inputs, in order, as groups: each run of image files, then each ``.npz``.

    Ids are the paths as given (``dir/name.png`` for a directory's files) and ``path[i]`` for the
    images of an array, so the same command line gives the same ids on every run.
    """
    groups: list[InputGroup] = []
    files: list[Path] = []

    def flush() -> None:
        if files:
            groups.append(InputGroup([str(p) for p in files], list(files)))
            files.clear()

    for path in map(Path, paths):
        if path.suffix.lower() == ".npz":
            flush()
            x = _load_npz(path)
            groups.append(InputGroup([f"{path}[{i}]" for i in range(len(x))], x))
        elif path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise InputError(f"{path} holds no {'/'.join(IMAGE_SUFFIXES)} files")
            files += found
        elif path.suffix.lower() in IMAGE_SUFFIXES:
            files.append(path)
        else:
            raise InputError(f"{path}: expected PNG/JPEG files, a directory of them, or a .npz")
    flush()
    return groups


@dataclass
class Chunk:
    ids: list[str]
    images: Union[list[Path], np.ndarray]


def plan_chunks(groups: Sequence[InputGroup], done: set[str], chunk_size: int) -> tuple[list[Chunk], int]:
    """The chunks still to do, in input order, and how many inputs repeat an earlier input's id.

    An id given twice (the same file named twice, or a file and its directory) gets one result.
    """
    given, repeats, chunks = set(), 0, []
    for group in groups:
        todo = []
        for i, input_id in enumerate(group.ids):
            if input_id in given:
                repeats += 1
                continue
            given.add(input_id)
            if input_id not in done:
                todo.append(i)
        for start in range(0, len(todo), chunk_size):
            positions = todo[start:start + chunk_size]
            chunks.append(Chunk([group.ids[i] for i in positions], group.take(positions)))
    return chunks, repeats


# -- the results file -----------------------------------------------------------------------
def parse_results(data: bytes, name: str) -> tuple[int, list[dict]]:
    """Whole result lines of ``data``: ``(bytes they span, records)``; a torn tail is left out.

    Raises BatchJobError for a whole line that is not a result: a file this job did not write.
    """
    end = data.rfind(b"\n") + 1  # bytes after the last newline are a torn line
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
    """``RESULTS.jsonl`` opened for appending: locked, torn tail cut, its ids and model read back."""

    def __init__(self, path: Path):
        self.path = path
        self.torn_bytes = 0
        path.parent.mkdir(parents=True, exist_ok=True)
        created = not path.exists()
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            self._lock()
            if created:
                _fsync_dir(path.parent)
            self._recover()
        except BaseException:
            os.close(self.fd)
            raise

    def _lock(self) -> None:
        try:
            import fcntl
        except ImportError:  # not POSIX: no lock, the rest still holds
            return
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
        self.model_id = models.pop() if models else None
        self.done: set[str] = set()
        for r in records:
            if r["id"] in self.done:
                raise BatchJobError(f"{self.path} holds two results for {r['id']!r}; it was not written by "
                                    "`bitcluster cluster --out` alone. Use another --out")
            self.done.add(r["id"])

    def append(self, ids: Sequence[str], clusters: np.ndarray, model_id: str) -> None:
        """One chunk: one write of whole lines, then fsync, before the next chunk is sent."""
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


def _fsync_dir(path: Path) -> None:
    """Make a new file's directory entry durable too (a no-op where directories cannot be opened)."""
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


# -- retries --------------------------------------------------------------------------------
@dataclass(frozen=True)
class RetryPolicy:
    """Retry a request while its service is unreachable or answers 502/503/504.

    Waits ``first_delay_s``, doubling up to ``max_delay_s``, and gives up once the next wait would
    end more than ``retry_for_s`` seconds after the first failure.
    """

    retry_for_s: float = 120.0
    first_delay_s: float = 0.2
    max_delay_s: float = 5.0


def transient_reason(error: Exception) -> str | None:
    """Why ``error`` is worth a retry (a service down, restarting, overloaded), or None."""
    if isinstance(error, httpx.TransportError):
        return type(error).__name__
    if isinstance(error, BitclusterError) and error.status in TRANSIENT_STATUSES:
        return f"{error.status} {error.code}"
    return None


def with_retries(call: Callable[[], T], what: str, policy: RetryPolicy,
                 on_retry: Callable[[str], None]) -> tuple[T, int]:
    """``call()`` retried under ``policy``; returns its result and the number of retries.

    The last try starts at most ``retry_for_s`` seconds after the first failure, so the whole wait
    is bounded by that plus one request's timeout.
    """
    first_failure, delay, retries = None, policy.first_delay_s, 0
    while True:
        try:
            return call(), retries
        except (httpx.TransportError, BitclusterError) as e:
            reason = transient_reason(e)
            if reason is None:
                raise
            now = time.monotonic()
            first_failure = now if first_failure is None else first_failure
            left = policy.retry_for_s - (now - first_failure)
            if left <= 0:
                raise BatchJobError(f"{what} has been unavailable for {now - first_failure:.1f} s ({reason}); "
                                    f"gave up after --retry-for {policy.retry_for_s:g} s. Results so far are kept: "
                                    "rerun the same command to resume") from e
            pause = min(delay, left)
            on_retry(f"{what} unavailable ({reason}); retrying in {pause:.1f} s")
            time.sleep(pause)
            retries += 1
            delay = min(delay * 2, policy.max_delay_s)


# -- the job --------------------------------------------------------------------------------
@dataclass
class JobSummary:
    out: str
    model_id: str | None
    inputs: int
    already_done: int
    written: int
    repeated_ids: int = 0
    retries: int = 0
    torn_bytes_cut: int = 0
    seconds: float = 0.0


def _name_inputs(message: str, ids: Sequence[str]) -> str:
    """``files[3]`` / ``images[3]`` in a service's message -> the id of that input."""
    def name(m: re.Match) -> str:
        i = int(m.group(2))
        return repr(ids[i]) if i < len(ids) else m.group(0)

    return re.sub(r"\b(files|images)\[(\d+)\]", name, message)


def _progress_bar(enabled: bool):
    """A progress bar on stderr (drawn once, at the end, when stderr is not a terminal)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn("clustering"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=Console(stderr=True), disable=not enabled)


def run_batch_job(groups: Sequence[InputGroup], client: BitclusterClient, out: Path, *, chunk_size: int = 1024,
                  retry: RetryPolicy = RetryPolicy(), progress: bool = True,
                  log: Callable[[str], None] = lambda message: None) -> JobSummary:
    """Cluster every input not yet in ``out`` and append its result; see the module docstring.

    ``client`` should not retry on its own (``max_attempts=1``), so that ``retry`` is the one bound
    on waiting. ``log`` gets what a person should know: resuming, retries, a torn line cut.
    """
    started = time.monotonic()
    try:
        results = ResultsFile(Path(out))
    except OSError as e:
        raise BatchJobError(f"cannot open {out} for results: {e}") from None
    with results:
        chunks, repeats = plan_chunks(groups, results.done, chunk_size)
        already = len(_all_ids(groups) & results.done)
        summary = JobSummary(str(out), results.model_id, inputs=already + sum(len(c.ids) for c in chunks),
                             already_done=already, written=0, repeated_ids=repeats,
                             torn_bytes_cut=results.torn_bytes)
        if results.torn_bytes:
            log(f"cut a torn last line ({results.torn_bytes} bytes) left in {out} by an interrupted run")
        if already:
            log(f"resuming: {already} of {summary.inputs} inputs already have results in {out}")
        if chunks:
            _run_chunks(chunks, client, results, summary, retry, progress, log)
    summary.seconds = round(time.monotonic() - started, 3)
    return summary


def _run_chunks(chunks: list[Chunk], client: BitclusterClient, results: ResultsFile, summary: JobSummary,
                retry: RetryPolicy, progress: bool, log: Callable[[str], None]) -> None:
    def retried(call: Callable[[], T], what: str) -> T:
        value, n = with_retries(call, what, retry, log)
        summary.retries += n
        return value

    vendor, consumer = f"the vendor at {client.vendor_url}", f"the consumer at {client.consumer_url}"
    model_id = retried(lambda: client.vendor_model()["model_id"], vendor)
    consumer_id = retried(lambda: client.consumer_model()["model_id"], consumer)
    if consumer_id != model_id:
        raise BatchJobError(f"the vendor serves model {model_id} and the consumer model {consumer_id}; "
                            "deploy both halves from the same export")
    _refuse_mixing(results.model_id, model_id, results.path)
    summary.model_id = model_id

    with _progress_bar(progress) as bar:
        task = bar.add_task("cluster", total=summary.inputs, completed=summary.already_done)
        for chunk in chunks:
            try:
                got_id, bits, packed = retried(lambda: client.encode(chunk.images), vendor)
                if got_id != model_id:
                    raise BatchJobError(f"the vendor switched from model {model_id} to {got_id} during the job; "
                                        f"{results.path} keeps only model {model_id}'s results. Write the new "
                                        "model's results to another --out")
                clusters = retried(lambda: client.classify(model_id, bits, packed), consumer)
            except BitclusterError as e:
                raise BatchJobError(f"{_name_inputs(str(e), chunk.ids)} (in the chunk {chunk.ids[0]!r} .. "
                                    f"{chunk.ids[-1]!r}). Results so far are kept: fix the cause and rerun the "
                                    "same command to resume") from None
            except OSError as e:
                raise BatchJobError(f"cannot read an input of the chunk {chunk.ids[0]!r} .. {chunk.ids[-1]!r}: "
                                    f"{e}") from None
            try:
                results.append(chunk.ids, clusters, model_id)
            except OSError as e:
                raise BatchJobError(f"cannot write to {results.path} ({e}); the whole lines in it are kept: free "
                                    "the space or fix the cause and rerun the same command to resume") from None
            summary.written += len(chunk.ids)
            bar.advance(task, len(chunk.ids))


def _all_ids(groups: Sequence[InputGroup]) -> set[str]:
    return {i for g in groups for i in g.ids}


def _refuse_mixing(file_model: str | None, served_model: str, out: Path) -> None:
    if file_model is not None and served_model != file_model:
        raise BatchJobError(f"{out} holds results of model {file_model} and the vendor now serves model "
                            f"{served_model}; one results file never mixes two models. Write to another --out "
                            f"(or delete {out} to start over with the new model)")


def iter_clusters(groups: Sequence[InputGroup], client: BitclusterClient) -> Iterator[tuple[str, int]]:
    """Without ``--out``: ``(id, cluster)`` for every input, in order, nothing written or resumed."""
    for group in groups:
        for input_id, c in zip(group.ids, client.cluster(group.images)):
            yield input_id, int(c)
