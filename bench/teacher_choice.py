"""The teacher's representation, measured on digits, MNIST and image sets made here, never on one set.

    python bench/teacher_choice.py                               # digits, shapes, glyphs; seeds 0 1 2
    python bench/teacher_choice.py --sets mnist --seeds 0        # MNIST too (minutes per teacher)
    python bench/teacher_choice.py --sets shapes --autoencoder   # the autoencoder teacher as well (slow)
    python bench/teacher_choice.py --smoke                       # tiny sets, one seed, a temporary directory

For each set and seed: K-means on raw pixels (fitted on the train split, scored on both), the
teacher's train ACC for every representation (PCA of the images as they are, PCA of images
centred by their centre of mass, the default ``auto`` that picks between those two by UMAP
agreement, and with ``--autoencoder`` N2D's autoencoder), and ``vab`` trained with the CLI's
defaults at ``--bits`` (``auto`` centring: its teacher and the model see the same images), scored
on the test split. Labels score; they choose nothing.

Teacher and vab rows record the teacher's ``recipe``; only rows of the current recipe are
resumed and tabled as such. Rows of earlier recipes stay in ``runs``; the table shows the vab
rows of recipe 2 (the teacher centred, the model learned from uncentred images) in a column of
their own.

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
# name -> (centring, teacher options); "auto" is the default, the one vab is trained with
VARIANTS = {"pca, as they are": ("none", {}), "pca, centred": ("mass", {}), "auto": ("auto", {})}
AUTOENCODER = {"autoencoder, as they are": ("none", {"features": "autoencoder"})}
# The recipe whose model learned from uncentred images while its teacher may have centred them.
UNCENTRED_STUDENT_RECIPE = 2


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


def teacher_run(data, clusters: int, seed: int, centring: str, options: dict, cache, smoke: bool) -> dict:
    from bitcluster.training.teacher import RECIPE_VERSION, TeacherConfig, build_teacher
    from bitcluster.training.teacher.centring import resolve_centring

    config = TeacherConfig(**options, **({"gmm_restarts": 2} if smoke else {}))
    t0 = time.perf_counter()
    centred, record = resolve_centring(data, clusters, seed, centring, config=config, cache=cache)
    teacher = build_teacher(centred, clusters, seed, config=config, cache=cache, progress=not smoke)
    return {"kind": "teacher", "recipe": RECIPE_VERSION, "train_acc": teacher.metadata["train_scores"]["acc"],
            "train_nmi": teacher.metadata["train_scores"]["nmi"], "centring": record["centre"],
            "centring_choice": record["choice"], "features": teacher.metadata["features"]["kind"],
            "seconds": time.perf_counter() - t0, "source": teacher.source}


def vab_run(data, clusters: int, seed: int, bits: int, cache, smoke: bool) -> dict:
    from bitcluster.training.pipeline import train_run
    from bitcluster.training.teacher import RECIPE_VERSION, TeacherConfig

    options = {"bits": bits, "clusters": clusters, "seed": seed, **({"epochs": 2} if smoke else {})}
    with tempfile.TemporaryDirectory() as tmp:
        metrics = train_run("vab", data, Path(tmp) / "run", options, progress=not smoke,
                            teacher=TeacherConfig(**({"gmm_restarts": 2} if smoke else {})), teacher_cache=cache)
    return {"kind": "vab", "variant": f"vab {bits} bits", "recipe": RECIPE_VERSION, "bits": bits,
            "test_acc": metrics["acc"], "test_nmi": metrics["nmi"], "centring": metrics["centring"]["centre"],
            "teacher_acc": metrics["teachers"][0]["train_scores"]["acc"], "seconds": metrics["train_seconds"]}


def current(run: dict) -> bool:
    """Whether a row is of this code's recipe (K-means has none: it never changes)."""
    from bitcluster.training.teacher import RECIPE_VERSION

    return run["kind"] == "kmeans" or run.get("recipe") == RECIPE_VERSION


def table(runs: list[dict]) -> str:
    lines = ["| set | images (train) | K-means test ACC | teacher train ACC: pca, as they are | pca, centred | auto "
             "(picked) | autoencoder | vab test ACC | vab / K-means | vab, model uncentred (recipe 2) |",
             "|---|---|---|---|---|---|---|---|---|---|"]

    def cell(rs: list[dict], field: str) -> str:
        values = [r[field] for r in rs]
        if not values:
            return "–"
        mean, std = mean_std(values)
        return f"{mean:.3f} ± {std:.3f}" if len(values) > 1 else f"{mean:.3f}"

    for name in dict.fromkeys(r["set"] for r in runs):
        earlier = [r for r in runs if r["set"] == name and r["kind"] == "vab"
                   and r.get("recipe", UNCENTRED_STUDENT_RECIPE) == UNCENTRED_STUDENT_RECIPE]
        of = [r for r in runs if r["set"] == name and current(r)]
        if not of:
            continue
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
                     f"{cell(vab, 'test_acc')} | {ratio} | {cell(earlier, 'test_acc')} |")
    lines += ["", "Mean ± std over the seeds run (K-means: its own seed). Teacher ACC on the train split; K-means and "
                  "vab on the test split, never seen in training. auto picks the centring whose UMAP clusterings "
                  "agree most across two UMAP seeds; labels choose nothing. vab is trained with the CLI's defaults "
                  "(auto centring: its teacher and the model see the same images); the last column is the recipe "
                  "before, whose model learned from the images as they are whatever its teacher saw."]
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
            for variant, (centring, options) in variants.items():
                todo[variant] = lambda c=centring, o=options: teacher_run(data, clusters, seed, c, o, cache, args.smoke)
            if not args.no_vab:
                todo[f"vab {args.bits} bits"] = lambda: vab_run(data, clusters, seed, args.bits, cache, args.smoke)
            for variant, run in todo.items():
                if any(r["set"] == name and r["seed"] == seed and r["variant"] == variant and current(r) for r in runs):
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
