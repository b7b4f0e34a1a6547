"""A model of centred images behind the vendor: it centres what it encodes, so a figure's place does not change its code."""

from __future__ import annotations

import base64

import numpy as np
import pytest

pytest.register_assert_rewrite("service_fixtures")
pytest_plugins = ["service_fixtures"]

from service_fixtures import in_process_client, png_bytes, write_synthetic_model  # noqa: E402

SIDE = 16


def moving_figures(n: int, move: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random 6x6 figures on a black 16x16 frame, and the same figures moved by ``move`` pixels down and right."""
    rng = np.random.default_rng(seed)
    figures = rng.integers(0, 256, (n, 6, 6), dtype=np.uint8)
    here, there = np.zeros((2, n, SIDE, SIDE), np.uint8)
    here[:, 2:8, 2:8] = figures
    there[:, 2 + move:8 + move, 2 + move:8 + move] = figures
    return here, there


@pytest.fixture(scope="module", params=["mass", "none"])
def served(request, tmp_path_factory):
    from bitcluster_vendor.config import Settings
    from bitcluster_vendor.main import create_app

    model = write_synthetic_model(tmp_path_factory.mktemp(f"centre_{request.param}"), seed=5, side=SIDE,
                                  centre=request.param)
    with in_process_client(create_app(Settings(model_dir=model.dir, use_gpu=False, intra_op_threads=1))) as client:
        yield request.param, model, client


def codes_of(client, images: np.ndarray) -> list[bytes]:
    answer = client.post("/v1/encode", json={"images": [base64.b64encode(png_bytes(im)).decode() for im in images]})
    assert answer.status_code == 200, answer.text
    return [base64.b64decode(code) for code in answer.json()["codes"]]


def test_the_vendor_centres_for_a_centred_model_and_only_for_it(served):
    centre, model, client = served
    assert client.get("/v1/model").json()["preprocessing"]["centre"] == centre
    here, there = moving_figures(20, move=5)
    same = np.mean([a == b for a, b in zip(codes_of(client, here), codes_of(client, there))])
    if centre == "mass":
        assert same == 1.0  # moved whole pixels: centring brings both to one image
        assert codes_of(client, here) == [bytes(c) for c in model.encode(here)]
    else:
        assert same < 0.5  # the plain model sees where the figure is
