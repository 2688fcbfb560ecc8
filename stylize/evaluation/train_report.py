"""``stylize train-report``: train styles from references under budgets and score them, in one run.

For each reference it trains one style in a scratch styles folder (never the project's) and scores it,
with :func:`stylize.evaluation.scores.score_style`, on held-out faces no training sees, at each budget:
the run stops at the smallest budget, is scored, and is resumed to the next (its checkpoint is kept
between budgets), so the budgets of one reference are points of one run, the same weights an
uninterrupted run with that budget gives. Budgets are minutes (``--minutes-list``; the preparation
counts, and a resumed session prepares again) or steps (``--steps-list``: the same weights on any
machine). This is the command behind docs/results/training.md.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import statistics
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from stylize.config import PipelineConfig, default_config
from stylize.content.sources import iter_content
from stylize.errors import StylizeError
from stylize.evaluation.scores import HELD_OUT_DEFAULT, HeldOut, score_style
from stylize.faults import MachineError
from stylize.files import write_json
from stylize.inference.styles import load_style_folder
from stylize.output_folder import replace_folder
from stylize.training.loop import CHECKPOINT_DIR
from stylize.training.settings import TrainSettings
from stylize.training.style import train


def _budgets(minutes: Sequence[float] | None, steps: Sequence[int] | None) -> list[tuple[str, float]]:
    if minutes and steps:
        raise StylizeError("give budgets as minutes or as steps, not both", params=("minutes", "steps"))
    if steps:
        return [("steps", float(s)) for s in sorted(set(steps))]
    return [("minutes", float(m)) for m in sorted(set(minutes or (5.0,)))]


def _label(kind: str, value: float) -> str:
    return f"{value:g}min" if kind == "minutes" else f"{int(value)}steps"


def train_report(
    refs: Sequence[str | os.PathLike[str]],
    *,
    minutes: Sequence[float] | None = None,
    steps: Sequence[int] | None = None,
    settings: TrainSettings | None = None,
    held_out: Sequence[str] = (HELD_OUT_DEFAULT,),
    parts: str | os.PathLike[str] | None = None,
    config: PipelineConfig | None = None,
    work_dir: str | os.PathLike[str] | None = None,
    device: str = "auto",
    progress: bool = True,
) -> list[dict[str, Any]]:
    """One row per reference and budget: steps, seconds, style score, the face judge's figures (same
    person, rank-1, value order and spread, faces detected), content, structure.

    After a fault of the machine (a full disk) the run in progress is removed (and the temporary
    ``work_dir``): one line naming the file, nothing half-made left."""
    config = config or default_config()
    base_settings = settings or TrainSettings.from_config(config)
    budgets = _budgets(minutes, steps)
    held = HeldOut(list(iter_content(list(held_out), parts=parts, config=config)))
    scratch = Path(work_dir) if work_dir else Path(tempfile.mkdtemp(prefix="stylize-train-report-"))
    rows: list[dict[str, Any]] = []
    try:
        for ref in refs:
            _report_runs(ref, budgets, base_settings, held, scratch, rows, parts, config, device, progress)
    except MachineError as err:  # a full disk: the run in progress is removed, so there is nothing to resume
        if not work_dir:
            shutil.rmtree(scratch, ignore_errors=True)
        raise err.noted("") from None
    return rows


def _report_runs(
    ref: str | os.PathLike[str],
    budgets: list[tuple[str, float]],
    base_settings: TrainSettings,
    held: HeldOut,
    scratch: Path,
    rows: list[dict[str, Any]],
    parts: str | os.PathLike[str] | None,
    config: PipelineConfig,
    device: str,
    progress: bool,
) -> None:
    """The rows of one reference: one run trained to each budget in turn, scored at each (its folder
    removed at the end, also after a failure)."""
    run_name = f"{Path(ref).stem}-run"
    try:
        for index, (kind, value) in enumerate(budgets):
            budget = {"minutes": value, "steps": None} if kind == "minutes" else {"minutes": None, "steps": int(value)}
            result = train(
                run_name,
                [ref],
                settings=replace(base_settings, **budget),
                styles_dir=scratch,
                parts=parts,
                config=config,
                device=device,
                resume=index > 0,
                overwrite=index == 0,
                progress=progress,
                keep_checkpoint=index < len(budgets) - 1,
            )
            name = f"{Path(ref).stem}-{_label(kind, value)}"
            kept = scratch / name
            _copy_style(result.directory, kept)
            score = score_style(load_style_folder(kept, name=name), held)
            rows.append(
                {
                    "reference": Path(ref).name,
                    "budget": _label(kind, value),
                    "steps": result.steps,
                    "wall_seconds": round(result.wall_seconds, 1),
                    "prepare_seconds": round(result.prepare_seconds, 1),
                    "step_seconds": round(result.step_seconds, 1),
                    "ms_per_step": result.metadata.get("ms_per_step"),
                    "style_score": round(score.style_score, 4),
                    "faces_judged": score.faces_judged,
                    "same_person": score.same_person,
                    "same_person_share": round(score.same_person_share, 4),
                    "rank1": score.rank1,
                    "value_order": round(score.value_order, 4),
                    "value_spread": round(score.value_spread, 4),
                    "faces_detected": score.faces_detected,
                    "content_distance": round(score.content_distance, 2),
                    "edge_ssim": round(score.edge_ssim, 4),
                    "old_ratio": round(score.style_ratio, 4),
                    "ms_per_portrait": round(score.ms_per_portrait, 1),
                    "model": str(kept),
                }
            )
            if progress:
                print(json.dumps(rows[-1]), flush=True)
    except MachineError:  # a full disk: nothing to resume, nothing half-made left
        shutil.rmtree(scratch / run_name, ignore_errors=True)
        raise
    shutil.rmtree(scratch / run_name, ignore_errors=True)


def _copy_style(source: Path, target: Path) -> None:
    """The trained style ``source`` (its checkpoint left out) as ``target``: whole, or as before."""

    def fill(built: Path) -> None:
        for path in sorted(source.rglob("*")):
            relative = path.relative_to(source)
            if relative.parts[0] == CHECKPOINT_DIR or path.is_symlink():
                continue
            if path.is_dir():
                (built / relative).mkdir(parents=True, exist_ok=True)
            else:
                (built / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, built / relative)

    replace_folder(target, fill)


def summary(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per budget: the median and worst style score (and which reference), the fewest judged faces still
    the same person and the lowest value spread."""
    out = []
    for budget in dict.fromkeys(r["budget"] for r in rows):
        group = [r for r in rows if r["budget"] == budget]
        worst = max(group, key=lambda r: r["style_score"])
        fewest = min(group, key=lambda r: r["same_person_share"] if r["faces_judged"] else 1.0)
        flattest = min(group, key=lambda r: _spread_key(r["value_spread"]))
        out.append(
            {
                "budget": budget,
                "references": len(group),
                "median_style_score": round(statistics.median(r["style_score"] for r in group), 4),
                "worst_style_score": worst["style_score"],
                "worst_reference": worst["reference"],
                "fewest_same_person": f"{fewest['same_person']}/{fewest['faces_judged']} ({fewest['reference']})",
                "lowest_value_spread": flattest["value_spread"],
                "lowest_value_spread_reference": flattest["reference"],
            }
        )
    return out


def _spread_key(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else math.inf


def _cell(value: Any, digits: int = 2) -> str:
    return f"{value:.{digits}f}" if isinstance(value, (int, float)) and math.isfinite(value) else "-"


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    lines = [
        "| reference | budget | steps | s (preparing + steps) | ms/step | style score | same person | value spread "
        "| rank-1 | value order | content dist. | edge SSIM | old ratio |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['reference']} | {r['budget']} | {r['steps']} | {r['wall_seconds']:.0f} "
            f"({r.get('prepare_seconds', 0):.0f} + {r.get('step_seconds', r['wall_seconds']):.0f}) | {r['ms_per_step']} | "
            f"{r['style_score']:.3f} | {r['same_person']}/{r['faces_judged']} | {_cell(r['value_spread'])} | "
            f"{r['rank1']}/{r['faces_judged']} | {_cell(r['value_order'])} | {r['content_distance']:.1f} | "
            f"{r['edge_ssim']:.3f} | {r['old_ratio']:.3f} |"
        )
    lines += [
        "",
        "| budget | references | median style score | worst | fewest same person | lowest value spread |",
        "|---|---|---|---|---|---|",
    ]
    for s in summary(rows):
        lines.append(
            f"| {s['budget']} | {s['references']} | {s['median_style_score']:.3f} | "
            f"{s['worst_style_score']:.3f} ({s['worst_reference']}) | {s['fewest_same_person']} | "
            f"{_cell(s['lowest_value_spread'])} ({s['lowest_value_spread_reference']}) |"
        )
    return "\n".join(lines)


def write_report(rows: Sequence[dict[str, Any]], path: str | os.PathLike[str]) -> None:
    data = {"rows": list(rows), "summary": summary(rows)}
    write_json(path, data, nan_as_null=True)  # a NaN share (no faces) as null
