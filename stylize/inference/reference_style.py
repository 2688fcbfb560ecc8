"""Zero-training style folders: make one from references, load one, mix several into one network.

A zero-training style is a folder like a trained one (``model.json`` + ``model.safetensors`` +
``refs/``), so every command finds and accepts it by name. ``model.json`` says ``"kind":
"reference"`` and records the engine (package, version and SHA-256 of the pretrained files), the
face guard and the references; ``model.safetensors`` holds two tensors, ``vectors`` (1 x 100, the
style vector) and ``neutral`` (100, the style vector of game faces that the face guard leans
toward). Loading checks every field it uses and the weights' SHA-256, as for trained styles.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save as save_safetensors_bytes

from stylize.config import PipelineConfig, default_config
from stylize.errors import StylizeError, cut, shown
from stylize.files import parse_json, sha256_bytes, write_json
from stylize.imageio import atomic_write_bytes
from stylize.inference.arbitrary import (
    DEFAULT_GUARD,
    ENGINE,
    PREDICT_FILE,
    PREDICTOR_RUN,
    SHA256,
    TRANSFORM_FILE,
    VECTOR_SIZE,
    Guard,
    ReferenceNet,
    style_vector,
)
from stylize.inference.model_file import (
    FORMAT,
    FORMAT_VERSION,
    METADATA_NAME,
    WEIGHTS_NAME,
    ModelFileError,
    StyleModel,
    attach_values,
    check_weights,
    network_sha256,
    read_weights,
    weights_path,
)
from stylize.inference.tone import calibrate, identify
from stylize.output_folder import replace_folder
from stylize.style_folder import StyleFolder, check_style_name, copy_references, read_references, reference_paths
from stylize.values import WEIGHT, BadValue

KIND = "reference"
NEUTRAL_SEEDS = "100000-100007"  # bundled sample faces whose mean style vector is the neutral one


def engine_record() -> dict[str, str]:
    return {
        "name": "arbitrary",
        "engine": ENGINE,
        "transform_sha256": SHA256[TRANSFORM_FILE],
        "predict_sha256": SHA256[PREDICT_FILE],
    }


NEUTRAL_ASSET = "zero_training/neutral.json"  # under stylize/assets; made by tools/make_neutral.py


def measure_neutral_vector() -> np.ndarray:
    """The mean style vector of eight bundled sample faces: the style of unstylized game faces."""
    from PIL import Image

    from stylize.content.compose import iter_faces
    from stylize.inference.arbitrary import PREDICT_SIDE

    side = (PREDICT_SIDE, PREDICT_SIDE)  # one square view a face
    faces = [np.asarray(Image.fromarray(face.rgb).resize(side, Image.LANCZOS)) for face in iter_faces(NEUTRAL_SEEDS)]
    return style_vector(faces)


@lru_cache(maxsize=1)
def neutral_vector() -> np.ndarray:
    """:func:`measure_neutral_vector` as shipped (measuring it opens the sample tree: half a second),
    checked to belong to this engine run this way (PREDICTOR_RUN); measured afresh if the asset is missing
    or from another engine or way of running it."""
    from stylize.bundled import asset_path

    path = asset_path(NEUTRAL_ASSET)
    try:
        record = parse_json(path.read_text(encoding="utf-8"))
        vector = np.asarray(record["vector"], dtype=np.float32)
        if (
            record.get("engine") == engine_record()
            and record.get("predictor") == PREDICTOR_RUN
            and vector.shape == (VECTOR_SIZE,)
            and np.isfinite(vector).all()
        ):
            return vector
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return measure_neutral_vector()


def _weights_bytes(vectors: torch.Tensor, neutral: torch.Tensor, path: Path) -> bytes:
    state = {"vectors": vectors.float().contiguous(), "neutral": neutral.float().reshape(VECTOR_SIZE).contiguous()}
    check_weights(state, path, "the references gave no usable style vector; try other reference images")
    return save_safetensors_bytes(state, metadata={"format": f"{FORMAT}/{FORMAT_VERSION}"})


def make_style(
    name: str,
    refs: Sequence[str | os.PathLike[str]],
    *,
    styles_dir: str | os.PathLike[str] | None = None,
    config: PipelineConfig | None = None,
    overwrite: bool = False,
    guard: Guard = DEFAULT_GUARD,
) -> Path:
    """Make zero-training style ``name`` from reference images (files or folders) into ``styles/NAME/``.

    Takes about a second; the folder is usable by every command at once. Raises ``StylizeError`` for
    a bad name, unreadable references, an existing style (without ``overwrite``) or a missing engine.
    """
    started = time.perf_counter()
    check_style_name(name)
    config = config or default_config()
    root = Path(styles_dir) if styles_dir is not None else config.styles.dir
    directory = root / name
    with StyleFolder(directory):  # one writer at a time; the folder whole or as before
        if (directory / METADATA_NAME).exists() and not overwrite:
            raise StylizeError(
                f"{directory}: a style is already there; pass overwrite=True to replace it, or choose another name",
                params=("overwrite", "name"),
            )
        if directory.is_dir() and any(directory.iterdir()) and not overwrite:  # the new style replaces the folder
            raise StylizeError(
                f"{directory}: holds files but no style (an interrupted training?); pass overwrite=True to replace "
                "them, or choose another name",
                params=("overwrite", "name"),
            )
        paths = reference_paths(refs)
        images = read_references(paths)
        vector = torch.from_numpy(style_vector(images))[None]
        neutral = torch.from_numpy(neutral_vector())
        weights = _weights_bytes(vector, neutral, directory / WEIGHTS_NAME)
        network = ReferenceNet(vector, [1.0], neutral, guard).eval()
        made = {"weights_sha256": sha256_bytes(weights), "kind": KIND, "architecture": engine_record()}
        identify(network, network_sha256({**made, "guard": guard.record()}))  # as the folder's network
        values = calibrate(network).record()  # its tonal key

        def fill(built: Path) -> None:
            metadata = {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "kind": KIND,
                "name": name,
                "architecture": engine_record(),
                "guard": guard.record(),
                "values": values,
                "references": copy_references(paths, built / "refs"),
                "make_seconds": round(time.perf_counter() - started, 3),
                "weights_file": WEIGHTS_NAME,
                "weights_sha256": sha256_bytes(weights),
                "weights_bytes": len(weights),
            }
            atomic_write_bytes(built / WEIGHTS_NAME, weights)
            write_json(built / METADATA_NAME, metadata)

        replace_folder(directory, fill)
    return directory


def in_memory_style(name: str, refs: Sequence[str | os.PathLike[str]], guard: Guard = DEFAULT_GUARD) -> StyleModel:
    """A zero-training style from references without writing a folder (``stylize preview --refs``)."""
    paths = reference_paths(refs)
    vector = torch.from_numpy(style_vector(read_references(paths)))[None]
    network = ReferenceNet(vector, [1.0], torch.from_numpy(neutral_vector()), guard, names=[name])
    metadata = {"format": FORMAT, "kind": KIND, "name": name, "architecture": engine_record(), "guard": guard.record()}
    metadata["references"] = [{"file": str(p), "source_name": p.name} for p in paths]
    return StyleModel(name, network, metadata, None)


def is_reference_metadata(metadata: dict[str, Any]) -> bool:
    return metadata.get("kind") == KIND


def load_reference_style(folder: Path, metadata: dict[str, Any], name: str) -> StyleModel:
    """Check ``metadata`` (already known to be a stylize model of kind reference) and the weights; build the net."""
    meta_path = folder / METADATA_NAME
    arch = metadata.get("architecture")
    if arch != engine_record():
        raise ModelFileError(
            f"{meta_path}: made with engine {shown(arch)}, this stylize runs {engine_record()}; remake the style "
            "(stylize style, or stylize.make_style)"
        )
    try:
        guard = Guard.from_record(metadata.get("guard"), str(meta_path))
    except StylizeError as err:
        raise ModelFileError(str(err)) from None
    weights_name = metadata.get("weights_file")
    if weights_name != WEIGHTS_NAME:
        raise ModelFileError(
            f"{meta_path}: weights_file must be {WEIGHTS_NAME!r}, not {shown(weights_name)}; remake the style"
        )
    path = weights_path(folder, metadata)
    state = read_weights(path, metadata, "remake")  # float32 and finite (check_weights)
    vectors, neutral = state.get("vectors"), state.get("neutral")
    if (
        set(state) != {"vectors", "neutral"}
        or vectors is None
        or neutral is None
        or tuple(vectors.shape) != (1, VECTOR_SIZE)
        or tuple(neutral.shape) != (VECTOR_SIZE,)
    ):
        raise ModelFileError(
            f"{path}: expected float32 tensors vectors (1, {VECTOR_SIZE}) and neutral ({VECTOR_SIZE},); remake the style"
        )
    network = ReferenceNet(vectors, [1.0], neutral, guard, names=[name])
    network.eval()
    attach_values(network, metadata, meta_path)
    return StyleModel(name, network, metadata, folder)


def parse_mix(spec: str) -> list[tuple[str, float]]:
    """``"pencil:0.7,ink:0.3"`` -> [("pencil", 0.7), ("ink", 0.3)]; a name without weight counts 1.

    Each weight is a number from 0 to 1000000 (:data:`stylize.values.WEIGHT`, checked like every
    number a user gives: ASCII digits, finite)."""
    items: list[tuple[str, float]] = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        name, _, weight_text = part.rpartition(":") if ":" in part else (part, "", "1")
        try:
            weight = WEIGHT.parse(weight_text)
        except BadValue as err:
            raise StylizeError(
                f"mix {shown(spec)}: weight {shown(weight_text)} of {shown(name)} is not allowed; {err}, as in "
                "pencil:0.7,ink_wash:0.3",
                params=("mix",),
            ) from None
        if not name:
            raise StylizeError(
                f"mix {shown(spec)}: a style name is missing before ':{cut(weight_text)}'", params=("mix",)
            )
        items.append((name, weight))
    if len(items) < 2 or len({n for n, _ in items}) != len(items):
        raise StylizeError(
            f"mix {shown(spec)}: name two or more different styles, e.g. pencil:0.7,ink_wash:0.3", params=("mix",)
        )
    if sum(w for _, w in items) <= 0:
        raise StylizeError(
            f"mix {shown(spec)}: the weights are all 0; give at least one a positive weight", params=("mix",)
        )
    return items


def mix_name(items: Sequence[tuple[str, float]]) -> str:
    """The mix's name (its output folder): ``pencil-0.70+ink_wash-0.30``, weights normalised."""
    total = sum(w for _, w in items)
    return "+".join(f"{name}-{weight / total:.2f}" for name, weight in items)


def mix_styles(models: Sequence[StyleModel], weights: Sequence[float], name: str | None = None) -> StyleModel:
    """One network painting the weighted mix of zero-training styles (their vectors, weights normalised).

    Refused for trained styles: their networks share no style code to mix."""
    trained = [m.name for m in models if not isinstance(m.network, ReferenceNet)]
    if trained:
        raise StylizeError(
            f"{trained[0]!r} is a trained network and cannot be mixed; mixes take zero-training styles (make one "
            f"from its references with stylize style, or stylize.make_style)",
            params=("mix",),
        )
    nets = [m.network for m in models if isinstance(m.network, ReferenceNet)]
    vectors = torch.cat([net.vectors for net in nets])  # one row a style (a mix brings its rows)
    expanded = torch.cat([float(weight) * net.weights for weight, net in zip(weights, nets, strict=True)])
    first = nets[0]
    label = name or mix_name([(m.name, float(w)) for m, w in zip(models, weights, strict=True)])
    names = [n for net in nets for n in net.names]
    network = ReferenceNet(
        vectors, expanded.tolist(), first.neutral, first.guard, names=names, transformer=first.transformer
    )
    # Each style's weights and settings (style_sha256) and its share: with the first's guard (recorded
    # below) what the mix paints, so what apply's manifest keys on.
    identity = [[m.style_sha256, float(w) / float(sum(weights))] for m, w in zip(models, weights, strict=True)]
    metadata = {
        "format": FORMAT,
        "kind": KIND,
        "name": label,
        "weights_sha256": sha256_bytes(json.dumps(identity).encode()),
        "architecture": engine_record(),
        "guard": first.guard.record(),
        "mix": [{"style": m.name, "weight": float(w)} for m, w in zip(models, weights, strict=True)],
        "references": [  # the heaviest style's first: the preview shows the first as the column's reference
            {**r, "file": str(m.directory / r["file"]) if m.directory else r["file"]}
            for m, _ in sorted(zip(models, weights, strict=True), key=lambda pair: -float(pair[1]))
            for r in m.metadata.get("references", [])
        ],
    }
    identify(network, network_sha256(metadata))
    return StyleModel(label, network, metadata, models[0].directory)
