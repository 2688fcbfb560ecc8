"""A style folder (``styles/NAME/``) and what every maker of one shares, whatever the stage: the name
rule, the reference images (found, read, copied in with their records) and the one-writer lock.

Training (``train``, ``train-base``, ``distill``), zero-training styles (``style``), the config, the ONNX
export and the studio all check names here, so a style name means the same everywhere. Torch-free, at
the bottom of the import layers (tests/test_imports.py): any stage may use it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from stylize.errors import StylizeError, shown
from stylize.faults import machine_error, remove_temp_files
from stylize.files import sha256_file
from stylize.imageio import atomic_copy, find_images, read_image
from stylize.output_folder import FolderLock, make_folder, refuse_non_folder, remove_stale_builds

# A style's name is its folder's: at most 100 characters (folder names end at 255 bytes), no newline.
STYLE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
NAME_RULE = "letters, digits, '_', '-', '.' (at most 100)"


def is_style_name(name: Any) -> bool:
    """Whether ``name`` may name a style (and so its folder): :data:`STYLE_NAME`."""
    return isinstance(name, str) and STYLE_NAME.fullmatch(name) is not None


def check_style_name(name: str) -> str:
    """``name`` when it may name a style, else a ``StylizeError`` saying what a name is made of."""
    if not is_style_name(name):
        raise StylizeError(
            f"style name {shown(name)} is not allowed; use up to 100 letters, digits, '_', '-', '.' (not starting with '_')"
        )
    return name


# --- references -----------------------------------------------------------------------------------------


def reference_paths(refs: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Reference image files named directly or found in folders; at least one."""
    paths = [path for path, _ in find_images(refs)]
    if not paths:
        raise StylizeError(
            f"no reference images in {', '.join(os.fspath(ref) for ref in refs)}; give PNG, JPEG or WebP files"
        )
    return paths


def read_references(paths: Sequence[Path]) -> list[np.ndarray]:
    """Each reference as (H, W, 3) uint8; transparency laid on white paper."""
    images = []
    for path in paths:
        image = read_image(path, what="style reference", fix="give a PNG, JPEG or WebP image of the style")
        rgb = image.rgb.astype(np.float32)
        if image.alpha is not None:
            alpha = image.alpha.astype(np.float32)[..., None] / 255.0
            rgb = rgb * alpha + 255.0 * (1 - alpha)
        images.append(np.clip(rgb + 0.5, 0, 255).astype(np.uint8))
    return images


def copy_references(paths: Sequence[Path], refs_dir: Path) -> list[dict[str, str]]:
    """Copy the references into ``refs_dir`` (of a new style folder being made) and return their records."""
    refs_dir.mkdir(parents=True, exist_ok=True)
    records, used = [], set()
    for index, path in enumerate(paths):
        target_name = path.name if path.name not in used else f"{index}_{path.name}"
        used.add(target_name)
        target = refs_dir / target_name
        if path.resolve() != target.resolve():
            atomic_copy(path, target)
        records.append({"file": f"refs/{target_name}", "source_name": path.name, "sha256": sha256_file(target)})
    return records


# --- the one writer ---------------------------------------------------------------------------------------


class StyleFolder:
    """A style folder (``styles/NAME``) held by the one run that writes it (``train``, ``train-base``,
    ``distill``, ``style``, the studio's jobs): ``with StyleFolder(path):``

    * takes ``.NAME.lock`` beside the folder, or refuses at once, naming the run that holds it (a second
      writer would otherwise mix its files with the first's, the last one silently winning);
    * removes what a killed writer left: temporary files inside the folder, build folders beside it (and
      puts back a folder a killed swap moved aside);
    * on leaving, removes the style folder when this run made it and left it empty (a failed first
      training), and so the styles folder above it.

    The writer writes the finished style with :func:`replace_folder`, so the folder is always either the
    old style or the whole new one.
    """

    def __init__(self, path: str | os.PathLike[str], *, param: str = "name", value: str = "NAME") -> None:
        self.path = Path(path)
        self.param = param
        self.value = value
        self._lock: FolderLock | None = None
        self._existed = False
        self._made: list[Path] = []

    def __enter__(self) -> StyleFolder:
        refuse_non_folder(self.path, param=self.param, value=self.value)
        refuse_non_folder(self.path.parent, param="styles_dir")
        self._made = [folder for folder in self.path.parents if not os.path.lexists(folder)]
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:  # a read-only folder: the CLI names the option that chose it
            fault = machine_error(err)
            if fault is not None:
                raise fault from err
            make_folder(self.path.parent, param="styles_dir")  # its line for the other failures
        lock = FolderLock(
            self.path.parent / f".{self.path.name}.lock", self.path, param=None, refuse=f"{self.param}={self.value}"
        )
        self._lock = lock.__enter__()
        try:
            remove_stale_builds(self.path)
            remove_temp_files(self.path)
            self._existed = self.path.is_dir()
        except BaseException as err:
            self.__exit__(type(err), err, None)
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        try:
            if not self._existed and self.path.is_dir() and not self.path.is_symlink():
                try:
                    self.path.rmdir()  # only when empty: this run made it and left nothing in it
                except OSError:
                    pass
        finally:
            lock, self._lock = self._lock, None
            if lock is not None:
                lock.__exit__(kind, value, traceback)
            for folder in self._made:  # the styles folder (and those above) this run made, when left empty
                try:
                    folder.rmdir()
                except OSError:
                    break
