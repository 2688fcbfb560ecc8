"""Compositing a face exactly as Pioneer's ``FaceParts::BuildFaceImage``.

The game blits onto a black 24-bit RGB surface of 295x285: the background, the head at (0,0),
clothes at (0,135) unless armoured, eyes (0,41), nose (1,89), mouth (0,155), then accessory and hair
at (0,0); when armoured, armour at (0,0) instead of clothes, accessory and hair. Every part is
centred horizontally, ``x = (295 - width) / 2 + xoff`` with C's truncating division, clipped to the
canvas, and alpha-blended over what is below (``out = src*a + dst*(1-a)``, rounded to 8 bits).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from stylize.content.picking import PickedFace
from stylize.content.tree import CATEGORIES, UNREADABLE_POLICIES, Part, PartTree, scan_part_tree
from stylize.errors import ImageReadError, PartTreeError
from stylize.imageio import LoadedImage, read_image

FACE_WIDTH = 295
FACE_HEIGHT = 285

# (category, x offset, y offset), drawn in this order; None marks where the armour branch goes.
UNARMOURED_LAYERS: tuple[tuple[str, int, int], ...] = (
    ("background", 0, 0),
    ("head", 0, 0),
    ("clothes", 0, 135),
    ("eyes", 0, 41),
    ("nose", 1, 89),
    ("mouth", 0, 155),
    ("accessories", 0, 0),
    ("hair", 0, 0),
)
ARMOURED_LAYERS: tuple[tuple[str, int, int], ...] = (
    ("background", 0, 0),
    ("head", 0, 0),
    ("eyes", 0, 41),
    ("nose", 1, 89),
    ("mouth", 0, 155),
    ("armour", 0, 0),
)
FEATURE_CATEGORIES = ("eyes", "nose", "mouth")  # what makes a face read as a face


@dataclass(frozen=True)
class PartPixels:
    """A decoded part, ready to blend: its 8-bit colour and alpha, and (made on first use, so opening a
    tree decodes every part but prepares only those drawn) premultiplied colour and inverse alpha, uint16."""

    rgb: np.ndarray  # (H, W, 3) uint8, or the first three channels of an (H, W, 4) array
    alpha: np.ndarray | None  # (H, W) uint8; None: opaque

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])

    @cached_property
    def _blend(self) -> tuple[np.ndarray, np.ndarray]:
        if self.alpha is None:
            alpha = np.full((*self.rgb.shape[:2], 1), 255, np.uint16)
        else:
            alpha = self.alpha[..., None].astype(np.uint16)
        return self.rgb.astype(np.uint16) * alpha, 255 - alpha

    @property
    def premultiplied(self) -> np.ndarray:
        """(H, W, 3) uint16 ``src * a``."""
        return self._blend[0]

    @property
    def inverse_alpha(self) -> np.ndarray:
        """(H, W, 1) uint16 ``255 - a``."""
        return self._blend[1]

    @classmethod
    def from_rgba(cls, rgba: np.ndarray) -> PartPixels:
        return cls(rgba[..., :3], rgba[..., 3])

    @classmethod
    def from_loaded(cls, image: LoadedImage) -> PartPixels:
        return cls(image.rgb, image.alpha)


def c_div2(value: int) -> int:
    """C's ``value / 2`` for ints: truncates toward zero (Python's // floors)."""
    return int(value / 2)


def part_window(
    part_width: int,
    part_height: int,
    xoff: int,
    yoff: int,
    canvas_width: int = FACE_WIDTH,
    canvas_height: int = FACE_HEIGHT,
) -> tuple[int, int, int, int, int, int]:
    """Where the game draws a part: ``(x, y, x0, y0, x1, y1)``, its top-left corner (centred
    horizontally, C division) and the rectangle clipped to the canvas (empty when off-canvas)."""
    x = c_div2(canvas_width - part_width) + xoff
    y = yoff
    return x, y, max(x, 0), max(y, 0), min(x + part_width, canvas_width), min(y + part_height, canvas_height)


def blit_over(canvas: np.ndarray, part: PartPixels, xoff: int, yoff: int) -> None:
    """Alpha-blend ``part`` onto the (H, W, 3) uint8 ``canvas`` in place, as the game places it."""
    x, y, x0, y0, x1, y1 = part_window(part.width, part.height, xoff, yoff, canvas.shape[1], canvas.shape[0])
    if x0 >= x1 or y0 >= y1:
        return
    region = canvas[y0:y1, x0:x1]
    src = part.premultiplied[y0 - y : y1 - y, x0 - x : x1 - x]
    inv = part.inverse_alpha[y0 - y : y1 - y, x0 - x : x1 - x]
    blended = (src + region.astype(np.uint16) * inv + 127) // 255
    region[...] = blended.astype(np.uint8)


def _decode_part(job: tuple[Part, str, str]) -> PartPixels | ImageReadError:
    part, what, fix = job
    try:
        return PartPixels.from_loaded(read_image(part.path, what=what, fix=fix, views=True))
    except ImageReadError as err:
        return err


@dataclass
class FaceGenerator:
    """A part tree with its pixels decoded, as the game holds it after ``PartDb::Scan``.

    ``unreadable="error"`` refuses a tree with an undecodable part (naming it); ``"skip"`` drops such
    parts as the game does (it logs "Failed to load image" and leaves them out, which shifts the
    indices of the parts after them), and lists them in ``skipped``.
    """

    tree: PartTree
    pixels: dict[str, PartPixels] = field(default_factory=dict)  # relpath -> pixels
    skipped: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, root: str | os.PathLike[str], unreadable: str = "error") -> FaceGenerator:
        if unreadable not in UNREADABLE_POLICIES:
            raise PartTreeError(
                f"unreadable={unreadable!r} is not allowed; use one of {', '.join(UNREADABLE_POLICIES)}"
            )
        tree = scan_part_tree(root)
        generator = cls(tree)
        fix = 're-export the part, remove it, or set unreadable = "skip" under [parts] in pipeline.toml to skip it as the game does'
        background_fix = "re-export it; every face is drawn on it"
        jobs = [(tree.background, "background", background_fix)] + [
            (part, f"{category} part", fix) for category in CATEGORIES for part in tree.parts[category]
        ]
        # Decoded on a few threads (zlib and numpy release the GIL), results and errors taken in
        # the tree's order: the same parts, skips and first error as one by one.
        with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
            decoded = list(pool.map(_decode_part, jobs))
        pixels = dict(zip((part.relpath for part, _, _ in jobs), decoded))
        background = pixels[tree.background.relpath]
        if isinstance(background, ImageReadError):
            raise background
        for category in CATEGORIES:
            kept: list[Part] = []
            for part in tree.parts[category]:
                loaded = pixels[part.relpath]
                if isinstance(loaded, ImageReadError):
                    if unreadable == "error":
                        raise loaded
                    generator.skipped.append(part.relpath)
                    tree.notes.append(f"{part.relpath}: unreadable, skipped as the game does")
                    continue
                kept.append(part)
            tree.set_parts(category, kept)
        generator.pixels.update((name, p) for name, p in pixels.items() if isinstance(p, PartPixels))
        return generator

    def layers(self, picked: PickedFace, armoured: bool) -> list[tuple[Part, int, int]]:
        """The parts drawn for ``picked`` with their offsets, in drawing order."""
        plan = ARMOURED_LAYERS if armoured else UNARMOURED_LAYERS
        return [
            (self.tree.background if category == "background" else picked.parts[category], xoff, yoff)
            for category, xoff, yoff in plan
        ]

    def build_face_image(self, picked: PickedFace, armoured: bool = False) -> np.ndarray:
        """The (285, 295, 3) uint8 portrait the game draws for ``picked``."""
        canvas = np.zeros((FACE_HEIGHT, FACE_WIDTH, 3), np.uint8)
        for part, xoff, yoff in self.layers(picked, armoured):
            blit_over(canvas, self.pixels[part.relpath], xoff, yoff)
        return canvas

    def visible_alpha(self, layers: list[tuple[Part, int, int]]) -> list[np.ndarray]:
        """Per layer of ``layers`` (as :meth:`layers` gives them), a (285, 295) float32 map of how much
        of each pixel it shows in the drawn face: its alpha times ``1 - alpha`` of every layer above."""
        shown: list[np.ndarray] = []
        through = np.ones((FACE_HEIGHT, FACE_WIDTH), np.float32)  # what the layers above let through
        for part, xoff, yoff in reversed(layers):
            pixels = self.pixels[part.relpath]
            alpha = np.zeros((FACE_HEIGHT, FACE_WIDTH), np.float32)
            x, y, x0, y0, x1, y1 = part_window(pixels.width, pixels.height, xoff, yoff)
            if x0 < x1 and y0 < y1:
                alpha[y0:y1, x0:x1] = 1.0 - pixels.inverse_alpha[y0 - y : y1 - y, x0 - x : x1 - x, 0] / np.float32(
                    255.0
                )
            shown.append(alpha * through)
            through *= 1.0 - alpha
        return shown[::-1]

    def feature_mask(
        self, picked: PickedFace, armoured: bool = False, categories: tuple[str, ...] = FEATURE_CATEGORIES
    ) -> np.ndarray:
        """(285, 295) float32 in 0..1: how much of each pixel shows a part of ``categories`` (by default
        the eyes, nose and mouth) in the drawn face, after the layers drawn over them."""
        layers = self.layers(picked, armoured)
        mask = np.zeros((FACE_HEIGHT, FACE_WIDTH), np.float32)
        for (part, _, _), shown in zip(layers, self.visible_alpha(layers)):
            if part.category in categories:
                mask += shown
        return mask

    @property
    def root(self) -> Path:
        return self.tree.root
