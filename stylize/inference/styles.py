"""Finding styles by name: the user's styles folder first, then the styles bundled with stylize."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from stylize.bundled import bundled_styles_dir
from stylize.config import PipelineConfig, default_config
from stylize.errors import StylizeError
from stylize.inference.model_file import METADATA_NAME, StyleModel, check_recorded_files, load_model, read_metadata


def parse_style_names(styles: str | Sequence[str]) -> list[str]:
    """Style names from a name, a list, or comma-separated lists ("a,b"), in order, without repeats."""
    items = [styles] if isinstance(styles, str) else list(styles)
    names = [name.strip() for item in items for name in str(item).split(",") if name.strip()]
    if not names:
        raise StylizeError("no style given; name one or more with styles=NAME (or styles=a,b,c)", params=("styles",))
    return list(dict.fromkeys(names))


def _styles_root(styles_dir: str | os.PathLike[str] | None, config: PipelineConfig | None) -> Path:
    return Path(styles_dir) if styles_dir is not None else (config or default_config()).styles.dir


def find_style(name: str, styles_dir: Path) -> Path | None:
    """The folder of style ``name``: in ``styles_dir``, else among the bundled styles; None if neither has it."""
    if name.startswith("_"):
        return None
    for folder in (styles_dir / name, bundled_styles_dir() / name):
        if (folder / METADATA_NAME).is_file():
            return folder
    return None


def style_dir(
    name: str, styles_dir: str | os.PathLike[str] | None = None, config: PipelineConfig | None = None
) -> Path:
    """``name`` as a folder: a path to a style folder, a name in the styles folder, or a bundled style."""
    as_path = Path(name)
    if (as_path / METADATA_NAME).is_file():
        return as_path
    root = _styles_root(styles_dir, config)
    folder = find_style(name, root)
    if folder is not None:
        return folder
    known = list_styles(root)
    raise StylizeError(
        f"style {name!r} not found in {root} or the bundled styles; known styles: {', '.join(known) or 'none'} "
        "(train one with stylize train, or stylize.train)"
    )


def load_style_folder(folder: str | os.PathLike[str], *, name: str | None = None) -> StyleModel:
    """The style in ``folder``, trained or zero-training, checked as its kind requires: every command loads
    styles here, so every file ``model.json`` records a hash of is checked here (the weights as they are
    read, the references by :func:`check_recorded_files`)."""
    from stylize.inference.reference_style import is_reference_metadata, load_reference_style

    path = Path(folder)
    metadata = read_metadata(path)
    check_recorded_files(path, metadata)
    if is_reference_metadata(metadata):
        return load_reference_style(path, metadata, name or str(metadata.get("name", path.name)))
    return load_model(path, name=name)


def load_style(
    name: str, styles_dir: str | os.PathLike[str] | None = None, config: PipelineConfig | None = None
) -> StyleModel:
    return load_style_folder(style_dir(name, styles_dir, config), name=Path(name).name)


def list_styles(styles_dir: str | os.PathLike[str] | None = None, config: PipelineConfig | None = None) -> list[str]:
    """Every style name found: the styles folder's and the bundled ones (a folder's own shadows a bundled one)."""
    roots = (_styles_root(styles_dir, config), bundled_styles_dir())
    return sorted(
        {p.parent.name for root in roots for p in root.glob(f"*/{METADATA_NAME}") if not p.parent.name.startswith("_")}
    )


def load_mix(
    spec: str, styles_dir: str | os.PathLike[str] | None = None, config: PipelineConfig | None = None
) -> StyleModel:
    """One network painting the mix ``spec`` ("a:0.7,b:0.3") of zero-training styles, named after it."""
    from stylize.inference.reference_style import mix_styles, parse_mix

    items = parse_mix(spec)
    models = [load_style(name, styles_dir, config) for name, _ in items]
    return mix_styles(models, [weight for _, weight in items])


def interpolation(first: StyleModel, second: StyleModel | None, steps: int = 5) -> list[tuple[str, StyleModel, float]]:
    """The columns of an interpolation row: (label, style, strength).

    Between two zero-training styles: mixes at t = 0, 1/(steps-1), ..., 1 of ``second`` (one network).
    With ``second`` None: ``first`` at strength 0 (the unstyled face), ..., 1.
    """
    from stylize.inference.reference_style import mix_styles

    ts = [i / (steps - 1) for i in range(steps)]
    if second is None:
        return [(f"{first.name}@{t:.2f}", first, t) for t in ts]
    return [
        (f"{first.name}-{1 - t:.2f}+{second.name}-{t:.2f}", mix_styles([first, second], [1 - t, t]), 1.0) for t in ts
    ]
