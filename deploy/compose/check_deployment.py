"""The HTTP half of ``make compose-test``: the deployed containers answer exactly as the model does in-process.

``roundtrip`` sends PNG files of scikit-learn's digits (some at 8x8, some enlarged so that the vendor
resizes them) to the vendor container, the packed codes it returns to a consumer container, and
compares codes and clusters with ONNX Runtime run here on the same exported files, through the plain HTTP API (httpx); then it checks
that the consumer refuses codes labelled with another model's id. ``serves`` checks that each given
consumer URL (one per replica) classifies the reference codes exactly as in-process.

Usage (the project's venv; deploy/compose/test.sh calls it):
    python deploy/compose/check_deployment.py roundtrip MODEL_DIR VENDOR_URL CONSUMER_URL
    python deploy/compose/check_deployment.py serves MODEL_DIR CONSUMER_URL [CONSUMER_URL ...]
"""

from __future__ import annotations

import io
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image
from sklearn.datasets import load_digits

import httpx

from bitcluster.core.metrics import cluster_accuracy
from bitcluster.core.preprocessing import Preprocessing

N_IMAGES = 300
OCTET_STREAM = "application/octet-stream"
ENLARGED_SIDE = 24  # every third image is sent at 24x24, so the vendor's resizing is exercised too


@dataclass
class Reference:
    """The model run in-process on the exported ONNX files."""

    model_id: str
    bits: int
    pngs: list[bytes]  # N encoded PNG files
    labels: np.ndarray  # (N,) digit labels, only to report an accuracy
    packed: np.ndarray  # (N, ceil(bits / 8)) uint8 codes, MSB first
    clusters: np.ndarray  # (N,) int64


def digit_pngs(n: int) -> tuple[list[bytes], np.ndarray]:
    """The last ``n`` scikit-learn digits as grey-scale PNG files, and their (n,) labels."""
    digits = load_digits()
    pixels = np.rint(digits.images[-n:] * (255 / 16)).astype(np.uint8)  # (n, 8, 8), 0..16 -> 0..255
    files = []
    for i, image in enumerate(pixels):
        png = Image.fromarray(image, mode="L")
        if i % 3 == 0:
            png = png.resize((ENLARGED_SIDE, ENLARGED_SIDE), Image.Resampling.NEAREST)
        buffer = io.BytesIO()
        png.save(buffer, format="PNG")
        files.append(buffer.getvalue())
    return files, digits.target[-n:]


def reference(model_dir: Path, n: int = N_IMAGES) -> Reference:
    """Encode and classify ``n`` digit PNGs with onnxruntime on ``model_dir``'s two ONNX files."""
    manifest = json.loads((model_dir / "manifest.json").read_text())
    pngs, labels = digit_pngs(n)
    preprocessing = Preprocessing.from_dict(manifest["preprocessing"])
    # One image at a time, as the vendor does for a batch of files of different sizes.
    decoded = [np.asarray(Image.open(io.BytesIO(f)).convert("L"), dtype=np.uint8) for f in pngs]
    x = np.concatenate([preprocessing.apply(image[None]) for image in decoded])  # (n, P) float32
    cpu = ["CPUExecutionProvider"]
    encoder = ort.InferenceSession(str(model_dir / "vendor" / "encoder.onnx"), providers=cpu)
    classifier = ort.InferenceSession(str(model_dir / "consumer" / "classifier.onnx"), providers=cpu)
    (packed,) = encoder.run(["codes"], {"images": x})
    (clusters,) = classifier.run(["clusters"], {"codes": packed})
    return Reference(manifest["model_id"], int(manifest["bits"]), pngs, labels, packed,
                     np.asarray(clusters, dtype=np.int64))


def check(condition: bool, failure: str) -> None:
    if not condition:
        sys.exit(f"FAILED: {failure}")


def encode(vendor_url: str, pngs: list[bytes]) -> tuple[str, int, np.ndarray]:
    """POST the files to the vendor as a multipart form; the model id, bits and (N, ceil(bits/8)) codes."""
    files = [("files", (f"{i}.png", png, "image/png")) for i, png in enumerate(pngs)]
    response = httpx.post(f"{vendor_url}/v1/encode", files=files, headers={"Accept": OCTET_STREAM}, timeout=60)
    check(response.status_code == 200, f"the vendor answered {response.status_code}: {response.text[:300]}")
    bits = int(response.headers["X-Code-Bits"])
    return response.headers["X-Model-Id"], bits, np.frombuffer(response.content, np.uint8).reshape(len(pngs), -1)


def classify(consumer_url: str, model_id: str, bits: int, packed: np.ndarray) -> httpx.Response:
    """POST packed codes to a consumer as raw bytes, labelled with a model id."""
    headers = {"Content-Type": OCTET_STREAM, "X-Model-Id": model_id, "X-Code-Bits": str(bits),
               "X-Count": str(len(packed))}
    return httpx.post(f"{consumer_url}/v1/classify", content=packed.tobytes(), headers=headers, timeout=60)


def clusters_from(response: httpx.Response, url: str) -> np.ndarray:
    check(response.status_code == 200, f"{url} answered {response.status_code}: {response.text[:300]}")
    return np.asarray(response.json()["clusters"], dtype=np.int64)


def roundtrip(ref: Reference, vendor_url: str, consumer_url: str) -> None:
    """PNG files -> vendor container -> packed codes -> consumer container -> clusters, against ``ref``."""
    model_id, bits, packed = encode(vendor_url, ref.pngs)
    check((model_id, bits) == (ref.model_id, ref.bits),
          f"the vendor serves model {model_id} ({bits} bits), the export is {ref.model_id} ({ref.bits} bits)")
    same_codes = int((packed == ref.packed).all(axis=1).sum())
    check(same_codes == len(ref.pngs), f"only {same_codes}/{len(ref.pngs)} codes equal the in-process ones")
    clusters = clusters_from(classify(consumer_url, model_id, bits, packed), consumer_url)
    same_clusters = int((clusters == ref.clusters).sum())
    check(same_clusters == len(ref.pngs), f"only {same_clusters}/{len(ref.pngs)} clusters equal in-process")
    print(f"round trip: {len(ref.pngs)} PNG images -> {packed.shape[1]} B codes each -> clusters; codes "
          f"{same_codes}/{len(ref.pngs)} and clusters {same_clusters}/{len(ref.pngs)} equal to in-process "
          f"onnxruntime; accuracy {cluster_accuracy(ref.labels, clusters):.4f}")
    wrong_id = "0" * len(model_id)
    refused = classify(consumer_url, wrong_id, bits, packed[:4])
    code = refused.json().get("error", {}).get("code") if refused.status_code != 200 else None
    check(refused.status_code == 409, f"codes labelled with model {wrong_id} got {refused.status_code}, not 409")
    print(f"wrong model id {wrong_id}: refused, {refused.status_code} {code}")


def serves(ref: Reference, consumer_urls: list[str]) -> None:
    """Each consumer replica classifies the reference codes exactly as in-process."""
    for url in consumer_urls:
        clusters = clusters_from(classify(url, ref.model_id, ref.bits, ref.packed), url)
        same = int((clusters == ref.clusters).sum())
        check(same == len(ref.clusters), f"{url}: only {same}/{len(ref.clusters)} clusters equal in-process")
        print(f"{url}: {same}/{len(ref.clusters)} clusters equal to in-process")


def main(argv: list[str]) -> None:
    if len(argv) < 4 or argv[1] not in ("roundtrip", "serves") or (argv[1] == "roundtrip" and len(argv) != 5):
        sys.exit(__doc__)
    ref = reference(Path(argv[2]))
    if argv[1] == "roundtrip":
        roundtrip(ref, argv[3], argv[4])
    else:
        serves(ref, argv[3:])


if __name__ == "__main__":
    main(sys.argv)
