"""A studio over a temporary folder, driven with Starlette's HTTP test client (no browser, no socket)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

TOKEN = "test-token-0123456789"
# A pipeline.toml whose training is tiny (the perceptual method on a 32 px crop, references at 128 px):
# jobs of a few steps take seconds, not the default method's minute of preparation.
TINY_TRAINING = """
[train]
arch = "tiny"
size = 32
batch = 1
warm_start = false
learning_rate = 1e-3
style_layers = ["relu1_1", "relu2_1"]
content_layer = "relu2_2"
content = ["compose:0-9"]
style_scale = 0.25
"""


def png_bytes(width: int = 96, height: int = 96, seed: int = 0, mode: str = "RGB") -> bytes:
    """A drawn reference: diagonal strokes in two inks on paper, distinct for each seed."""
    rng = np.random.default_rng(seed)
    image = np.full((height, width, 3), 235, np.uint8)
    ink = rng.integers(0, 160, (2, 3))
    for offset in range(-height, width, 7):
        for y in range(height):
            x = offset + y
            if 0 <= x < width:
                image[y, x] = ink[(offset // 7) % 2]
    buffer = io.BytesIO()
    Image.fromarray(image).convert(mode).save(buffer, "PNG")
    return buffer.getvalue()


def open_tiny_studio(root: Path, token: str = TOKEN, **options):
    """A studio over ``root/studio`` whose training is tiny (TINY_TRAINING in ``root/pipeline.toml``): jobs
    reach their steps in seconds. Figures off (eval_faces=0)."""
    from stylize.config import load_config
    from stylize.studio import open_studio

    (root / "pipeline.toml").write_text(TINY_TRAINING)
    config = load_config(root / "pipeline.toml")
    return open_studio(root / "studio", config=config, styles_dir=root / "styles", token=token, eval_faces=0, **options)


@pytest.fixture
def studio(tmp_path: Path) -> Iterator:
    from stylize.studio import open_studio

    opened = open_studio(tmp_path / "studio", styles_dir=tmp_path / "styles", token=TOKEN, eval_faces=0, warm_up=False)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def client(studio) -> Iterator:
    from starlette.testclient import TestClient

    with TestClient(studio.app, headers={"X-Stylize-Token": TOKEN}, raise_server_exceptions=False) as http:
        yield http


# The fast tests' references are png_bytes(seed=1), and seed=2 where a test needs a second image: a style
# made from the same images is measured once a process (its tonal key, stylize.inference.tone), about
# half a second each otherwise.
def make_reference(client, seed: int = 0, name: str | None = None) -> dict:
    data = {"name": name} if name else None
    answer = client.post(
        "/api/references", files=[("files", (f"ref{seed}.png", png_bytes(seed=seed), "image/png"))], data=data
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["style"]
