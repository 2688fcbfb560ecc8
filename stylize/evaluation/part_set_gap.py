"""How far a pre-stylized part set (:mod:`stylize.shipping.part_sets`) is from stylizing whole faces.

:func:`measure_part_set_gap`: for each seed, the face composited from the stylized tree against
``stylize apply`` of the face composited from the original tree: Gram style loss and content loss of
both, their pixel difference (over the face and at the edges of the eyes, nose and mouth), and both
routes judged by the independent face judge (:mod:`stylize.evaluation.judge`). ``stylize export-parts
--measure N`` writes its figures (``gap.json``) and a grid (``gap_grid.png``) into the tree's folder.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from stylize.config import PipelineConfig, default_config
from stylize.content.composite import FACE_HEIGHT, FACE_WIDTH, FEATURE_CATEGORIES, FaceGenerator
from stylize.content.picking import pick_face_parts
from stylize.content.seeds import parse_seeds
from stylize.content.tree import Part
from stylize.errors import StylizeError
from stylize.files import write_json
from stylize.imageio import write_png
from stylize.inference.image import ApplySettings
from stylize.inference.styles import load_style
from stylize.nets.device import resolve_device
from stylize.shipping.part_sets import network_stylizer, read_manifest

MEASURE_SEEDS_DEFAULT = "0-199"
GAP_JSON = "gap.json"
GAP_GRID = "gap_grid.png"


def _seam_mask(generator: FaceGenerator, layers: Sequence[tuple[Part, int, int]]) -> np.ndarray:
    """Canvas pixels at the edges of the eyes, nose and mouth: where their visible alpha changes by a
    quarter or more within 2 px."""
    mask = np.zeros((FACE_HEIGHT, FACE_WIDTH), bool)
    for (part, _, _), shown in zip(layers, generator.visible_alpha(list(layers))):
        if part.category not in FEATURE_CATEGORIES:
            continue
        tensor = torch.from_numpy(shown)[None, None]
        high = torch.nn.functional.max_pool2d(tensor, 5, stride=1, padding=2)
        low = -torch.nn.functional.max_pool2d(-tensor, 5, stride=1, padding=2)
        mask |= ((high - low)[0, 0] >= 0.25).numpy()
    return mask


def _zoom(image: np.ndarray) -> np.ndarray:
    """The eyes, nose and mouth area, enlarged 1.5x (for looking at seams)."""
    from PIL import Image

    crop = Image.fromarray(np.ascontiguousarray(image[38:228, 82:213]))
    return np.asarray(crop.resize((round(crop.width * 1.5), round(crop.height * 1.5)), Image.Resampling.LANCZOS))


def measure_part_set_gap(
    style: str,
    stylized_tree: str | os.PathLike[str],
    original_tree: str | os.PathLike[str] | None = None,
    seeds: str | int | list[int] = MEASURE_SEEDS_DEFAULT,
    *,
    settings: ApplySettings | None = None,
    grid: str | os.PathLike[str] | None = None,
    grid_faces: int = 8,
    styles_dir: str | os.PathLike[str] | None = None,
    config: PipelineConfig | None = None,
    device: str = "auto",
    progress: bool = True,
) -> dict[str, Any]:
    """How far faces composited from a stylized part tree are from stylizing whole faces.

    For each seed: the face from ``original_tree`` (default: the source recorded in the stylized
    tree's ``export_parts.json``, else ``[parts] root``) stylized with ``style`` (the ``stylize
    apply`` route), and the same seed composited from ``stylized_tree`` (the part-set route).
    Returns the means over the faces of the Gram style loss of both routes and of the unstylized
    faces (VGG19 relu1_1..relu5_1 against the style's references, as ``stylize eval`` measures),
    their content loss (relu4_2 mean squared difference to the unstylized face), the content
    distance between the two routes, and the mean absolute pixel difference between them (0..255)
    over the whole face and at the edges of the eyes, nose and mouth. ``settings`` default to
    those recorded in the export. ``grid`` names a PNG to write: per face (the first
    ``grid_faces``), the original, both routes, their difference x4 and both routes' features
    enlarged.
    """
    from stylize.evaluation.grid import contact_sheet
    from stylize.inference.model_file import measured_references
    from stylize.nets.vgg import CONTENT_LAYER_DEFAULT, MEASURE_LAYERS, STYLE_LAYERS_DEFAULT
    from stylize.training.data import load_reference
    from stylize.training.losses import per_image_style_loss
    from stylize.training.perceptual import PerceptualObjective
    from stylize.training.vgg_weights import load_vgg

    started = time.perf_counter()
    config = config or default_config()
    stylized_root = Path(stylized_tree)
    manifest = read_manifest(stylized_root) or {}
    if original_tree is None:
        original_tree = manifest.get("source") or config.parts.root
    if settings is None:
        recorded = manifest.get("settings") or {}
        settings = ApplySettings.from_record(recorded) if recorded else ApplySettings()
    seed_list = parse_seeds(seeds)
    original = FaceGenerator.load(original_tree, unreadable=config.parts.unreadable)
    stylized = FaceGenerator.load(stylized_root, unreadable=config.parts.unreadable)
    model = load_style(style, styles_dir, config)
    if manifest.get("model_sha256") not in (None, model.weights_sha256):
        raise StylizeError(
            f"{stylized_root}: was exported with another model than {style!r} (weights differ); "
            "measure it with the style it was made with"
        )
    references = measured_references(model)
    torch_device = resolve_device(device)
    stylizer = network_stylizer(model, torch_device, settings)
    vgg = load_vgg(MEASURE_LAYERS).to(torch_device)
    objective = PerceptualObjective(
        [load_reference(path).to(torch_device) for path in references], style_layers=STYLE_LAYERS_DEFAULT, vgg=vgg
    )
    targets = {layer: objective.target(layer) for layer in STYLE_LAYERS_DEFAULT}
    rows: list[dict[str, Any]] = []
    tiles: list[np.ndarray] = []
    labels: list[str] = []
    routes: dict[str, list[np.ndarray]] = {"input": [], "apply": [], "part_set": []}
    for seed in tqdm(seed_list, desc=f"gap {model.name}", unit="face", disable=None if progress else True):
        picked_original = pick_face_parts(original.tree, seed)
        picked_stylized = pick_face_parts(stylized.tree, seed)
        names = {c: p.relpath for c, p in picked_original.parts.items()}
        if names != {c: p.relpath for c, p in picked_stylized.parts.items()}:
            raise StylizeError(
                f"{stylized_root}: seed {seed} picks other parts than in {original_tree}; the trees "
                "differ in layout, so export the part set again from this tree"
            )
        face = original.build_face_image(picked_original)
        apply_route = np.clip(np.rint(stylizer(face[None])[0]), 0, 255).astype(np.uint8)  # as stylize apply writes it
        part_route = stylized.build_face_image(picked_stylized)
        with torch.no_grad():
            batch = torch.from_numpy(np.stack([face, apply_route, part_route])).to(torch_device)
            features = vgg(batch.permute(0, 3, 1, 2).float().div(255.0))
            style_loss = per_image_style_loss(features, targets).cpu().numpy()
            content = features[CONTENT_LAYER_DEFAULT]
            content_loss = ((content[1:] - content[:1]) ** 2).mean(dim=(1, 2, 3)).cpu().numpy()
            between = float(((content[1] - content[2]) ** 2).mean())
        for route, image in zip(routes, (face, apply_route, part_route)):
            routes[route].append(image)
        difference = np.abs(apply_route.astype(np.int16) - part_route.astype(np.int16))
        seams = _seam_mask(original, original.layers(picked_original, False))
        rows.append(
            {
                "seed": seed,
                "style_input": float(style_loss[0]),
                "style_apply": float(style_loss[1]),
                "style_part_set": float(style_loss[2]),
                "content_apply": float(content_loss[0]),
                "content_part_set": float(content_loss[1]),
                "content_between": between,
                "mean_abs_diff": float(difference.mean()),
                "mean_abs_diff_seams": float(difference[seams].mean()) if seams.any() else float("nan"),
            }
        )
        if grid is not None and len(rows) <= grid_faces:
            heat = np.clip(difference.astype(np.int32) * 4, 0, 255).astype(np.uint8)
            tiles += [face, apply_route, part_route, heat, _zoom(apply_route), _zoom(part_route)]
            labels += [
                f"seed {seed}",
                "apply (whole face)",
                "part set",
                "|difference| x4",
                "apply: features",
                "part set: features",
            ]

    def mean(key: str) -> float:
        values = [row[key] for row in rows if not math.isnan(row[key])]
        return float(np.mean(values)) if values else float("nan")

    result = {
        "style": model.name,
        "model_sha256": model.weights_sha256,
        "faces": len(rows),
        "seeds": f"{seed_list[0]}-{seed_list[-1]}"
        if seed_list == list(range(seed_list[0], seed_list[-1] + 1))
        else seed_list,
        "stylized_tree": os.fspath(stylized_root),
        "original_tree": os.fspath(original_tree),
        "contexts": manifest.get("contexts"),
        "settings": settings.record(),
        "style_loss": {"input": mean("style_input"), "apply": mean("style_apply"), "part_set": mean("style_part_set")},
        "content_loss": {"apply": mean("content_apply"), "part_set": mean("content_part_set")},
        "content_between_routes": mean("content_between"),
        "mean_abs_diff": mean("mean_abs_diff"),
        "mean_abs_diff_seams": mean("mean_abs_diff_seams"),
        "judge": _judge_routes(routes),
        "seconds": round(time.perf_counter() - started, 1),
        "per_face": rows,
    }
    if grid is not None and tiles:
        write_png(grid, contact_sheet(tiles, columns=6, labels=labels))
        result["grid"] = os.fspath(grid)
    return result


def _judge_routes(routes: dict[str, list[np.ndarray]]) -> dict[str, dict[str, Any]]:
    """Both routes judged against the unstylized faces by the independent face judge
    (:mod:`stylize.evaluation.judge`: dlib's detector and face-recognition network, nothing a style
    steers by): value spread and order across the faces, same person and rank-1."""
    from stylize.evaluation.judge import judge_faces, judge_input

    found = [judge_input(face) for face in routes["input"]]
    judged = {}
    for route in ("apply", "part_set"):
        judgement = judge_faces(routes["input"], routes[route], found=found)
        judged[route] = {
            "judged": judgement.judged,
            "same_person": judgement.same_person,
            "rank1": judgement.rank1,
            "value_spread": judgement.value_spread,
            "value_order": judgement.value_order,
        }
    return judged


def format_gap(gap: dict[str, Any]) -> str:
    """The gap figures in three lines."""
    style, content = gap["style_loss"], gap["content_loss"]
    return (
        f"gap over {gap['faces']} faces ({gap['style']}, contexts {gap.get('contexts')}):\n"
        f"  Gram style loss: input {style['input']:.4g}, apply {style['apply']:.4g}, part set {style['part_set']:.4g}"
        f"\n  content loss: apply {content['apply']:.4g}, part set {content['part_set']:.4g}; between routes "
        f"{gap['content_between_routes']:.4g}\n  mean |pixel difference| (0..255): {gap['mean_abs_diff']:.2f} "
        f"(eyes, nose, mouth edges {gap['mean_abs_diff_seams']:.2f})"
        + "".join(
            f"\n  {route.replace('_', ' ')}: value spread {j['value_spread']:.2f}, value order {j['value_order']:.2f}, "
            f"same person {j['same_person']} of {j['judged']}, rank-1 {j['rank1']}"
            for route, j in gap.get("judge", {}).items()
        )
    )


def write_gap(gap: dict[str, Any], path: str | os.PathLike[str]) -> None:
    write_json(path, gap, nan_as_null=True)


__all__ = ["GAP_GRID", "GAP_JSON", "format_gap", "measure_part_set_gap", "write_gap"]
