"""Collapse is never silent: dead bits and unused clusters are counted, recorded and said."""

from __future__ import annotations

import json

import numpy as np
from typer.testing import CliRunner

from bitcluster.cli import app
from bitcluster.core.preprocessing import Preprocessing
from bitcluster.data import Dataset
from bitcluster.training.collapse import collapse_report, dead_bits
from bitcluster.training.pipeline import train_run


def test_dead_bits_counts_the_constant_columns():
    codes = np.array([[0, 1, 1, 0], [0, 1, 0, 1], [0, 1, 1, 1]], dtype=np.uint8)
    assert dead_bits(codes) == 2


def test_a_healthy_run_has_no_warning():
    assert collapse_report(clusters=10, clusters_used=10, bits=16, dead=0) == {"collapsed": False, "warnings": []}


def test_the_thresholds_are_a_quarter_of_the_bits_and_half_of_the_clusters():
    assert not collapse_report(clusters=10, clusters_used=5, bits=16, dead=4)["collapsed"]
    dead = collapse_report(clusters=10, clusters_used=10, bits=16, dead=5)
    assert dead["collapsed"] and "5 of 16 code bits" in dead["warnings"][0] and "--epochs" in dead["warnings"][0]
    unused = collapse_report(clusters=10, clusters_used=4, bits=None, dead=None)
    assert unused["collapsed"] and "only 4 of 10 clusters" in unused["warnings"][0]


def _three_point_data() -> Dataset:
    """Images that are one of three patterns: ten clusters cannot all be used."""
    rng = np.random.default_rng(0)
    patterns = rng.random((3, 16)).astype(np.float32)
    pick = lambda n: patterns[rng.integers(0, 3, n)]  # noqa: E731
    return Dataset("three", pick(300), None, pick(60), None, Preprocessing(4, 4))


def test_a_collapsed_run_is_recorded_in_its_metrics(tmp_path):
    metrics = train_run("kmeans", _three_point_data(), tmp_path / "run", {"clusters": 10}, progress=False)
    assert metrics["clusters_used"] <= 3
    assert metrics["collapsed"] is True
    written = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert written["warnings"] == metrics["warnings"] and "clusters" in written["warnings"][0]


def test_the_cli_says_so(tmp_path):
    data = _three_point_data()
    np.savez(tmp_path / "three.npz", x_train=data.x_train.reshape(-1, 4, 4), x_test=data.x_test.reshape(-1, 4, 4))
    result = CliRunner().invoke(app, ["train", "--method", "kmeans", "--clusters", "10", "--data",
                                      str(tmp_path / "three.npz"), "--out", str(tmp_path / "run"), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "warning: only" in result.output and "clusters are used" in result.output
