import json

from bitcluster.data import load_dataset
from bitcluster.training.sweep import run_sweep


def test_sweep_trains_each_setting_once_and_draws_both_plots(tmp_path, digits_teacher):
    data = load_dataset("digits")
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


def test_vade_is_trained_once_and_scored_at_every_rate(tmp_path, digits_teacher):
    data = load_dataset("digits")
    runs = run_sweep(["vade"], [4, 10, 80], [0], data, tmp_path, epochs=15, progress=False)
    # one model, three records: the latent sent in exactly the budget of each rate
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == ["vade-s0"]
    assert [r["bits"] for r in runs] == [4, 10, 80]
    assert [sum(r["bit_allocation"]) for r in runs] == [4, 10, 80]
    assert runs[0]["bit_allocation"] == [1, 1, 1, 1, 0, 0, 0, 0, 0, 0]
    assert all(r["method"] == "vade" and r["seed"] == 0 and r["epochs"] == 15 for r in runs)
    # at 8 bits a dimension the code is the latent to within a 255th of its range; at 4 bits in
    # all, six dimensions are not sent: the reconstruction is clearly worse
    assert abs(runs[2]["psnr"] - runs[2]["psnr_continuous"]) < 0.1
    assert runs[0]["psnr"] < runs[2]["psnr"] - 0.5
    assert all(0.0 < r["acc"] <= 1.0 for r in runs)


def test_a_setting_claimed_by_a_live_worker_is_skipped_and_a_dead_claim_taken_over(tmp_path, digits_teacher):
    import subprocess
    import sys

    data = load_dataset("digits")
    claim = tmp_path / ".vab-b4-s0.claim"
    holder = ("import fcntl, sys, time; f = open(sys.argv[1], 'a+b'); fcntl.flock(f, fcntl.LOCK_EX); "
              "print('held', flush=True); time.sleep(60)")
    worker = subprocess.Popen([sys.executable, "-c", holder, str(claim)], stdout=subprocess.PIPE, text=True)
    try:
        assert worker.stdout.readline().strip() == "held"
        runs = run_sweep(["vab"], [4, 8], [0], data, tmp_path, epochs=2, progress=False)
        assert [r["bits"] for r in runs] == [8]  # the other worker's setting is left to it
        assert not (tmp_path / "vab-b4-s0" / "metrics.json").exists()
    finally:
        worker.kill()
        worker.wait()
    # the worker died without finishing: the kernel dropped its claim, the setting is free
    runs = run_sweep(["vab"], [4, 8], [0], data, tmp_path, epochs=2, progress=False)
    assert [r["bits"] for r in runs] == [4, 8]
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == ["vab-b4-s0", "vab-b8-s0"]
