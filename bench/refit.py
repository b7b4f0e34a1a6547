"""Re-clustering from codes alone: a K = 10 mixture fitted on MNIST's training codes, no images, no old mixture.

For each code length, the model from ``bench/_models.py`` (VAB, the CLI's defaults) encodes the
60,000 training and 10,000 test images once. Then, per seed:

* ``refit``: :func:`bitcluster.training.refit.fit_code_mixture` (screened restarts on the distinct
  codes weighted by their counts), its test ACC and its time on one core;
* ``plain EM``: ``BernoulliMixture(10, n_init=5, max_iter=200)`` on every code, the recipe the issue
  measured (0.876 at 32 bits, seed 0), for contrast;

beside the jointly trained model's own test ACC. Also, once per code length, ``refit_model_dir``
end to end (fit, ONNX trace, novelty quantiles, files) and ``--clusters auto``'s choice with its
curve (the held-out log-likelihood against K, drawn in ``refit_k.png``).

    python bench/refit.py            # 32, 64, 16 bits
    python bench/refit.py --smoke    # 8x8 digits, 10-epoch model, a temporary directory
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # one core, before numpy loads
    os.environ[_var] = "1"

import argparse  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_smoke_options, fmt, machine_load, results_dir, summarise, write_results  # noqa: E402
from _models import trained_model  # noqa: E402

CLUSTERS = 10


def encoded(model_dir: Path, data: str) -> dict:
    """Train and test codes (packed) of ``data`` under the model, its test labels and its own test clusters."""
    import bitcluster as bc
    from bitcluster.data import load_dataset

    d = load_dataset(data)
    model = bc.load_model(model_dir, threads=1)
    shape = (-1, d.preprocessing.height, d.preprocessing.width)
    train, test = model.encode(d.x_train.reshape(shape)), model.encode(d.x_test.reshape(shape))
    return {"train": train.packed, "test": test.packed, "bits": model.bits, "y_test": d.y_test,
            "joint_test": model.classify(test)}


def timed(f):
    start = time.perf_counter()
    out = f()
    return out, time.perf_counter() - start


def plot_curves(curves: dict[int, dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(curves), figsize=(5 * len(curves), 3.6), squeeze=False)
    for ax, (bits, choice) in zip(axes[0], curves.items()):
        k = [p["clusters"] for p in choice["curve"]]
        ll = [p["held_out_log_likelihood"] for p in choice["curve"]]
        ax.plot(k, ll, "o-", color="tab:blue", label="held-out log-likelihood per code")
        ax.plot([k[0], k[-1]], [ll[0], ll[-1]], ":", color="grey", label="chord")
        ax.axvline(choice["chosen"], color="tab:red", ls="--", label=f"chosen K = {choice['chosen']}")
        ax.set(title=f"{bits}-bit codes", xlabel="K", ylabel="nats per code")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bits", type=int, nargs="+", default=[32, 64, 16])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--auto-bits", type=int, nargs="*", default=[32, 64], help="code lengths to run --clusters auto on")
    add_smoke_options(ap)
    args = ap.parse_args()
    from bitcluster.core.metrics import cluster_accuracy
    from bitcluster.core.mixture import BernoulliMixture
    from bitcluster.core.codes import unpack_codes
    from bitcluster.training.refit import CANDIDATE_CLUSTERS, choose_clusters, fit_code_mixture, refit_model_dir

    data = "digits" if args.smoke else "mnist"
    bits_list, seeds, auto_bits = ([32], 2, [32]) if args.smoke else (args.bits, args.seeds, args.auto_bits)
    candidates = range(2, 13) if args.smoke else CANDIDATE_CLUSTERS
    out_dir = results_dir(args)
    runs, curves, ends = [], {}, []
    for bits in bits_list:
        model_dir = trained_model("mnist", bits, smoke=args.smoke)
        codes = encoded(model_dir, data)
        z_train, z_test = unpack_codes(codes["train"], bits), unpack_codes(codes["test"], bits)
        joint = cluster_accuracy(codes["y_test"], codes["joint_test"])
        for seed in range(seeds):
            fit, seconds = timed(lambda: fit_code_mixture(z_train, CLUSTERS, random_state=seed))
            runs.append({"bits": bits, "seed": seed, "fit": "refit", "acc": cluster_accuracy(codes["y_test"],
                         fit.predict(z_test)), "joint_acc": joint, "seconds": seconds, "codes": len(z_train),
                         "log_likelihood": fit.lower_bound_, **machine_load()})
            plain, seconds = timed(lambda: BernoulliMixture(CLUSTERS, n_init=5, max_iter=200,
                                                            random_state=seed).fit(z_train))
            runs.append({"bits": bits, "seed": seed, "fit": "plain EM", "acc": cluster_accuracy(
                codes["y_test"], plain.predict(z_test)), "joint_acc": joint, "seconds": seconds,
                "codes": len(z_train), "log_likelihood": plain.lower_bound_, **machine_load()})
            print({k: runs[-2][k] for k in ("bits", "seed", "acc", "joint_acc", "seconds")},
                  {k: runs[-1][k] for k in ("acc", "seconds")}, flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            result, seconds = timed(lambda: refit_model_dir(codes["train"], model_dir, Path(tmp) / "m2", CLUSTERS))
        ends.append({"bits": bits, "seconds": seconds, "model_id": result.manifest.model_id})
        if bits in auto_bits:
            (k, choice), seconds = timed(lambda: choose_clusters(z_train, candidates=candidates))
            curves[bits] = {**choice, "chosen": k, "seconds": seconds}
            print(f"{bits} bits: auto chose K = {k} in {seconds:.0f} s", flush=True)
    summary = summarise(runs, ("bits", "fit"), ("acc", "joint_acc", "seconds"))
    lines = [f"Re-clustering {'digits' if args.smoke else 'MNIST'} training codes into K = {CLUSTERS} "
             f"(test ACC, {seeds} seeds, one core)", "",
             "| bits | fit | ACC | joint model ACC | seconds per fit |", "|---:|---|---|---|---|"]
    lines += [f"| {r['bits']} | {r['fit']} | {fmt(r, 'acc')} | {fmt(r, 'joint_acc')} | {fmt(r, 'seconds', 1)} |"
              for r in summary]
    lines += ["", "`refit_model_dir` end to end (fit, ONNX trace, novelty quantiles, files), K = 10:", "",
              "| bits | seconds |", "|---:|---:|"] + [f"| {e['bits']} | {e['seconds']:.1f} |" for e in ends]
    if curves:
        lines += ["", "`--clusters auto` (held-out log-likelihood elbow, `refit_k.png`):", "",
                  "| bits | chosen K | seconds | held-out log-likelihood per code, K = "
                  f"{candidates[0]}..{candidates[-1]} |", "|---:|---:|---:|---|"]
        lines += [f"| {b} | {c['chosen']} | {c['seconds']:.0f} | "
                  + " ".join(f"{p['held_out_log_likelihood']:.3f}" for p in c["curve"]) + " |"
                  for b, c in curves.items()]
        plot_curves(curves, out_dir / "refit_k.png")
    table = "\n".join(lines)
    print(table)
    path = write_results("refit", runs, summary, table, {"end_to_end": ends, "clusters_auto": curves}, out_dir)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
