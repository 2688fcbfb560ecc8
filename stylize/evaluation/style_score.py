"""What ``stylize eval`` measures of one style, as data: :class:`StyleScore` and the :func:`overall` row.

Torch-free, so the report (:mod:`stylize.evaluation.report`) and anything reading the figures need no
network; :mod:`stylize.evaluation.scores` fills these in.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from stylize.files import json_ready
from stylize.reference_scoring import STYLE_SCORE_LAYERS

CEILING_STYLE_GOAL = 1.3  # style distance within 1.3x of the optimisation's, at no worse content distance
TIMING_THREADS = 1
OLD_RATIO_LABEL = "old Gram ratio (512 px, summed)"  # the style ratio before the style score, for old figures
# The summary: the style score plus this much for each share of judged faces no longer the same person
# (the face judge, stylize/evaluation/judge.py: a person lost on every portrait costs as much as no
# style at all). The weight was checked against by-eye judgements of 13 pairs in
# docs/results/training.md when the face term was the Haar cascade's faces kept.
FACE_LOSS_COST = 1.0


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0 and math.isfinite(denominator) else float("nan")


def mean(values: Sequence[float]) -> float:
    return float(np.mean(values)) if len(values) else float("nan")


def layer_ratios(
    stylized: Mapping[str, Sequence[float]], unstylized: Mapping[str, Sequence[float]]
) -> dict[str, float]:
    """Per layer, the mean Gram distance of the stylized portraits to the reference over the same mean of
    the unstylized portraits (NaN where the latter is 0). Both map the same layers to one distance a portrait."""
    if list(stylized) != list(unstylized):
        raise ValueError(f"layers differ: {list(stylized)} and {list(unstylized)}")
    return {layer: ratio(mean(stylized[layer]), mean(unstylized[layer])) for layer in stylized}


def style_score_from_distances(
    stylized: Mapping[str, Sequence[float]], unstylized: Mapping[str, Sequence[float]]
) -> tuple[float, dict[str, float]]:
    """The style score (the mean of the :func:`layer_ratios`) and the layer ratios themselves.

    0 = the reference's Gram statistics, 1 = as far from them as the unstylized portraits."""
    ratios = layer_ratios(stylized, unstylized)
    return mean(list(ratios.values())), ratios


@dataclass
class StyleScore:
    """One style's figures. ``style_score`` is the yardstick; ``style_ratio`` (with ``style_loss_input``
    and ``style_loss_output``) is the old one, :data:`OLD_RATIO_LABEL`, kept for comparison with older
    figures: the five layers' mean squared Gram differences summed, references at 512 px."""

    style: str
    portraits: int
    style_loss_input: float  # old ratio's terms: summed over the layers, references at 512 px
    style_loss_output: float
    style_ratio: float  # the old Gram ratio (OLD_RATIO_LABEL)
    content_distance: float
    faces_judged: int  # inputs in which the face judge finds a face (stylize/evaluation/judge.py)
    same_person: int  # of those, outputs within the judge's descriptor distance of their input
    ms_per_portrait: float  # on TIMING_THREADS CPU thread(s)
    style_score: float = float("nan")  # mean over STYLE_SCORE_LAYERS of the layer ratios; 0 = reference, 1 = input
    style_score_layers: dict[str, float] = field(default_factory=dict)  # layer -> ratio
    per_portrait: list[dict[str, Any]] = field(default_factory=list)
    rank1: int = 0  # judged faces whose output's nearest input descriptor is its own
    faces_detected: int = 0  # outputs in which the judge's detector finds a face, of all portraits
    value_order: float = float("nan")  # Spearman rho of face lightness (CIE L*) before / after, judged faces
    value_spread: float = float("nan")  # std(after) / std(before) of the same
    edge_ssim: float = float("nan")
    eyes_in_input: int = 0  # portraits whose input shows a face with an eye on each side (Haar cascades)
    eyes_kept: int = 0
    colour_distance_output: float = float("nan")
    colour_distance_input: float = float("nan")
    timing_threads: int = TIMING_THREADS
    ceiling_portraits: int = 0
    ceiling_steps: int = 0
    ceiling_style_distance: float = float("nan")  # the optimisation's outputs, mean over the ceiling portraits
    ceiling_content_distance: float = float("nan")
    network_style_distance_on_ceiling: float = float("nan")  # the network's, on the same portraits
    network_content_distance_on_ceiling: float = float("nan")
    style_vs_ceiling: float = float("nan")  # network / optimisation; goal <= CEILING_STYLE_GOAL
    content_vs_ceiling: float = float("nan")  # goal <= 1
    ceiling_ms_per_iteration: float = float("nan")
    ceiling_training_loss: float = float("nan")  # the style's own weighted training loss, optimisation's outputs
    network_training_loss_on_ceiling: float = float("nan")  # the same loss of the network's outputs
    ceiling_per_portrait: list[dict[str, Any]] = field(default_factory=list)
    training: dict[str, Any] = field(default_factory=dict)  # the style's training settings, steps, minutes
    loss_history: list[dict[str, float]] = field(default_factory=list)  # from model.json
    notes: list[str] = field(default_factory=list)

    @property
    def same_person_share(self) -> float:
        return self.same_person / self.faces_judged if self.faces_judged else float("nan")

    @property
    def rank1_share(self) -> float:
        return self.rank1 / self.faces_judged if self.faces_judged else float("nan")

    @property
    def summary(self) -> float:
        """What ``stylize eval`` ranks styles by (lower is better): the style score plus
        :data:`FACE_LOSS_COST` times the share of judged faces no longer the same person. NaN where
        the judge finds no face in any input."""
        return summary_score(self.style_score, self.same_person, self.faces_judged)

    @property
    def eyes_kept_share(self) -> float:
        return self.eyes_kept / self.eyes_in_input if self.eyes_in_input else float("nan")

    @property
    def meets_ceiling_goal(self) -> bool | None:
        """Style within 1.3x of the optimisation at no worse content distance; None without a ceiling."""
        if not self.ceiling_portraits:
            return None
        return bool(self.style_vs_ceiling <= CEILING_STYLE_GOAL and self.content_vs_ceiling <= 1.0)

    def record(self, *, details: bool = True) -> dict[str, Any]:
        """The figures as JSON-ready data (NaN as null); ``details`` adds the per-portrait rows and
        the loss history."""
        data = asdict(self)
        if not details:
            for key in ("per_portrait", "ceiling_per_portrait", "loss_history"):
                data.pop(key)
        data.update(
            summary=self.summary,
            same_person_share=self.same_person_share,
            rank1_share=self.rank1_share,
            eyes_kept_share=self.eyes_kept_share,
            meets_ceiling_goal=self.meets_ceiling_goal,
        )
        return json_ready(data)


def summary_score(style_score: float, same_person: int, faces_judged: int) -> float:
    """The style score plus :data:`FACE_LOSS_COST` times the share of judged faces no longer the same
    person (lower is better)."""
    if not faces_judged:
        return float("nan")
    return style_score + FACE_LOSS_COST * (1 - same_person / faces_judged)


def ranking(scores: Sequence[StyleScore]) -> list[str]:
    """The styles' names, best summary first (styles without one last, in their order)."""
    known = [s for s in scores if math.isfinite(s.summary)]
    return [s.style for s in sorted(known, key=lambda s: s.summary)] + [
        s.style for s in scores if not math.isfinite(s.summary)
    ]


def overall(scores: Sequence[StyleScore]) -> dict[str, Any]:
    """One row over all styles: means of the style scores (and of each layer's ratio), the other ratios,
    the distances and the value figures; totals of the face counts."""
    with_ceiling = [s for s in scores if s.ceiling_portraits]
    return json_ready(
        {
            "styles": len(scores),
            "portraits": sum(s.portraits for s in scores),
            "summary": mean([s.summary for s in scores]),
            "style_score": mean([s.style_score for s in scores]),
            "style_score_layers": {
                layer: mean([s.style_score_layers.get(layer, float("nan")) for s in scores])
                for layer in STYLE_SCORE_LAYERS
            },
            "style_ratio": mean([s.style_ratio for s in scores]),
            "content_distance": mean([s.content_distance for s in scores]),
            "edge_ssim": mean([s.edge_ssim for s in scores]),
            "faces_judged": sum(s.faces_judged for s in scores),
            "same_person": sum(s.same_person for s in scores),
            "rank1": sum(s.rank1 for s in scores),
            "faces_detected": sum(s.faces_detected for s in scores),
            "value_order": mean([s.value_order for s in scores]),
            "value_spread": mean([s.value_spread for s in scores]),
            "eyes_in_input": sum(s.eyes_in_input for s in scores),
            "eyes_kept": sum(s.eyes_kept for s in scores),
            "colour_distance_output": mean([s.colour_distance_output for s in scores]),
            "colour_distance_input": mean([s.colour_distance_input for s in scores]),
            "ms_per_portrait": mean([s.ms_per_portrait for s in scores]),
            "style_vs_ceiling": mean([s.style_vs_ceiling for s in with_ceiling]),
            "content_vs_ceiling": mean([s.content_vs_ceiling for s in with_ceiling]),
            "meeting_ceiling_goal": sum(1 for s in with_ceiling if s.meets_ceiling_goal),
            "with_ceiling": len(with_ceiling),
        }
    )
