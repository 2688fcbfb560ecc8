"""Content sources: faces composited from a part tree, or folders of already rendered portraits.

A source is written as ``compose:SEEDS`` (e.g. ``compose:0-15``; ``compose:0-15:armoured`` for the
armoured variant) or as a path to an image file or a folder of images (searched recursively: PNG,
JPEG, WebP, BMP, TIFF, any Pillow mode, EXIF orientation applied). Every source yields ``Portrait``
objects: RGB with the alpha channel kept apart, so later steps can carry it through unchanged.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from stylize.content.compose import WithParts, compose_face, open_part_tree
from stylize.content.composite import FaceGenerator
from stylize.content.seeds import COMPOSE_PREFIX, parse_compose_spec
from stylize.errors import ImageReadError, StylizeError
from stylize.imageio import find_images, read_image


@dataclass(frozen=True)
class Portrait:
    """One content image: 8-bit RGB, its alpha (None when opaque by nature) and where it came from."""

    name: str  # relative path for files, face_<seed>.png for composites; unique within a source
    rgb: np.ndarray
    alpha: np.ndarray | None
    source: str  # the file path, or compose:<seed>[:armoured]
    source_mode: str = "RGB"


@dataclass
class ContentFailures:
    """Inputs that could not be read, with the one-line reason for each."""

    items: list[ImageReadError] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.items)


def iter_content(
    sources: Sequence[str | os.PathLike[str]],
    *,
    parts: str | os.PathLike[str] | FaceGenerator | None = None,
    config: WithParts | None = None,
    failures: ContentFailures | None = None,
) -> Iterator[Portrait]:
    """Yield the portraits of every source in order.

    An unreadable file raises ``ImageReadError``, unless ``failures`` is given: then it is recorded
    there and skipped, so one bad file in a folder of thousands does not stop the run.
    """
    generator: FaceGenerator | None = None
    tree: str | os.PathLike[str] | None = None
    if isinstance(parts, FaceGenerator):
        generator = parts
    else:
        tree = parts
    for source in sources:
        text = os.fspath(source)
        if text.startswith(COMPOSE_PREFIX):
            seeds, armoured = parse_compose_spec(text)
            if generator is None:
                generator = open_part_tree(tree, config)
            for seed in seeds:
                face = compose_face(generator, seed, armoured)
                yield Portrait(face.file_name, face.rgb, None, f"compose:{seed}{':armoured' if armoured else ''}")
            continue
        for path, relative in find_images([text]):
            try:
                image = read_image(path, what="portrait")
            except ImageReadError as err:
                if failures is None:
                    raise
                failures.items.append(err)
                continue
            yield Portrait(relative.as_posix(), image.rgb, image.alpha, str(path), image.source_mode)


def check_sources(sources: Sequence[str | os.PathLike[str]]) -> None:
    """Raise ``StylizeError`` early for a source that is neither ``compose:SEEDS`` nor an existing path."""
    for source in sources:
        text = os.fspath(source)
        if text.startswith(COMPOSE_PREFIX):
            parse_compose_spec(text)
        elif not Path(text).exists():
            raise StylizeError(
                f"{text}: content source not found; give compose:SEEDS (e.g. compose:0-15) or an existing folder"
            )
