"""``stylize run``: the whole job ``pipeline.toml`` describes.

Compose the configured faces from the part tree into ``<output>/faces``, read every configured
legacy folder (reporting unreadable files), stylize the faces and legacy portraits with every style
in ``[styles] use`` into ``<output>/stylized/<style>/``, and write ``<output>/preview.png``
(rows: portraits; columns: the original, then each style).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from stylize.compose import compose
from stylize.config import PipelineConfig
from stylize.content import ContentFailures, iter_content
from stylize.imageio import read_image, write_png

PREVIEW_ROWS = 8


@dataclass
class RunSummary:
    lines: list[str] = field(default_factory=list)
    failed: bool = False
    preview: Path | None = None


def _preview(config: PipelineConfig, faces_dir: Path, names: list[str], styles: list[str]) -> Path:
    from stylize.evaluation import reference_files
    from stylize.grid import style_sheet
    from stylize.styles import load_style

    shown = names[:PREVIEW_ROWS]
    originals = [read_image(faces_dir / name).rgb for name in shown]
    styled = {style: [read_image(config.output.dir / "stylized" / style / "faces" / name).rgb for name in shown]
              for style in styles}
    references = {}
    for style in styles:
        files = reference_files(load_style(style, config=config))
        references[style] = read_image(files[0]).rgb if files else np.full_like(originals[0], 64)
    labels = [f"seed {name.removeprefix('face_').removesuffix('.png').lstrip('0') or '0'}" for name in shown]
    sheet = style_sheet(originals, styled, references, row_labels=labels)
    path = config.output.dir / "preview.png"
    write_png(path, np.ascontiguousarray(sheet))
    return path


def run_pipeline(config: PipelineConfig, *, progress: bool = True) -> RunSummary:
    summary = RunSummary()
    faces_dir = config.output.dir / "faces"
    result = compose(config.content.seeds, faces_dir, armoured=config.content.armoured, config=config, progress=progress)
    summary.lines.append(f"compose: {len(result.written)} faces written, {len(result.skipped)} up to date -> {faces_dir}")
    summary.lines += [f"note: {note}" for note in result.notes]
    legacy = [str(p) for p in config.content.legacy]
    if legacy:
        failures = ContentFailures()
        count = sum(1 for _ in iter_content(legacy, config=config, failures=failures))
        summary.lines.append(f"legacy: {count} portraits readable in {len(legacy)} folders")
        summary.lines += [f"error: {err}" for err in failures.items]
        summary.failed = bool(failures)
    if config.styles.use:
        from stylize.apply_style import apply

        for style in config.styles.use:
            out_dir = config.output.dir / "stylized" / style
            applied = apply(style, [faces_dir], out_dir / "faces", config=config, device=config.run.device,
                            progress=progress)
            written = len(applied.written)
            for folder in legacy:
                more = apply(style, [folder], out_dir / Path(folder).name, config=config, device=config.run.device,
                             progress=progress)
                written += len(more.written)
                summary.failed |= bool(more.failed)
            summary.lines.append(f"apply {style}: {written} portraits -> {out_dir}")
        summary.preview = _preview(config, faces_dir, sorted(result.written + result.skipped), list(config.styles.use))
        summary.lines.append(f"preview: {summary.preview}")
    return summary
