import numpy as np
import pytest
import torch
from conftest import make_tree
from PIL import Image

from stylize import StylizeError
from stylize.content.composite import FaceGenerator
from stylize.style_folder import reference_paths
from stylize.training.data import (
    build_content_pool,
    load_reference,
    sample_batch,
)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return make_tree(tmp_path_factory.mktemp("t") / "facegen", races=1, per_gender=1)


def test_batches_are_a_pure_function_of_seed_and_step(tree):
    pool = build_content_pool(["compose:0-9"], lambda: FaceGenerator.load(tree))
    a = sample_batch(pool, seed=1, step=5, batch=3, size=64)
    b = sample_batch(pool, seed=1, step=5, batch=3, size=64)
    c = sample_batch(pool, seed=1, step=6, batch=3, size=64)
    assert a.shape == (3, 3, 64, 64) and torch.equal(a, b) and not torch.equal(a, c)
    assert a.min() >= 0 and a.max() <= 1


def test_legacy_portraits_with_alpha_are_filled_and_bad_files_skipped(tmp_path):
    rgba = np.zeros((40, 50, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[10:30, 10:40, 3] = 255  # opaque red block, transparent elsewhere
    Image.fromarray(rgba, "RGBA").save(tmp_path / "p.png")
    (tmp_path / "bad.png").write_bytes(b"nope")
    pool = build_content_pool([str(tmp_path)], lambda: None)
    assert len(pool) == 1 and len(pool.skipped) == 1 and "bad.png" in pool.skipped[0]
    batch = sample_batch(pool, seed=0, step=0, batch=4, size=32, scale_range=(1.0, 1.0))
    corners = batch[:, :, 0, 0]
    assert torch.allclose(corners[:, 0], corners[:, 1]) and torch.allclose(corners[:, 1], corners[:, 2])  # flat grey


def test_colour_jitter_changes_colours_but_stays_in_range(tree):
    pool = build_content_pool(["compose:0-3"], lambda: FaceGenerator.load(tree))
    plain = sample_batch(pool, seed=0, step=0, batch=2, size=32)
    jittered = sample_batch(pool, seed=0, step=0, batch=2, size=32, colour_jitter=True)
    assert not torch.equal(plain, jittered) and jittered.min() >= 0 and jittered.max() <= 1


def test_empty_content_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(StylizeError, match="no content images"):
        build_content_pool([str(tmp_path / "empty")], lambda: None)
    with pytest.raises(StylizeError, match="content source not found"):
        build_content_pool([str(tmp_path / "missing")], lambda: None)


def test_references_scale_to_512_on_the_long_side(tmp_path):
    Image.new("RGB", (300, 150), (10, 20, 30)).save(tmp_path / "r.png")
    Image.new("RGBA", (100, 200), (0, 0, 0, 0)).save(tmp_path / "t.png")
    ref = load_reference(tmp_path / "r.png")
    assert ref.shape == (1, 3, 256, 512)
    assert load_reference(tmp_path / "r.png", style_scale=0.5).shape == (1, 3, 128, 256)
    transparent = load_reference(tmp_path / "t.png")
    assert transparent.shape == (1, 3, 512, 256) and torch.allclose(transparent, torch.ones_like(transparent))
    assert [p.name for p in reference_paths([tmp_path])] == ["r.png", "t.png"]
