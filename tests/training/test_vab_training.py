"""A short real training on digits: the model learns, reproducibly, and writes a proper run dir."""

import json

import numpy as np
import pytest
import torch

from bitcluster.data import load_dataset
from bitcluster.training.methods.scoring import evaluate_vab
from bitcluster.training.nets.vab import VAB, VABConfig
from bitcluster.training.pipeline import evaluate_run, train_run
from bitcluster.training.methods.vab.loss import elbo_terms

REQUIRED = {"method", "dataset", "bits", "bpp", "clusters", "acc", "nmi", "ari", "psnr", "n_test", "seed",
            "train_seconds"}


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.fixture(scope="module")
def trained(tmp_path_factory, digits, digits_teacher):
    out = tmp_path_factory.mktemp("run")
    metrics = train_run("vab", digits, out, {"bits": 16, "clusters": 10, "epochs": 40, "seed": 0}, progress=False)
    return out, metrics


def test_vab_learns_well_above_chance_and_the_untrained_model(trained, digits):
    _, metrics = trained
    torch.manual_seed(0)
    untrained = evaluate_vab(VAB(VABConfig(64, 16, 10)), digits)
    assert metrics["acc"] > 0.6, metrics          # chance is about 0.1
    assert metrics["acc"] > untrained["acc"] + 0.3
    assert metrics["psnr"] > untrained["psnr"] + 3


def test_run_directory_holds_config_weights_and_metrics(trained):
    out, metrics = trained
    assert (out / "config.json").is_file() and (out / "model.safetensors").is_file()
    on_disk = json.loads((out / "metrics.json").read_text())
    assert REQUIRED <= set(on_disk)
    assert on_disk["bits"] == 16 and on_disk["bpp"] == pytest.approx(16 / 64) and on_disk["n_test"] == 359
    # evaluate re-scores the saved weights to the same numbers
    again = evaluate_run(out)
    assert again["acc"] == pytest.approx(metrics["acc"]) and again["psnr"] == pytest.approx(metrics["psnr"])


def test_same_seed_same_model(digits, digits_teacher, tmp_path):
    a = train_run("vab", digits, tmp_path / "a", {"bits": 8, "epochs": 3, "seed": 0}, progress=False)
    b = train_run("vab", digits, tmp_path / "b", {"bits": 8, "epochs": 3, "seed": 0}, progress=False)
    assert (tmp_path / "a/model.safetensors").read_bytes() == (tmp_path / "b/model.safetensors").read_bytes()
    assert a["acc"] == b["acc"]


def test_paper_recipe_runs_and_refits_the_bmm(digits, tmp_path):
    m = train_run("vab-paper", digits.subset(600, 200), tmp_path, {"bits": 16, "epochs": 3, "seed": 0}, progress=False)
    assert 0.0 < m["acc"] <= 1.0 and np.isfinite(m["psnr"])
    history = json.loads((tmp_path / "history.json").read_text())
    assert [h["phase"] for h in history] == ["joint"] * 3


def test_elbo_terms_have_the_right_signs():
    torch.manual_seed(0)
    model = VAB(VABConfig(64, 8, 3))
    x = torch.rand(32, 64)
    t = elbo_terms(x, model(x, tau=1.0), model.prior)
    assert t["A1"] < 0          # log-likelihood of pixels
    assert t["A2"] > 0          # entropy of q(z|x)
    assert t["A3"] < 0          # log p(z|c) of binary codes
    assert t["A4"] <= 1e-6      # -KL(q(c|z) || p(c)) <= 0


@pytest.mark.slow  # three CLI processes
def test_cli_trains_and_evaluates_a_user_npz(tmp_path):
    """The CLI end to end on a user file: train, evaluate, export."""
    import subprocess
    import sys

    digits = load_dataset("digits")
    x = (digits.x_train[:300].reshape(-1, 8, 8) * 255).astype(np.uint8)
    np.savez(tmp_path / "mine.npz", x=x, y=digits.y_train[:300])
    cli = [sys.executable, "-m", "bitcluster.cli"]
    # vab-paper: the wiring of a user file through train and evaluate, without building a teacher of
    # these 240 images (minutes at its default size; the default teacher's path is test_teacher's)
    run = subprocess.run(cli + ["train", "--method", "vab-paper", "--data", str(tmp_path / "mine.npz"),
                                "--bits", "8", "--epochs", "2",
                                "--out", str(tmp_path / "run"), "--quiet", "--threads", "1"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    trained = json.loads(run.stdout)
    assert trained["dataset"] == "mine" and trained["n_test"] == 60 and trained["bits"] == 8
    scored = subprocess.run(cli + ["evaluate", str(tmp_path / "run")], capture_output=True, text=True, timeout=300)
    assert scored.returncode == 0 and json.loads(scored.stdout)["acc"] == pytest.approx(trained["acc"])
    bad = subprocess.run(cli + ["train", "--data", str(tmp_path / "missing.npz"), "--out", str(tmp_path / "x")],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "no such data file" in bad.stderr


class _SaturatedVAB(VAB):
    """A VAB whose code logits start far positive: every bit is 1 for every image, a state the
    unpenalised pre-training can fall into in its first epoch."""

    def __init__(self, config):
        super().__init__(config)
        with torch.no_grad():
            self.g_a[-1].bias.fill_(60.0)


@pytest.mark.parametrize("penalty, alive", [(0.0, False), (1e-3, True)])
def test_logit_penalty_revives_a_saturated_code(digits, monkeypatch, penalty, alive):
    from bitcluster.training.methods.vab import with_teacher

    monkeypatch.setattr(with_teacher, "VAB", _SaturatedVAB)
    monkeypatch.setattr(with_teacher, "own_feature_pseudo_labels", lambda f, k, seed: np.full((len(f), k), 1.0 / k))
    cfg = with_teacher.VABTeacherConfig(bits=8, epochs=9, pretrain_epochs=8, seed=0, logit_penalty=penalty,
                                        teacher="own", teacher_rounds=1)
    model, _ = with_teacher.train(digits, cfg, progress=False)
    codes = model.encode(torch.from_numpy(digits.x_test)).numpy()
    used = int(((codes.min(axis=0) == 0) & (codes.max(axis=0) == 1)).sum())
    assert used >= 6 if alive else used == 0, used


# Several starts (``restarts``): a tiny teacher of a digits subset, cached in the test's folder,
# and a few epochs: these tests check which start is kept, not how good it is.
TINY_TEACHER = {"hidden": (32, 32, 64), "latent": 4, "plateau_steps": 20, "max_steps": 60, "gmm_restarts": 2}


@pytest.fixture(scope="module")
def tiny_teachers(tmp_path_factory):
    from bitcluster.training.teacher import TeacherCache, TeacherConfig, TeacherSource

    return TeacherSource(TeacherConfig(**TINY_TEACHER), TeacherCache(tmp_path_factory.mktemp("teachers")))


@pytest.fixture(scope="module")
def few_digits(digits):
    return digits.subset(400, 100)


def _weights(model) -> dict:
    return {k: v.clone() for k, v in model.state_dict().items()}


def _same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_restarts_default_to_three_only_where_clusters_must_share_code_values():
    from bitcluster.training.methods.vab.with_teacher import VABTeacherConfig, default_restarts, start_seed

    assert default_restarts(VABTeacherConfig(bits=4, clusters=10)) == 3    # 16 values < 2 x 10
    assert default_restarts(VABTeacherConfig(bits=5, clusters=10)) == 1    # 32 values >= 20
    assert default_restarts(VABTeacherConfig(bits=32, clusters=10)) == 1
    assert default_restarts(VABTeacherConfig(bits=5, clusters=20)) == 3
    assert default_restarts(VABTeacherConfig(bits=4, clusters=10, teacher="own")) == 1  # no one teacher to rank by
    assert start_seed(7, 0) == 7 and len({start_seed(7, s) for s in range(5)}) == 5


@pytest.mark.parametrize("options", [{"restarts": 0}, {"restarts": 2, "teacher": "own"}])
def test_restarts_refuses_what_it_cannot_rank(few_digits, options):
    from bitcluster.training.methods.vab.with_teacher import VABTeacherConfig, train

    with pytest.raises(ValueError, match="restarts"):
        train(few_digits, VABTeacherConfig(bits=4, epochs=2, **options), progress=False)


def test_the_kept_start_is_the_one_agreeing_most_with_the_teacher(few_digits, tiny_teachers, monkeypatch):
    from bitcluster.training.methods.vab import with_teacher

    agreements = iter([0.2, 0.7, 0.4])
    monkeypatch.setattr(with_teacher, "teacher_agreement", lambda model, x, resp: next(agreements))
    cfg = with_teacher.VABTeacherConfig(bits=4, epochs=2, seed=0)       # restarts by the rule: 3
    model, history = with_teacher.train(few_digits, cfg, progress=False, teachers=tiny_teachers)
    record = history[-1]["restarts"]
    assert record["kept"] == 1 and [s["agreement"] for s in record["starts"]] == [0.2, 0.7, 0.4]
    assert [s["seed"] for s in record["starts"]] == [with_teacher.start_seed(0, s) for s in range(3)]
    resp = tiny_teachers.teacher(few_digits, cfg.clusters, cfg.seed, progress=False).responsibilities
    second, _ = with_teacher.train_start(few_digits, cfg, with_teacher.start_seed(0, 1), resp, progress=False)
    assert _same_weights(_weights(model), _weights(second))


def test_the_agreement_recorded_is_the_kept_models_nmi_with_the_teacher(few_digits, tiny_teachers):
    from bitcluster.training.methods.vab import with_teacher

    cfg = with_teacher.VABTeacherConfig(bits=4, epochs=4, seed=0)
    model, history = with_teacher.train(few_digits, cfg, progress=False, teachers=tiny_teachers)
    record = history[-1]["restarts"]
    agreement = [s["agreement"] for s in record["starts"]]
    assert record["kept"] == int(np.argmax(agreement)) and all(0.0 <= a <= 1.0 for a in agreement)
    resp = tiny_teachers.teacher(few_digits, cfg.clusters, cfg.seed, progress=False).responsibilities
    x = torch.from_numpy(few_digits.x_train)
    assert with_teacher.teacher_agreement(model, x, resp) == pytest.approx(max(agreement))


def test_one_start_is_the_first_of_several(few_digits, tiny_teachers, monkeypatch):
    """restarts=1 trains the run's own seed exactly as before restarts existed; it is start 0 of several."""
    from bitcluster.training.methods.vab import with_teacher

    single, single_history = with_teacher.train(few_digits, with_teacher.VABTeacherConfig(bits=4, epochs=2, restarts=1),
                                                progress=False, teachers=tiny_teachers)
    assert all("restarts" not in row for row in single_history)
    agreements = iter([0.9, 0.1, 0.3])
    monkeypatch.setattr(with_teacher, "teacher_agreement", lambda model, x, resp: next(agreements))
    several, history = with_teacher.train(few_digits, with_teacher.VABTeacherConfig(bits=4, epochs=2, restarts=3),
                                          progress=False, teachers=tiny_teachers)
    assert history[-1]["restarts"]["kept"] == 0
    assert _same_weights(_weights(single), _weights(several))
    assert [row["loss"] for row in history] == [row["loss"] for row in single_history]


def test_a_run_of_several_starts_records_them_in_its_metrics(few_digits, tiny_teachers, tmp_path):
    from bitcluster.training.pipeline import train_run

    metrics = train_run("vab", few_digits, tmp_path / "run", {"bits": 4, "epochs": 2, "restarts": 2},
                        progress=False, teacher=tiny_teachers.config, teacher_cache=tiny_teachers.cache)
    record = metrics["restarts"]
    assert record["criterion"] == "nmi_with_teacher" and len(record["starts"]) == 2
    assert record["kept"] == int(np.argmax([s["agreement"] for s in record["starts"]]))
    assert metrics["seconds_per_epoch"] == pytest.approx(metrics["train_seconds"] / (2 * metrics["epochs"]))
