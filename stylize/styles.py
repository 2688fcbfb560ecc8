"""Finding trained styles by name in the styles folder."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from stylize.config import PipelineConfig, load_config
from stylize.errors import StylizeError
from stylize.model_file import METADATA_NAME, StyleModel, load_model


def parse_style_names(styles: str | Sequence[str]) -> list[str]:
    """Style names from a name, a list, or comma-separated lists ("a,b"), in order, without repeats."""
    items = [styles] if isinstance(styles, str) else list(styles)
    names = [name.strip() for item in items for name in str(item).split(",") if name.strip()]
    if not names:
        raise StylizeError("no style given; name one with --style NAME (or --styles a,b,c)")
    return list(dict.fromkeys(names))


def style_dir(name: str, styles_dir: str | os.PathLike[str] | None = None, config: PipelineConfig | None = None) -> Path:
    """``name`` as a folder: a path to a style folder, or a name inside the styles folder."""
    as_path = Path(name)
    if (as_path / METADATA_NAME).is_file():
        return as_path
    root = Path(styles_dir) if styles_dir is not None else (config or load_config()).styles.dir
    folder = root / name
    if not (folder / METADATA_NAME).is_file():
        known = list_styles(root)
        raise StylizeError(
            f"style {name!r} not found in {root}; known styles: {', '.join(known) or 'none'} "
            "(train one with stylize train --name NAME --refs IMAGE)"
        )
    return folder


def load_style(name: str, styles_dir: str | os.PathLike[str] | None = None, config: PipelineConfig | None = None) -> StyleModel:
    return load_model(style_dir(name, styles_dir, config), name=Path(name).name)


def list_styles(styles_dir: str | os.PathLike[str] | None = None, config: PipelineConfig | None = None) -> list[str]:
    root = Path(styles_dir) if styles_dir is not None else (config or load_config()).styles.dir
    return sorted(p.parent.name for p in root.glob(f"*/{METADATA_NAME}") if not p.parent.name.startswith("_"))
