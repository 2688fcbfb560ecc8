"""Measuring a style on held-out portraits: style fidelity, content kept, faces kept, speed.

* **style ratio**: the Gram style loss of the stylized portraits to the style's references (VGG19
  relu1_1..relu5_1, Gram normalised by C*H*W, portraits at their own size, references scaled to
  512 px on the long side), divided by the same loss of the unstylized portraits. 1 = no closer to
  the style than the input; lower is better.
* **content distance**: mean squared VGG19 relu4_2 difference to the input.
* **faces kept**: of the portraits where OpenCV's Haar cascade finds a face in the input, the share
  where it still finds one in the output.
* **ms per portrait**: the network alone, on this machine's CPU with the current thread count.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from stylize.config import PipelineConfig, load_config
from stylize.content import Portrait, iter_content
from stylize.faces import has_face
from stylize.model_file import StyleModel
from stylize.nets.vgg import STYLE_LAYERS_DEFAULT
from stylize.perceptual import PerceptualObjective
from stylize.styles import load_style
from stylize.stylize_image import stylize_rgb, to_tensor
from stylize.training_data import load_reference

HELD_OUT_DEFAULT = "compose:100000-100015"


@dataclass
class StyleScore:
    style: str
    portraits: int
    style_loss_input: float
    style_loss_output: float
    style_ratio: float
    content_distance: float
    faces_in_input: int
    faces_kept: int
    ms_per_portrait: float
    per_portrait: list[dict[str, float]] = field(default_factory=list)

    @property
    def faces_kept_share(self) -> float:
        return self.faces_kept / self.faces_in_input if self.faces_in_input else float("nan")


def reference_files(model: StyleModel) -> list[Path]:
    assert model.directory is not None
    return [model.directory / record["file"] for record in model.metadata.get("references", [])]


def score_style(model: StyleModel, portraits: Sequence[Portrait], *, references: Sequence[Path] | None = None,
                objective: PerceptualObjective | None = None) -> StyleScore:
    """Score one loaded style on in-memory portraits (evaluated one at a time, at full size)."""
    refs = list(references) if references is not None else reference_files(model)
    objective = objective or PerceptualObjective([load_reference(p) for p in refs], style_layers=STYLE_LAYERS_DEFAULT)
    network = model.network.eval()
    rows = []
    seconds = 0.0
    for portrait in portraits:
        started = time.perf_counter()
        output = stylize_rgb(network, portrait.rgb)
        seconds += time.perf_counter() - started
        measured = objective.distances(to_tensor(output), to_tensor(portrait.rgb))
        rows.append({
            **{key: float(value[0]) for key, value in measured.items()},
            "face_in": float(has_face(portrait.rgb)),
            "face_out": float(has_face(output)),
        })
    style_in = float(np.mean([r["style_in"] for r in rows]))
    style_out = float(np.mean([r["style_out"] for r in rows]))
    faces_in = int(sum(r["face_in"] for r in rows))
    kept = int(sum(1 for r in rows if r["face_in"] and r["face_out"]))
    return StyleScore(model.name, len(rows), style_in, style_out, style_out / style_in,
                      float(np.mean([r["content"] for r in rows])), faces_in, kept,
                      1000 * seconds / max(1, len(rows)), rows)


def evaluate(styles: Sequence[str], content: Sequence[str] = (HELD_OUT_DEFAULT,), *,
             styles_dir: str | os.PathLike[str] | None = None, parts: str | os.PathLike[str] | None = None,
             config: PipelineConfig | None = None) -> list[StyleScore]:
    """Score each named style on the same held-out content (default: 16 faces no training uses)."""
    config = config or load_config()
    portraits = list(iter_content(list(content), parts=parts, config=config))
    with torch.inference_mode():
        return [score_style(load_style(name, styles_dir, config), portraits) for name in styles]
