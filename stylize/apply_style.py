"""Stylizing portraits with a trained style: size and alpha kept, inputs never touched.

This is the first, simple form: one style, files or folders (recursive), output mirroring the
input's relative paths as PNG, atomic writes, and bad inputs reported and skipped.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from stylize.config import PipelineConfig, load_config
from stylize.device import resolve_device
from stylize.errors import ImageReadError, StylizeError
from stylize.imageio import find_images, read_image, write_png
from stylize.styles import load_style
from stylize.stylize_image import stylize_rgb


@dataclass
class ApplyResult:
    out_dir: Path
    written: list[Path] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def apply(
    style: str,
    inputs: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    styles_dir: str | os.PathLike[str] | None = None,
    config: PipelineConfig | None = None,
    device: str = "auto",
    progress: bool = True,
) -> ApplyResult:
    """Stylize every image in ``inputs`` with ``style`` into ``out_dir`` (same relative paths, .png)."""
    config = config or load_config()
    model = load_style(style, styles_dir, config)
    torch_device = resolve_device(device)
    network = model.network.to(torch_device)
    files = find_images(inputs)
    if not files:
        raise StylizeError(f"no images found in {', '.join(map(os.fspath, inputs))}; give PNG, JPEG or WebP files or folders")
    out_path = Path(out_dir)
    input_files = {path.resolve() for path, _ in files}
    result = ApplyResult(out_path)
    for path, relative in tqdm(files, desc=f"apply {model.name}", unit="img", disable=None if progress else True):
        target = out_path / relative.with_suffix(".png")
        if target.resolve() in input_files:
            raise StylizeError(f"{target}: output would overwrite an input; choose an --out folder apart from the inputs")
        try:
            image = read_image(path, what="portrait")
        except ImageReadError as err:
            result.failed.append(str(err))
            continue
        with torch.inference_mode():
            rgb = stylize_rgb(network, image.rgb, torch_device)
        write_png(target, rgb, image.alpha)
        result.written.append(target)
    return result
