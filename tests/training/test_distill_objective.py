"""The distillation objective's parts (issue 27: students at the teacher's look): the texture and detail
terms, the teacher's painted portraits and their crops, and the minimum step count. Tiny tensors and
networks, no VGG19 weights: fast."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from kornia.filters import gaussian_blur2d

from stylize.content.composite import FACE_HEIGHT, FACE_WIDTH
from stylize.training.data import ContentPool, Shard
from stylize.training.distill import CROP_SCALE, paint_portraits, sample_painted
from stylize.training.losses import detail_l1, high_pass, texture_distance
from stylize.training.settings import DistillSettings


def _strokes(seed: int, size: int = 48) -> torch.Tensor:
    """(1, 3, size, size): dark diagonal hatching on light paper, at a random phase."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size]
    lines = ((x + y + rng.integers(0, 6)) % 6 < 2).astype(np.float32)
    image = 0.9 - 0.6 * lines + 0.02 * rng.standard_normal((size, size)).astype(np.float32)
    return torch.from_numpy(image).clamp(0, 1).expand(1, 3, size, size).clone()


def _features(images: torch.Tensor) -> dict[str, torch.Tensor]:
    """Stand-in 'loss network' features: two fixed random conv layers (the terms take any features)."""
    generator = torch.Generator().manual_seed(0)
    first = torch.randn(8, 3, 3, 3, generator=generator)
    second = torch.randn(8, 8, 3, 3, generator=generator) / 8
    a = torch.relu(torch.nn.functional.conv2d(images, first, padding=1))
    b = torch.relu(torch.nn.functional.conv2d(torch.nn.functional.avg_pool2d(a, 2), second, padding=1))
    return {"a": a, "b": b}


def test_texture_distance_ignores_where_strokes_lie_but_sees_them_blurred():
    teacher = _strokes(1)
    shifted = torch.roll(teacher, shifts=3, dims=-1)  # the same hatching, strokes moved half a period
    blurred = gaussian_blur2d(teacher, (7, 7), (2.0, 2.0))  # what an L1-only student tends to give
    layers = ("a", "b")
    same = texture_distance(_features(teacher), _features(teacher), layers)
    moved = texture_distance(_features(shifted), _features(teacher), layers)
    soft = texture_distance(_features(blurred), _features(teacher), layers)
    assert float(same) == 0.0
    assert float(moved) < 0.05 * float(soft)
    # An L1 to the teacher says the opposite: the moved strokes are farther than the blur.
    assert (shifted - teacher).abs().mean() > (blurred - teacher).abs().mean()


def test_texture_distance_pulls_a_soft_output_toward_the_teacher_strokes():
    teacher = _strokes(2)
    output = gaussian_blur2d(teacher, (7, 7), (2.0, 2.0)).requires_grad_(True)
    texture_distance(_features(output), _features(teacher), ("a", "b")).backward()
    assert output.grad is not None and output.grad.abs().sum() > 0
    stepped = (output - 0.02 * output.grad / output.grad.abs().max()).detach()
    assert texture_distance(_features(stepped), _features(teacher), ("a", "b")) < texture_distance(
        _features(output.detach()), _features(teacher), ("a", "b")
    )


def test_detail_term_weighs_strokes_not_broad_tone():
    teacher = _strokes(3)
    assert float(detail_l1(teacher, teacher, 2.0)) == 0.0
    darker = (teacher - 0.1).clamp(0, 1)  # the same strokes a shade darker: a broad tone, not detail
    assert float(detail_l1(darker, teacher, 2.0)) < 0.01
    blurred = gaussian_blur2d(teacher, (7, 7), (2.0, 2.0))
    assert float(detail_l1(blurred, teacher, 2.0)) > 10 * float(detail_l1(darker, teacher, 2.0))
    flat = torch.full((1, 3, 20, 20), 0.4)
    assert float(high_pass(flat, 2.0).abs().max()) < 1e-6


class _Darken(torch.nn.Module):
    """A 'teacher' that multiplies by a learnt-looking constant: easy to check crops against."""

    def __init__(self) -> None:
        super().__init__()
        self.gain = torch.nn.Parameter(torch.tensor(0.5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gain


def _pool(count: int = 5) -> ContentPool:
    rng = np.random.default_rng(4)
    pool = ContentPool()
    for _ in range(count):
        pool.portraits.append((rng.integers(0, 256, (FACE_HEIGHT, FACE_WIDTH, 3), dtype=np.uint8), None))
    return pool


def test_the_teacher_paints_whole_portraits_once_and_batches_are_crops_cut_alike():
    pool = _pool()
    painted = paint_portraits(pool, _Darken(), count=3, seed=0)
    assert len(painted) == 3 and all(p.dtype == torch.uint8 for p in painted)
    assert all(p.shape == (1, 6, FACE_HEIGHT, FACE_WIDTH) for p in painted)
    again = paint_portraits(pool, _Darken(), count=3, seed=0)
    assert all(torch.equal(a, b) for a, b in zip(painted, again))
    for item in painted:  # the teacher's half is the teacher's output on the whole portrait
        want = (item[:, :3].float() / 255 * 0.5 * 255).round()
        assert (item[:, 3:].float() - want).abs().max() <= 1
    batch = sample_painted(painted, seed=1, step=7, batch=4, size=64)
    assert batch.shape == (4, 6, 64, 64) and 0 <= float(batch.min()) and float(batch.max()) <= 1
    assert torch.equal(batch, sample_painted(painted, seed=1, step=7, batch=4, size=64))  # a pure function
    assert not torch.equal(batch, sample_painted(painted, seed=1, step=8, batch=4, size=64))
    # input and target are cut from the same place: the target is still half the input
    assert (batch[:, 3:] - 0.5 * batch[:, :3]).abs().max() < 3 / 255
    shards = [sample_painted(painted, seed=1, step=7, batch=2, size=64, shard=Shard(r, 2)) for r in range(2)]
    assert torch.equal(torch.cat(shards), batch)


def test_crops_keep_the_portraits_scale():
    """A crop covers size / scale pixels of the painted portrait, scale from CROP_SCALE[0] (full size)
    down to CROP_SCALE[1]: the student learns the teacher's strokes at the size the game shows them."""
    ramp = np.tile(np.arange(FACE_WIDTH, dtype=np.float32) * 0.8, (FACE_HEIGHT, 1)).round()
    item = torch.from_numpy(ramp).to(torch.uint8).expand(1, 6, FACE_HEIGHT, FACE_WIDTH).clone()
    for step in range(12):
        crop = sample_painted([item], seed=3, step=step, batch=1, size=64)[0, 0] * 255
        row = crop[32]
        span = float(row.max() - row.min()) / 0.8  # pixels of the portrait across the crop (flips included)
        assert 64 / CROP_SCALE[0] - 3 <= span + 1 <= 64 / CROP_SCALE[1] + 3, (step, span)


def test_the_new_objective_is_the_default_and_nothing_to_learn_is_refused():
    settings = DistillSettings()
    assert settings.texture_weight > 0 and settings.detail_weight > 0 and settings.painted_portraits > 0
    assert settings.min_steps > 54  # issue 27: a zero-training teacher's student stopped at 54 steps
    assert settings.texture_start <= settings.min_steps  # a time budget's run reaches the texture term
    assert "relu5_1" not in settings.texture_layers and "relu4_1" in settings.texture_layers
    from stylize import StylizeError

    with pytest.raises(StylizeError, match="nothing to learn"):
        DistillSettings(pixel_weight=0, perceptual_weight=0, texture_weight=0, detail_weight=0, steps=1).validate()
    DistillSettings(pixel_weight=0, perceptual_weight=0, detail_weight=0, steps=1).validate()  # texture alone
