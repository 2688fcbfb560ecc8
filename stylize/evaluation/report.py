"""The ``stylize eval`` report: a text table, report.md, eval.json and PNG plots.

Plots are drawn with matplotlib's Agg canvas directly (no pyplot, so no GUI backend and no global
state is touched) and every file goes through the atomic writers of :mod:`stylize.imageio`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from io import BytesIO
from pathlib import Path
from typing import Any

from stylize.errors import StylizeError
from stylize.evaluation.judge import SAME_PERSON_DISTANCE
from stylize.evaluation.style_score import (
    CEILING_STYLE_GOAL,
    OLD_RATIO_LABEL,
    StyleScore,
    overall,
    ranking,
)
from stylize.files import write_json
from stylize.imageio import atomic_write_bytes, atomic_write_text
from stylize.reference_scoring import STYLE_SCORE_LAYERS, STYLE_SCORE_REFERENCE_SIDE

REPORT_NAME = "report.md"
JSON_NAME = "eval.json"
SCATTER_NAME = "style_vs_content.png"
LOSS_NAME = "loss_curves.png"


def _f(value: float | None, digits: int = 3) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _count(kept: int, of: int) -> str:
    return f"{kept}/{of} ({100 * kept / of:.0f} %)" if of else "-"


def _mean_of(rows: Sequence[dict[str, Any]], key: str) -> float:
    values = [row[key] for row in rows if isinstance(row.get(key), (int, float))]
    return sum(values) / len(values) if values else float("nan")


def _judge_cells(figures: dict[str, Any], portraits: int) -> str:
    """The report's judge columns: style score, same person, value spread, rank-1, value order, faces detected."""
    return " | ".join(
        [
            _f(figures["style_score"]),
            _count(figures["same_person"], figures["faces_judged"]),
            _f(figures["value_spread"], 2),
            _count(figures["rank1"], figures["faces_judged"]),
            _f(figures["value_order"], 2),
            _count(figures["faces_detected"], portraits),
        ]
    )


def _judge_cell(row: dict[str, Any], index: int) -> str:
    """One portrait in the judge's table: its own descriptor distance, * past the threshold, ! where its
    nearest input is another's, and its face lightness before > after; - where no face was judged."""
    distance = row.get("judge_distance")
    if not isinstance(distance, (int, float)):
        return "-"
    marks = ("*" if distance >= SAME_PERSON_DISTANCE else "") + ("!" if row.get("judge_nearest") != index else "")
    return f"{distance:.2f}{marks} ({_f(row.get('lightness_in'), 0)}>{_f(row.get('lightness_out'), 0)})"


def _judge_rows(scores: Sequence[StyleScore]) -> list[str]:
    """Per style and portrait, the face judge's figures (the per-portrait rows of eval.json, in short)."""
    if not any(s.per_portrait for s in scores):
        return []
    lines = [
        "",
        f"Face judge per portrait: descriptor distance to its own input (* = {SAME_PERSON_DISTANCE} or more, not "
        "the same person; ! = its nearest input is another's) and face lightness, L* before > after.",
        "",
        "| style | portraits, in order |",
        "|---|---|",
    ]
    for s in scores:
        lines.append(f"| {s.style} | {' · '.join(_judge_cell(row, i) for i, row in enumerate(s.per_portrait))} |")
    return lines


def _goal(score: StyleScore) -> str:
    met = score.meets_ceiling_goal
    return "-" if met is None else ("yes" if met else "no")


def report_data(scores: Sequence[StyleScore], content: Sequence[str]) -> dict[str, Any]:
    """Everything ``eval.json`` holds: the content, each style's figures (with per-portrait rows and
    loss history) and the overall row."""
    first = next((s for s in scores if s.ceiling_portraits), None)
    return {
        "content": list(content),
        "ceiling": {
            "faces": first.ceiling_portraits if first else 0,
            "steps": first.ceiling_steps if first else 0,
            "style_goal": CEILING_STYLE_GOAL,
            "content_goal": 1.0,
        },
        "styles": [score.record() for score in scores],
        "overall": overall(scores),
    }


def _layer_ratios(ratios: dict[str, Any], digits: int = 2) -> str:
    return "/".join(_f(ratios.get(layer), digits) for layer in STYLE_SCORE_LAYERS)


def format_text_table(scores: Sequence[StyleScore]) -> str:
    """The table ``stylize eval`` prints: one line a style and an overall line when there are several.

    It leads with the style score and the face judge's same person and value spread, then its rank-1,
    value order and faces detected, then the summary (style score plus the share of judged faces no
    longer the same person: what styles are ranked by); the old Gram ratio comes last, labelled, for
    comparison with older figures."""
    header = (
        f"{'style':<16} {'n':>3} {'style score':>11} {'same person':>11} {'value spread':>12} {'rank-1':>7} "
        f"{'value order':>11} {'detected':>8} {'summary':>7} {'content':>9} {'edge SSIM':>9} "
        f"{'eyes kept':>9} {'colour out/in':>13} {'ms/portrait':>11} {'style/ceil':>10} {'content/ceil':>12} "
        f"{OLD_RATIO_LABEL:>31}"
    )
    lines = [header]

    def line(name: str, n: int, figures: dict[str, Any]) -> str:
        same = f"{figures['same_person']}/{figures['faces_judged']}"
        rank1 = f"{figures['rank1']}/{figures['faces_judged']}"
        detected = f"{figures['faces_detected']}/{n}"
        eyes = f"{figures['eyes_kept']}/{figures['eyes_in_input']}"
        colour = f"{_f(figures['colour_distance_output'], 2)}/{_f(figures['colour_distance_input'], 2)}"
        return (
            f"{name:<16} {n:>3} {_f(figures['style_score']):>11} {same:>11} {_f(figures['value_spread'], 2):>12} "
            f"{rank1:>7} {_f(figures['value_order'], 2):>11} {detected:>8} {_f(figures['summary']):>7} "
            f"{_f(figures['content_distance'], 1):>9} "
            f"{_f(figures['edge_ssim']):>9} {eyes:>9} {colour:>13} {_f(figures['ms_per_portrait'], 1):>11} "
            f"{_f(figures['style_vs_ceiling'], 2):>10} {_f(figures['content_vs_ceiling'], 2):>12} "
            f"{_f(figures['style_ratio']):>31}"
        )

    for s in scores:
        lines.append(line(s.style, s.portraits, {**s.__dict__, "summary": s.summary}))
    if len(scores) > 1:
        o = overall(scores)
        lines.append(line("overall", o["portraits"], o))
    if len(scores) > 1:
        lines.append(
            "ranked by summary (style score + share of judged faces no longer the same person), best first: "
            f"{', '.join(ranking(scores))}"
        )
    for s in scores:
        lines.append(f"{s.style}: style score by layer (relu1_1/2_1/3_1/4_1/5_1) {_layer_ratios(s.style_score_layers)}")
    return "\n".join(lines)


def format_markdown(scores: Sequence[StyleScore], content: Sequence[str], *, plots: bool = True) -> str:
    o = overall(scores)
    first = next((s for s in scores if s.ceiling_portraits), None)
    lines = [
        "# Style evaluation",
        "",
        f"Content: {', '.join(f'`{c}`' for c in content)} ({scores[0].portraits if scores else 0} portraits, "
        "none of them used in training unless noted below).",
        "",
        "| style | portraits | style score | same person | value spread | rank-1 | value order | faces detected "
        "| summary | content distance | edge SSIM | eyes kept | "
        "colour distance out / in | ms per portrait (1 thread) | style vs ceiling | content vs ceiling | ceiling goal "
        f"| {OLD_RATIO_LABEL} |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in scores:
        lines.append(
            f"| {s.style} | {s.portraits} | {_judge_cells(s.__dict__, s.portraits)} | {_f(s.summary)} | "
            f"{_f(s.content_distance, 1)} | {_f(s.edge_ssim)} | "
            f"{_count(s.eyes_kept, s.eyes_in_input)} | {_f(s.colour_distance_output, 3)} / "
            f"{_f(s.colour_distance_input, 3)} | {_f(s.ms_per_portrait, 1)} | {_f(s.style_vs_ceiling, 2)} | "
            f"{_f(s.content_vs_ceiling, 2)} | {_goal(s)} | {_f(s.style_ratio)} |"
        )
    if len(scores) > 1:
        met = f"{o['meeting_ceiling_goal']}/{o['with_ceiling']}" if o["with_ceiling"] else "-"
        lines.append(
            f"| **overall** (mean; face counts summed) | {o['portraits']} | {_judge_cells(o, o['portraits'])} | "
            f"{_f(o['summary'])} | {_f(o['content_distance'], 1)} | "
            f"{_f(o['edge_ssim'])} | {_count(o['eyes_kept'], o['eyes_in_input'])} | "
            f"{_f(o['colour_distance_output'], 3)} / {_f(o['colour_distance_input'], 3)} | "
            f"{_f(o['ms_per_portrait'], 1)} | {_f(o['style_vs_ceiling'], 2)} | "
            f"{_f(o['content_vs_ceiling'], 2)} | {met} | {_f(o['style_ratio'])} |"
        )
    layers = " | ".join(STYLE_SCORE_LAYERS)
    lines += ["", f"| style | {layers} | style score |", "|---|" + "---|" * (len(STYLE_SCORE_LAYERS) + 1)]
    rows = [(s.style, s.style_score_layers, s.style_score) for s in scores]
    if len(scores) > 1:
        rows.append(("**overall** (mean)", o["style_score_layers"], o["style_score"]))
    for name, ratios, value in rows:
        lines.append(f"| {name} | {' | '.join(_f(ratios.get(layer)) for layer in STYLE_SCORE_LAYERS)} | {_f(value)} |")
    lines += _judge_rows(scores)
    lines += [
        "",
        "- **style score**: per VGG19 layer (relu1_1, relu2_1, relu3_1, relu4_1, relu5_1), the mean Gram distance "
        "(Gram normalised by C*H*W, squared differences summed) of the outputs to the references over the same of "
        "the unstylized portraits; the mean of the five layer ratios (table above). References at "
        f"{STYLE_SCORE_REFERENCE_SIDE} px on the long side (several: their mean Gram), portraits at their own size. "
        "0 = the references' statistics, 1 = no change; lower is closer to the style.",
        f"- **{OLD_RATIO_LABEL}**: the yardstick before the style score, for comparison with older figures only: "
        "the five layers' mean squared Gram differences summed (dominated by relu4_1), references at 512 px.",
        "- **content distance**: VGG19 relu4_2 mean squared difference to the input. **edge SSIM**: SSIM of the "
        "Sobel edge maps of output and input (1 = structure intact).",
        "- **same person, rank-1, faces detected, value order, value spread**: the face judge (dlib's HOG detector "
        "and 128-D face-recognition ResNet, models no style steers by; docs/evaluation.md). Same person: of the "
        f"faces it finds in the inputs, outputs whose descriptor (at the input's face box) is within "
        f"{SAME_PERSON_DISTANCE} of the input's. Rank-1: outputs whose nearest input is their own. Faces detected: "
        "outputs in which it finds a face, of all portraits. Value order: Spearman rho of face lightness (mean CIE "
        "L* of the central half of the face box) before / after across the set; value spread: std after / std "
        "before (1 = the cast's spread of skin values kept, 0 = every face the same value).",
        "- **eyes kept**: of the portraits where OpenCV's Haar cascades find a face and an eye on each side of it in "
        "the input, those where they still do in the output (the zero-training guard's detector: not independent).",
        "- **colour distance**: Bhattacharyya distance of Lab histograms to the references' (0 = same colours, "
        "1 = none in common), output / unstylized input.",
    ]
    if first:
        lines += [
            f"- **vs ceiling**: on the first {first.ceiling_portraits} portraits, the network's style (old summed Gram "
            f"distance, references at 512 px) and content distances over those of Gatys-style L-BFGS optimisation ({first.ceiling_steps} iterations from the "
            "portrait, the style's own training loss and references). Goal: style within "
            f"{CEILING_STYLE_GOAL}x at no worse content distance (content ratio <= 1). The optimisation is a "
            "ceiling only where its training loss is below the network's (last column); otherwise give more "
            "iterations.",
            "",
            "| style | ceiling portraits | L-BFGS iterations | ms per iteration | style score (mean of the "
            "portraits'): network / ceiling | old style distance: network / ceiling / input | content distance: "
            "network / ceiling | training loss: network / ceiling |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for s in scores:
            if not s.ceiling_portraits:
                continue
            floor = sum(s.per_portrait[i]["style_in"] for i in range(s.ceiling_portraits)) / s.ceiling_portraits
            network_score = _mean_of(s.per_portrait[: s.ceiling_portraits], "style_score")
            ceiling_score = _mean_of(s.ceiling_per_portrait, "style_score")
            lines.append(
                f"| {s.style} | {s.ceiling_portraits} | {s.ceiling_steps} | {_f(s.ceiling_ms_per_iteration, 0)} | "
                f"{_f(network_score)} / {_f(ceiling_score)} | "
                f"{s.network_style_distance_on_ceiling:.4g} / {s.ceiling_style_distance:.4g} / {floor:.4g} | "
                f"{s.network_content_distance_on_ceiling:.4g} / {s.ceiling_content_distance:.4g} | "
                f"{s.network_training_loss_on_ceiling:.4g} / {s.ceiling_training_loss:.4g} |"
            )
    notes = [f"{s.style}: {note}" for s in scores for note in s.notes]
    if notes:
        lines += ["", "Notes:", *(f"- {note}" for note in notes)]
    if plots:
        lines += [
            "",
            f"![style vs content distance, one point per portrait]({SCATTER_NAME})",
            "",
            f"![training loss curves]({LOSS_NAME})",
        ]
    return "\n".join(lines) + "\n"


def _new_figure(**kwargs):
    try:
        from matplotlib.figure import Figure
    except ImportError as err:
        raise StylizeError(f"the eval report's plots need matplotlib ({err}); run: pip install matplotlib") from err
    return Figure(**kwargs)


def _png(figure) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    buffer = BytesIO()
    figure.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    return buffer.getvalue()


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def scatter_png(scores: Sequence[StyleScore]) -> bytes:
    """Style score against content distance, one point per portrait (that portrait's own mean of the
    five layer ratios): the network's outputs (dots) and the ceiling's (diamonds); the unstylized inputs
    are the dashed line at 1 (and content 0)."""
    figure = _new_figure(figsize=(7.5, 5.0))
    axes = figure.add_subplot()
    colours = [f"C{i % 10}" for i in range(len(scores))]
    for score, colour in zip(scores, colours):
        rows = [r for r in score.per_portrait if _finite(r.get("style_score"))]
        axes.scatter(
            [r["content"] for r in rows],
            [r["style_score"] for r in rows],
            color=colour,
            s=22,
            label=f"{score.style} (network)",
        )
        ceiling = [r for r in score.ceiling_per_portrait if _finite(r.get("style_score"))]
        if ceiling:
            axes.scatter(
                [r["content"] for r in ceiling],
                [r["style_score"] for r in ceiling],
                facecolors="none",
                edgecolors=colour,
                marker="D",
                s=40,
                label=f"{score.style} (ceiling)",
            )
    axes.axhline(1.0, color="grey", linestyle="--", linewidth=1, label="unstylized input (1)")
    axes.set_ylim(bottom=0.0)
    axes.set_xlabel("content distance to the input (VGG19 relu4_2 MSE)")
    axes.set_ylabel("style score (0 = the references' Grams, 1 = the input)")
    axes.set_title("Style score vs content distance, one point per portrait")
    axes.grid(True, alpha=0.3)
    if scores:
        axes.legend(fontsize="small", loc="best")
    figure.tight_layout()
    return _png(figure)


def loss_curves_png(scores: Sequence[StyleScore]) -> bytes:
    """Training loss history from each style's model.json: normalised style and content terms by step."""
    figure = _new_figure(figsize=(10.0, 4.2))
    panels = figure.subplots(1, 2)
    drawn = False
    for index, score in enumerate(scores):
        history = [h for h in score.loss_history if "step" in h]
        for axes, term in zip(panels, ("style", "content")):
            points = [(h["step"], h[term]) for h in history if _finite(h.get(term))]
            if points:
                axes.plot(*zip(*points), color=f"C{index % 10}", marker=".", markersize=3, label=score.style)
                drawn = True
    for axes, term in zip(panels, ("style", "content")):
        axes.set_title(f"{term} term (normalised, as trained)")
        axes.set_xlabel("training step")
        axes.grid(True, alpha=0.3)
        if drawn:
            axes.set_yscale("log")
            axes.legend(fontsize="small")
        else:
            axes.text(
                0.5, 0.5, "no loss history in the model files", ha="center", va="center", transform=axes.transAxes
            )
    figure.tight_layout()
    return _png(figure)


def write_eval_json(scores: Sequence[StyleScore], path: str | os.PathLike[str], *, content: Sequence[str]) -> Path:
    target = Path(path)
    write_json(target, report_data(scores, content), allow_nan=False)
    return target


def write_report(
    scores: Sequence[StyleScore], out_dir: str | os.PathLike[str], *, content: Sequence[str]
) -> dict[str, Path]:
    """report.md, eval.json, style_vs_content.png and loss_curves.png in ``out_dir``; returns their paths."""
    folder = Path(out_dir)
    paths = {
        "report": folder / REPORT_NAME,
        "json": folder / JSON_NAME,
        "scatter": folder / SCATTER_NAME,
        "loss_curves": folder / LOSS_NAME,
    }
    atomic_write_bytes(paths["scatter"], scatter_png(scores))
    atomic_write_bytes(paths["loss_curves"], loss_curves_png(scores))
    write_eval_json(scores, paths["json"], content=content)
    atomic_write_text(paths["report"], format_markdown(scores, content))
    return paths
