"""Training batches: content portraits with augmentation, and style targets from references.

Every batch is a pure function of (seed, step): the pool is fixed, and the crop, scale, flip and
fill colour of each sample come from ``numpy.random.default_rng([seed, step])``. That is what makes
an interrupted and resumed training reach the same weights as an uninterrupted one.

A data-parallel run (:mod:`stylize.training.distributed`) splits each step's global batch of
``ranks * batch`` items into shards (:class:`Shard`): rank r takes items ``r*batch .. r*batch+batch-1`` of the
same draws, so N ranks of ``batch`` see exactly the items one process of ``N*batch`` sees. The draws
of the items before a rank's shard are made (they fix the random stream) but those items are not built.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from stylize.content.composite import FACE_HEIGHT, FACE_WIDTH, FaceGenerator
from stylize.content.picking import pick_face_parts
from stylize.content.seeds import COMPOSE_PREFIX, parse_compose_spec
from stylize.content.sources import check_sources
from stylize.errors import ImageReadError, StylizeError
from stylize.imageio import find_images, read_image
from stylize.inference.image import to_tensor

REFERENCE_LONG_SIDE = 512


@dataclass(frozen=True)
class Shard:
    """Which part of each step's global batch one rank draws: rank ``rank`` of ``ranks``."""

    rank: int = 0
    ranks: int = 1

    def items(self, batch: int) -> range:
        """The positions in the global batch (``ranks * batch`` items) this shard takes."""
        return range(self.rank * batch, (self.rank + 1) * batch)


WHOLE = Shard()  # one process: the whole batch


@dataclass(frozen=True)
class PatchPlan:
    """A square crop of side ``crop`` at (``top``, ``left``), flipped left-right when ``flip``."""

    crop: int
    top: int
    left: int
    flip: bool


@dataclass
class ContentPool:
    """Content items: composited faces (drawn on demand) and legacy portraits (held in memory)."""

    generator: FaceGenerator | None = None
    faces: list[tuple[int, bool]] = field(default_factory=list)  # (seed, armoured)
    portraits: list[tuple[np.ndarray, np.ndarray | None]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    description: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.faces) + len(self.portraits)

    def record(self, sources: Sequence[str]) -> dict[str, Any]:
        """The ``content_source`` a style's model.json records: the sources, the part tree, the count
        and the files skipped as unreadable."""
        return {
            "sources": list(sources),
            "parts_root": str(self.generator.root) if self.generator else None,
            "images": len(self),
            "skipped": self.skipped,
        }

    def shape(self, index: int) -> tuple[int, int, bool]:
        """(height, width, has alpha) of item ``index``, without drawing it."""
        if index < len(self.faces):
            return FACE_HEIGHT, FACE_WIDTH, False
        rgb, alpha = self.portraits[index - len(self.faces)]
        return rgb.shape[0], rgb.shape[1], alpha is not None

    def item(
        self, index: int, *, with_features: bool = False
    ) -> tuple[np.ndarray, np.ndarray | None] | tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """(rgb, alpha) of item ``index``; with ``with_features`` also where it shows the eyes, nose and
        mouth (0..1; None for legacy portraits)."""
        if index < len(self.faces):
            assert self.generator is not None
            seed, armoured = self.faces[index]
            picked = pick_face_parts(self.generator.tree, seed)
            rgb = self.generator.build_face_image(picked, armoured)
            return (rgb, None, self.generator.feature_mask(picked, armoured)) if with_features else (rgb, None)
        rgb, alpha = self.portraits[index - len(self.faces)]
        return (rgb, alpha, None) if with_features else (rgb, alpha)


def build_content_pool(sources: Sequence[str | os.PathLike[str]], generator_factory) -> ContentPool:
    """A pool from ``compose:SEEDS[:armoured]`` specs and image folders; unreadable files are skipped."""
    from stylize.progress import phase

    check_sources(sources)
    phase("reading the training faces")
    pool = ContentPool()
    for source in sources:
        text = os.fspath(source)
        if text.startswith(COMPOSE_PREFIX):
            seeds, armoured = parse_compose_spec(text)
            if pool.generator is None:
                pool.generator = generator_factory()
            pool.faces += [(seed, armoured) for seed in seeds]
        else:
            for path, _ in find_images([text]):
                try:
                    image = read_image(path, what="content portrait")
                except ImageReadError as err:
                    pool.skipped.append(str(err))
                    continue
                pool.portraits.append((image.rgb, image.alpha))
        pool.description.append(text)
    if len(pool) == 0:
        raise StylizeError(
            f"no content images in {', '.join(map(os.fspath, sources))}; give compose:SEEDS or a folder of portraits"
        )
    return pool


def sample_batch(
    pool: ContentPool,
    *,
    seed: int,
    step: int,
    batch: int,
    size: int,
    scale_range: tuple[float, float] = (0.6, 1.0),
    colour_jitter: bool = False,
    with_features: bool = False,
    shard: Shard = WHOLE,
) -> torch.Tensor:
    """(batch, 3, size, size) float batch for ``step``: random portrait, crop, scale jitter, flip.

    ``colour_jitter`` (for the base network, which must reproduce any colours, not only the
    training parts') randomises per-channel gain and offset and the saturation.

    ``with_features`` appends a fourth channel: where the sample shows the face's eyes, nose and
    mouth (0..1, cropped, scaled and flipped with it; 0 for legacy portraits). The RGB channels
    and the random draws are the same either way.

    Transparent pixels of legacy portraits are filled with a random flat grey, so the network
    learns to leave any backdrop alone (the alpha is put back unchanged when stylizing).

    ``shard`` (rank r of N) gives items ``r*batch .. r*batch+batch-1`` of the step's global batch of
    ``N*batch`` items; the default, the whole batch, is what one process draws.
    """
    rng = np.random.default_rng([seed, step])
    samples = []
    wanted = shard.items(batch)
    for position in range(wanted.stop):  # the draws of the items before the shard: made, not built
        index = int(rng.integers(len(pool)))
        height, width, has_alpha = pool.shape(index)
        fill = float(rng.uniform(0.2, 0.8)) if has_alpha else None
        plan = patch_plan(rng, height, width, scale_range)
        if colour_jitter:
            gain_draw, offset_draw = rng.uniform(0.8, 1.2, 3), rng.uniform(-0.08, 0.08, 3)
            saturation = float(rng.uniform(0.6, 1.4))
        if position not in wanted:
            continue
        rgb, alpha, *features = pool.item(index, with_features=with_features)
        image = to_tensor(rgb)[0]
        if alpha is not None:
            assert fill is not None
            a = torch.from_numpy(alpha).float().div_(255.0)[None]
            image = image * a + fill * (1 - a)
        if with_features:
            mask = features[0]
            mask_tensor = torch.from_numpy(mask)[None] if mask is not None else torch.zeros(1, *image.shape[1:])
            image = torch.cat([image, mask_tensor])
        patch = cut_patch(image[None], plan, size)
        if colour_jitter:
            gain = torch.from_numpy(gain_draw).float().view(1, 3, 1, 1)
            offset = torch.from_numpy(offset_draw).float().view(1, 3, 1, 1)
            colour = patch[:, :3]
            grey = colour.mean(dim=1, keepdim=True)
            colour = grey + saturation * (colour - grey)
            patch = torch.cat([colour * gain + offset, patch[:, 3:]], dim=1)
        samples.append(patch)
    return torch.cat(samples).clamp_(0, 1)


def patch_plan(
    rng: np.random.Generator, height: int, width: int, scale_range: tuple[float, float] = (0.6, 1.0)
) -> PatchPlan:
    """The draws of a square crop of an image ``height`` x ``width`` from ``rng``, in a fixed order
    (scale, top, left, flip): side ``scale_range`` of the short side, at a random place, flipped
    left-right half the time."""
    crop = max(8, int(round(min(height, width) * rng.uniform(*scale_range))))
    crop = min(crop, height, width)
    top = int(rng.integers(0, height - crop + 1))
    left = int(rng.integers(0, width - crop + 1))
    return PatchPlan(crop, top, left, bool(rng.random() < 0.5))


def cut_patch(image: torch.Tensor, plan: PatchPlan, size: int) -> torch.Tensor:
    """The (1, C, size, size) crop ``plan`` of ``image`` (1, C, H, W), resized to ``size``."""
    patch = image[..., plan.top : plan.top + plan.crop, plan.left : plan.left + plan.crop]
    if plan.crop != size:
        patch = F.interpolate(
            patch, size=(size, size), mode="bilinear", align_corners=False, antialias=plan.crop > size
        )
    return patch.flip(-1) if plan.flip else patch


def over_backdrop(rgb: np.ndarray, alpha: np.ndarray | None, fill: float = 0.5) -> torch.Tensor:
    """(1, 3, H, W) float of a portrait, a transparent one over a flat ``fill`` grey (mid grey: the backdrop
    the style leaves alone, as a teacher sees whole portraits)."""
    image = to_tensor(rgb)
    if alpha is not None:
        a = torch.from_numpy(alpha).float().div_(255.0)[None, None]
        image = image * a + fill * (1 - a)
    return image


def sample_crops(
    items: Sequence[torch.Tensor],
    *,
    seed: int,
    step: int,
    batch: int,
    size: int,
    shard: Shard = WHOLE,
    scale_range: Callable[[torch.Tensor], tuple[float, float]] | None = None,
    prepare: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """(batch, C, size, size) random crops (:func:`patch_plan`: scale, place, flip) of ``items`` (1, C, H, W),
    a pure function of (seed, step); ``scale_range`` gives an item's crop scales (default patch_plan's),
    ``prepare`` turns an item into the float image cut. ``shard`` takes its part of the step's global batch,
    the draws of the items before it made, not cut (as :func:`sample_batch`)."""
    rng = np.random.default_rng([seed, step])
    wanted = shard.items(batch)
    patches = []
    for position in range(wanted.stop):
        item = items[int(rng.integers(len(items)))]
        scales = () if scale_range is None else (scale_range(item),)
        plan = patch_plan(rng, item.shape[-2], item.shape[-1], *scales)
        if position in wanted:
            patches.append(cut_patch(item if prepare is None else prepare(item), plan, size))
    return torch.cat(patches)


def load_reference(path: str | os.PathLike[str], *, style_scale: float = 1.0) -> torch.Tensor:
    """A reference as a (1, 3, H, W) tensor, scaled to ``512 * style_scale`` pixels on the long side."""
    image = read_image(path, what="style reference", fix="give a PNG, JPEG or WebP image of the style")
    tensor = to_tensor(image.rgb)
    if image.alpha is not None:  # references with transparency: on white paper
        a = torch.from_numpy(image.alpha).float().div_(255.0)[None, None]
        tensor = tensor * a + (1 - a)
    current = max(tensor.shape[-2:])
    target = max(16, int(round(REFERENCE_LONG_SIDE * style_scale)))
    if current != target:
        factor = target / current
        new_size = (max(1, round(tensor.shape[-2] * factor)), max(1, round(tensor.shape[-1] * factor)))
        tensor = F.interpolate(tensor, size=new_size, mode="bilinear", align_corners=False, antialias=factor < 1)
    return tensor.clamp_(0, 1)
