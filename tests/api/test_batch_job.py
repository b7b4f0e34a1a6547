"""``bitcluster cluster --out``: resumable, exactly one result per input, across crashes and restarts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import onnxruntime as ort
import pytest

from bitcluster.client.batch_runner import job_stopped
from bitcluster.client.errors import BatchJobError, BitclusterError
from bitcluster.client.inputs import InputGroup, plan_chunks
from bitcluster.client.results import ResultsFile, parse_results
from bitcluster.client.retry import RetriesExhausted, RetryPolicy, with_retries

pytest.register_assert_rewrite("service_fixtures")  # before the import, so its asserts explain failures

from service_fixtures import png_bytes, random_images  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from reliability import count_lines, fault_phase  # noqa: E402

pytest_plugins = ["service_fixtures"]


def reference_clusters(model, images: np.ndarray) -> np.ndarray:
    enc = ort.InferenceSession(str(model.dir / "vendor/encoder.onnx"), providers=["CPUExecutionProvider"])
    cls = ort.InferenceSession(str(model.dir / "consumer/classifier.onnx"), providers=["CPUExecutionProvider"])
    return cls.run(["clusters"], {"codes": enc.run(["codes"], {"images": model.preprocessing.apply(images)})[0]})[0]


def read_results(path) -> list[dict]:
    """A whole, valid JSON-lines file: every line one result, and a newline at the end."""
    data = path.read_bytes()
    assert data.endswith(b"\n"), data[-100:]
    return [json.loads(line) for line in data.decode().splitlines()]


def assert_exactly_once(records: list[dict], expected: dict[str, int], model_id: str) -> None:
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids)), "an id has two results"
    assert {r["id"]: r["cluster"] for r in records} == expected
    assert {r["model_id"] for r in records} == {model_id}


def cluster_command(services, *inputs, out, batch_size: int = 20, extra: tuple = ()) -> list[str]:
    return [sys.executable, "-m", "bitcluster.cli", "cluster", *map(str, inputs), "--vendor", services.vendor.url,
            "--consumer", services.consumer.url, "--out", str(out), "--batch-size", str(batch_size), "--quiet",
            *extra]


def run(command: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


@pytest.fixture
def inputs(services, tmp_path):
    """Three PNG files in a directory and an .npz of 60 images, with their reference clusters by id."""
    images = random_images(63, seed=11)
    folder = tmp_path / "pngs"
    folder.mkdir()
    for i, im in enumerate(images[:3]):
        (folder / f"{i}.png").write_bytes(png_bytes(im))
    npz = tmp_path / "batch.npz"
    np.savez(npz, x=images[3:])
    clusters = reference_clusters(services.model, images)
    expected = {str(folder / f"{i}.png"): int(clusters[i]) for i in range(3)}
    expected |= {f"{npz}[{i}]": int(clusters[3 + i]) for i in range(60)}
    return folder, npz, expected


# -- with the services ------------------------------------------------------------------------
@pytest.mark.slow
def test_a_rerun_on_more_inputs_appends_only_the_new_ones(services, inputs, tmp_path):
    folder, npz, expected = inputs
    out = tmp_path / "results" / "clusters.jsonl"
    first = run(cluster_command(services, folder, out=out))
    assert first.returncode == 0, first.stderr
    before = out.read_bytes()
    assert len(read_results(out)) == 3

    second = run(cluster_command(services, npz, folder, folder / "0.png", out=out))
    assert second.returncode == 0, second.stderr
    summary = json.loads(second.stdout)
    assert (summary["inputs"], summary["already_done"], summary["written"], summary["repeated_ids"]) == (63, 3, 60, 1)
    assert "resuming: 3 of 63" in second.stderr
    assert out.read_bytes().startswith(before)  # appended, never rewritten
    assert_exactly_once(read_results(out), expected, services.model.manifest.model_id)

    third = run(cluster_command(services, npz, folder, out=out))  # nothing left: the services are not asked
    assert third.returncode == 0 and json.loads(third.stdout)["written"] == 0


@pytest.mark.slow
def test_a_job_killed_mid_run_resumes_with_one_result_per_input(services, tmp_path):
    images = random_images(2000, seed=12)
    npz, out = tmp_path / "big.npz", tmp_path / "clusters.jsonl"
    np.savez(npz, x=images)
    job = subprocess.Popen(cluster_command(services, npz, out=out, batch_size=10), stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while count_lines(out) < 50 and job.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    job.send_signal(signal.SIGKILL)
    job.wait()
    assert job.returncode == -signal.SIGKILL, "the job finished before it could be killed: give it more inputs"
    _, done = parse_results(out.read_bytes(), "results")  # whole lines, at most a torn tail after them
    assert 50 <= len(done) < 2000

    rerun = run(cluster_command(services, npz, out=out, batch_size=100))
    assert rerun.returncode == 0, rerun.stderr
    summary = json.loads(rerun.stdout)
    assert summary["already_done"] == len(done) and summary["written"] == 2000 - len(done)
    clusters = reference_clusters(services.model, images)
    assert_exactly_once(read_results(out), {f"{npz}[{i}]": int(c) for i, c in enumerate(clusters)},
                        services.model.manifest.model_id)


@pytest.mark.slow
def test_the_job_waits_out_a_consumer_killed_and_restarted_mid_run(services, tmp_path):
    """SIGKILL the consumer once results land, restart it on the same port 0.5 s later: the job
    retries and finishes, with every input exactly one result (bench/reliability.py's fault phase)."""
    images = random_images(1500, seed=13)
    fault = fault_phase(services.model.dir, tmp_path, services.vendor.url, images=images, batch_size=10,
                        kill_after_lines=50, down_s=0.5, retry_for_s=30, timeout_s=60)
    assert fault["job_running_at_kill"] and fault["lines_at_kill"] < 1500, fault
    assert fault["job_rc"] == 0, fault["job_stderr_tail"]
    assert fault["retries"] >= 1 and "unavailable" in fault["job_stderr_tail"]
    assert fault["exactly_once"] and fault["results"] == 1500, fault
    records = read_results(tmp_path / "results.jsonl")
    clusters = reference_clusters(services.model, images)
    inputs = tmp_path / "inputs.npz"
    assert_exactly_once(records, {f"{inputs}[{i}]": int(c) for i, c in enumerate(clusters)},
                        services.model.manifest.model_id)


@pytest.mark.slow
def test_results_of_another_model_are_never_mixed_in(services, inputs, tmp_path):
    folder, _, _ = inputs
    out = tmp_path / "clusters.jsonl"
    out.write_text('{"id": "old.png", "cluster": 1, "model_id": "0123456789abcdef"}\n')
    done = run(cluster_command(services, folder, out=out))
    assert done.returncode == 2
    assert "never mixes two models" in done.stderr and "0123456789abcdef" in done.stderr
    assert services.model.manifest.model_id in done.stderr
    assert out.read_text() == '{"id": "old.png", "cluster": 1, "model_id": "0123456789abcdef"}\n'


@pytest.mark.slow
def test_a_bad_image_stops_the_job_naming_it_and_keeps_earlier_chunks(services, inputs, tmp_path):
    folder, npz, _ = inputs
    (folder / "9-broken.png").write_bytes(b"\x89PNG not really")
    out = tmp_path / "clusters.jsonl"
    done = run(cluster_command(services, npz, folder, out=out))
    assert done.returncode == 2
    assert "invalid_image" in done.stderr and "9-broken.png" in done.stderr and "rerun" in done.stderr
    assert len(read_results(out)) == 60  # the .npz's three chunks were kept


@pytest.mark.slow
def test_without_out_it_prints_id_tab_cluster(services, inputs):
    folder, _, expected = inputs
    done = run([sys.executable, "-m", "bitcluster.cli", "cluster", str(folder), "--vendor", services.vendor.url,
                "--consumer", services.consumer.url])
    assert done.returncode == 0, done.stderr
    assert dict(line.split("\t") for line in done.stdout.splitlines()) == {
        k: str(v) for k, v in expected.items() if k.endswith(".png")}


# -- the pieces, without services -------------------------------------------------------------
def test_a_torn_last_line_is_cut_and_its_id_done_again(tmp_path):
    out = tmp_path / "r.jsonl"
    whole = '{"id": "a", "cluster": 0, "model_id": "m"}\n{"id": "b", "cluster": 1, "model_id": "m"}\n'
    torn = '{"id": "c", "clus'
    out.write_text(whole + torn)
    with ResultsFile(out) as results:
        assert results.done == {"a", "b"} and results.model_id == "m" and results.torn_bytes == len(torn)
        results.append(["c"], np.array([2]), "m")
    assert out.read_text() == whole + '{"id": "c", "cluster": 2, "model_id": "m"}\n'


@pytest.mark.parametrize("content, message", [
    ('{"id": "a", "cluster": 0, "model_id": "m"}\nnot json\n{"id": "b", "cluster": 0, "model_id": "m"}\n',
     "line 2 is not a result"),
    ('{"id": "a", "cluster": 0, "model_id": "m"}\n{"id": "b", "cluster": 0, "model_id": "n"}\n', "mixes results"),
    ('{"id": "a", "cluster": 0, "model_id": "m"}\n{"id": "a", "cluster": 1, "model_id": "m"}\n', "two results"),
])
def test_a_file_this_job_did_not_write_is_refused_untouched(tmp_path, content, message):
    out = tmp_path / "r.jsonl"
    out.write_text(content)
    with pytest.raises(BatchJobError, match=message):
        ResultsFile(out)
    assert out.read_text() == content


def test_two_jobs_cannot_write_one_file(tmp_path):
    with ResultsFile(tmp_path / "r.jsonl"):
        with pytest.raises(BatchJobError, match="another job is writing"):
            ResultsFile(tmp_path / "r.jsonl")
    ResultsFile(tmp_path / "r.jsonl").close()  # the lock goes with the first


def test_chunks_skip_done_and_repeated_ids_in_input_order():
    files = InputGroup(["a.png", "b.png", "a.png"], ["a.png", "b.png", "a.png"])
    array = InputGroup([f"x.npz[{i}]" for i in range(5)], np.arange(5 * 4).reshape(5, 2, 2))
    chunks, repeats = plan_chunks([files, array], {"b.png", "x.npz[1]"}, chunk_size=2)
    assert [c.ids for c in chunks] == [["a.png"], ["x.npz[0]", "x.npz[2]"], ["x.npz[3]", "x.npz[4]"]]
    assert repeats == 1
    np.testing.assert_array_equal(chunks[1].images, array.images[[0, 2]])


def test_retries_are_bounded_by_retry_for():
    calls, notes = [], []

    def down():
        calls.append(time.monotonic())
        raise httpx.ConnectError("refused")

    start = time.monotonic()
    with pytest.raises(RetriesExhausted, match="unavailable for .* gave up after") as e:
        with_retries(down, RetryPolicy(retry_for_s=0.5, first_delay_s=0.05), "the consumer", notes.append)
    assert 0.5 <= time.monotonic() - start < 0.9
    assert isinstance(e.value.last_error, httpx.ConnectError) and e.value.attempts == len(calls)
    with pytest.raises(BatchJobError, match="unavailable for .* gave up after --retry-for 0.5 s"):
        raise job_stopped(e.value)
    assert len(calls) == len(notes) + 1 >= 4  # 0.05, 0.1, 0.2, then the rest of the 0.5 s

    answers = iter([BitclusterError(503, "not_ready", "starting", "u"), httpx.ReadError("reset"), 7])

    def flaky():
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert with_retries(flaky, RetryPolicy(first_delay_s=0.01), "x", notes.append) == (7, 2)


def test_refusals_are_not_retried():
    calls = []

    def refused():
        calls.append(1)
        raise BitclusterError(422, "invalid_image", "files[0] is not a PNG", "u")

    with pytest.raises(BitclusterError):
        with_retries(refused, RetryPolicy(retry_for_s=10), "x", lambda m: None)
    assert calls == [1]


def test_each_chunk_is_fsynced_before_the_next(tmp_path, monkeypatch):
    synced = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real(fd)))
    with ResultsFile(tmp_path / "r.jsonl") as results:
        synced.clear()
        results.append(["a", "b"], np.array([0, 1]), "m")
        results.append(["c"], np.array([1]), "m")
    assert len(synced) == 2
