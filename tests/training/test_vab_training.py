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
