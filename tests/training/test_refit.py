"""Re-clustering from codes alone: weighted EM, the screened fit, choosing K, the refitted model directory."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

import bitcluster as bc
from bitcluster import cli
from bitcluster.bulk.batches import OUTPUT_SCHEMA, output_table, write_rows
from bitcluster.bulk.codes_file import read_packed_codes
from bitcluster.bulk.parquet import ParquetOutput
from bitcluster.core.codes import CodeFormatError, pack_codes
from bitcluster.core.manifest import DEFAULT_MODEL_DIR, MANIFEST_FILE, load_manifest
from bitcluster.core.metrics import cluster_accuracy
from bitcluster.core.onnx_model import ModelMismatchError
from bitcluster.core.mixture import BernoulliMixture
from bitcluster.training.refit import choose_clusters, distinct_codes, fit_code_mixture, refit_model_dir


def planted_codes(n, bits, k, flip, seed):
    """Codes around ``k`` random prototypes (independent bit flips), unevenly many per prototype, with labels."""
    rng = np.random.default_rng(seed)
    protos = rng.integers(0, 2, (k, bits))
    labels = rng.choice(k, n, p=rng.dirichlet(np.full(k, 5.0)))
    return np.where(rng.random((n, bits)) < flip, 1 - protos[labels], protos[labels]).astype(np.uint8), labels


def default_model_codes(n=600, seed=0):
    """Packed codes of the embedded default model (16 bits) for random 8x8 images."""
    model = bc.load_model()
    images = np.random.default_rng(seed).random((n, 8, 8)).astype(np.float32)
    return model.encode(images).packed


def test_weighting_distinct_codes_by_their_counts_is_the_fit_on_every_code():
    z, _ = planted_codes(800, 10, 3, 0.1, seed=1)
    distinct, counts = distinct_codes(z)
    assert len(distinct) < len(z) and counts.sum() == len(z)
    rng = np.random.default_rng(2)
    start = dict(weights_init=rng.dirichlet(np.ones(3)), means_init=rng.uniform(0.2, 0.8, (3, 10)))
    every = BernoulliMixture(3, max_iter=30, tol=0, **start).fit(z)
    weighted = BernoulliMixture(3, max_iter=30, tol=0, **start).fit(distinct, sample_weight=counts)
    np.testing.assert_allclose(weighted.means_, every.means_, rtol=1e-9)
    np.testing.assert_allclose(weighted.weights_, every.weights_, rtol=1e-9)
    assert weighted.lower_bound_ == pytest.approx(every.lower_bound_, rel=1e-12)


@pytest.mark.parametrize("weights, message", [(np.ones(5), "shape"), (-np.ones(6), "non-negative"),
                                              (np.zeros(6), "not all zero"), (np.full(6, np.nan), "finite")])
def test_bad_sample_weights_are_refused(weights, message):
    with pytest.raises(ValueError, match=message):
        BernoulliMixture(2).fit(np.eye(6), sample_weight=weights)


def test_screened_fit_finds_planted_clusters_from_every_seed():
    # 12 prototypes at 24 bits with 15% flips: single k-means++ starts often merge two of them.
    z, labels = planted_codes(3000, 24, 12, 0.15, seed=4)
    single = [cluster_accuracy(labels, BernoulliMixture(12, random_state=s).fit_predict(z)) for s in range(5)]
    screened = [cluster_accuracy(labels, fit_code_mixture(z, 12, random_state=s).predict(z)) for s in range(5)]
    assert min(single) < 0.9, "single starts should fail here for this test to mean anything"
    assert min(screened) > 0.96 and min(screened) >= max(single) - 1e-9


@pytest.mark.slow  # fits a mixture for every K of the range
def test_choose_clusters_finds_the_planted_number():
    z, _ = planted_codes(3000, 32, 6, 0.15, seed=5)
    k, record = choose_clusters(z, random_state=0)
    assert k == 6
    assert record["method"].startswith("held-out") and len(record["curve"]) >= 6


def write_bulk_parquet(path, packed):
    """Packed codes as `bitcluster bulk` writes them."""
    with ParquetOutput(path, OUTPUT_SCHEMA) as output:
        write_rows(output, output_table(np.array([f"img-{i}" for i in range(len(packed))]), packed,
                                        np.zeros(len(packed), dtype=np.int64)))


def test_codes_are_read_from_a_bulk_parquet_and_from_arrays(tmp_path):
    packed = default_model_codes(50)
    write_bulk_parquet(tmp_path / "codes.parquet", packed)
    np.save(tmp_path / "codes.npy", packed)
    np.savez(tmp_path / "codes.npz", codes=packed)
    for name in ("codes.parquet", "codes.npy", "codes.npz"):
        np.testing.assert_array_equal(read_packed_codes(tmp_path / name, 16), packed)
    with pytest.raises(ValueError, match="3 bytes"):
        read_packed_codes(tmp_path / "codes.parquet", 24)
    with pytest.raises(CodeFormatError):
        read_packed_codes(tmp_path / "codes.npy", 24)
    (tmp_path / "codes.csv").write_text("1,0\n")
    with pytest.raises(ValueError, match=".parquet"):
        read_packed_codes(tmp_path / "codes.csv", 16)


def test_refit_keeps_the_vendor_files_and_makes_a_consistent_new_pair(tmp_path):
    packed = default_model_codes(600)
    out = tmp_path / "refit"
    result = refit_model_dir(packed, DEFAULT_MODEL_DIR, out, 7, random_state=3)
    source = json.loads((DEFAULT_MODEL_DIR / MANIFEST_FILE).read_text())
    for rel in ("vendor/encoder.onnx", "vendor/entropy_model.json"):
        assert (out / rel).read_bytes() == (DEFAULT_MODEL_DIR / rel).read_bytes()
    vendor, _ = load_manifest(out, "vendor")
    consumer, _ = load_manifest(out, "consumer")
    assert vendor.model_id == consumer.model_id == result.manifest.model_id != source["model_id"]
    assert consumer.clusters == 7
    refit = consumer.training["refit"]
    assert refit["source_model_id"] == source["model_id"]
    assert (refit["codes"], refit["clusters"], refit["clusters_chosen_by"]["method"]) == (600, 7, "given")
    # The new pair talks: codes from its vendor are classified by the new mixture.
    model = bc.load_model(out)
    codes = model.encode(np.random.default_rng(0).random((300, 8, 8)).astype(np.float32))
    np.testing.assert_array_equal(model.classify(codes), result.mixture.predict(codes.unpack()))
    # Codes stored from the source model are the new model's codes too (the same encoder), and so are
    # those of the model a refit of the refit came from; another model's are still refused.
    stored = bc.load_model(DEFAULT_MODEL_DIR).encode(np.random.default_rng(1).random((50, 8, 8)))
    np.testing.assert_array_equal(model.classify(stored), model.classify(stored.packed))
    again = refit_model_dir(packed, out, tmp_path / "refit-again", 4, random_state=3)
    assert bc.load_model(tmp_path / "refit-again").classify(stored).shape == (50,)
    assert set(again.manifest.training["refit"]["encoder_model_ids"]) == {source["model_id"], consumer.model_id}
    with pytest.raises(ModelMismatchError, match="made by"):
        model.classify(bc.Codes(stored.packed, stored.bits, "0123456789abcdef"))


def test_refit_command_reads_a_bulk_parquet(tmp_path):
    write_bulk_parquet(tmp_path / "codes.parquet", default_model_codes(400))
    out = tmp_path / "refit"
    args = ["refit", str(tmp_path / "codes.parquet"), "--model-dir", str(DEFAULT_MODEL_DIR), "--clusters", "5",
            "--out", str(out)]
    done = CliRunner().invoke(cli.app, args)
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["clusters"] == 5 and bc.load_model(out).manifest.clusters == 5
    again = CliRunner().invoke(cli.app, args)
    assert again.exit_code == 2 and "--force" in again.output


@pytest.mark.parametrize("clusters, message", [("many", "integer"), ("1", "integer")])
def test_refit_command_refuses_bad_cluster_counts(tmp_path, clusters, message):
    np.save(tmp_path / "codes.npy", default_model_codes(20))
    done = CliRunner().invoke(cli.app, ["refit", str(tmp_path / "codes.npy"), "--model-dir", str(DEFAULT_MODEL_DIR),
                                        "--clusters", clusters, "--out", str(tmp_path / "out")])
    assert done.exit_code == 2 and message in done.output and not (tmp_path / "out").exists()


def test_refit_refuses_codes_of_another_length(tmp_path):
    with pytest.raises(CodeFormatError):
        refit_model_dir(pack_codes(np.ones((20, 24), dtype=np.uint8)), DEFAULT_MODEL_DIR, tmp_path / "out", 3)
