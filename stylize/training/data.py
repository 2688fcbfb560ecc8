"""Training batches: content portraits with augmentation, and style targets from references.

Every batch is a pure function of (seed, step): the pool is fixed, and the crop, scale, flip and
fill colour of each sample come from ``numpy.random.default_rng([seed, step])``. That is what makes
an interrupted and resumed training reach the same weights as an uninterrupted one.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from stylize.content.composite import FaceGenerator
from stylize.content.picking import pick_face_parts
from stylize.content.seeds import COMPOSE_PREFIX, parse_compose_spec
from stylize.content.sources import check_sources
from stylize.errors import ImageReadError, StylizeError
from stylize.imageio import find_images, read_image
from stylize.inference.image import to_tensor

REFERENCE_LONG_SIDE = 512


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
    check_sources(sources)
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
) -> torch.Tensor:
    """(batch, 3, size, size) float batch for ``step``: random portrait, crop, scale jitter, flip.

    ``colour_jitter`` (for the base network, which must reproduce any colours, not only the
    training parts') randomises per-channel gain and offset and the saturation.

    ``with_features`` appends a fourth channel: where the sample shows the face's eyes, nose and
    mouth (0..1, cropped, scaled and flipped with it; 0 for legacy portraits). The RGB channels
    and the random draws are the same either way.

    Transparent pixels of legacy portraits are filled with a random flat grey, so the network
    learns to leave any backdrop alone (the alpha is put back unchanged when stylizing).
    """
    rng = np.random.default_rng([seed, step])
    samples = []
    for _ in range(batch):
        rgb, alpha, *features = pool.item(int(rng.integers(len(pool))), with_features=with_features)
        image = to_tensor(rgb)[0]
        if alpha is not None:
            a = torch.from_numpy(alpha).float().div_(255.0)[None]
            image = image * a + float(rng.uniform(0.2, 0.8)) * (1 - a)
        if with_features:
            mask = features[0]
            mask_tensor = torch.from_numpy(mask)[None] if mask is not None else torch.zeros(1, *image.shape[1:])
            image = torch.cat([image, mask_tensor])
        patch = random_patch(image[None], rng, size, scale_range)
        if colour_jitter:
            gain = torch.from_numpy(rng.uniform(0.8, 1.2, 3)).float().view(1, 3, 1, 1)
            offset = torch.from_numpy(rng.uniform(-0.08, 0.08, 3)).float().view(1, 3, 1, 1)
            colour = patch[:, :3]
            grey = colour.mean(dim=1, keepdim=True)
            colour = grey + float(rng.uniform(0.6, 1.4)) * (colour - grey)
            patch = torch.cat([colour * gain + offset, patch[:, 3:]], dim=1)
        samples.append(patch)
    return torch.cat(samples).clamp_(0, 1)


def random_patch(
    image: torch.Tensor, rng: np.random.Generator, size: int, scale_range: tuple[float, float] = (0.6, 1.0)
) -> torch.Tensor:
    """A (1, C, size, size) square crop of ``image`` (1, C, H, W): side ``scale_range`` of the short
    side, at a random place, resized to ``size``, flipped left-right half the time; the draws come
    from ``rng`` in a fixed order (scale, top, left, flip)."""
    height, width = image.shape[-2:]
    crop = max(8, int(round(min(height, width) * rng.uniform(*scale_range))))
    crop = min(crop, height, width)
    top = int(rng.integers(0, height - crop + 1))
    left = int(rng.integers(0, width - crop + 1))
    patch = image[..., top : top + crop, left : left + crop]
    if crop != size:
        patch = F.interpolate(patch, size=(size, size), mode="bilinear", align_corners=False, antialias=crop > size)
    if rng.random() < 0.5:
        patch = patch.flip(-1)
    return patch


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


def reference_paths(refs: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Reference image files named directly or found in folders; at least one."""
    paths = [path for path, _ in find_images(refs)]
    if not paths:
        raise StylizeError(f"no reference images in {', '.join(map(os.fspath, refs))}; give PNG, JPEG or WebP files")
    return paths
