"""Training a style network from an artist's references (Johnson et al. 2016 perceptual losses).

``train(name, refs, ...)`` fits a feed-forward network so that its output on composited faces (and
legacy portraits) has the references' Gram statistics while keeping the faces' VGG19 content. The
moves that make this work on a laptop CPU in minutes:

* **warm start**: begin from the project's base network, trained on composited faces to reproduce
  its input, instead of random weights, so every style step is spent on style, not on learning to
  draw a face at all;
* **normalised, balanced terms**: each Gram term relative to its target's energy, content relative
  to the input's feature energy, so the weights mean the same for any reference;
* **a feature term**: on composited faces the compositor knows where the eyes, nose and mouth are, and
  a pixel term keeps their light-and-dark pattern (luminance minus its blur, so colour and overall
  brightness stay free for the style): a face detector, and a viewer, still find the face under a
  strong style;
* **a wall-clock budget** (``minutes``) as well as a step count.

The loop, checkpoints and resume are :mod:`stylize.training.loop`'s; the base network is
:mod:`stylize.training.base`'s.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import torch

from stylize.config import PipelineConfig, default_config
from stylize.content.composite import FEATURE_CATEGORIES
from stylize.errors import StylizeError
from stylize.files import sha256_file
from stylize.inference.model_file import load_model, read_metadata
from stylize.nets.device import check_precision, resolve_device
from stylize.nets.transformer import build_network
from stylize.progress import phase
from stylize.style_folder import StyleFolder, check_style_name, reference_paths
from stylize.training.base import BASE_DIR_NAME, base_model_dir, find_base_model
from stylize.training.data import build_content_pool, load_reference
from stylize.training.distributed import data_parallel, held_by_leader, leader_first
from stylize.training.loop import (
    TrainResult,
    fit_and_save,
    interrupted_message,
    prepare_output,
)
from stylize.training.losses import grow_mask, masked_detail_loss
from stylize.training.perceptual import LossWeights, PerceptualObjective
from stylize.training.settings import TrainSettings
from stylize.training.teacher import TEACHER_ARCH, train_from_teacher

# The feature term: light and dark below this Gaussian blur (pixels of the training crop) is kept on
# the eyes, nose and mouth, and on this many pixels around them (their contrast with the skin).
FEATURE_DETAIL_SIGMA = 4.0


FEATURE_MASK_GROW = 4


@data_parallel
def train(
    name: str,
    refs: Sequence[str | os.PathLike[str]],
    *,
    settings: TrainSettings | None = None,
    styles_dir: str | os.PathLike[str] | None = None,
    parts: str | os.PathLike[str] | None = None,
    config: PipelineConfig | None = None,
    device: str = "auto",
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    keep_checkpoint: bool = False,
) -> TrainResult:
    """Train style ``name`` from reference images (files or folders) into ``styles/NAME/``.

    Raises ``StylizeError`` for bad settings or inputs, and with "interrupted" after Ctrl-C (the
    checkpoint is kept: call again with ``resume=True``).

    ``nproc=N`` trains on N local ranks, each with a batch of ``settings.batch``
    (:mod:`stylize.training.distributed`); under ``torchrun`` the ranks are torchrun's.
    """
    from stylize.content.compose import open_part_tree

    started = time.monotonic()
    config = config or default_config()
    settings = settings or TrainSettings.from_config(config)
    settings.validate()
    check_style_name(name)
    root = Path(styles_dir) if styles_dir is not None else config.styles.dir
    directory = root / name
    with held_by_leader(StyleFolder(directory)):  # one writer at a time; the folder whole or as before
        leader_first(lambda: prepare_output(directory, resume, overwrite))
        torch_device = resolve_device(device)
        check_precision(settings.precision, torch_device)  # before the data, references and loss network

        ref_paths = reference_paths(refs)
        if settings.arch == TEACHER_ARCH:
            return train_from_teacher(
                name=name,
                ref_paths=ref_paths,
                settings=settings,
                directory=directory,
                pool_factory=lambda: build_content_pool(settings.content, lambda: open_part_tree(parts, config)),
                resume=resume,
                device=torch_device,
                progress=progress,
                keep_checkpoint=keep_checkpoint,
                started=started,
            )
        phase("reading the references")
        references = [load_reference(p, style_scale=settings.style_scale) for p in ref_paths]
        pool = build_content_pool(settings.content, lambda: open_part_tree(parts, config))

        torch.manual_seed(settings.seed)
        network = build_network(settings.arch)
        warm_from = None
        if settings.warm_start:
            base_dir = find_base_model(settings.arch, root)
            if base_dir is None:
                raise StylizeError(
                    f"{base_model_dir(settings.arch, root)}: no base network for warm start of arch {settings.arch!r}; "
                    f"train one (train_base, or stylize train-base) with arch={settings.arch}, or pass warm_start=False",
                    params=("arch", "warm_start"),
                )
            warm_from = {
                "path": f"{BASE_DIR_NAME}/{settings.arch}",
                "weights_sha256": read_metadata(base_dir)["weights_sha256"],
            }
            if not resume:  # a resumed run takes its weights from the checkpoint
                network.load_state_dict(load_model(base_dir).network.state_dict())
        network.to(torch_device)
        # Style targets are made on the CPU, where the loss network is built, then moved with it.
        phase("measuring the references' style")
        objective = PerceptualObjective(
            references,
            style_layers=settings.style_layers,
            content_layer=settings.content_layer,
            loss_network=settings.loss_network,
        ).to(torch_device)

        weights = LossWeights(settings.style_weight, settings.content_weight, settings.tv_weight)
        feature_term = {
            "luminance": "rec601",
            "detail_sigma_px": FEATURE_DETAIL_SIGMA,
            "mask_grow_px": FEATURE_MASK_GROW,
            "parts": list(FEATURE_CATEGORIES),
        }

        def loss_fn(output: torch.Tensor, batch: torch.Tensor, features: torch.Tensor | None = None):
            terms = objective.training_terms(output, batch)
            total = weights.total(terms)
            if features is not None:  # composited faces: where their eyes, nose and mouth show
                mask = grow_mask(features, FEATURE_MASK_GROW)
                terms["features"] = masked_detail_loss(output, batch, mask, FEATURE_DETAIL_SIGMA)
                total = total + settings.feature_weight * terms["features"]
            return total, {k: float(v.detach()) for k, v in terms.items()}

        return fit_and_save(
            directory=directory,
            network=network,
            loss_fn=loss_fn,
            pool=pool,
            settings=settings,
            fingerprint={
                **settings.fingerprint(),
                "feature_term": feature_term,
                "references_sha256": [sha256_file(p) for p in ref_paths],
                "warm_start_from": warm_from,
            },
            resume=resume,
            device=torch_device,
            progress=progress,
            description=f"train {name}",
            interrupted=interrupted_message(f"training of {name}"),
            metadata={
                "name": name,
                "kind": "style",
                "training": {
                    **asdict(settings),
                    "style_layers": list(settings.style_layers),
                    "content": list(settings.content),
                    "feature_term": feature_term,
                },
                "content_source": pool.record(settings.content),
                "warm_start_from": warm_from,
            },
            with_features=settings.feature_weight > 0,
            keep_checkpoint=keep_checkpoint,
            references=ref_paths,
            prepare_seconds=time.monotonic() - started,
        )
