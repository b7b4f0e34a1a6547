"""``bitcluster cluster ... --out RESULTS.jsonl``: a resumable batch job with exactly one result per input.

The pieces are :mod:`.inputs` (inputs and their ids), :mod:`.results` (the results file, which is
the job's whole state, and its lock) and the client's :mod:`.retry` policy. This module runs
them: a rerun with the same ``--out`` skips every id already in the file, which is what makes the
job resumable and each input's result unique. Only the same job is resumed: a file holding
results of inputs this job does not have is another job's and is refused untouched, as is a
vendor or consumer serving another model than the file's, or one that changes model mid-run; a chunk is retried while a
service is down or restarting for at most ``--retry-for`` seconds, then the job stops and a rerun
resumes it.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

from bitcluster.client.errors import ITEM_NAME, BatchJobError, BitclusterError
from bitcluster.client.http_client import BitclusterClient
from bitcluster.client.inputs import Chunk, InputGroup, all_ids, plan_chunks
from bitcluster.client.results import ResultsFile
from bitcluster.client.retry import RetriesExhausted


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


def job_stopped(exhausted: RetriesExhausted) -> BatchJobError:
    """A service that stayed down past ``--retry-for``, as the job's reason to stop."""
    return BatchJobError(f"{exhausted.what} has been unavailable for {exhausted.unavailable_s:.1f} s "
                         f"({exhausted.reason}); gave up after --retry-for {exhausted.policy.retry_for_s:g} s. "
                         "Results so far are kept: rerun the same command to resume")


def run_batch_job(groups: Sequence[InputGroup], client: BitclusterClient, out: Path, *, chunk_size: int = 1024,
                  progress: bool = True, log: Callable[[str], None] = lambda message: None) -> JobSummary:
    """Cluster every input not yet in ``out`` and append its result; see the module docstring.

    ``client.retry`` bounds the wait for a service that is down (the CLI gives it ``--retry-for``
    and has it report retries to ``log`` too). ``log`` gets what a person should know: resuming,
    a torn line cut.
    """
    started = time.monotonic()
    try:
        results = ResultsFile(Path(out))
    except OSError as e:
        raise BatchJobError(f"cannot open {out} for results: {e}") from None
    with results:
        chunks, repeats = plan_chunks(groups, results.done, chunk_size)
        job_ids = all_ids(groups)
        already = len(job_ids & results.done)
        summary = JobSummary(str(out), results.model_id, inputs=already + sum(len(c.ids) for c in chunks),
                             already_done=already, written=0, repeated_ids=repeats,
                             torn_bytes_cut=results.torn_bytes)
        if results.torn_bytes:
            log(f"cut a torn last line ({results.torn_bytes} bytes) left in {out} by an interrupted run")
        if already:
            log(f"resuming: {already} of {summary.inputs} inputs already have results in {out}")
        if not chunks:
            check_same_job(results, job_ids)
        if chunks:
            retries_before = client.retries
            try:
                _run_chunks(chunks, client, results, summary, progress, job_ids)
            except RetriesExhausted as e:
                raise job_stopped(e) from None
            finally:
                summary.retries = client.retries - retries_before
    summary.seconds = round(time.monotonic() - started, 3)
    return summary


def served_model_id(client: BitclusterClient, results: ResultsFile) -> str:
    """The model both services serve, checked against the one the results file holds."""
    model_id = client.vendor_model()["model_id"]
    consumer_id = client.consumer_model()["model_id"]
    if consumer_id != model_id:
        raise BatchJobError(f"the vendor serves model {model_id} and the consumer model {consumer_id}; "
                            "deploy both halves from the same export")
    if results.model_id is not None and model_id != results.model_id:
        raise BatchJobError(f"{results.path} holds results of model {results.model_id} and the vendor now serves "
                            f"model {model_id}; one results file never mixes two models. Write to another --out "
                            f"(or delete {results.path} to start over with the new model)")
    return model_id


def check_same_job(results: ResultsFile, job_ids: set[str]) -> None:
    """Refuse a results file holding results of inputs this job does not have: another job's file."""
    foreign = results.done - job_ids
    if foreign:
        raise BatchJobError(f"{results.path} holds results of {len(foreign)} input(s) this job does not have "
                            f"(e.g. {min(foreign)!r}): it is another job's results file and is left untouched. "
                            "Write to another --out, or rerun the command that wrote it to resume that job")


def _run_chunks(chunks: list[Chunk], client: BitclusterClient, results: ResultsFile, summary: JobSummary,
                progress: bool, job_ids: set[str]) -> None:
    model_id = summary.model_id = served_model_id(client, results)
    check_same_job(results, job_ids)  # after the model: a file of another model is named as such first
    with _progress_bar(progress) as bar:
        task = bar.add_task("cluster", total=summary.inputs, completed=summary.already_done)
        for chunk in chunks:
            try:
                codes = client.encode(chunk.images)
                if codes.model_id != model_id:
                    raise BatchJobError(f"the vendor switched from model {model_id} to {codes.model_id} during the "
                                        f"job; {results.path} keeps only model {model_id}'s results. Write the new "
                                        "model's results to another --out")
                clusters = client.classify(codes)
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


def _name_inputs(message: str, ids: Sequence[str]) -> str:
    """``files[3]`` / ``images[3]`` in a service's message -> the id of that input."""
    def name(m: re.Match) -> str:
        i = int(m.group(2))
        return repr(ids[i]) if i < len(ids) else m.group(0)

    return ITEM_NAME.sub(name, message)


def _progress_bar(enabled: bool):
    """A progress bar on stderr (drawn once, at the end, when stderr is not a terminal)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn("clustering"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=Console(stderr=True), disable=not enabled)


def iter_clusters(groups: Sequence[InputGroup], client: BitclusterClient) -> Iterator[tuple[str, int]]:
    """Without ``--out``: ``(id, cluster)`` for every input, in order, nothing written or resumed."""
    for group in groups:
        for input_id, c in zip(group.ids, client.cluster(group.images)):
            yield input_id, int(c)
