"""``bitcluster train --device auto|cpu|cuda``: resolved, recorded, and refused clearly where there is no GPU."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from bitcluster import cli
from bitcluster.training.device import (DeviceUnavailableError, current_device, device_record, module_device,
                                        noise_device, resolve_device, training_on)
from bitcluster.training.loop import in_chunks
from bitcluster.training.nets.binary_concrete import logistic_noise

runner = CliRunner()


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def test_auto_is_cuda_exactly_when_torch_sees_a_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device("cpu") == torch.device("cpu")


def test_cuda_without_a_gpu_and_unknown_devices_are_refused_with_what_to_do(no_gpu):
    with pytest.raises(DeviceUnavailableError, match="no CUDA GPU is available.*--device cpu"):
        resolve_device("cuda")
    with pytest.raises(DeviceUnavailableError, match="auto, cpu, cuda"):
        resolve_device("tpu")


def test_train_with_device_cuda_and_no_gpu_fails_clearly_and_writes_nothing(no_gpu, small_npz, tmp_path):
    out = tmp_path / "run"
    result = runner.invoke(cli.app, ["train", "--method", "vab-paper", "--data", str(small_npz), "--epochs", "1",
                                     "--bits", "4", "--clusters", "3", "--out", str(out), "--device", "cuda",
                                     "--quiet"])
    assert result.exit_code == 2
    assert "no CUDA GPU is available" in result.output and "Traceback" not in result.output
    assert not out.exists() and list(tmp_path.iterdir()) == [small_npz]


def test_the_device_is_recorded_in_config_and_metrics(small_npz, tmp_path):
    out = tmp_path / "run"
    result = runner.invoke(cli.app, ["train", "--method", "vab-paper", "--data", str(small_npz), "--epochs", "1",
                                     "--bits", "4", "--clusters", "3", "--out", str(out), "--device", "cpu",
                                     "--quiet"])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "config.json").read_text())["device"] == "cpu"
    assert json.loads((out / "metrics.json").read_text())["device"] == "cpu"


def test_training_on_sets_the_device_only_inside_the_block():
    assert current_device() == torch.device("cpu")
    with training_on(torch.device("meta")):
        assert current_device() == torch.device("meta")
        assert device_record() == {"device": "cpu"}  # only a CUDA device is recorded as such
    assert current_device() == torch.device("cpu")


def test_chunks_go_to_the_module_and_come_back_to_numpy():
    net = torch.nn.Linear(4, 2)
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    assert module_device(net.forward) == torch.device("cpu") and module_device(len) == torch.device("cpu")
    np.testing.assert_allclose(in_chunks(net.forward, x, size=2), net(torch.from_numpy(x)).detach().numpy(),
                               rtol=1e-6)
    meta = torch.nn.Linear(4, 2, device="meta")
    assert module_device(meta.forward) == torch.device("meta")


def test_noise_is_drawn_on_the_generators_device_so_a_seed_gives_the_same_noise_everywhere(monkeypatch):
    assert noise_device(torch.Generator(), torch.device("meta")) == torch.device("cpu")
    assert noise_device(None, "meta") == "meta"
    real_rand, drawn_on = torch.rand, []

    def rand(*args, **kwargs):
        drawn_on.append(torch.device(kwargs["device"]))
        return real_rand(*args, **kwargs)

    monkeypatch.setattr(torch, "rand", rand)
    # on a GPU a CPU generator cannot draw there: the noise is drawn on the CPU and moved
    moved = logistic_noise(torch.Size([2, 5]), torch.Generator().manual_seed(3), torch.device("meta"))
    assert drawn_on == [torch.device("cpu")] and moved.device.type == "meta" and moved.shape == (2, 5)
    a = logistic_noise(torch.Size([2, 5]), torch.Generator().manual_seed(3), "cpu")
    b = logistic_noise(torch.Size([2, 5]), torch.Generator().manual_seed(3), None)
    assert torch.equal(a, b)


def test_the_vab_set_up_builds_the_model_and_the_data_on_the_training_device():
    from bitcluster.data import load_dataset
    from bitcluster.training.methods.vab.training import set_up

    data = load_dataset("digits").subset(100, 20)
    with training_on(torch.device("meta")):  # a device without data: only where tensors live is checked
        run = set_up(data, bits=4, clusters=3, hidden=[16], seed=0, batch_size=None, epochs=1)
    assert {p.device.type for p in run.model.parameters()} == {"meta"}
    assert run.x.device.type == "meta" and run.x.shape == data.x_train.shape
    assert run.gen.device.type == "cpu"  # batch order and noise: the same stream on every device
