"""Measuring a style on held-out portraits: style, structure, faces, colour, speed, and the ceiling.

Per style, on portraits no training used:

* **style score**: for each VGG19 layer relu1_1, relu2_1, relu3_1, relu4_1, relu5_1, the mean Gram
  distance (Gram normalised by C*H*W, squared differences summed) of the stylized portraits to the
  reference over the same for the unstylized portraits; the mean of the five layer ratios. The
  reference is scaled to 256 px on its long side, portraits keep their own size; several references
  make one target, their mean Gram matrix. 0 = the reference's statistics, 1 = no change.
* **old Gram ratio (512 px, summed)** (``style_ratio``): the yardstick before the style score, kept
  beside it for older figures: the five layers' mean squared Gram differences summed (so relu4_1
  dominates), references at 512 px, outputs over inputs. Same VGG pass of each output as the score.
* **content distance**: mean squared VGG19 relu4_2 difference to the input.
* **edge SSIM**: SSIM of the Sobel edge maps of output and input (:mod:`stylize.evaluation.quality`); 1 = the
  input's structure intact.
* **the face judge** (:mod:`stylize.evaluation.judge`, dlib's detector and 128-D face-recognition
  ResNet, models no method steers by): same person (output descriptor within 0.6 of its input's),
  rank-1 (each output's nearest input is its own), faces detected in the outputs, value order
  (Spearman rho of face lightness before / after) and value spread (std after / std before).
* **eyes kept**: of the portraits where OpenCV's Haar cascades find a face and an eye on each side of
  it in the input, the share where they still do in the output. The cascade is the one the
  zero-training face guard steers by, so this is no independent figure; it is kept because the
  judge has no eye figure.
* **colour distance**: Bhattacharyya distance of the Lab histograms of the output and of the
  references, next to the same for the input.
* **ms per portrait**: the network alone, on one CPU thread.
* **ceiling**: on the first ``ceiling_faces`` portraits, Gatys-style L-BFGS optimisation of the
  pixels toward the same references with the style's own training loss (:mod:`stylize.evaluation.ceiling`);
  the network's style and content distances on those portraits as ratios to the optimisation's.
  The goal: style within 1.3x of the ceiling at no worse content distance.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from stylize.config import PipelineConfig, default_config, parameter_default
from stylize.content.faces import FaceFinding, find_face
from stylize.content.seeds import COMPOSE_PREFIX, parse_compose_spec
from stylize.content.sources import Portrait, check_sources, iter_content
from stylize.errors import StylizeError
from stylize.evaluation.ceiling import (
    CEILING_FACES_DEFAULT,
    CEILING_STEPS_DEFAULT,
    gatys_optimise,
    training_loss,
    training_objective,
)
from stylize.evaluation.judge import InputFace, judge_faces, judge_input
from stylize.evaluation.quality import edge_ssim, histogram_distance, lab_histogram
from stylize.evaluation.style_score import (
    CEILING_STYLE_GOAL,
    OLD_RATIO_LABEL,
    TIMING_THREADS,
    StyleScore,
    mean,
    overall,
    ratio,
    style_score_from_distances,
)
from stylize.inference.image import ApplySettings, stylize_rgb, to_tensor, to_uint8
from stylize.inference.model_file import StyleModel, measured_references, reference_files
from stylize.inference.styles import load_style
from stylize.nets.device import resolve_device
from stylize.nets.vgg import MEASURE_LAYERS, STYLE_LAYERS_DEFAULT, VGGFeatures
from stylize.reference_scoring import STYLE_SCORE_LAYERS, score_references
from stylize.training.data import load_reference
from stylize.training.losses import gram_matrix, per_layer_gram_distances
from stylize.training.perceptual import ImageMeasures, PerceptualObjective
from stylize.training.vgg_weights import load_vgg

__all__ = [
    "HELD_OUT_DEFAULT",
    "CEILING_FACES_DEFAULT",
    "CEILING_STEPS_DEFAULT",
    "CEILING_STYLE_GOAL",
    "HeldOut",
    "StyleScore",
    "evaluate",
    "overall",
    "reference_files",
    "score_references",
    "score_style",
    "score_targets",
]

HELD_OUT_DEFAULT: str = parameter_default("held_out")[0]

Log = Callable[[str], None]


def _check_ceiling(ceiling_faces: int, ceiling_steps: int) -> None:
    if ceiling_faces < 0:
        raise StylizeError(f"ceiling faces {ceiling_faces}: use 0 (no ceiling) or more")
    if ceiling_steps < 1:  # refused even with no ceiling: a bad value is an error wherever it is given
        raise StylizeError(f"ceiling steps {ceiling_steps}: use 1 or more L-BFGS iterations")


@contextmanager
def _torch_threads(count: int) -> Iterator[None]:
    """Torch's intra-op threads set to ``count`` inside, restored after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _run_network(
    model: StyleModel, portraits: Sequence[Portrait], settings: ApplySettings | None = None
) -> tuple[list[np.ndarray], float]:
    """Outputs of every portrait (applied with ``settings``, default the defaults) and ms per portrait,
    timed on TIMING_THREADS thread(s) after one warm-up."""
    settings = settings or ApplySettings()
    network = model.network.eval()
    with _torch_threads(TIMING_THREADS):
        if portraits:
            stylize_rgb(
                network, portraits[0].rgb, settings=settings
            )  # warm-up: first-call allocations are not the network's speed
        outputs, seconds = [], 0.0
        for portrait in portraits:
            started = time.perf_counter()
            outputs.append(stylize_rgb(network, portrait.rgb, settings=settings))
            seconds += time.perf_counter() - started
    return outputs, 1000 * seconds / max(1, len(portraits))


Targets = dict[str, torch.Tensor]


@torch.no_grad()
def _device_of(module: torch.nn.Module) -> torch.device:
    """Where ``module`` (a loss network, an objective) runs: images it measures are moved there."""
    return next(module.parameters()).device


def score_targets(vgg: VGGFeatures, references: Sequence[torch.Tensor]) -> Targets:
    """The style score's target: per layer of :data:`STYLE_SCORE_LAYERS`, the (C, C) Gram matrix
    (normalised by C*H*W) of the references, their mean where there are several."""
    grams: dict[str, list[torch.Tensor]] = {layer: [] for layer in STYLE_SCORE_LAYERS}
    for reference in references:
        features = vgg(reference.to(_device_of(vgg)))
        for layer in STYLE_SCORE_LAYERS:
            grams[layer].append(gram_matrix(features[layer])[0])
    return {layer: torch.stack(found).mean(0) for layer, found in grams.items()}


def gram_distances(measures: ImageMeasures, targets: Targets) -> dict[str, float]:
    """Of one measured image, the style score's Gram distance to ``targets`` per layer."""
    return {layer: float(d[0]) for layer, d in per_layer_gram_distances(measures.grams, targets).items()}


def _check_score_layers(objective: PerceptualObjective) -> None:
    missing = [layer for layer in STYLE_SCORE_LAYERS if layer not in objective.style_layers]
    if missing:
        raise ValueError(f"the style score needs the objective to measure {', '.join(missing)} too")


class HeldOut:
    """The unstylized portraits and what eval measures of them, measured once for every style scored.

    The VGG measures (Gram matrices and content features) depend on the loss network and layers only,
    not on the style; the style score's Gram distances on those and the style's references (kept per
    set of reference files); the faces found (the Haar eyes, the judge's faces) and the Lab histograms
    on the pixels alone.
    """

    def __init__(self, portraits: Sequence[Portrait]) -> None:
        self.portraits = list(portraits)
        self._measures: list[ImageMeasures] = []
        self._measured_with: tuple[int, tuple[str, ...], str] | None = None
        self._distances: dict[tuple[str, ...], list[dict[str, float]]] = {}
        self._faces: list[FaceFinding] = []
        self._judged: list[InputFace] = []
        self._histograms: list[np.ndarray] = []

    def measures(self, objective: PerceptualObjective) -> list[ImageMeasures]:
        key = (id(objective.vgg), objective.style_layers, objective.content_layer)
        if key != self._measured_with:
            device = _device_of(objective.vgg)
            self._measures = [objective.measures(to_tensor(portrait.rgb).to(device)) for portrait in self.portraits]
            self._measured_with = key
            self._distances = {}
        return self._measures

    def gram_distances(
        self, objective: PerceptualObjective, references: Sequence[Path], targets: Targets
    ) -> list[dict[str, float]]:
        """Each unstylized portrait's style-score Gram distance per layer to ``targets``, the Grams of
        ``references`` (the files name the cache entry)."""
        measures = self.measures(objective)
        key = tuple(os.fspath(path) for path in references)
        if key not in self._distances:
            self._distances[key] = [gram_distances(measured, targets) for measured in measures]
        return self._distances[key]

    def faces(self) -> list[FaceFinding]:
        if not self._faces:
            self._faces = [find_face(portrait.rgb) for portrait in self.portraits]
        return self._faces

    def judged(self) -> list[InputFace]:
        """What the face judge finds in each unstylized portrait (its box, descriptor and lightness)."""
        if not self._judged:
            self._judged = [judge_input(portrait.rgb) for portrait in self.portraits]
        return self._judged

    def histograms(self) -> list[np.ndarray]:
        if not self._histograms:
            self._histograms = [lab_histogram(portrait.rgb) for portrait in self.portraits]
        return self._histograms


def _training_summary(model: StyleModel) -> dict[str, Any]:
    """The training settings, steps and time a model.json records; for a zero-training style (kind
    "reference", no training) its kind and the seconds it took to make."""
    training = model.metadata.get("training")
    training = training if isinstance(training, dict) else {}
    keys = (
        "arch",
        "size",
        "batch",
        "minutes",
        "style_weight",
        "content_weight",
        "tv_weight",
        "feature_weight",
        "style_scale",
        "style_layers",
        "content_layer",
        "content",
        "warm_start",
    )
    summary = {key: training.get(key) for key in keys if key in training}
    summary.update({key: model.metadata[key] for key in ("steps", "wall_seconds") if key in model.metadata})
    if model.metadata.get("kind") == "reference":
        summary.update(kind="reference", make_seconds=model.metadata.get("make_seconds"))
    return summary


def _measure_output(
    objective: PerceptualObjective, targets: Targets, rgb: np.ndarray, original: ImageMeasures
) -> dict[str, Any]:
    """From one VGG pass of an output: its old summed Gram distance (``style_out``, references at
    512 px), its content distance to ``original`` and its style-score Gram distance per layer."""
    out = objective.measures(to_tensor(rgb).to(_device_of(objective.vgg)))
    content = ((out.content - original.content) ** 2).mean(dim=(1, 2, 3))
    return {
        "style_out": float(objective.style_distance(out)[0]),
        "content": float(content[0]),
        "gram_out": gram_distances(out, targets),
    }


def _portrait_score(gram_out: dict[str, float], gram_in: dict[str, float]) -> float:
    """One portrait's own style score: the mean over the layers of its output's distance over its input's."""
    return style_score_from_distances(
        {layer: [d] for layer, d in gram_out.items()}, {layer: [d] for layer, d in gram_in.items()}
    )[0]


def _score_ceiling(
    score: StyleScore,
    model: StyleModel,
    portraits: Sequence[Portrait],
    outputs: Sequence[np.ndarray],
    rows: Sequence[dict[str, Any]],
    measure: PerceptualObjective,
    measured_inputs: Sequence[ImageMeasures],
    targets: Targets,
    *,
    faces: int,
    steps: int,
    vgg: VGGFeatures | None,
    log: Log | None,
) -> None:
    """Run the optimisation ceiling on the first ``faces`` portraits and fill in ``score``'s ceiling figures."""
    chosen = list(range(min(faces, len(portraits))))
    if not chosen:
        return
    device = _device_of(measure.vgg)
    objective, weights = training_objective(model, device, vgg=vgg)
    ceiling_rows, seconds, iterations = [], 0.0, 0
    for number, index in enumerate(chosen, 1):
        portrait = portraits[index]
        result = gatys_optimise(
            portrait.rgb,
            objective,
            steps=steps,
            style_weight=weights.style,
            content_weight=weights.content,
            tv_weight=weights.tv,
            seed=index,
            device=device,
        )
        measured = _measure_output(measure, targets, result.rgb, measured_inputs[index])
        weighting = dict(style_weight=weights.style, content_weight=weights.content, tv_weight=weights.tv)
        network_loss = training_loss(outputs[index], portrait.rgb, objective, **weighting, device=device)
        ceiling_loss = training_loss(
            result.rgb, portrait.rgb, objective, **weighting, device=device
        )  # as saved: 8-bit, like the network's
        seconds += result.seconds
        iterations += result.iterations
        ceiling_rows.append(
            {
                "name": portrait.name,
                "style_out": measured["style_out"],
                "style_score": _portrait_score(measured["gram_out"], rows[index]["gram_in"]),
                "content": measured["content"],
                "edge_ssim": edge_ssim(result.rgb, portrait.rgb),
                "iterations": result.iterations,
                "evaluations": result.evaluations,
                "seconds": round(result.seconds, 3),
                "loss_start": result.start,
                "loss_final": ceiling_loss,
                "network_loss": network_loss,
            }
        )
        if log:
            log(
                f"ceiling {score.style} {number}/{len(chosen)} {portrait.name}: {result.iterations} L-BFGS iterations "
                f"in {result.seconds:.1f} s, loss {result.start['total']:.3g} -> {result.final['total']:.3g}"
            )
    net_style = mean([rows[i]["style_out"] for i in chosen])
    net_content = mean([rows[i]["content"] for i in chosen])
    score.ceiling_portraits = len(chosen)
    score.ceiling_steps = steps
    score.ceiling_style_distance = mean([r["style_out"] for r in ceiling_rows])
    score.ceiling_content_distance = mean([r["content"] for r in ceiling_rows])
    score.network_style_distance_on_ceiling = net_style
    score.network_content_distance_on_ceiling = net_content
    score.style_vs_ceiling = ratio(net_style, score.ceiling_style_distance)
    score.content_vs_ceiling = ratio(net_content, score.ceiling_content_distance)
    score.ceiling_ms_per_iteration = 1000 * seconds / max(1, iterations)
    score.ceiling_training_loss = mean([r["loss_final"]["total"] for r in ceiling_rows])
    score.network_training_loss_on_ceiling = mean([r["network_loss"]["total"] for r in ceiling_rows])
    score.ceiling_per_portrait = ceiling_rows
    if score.network_training_loss_on_ceiling < score.ceiling_training_loss:
        score.notes.append(
            f"the ceiling's {steps} L-BFGS iterations left a higher training loss "
            f"({score.ceiling_training_loss:.3g}) than the network's outputs ({score.network_training_loss_on_ceiling:.3g}), "
            "so it is not yet a ceiling: raise ceiling_steps=N"
        )


def score_style(
    model: StyleModel,
    portraits: Sequence[Portrait] | HeldOut,
    *,
    references: Sequence[Path] | None = None,
    objective: PerceptualObjective | None = None,
    ceiling_faces: int = 0,
    ceiling_steps: int = CEILING_STEPS_DEFAULT,
    vgg: VGGFeatures | None = None,
    log: Log | None = None,
    settings: ApplySettings | None = None,
) -> StyleScore:
    """Score one loaded style on in-memory portraits (evaluated one at a time, at full size, applied
    with ``settings``: the defaults unless given).

    ``vgg`` (relu1_1..relu5_1 and relu4_2) is the loss network to measure with, shared between
    styles; a :class:`HeldOut` for ``portraits`` shares what is measured of the unstylized portraits
    too. ``ceiling_faces`` > 0 also runs the optimisation ceiling on that many portraits.
    """
    _check_ceiling(ceiling_faces, ceiling_steps)
    held_out = portraits if isinstance(portraits, HeldOut) else HeldOut(portraits)
    portraits = held_out.portraits
    refs = measured_references(model, references)
    reference_images = [load_reference(p) for p in refs]  # 512 px on the long side: the old ratio, colours
    objective = objective or PerceptualObjective(reference_images, style_layers=STYLE_LAYERS_DEFAULT, vgg=vgg)
    _check_score_layers(objective)
    targets = score_targets(objective.vgg, score_references(refs))  # 256 px on the long side
    reference_hist = lab_histogram([to_uint8(image) for image in reference_images])
    outputs, ms = _run_network(model, portraits, settings)
    judgement = judge_faces([p.rgb for p in portraits], outputs, found=held_out.judged())
    rows = []
    inputs = zip(
        held_out.measures(objective),
        held_out.gram_distances(objective, refs, targets),
        held_out.faces(),
        held_out.histograms(),
    )
    for index, (portrait, output, (measures_in, gram_in, found_in, histogram_in)) in enumerate(
        zip(portraits, outputs, inputs)
    ):
        measured = _measure_output(objective, targets, output, measures_in)
        found_out = find_face(output)
        rows.append(
            {
                "name": portrait.name,
                "style_score": _portrait_score(measured["gram_out"], gram_in),
                "style_out": measured["style_out"],
                "style_in": float(objective.style_distance(measures_in)[0]),
                "content": measured["content"],
                "gram_out": measured["gram_out"],
                "gram_in": dict(gram_in),
                "edge_ssim": edge_ssim(output, portrait.rgb),
                "judge_distance": judgement.distances[index],  # None: the judge found no face in the input
                "judge_nearest": judgement.nearest[index],
                "judge_detected": judgement.detected[index],
                "lightness_in": judgement.lightness_before[index],
                "lightness_out": judgement.lightness_after[index],
                "eyes_in": float(found_in.eyes),
                "eyes_out": float(found_out.eyes),
                "colour_out": histogram_distance(lab_histogram(output), reference_hist),
                "colour_in": histogram_distance(histogram_in, reference_hist),
            }
        )
    style_in = mean([r["style_in"] for r in rows])
    style_out = mean([r["style_out"] for r in rows])
    style_score, ratios_by_layer = style_score_from_distances(
        {layer: [r["gram_out"][layer] for r in rows] for layer in STYLE_SCORE_LAYERS},
        {layer: [r["gram_in"][layer] for r in rows] for layer in STYLE_SCORE_LAYERS},
    )
    score = StyleScore(
        style=model.name,
        portraits=len(rows),
        style_loss_input=style_in,
        style_loss_output=style_out,
        style_ratio=ratio(style_out, style_in),
        content_distance=mean([r["content"] for r in rows]),
        faces_judged=judgement.judged,
        same_person=judgement.same_person,
        rank1=judgement.rank1,
        faces_detected=judgement.faces_detected,
        value_order=judgement.value_order,
        value_spread=judgement.value_spread,
        ms_per_portrait=ms,
        style_score=style_score,
        style_score_layers=ratios_by_layer,
        per_portrait=rows,
        edge_ssim=mean([r["edge_ssim"] for r in rows]),
        eyes_in_input=int(sum(r["eyes_in"] for r in rows)),
        eyes_kept=int(sum(1 for r in rows if r["eyes_in"] and r["eyes_out"])),
        colour_distance_output=mean([r["colour_out"] for r in rows]),
        colour_distance_input=mean([r["colour_in"] for r in rows]),
        training=_training_summary(model),
        loss_history=list(model.metadata.get("loss_history", [])),
    )
    if log:
        log(
            f"eval {model.name}: {len(rows)} portraits, style score {score.style_score:.3f}, same person "
            f"{score.same_person}/{score.faces_judged}, value spread {score.value_spread:.2f} "
            f"({OLD_RATIO_LABEL} {score.style_ratio:.3f}), {ms:.1f} ms a portrait"
        )
    if ceiling_faces:
        _score_ceiling(
            score,
            model,
            portraits,
            outputs,
            rows,
            objective,
            held_out.measures(objective),
            targets,
            faces=ceiling_faces,
            steps=ceiling_steps,
            vgg=vgg,
            log=log,
        )
    return score


def _compose_seeds(sources: Sequence[str]) -> set[tuple[int, bool]]:
    seeds: set[tuple[int, bool]] = set()
    for source in sources:
        if isinstance(source, str) and source.startswith(COMPOSE_PREFIX):
            numbers, armoured = parse_compose_spec(source)
            seeds.update((seed, armoured) for seed in numbers)
    return seeds


def training_overlap(model: StyleModel, content: Sequence[str]) -> int:
    """How many ``compose:`` faces of ``content`` the style's training content also named."""
    trained_on = model.metadata.get("training", {}).get("content", [])
    evaluated = _compose_seeds([os.fspath(s) for s in content])
    if not evaluated or not trained_on:
        return 0
    return len(evaluated & _compose_seeds([str(s) for s in trained_on]))


def evaluate(
    styles: Sequence[str],
    content: Sequence[str] = (HELD_OUT_DEFAULT,),
    *,
    styles_dir: str | os.PathLike[str] | None = None,
    parts: str | os.PathLike[str] | None = None,
    config: PipelineConfig | None = None,
    ceiling_faces: int = 0,
    ceiling_steps: int = CEILING_STEPS_DEFAULT,
    report: str | os.PathLike[str] | None = None,
    log: Log | None = None,
    device: str = "cpu",
) -> list[StyleScore]:
    """Score each named style on the same held-out content (default: 16 faces no training uses).

    ``ceiling_faces`` portraits (default 0: none; :data:`CEILING_FACES_DEFAULT` is the usual number) are
    also optimised with L-BFGS for ``ceiling_steps`` iterations per style as the ceiling. It costs
    about ``ceiling_steps`` x 0.5 s a portrait on an idle 2-core CPU: minutes a style, where the rest
    of an evaluation takes well under one. ``report`` names a folder for report.md, eval.json and the
    plots (:func:`stylize.evaluation.report.write_report`). ``log`` receives progress lines.
    ``device`` is where the loss network measures (and the ceiling optimises); the styles run on the
    CPU, where ms a portrait is timed (the game's budget is one core's).
    """
    _check_ceiling(ceiling_faces, ceiling_steps)
    config = config or default_config()
    sources = [os.fspath(source) for source in content]
    check_sources(sources)
    models = [load_style(name, styles_dir, config) for name in styles]  # a wrong name fails before any work
    held_out = HeldOut(iter_content(sources, parts=parts, config=config))
    portraits = held_out.portraits
    if not portraits:
        raise StylizeError(f"no portraits in {', '.join(sources)}; give compose:SEEDS or a folder of images")
    vgg = load_vgg(MEASURE_LAYERS).to(resolve_device(device))
    scores = []
    for model in models:
        score = score_style(model, held_out, ceiling_faces=ceiling_faces, ceiling_steps=ceiling_steps, vgg=vgg, log=log)
        seen = training_overlap(model, sources)
        if seen:
            score.notes.append(
                f"{seen} of the {len(portraits)} portraits are faces {model.name} was trained on "
                "(same compose seeds); give held-out content such as compose:100000-100015"
            )
        scores.append(score)
    if report is not None:
        from stylize.evaluation.report import write_report

        write_report(scores, report, content=sources)
    return scores
