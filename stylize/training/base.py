"""The warm-start base network of an architecture: trained to reproduce composited faces (L1 in
pixels), so a style's training spends every step on style, not on learning to draw a face."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import torch

from stylize.bundled import bundled_bases_dir
from stylize.config import PipelineConfig, default_config
from stylize.inference.model_file import METADATA_NAME
from stylize.nets.device import check_precision, resolve_device
from stylize.nets.transformer import build_network
from stylize.style_folder import StyleFolder
from stylize.training.data import build_content_pool
from stylize.training.distributed import data_parallel, held_by_leader, leader_first
from stylize.training.loop import TrainResult, fit_and_save, prepare_output
from stylize.training.settings import TrainSettings

BASE_DIR_NAME = "_base"


def base_model_dir(arch: str, styles_dir: Path) -> Path:
    """Where ``train-base`` writes the base network of ``arch`` for a styles folder."""
    return styles_dir / BASE_DIR_NAME / arch


def find_base_model(arch: str, styles_dir: Path) -> Path | None:
    """The warm-start base for ``arch``: the styles folder's own, else the one shipped with stylize."""
    for folder in (base_model_dir(arch, styles_dir), bundled_bases_dir() / arch):
        if (folder / METADATA_NAME).is_file():
            return folder
    return None


@data_parallel
def train_base(
    arch: str | None = None,
    *,
    minutes: float | None = None,
    steps: int | None = None,
    content: Sequence[str] | None = None,
    styles_dir: str | os.PathLike[str] | None = None,
    parts: str | os.PathLike[str] | None = None,
    config: PipelineConfig | None = None,
    seed: int | None = None,
    size: int | None = None,
    batch: int | None = None,
    learning_rate: float | None = None,
    precision: str | None = None,
    device: str = "auto",
    resume: bool = False,
    progress: bool = True,
) -> TrainResult:
    """Train the warm-start base network of ``arch``: reproduce composited faces (L1 in pixels).

    A setting left ``None`` is ``config``'s (:meth:`TrainSettings.for_base`: ``[base]``, with ``[train]
    content`` and ``[run] seed``); ``steps`` without ``minutes`` is a step budget only. ``nproc=N``
    trains on N local ranks, as :func:`stylize.training.style.train` does.
    """
    from stylize.content.compose import open_part_tree

    started = time.monotonic()
    config = config or default_config()
    settings = TrainSettings.for_base(
        config,
        arch=arch,
        minutes=minutes,
        steps=steps,
        content=content,
        seed=seed,
        size=size,
        batch=batch,
        learning_rate=learning_rate,
        precision=precision,
    )
    settings.validate()
    arch = settings.arch
    directory = base_model_dir(arch, Path(styles_dir) if styles_dir is not None else config.styles.dir)
    # One writer at a time; the folder whole or as before.
    with held_by_leader(StyleFolder(directory, param="arch", value="ARCH")):
        leader_first(lambda: prepare_output(directory, resume, overwrite=True))
        torch_device = resolve_device(device)
        check_precision(settings.precision, torch_device)  # before the data, references and loss network
        pool = build_content_pool(settings.content, lambda: open_part_tree(parts, config))
        torch.manual_seed(settings.seed)
        network = build_network(arch).to(torch_device)

        def loss_fn(output: torch.Tensor, batch_: torch.Tensor):
            l1 = (output - batch_).abs().mean()
            return l1, {"l1": float(l1.detach())}

        return fit_and_save(
            directory=directory,
            network=network,
            loss_fn=loss_fn,
            pool=pool,
            settings=settings,
            fingerprint={**settings.fingerprint(), "objective": "l1-reconstruction", "colour_jitter": True},
            resume=resume,
            device=torch_device,
            progress=progress,
            description=f"base {arch}",
            interrupted="base training interrupted at step {step}; rerun with resume=True to continue",
            metadata={
                "name": f"{BASE_DIR_NAME}/{arch}",
                "kind": "base",
                "training": {
                    **asdict(settings),
                    "objective": "l1-reconstruction",
                    "colour_jitter": True,
                    "content": list(settings.content),
                    "style_layers": list(settings.style_layers),
                },
                "references": [],
                "content_source": {"sources": list(settings.content), "images": len(pool)},
            },
            colour_jitter=True,
            prepare_seconds=time.monotonic() - started,
        )
