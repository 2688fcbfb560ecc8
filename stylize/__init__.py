"""stylize: neural style-transfer post-processing for Pioneer's face portraits.

The importable API; the ``stylize`` command is a thin shell over it::

    from stylize import compose, iter_faces, open_part_tree, read_image, load_config
    compose("0-15", "out/faces")                 # PNGs + manifest.jsonl, as the game draws them
    for face in iter_faces("3,7", parts="../shared/facegen"):
        face.rgb                                  # (285, 295, 3) uint8
    stylize.train("pencil", ["sketch.png"])       # styles/pencil/ (imports torch on first use)
    stylize.apply(["pencil", "paint"], ["out/faces"], "out/styled", strength=0.8)
    stylize.preview(["pencil", "paint"], ["compose:0-7"], "out/preview")
    stylize.evaluate(["pencil"], report="out/eval")  # report.md, eval.json, plots; L-BFGS ceiling on 4 faces
    stylize.export_parts("pencil", "out/parts/pencil", parts="../shared/facegen")  # pre-stylized part tree
    stylize.distill("pencil")                     # styles/pencil-nano/: a tiny network for the game
    stylize.export_onnx(stylize.load_style("pencil-nano"), "out/pencil-nano.onnx")  # checked in ONNX Runtime
"""

__version__ = "0.1.0"

from stylize.errors import ConfigError, ImageReadError, PartTreeError, SeedError, StylizeError  # noqa: E402
from stylize.config import PipelineConfig, default_config, load_config, parse_config  # noqa: E402
from stylize.imageio import LoadedImage, find_images, read_image, write_png  # noqa: E402
from stylize.facegen.rng import GameRandom, lookup3_hashword  # noqa: E402
from stylize.facegen.tree import Part, PartTree, scan_part_tree  # noqa: E402
from stylize.facegen.picking import FaceDescriptor, PickedFace, pick_face_parts  # noqa: E402
from stylize.facegen.composite import FaceGenerator, blit_over  # noqa: E402
from stylize.seeds import parse_seeds  # noqa: E402
from stylize.compose import ComposedFace, ComposeResult, compose, compose_face, iter_faces, open_part_tree  # noqa: E402
from stylize.content import ContentFailures, Portrait, iter_content  # noqa: E402
from stylize.pipeline import run_pipeline  # noqa: E402

__all__ = [
    "StylizeError", "ConfigError", "ImageReadError", "PartTreeError", "SeedError",
    "PipelineConfig", "default_config", "load_config", "parse_config",
    "LoadedImage", "find_images", "read_image", "write_png",
    "GameRandom", "lookup3_hashword", "Part", "PartTree", "scan_part_tree",
    "FaceDescriptor", "PickedFace", "pick_face_parts", "FaceGenerator", "blit_over", "parse_seeds",
    "ComposedFace", "ComposeResult", "compose", "compose_face", "iter_faces", "open_part_tree",
    "ContentFailures", "Portrait", "iter_content", "run_pipeline",
]

# The network side imports torch; load it only when used, so composing stays fast to start.
_LAZY = {
    "train": "stylize.training", "train_base": "stylize.training", "TrainSettings": "stylize.training",
    "apply": "stylize.apply_style", "evaluate": "stylize.evaluation", "preview": "stylize.preview",
    "ApplySettings": "stylize.stylize_image",
    "load_style": "stylize.styles", "list_styles": "stylize.styles",
    "export_parts": "stylize.export_parts", "measure_part_set_gap": "stylize.export_parts",
    "distill": "stylize.distill", "DistillSettings": "stylize.distill", "export_onnx": "stylize.onnx_export",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'stylize' has no attribute {name!r}")


__all__ += list(_LAZY)
