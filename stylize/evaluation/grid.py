"""Contact sheets: many images on one canvas, for looking at results by eye."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw


def contact_sheet(
    images: Sequence[np.ndarray],
    *,
    columns: int = 8,
    labels: Sequence[str] | None = None,
    gap: int = 4,
    background: tuple[int, int, int] = (32, 32, 36),
    thumb_width: int | None = None,
) -> np.ndarray:
    """Tile (H, W, 3) uint8 images into one (rows x columns) uint8 image, optionally captioned.

    Cells take the size of the largest image (after optional scaling to ``thumb_width``); smaller
    images are centred. Captions are drawn under each cell in Pillow's default font.
    """
    if not images:
        raise ValueError("no images to tile")
    tiles = []
    for image in images:
        tile = Image.fromarray(np.ascontiguousarray(image[..., :3]))
        if thumb_width and tile.width != thumb_width:
            height = max(1, round(tile.height * thumb_width / tile.width))
            tile = tile.resize((thumb_width, height), Image.Resampling.LANCZOS)
        tiles.append(tile)
    cell_w = max(t.width for t in tiles)
    cell_h = max(t.height for t in tiles)
    caption_h = 14 if labels else 0
    columns = max(1, min(columns, len(tiles)))
    rows = math.ceil(len(tiles) / columns)
    sheet = Image.new("RGB", (columns * (cell_w + gap) + gap, rows * (cell_h + caption_h + gap) + gap), background)
    draw = ImageDraw.Draw(sheet)
    for index, tile in enumerate(tiles):
        row, col = divmod(index, columns)
        x = gap + col * (cell_w + gap)
        y = gap + row * (cell_h + caption_h + gap)
        sheet.paste(tile, (x + (cell_w - tile.width) // 2, y + (cell_h - tile.height) // 2))
        if labels:
            draw.text((x + 2, y + cell_h + 1), str(labels[index])[: cell_w // 6], fill=(220, 220, 220))
    return np.asarray(sheet)


def style_sheet(
    originals: Sequence[np.ndarray],
    styled: dict[str, Sequence[np.ndarray]],
    references: dict[str, np.ndarray],
    *,
    row_labels: Sequence[str] | None = None,
    thumb_width: int = 196,
) -> np.ndarray:
    """Styles x content: first row the references (one per style), first column the originals.

    ``styled[name][i]`` is content ``i`` in style ``name``; the top-left cell is left blank.
    """
    names = list(styled)
    blank = np.full_like(originals[0], 32)
    tiles: list[np.ndarray] = [blank] + [_fit(references[name], originals[0].shape) for name in names]
    labels: list[str] = ["content / style"] + [f"{name} (reference)" for name in names]
    for index, original in enumerate(originals):
        tiles.append(original)
        labels.append(row_labels[index] if row_labels else "original")
        for name in names:
            tiles.append(styled[name][index])
            labels.append(name)
    return contact_sheet(tiles, columns=1 + len(names), labels=labels, thumb_width=thumb_width)


def _fit(image: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Centre-crop and resize ``image`` to the (H, W) of ``shape`` (for reference thumbnails)."""
    target_h, target_w = shape[0], shape[1]
    h, w = image.shape[:2]
    scale = max(target_h / h, target_w / w)
    resized = Image.fromarray(np.ascontiguousarray(image[..., :3])).resize(
        (max(target_w, round(w * scale)), max(target_h, round(h * scale))), Image.Resampling.LANCZOS
    )
    left = (resized.width - target_w) // 2
    top = (resized.height - target_h) // 2
    return np.asarray(resized.crop((left, top, left + target_w, top + target_h)))


def over_checker(rgb: np.ndarray, alpha: np.ndarray | None, *, square: int = 8) -> np.ndarray:
    """``rgb`` composited over a grey checkerboard where ``alpha`` makes it transparent (for viewing)."""
    if alpha is None:
        return rgb
    height, width = alpha.shape
    rows, cols = np.indices((height, width))
    checker = np.where(((rows // square) + (cols // square)) % 2 == 0, 153, 119).astype(np.float32)[..., None]
    weight = alpha.astype(np.float32)[..., None] / 255.0
    return np.rint(rgb.astype(np.float32) * weight + checker * (1.0 - weight)).astype(np.uint8)
