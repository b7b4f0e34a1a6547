"""`bitcluster search build` / `query`: an index of a bulk job's codes, asked for the neighbours of images or codes."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

import bitcluster as bc
from bitcluster import cli
from bitcluster.search import CodeIndex

runner = CliRunner()


@pytest.fixture(scope="module")
def bulk_codes(tmp_path_factory):
    """(directory, digits): a `bitcluster bulk` Parquet of 400 digits (the embedded model) and those digits."""
    from sklearn.datasets import load_digits

    x = np.rint(load_digits().images[:400] * (255.0 / 16.0)).astype(np.uint8)
    root = tmp_path_factory.mktemp("search_cli")
    np.savez(root / "stored.npz", x=x)
    np.savez(root / "queries.npz", x=x[:3])
    result = runner.invoke(cli.app, ["bulk", str(root / "stored.npz"), "--out", str(root / "codes.parquet"), "--quiet"])
    assert result.exit_code == 0, result.output
    return root, x


def invoke(*args: str):
    return runner.invoke(cli.app, ["search", *map(str, args)])


def answers(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{") and '"neighbours"' in line]


def test_build_then_query_with_images_and_with_codes(bulk_codes, tmp_path):
    root, x = bulk_codes
    index_path = tmp_path / "index.npz"
    result = invoke("build", root / "codes.parquet", "--out", index_path)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    model = bc.load_model()
    assert (summary["codes"], summary["bits"], summary["model_id"]) == (400, model.bits, model.model_id)

    result = invoke("query", index_path, root / "queries.npz", "-k", "4")
    assert result.exit_code == 0, result.output
    found = answers(result.stdout)
    # the same in process: the digits' codes searched among the stored ones
    index = CodeIndex.load(index_path)
    want_ids, want_distances = index.search(model.encode(x[:3]), 4)
    assert [a["id"] for a in found] == [f"{(root / 'queries.npz').resolve()}[{i}]" for i in range(3)]
    assert [a["neighbours"] for a in found] == want_ids.tolist()
    assert [a["distances"] for a in found] == want_distances.tolist()
    assert all(a["distances"][0] == 0 for a in found)  # each query is one of the stored digits

    result = invoke("query", index_path, root / "codes.parquet", "-k", "1")
    assert result.exit_code == 0, result.output
    assert all(a["distances"] == [0] for a in answers(result.stdout))


def test_query_by_cluster_returns_codes_of_those_clusters(bulk_codes, tmp_path):
    root, _ = bulk_codes
    index_path = tmp_path / "index.npz"
    assert invoke("build", root / "codes.parquet", "--out", index_path, "--approximate").exit_code == 0
    result = invoke("query", index_path, root / "queries.npz", "-k", "5", "--clusters", "2,7")
    assert result.exit_code == 0, result.output
    index = CodeIndex.load(index_path)
    assert index.approximate
    rows = {name: i for i, name in enumerate(index.ids)}
    neighbours = [n for a in answers(result.stdout) for n in a["neighbours"]]
    assert len(neighbours) == 15 and {int(index.clusters[rows[n]]) for n in neighbours} <= {2, 7}


def test_refusals_are_clear(bulk_codes, tmp_path):
    root, _ = bulk_codes
    index_path = tmp_path / "index.npz"
    assert invoke("build", root / "codes.parquet", "--out", index_path).exit_code == 0
    result = invoke("build", root / "codes.parquet", "--out", index_path)
    assert result.exit_code == 2 and "--force" in result.output

    model = bc.load_model()
    other = CodeIndex(np.zeros((4, model.manifest.code_bytes), np.uint8), bits=model.bits, model_id="another-model")
    other.save(tmp_path / "other.npz")
    result = invoke("query", tmp_path / "other.npz", root / "queries.npz")
    assert result.exit_code == 2 and "another-model" in result.output

    result = invoke("query", root / "codes.parquet", root / "queries.npz")  # not an index
    assert result.exit_code == 2 and "not a saved CodeIndex" in result.output

    result = invoke("query", index_path, root / "queries.npz", "--clusters", "a,b")
    assert result.exit_code == 2 and "--clusters" in result.output
