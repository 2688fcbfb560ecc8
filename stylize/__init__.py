"""stylize: neural style transfer for Pioneer's game portraits.

The importable API; the ``stylize`` command is a thin shell over it. The package is laid out by the
pipeline's stages: ``content`` (the game's part tree and legacy folders) -> ``training`` -> ``inference``
-> ``shipping``, with ``evaluation`` beside them; ``nets`` holds the networks, ``cli`` the command::

    import stylize
    stylize.compose("0-15", "out/faces")                    # PNGs + manifest.jsonl, as the game draws them
    for face in stylize.iter_faces("3,7", parts="../shared/facegen"):
        face.rgb                                            # (285, 295, 3) uint8
    stylize.train("pencil", ["sketch.png"])                 # styles/pencil/ (imports torch on first use)
    stylize.apply(["pencil", "paint"], ["out/faces"], "out/styled", strength=0.8)
    stylize.preview(["pencil", "paint"], ["compose:0-7"], "out/preview")
    stylize.evaluate(["pencil"])                            # style score, same person, value spread, speed
    stylize.distill("pencil")                               # styles/pencil-nano/: a tiny network for the game
    stylize.export_onnx(stylize.load_style("pencil-nano"), "out/pencil-nano.onnx")
    stylize.export_parts("pencil", "out/parts/pencil", parts="../shared/facegen")
    stylize.run_pipeline(stylize.load_config("pipeline.toml"))

Every function takes its settings as arguments (a ``config=`` where it needs the pipeline's); only
``load_config`` reads ``pipeline.toml``, and only when asked.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

__version__ = "0.1.0"

# OpenMP threads that wait for work by sleeping, not spinning (read when torch starts its threads, so
# set before torch is imported; a value the user set is kept). With another job on the other core of a
# 2-core machine, torch's two spinning threads made the 16-face preview take 33-49 s instead of 8 s, and a
# tiny network 10x its time (docs/results/test-suite.md); on an idle machine passive waiting costs little.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("KMP_BLOCKTIME", "0")  # the same for Intel's OpenMP (MKL builds)

from stylize.config import PipelineConfig, default_config, load_config, parse_config  # noqa: E402
from stylize.errors import (  # noqa: E402
    ConfigError,
    ImageReadError,
    PartTreeError,
    SeedError,
    StylizeError,
)

# Each verb lives in the module of its stage, imported on first use (with torch, numpy or Pillow), so
# `stylize --help` and composing stay fast to start. No verb shares its name with a module of this
# package, so importing a submodule never replaces one of these attributes.
_LAZY = {
    "compose": "stylize.content.compose",
    "iter_faces": "stylize.content.compose",
    "open_part_tree": "stylize.content.compose",
    "iter_content": "stylize.content.sources",
    "train": "stylize.training.style",
    "TrainSettings": "stylize.training.settings",
    "train_base": "stylize.training.base",
    "distill": "stylize.training.distill",
    "DistillSettings": "stylize.training.settings",
    "make_style": "stylize.inference.reference_style",
    "load_style": "stylize.inference.styles",
    "load_mix": "stylize.inference.styles",
    "list_styles": "stylize.inference.styles",
    "apply": "stylize.inference.bulk",
    "ApplySettings": "stylize.inference.image",
    "preview": "stylize.evaluation.preview",
    "read_image": "stylize.imageio",
    "write_png": "stylize.imageio",
    "evaluate": "stylize.evaluation.scores",
    "export_onnx": "stylize.shipping.onnx_export",
    "export_parts": "stylize.shipping.part_sets",
    "measure_part_set_gap": "stylize.evaluation.part_set_gap",
    "run_pipeline": "stylize.pipeline",
}

__all__ = [
    "StylizeError",
    "ConfigError",
    "ImageReadError",
    "PartTreeError",
    "SeedError",
    "PipelineConfig",
    "default_config",
    "load_config",
    "parse_config",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'stylize' has no attribute {name!r}")
