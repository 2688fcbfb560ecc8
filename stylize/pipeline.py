"""``stylize run``: the whole job ``pipeline.toml`` describes.

Today that is the content stage: compose the configured faces from the part tree into
``<output>/faces`` and read every configured legacy folder, reporting unreadable files. Training,
stylizing and previews join this function as those stages land.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from stylize.compose import compose
from stylize.config import PipelineConfig
from stylize.content import ContentFailures, iter_content


@dataclass
class RunSummary:
    lines: list[str] = field(default_factory=list)
    failed: bool = False


def run_pipeline(config: PipelineConfig, *, progress: bool = True) -> RunSummary:
    summary = RunSummary()
    faces_dir = config.output.dir / "faces"
    result = compose(config.content.seeds, faces_dir, armoured=config.content.armoured, config=config, progress=progress)
    summary.lines.append(
        f"compose: {len(result.written)} faces written, {len(result.skipped)} up to date -> {faces_dir}"
    )
    summary.lines += [f"note: {note}" for note in result.notes]
    if config.content.legacy:
        failures = ContentFailures()
        count = sum(1 for _ in iter_content([str(p) for p in config.content.legacy], config=config, failures=failures))
        summary.lines.append(f"legacy: {count} portraits readable in {len(config.content.legacy)} folders")
        for err in failures.items:
            summary.lines.append(f"error: {err}")
        summary.failed = bool(failures)
    return summary
