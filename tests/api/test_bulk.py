"""Bulk jobs: the local and the Ray engine write the same Parquet rows as the in-process model."""

import json
import sys

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image
from typer.testing import CliRunner

from bitcluster import cli
from bitcluster.api.model import DEFAULT_MODEL_DIR, load_model
from bitcluster.bulk.engine_ray import RayMissingError
from bitcluster.bulk.job import run_bulk_job
from bitcluster.bulk.options import BulkOptions
from bitcluster.bulk.parquet import OutputExistsError

runner = CliRunner()
N_ARRAY = 300
N_FILES = 24


@pytest.fixture(scope="module")
def digits_inputs(tmp_path_factory):
    """An .npz of 300 digits and a folder of 24 PNGs (one of them 16x16, resized by the model)."""
    from sklearn.datasets import load_digits

    x = np.rint(load_digits().images[:N_ARRAY + N_FILES] * (255.0 / 16.0)).astype(np.uint8)
    root = tmp_path_factory.mktemp("bulk_inputs")
    np.savez(root / "digits.npz", x=x[:N_ARRAY])
    folder = root / "pngs"
    folder.mkdir()
    for i, image in enumerate(x[N_ARRAY:]):
        Image.fromarray(image).save(folder / f"{i:03d}.png")
    Image.fromarray(x[N_ARRAY]).resize((16, 16), Image.BILINEAR).save(folder / "big.png")
    return root


def _expected_rows(root):
    """What the in-process model says, input by input, in the order the inputs were given."""
    model = load_model(DEFAULT_MODEL_DIR)
    with np.load(root / "digits.npz") as f:
        x = f["x"]
    files = sorted((root / "pngs").glob("*.png"))
    codes = np.concatenate([model.encode(x).packed, model.encode(files).packed])
    clusters = np.concatenate([model.classify(model.encode(x)), model.classify(model.encode(files))])
    ids = [f"{root / 'digits.npz'}[{i}]" for i in range(len(x))] + [str(p) for p in files]
    return ids, [bytes(c) for c in codes], clusters.tolist()


def _rows(path):
    table = pq.read_table(path)
    assert table.schema.names == ["id", "code", "cluster"]
    return table["id"].to_pylist(), table["code"].to_pylist(), table["cluster"].to_pylist()


def _run(root, out, engine, **options):
    return run_bulk_job([root / "digits.npz", root / "pngs"], DEFAULT_MODEL_DIR, out, engine=engine,
                        options=BulkOptions(progress=False, **options))


def test_the_local_engine_writes_the_in_process_model_rows(digits_inputs, tmp_path):
    summary = _run(digits_inputs, tmp_path / "local.parquet", "local", batch_size=64)
    ids, codes, clusters = _rows(tmp_path / "local.parquet")
    assert (ids, codes, clusters) == _expected_rows(digits_inputs)
    assert summary.rows == N_ARRAY + N_FILES + 1 and summary.repeated_ids == 0
    assert all(len(c) == 2 for c in codes)  # 16-bit codes, packed
    assert len(set(clusters)) > 3  # real digits spread over the clusters


@pytest.mark.slow  # starts a Ray cluster
def test_the_ray_engine_writes_the_same_rows_as_the_local_engine(digits_inputs, tmp_path):
    import ray

    ray.init(num_cpus=1, object_store_memory=80 * 2**20, include_dashboard=False, log_to_driver=False)
    try:
        summary = _run(digits_inputs, tmp_path / "ray.parquet", "ray", batch_size=64, actors=1)
        assert ray.is_initialized()  # a Ray instance the caller started is left running
    finally:
        ray.shutdown()
    _run(digits_inputs, tmp_path / "local.parquet", "local", batch_size=64)
    assert _rows(tmp_path / "ray.parquet") == _rows(tmp_path / "local.parquet") == _expected_rows(digits_inputs)
    assert summary.engine == "ray" and summary.rows == N_ARRAY + N_FILES + 1


def test_an_input_given_twice_gets_one_row(digits_inputs, tmp_path):
    npz = digits_inputs / "digits.npz"
    summary = run_bulk_job([npz, npz], DEFAULT_MODEL_DIR, tmp_path / "out.parquet",
                           options=BulkOptions(progress=False))
    ids, _, _ = _rows(tmp_path / "out.parquet")
    assert summary.repeated_ids == N_ARRAY and len(ids) == len(set(ids)) == N_ARRAY


def test_an_existing_output_is_refused_unless_forced(digits_inputs, tmp_path):
    out = tmp_path / "out.parquet"
    out.write_bytes(b"earlier results")
    args = ["bulk", str(digits_inputs / "digits.npz"), "--out", str(out), "--quiet"]
    result = runner.invoke(cli.app, args)
    assert result.exit_code == 2
    assert "exists; pass --force" in result.output
    assert out.read_bytes() == b"earlier results"
    with pytest.raises(OutputExistsError):
        run_bulk_job([digits_inputs / "digits.npz"], DEFAULT_MODEL_DIR, out)

    result = runner.invoke(cli.app, args + ["--force"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["rows"] == N_ARRAY
    assert len(_rows(out)[0]) == N_ARRAY
    assert [p.name for p in tmp_path.iterdir()] == ["out.parquet"]  # no temporary file left beside it


def test_a_job_that_fails_leaves_no_output(digits_inputs, tmp_path, monkeypatch):
    # An unusable input is skipped (tests/security/test_files.py); a failure of the model is not.
    from bitcluster.bulk.batches import BatchClassifier

    classify, calls = BatchClassifier.__call__, []

    def fails_on_the_third_batch(self, batch):
        calls.append(len(batch["id"]))
        if len(calls) == 3:
            raise RuntimeError("the model failed")
        return classify(self, batch)

    monkeypatch.setattr(BatchClassifier, "__call__", fails_on_the_third_batch)
    with pytest.raises(RuntimeError, match="the model failed"):
        run_bulk_job([digits_inputs / "digits.npz"], DEFAULT_MODEL_DIR, tmp_path / "out.parquet",
                     options=BulkOptions(progress=False, batch_size=100))
    assert calls == [100, 100, 100] and list(tmp_path.iterdir()) == []


def test_the_ray_engine_without_ray_says_which_extra_to_install(digits_inputs, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError, as when not installed
    out = tmp_path / "out.parquet"
    with pytest.raises(RayMissingError, match=r"pip install 'bitcluster\[bulk\]'"):
        run_bulk_job([digits_inputs / "digits.npz"], DEFAULT_MODEL_DIR, out, engine="ray")
    result = runner.invoke(cli.app, ["bulk", str(digits_inputs / "digits.npz"), "--out", str(out), "--engine", "ray"])
    assert result.exit_code == 2
    assert "--engine ray needs Ray Data" in result.output and "pip install 'bitcluster[bulk]'" in result.output
    assert list(tmp_path.iterdir()) == []


def test_another_aspect_ratio_is_skipped_with_the_file_named_unless_resize(digits_inputs, tmp_path):
    wide = tmp_path / "wide.png"
    Image.open(digits_inputs / "pngs" / "000.png").resize((16, 8)).save(wide)
    args = ["bulk", str(wide), str(digits_inputs / "pngs" / "001.png"), "--out", str(tmp_path / "a.parquet"),
            "--quiet"]
    result = runner.invoke(cli.app, args)
    assert result.exit_code == 0, result.output
    assert f"skipped (all listed as skipped_inputs in the summary): {wide}: images of 8x16 pixels" in result.stderr
    assert json.loads(result.stdout)["rows"] == 1
    resized = runner.invoke(cli.app, args[:-3] + ["--out", str(tmp_path / "b.parquet"), "--resize", "--quiet"])
    assert resized.exit_code == 0, resized.output
    assert json.loads(resized.stdout)["rows"] == 2 and json.loads(resized.stdout)["skipped"] == 0
    expected = load_model(DEFAULT_MODEL_DIR).encode([wide], resize=True).packed
    assert _rows(tmp_path / "b.parquet")[1][0] == bytes(expected[0])


def test_dark_on_light_images_are_counted_and_warned_about(digits_inputs, tmp_path):
    folder = tmp_path / "paper"
    folder.mkdir()
    for path in sorted((digits_inputs / "pngs").glob("0*.png"))[:10]:
        Image.fromarray(255 - np.asarray(Image.open(path))).save(folder / path.name)
    result = runner.invoke(cli.app, ["bulk", str(folder), "--out", str(tmp_path / "paper.parquet"), "--quiet"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["light_background"] == 10
    assert "10 of 10 images are dark on a light background" in result.stderr and "invert" in result.stderr
    plain = _run(digits_inputs, tmp_path / "plain.parquet", "local")
    assert plain.light_background == 0
