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
