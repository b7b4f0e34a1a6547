import json

from bitcluster.data import load_dataset
from bitcluster.sweep import run_sweep


def test_sweep_trains_each_setting_once_and_draws_both_plots(tmp_path):
    data = load_dataset("digits").subset(300, 100)
    runs = run_sweep(["vab"], [4, 8], [0], data, tmp_path, epochs=2, progress=False)
    assert [(r["bits"], r["seed"]) for r in runs] == [(4, 0), (8, 0)]
    for png in ("acc_vs_bpp.png", "psnr_vs_bpp.png"):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(json.loads((tmp_path / "sweep.json").read_text())["runs"]) == 2
    # every run carries the entropy-coded rate, and a resumed sweep trains nothing again
    assert all(r["coded_bits_mean"] > 0 for r in runs)
    before = (tmp_path / "vab-b4-s0" / "model.safetensors").stat().st_mtime_ns
    again = run_sweep(["vab"], [4, 8], [0], data, tmp_path, epochs=2, progress=False)
    assert again == runs
    assert (tmp_path / "vab-b4-s0" / "model.safetensors").stat().st_mtime_ns == before
