"""Distillation: a small, fast student network that reproduces a trained style network.

``distill(style)`` trains a student (by default the ``nano`` architecture, built for the game's
runtime) on composited faces to give the teacher's output: an L1 term in pixels against the
teacher's output on the same batch, plus, optionally, the teacher's own perceptual objective (Gram
style loss to the style's references and VGG19 content loss) so the student is pulled toward the
style where it cannot copy the teacher exactly. The student is written as an ordinary style
(``styles/NAME-ARCH/`` by default, with the teacher's references copied), so ``apply``, ``eval``,
``preview`` and ``export`` take it like any other. Training uses the same loop as ``stylize
train``: a wall-clock or step budget, atomic checkpoints, Ctrl-C keeps the last checkpoint, and
``resume=True`` continues to the same weights as an uninterrupted run.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from stylize.config import PipelineConfig, default_config
from stylize.errors import StylizeError
from stylize.inference.model_file import reference_files
from stylize.inference.styles import load_style
from stylize.nets.device import check_precision, resolve_device
from stylize.nets.transformer import build_network
from stylize.style_folder import StyleFolder, check_style_name
from stylize.training.data import build_content_pool
from stylize.training.distributed import data_parallel, held_by_leader, leader_first
from stylize.training.loop import (
    TrainResult,
    fit_and_save,
    interrupted_message,
    prepare_output,
)
from stylize.training.perceptual import LossWeights, trained_objective
from stylize.training.settings import DistillSettings
from stylize.training.teacher import teacher_grams

__all__ = ["DistillSettings", "distill"]


@data_parallel
def distill(
    style: str,
    *,
    name: str | None = None,
    settings: DistillSettings | None = None,
    styles_dir: str | os.PathLike[str] | None = None,
    parts: str | os.PathLike[str] | None = None,
    config: PipelineConfig | None = None,
    device: str = "auto",
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
) -> TrainResult:
    """Distill style ``style`` into a student of ``settings.arch`` written as style ``name``
    (default ``STYLE-ARCH``) in the same styles folder. ``nproc=N`` trains on N local ranks, as
    :func:`stylize.training.style.train` does."""
    from stylize.content.compose import open_part_tree

    started = time.monotonic()
    config = config or default_config()
    settings = settings or DistillSettings.from_config(config)
    settings.validate()
    root = Path(styles_dir) if styles_dir is not None else config.styles.dir
    teacher = load_style(style, root)
    teacher_arch = str(teacher.metadata["architecture"]["name"])
    name = check_style_name(name or f"{Path(style).name}-{settings.arch}")
    if name == style:
        raise StylizeError(
            f"the student needs its own name, not the teacher's ({style!r}); pass another name=NAME", params=("name",)
        )
    directory = root / name
    with held_by_leader(StyleFolder(directory)):  # one writer at a time; the folder whole or as before
        leader_first(lambda: prepare_output(directory, resume, overwrite))
        torch_device = resolve_device(device)
        check_precision(settings.precision, torch_device)  # before the data, references and loss network
        teacher_network = teacher.network.to(torch_device).eval()
        for parameter in teacher_network.parameters():
            parameter.requires_grad_(False)

        training: dict[str, Any] = teacher.metadata.get("training", {})
        ref_paths = reference_files(teacher)
        # The teacher's own objective and weights; references are read (and style targets made) on the CPU,
        # like the loss network, then moved to the device. A teacher trained from the zero-training style
        # (method "teacher") had only a Gram term, at the style score's scale: the student gets that term.
        objective = grams = None
        if settings.perceptual_weight > 0 and training.get("method") == "teacher":
            grams = teacher_grams(training, ref_paths).to(torch_device)
        elif settings.perceptual_weight > 0:
            objective = trained_objective(training, ref_paths, device=torch_device)
        weights = LossWeights.from_training(training)

        pool = build_content_pool(settings.content, lambda: open_part_tree(parts, config))
        torch.manual_seed(settings.seed)
        student = build_network(settings.arch).to(torch_device)

        def loss_fn(output: torch.Tensor, batch: torch.Tensor):
            with torch.no_grad():
                target = teacher_network(batch)
            pixel = (output - target).abs().mean()
            total = settings.pixel_weight * pixel
            terms = {"pixel": float(pixel.detach())}
            if grams is not None:
                style = grams(output)
                total = total + settings.perceptual_weight * weights.style * style
                terms["style"] = float(style.detach())
            if objective is not None:
                perceptual = objective.training_terms(output, batch)
                total = total + settings.perceptual_weight * (
                    weights.style * perceptual["style"] + weights.content * perceptual["content"]
                )
                terms.update(
                    {"style": float(perceptual["style"].detach()), "content": float(perceptual["content"].detach())}
                )
            return total, terms

        distilled_from = {"style": style, "arch": teacher_arch, "weights_sha256": teacher.weights_sha256}
        return fit_and_save(
            directory=directory,
            network=student,
            loss_fn=loss_fn,
            pool=pool,
            settings=settings,  # type: ignore[arg-type]
            fingerprint={**settings.fingerprint(), "distilled_from": distilled_from},
            resume=resume,
            device=torch_device,
            progress=progress,
            description=f"distill {style} -> {name}",
            interrupted=interrupted_message(f"distillation of {name}"),
            metadata={
                "name": name,
                "kind": "style",
                "training": {**training, **_settings_record(settings), "objective": "distillation"},
                "distilled_from": distilled_from,
                "content_source": pool.record(settings.content),
                "warm_start_from": None,
            },
            references=ref_paths,
            prepare_seconds=time.monotonic() - started,
        )


def _settings_record(settings: DistillSettings) -> dict[str, Any]:
    record = asdict(settings)
    record["content"] = list(settings.content)
    record.pop("checkpoint_seconds")
    return record
