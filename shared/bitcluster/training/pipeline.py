"""Train -> evaluate -> save: what ``bitcluster train`` and the benchmarks run."""

from __future__ import annotations

import dataclasses
import platform
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bitcluster import __version__
from bitcluster.data import BUILTIN_DATASETS, Dataset, load_dataset
from bitcluster.core.atomic import refuse_existing, replacing_directory
from bitcluster.core.centring import CENTRING
from bitcluster.training.collapse import collapse_report
from bitcluster.training.methods import METHODS, check_channels_trainable, get_method, lookup
from bitcluster.training.methods.shared_pretraining import SHARED_PHASE
from bitcluster.training.report.predict import predict_clusters
from bitcluster.training.report.run_report import write_run_report
from bitcluster.training.runs import CONFIG, HISTORY, METRICS, read_config, run_dataset, write_json

if TYPE_CHECKING:  # the teacher imports torch; the command line imports this module without it
    from bitcluster.training.teacher import TeacherCache, TeacherConfig


def train_run(method: str, data: str | Dataset, out: Path, options: dict, progress: bool = True, *,
              device: str = "auto", precision: str = "fp32", force: bool = False, centring: str | None = None,
              teacher: TeacherConfig | None = None, teacher_cache: TeacherCache | None = None) -> dict:
    """Train ``method`` on ``data``, score it on the test split and write the run directory ``out``.

    ``options`` set fields of the method's config (``None``: keep the default); an option the
    method does not take is a ``ValueError`` that lists the ones it does, raised before anything
    is loaded or trained. So is an ``out`` that exists and is not empty, unless ``force``
    (:class:`~bitcluster.core.atomic.TargetExistsError`), and a ``device`` (``auto``, ``cpu``,
    ``cuda``) this machine does not have. The run is written into a sibling temporary directory
    and renamed to ``out`` once complete: ``out`` never holds half a run. Returns the metrics
    written to ``metrics.json``.

    ``teacher`` (default: :class:`~bitcluster.training.teacher.TeacherConfig`'s defaults) and
    ``teacher_cache`` (default: the default cache directory) say how the teacher of a method that
    declares ``uses_teacher`` is built and where it is cached; the config is recorded in
    ``config.json["teacher"]`` and the teachers used in ``metrics.json["teachers"]``. A teacher
    config given to a method that uses no teacher is a ``ValueError``.

    ``centring`` (``auto``, ``mass``, ``none``; None: the method's own, see
    :mod:`~bitcluster.training.teacher.centring`) says whether the images are centred by their
    centre of mass before anything learns from them; the choice becomes part of the run's
    preprocessing (``config.json["preprocessing"]["centre"]``, then the exported manifest, so that
    the vendor centres too), and ``metrics.json["centring"]`` records how it was made.

    ``precision`` (``auto``, ``fp32``, ``bf16``; see :mod:`bitcluster.training.precision`) is
    resolved on the device: ``auto`` is ``bf16`` where the device multiplies bfloat16 natively.
    The method trains in it if it declares ``trains_in_bf16``, else in ``fp32`` (asking such a
    method for ``bf16`` is a ``ValueError``); the teacher's autoencoder trains in it and its
    config records it (a part of its cache key). ``config.json`` and ``metrics.json`` record the
    method's as ``precision``.
    """
    from bitcluster.training.device import resolve_device, training_on
    from bitcluster.training.precision import PrecisionUnavailableError, resolve_precision
    from bitcluster.training.teacher import TeacherConfig

    spec = lookup(method)
    spec.make_config(options)
    if teacher is not None and not spec.uses_teacher:
        raise ValueError(f"{method} learns from no teacher: a teacher config does not apply to it")
    on = resolve_device(device)
    resolved = resolve_precision(precision, on)
    if precision == "bf16" and not spec.trains_in_bf16:
        raise PrecisionUnavailableError(f"{method} trains in fp32 only; --precision bf16 applies to "
                                        f"{', '.join(m.name for m in METHODS.values() if m.trains_in_bf16)}")
    teacher = (teacher or TeacherConfig()).at_precision(resolved, on)
    centring = centring or spec.centring
    if centring not in CENTRING:
        raise ValueError(f"centring is one of {', '.join(CENTRING)}, not {centring!r}")
    refuse_existing(Path(out), force)
    with training_on(on, resolved if spec.trains_in_bf16 else "fp32"), \
            replacing_directory(Path(out), force) as run_dir:
        return _train_into(method, data, run_dir, options, progress, centring, teacher, teacher_cache)


def _train_into(method: str, data: str | Dataset, out: Path, options: dict, progress: bool, centring: str,
                teacher: TeacherConfig, teacher_cache: TeacherCache | None) -> dict:
    """:func:`train_run`'s work, writing into the (temporary) directory ``out`` on the current device."""
    import torch

    from bitcluster.training.device import current_precision, device_record
    from bitcluster.training.teacher import TeacherCache, TeacherSource
    from bitcluster.training.teacher.build import announcer
    from bitcluster.training.teacher.centring import resolve_centring

    spec = lookup(method)
    cfg = spec.make_config(options)
    impl = spec.module
    dataset = data if isinstance(data, Dataset) else load_dataset(data)
    check_channels_trainable(spec, dataset.preprocessing)
    out = Path(out)
    teachers = TeacherSource(teacher, teacher_cache or TeacherCache())
    dataset, centring_record = resolve_centring(dataset, cfg.clusters, cfg.seed, centring, config=teachers.config,
                                                cache=teachers.cache, say=announcer(progress))
    t0 = time.perf_counter()
    teacher_argument = {"teachers": teachers} if spec.uses_teacher else {}
    state, history = impl.train(dataset, cfg, progress=progress, **teacher_argument)
    train_seconds = time.perf_counter() - t0
    # Where the data came from, so that `evaluate` finds it again (a user file by its absolute path).
    source = data if isinstance(data, str) else dataset.name
    if isinstance(data, str) and data not in BUILTIN_DATASETS:
        source = str(Path(data).resolve())
    config = {"method": method, "dataset": dataset.name, "data_source": source,
              "preprocessing": dataset.preprocessing.to_dict(), "bitcluster_version": __version__,
              "train": dataclasses.asdict(cfg), "model": impl.architecture(cfg, dataset), **device_record(),
              "precision": current_precision()}
    if spec.uses_teacher:
        config["teacher"] = teachers.config.as_dict()
    write_json(out / CONFIG, config)
    impl.save(state, out)
    write_json(out / HISTORY, history)
    # Epochs this run trained; the shared autoencoder's rows (built once, usually read from the
    # cache) are counted apart.
    shared = sum(row.get("phase") == SHARED_PHASE for row in history)
    epochs = len(history) - shared
    # A method that trained several starts and kept one (vab at short codes) says so in its last row;
    # the seconds cover every start, the history only the kept one's epochs.
    restarts = history[-1].get("restarts") if history else None
    starts = len(restarts["starts"]) if restarts else 1
    metrics = {"method": method, "dataset": dataset.name, "seed": cfg.seed, "clusters": cfg.clusters,
               "epochs": epochs, "shared_pretraining_epochs": shared, "train_seconds": train_seconds,
               "seconds_per_epoch": train_seconds / (epochs * starts) if epochs else None,
               "torch_threads": torch.get_num_threads(), "machine": platform.machine(), **device_record(),
               "precision": current_precision(), "centring": centring_record,
               **impl.evaluate(state, dataset)}
    if restarts:
        metrics["restarts"] = restarts
    if teachers.used:  # the cached teacher(s) the run learned from or started from
        metrics["teachers"] = teachers.used
    if spec.protocol_notes:  # where the recipe differs from the method's paper, for the tables
        metrics["protocol_notes"] = impl.protocol_notes(cfg, dataset)
    clusters = predict_clusters(method, state, dataset.x_test)
    metrics["clusters_used"] = int(len(np.unique(clusters)))
    metrics.update(collapse_report(clusters=cfg.clusters, clusters_used=metrics["clusters_used"],
                                   bits=getattr(cfg, "bits", None), dead=metrics.get("dead_bits")))
    write_json(out / METRICS, metrics)
    write_run_report(out, dataset, clusters, history)
    return metrics


def evaluate_run(run_dir: Path, data: str | None = None) -> dict:
    """Re-score a run directory, on its own dataset or on ``data``."""
    config = read_config(run_dir)
    impl = get_method(config["method"])
    dataset = run_dataset(run_dir, config, data)
    state = impl.load(Path(run_dir))
    return {"method": config["method"], "dataset": dataset.name, **impl.evaluate(state, dataset)}
