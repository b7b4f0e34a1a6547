"""``--precision auto|fp32|bf16``: resolved from the hardware, recorded in the run, losses kept in float32."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from bitcluster import cli
from bitcluster.data import load_dataset
from bitcluster.training import precision as precision_module
from bitcluster.training.device import current_precision, training_on
from bitcluster.training.loop import seeded_generator, train_epochs
from bitcluster.training.methods.vab.loss import elbo_terms
from bitcluster.training.methods.vab.training import reconstruction_terms
from bitcluster.training.nets.vab import VAB, VABConfig
from bitcluster.training.pipeline import train_run
from bitcluster.training.precision import PrecisionUnavailableError, autocast, cpu_flags, resolve_precision
from bitcluster.training.teacher import TeacherConfig
from bitcluster.training.teacher.autoencoder import reconstruction_loss
from bitcluster.training.teacher.cache import cache_key

runner = CliRunner()
CPU = torch.device("cpu")
# A small network and a short cap: wiring, not the teacher's quality (as in test_teacher.py).
# An autoencoder teacher (a PCA teacher trains nothing, so it has no precision of its own).
TINY_OPTIONS = ["features=autoencoder", "hidden=32,32,64", "latent=4", "plateau_steps=20",
                "max_steps=60", "gmm_restarts=2"]


def _flags(monkeypatch, *flags: str) -> None:
    monkeypatch.setattr(precision_module, "cpu_flags", lambda: set(flags))


def test_cpu_flags_are_read_from_the_flags_line_and_absent_without_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: x\nflags\t\t: fpu sse2 avx512f amx_bf16\nbugs\t: spectre\n")
    assert cpu_flags(cpuinfo) == {"fpu", "sse2", "avx512f", "amx_bf16"}
    assert cpu_flags(tmp_path / "missing") == set()


@pytest.mark.parametrize("flags, expected", [(("avx2", "avx512f"), "fp32"), (("avx512f", "avx512_bf16"), "bf16"),
                                             (("amx_bf16",), "bf16"), ((), "fp32")])
def test_auto_on_a_cpu_is_bf16_exactly_with_avx512_bf16_or_amx(monkeypatch, flags, expected):
    _flags(monkeypatch, *flags)
    assert resolve_precision("auto", CPU) == expected
    # an explicit choice is kept, even bf16 on a CPU that emulates it
    assert resolve_precision("fp32", CPU) == "fp32" and resolve_precision("bf16", CPU) == "bf16"


def test_auto_on_cuda_follows_torch_and_bf16_without_it_is_refused(monkeypatch):
    _flags(monkeypatch)  # the CPU's flags do not matter on a GPU
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert resolve_precision("auto", torch.device("cuda")) == "bf16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert resolve_precision("auto", torch.device("cuda")) == "fp32"
    with pytest.raises(PrecisionUnavailableError, match="no bfloat16.*--precision fp32 or auto"):
        resolve_precision("bf16", torch.device("cuda"))


def test_an_unknown_precision_is_refused_with_the_choices():
    with pytest.raises(PrecisionUnavailableError, match="auto, fp32, bf16.*'fp16'"):
        resolve_precision("fp16", CPU)


def _vab_under_autocast(bits: int = 8) -> tuple[VAB, torch.Tensor, dict]:
    model = VAB(VABConfig(n_pixels=64, bits=bits, clusters=3, hidden=[32, 16]))
    x = torch.rand(20, 64, generator=torch.Generator().manual_seed(0))
    with autocast("bf16", CPU):
        out = model(x, tau=1.0, generator=torch.Generator().manual_seed(1))
    return model, x, out


def test_bmm_log_likelihood_and_the_loss_terms_are_float32_under_bf16_autocast():
    model, x, out = _vab_under_autocast()
    assert out["x_logits"].dtype == torch.bfloat16  # autocast is on: the network's products are bf16
    with autocast("bf16", CPU):
        log_lik = model.prior.log_likelihood(out["z"])
        terms = elbo_terms(x, out, model.prior)
        recon = reconstruction_terms(model, x, out)
        teacher_recon = reconstruction_loss(out["x_logits"], x)
    assert log_lik.dtype == torch.float32 and teacher_recon.dtype == torch.float32
    assert all(v.dtype == torch.float32 for v in [*terms.values(), *recon.values()])
    # exactly what float32 computes from the same (bf16-rounded) inputs: no product ran in bf16
    with torch.no_grad():
        np.testing.assert_array_equal(log_lik.detach().numpy(), model.prior.log_likelihood(out["z"].float()).numpy())
        plain = elbo_terms(x, {k: v.float() for k, v in out.items()}, model.prior)
    for name in ("A1", "A2", "A3", "A4"):
        assert float(terms[name].detach()) == float(plain[name])


def test_the_loop_runs_steps_under_autocast_and_keeps_parameters_and_adam_fp32():
    seen = []
    layer = torch.nn.Linear(6, 4)
    x = torch.rand(40, 6)

    def step(xb, _idx):
        out = layer(xb)
        seen.append(out.dtype)
        return {"loss": out.float().pow(2).mean()}

    for precision, dtype in (("bf16", torch.bfloat16), ("fp32", torch.float32)):
        seen.clear()
        rows = train_epochs(step, layer.parameters(), x, 1, gen=seeded_generator(0), batch_size=10, lr=1e-2,
                            phase="p", progress=False, precision=precision)
        assert set(seen) == {dtype} and len(seen) == 4 and np.isfinite(rows[0]["loss"])
        assert all(p.dtype == torch.float32 for p in layer.parameters())
    # without an argument the loop computes in the run's precision
    seen.clear()
    with training_on(CPU, "bf16"):
        assert current_precision() == "bf16"
        train_epochs(step, layer.parameters(), x, 1, gen=seeded_generator(0), batch_size=40, lr=1e-2, phase="p",
                     progress=False)
    assert seen == [torch.bfloat16] and current_precision() == "fp32"


def test_precision_enters_the_teacher_cache_key_only_when_not_fp32():
    config = TeacherConfig(features="autoencoder")
    bf16 = config.at_precision("bf16")
    assert bf16.precision == "bf16" and config.precision == "fp32"
    assert cache_key("h", 10, 0, bf16) != cache_key("h", 10, 0, config)
    # a PCA teacher trains no network: fp32 and bf16 runs share it
    assert TeacherConfig().at_precision("bf16") == TeacherConfig()
    # fp32 keeps the key it had before the field existed: teachers cached then are still found
    import hashlib

    before = {k: v for k, v in config.as_dict().items() if k != "precision"}
    spec = {"data": "h", "clusters": 10, "seed": 0, "config": before}
    assert cache_key("h", 10, 0, config) == hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:32]
    with pytest.raises(ValueError, match="fp32 or bf16"):
        TeacherConfig(precision="auto")
    with pytest.raises(ValueError, match="expected NAME=VALUE"):
        TeacherConfig.from_options(["precision=bf16"])  # --precision sets it, not --teacher-option


def test_an_unknown_precision_on_the_command_line_fails_clearly_and_writes_nothing(small_npz, tmp_path):
    out = tmp_path / "run"
    result = runner.invoke(cli.app, ["train", "--method", "vab-paper", "--data", str(small_npz), "--epochs", "1",
                                     "--bits", "4", "--clusters", "3", "--out", str(out), "--precision", "fp16",
                                     "--quiet"])
    assert result.exit_code == 2 and "auto, fp32, bf16" in result.output and "Traceback" not in result.output
    assert not out.exists()


def test_a_method_that_trains_in_fp32_only_refuses_bf16_and_records_fp32_under_auto(small_npz, tmp_path):
    result = runner.invoke(cli.app, ["train", "--method", "kmeans", "--data", str(small_npz), "--clusters", "3",
                                     "--out", str(tmp_path / "bf16"), "--precision", "bf16", "--quiet"])
    assert result.exit_code == 2 and "kmeans trains in fp32 only" in result.output and "vab" in result.output
    result = runner.invoke(cli.app, ["train", "--method", "kmeans", "--data", str(small_npz), "--clusters", "3",
                                     "--out", str(tmp_path / "auto"), "--precision", "auto", "--quiet"])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "auto" / "metrics.json").read_text())["precision"] == "fp32"


def test_the_default_precision_is_fp32(small_npz, tmp_path):
    result = runner.invoke(cli.app, ["train", "--method", "vab-paper", "--data", str(small_npz), "--epochs", "1",
                                     "--bits", "4", "--clusters", "3", "--out", str(tmp_path / "run"), "--quiet"])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["precision"] == "fp32"


@pytest.mark.parametrize("precision", ["bf16", "fp32"])
def test_train_records_the_precision_it_trained_in(small_npz, tmp_path, precision):
    out = tmp_path / "run"
    result = runner.invoke(cli.app, ["train", "--method", "vab-paper", "--data", str(small_npz), "--epochs", "2",
                                     "--bits", "4", "--clusters", "3", "--out", str(out), "--precision", precision,
                                     "--quiet"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["precision"] == precision and json.loads((out / "config.json").read_text())["precision"] == precision
    assert np.isfinite(metrics["acc"])


def test_a_tiny_bf16_vab_run_trains_its_teacher_in_bf16_and_records_both(tmp_path):
    digits = load_dataset("digits").subset(n_train=300)
    teacher = TeacherConfig.from_options(TINY_OPTIONS)
    metrics = train_run("vab", digits, tmp_path / "run", {"bits": 8, "epochs": 2}, progress=False, device="cpu",
                        precision="bf16", teacher=teacher)
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert metrics["precision"] == "bf16" and config["precision"] == "bf16"
    assert config["teacher"]["precision"] == "bf16"
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert len(history) == 2 and all(np.isfinite(row["loss"]) for row in history)
    assert 0.0 <= metrics["acc"] <= 1.0
    # an fp32 run on the same data does not reuse the bf16 teacher
    fp32 = train_run("vab", digits, tmp_path / "fp32", {"bits": 8, "epochs": 2}, progress=False, device="cpu",
                     precision="fp32", teacher=teacher)
    assert fp32["precision"] == "fp32" and fp32["teachers"][0]["key"] != metrics["teachers"][0]["key"]


def test_the_teacher_command_takes_and_records_a_precision(small_npz, tmp_path):
    options = [arg for option in TINY_OPTIONS for arg in ("--teacher-option", option)] + ["--centring", "none"]
    result = runner.invoke(cli.app, ["teacher", str(small_npz), "--clusters", "3", "--cache-dir", str(tmp_path),
                                     "--precision", "bf16", "--quiet", *options])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["config"]["precision"] == "bf16"
