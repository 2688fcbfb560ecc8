"""``stylize run``: the whole job ``pipeline.toml`` describes.

1. compose the configured faces from the part tree into ``<output>/faces``;
2. read every configured legacy folder (reporting unreadable files);
3. train each style of ``[styles] use`` that has no model yet, from its ``[styles.references]``
   images with the ``[train]`` settings (an interrupted training resumes);
4. stylize the faces and legacy portraits with every style into ``<output>/stylized/<style>/faces/``
   and ``<output>/stylized/<style>/<legacy folder name>/`` (resumable: see ``apply``);
5. write the preview (``<output>/preview/grid.png`` and ``index.html``) of the first faces.

Every step skips work that is already done, so a rerun after an interruption finishes the job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from stylize.config import PipelineConfig
from stylize.content.compose import compose
from stylize.content.sources import ContentFailures, iter_content
from stylize.errors import StylizeError
from stylize.inference.styles import find_style

PREVIEW_ROWS = 8


@dataclass
class RunSummary:
    lines: list[str] = field(default_factory=list)
    failed: bool = False
    preview: Path | None = None


def _train_missing_styles(config: PipelineConfig, progress: bool) -> list[str]:
    """Train every used style that has no model yet; returns a summary line per trained style."""
    from stylize.training.loop import CHECKPOINT_DIR
    from stylize.training.settings import TrainSettings
    from stylize.training.style import train

    lines = []
    for name in config.styles.use:
        if find_style(name, config.styles.dir) is not None:
            continue
        folder = config.styles.dir / name
        references = config.styles.references.get(name)
        if not references:
            raise StylizeError(
                f"style {name!r} has no model in {config.styles.dir} and no references to train it from; add "
                f'[styles.references] {name} = ["reference.png"] to pipeline.toml, or train it with stylize train'
            )
        result = train(
            name,
            references,
            settings=TrainSettings.from_config(config),
            config=config,
            device=config.run.device,
            resume=(folder / CHECKPOINT_DIR).is_dir(),
            progress=progress,
        )
        lines.append(f"train {name}: {result.time_line()} -> {result.directory}")
    return lines


def run_pipeline(config: PipelineConfig, *, progress: bool = True) -> RunSummary:
    from stylize.inference.bulk import apply

    summary = RunSummary()
    faces_dir = config.output.dir / "faces"
    result = compose(
        config.content.seeds, faces_dir, armoured=config.content.armoured, config=config, progress=progress
    )
    summary.lines.append(
        f"compose: {len(result.written)} faces written, {len(result.skipped)} up to date -> {faces_dir}"
    )
    summary.lines += [f"note: {note}" for note in result.notes]
    legacy = [Path(p) for p in config.content.legacy]
    if legacy:
        failures = ContentFailures()
        count = sum(1 for _ in iter_content([str(p) for p in legacy], config=config, failures=failures))
        summary.lines.append(f"legacy: {count} portraits readable in {len(legacy)} folders")
        summary.lines += [f"error: {err}" for err in failures.items]
        summary.failed = bool(failures)
    styles = list(config.styles.use)
    if not styles:
        summary.lines.append("no styles in [styles] use: nothing to stylize")
        return summary
    summary.lines += _train_missing_styles(config, progress)

    stylized_dir = config.output.dir / "stylized"
    sources = [(faces_dir, "faces")]
    for folder in legacy:  # each legacy folder under its own name, never on top of another's outputs
        prefix, taken = folder.name or "legacy", {p for _, p in sources}
        prefix = (
            prefix
            if prefix not in taken
            else next(f"{prefix}_{i}" for i in range(2, 10**6) if f"{prefix}_{i}" not in taken)
        )
        sources.append((folder, prefix))
    for source, prefix in sources:
        applied = apply(
            styles,
            [source],
            stylized_dir,
            style_folders=True,
            prefix=prefix,
            device=config.run.device,
            config=config,
            progress=progress,
        )
        summary.lines.append(
            f"apply {', '.join(styles)} to {source}: {len(applied.written)} written, "
            f"{len(applied.skipped)} up to date -> {stylized_dir}/STYLE/{prefix}"
        )
        summary.lines += [f"error: {message}" for message in applied.failed if f"error: {message}" not in summary.lines]
        summary.failed |= bool(applied.failed)

    from stylize.evaluation.preview import preview
    from stylize.inference.image import ApplySettings

    shown = sorted(result.written + result.skipped)[:PREVIEW_ROWS]
    made = preview(
        styles,
        [str(faces_dir / name) for name in shown],
        config.output.dir / "preview",
        limit=PREVIEW_ROWS,
        settings=ApplySettings(keep_values=config.styles.keep_values),
        config=config,
        device=config.run.device,
        progress=progress,
    )
    summary.preview = made.grid
    summary.lines.append(f"preview: {made.grid} and {made.html}")
    return summary
