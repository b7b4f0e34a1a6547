"""Seconds per epoch in fp32 and bf16 (``--precision``), on one thread and two.

Two workloads, each trained from the same start (same seed, same initial weights) in both precisions:

* ``autoencoder``: the teacher's ``784-500-500-2000-10`` autoencoder on MNIST's 60,000 training
  images, batches of 256 (:func:`bitcluster.training.teacher.autoencoder.train_autoencoder`, its
  stopping rule capped at ``--epochs``);
* ``vab``: the ``vab`` recipe (:mod:`bitcluster.training.methods.vab.with_teacher`) at 8 and 32
  bits for ``--epochs`` epochs (the first pre-training, the rest joint), its pseudo-labels fixed
  random soft labels instead of the cached teacher's, so that no teacher is built: the epochs
  time the same network, losses and BMM initialisation.

An untimed warm-up on 2,048 images goes first. Each run records the seconds of every epoch, the last epoch's loss and the machine's load. The
target of issue 25 is bf16 at least 1.7x faster per epoch; the table gives the ratio per
workload and thread count.

    python bench/precision.py            # MNIST, 2 epochs, 1 and 2 threads
    python bench/precision.py --smoke    # digits, 1 epoch, 1 thread, a temporary directory
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_smoke_options, fmt, machine_load, results_dir, summarise, write_results  # noqa: E402

PRECISIONS = ("fp32", "bf16")


class FixedPseudoLabels:
    """A stand-in for :class:`~bitcluster.training.teacher.TeacherSource`: random soft labels, no teacher built."""

    def __init__(self, n: int, clusters: int, seed: int):
        self.responsibilities = np.random.default_rng(seed).dirichlet(np.ones(clusters), size=n)

    def teacher(self, data, clusters, seed, *, progress, **shape):
        return self


def autoencoder_run(x: np.ndarray, precision: str, epochs: int, smoke: bool) -> dict:
    from bitcluster.training.teacher import TeacherConfig
    from bitcluster.training.teacher.autoencoder import train_autoencoder
    from bitcluster.training.teacher.stopping import PlateauRule

    config = TeacherConfig(precision=precision, **({"hidden": (64, 64, 128)} if smoke else {}))
    # A window longer than the run: the rule stops at the cap only, the same number of epochs each time.
    _, record = train_autoencoder(x, config, seed=0, progress=False,
                                  rule=PlateauRule(window=epochs + 1, tolerance=0.0, max_epochs=epochs))
    return {"epochs": record["epochs"], "seconds_per_epoch": record["seconds"] / record["epochs"],
            "epoch_seconds": None, "final_loss": record["losses"][-1], "batch_size": record["batch_size"]}


def vab_run(data, bits: int, precision: str, epochs: int) -> dict:
    import torch

    from bitcluster.training.device import training_on
    from bitcluster.training.methods.vab.with_teacher import VABTeacherConfig, train

    cfg = VABTeacherConfig(bits=bits, epochs=epochs, pretrain_epochs=1 if epochs > 1 else 0)
    with training_on(torch.device("cpu"), precision):
        _, history = train(data, cfg, progress=False, teachers=FixedPseudoLabels(len(data.x_train), cfg.clusters, 0))
    seconds = [row["seconds"] for row in history]
    return {"epochs": len(history), "seconds_per_epoch": float(np.mean(seconds)), "epoch_seconds": seconds,
            "final_loss": history[-1]["loss"], "phases": [row["phase"] for row in history]}


def table(summary: list[dict]) -> str:
    lines = ["| workload | threads | fp32 s/epoch | bf16 s/epoch | bf16 speed-up |", "|---|---|---|---|---|"]
    by_key = {(r["workload"], r["threads"], r["precision"]): r for r in summary}
    for workload, threads in dict.fromkeys((r["workload"], r["threads"]) for r in summary):
        fp32, bf16 = by_key[(workload, threads, "fp32")], by_key[(workload, threads, "bf16")]
        ratio = fp32["seconds_per_epoch_mean"] / bf16["seconds_per_epoch_mean"]
        lines.append(f"| {workload} | {threads} | {fmt(fp32, 'seconds_per_epoch', 2)} | "
                     f"{fmt(bf16, 'seconds_per_epoch', 2)} | {ratio:.2f}x |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--bits", type=int, nargs="+", default=[8, 32])
    add_smoke_options(ap)
    args = ap.parse_args()
    import torch

    from bitcluster.data import load_dataset
    from bitcluster.training.precision import CPU_BF16_FLAGS, cpu_flags

    data = load_dataset("digits" if args.smoke else "mnist")
    epochs, threads_list = (1, [1]) if args.smoke else (args.epochs, args.threads)
    # Untimed, on a slice: the first call of each kernel (oneDNN's bf16 ones included) pays set-up costs.
    warm = data.subset(n_train=min(len(data.x_train), 2048))
    for precision in PRECISIONS:
        autoencoder_run(warm.x_train, precision, 1, args.smoke)
        vab_run(warm, args.bits[0], precision, 1)
    runs = []
    for threads in threads_list:
        torch.set_num_threads(threads)
        workloads = [("autoencoder", lambda p: autoencoder_run(data.x_train, p, epochs, args.smoke))]
        workloads += [(f"vab {b} bits", lambda p, b=b: vab_run(data, b, p, epochs)) for b in args.bits]
        for workload, run in workloads:
            for precision in PRECISIONS:  # interleaved: a load spike hits both alike
                result = {"workload": workload, "threads": threads, "precision": precision, "dataset": data.name,
                          **run(precision), **machine_load()}
                runs.append(result)
                print({k: result[k] for k in ("workload", "threads", "precision", "seconds_per_epoch",
                                              "final_loss")}, flush=True)
    summary = summarise(runs, ("workload", "threads", "precision"), ("seconds_per_epoch", "final_loss"))
    flags = sorted(cpu_flags() & set(CPU_BF16_FLAGS))
    path = write_results("precision", runs, summary, table(summary),
                         extra={"cpu_bf16_flags": flags, "torch": torch.__version__, "epochs": epochs},
                         directory=results_dir(args))
    print(table(summary))
    print(f"results: {path}")


if __name__ == "__main__":
    main()
