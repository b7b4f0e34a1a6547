"""Options reach a method only when given, an option it does not take is an error, and the shared loop is seeded."""

import dataclasses
import json

import pytest
import torch
from typer.testing import CliRunner

from bitcluster import cli
from bitcluster.training import pipeline
from bitcluster.training.loop import seeded_generator, train_epochs
from bitcluster.training.methods import METHODS, make_config
from bitcluster.training.methods.ae_mixtures import AEKMeansConfig
from bitcluster.training.pipeline import train_run
from bitcluster.training.sweep import run_sweep
from bitcluster.training.methods.shared_pretraining import SHARED_PHASE

runner = CliRunner()


def test_an_option_the_method_does_not_take_names_the_options_it_takes(tmp_path):
    with pytest.raises(ValueError) as error:
        train_run("kdae", "digits", tmp_path / "run", {"bits": 8}, progress=False)
    message = str(error.value)
    assert message.startswith("kdae takes no option 'bits'; its options are: ")
    assert message.split("its options are: ")[1].split(", ") == METHODS["kdae"].options()
    assert not (tmp_path / "run").exists()  # refused before anything was loaded or trained


def test_every_method_refuses_an_unknown_option_and_accepts_its_own():
    for name, method in METHODS.items():
        with pytest.raises(ValueError, match=f"^{name} takes no option 'no_such_option'; its options are: "):
            make_config(name, {"no_such_option": 1})
        assert method.make_config({"seed": 5}).seed == 5
        assert method.make_config({"seed": None}) == method.config_class()  # None: not given


def test_cli_reports_the_unknown_option_and_exits_2(tmp_path):
    result = runner.invoke(cli.app, ["train", "--method", "kdae", "--bits", "8", "--out", str(tmp_path / "run")])
    assert result.exit_code == 2
    assert "kdae takes no option 'bits'; its options are: clusters, epochs, seed" in result.output


def test_cli_passes_only_the_options_given(monkeypatch, tmp_path):
    seen = []
    monkeypatch.setattr(pipeline, "train_run",
                        lambda method, data, out, options, progress, **_where: seen.append(options) or {})
    for args in ([], ["--epochs", "3", "--seed", "2"]):
        result = runner.invoke(cli.app, ["train", "--method", "vade", "--out", str(tmp_path / "run"), *args])
        assert result.exit_code == 0, result.output
    assert seen == [{}, {"epochs": 3, "seed": 2}]


def test_cli_train_without_epochs_or_bits_uses_the_methods_own_defaults(digits_teacher, tmp_path):
    run = tmp_path / "run"
    result = runner.invoke(cli.app, ["train", "--method", "ae-kmeans", "--data", "digits", "--out", str(run),
                                     "--quiet"])
    assert result.exit_code == 0, result.output
    config = json.loads((run / "config.json").read_text())
    assert config["train"] == dataclasses.asdict(AEKMeansConfig())
    assert config["train"]["epochs"] == 50 and config["train"]["bits"] == 32  # not the CLI's old 30 epochs
    # ae-kmeans starts from the shared autoencoder (trained to its plateau, not for `epochs`): the
    # history is that network's, and the run itself trained no epoch of its own
    history = json.loads((run / "history.json").read_text())
    assert history and all(row["phase"] == SHARED_PHASE for row in history)
    metrics = json.loads(result.output)
    assert metrics["epochs"] == 0 and metrics["shared_pretraining_epochs"] == len(history)


def test_sweep_refuses_a_method_with_no_code_length(tmp_path):
    with pytest.raises(ValueError, match="kmeans has no code length to sweep"):
        run_sweep(["kmeans"], [8], [0], "digits", tmp_path, progress=False)
    with pytest.raises(ValueError, match="vab takes no option 'max_iter'"):
        make_config("vab", {"max_iter": 3})


# --- the shared loop ---------------------------------------------------------------------------

def _fit_line(seed: int, epochs: int = 3, hooks=lambda net: {}) -> tuple[torch.nn.Module, list[dict]]:
    """A linear model fitted by the shared loop to noisy targets, everything drawn from ``seed``.

    ``hooks(net)`` gives the loop's ``before_epoch``, ``after_epoch`` and ``checkpoint``.
    """
    gen = seeded_generator(seed)
    net = torch.nn.Linear(4, 1)
    x = torch.randn(64, 4, generator=gen)
    y = x.sum(dim=1, keepdim=True)

    def step(xb, idx):
        noise = 0.1 * torch.randn(len(idx), 1, generator=gen)
        return {"loss": ((net(xb) - y[idx] - noise) ** 2).mean()}

    history = train_epochs(step, net.parameters(), x, epochs, gen=gen, batch_size=16, lr=0.05, phase="line",
                           progress=False, **hooks(net))
    return net, history


def _without_seconds(history):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history]


def test_same_seed_same_result_through_the_shared_loop():
    (a, ha), (b, hb), (c, hc) = _fit_line(0), _fit_line(0), _fit_line(1)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    assert _without_seconds(ha) == _without_seconds(hb)
    assert not torch.equal(a.weight, c.weight) and _without_seconds(ha) != _without_seconds(hc)
    assert [row["epoch"] for row in ha] == [0, 1, 2] and ha[-1]["loss"] < ha[0]["loss"]


def test_loop_hooks_run_around_every_epoch():
    calls = []

    def hooks(net):
        def after(epoch, row):
            calls.append(("after", epoch))
            row["extra"] = epoch * 10

        return {"before_epoch": lambda epoch: calls.append(("before", epoch)), "after_epoch": after}

    _, history = _fit_line(0, epochs=2, hooks=hooks)
    assert calls == [("before", 0), ("after", 0), ("before", 1), ("after", 1)]
    assert [row["extra"] for row in history] == [0, 10]


def test_a_bad_centring_is_refused_with_the_choices_before_anything_is_loaded(tmp_path):
    result = runner.invoke(cli.app, ["train", "--method", "vab", "--centring", "middle", "--out", str(tmp_path / "run")])
    assert result.exit_code != 0 and "centring is one of auto, none, mass, not 'middle'" in result.output
    assert not (tmp_path / "run").exists()


def test_each_method_declares_its_centring_vab_auto_the_baselines_none_as_their_papers():
    assert METHODS["vab"].centring == "auto"
    assert {name for name, method in METHODS.items() if method.centring != "none"} == {"vab"}
