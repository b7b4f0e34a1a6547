"""Search in the compressed domain: label precision of Hamming neighbours, and speed at a million codes.

Two parts, in one run:

* **precision@10** (MNIST, VAB with the CLI's defaults at 16, 32 and 64 bits, from
  ``bench/_models.py``): 2,000 test images' codes searched among the 60,000 training codes with
  ``bc.CodeIndex`` (exact); precision@10 is the share of the 10 neighbours whose label is the
  query's. Beside it, Euclidean 10-NN on the raw pixels of the same queries (faiss ``IndexFlatL2``,
  exact). Ties at the 10th distance go to the codes added first (``bitcluster.search.code_index``).
* **speed** at 1,000,000 *random* uniform 32-bit codes (random codes are the hard case for hashing:
  real codes bunch up, random ones spread over the whole space), one thread, in the same process:
  a numpy brute force (``np.bitwise_count`` over the codes as uint32 words, one query at a time,
  ``argpartition`` for the top 10), the exact index (faiss ``IndexBinaryFlat``) and the
  approximate one (``IndexBinaryMultiHash`` with the default key length, ``flips`` 1 and 2).
  Recall@10 of a method against the exact index: a returned code counts as found when its
  distance is at most the exact 10th distance (many codes tie at 32 bits).

    python bench/search.py            # the real run (models from bench/_models.py)
    python bench/search.py --smoke    # 8x8 digits (10-epoch model), 20,000 random codes, a temporary directory
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_smoke_options, machine_load, results_dir, write_results  # noqa: E402
from _models import trained_model  # noqa: E402

K = 10
NUMPY_BLOCK = 1  # queries per numpy step; of 1, 4, 8 and 16 at 1M codes, 1 was the fastest (the fairest baseline)


def packed_words(packed: np.ndarray) -> np.ndarray:
    """(N, B) packed codes -> (N, W) unsigned words of the widest type B bytes divide into (uint32 for 32 bits)."""
    width = next(w for w in (8, 4, 2, 1) if packed.shape[1] % w == 0)
    return np.ascontiguousarray(packed).view(f"<u{width}")


def numpy_search(queries: np.ndarray, stored: np.ndarray, k: int = K) -> tuple[np.ndarray, np.ndarray]:
    """(Q, k) distances and rows of each query's k nearest: XOR, popcount, argpartition; nearest first."""
    q_words, s_words = packed_words(queries), packed_words(stored)
    distances, rows = np.empty((len(q_words), k), np.int32), np.empty((len(q_words), k), np.int64)
    for i in range(0, len(q_words), NUMPY_BLOCK):
        block = q_words[i:i + NUMPY_BLOCK]
        d = np.bitwise_count(block[:, None, :] ^ s_words[None, :, :])
        d = d[:, :, 0] if d.shape[2] == 1 else d.sum(axis=2, dtype=np.uint16)  # one word: no sum to pay for
        top = np.argpartition(d, k - 1, axis=1)[:, :k]
        top_d = np.take_along_axis(d, top, axis=1)
        order = np.argsort(top_d, axis=1, kind="stable")
        rows[i:i + NUMPY_BLOCK] = np.take_along_axis(top, order, axis=1)
        distances[i:i + NUMPY_BLOCK] = np.take_along_axis(top_d, order, axis=1)
    return distances, rows


def recall_at_k(distances: np.ndarray, found: np.ndarray, exact_distances: np.ndarray) -> float:
    """Share of the k results within the exact k-th distance (a code tied with the k-th counts)."""
    return float(((distances <= exact_distances[:, -1:]) & found).mean())


def timed(search, queries: np.ndarray) -> tuple[float, tuple]:
    start = time.perf_counter()
    result = search(queries)
    return len(queries) / (time.perf_counter() - start), result


def speed(n_codes: int, bits: int, n_queries: int, numpy_queries: int, seed: int = 0) -> list[dict]:
    """Queries/s and recall@10 of numpy, the exact and the approximate index on random codes, one thread."""
    import faiss

    from bitcluster.core.codes import pack_codes
    from bitcluster.search import CodeIndex

    faiss.omp_set_num_threads(1)
    rng = np.random.default_rng(seed)
    stored = pack_codes(rng.integers(0, 2, (n_codes, bits), dtype=np.uint8))
    queries = pack_codes(rng.integers(0, 2, (n_queries, bits), dtype=np.uint8))
    exact = CodeIndex(stored, bits=bits)
    approximate = CodeIndex(stored, bits=bits, approximate=True)
    exact_qps, (_, exact_d) = timed(lambda q: exact.search(q, K), queries)
    numpy_qps, (numpy_d, _) = timed(lambda q: numpy_search(q, stored), queries[:numpy_queries])
    base = {"part": "speed", "codes": "random", "n_codes": n_codes, "bits": bits, "threads": 1, **machine_load()}
    runs = [{**base, "method": "numpy bitwise_count", "queries": numpy_queries, "qps": numpy_qps,
             "recall_at_10": recall_at_k(numpy_d, numpy_d >= 0, exact_d[:numpy_queries])},
            {**base, "method": "exact (IndexBinaryFlat)", "queries": n_queries, "qps": exact_qps, "recall_at_10": 1.0}]
    for flips in (1, 2):
        qps, (ids, d) = timed(lambda q: approximate.search(q, K, flips=flips), queries)
        runs.append({**base, "method": f"approximate (MultiHash {approximate.hash_tables}x{approximate.hash_bits} bits, "
                                       f"flips={flips})", "queries": n_queries, "qps": qps,
                     "recall_at_10": recall_at_k(d, ids >= 0, exact_d), "flips": flips,
                     "hash_tables": approximate.hash_tables, "hash_bits": approximate.hash_bits})
    for r in runs:
        r["speedup_vs_numpy"] = r["qps"] / numpy_qps
    return runs


def precision(bits: int, smoke: bool, data, n_queries: int, pixel_rows: np.ndarray) -> dict:
    """precision@10 of Hamming 10-NN among the training codes (exact CodeIndex) at ``bits``."""
    import bitcluster as bc
    from bitcluster.search import CodeIndex

    model = bc.load_model(trained_model("mnist", bits, smoke=smoke), threads=1)
    side = model.preprocessing.height
    stored = model.encode(data.x_train.reshape(-1, side, side))
    queries = model.encode(data.x_test[:n_queries].reshape(-1, side, side))
    index = CodeIndex(stored, data.y_train)
    labels, distances = index.search(queries, K)
    y = data.y_test[:n_queries, None]
    return {"part": "precision", "bits": bits, "model_id": model.model_id, "n_codes": len(stored),
            "queries": n_queries, "distinct_codes": len(np.unique(stored.packed, axis=0)),
            "precision_at_10": float((labels == y).mean()),
            "pixels_precision_at_10": float((data.y_train[pixel_rows] == y).mean()),
            "tied_at_10th": float(((distances == distances[:, -1:]).sum(axis=1) > 1).mean())}


def pixel_neighbours(data, n_queries: int) -> np.ndarray:
    """(Q, 10) rows of each query's Euclidean 10-NN among the training images' raw pixels (exact)."""
    import faiss

    index = faiss.IndexFlatL2(data.x_train.shape[1])
    index.add(np.ascontiguousarray(data.x_train, dtype=np.float32))
    return index.search(np.ascontiguousarray(data.x_test[:n_queries], dtype=np.float32), K)[1]


def plot(runs: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    rows = [r for r in runs if r["part"] == "precision"]
    x = np.arange(len(rows))
    left.bar(x - 0.2, [r["precision_at_10"] for r in rows], 0.4, label="Hamming 10-NN on codes")
    left.bar(x + 0.2, [r["pixels_precision_at_10"] for r in rows], 0.4, label="Euclidean 10-NN on pixels")
    left.set_xticks(x, [f"{r['bits']} bits" for r in rows])
    left.set_ylim(0.8, 1.0)
    left.set_ylabel("label precision@10")
    left.legend(fontsize=8, loc="lower right")
    left.set_title(f"{rows[0]['queries'] if rows else 0} test queries among the training set", fontsize=9)
    speeds = [r for r in runs if r["part"] == "speed"]
    for r in speeds:
        right.scatter(r["qps"], r["recall_at_10"], s=40)
        right.annotate(r["method"].split(" (")[0] + (f" flips={r['flips']}" if "flips" in r else ""),
                       (r["qps"], r["recall_at_10"]), fontsize=7, xytext=(4, -10), textcoords="offset points")
    right.set_xscale("log")
    right.xaxis.set_minor_formatter(plt.NullFormatter())  # decades only: the minor labels overlap
    right.set_ylim(0.9, 1.01)
    right.set_xlabel("queries/s, one thread (log)")
    right.set_ylabel("recall@10 against exact")
    if speeds:
        right.set_title(f"{speeds[0]['n_codes']:,} random {speeds[0]['bits']}-bit codes", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def table(runs: list[dict]) -> str:
    precision_rows = [f"| {r['bits']} | {r['n_codes']:,} ({r['distinct_codes']:,} distinct) | {r['queries']:,} "
                      f"| {r['precision_at_10']:.3f} | {r['pixels_precision_at_10']:.3f} | {r['tied_at_10th']:.2f} |"
                      for r in runs if r["part"] == "precision"]
    speed_rows = [f"| {r['method']} | {r['n_codes']:,} {r['codes']} {r['bits']}-bit | {r['queries']:,} "
                  f"| {r['qps']:,.0f} | {r['speedup_vs_numpy']:.1f} | {r['recall_at_10']:.3f} |"
                  for r in runs if r["part"] == "speed"]
    sections = []
    if precision_rows:
        sections.append("\n".join(["| bits | codes | queries | Hamming 10-NN precision@10 | pixels Euclidean 10-NN "
                                   "| queries tied at the 10th |", "|---|---|---|---|---|---|", *precision_rows]))
    if speed_rows:
        sections.append("\n".join(["| method | codes | queries | queries/s (1 thread) | × numpy | recall@10 vs exact |",
                                   "|---|---|---|---|---|---|", *speed_rows]))
    return "\n\n".join(sections)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bits", type=int, nargs="+", default=[16, 32, 64], help="code lengths of the precision part")
    ap.add_argument("--skip-precision", action="store_true", help="the speed part only (needs no trained model)")
    add_smoke_options(ap)
    args = ap.parse_args()
    from bitcluster.data import load_dataset

    n_codes, n_queries, numpy_queries = (20_000, 200, 50) if args.smoke else (1_000_000, 2_000, 200)
    runs = speed(n_codes, 32, n_queries, numpy_queries)
    print(table(runs), flush=True)
    if not args.skip_precision:
        data = load_dataset("digits" if args.smoke else "mnist")
        queries = min(2_000, len(data.x_test))
        pixel_rows = pixel_neighbours(data, queries)
        for bits in ([32] if args.smoke else args.bits):
            runs.append(precision(bits, args.smoke, data, queries, pixel_rows))
            print(table(runs[-1:]), flush=True)
    out = results_dir(args)
    plot(runs, out / "search.png")
    write_results("search", runs, [], table(runs), extra={"k": K, "smoke": args.smoke}, directory=out)
    print(table(runs))
    print(f"wrote {out / 'search.md'} and {out / 'search.png'}")


if __name__ == "__main__":
    main()
