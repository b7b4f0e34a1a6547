"""bc.CodeIndex: Hamming search over stored codes (exact and approximate), filters, files, refusals."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import bitcluster as bc
from bitcluster.bulk.batches import OUTPUT_SCHEMA
from bitcluster.core.codes import CodeFormatError, pack_codes
from bitcluster.search import CodeIndex, IndexFormatError


def random_codes(n: int, bits: int, seed: int = 0, model_id: str = "m0") -> bc.Codes:
    rng = np.random.default_rng(seed)
    return bc.Codes(pack_codes(rng.integers(0, 2, (n, bits))), bits, model_id)


def brute_force(queries: bc.Codes, stored: bc.Codes, k: int, rows: np.ndarray | None = None):
    """(rows, distances) of each query's k nearest by (distance, row): numpy, from the unpacked bits."""
    rows = np.arange(len(stored)) if rows is None else rows
    d = (queries.unpack()[:, None, :] != stored.unpack()[rows][None, :, :]).sum(axis=2)
    order = np.argsort(d, axis=1, kind="stable")[:, :k]
    return rows[order], np.take_along_axis(d, order, axis=1)


@pytest.mark.parametrize("bits, n", [(12, 30_000), (32, 20_000)])
def test_exact_search_is_the_stable_brute_force_ties_to_the_first_added(bits, n):
    # 12 bits: 4,096 values for 30,000 codes, so nearly every k-th distance is a tie (and 4 padding bits)
    stored, queries = random_codes(n, bits, 0), random_codes(40, bits, 1)
    index = CodeIndex(stored)
    for q in (queries, queries[:1]):  # one query too: faiss may split the scan differently
        ids, distances = index.search(q, 10)
        want_rows, want_distances = brute_force(q, stored, 10)
        np.testing.assert_array_equal(distances, want_distances)
        np.testing.assert_array_equal(ids, want_rows)


def test_approximate_index_returns_true_distances_and_every_code_within_its_radius():
    stored, queries = random_codes(50_000, 24, 2), random_codes(50, 24, 3)
    index = CodeIndex(stored, approximate=True, hash_tables=2, hash_bits=12)
    exact_rows, exact_d = brute_force(queries, stored, 50)
    ids, distances = index.search(queries, 50, flips=1)
    found = ids >= 0
    true_d = (queries.unpack()[:, None, :] != stored.unpack()[np.maximum(ids, 0)]).sum(axis=2)
    np.testing.assert_array_equal(distances[found], true_d[found])
    # two 12-bit substrings: a code within 3 bits has one substring within 1 bit, so flips=1 reaches it
    assert (exact_d[:, -1] > 3).all()  # the 50 exact neighbours include every code within 3 bits
    assert sum((d <= 3).sum() for d in exact_d) >= 100  # ... and there are such codes to find
    for q in range(len(queries)):
        within = set(exact_rows[q][exact_d[q] <= 3])
        assert within <= set(ids[q][found[q]])
    assert np.all(np.diff(np.where(found, distances, 99), axis=1) >= 0)  # nearest first


def test_ids_are_returned_and_missing_neighbours_marked():
    stored = random_codes(5, 16)
    names = [f"img{i}.png" for i in range(5)]
    ids, distances = CodeIndex(stored, names).search(stored[:2], 7)
    assert ids[0, 0] == "img0.png" and ids[1, 0] == "img1.png" and distances[0, 0] == 0
    assert list(ids[:, 5:].ravel()) == [""] * 4 and (distances[:, 5:] == -1).all()
    ids, distances = CodeIndex(stored).search(stored[3:4], 6)
    assert ids[0, 0] == 3 and ids[0, -1] == -1 and distances[0, -1] == -1


def test_cluster_filter_searches_only_the_chosen_clusters():
    stored, queries = random_codes(3_000, 16, 4), random_codes(20, 16, 5)
    clusters = np.random.default_rng(6).integers(0, 6, len(stored))
    for approximate in (False, True):
        index = CodeIndex(stored, clusters=clusters, approximate=approximate)
        ids, distances = index.search(queries, 15, clusters=[3, 5])
        want_rows, want_distances = brute_force(queries, stored, 15, rows=np.flatnonzero(np.isin(clusters, [3, 5])))
        np.testing.assert_array_equal(ids, want_rows)
        np.testing.assert_array_equal(distances, want_distances)
    with pytest.raises(ValueError, match="without clusters"):
        CodeIndex(stored).search(queries, 5, clusters=[1])
    with pytest.raises(ValueError, match="cluster numbers"):
        index.search(queries, 5, clusters=[])


def test_model_gives_origin_and_clusters():
    model = bc.load_model()
    rng = np.random.default_rng(7)
    packed = pack_codes(rng.integers(0, 2, (200, model.bits)))
    index = CodeIndex(packed, model=model)
    assert (index.bits, index.model_id) == (model.bits, model.model_id)
    np.testing.assert_array_equal(index.clusters, model.classify(packed))
    label = int(index.clusters[0])
    ids, _ = index.search(bc.Codes(packed[:3], model.bits, model.model_id), 5, clusters=[label])
    assert (index.clusters[ids] == label).all()


def test_codes_of_another_model_or_length_are_refused():
    index = CodeIndex(random_codes(100, 32, model_id="m0"))
    with pytest.raises(ValueError, match="model 'm1'"):
        index.search(random_codes(3, 32, model_id="m1"), 5)
    with pytest.raises(CodeFormatError, match="16 bits"):
        index.search(random_codes(3, 16, model_id="m0"), 5)
    with pytest.raises(CodeFormatError):
        index.search(np.zeros((3, 2), np.uint8), 5)  # packed codes of another length
    with pytest.raises(ValueError, match="bits="):
        CodeIndex(np.zeros((3, 4), np.uint8))
    with pytest.raises(ValueError, match="positive"):
        index.search(random_codes(3, 32), 0)


def test_save_and_load_keep_everything(tmp_path):
    stored = random_codes(2_000, 24, 8, model_id="abc")
    ids = np.array([f"id{i}" for i in range(len(stored))])
    clusters = np.arange(len(stored)) % 4
    index = CodeIndex(stored, ids, clusters=clusters, approximate=True)
    loaded = CodeIndex.load(index.save(tmp_path / "index.npz"))
    assert (loaded.bits, loaded.model_id, loaded.approximate, loaded.hash_bits) == (24, "abc", True, index.hash_bits)
    queries = random_codes(10, 24, 9, model_id="abc")
    for a, b in zip(index.search(queries, 8, clusters=[1, 2]), loaded.search(queries, 8, clusters=[1, 2])):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(index.search(queries, 8), loaded.search(queries, 8)):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="model 'other'"):
        loaded.search(random_codes(2, 24, model_id="other"), 3)


def test_loading_another_file_is_a_format_error(tmp_path):
    (tmp_path / "text.npz").write_text("not an index")
    np.savez(tmp_path / "arrays.npz", x=np.zeros(3))
    np.save(tmp_path / "array.npy", np.zeros(3))
    for name in ("text.npz", "arrays.npz", "array.npy"):
        with pytest.raises(IndexFormatError, match="not a saved CodeIndex"):
            CodeIndex.load(tmp_path / name)


def test_from_bulk_parquet(tmp_path):
    model = bc.load_model()
    packed = pack_codes(np.random.default_rng(10).integers(0, 2, (50, model.bits)))
    ids = [f"x[{i}]" for i in range(50)]
    clusters = np.arange(50) % 10
    table = pa.table({"id": ids, "code": [row.tobytes() for row in packed], "cluster": clusters}, schema=OUTPUT_SCHEMA)
    pq.write_table(table, tmp_path / "codes.parquet")
    index = CodeIndex.from_parquet(tmp_path / "codes.parquet", model)
    np.testing.assert_array_equal(index.packed, packed)
    np.testing.assert_array_equal(index.clusters, clusters)
    assert index.model_id == model.model_id and list(index.search(packed[7:8], 1)[0][0]) == ["x[7]"]
    pq.write_table(pa.table({"id": ids}), tmp_path / "other.parquet")
    with pytest.raises(ValueError, match="no code, cluster column"):
        CodeIndex.from_parquet(tmp_path / "other.parquet", model)
