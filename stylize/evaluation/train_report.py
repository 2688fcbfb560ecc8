"""``stylize train-report``: train styles from references under a budget and score them, in one run.

For each reference, each budget (minutes) and each start (warm from the base network, or cold from
random weights) it trains a style into a scratch styles folder (never the project's) and scores it
with :func:`stylize.evaluation.scores.score_style` on held-out faces no training sees. This is the command
behind docs/results/training.md.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from stylize.config import PipelineConfig, default_config
from stylize.content.sources import iter_content
from stylize.evaluation.scores import HELD_OUT_DEFAULT, score_style
from stylize.files import json_ready
from stylize.imageio import atomic_write_text
from stylize.inference.styles import load_style_folder
from stylize.training.settings import TrainSettings
from stylize.training.style import train


def train_report(
    refs: Sequence[str | os.PathLike[str]],
    *,
    minutes: Sequence[float] = (5.0,),
    starts: Sequence[str] = ("warm",),
    settings: TrainSettings | None = None,
    held_out: Sequence[str] = (HELD_OUT_DEFAULT,),
    parts: str | os.PathLike[str] | None = None,
    config: PipelineConfig | None = None,
    work_dir: str | os.PathLike[str] | None = None,
    device: str = "auto",
    progress: bool = True,
) -> list[dict[str, Any]]:
    config = config or default_config()
    base_settings = settings or TrainSettings()
    portraits = list(iter_content(list(held_out), parts=parts, config=config))
    scratch = Path(work_dir) if work_dir else Path(tempfile.mkdtemp(prefix="stylize-train-report-"))
    rows = []
    for ref in refs:
        for budget in minutes:
            for start in starts:
                name = f"{Path(ref).stem}-{budget:g}min-{start}"
                run_settings = replace(base_settings, minutes=budget, steps=None, warm_start=(start == "warm"))
                result = train(
                    name,
                    [ref],
                    settings=run_settings,
                    styles_dir=scratch,
                    parts=parts,
                    config=config,
                    device=device,
                    overwrite=True,
                    progress=progress,
                )
                score = score_style(load_style_folder(result.directory, name=name), portraits)
                rows.append(
                    {
                        "reference": Path(ref).name,
                        "minutes": budget,
                        "start": start,
                        "steps": result.steps,
                        "style_ratio": round(score.style_ratio, 4),
                        "content_distance": round(score.content_distance, 2),
                        "faces_in_input": score.faces_in_input,
                        "faces_kept": score.faces_kept,
                        "faces_kept_share": round(score.faces_kept_share, 4),
                        "ms_per_portrait": round(score.ms_per_portrait, 1),
                        "model": str(result.directory),
                    }
                )
                if progress:
                    print(json.dumps(rows[-1]), flush=True)
    return rows


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    lines = [
        "| reference | minutes | start | steps | style ratio | faces kept | content dist. | ms/portrait |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['reference']} | {r['minutes']:g} | {r['start']} | {r['steps']} | {r['style_ratio']:.3f} | "
            f"{r['faces_kept']}/{r['faces_in_input']} | {r['content_distance']:.1f} | {r['ms_per_portrait']:.0f} |"
        )
    return "\n".join(lines)


def write_report(rows: Sequence[dict[str, Any]], path: str | os.PathLike[str]) -> None:
    atomic_write_text(path, json.dumps(json_ready(list(rows)), indent=2) + "\n")  # a NaN share (no faces) as null
