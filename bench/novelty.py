"""Novelty from codes alone: MNIST with classes 8 and 9 left out of training, AUROC of each detector.

The model (VAB with the CLI's defaults, 8 clusters) never saw an 8 or a 9; inliers are the test
images of classes 0-7, novelties the test images of 8 and 9. The labels are used only to make
that split. Every detector scores the same test images (higher: more novel):

* ``bmm -log p(z)``: minus the exported ``log_likelihood`` (``Model.score_samples``), what
  ``Model.is_novel`` and the consumer's ``novel`` use;
* ``hamming kNN``: the mean Hamming distance of a code to its 20 nearest training codes (the
  consumer half would need the training codes to serve it);
* anchors that see more than codes: K-means on the raw training pixels (distance to the nearest
  centroid, K = 8 and K = 64), and the same detector on the teacher's continuous embedding (the
  representation-stage autoencoder the run learned from, loaded from the teacher cache).

Also the rate of flagged novelties and inliers at ``is_novel(rate=0.01)`` and ``0.05``.

    python bench/novelty.py            # 16, 32, 64 bits (models from bench/_models.py)
    python bench/novelty.py --smoke    # 8x8 digits, 10-epoch models, a temporary directory
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_smoke_options, results_dir, write_results  # noqa: E402
from _models import MODELS, dataset_without, trained_model  # noqa: E402

LEFT_OUT = (8, 9)
NEIGHBOURS = 20
BLOCK = 256  # queries per brute-force block: (256, N_train) distances at once


def code_words(packed: np.ndarray) -> np.ndarray:
    """Packed codes (N, B <= 8) -> (N,) uint64, the bytes read big-endian (a code's bits in one word)."""
    padded = np.zeros((len(packed), 8), np.uint8)
    padded[:, :packed.shape[1]] = packed
    return padded.view(">u8").ravel().astype(np.uint64)


def mean_knn_hamming(queries: np.ndarray, reference: np.ndarray, k: int = NEIGHBOURS) -> np.ndarray:
    """(Q,) mean Hamming distance of each query code to its ``k`` nearest reference codes (numpy brute force)."""
    q, r = code_words(queries), code_words(reference)
    out = np.empty(len(q))
    for i in range(0, len(q), BLOCK):
        d = np.bitwise_count(q[i:i + BLOCK, None] ^ r[None, :])
        out[i:i + BLOCK] = np.partition(d, k - 1, axis=1)[:, :k].mean(axis=1)
    return out


def kmeans_distance(train: np.ndarray, test: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """(N_test,) Euclidean distance to the nearest of ``k`` K-means centroids of ``train``."""
    from sklearn.cluster import KMeans

    km = KMeans(n_clusters=k, n_init=2, random_state=seed).fit(train)
    return km.transform(test).min(axis=1)


def teacher_embedding(run_dir: Path, x_train: np.ndarray, x_test: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The run's teacher autoencoder's embedding of both sets, or None when its cache entry is gone or
    the teacher clustered PCA features (it has no autoencoder)."""
    from bitcluster.training.teacher import load_teacher
    from bitcluster.training.teacher.autoencoder import embed

    records = json.loads((run_dir / "metrics.json").read_text()).get("teachers", [])
    for record in records:
        entry = Path(record.get("path") or "")
        if entry.is_dir():
            teacher = load_teacher(entry)
            if not teacher.weights:
                continue
            model = teacher.autoencoder()
            return embed(model, x_train), embed(model, x_test)
    return None


def ensure_novelty_export(export: Path) -> Path:
    """The export, re-exported from its run when it predates the log_likelihood output and novelty data."""
    from bitcluster.core.novelty import NOVELTY_FILE
    from bitcluster.training.export import export_run

    if not (export / "consumer" / NOVELTY_FILE).is_file():
        export_run(export.parent / "run", export, force=True)
    return export


def roc_points(scores: np.ndarray, novel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(novel, scores)
    return fpr, tpr


def evaluate(bits: int, smoke: bool, data, x_train: np.ndarray, pixel_scores: dict) -> tuple[list[dict], dict]:
    """One model: every detector's AUROC on the same test images, and its ROC curves."""
    from sklearn.metrics import roc_auc_score

    import bitcluster as bc

    export = ensure_novelty_export(trained_model("mnist", bits, without=LEFT_OUT, smoke=smoke))
    model = bc.load_model(export, threads=1)
    side = model.preprocessing.height
    novel = np.isin(data.y_test, LEFT_OUT)
    train_codes = model.encode(x_train.reshape(-1, side, side))
    test_codes = model.encode(data.x_test.reshape(-1, side, side))
    scores, seconds = {}, {}
    t = time.perf_counter()
    scores["bmm -log p(z)"] = -model.score_samples(test_codes)
    seconds["bmm -log p(z)"] = time.perf_counter() - t
    t = time.perf_counter()
    scores[f"hamming {NEIGHBOURS}-NN"] = mean_knn_hamming(test_codes.packed, train_codes.packed)
    seconds[f"hamming {NEIGHBOURS}-NN"] = time.perf_counter() - t
    embedded = teacher_embedding(export.parent / "run", x_train, data.x_test)
    if embedded is not None:
        scores["teacher embedding k-means"] = kmeans_distance(*embedded, k=model.clusters)
    scores.update(pixel_scores)
    runs = []
    for name, s in scores.items():
        runs.append({"bits": bits, "detector": name, "codes_only": name in seconds, "auroc": float(roc_auc_score(novel, s)),
                     "seconds": seconds.get(name), "inliers": int((~novel).sum()), "novelties": int(novel.sum())})
    for rate in (0.01, 0.05):
        flagged = model.is_novel(test_codes, rate=rate)
        runs.append({"bits": bits, "detector": f"is_novel(rate={rate})", "rate": rate, "codes_only": True,
                     "flagged_novelties": float(flagged[novel].mean()), "flagged_inliers": float(flagged[~novel].mean()),
                     "train_flagged": float(model.is_novel(train_codes, rate=rate).mean())})
    curves = {name: roc_points(s, novel) for name, s in scores.items()}
    return runs, curves


def plot(curves: dict[int, dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(curves), figsize=(4.2 * len(curves), 4.2), squeeze=False)
    for ax, (bits, by_detector) in zip(axes[0], curves.items()):
        for name, (fpr, tpr) in by_detector.items():
            ax.plot(fpr, tpr, lw=1.3, ls="-" if "pixel" not in name and "teacher" not in name else "--", label=name)
        ax.plot([0, 1], [0, 1], color="0.8", lw=0.8)
        ax.set_title(f"{bits}-bit codes: 8 and 9 unseen in training", fontsize=9)
        ax.set_xlabel("inliers flagged (0-7)")
        ax.set_ylabel("novelties flagged (8, 9)")
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def table(runs: list[dict]) -> str:
    detectors = list(dict.fromkeys(r["detector"] for r in runs if "auroc" in r))
    bits = sorted({r["bits"] for r in runs})
    auroc = {(r["bits"], r["detector"]): r["auroc"] for r in runs if "auroc" in r}
    lines = ["| detector | " + " | ".join(f"AUROC {b} bits" for b in bits) + " |", "|---" * (len(bits) + 1) + "|"]
    for name in detectors:
        lines.append(f"| {name} | " + " | ".join(f"{auroc[(b, name)]:.3f}" if (b, name) in auroc else "–"
                                                   for b in bits) + " |")
    lines += ["", "| bits | rate | novelties flagged | inliers flagged | training codes flagged |", "|---|---|---|---|---|"]
    for r in runs:
        if "flagged_novelties" in r:
            lines.append(f"| {r['bits']} | {r['rate']} | {r['flagged_novelties']:.3f} "
                         f"| {r['flagged_inliers']:.3f} | {r['train_flagged']:.3f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bits", type=int, nargs="+", default=[16, 32, 64])
    add_smoke_options(ap)
    args = ap.parse_args()
    from bitcluster.data import load_dataset

    name, root = ("digits", MODELS / "smoke") if args.smoke else ("mnist", MODELS)
    data = load_dataset(name)
    x_train = load_dataset(dataset_without(name, LEFT_OUT, root)).x_train  # what the models were trained on
    novel = np.isin(data.y_test, LEFT_OUT)
    pixel_scores = {f"pixels k-means (K={k})": kmeans_distance(x_train, data.x_test, k) for k in (8, 64)}
    runs, curves = [], {}
    for bits in args.bits:
        bit_runs, curves[bits] = evaluate(bits, args.smoke, data, x_train, pixel_scores)
        runs += bit_runs
        print(table(bit_runs), flush=True)
    out = results_dir(args)
    plot(curves, out / "novelty_roc.png")
    extra = {"left_out": list(LEFT_OUT), "neighbours": NEIGHBOURS, "inliers": int((~novel).sum()),
             "novelties": int(novel.sum()), "smoke": args.smoke}
    write_results("novelty", runs, [], table(runs), extra=extra, directory=out)
    print(f"wrote {out / 'novelty.md'} and {out / 'novelty_roc.png'}")


if __name__ == "__main__":
    main()
