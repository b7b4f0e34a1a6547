"""The Python API: ``bc.load_model()`` in process and ``bc.BitclusterClient`` over HTTP take the same
inputs and give the same codes and clusters; images of another aspect ratio are refused unless asked."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import bitcluster as bc
from bitcluster import cli
from bitcluster.api.codes import Codes
from bitcluster.client.errors import BitclusterError
from bitcluster.core.codes import CodeFormatError
from bitcluster.core.manifest import ManifestError
from bitcluster.core.preprocessing import ImageFormatError, Preprocessing, resize_images

pytest.register_assert_rewrite("service_fixtures")  # before the import, so its asserts explain failures

from service_fixtures import png_bytes, random_images  # noqa: E402

pytest_plugins = ["service_fixtures"]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def default_model() -> bc.Model:
    return bc.load_model(threads=1)


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    """The first 40 of scikit-learn's digits as the 8-bit pixels a user holds: (40, 8, 8) uint8."""
    from sklearn.datasets import load_digits

    return np.rint(load_digits().images[:40] * 255 / 16).astype(np.uint8)


def write_images(folder: Path, images: np.ndarray, fmt: str = "PNG") -> list[Path]:
    suffix = ".png" if fmt == "PNG" else ".jpg"
    paths = [folder / f"{i}{suffix}" for i in range(len(images))]
    for path, image in zip(paths, images):
        path.write_bytes(png_bytes(image, fmt))
    return paths


def assert_same_codes(a: Codes, b: Codes) -> None:
    assert (a.model_id, a.bits) == (b.model_id, b.bits)
    np.testing.assert_array_equal(a.packed, b.packed)


def test_every_kind_of_input_gives_the_same_codes(default_model, digits, tmp_path):
    codes = default_model.encode(digits)
    assert isinstance(codes, Codes) and len(codes) == 40 and np.asarray(codes).shape == (40, 2)
    assert codes.packed.dtype == np.uint8 and (codes.bits, codes.model_id) == (16, default_model.model_id)
    assert len(np.unique(codes.packed, axis=0)) > 20  # real codes: the comparisons below can fail
    paths = write_images(tmp_path, digits[:3])
    for same in (digits / 255.0, (digits / 255.0).astype(np.float32), list(digits), [im.tolist() for im in digits],
                 tuple(digits[:20]) + (digits[20:],)):
        assert_same_codes(default_model.encode(same), codes)
    assert_same_codes(default_model.encode(digits[5]), codes[5])  # one (H, W) image
    assert_same_codes(default_model.encode(digits.astype(np.int64)), codes)  # integers in 0..255
    assert_same_codes(default_model.encode([str(paths[0]), paths[1], paths[2].read_bytes()]), codes[:3])
    assert_same_codes(default_model.encode(str(paths[0])), codes[0])
    mixed = [digits[0], paths[1], digits[2] / 255.0, paths[0]]
    np.testing.assert_array_equal(default_model.encode(mixed).packed, codes.packed[[0, 1, 2, 0]])


def test_classify_takes_codes_packed_arrays_and_bytes(default_model, digits):
    codes = default_model.encode(digits)
    clusters = default_model.classify(codes)
    assert clusters.shape == (40,) and clusters.dtype == np.int64 and len(np.unique(clusters)) > 3
    np.testing.assert_array_equal(default_model.cluster(digits), clusters)
    np.testing.assert_array_equal(default_model.classify(codes.packed), clusters)
    np.testing.assert_array_equal(default_model.classify(codes.tobytes()), clusters)
    np.testing.assert_array_equal(default_model.classify(codes[10:20]), clusters[10:20])
    posteriors = default_model.predict_proba(codes)
    assert posteriors.shape == (40, 10)
    np.testing.assert_allclose(posteriors.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(posteriors.argmax(axis=1), clusters)
    with pytest.raises(CodeFormatError, match="uint8 of shape"):
        default_model.classify(np.zeros((2, 3), np.uint8))
    with pytest.raises(CodeFormatError, match="whole number"):
        default_model.classify(b"\0\0\0")


def test_codes_of_another_model_are_refused(default_model, model_a, digits):
    other = bc.load_model(model_a.dir, threads=1)
    codes = other.encode(digits)
    with pytest.raises(bc.ModelMismatchError) as e:
        default_model.classify(codes)
    assert model_a.manifest.model_id in str(e.value) and default_model.model_id in str(e.value)
    with pytest.raises(CodeFormatError):  # a Codes object checks its own shape against its bits
        Codes(np.zeros((2, 3), np.uint8), 16, "x")


def test_a_half_alone_does_what_it_can(model_a, tmp_path):
    consumer_only = bc.load_model(model_a.dir / "consumer", threads=1)
    codes = bc.load_model(model_a.dir, threads=1).encode(random_images(5))
    np.testing.assert_array_equal(consumer_only.classify(codes), model_a.classify(codes.packed))
    with pytest.raises(ManifestError, match="without its vendor half"):
        consumer_only.encode(random_images(1))
    with pytest.raises(ManifestError, match="holds no exported model"):
        bc.load_model(tmp_path)


def test_same_aspect_ratio_is_resized_another_is_refused_unless_asked():
    p = Preprocessing(8, 8)
    rng = np.random.default_rng(0)
    square = rng.integers(0, 256, (2, 16, 16), dtype=np.uint8)
    np.testing.assert_array_equal(p.apply(square), resize_images(square / np.float32(255), 8, 8).reshape(2, 64))
    assert p.apply(rng.integers(0, 256, (1, 255, 256), dtype=np.uint8)).shape == (1, 64)  # within half a pixel
    assert Preprocessing(32, 32).apply(np.zeros((3, 28, 28), np.uint8)).shape == (3, 1024)  # MNIST into 32x32
    wide = rng.integers(0, 256, (2, 28, 32), dtype=np.uint8)
    with pytest.raises(ImageFormatError) as e:
        p.apply(wide)
    message = str(e.value)
    assert "28x32" in message and "8x8" in message and "resize=True" in message and "--resize" in message
    with pytest.raises(ImageFormatError, match="16x15"):  # half a pixel off is already too much
        p.apply(np.zeros((1, 16, 15), np.uint8))
    stretched = p.apply(wide, any_aspect_ratio=True)
    np.testing.assert_array_equal(stretched, resize_images(wide / np.float32(255), 8, 8).reshape(2, 64))


def test_the_model_refuses_another_aspect_ratio_unless_resize(default_model, digits):
    wide = np.zeros((3, 8, 12), np.uint8)
    with pytest.raises(ImageFormatError, match="8x12"):
        default_model.encode(wide)
    with pytest.raises(ImageFormatError, match="8x12"):
        default_model.cluster([digits[0], wide[0]])
    resized = default_model.encode(wide, resize=True)
    assert len(resized) == 3
    big = np.repeat(np.repeat(digits[:4], 2, axis=1), 2, axis=2)  # 16x16: a change of scale alone
    assert len(default_model.encode(big)) == 4


@pytest.mark.slow
def test_the_http_client_gives_the_same_codes_and_clusters(services, tmp_path):
    model = bc.load_model(services.model.dir, threads=1)
    images = random_images(30, seed=11)
    big = random_images(3, seed=12, side=16)
    pngs, jpegs = write_images(tmp_path, images[:4]), write_images(tmp_path, images[4:6], "JPEG")
    inputs = [images, images / 255.0, list(images), images[0], [str(p) for p in pngs], pngs + jpegs,
              [images[0], pngs[1], big[0], images[2] / 255.0, jpegs[0].read_bytes()], big]
    with bc.BitclusterClient(services.vendor.url, services.consumer.url, batch_size=8) as client:
        for given in inputs:
            expected, got = model.encode(given), client.encode(given)
            assert_same_codes(got, expected)
            np.testing.assert_array_equal(client.classify(got), model.classify(expected))
            np.testing.assert_array_equal(client.cluster(given), model.cluster(given))
        codes = model.encode(images)
        np.testing.assert_array_equal(client.classify(codes.packed), model.classify(codes))  # origin: the consumer's
        np.testing.assert_allclose(client.predict_proba(codes), model.predict_proba(codes), rtol=1e-6)
        assert len(np.unique(model.classify(codes))) > 1

        wide = random_images(2, seed=13, side=16)[:, :12, :]
        with pytest.raises(BitclusterError) as e:
            client.encode(wide)
        assert e.value.status == 422 and "12x16" in e.value.message and "resize" in e.value.message
        assert_same_codes(client.encode(wide, resize=True), model.encode(wide, resize=True))
        assert_same_codes(client.encode(list(wide), resize=True), model.encode(list(wide), resize=True))


@pytest.mark.slow
def test_cluster_command_takes_resize(services, tmp_path):
    wide = random_images(1, seed=14, side=16)[0, :12, :]
    path = tmp_path / "wide.png"
    path.write_bytes(png_bytes(wide))
    args = ["cluster", str(path), "--vendor", services.vendor.url, "--consumer", services.consumer.url]
    refused = CliRunner().invoke(cli.app, args)
    assert refused.exit_code != 0 and "12x16" in refused.output, refused.output
    done = CliRunner().invoke(cli.app, args + ["--resize"])
    assert done.exit_code == 0, done.output
    expected = bc.load_model(services.model.dir, threads=1).cluster(path, resize=True)[0]
    assert done.output.strip() == f"{path}\t{expected}"


def python_blocks(section: str) -> list[str]:
    text = (ROOT / "README.md").read_text()
    start = text.index(f"## {section}\n")
    end = text.index("\n## ", start + 1)
    return re.findall(r"```python\n(.*?)```", text[start:end], re.S)


@pytest.mark.slow
def test_the_readme_example_runs(services, tmp_path, monkeypatch):
    in_process, over_http = python_blocks("Python API")
    monkeypatch.chdir(tmp_path)  # it writes digit.png
    namespace: dict = {}
    exec(compile(in_process, "README.md: Python API", "exec"), namespace)
    assert namespace["codes"].model_id == bc.load_model().model_id and (tmp_path / "digit.png").is_file()
    # The HTTP example, pointed at the test services (another model than the default one, and a
    # request body limit of 256 KiB: 1024 images of JSON pixels would cross it).
    namespace["images"] = namespace["images"][:200]
    over_http = over_http.replace("http://127.0.0.1:8001", services.vendor.url)
    over_http = over_http.replace("http://127.0.0.1:8002", services.consumer.url)
    exec(compile(over_http, "README.md: Python API over HTTP", "exec"), namespace)
    model_a = bc.load_model(services.model.dir, threads=1)
    assert_same_codes(namespace["codes"], model_a.encode(namespace["images"]))
    np.testing.assert_array_equal(namespace["clusters"], model_a.cluster(namespace["images"]))


NO_TRAINING_STACK = """
import json, sys

BLOCKED = {"torch", "sklearn", "scipy", "onnx", "matplotlib", "umap", "safetensors", "numba"}

class Blocked:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (blocked)", name=name)
        return None

sys.meta_path.insert(0, Blocked())
import numpy as np
import bitcluster as bc
light = not {"onnxruntime", "httpx"} & set(sys.modules)
model = bc.load_model()
images = np.random.default_rng(0).integers(0, 256, (5, 8, 8), dtype=np.uint8)
codes = model.encode(images)
clusters = model.cluster([sys.argv[1], images[1]])
print(json.dumps({"light": light, "packed": codes.packed.tolist(), "clusters": clusters.tolist(),
                  "modules": sorted({m.split(".")[0] for m in sys.modules})}))
"""


def test_the_model_runs_without_the_training_stack(default_model, tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (5, 8, 8), dtype=np.uint8)
    (tmp_path / "0.png").write_bytes(png_bytes(images[0]))
    done = subprocess.run([sys.executable, "-c", NO_TRAINING_STACK, str(tmp_path / "0.png")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.splitlines()[-1])
    assert out["light"], "import bitcluster loaded onnxruntime or httpx"
    assert "onnxruntime" in out["modules"]  # the check sees real imports
    assert not {"torch", "sklearn", "scipy", "onnx"} & set(out["modules"])
    np.testing.assert_array_equal(out["packed"], default_model.encode(images).packed)
    np.testing.assert_array_equal(out["clusters"], default_model.cluster(images[:2]))
