"""The settings of the networks the project trains: a style (``[train]`` in the config), the
warm-start base network of an architecture (``[base]``) and a distilled student (``[distill]``).

Every default is the config schema's (:data:`stylize.config.SCHEMA`), every value is checked with
the schema's kinds before a run starts (:meth:`TrainSettings.validate`), and every setting that
shapes the result is recorded in model.json. Torch-free.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from stylize.config import PARAMETERS, SCHEMA, PipelineConfig, default, default_config, parameter_default
from stylize.errors import SettingError
from stylize.values import MINUTES, Float, Kind, Optional, check_setting

CHECKPOINT_SECONDS = 30.0  # how often a run writes its checkpoint

# The kinds of the fields that are not plain keys of their section.
_LOOP_KINDS: dict[str, Kind] = {
    "minutes": Optional(MINUTES),  # None: no time budget (steps only)
    "steps": PARAMETERS["steps"].kind,
    "seed": SCHEMA["run"]["seed"].kind,
    "content": SCHEMA["train"]["content"].kind,
    "checkpoint_seconds": Float(minimum=0.0),  # 0: a checkpoint after every step
}


def _settings(values: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``values`` with the overrides that are not ``None``; ``steps`` without ``minutes`` is a step budget only."""
    given = {key: value for key, value in overrides.items() if value is not None}
    if "steps" in given and "minutes" not in given:
        given["minutes"] = None
    if "content" in given:
        given["content"] = tuple(given["content"])
    return {**values, **given}


def _section(config_section: Any, section: str) -> dict[str, Any]:
    """The keys of ``[section]`` in force, lists as tuples."""
    return {
        key: tuple(value) if isinstance(value, list) else value
        for key in SCHEMA[section]
        for value in (getattr(config_section, key),)
    }


def _validate(settings: Any, section: str, what: str) -> None:
    """Check each field of ``settings`` with its kind (the ``[section]`` key's, else the loop's); the
    first bad one is named as ``field=value``."""
    for field in fields(settings):
        kind = _LOOP_KINDS.get(field.name) or SCHEMA[section][field.name].kind
        check_setting(field.name, getattr(settings, field.name), kind, what=what)
    if settings.minutes is None and settings.steps is None:
        raise SettingError(
            f"{what}s minutes=None and steps=None: give a budget (minutes=, steps= or both)",
            params=("minutes", "steps"),
        )


@dataclass(frozen=True)
class TrainSettings:
    """Every setting that shapes a trained style (or base network); recorded in model.json."""

    arch: str = default("train", "arch")
    size: int = default("train", "size")  # training crop side, pixels
    batch: int = default("train", "batch")
    minutes: float | None = default("train", "minutes")  # wall-clock budget (all sessions of a resumed run together)
    steps: int | None = parameter_default("steps")  # step budget; the run stops at whichever comes first
    style_weight: float = default("train", "style_weight")
    content_weight: float = default("train", "content_weight")
    tv_weight: float = default("train", "tv_weight")
    feature_weight: float = default("train", "feature_weight")  # keeps the eyes', nose's and mouth's light and dark
    style_scale: float = default("train", "style_scale")  # references are scaled to 512*style_scale px
    learning_rate: float = default("train", "learning_rate")
    seed: int = default("run", "seed")
    warm_start: bool = default("train", "warm_start")
    style_layers: tuple[str, ...] = default("train", "style_layers")
    content_layer: str = default("train", "content_layer")
    loss_network: str = default("train", "loss_network")
    content: tuple[str, ...] = default("train", "content")
    teacher_weight: float = default("train", "teacher_weight")  # magenta: L1 to the guarded teacher on faces
    teacher_portraits: int = default("train", "teacher_portraits")  # magenta: portraits the teacher paints
    precision: str = default("train", "precision")  # fp32, or bf16/fp16 autocast (a GPU's mixed precision)
    checkpoint_seconds: float = CHECKPOINT_SECONDS

    @classmethod
    def from_config(cls, config: PipelineConfig, **overrides: Any) -> TrainSettings:
        """The ``[train]`` (and ``[run] seed``) settings of ``config``; ``None`` overrides are ignored,
        and ``steps`` given without ``minutes`` makes a step budget only."""
        values = {**_section(config.train, "train"), "seed": config.run.seed}
        return cls(**_settings(values, overrides))

    @classmethod
    def for_base(cls, config: PipelineConfig | None = None, **overrides: Any) -> TrainSettings:
        """The settings of a base network: ``[base]`` of ``config``, its content ``[train] content``, its
        seed ``[run] seed``; no style or feature term and a cold start (it learns to reproduce faces).
        Overrides as in :meth:`from_config`."""
        config = config or default_config()
        values = {
            **_section(config.base, "base"),
            "content": tuple(config.train.content),
            "seed": config.run.seed,
            "warm_start": False,
            "style_weight": 0.0,
            "feature_weight": 0.0,
        }
        return cls(**_settings(values, overrides))

    def validate(self) -> None:
        """Refuse a bad value with one line naming the setting, its value and what is allowed."""
        _validate(self, "train", "training setting")

    def fingerprint(self) -> dict[str, Any]:
        from stylize.training.loop import loop_fingerprint

        return loop_fingerprint(self)


@dataclass(frozen=True)
class DistillSettings:
    """Every setting that shapes a distilled student; recorded in its model.json."""

    arch: str = default("distill", "arch")
    size: int = default("distill", "size")  # training crop side, pixels
    batch: int = default("distill", "batch")
    minutes: float | None = default("distill", "minutes")
    steps: int | None = parameter_default("steps")
    pixel_weight: float = default("distill", "pixel_weight")  # L1 to the teacher's output
    perceptual_weight: float = default("distill", "perceptual_weight")  # times the teacher's own objective
    texture_weight: float = default("distill", "texture_weight")  # Gram term against the teacher's output
    texture_start: int = default("distill", "texture_start")  # the step the texture term starts at
    texture_layers: tuple[str, ...] = default("distill", "texture_layers")
    detail_weight: float = default("distill", "detail_weight")  # L1 on the outputs' high-pass
    painted_portraits: int = default("distill", "painted_portraits")  # 0: the teacher paints each batch
    min_steps: int = default("distill", "min_steps")  # a time budget cannot end the run before these
    learning_rate: float = default("distill", "learning_rate")
    seed: int = default("run", "seed")
    content: tuple[str, ...] = default("train", "content")
    precision: str = default("distill", "precision")
    checkpoint_seconds: float = CHECKPOINT_SECONDS

    @classmethod
    def from_config(cls, config: PipelineConfig, **overrides: Any) -> DistillSettings:
        """The ``[distill]`` settings of ``config``, with ``[train] content`` and ``[run] seed``;
        overrides as in :meth:`TrainSettings.from_config`."""
        values = {
            **_section(config.distill, "distill"),
            "content": tuple(config.train.content),
            "seed": config.run.seed,
        }
        return cls(**_settings(values, overrides))

    def validate(self) -> None:
        """Refuse a bad value with one line naming the setting, its value and what is allowed."""
        _validate(self, "distill", "distill setting")
        weights = ("pixel_weight", "perceptual_weight", "texture_weight", "detail_weight")
        if all(getattr(self, key) == 0 for key in weights):
            given = " and ".join(f"{key}={getattr(self, key)!r}" for key in weights)
            raise SettingError(
                f"distill settings {given}: nothing to learn; make one of them > 0",
                params=weights,
            )

    def fingerprint(self) -> dict[str, Any]:
        from stylize.training.loop import loop_fingerprint

        return loop_fingerprint(self)
