"""The teacher's representation, measured on digits, MNIST and image sets made here, never on one set.

    python bench/teacher_choice.py                               # digits, shapes, glyphs; seeds 0 1 2
    python bench/teacher_choice.py --sets mnist --seeds 0        # MNIST too (minutes per teacher)
    python bench/teacher_choice.py --sets shapes --autoencoder   # the autoencoder teacher as well (slow)
    python bench/teacher_choice.py --smoke                       # tiny sets, one seed, a temporary directory

For each set and seed: K-means on raw pixels (fitted on the train split, scored on both), the
teacher's train ACC for every representation (PCA of the images as they are, PCA of images
centred by their centre of mass, the default ``auto`` that picks between those two by UMAP
agreement, and with ``--autoencoder`` N2D's autoencoder), and ``vab`` trained with the default
teacher at ``--bits``, scored on the test split. Labels score; they choose nothing.

``shapes`` and ``glyphs`` (:mod:`_made_data`): 8,000 28x28 images, 10 classes, drawn here. Results
are written after every run, and a (set, seed, variant) already in ``teacher_choice.json`` is kept:
an interrupted benchmark resumes where it stopped.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _made_data  # noqa: E402
from _common import add_smoke_options, machine_load, mean_std, results_dir, write_results  # noqa: E402

from bitcluster.core.metrics import cluster_accuracy  # noqa: E402
from bitcluster.data import cache_dir, load_dataset  # noqa: E402

NAME = "teacher_choice"
MADE_IMAGES = 8000
# name -> teacher options; "auto" is the default teacher, the one vab is trained with
VARIANTS = {"pca, as they are": {"centring": "none"}, "pca, centred": {"centring": "mass"}, "auto": {}}
AUTOENCODER = {"autoencoder, as they are": {"features": "autoencoder", "centring": "none"}}


def data_source(name: str, smoke: bool) -> str:
    if name in ("digits", "mnist"):
        return name
    n = 300 if smoke else MADE_IMAGES
    path = cache_dir() / "made" / f"{name}-{n}-0.npz"
    if not path.is_file():
        _made_data.write_npz(name, n, 0, path)
    return str(path)


def kmeans_run(data, seed: int) -> dict:
    from sklearn.cluster import KMeans

    t0 = time.perf_counter()
    km = KMeans(len(set(data.y_train.tolist())), n_init=10, random_state=seed).fit(data.x_train)
    return {"kind": "kmeans", "variant": "k-means, raw pixels", "train_acc": cluster_accuracy(data.y_train, km.labels_),
            "test_acc": cluster_accuracy(data.y_test, km.predict(data.x_test)), "seconds": time.perf_counter() - t0}


def teacher_run(data, clusters: int, seed: int, options: dict, cache, smoke: bool) -> dict:
    from bitcluster.training.teacher import TeacherConfig, build_teacher

    config = TeacherConfig(**options, **({"gmm_restarts": 2} if smoke else {}))
    teacher = build_teacher(data, clusters, seed, config=config, cache=cache, progress=not smoke)
    features = teacher.metadata["features"]
    return {"kind": "teacher", "train_acc": teacher.metadata["train_scores"]["acc"],
            "train_nmi": teacher.metadata["train_scores"]["nmi"], "centring": features["centring"],
            "centring_choice": features["centring_choice"], "features": features["kind"],
            "seconds": teacher.metadata["seconds"]["total"], "source": teacher.source}


def vab_run(data, clusters: int, seed: int, bits: int, cache, smoke: bool) -> dict:
    from bitcluster.training.pipeline import train_run
    from bitcluster.training.teacher import TeacherConfig

    options = {"bits": bits, "clusters": clusters, "seed": seed, **({"epochs": 2} if smoke else {})}
    with tempfile.TemporaryDirectory() as tmp:
        metrics = train_run("vab", data, Path(tmp) / "run", options, progress=not smoke,
                            teacher=TeacherConfig(**({"gmm_restarts": 2} if smoke else {})), teacher_cache=cache)
    return {"kind": "vab", "variant": f"vab {bits} bits", "bits": bits, "test_acc": metrics["acc"],
            "test_nmi": metrics["nmi"], "teacher_acc": metrics["teachers"][0]["train_scores"]["acc"],
            "seconds": metrics["train_seconds"]}


def table(runs: list[dict]) -> str:
    lines = ["| set | images (train) | K-means test ACC | teacher train ACC: pca, as they are | pca, centred | auto "
             "(picked) | autoencoder | vab test ACC | vab / K-means |", "|---|---|---|---|---|---|---|---|---|"]

    def cell(rs: list[dict], field: str) -> str:
        values = [r[field] for r in rs]
        if not values:
            return "–"
        mean, std = mean_std(values)
        return f"{mean:.3f} ± {std:.3f}" if len(values) > 1 else f"{mean:.3f}"

    for name in dict.fromkeys(r["set"] for r in runs):
        of = [r for r in runs if r["set"] == name]
        pick = lambda variant: [r for r in of if r["variant"] == variant]  # noqa: E731
        kmeans, vab = pick("k-means, raw pixels"), [r for r in of if r["kind"] == "vab"]
        auto = pick("auto")
        picked = ", ".join(sorted({r["centring"] for r in auto})) or "–"
        ratio = "–"
        if kmeans and vab:
            ratio = f"{mean_std([r['test_acc'] for r in vab])[0] / mean_std([r['test_acc'] for r in kmeans])[0]:.2f}x"
        lines.append(f"| {name} | {of[0]['n_train']} | {cell(kmeans, 'test_acc')} | "
                     f"{cell(pick('pca, as they are'), 'train_acc')} | {cell(pick('pca, centred'), 'train_acc')} | "
                     f"{cell(auto, 'train_acc')} ({picked}) | {cell(pick('autoencoder, as they are'), 'train_acc')} | "
                     f"{cell(vab, 'test_acc')} | {ratio} |")
    lines += ["", "Mean ± std over the seeds run (K-means: its own seed). Teacher ACC on the train split; K-means and "
                  "vab on the test split, never seen in training. auto picks the centring whose UMAP clusterings "
                  "agree most across two UMAP seeds; labels choose nothing."]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", nargs="+", default=["digits", "shapes", "glyphs"],
                    choices=["digits", "mnist", *_made_data.SETS])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--bits", type=int, default=32)
    ap.add_argument("--autoencoder", action="store_true", help="also the autoencoder teacher (slow)")
    ap.add_argument("--no-vab", action="store_true", help="teachers and K-means only")
    add_smoke_options(ap)
    args = ap.parse_args()
    if args.smoke:
        args.sets, args.seeds = ["digits", "shapes"], [0]
    from bitcluster.training.teacher import TeacherCache

    cache = TeacherCache(Path(tempfile.mkdtemp(prefix="bitcluster-smoke-teachers-"))) if args.smoke else TeacherCache()
    directory = results_dir(args)
    done_path = directory / f"{NAME}.json"
    runs = json.loads(done_path.read_text())["runs"] if done_path.is_file() else []
    variants = {**VARIANTS, **(AUTOENCODER if args.autoencoder else {})}
    for name in args.sets:
        data = load_dataset(data_source(name, args.smoke))
        if args.smoke and name == "digits":
            data = data.subset(n_train=300, n_test=100)
        clusters = len(set(data.y_train.tolist()))
        for seed in args.seeds:
            todo = {"k-means, raw pixels": lambda: kmeans_run(data, seed)}
            for variant, options in variants.items():
                todo[variant] = lambda options=options: teacher_run(data, clusters, seed, options, cache, args.smoke)
            if not args.no_vab:
                todo[f"vab {args.bits} bits"] = lambda: vab_run(data, clusters, seed, args.bits, cache, args.smoke)
            for variant, run in todo.items():
                if any(r["set"] == name and r["seed"] == seed and r["variant"] == variant for r in runs):
                    continue
                record = {"set": name, "seed": seed, "variant": variant, "n_train": len(data.x_train), **run(),
                          **machine_load()}
                runs.append(record)
                print(json.dumps({k: record.get(k) for k in ("set", "seed", "variant", "train_acc", "test_acc",
                                                             "centring", "seconds")}), flush=True)
                write_results(NAME, runs, [], table(runs), directory=directory)
    print(table(runs))
    print(f"results: {done_path}")


if __name__ == "__main__":
    main()
