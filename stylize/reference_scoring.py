"""The style score's view of a reference, shared by training and evaluation: the VGG19 layers whose Gram
matrices it compares and the size a reference is measured at.

``stylize eval`` scores a style by these statistics (:mod:`stylize.evaluation.scores`), and the ``magenta``
training pulls toward the very same ones (:mod:`stylize.training.teacher`), so both take them from here,
a layer below both (tests/test_imports.py). Torch-free to import (the report reads the layers without a
network); :func:`score_references` loads torch when called.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from stylize.nets.vgg_layers import STYLE_LAYERS_DEFAULT

if TYPE_CHECKING:
    import torch

STYLE_SCORE_LAYERS: tuple[str, ...] = STYLE_LAYERS_DEFAULT  # relu1_1, relu2_1, relu3_1, relu4_1, relu5_1
STYLE_SCORE_REFERENCE_SIDE = 256  # the references' long side for the style score; portraits keep their size


def score_references(paths: Sequence[Path]) -> list[torch.Tensor]:
    """The style score's references: each (1, 3, H, W), scaled to 256 px on its long side (Lanczos, as
    the issue's published figures were measured; a softer filter blurs the strokes and moves the
    relu1_1 and relu2_1 ratios by 0.1), transparency on white paper."""
    import numpy as np
    from PIL import Image

    from stylize.inference.image import to_tensor
    from stylize.style_folder import read_references

    tensors = []
    for rgb in read_references(paths):
        height, width = rgb.shape[:2]
        factor = STYLE_SCORE_REFERENCE_SIDE / max(height, width)
        size = (max(1, round(width * factor)), max(1, round(height * factor)))
        image = Image.fromarray(rgb)
        tensors.append(
            to_tensor(np.asarray(image.resize(size, Image.Resampling.LANCZOS) if size != image.size else image))
        )
    return tensors
