"""Finding styles by name: the user's styles folder first, then the styles bundled with stylize, then a
style folder of that name in the working folder; a path (``./pencil``, ``styles/pencil``) is a folder.
See :func:`style_dir`."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

from stylize.bundled import bundled_styles_dir
from stylize.config import PipelineConfig, default_config
from stylize.errors import StylizeError
from stylize.inference.model_file import METADATA_NAME, StyleModel, check_recorded_files, load_model, read_metadata

log = logging.getLogger("stylize")


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


def looks_like_path(name: str) -> bool:
    """Whether ``name`` is given as a path: it holds a folder separator or starts with '.' or '~' (a style
    name is letters, digits, '_', '-' and '.', starting with a letter or digit)."""
    separators = (os.sep, "/", *((os.altsep,) if os.altsep else ()))
    return any(sep in name for sep in separators) or name.startswith((".", "~"))


_SHADOW_WARNED: set[tuple[str, str]] = set()


def style_dir(
    name: str, styles_dir: str | os.PathLike[str] | None = None, config: PipelineConfig | None = None
) -> Path:
    """``name`` as a folder, by one rule: a path (holding '/', or starting with '.' or '~') is that
    folder; a name is the style of that name in the styles folder, else the bundled one, else a style
    folder of that name in the working folder. When a name is found AND the working folder holds a
    style folder of that name too, the named style is used with one warning naming both (give
    ``./NAME`` for the folder): nothing is shadowed in silence."""
    root = _styles_root(styles_dir, config)
    if looks_like_path(name):
        as_path = Path(name).expanduser()
        if (as_path / METADATA_NAME).is_file():
            return as_path
        raise StylizeError(
            f"{name}: no style folder there ({METADATA_NAME} not found); give a folder made by stylize train or "
            "stylize style, or a style name"
        )
    folder = find_style(name, root)
    here = Path(name)
    if folder is not None:
        if (here / METADATA_NAME).is_file() and here.resolve() != folder.resolve():
            key = (os.fspath(here.resolve()), os.fspath(folder.resolve()))
            if key not in _SHADOW_WARNED:
                _SHADOW_WARNED.add(key)
                where = "your styles folder" if folder.parent == root else "the bundled styles"
                log.warning(
                    "style %r is %s (from %s), not the style folder %s in the working folder; give %s as the "
                    "style to use that folder",
                    name,
                    folder,
                    where,
                    os.path.join(".", name),
                    os.path.join(".", name),
                )
        return folder
    if (here / METADATA_NAME).is_file():  # no style has that name: the folder shadows nothing
        return here
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
        {  # "_base" holds base networks; hidden folders are styles being written (style_folder.StyleFolder)
            p.parent.name
            for root in roots
            for p in root.glob(f"*/{METADATA_NAME}")
            if not p.parent.name.startswith(("_", "."))
        }
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
