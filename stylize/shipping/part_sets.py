"""Pre-stylized part sets: a ``data/facegen`` tree whose parts are already in a style.

``export_parts(style, out_dir)`` writes a complete copy of a part tree (same folders, file names,
sizes and alpha channels) whose part colours are stylized, so the game, unmodified, composites
styled faces at no run-time cost.

A style network looks at a whole face (its receptive field and instance norm see the neighbours
and the global statistics), so a part stylized alone on an empty canvas looks different from the
same part stylized inside a face. Each part is therefore stylized **in context**:

1. **Context faces.** For every (species, race, gender) the game can draw, faces are composited
   exactly as the game blends them, each slot filled with the least-used part of its category
   (ties broken by a seeded RNG, has-accessory 50/50 as in the game; armour parts in armoured
   faces), until every part has been drawn in at least ``contexts`` faces. Every face is stylized
   once and serves every part it contains.
2. **Visibility weights.** Each part's rectangle is cut out of each stylized face and averaged over
   its faces, weighted per pixel by how much of the part shows there, ``T ** 4`` where ``T`` is the
   product of ``1 - alpha`` of the layers drawn above it. A pixel hidden under hair in one face
   takes its colour from the faces where it shows, and a view half hidden under a tinted visor or
   glasses counts 1/16 of a clear one, so the covering part's colour does not leak into it.
3. **Fallback.** Where a pixel's weights add up to less than one clear view (e.g. skin always under
   hair, or an eye under a visor in every face drawn), the part is also stylized on top of its
   first context face with the layers above it left out (a "cut" face) and that colour fills in,
   blended linearly.
4. **Alpha kept.** The RGB of every pixel with alpha > 0 is replaced; the alpha channel is written
   back byte for byte and fully transparent pixels keep their original RGB.

Why the weighted average is the right colour: in a context face every visible layer at a pixel
takes the stylized face's colour there, so whatever the game blends at that pixel gives that colour
back; averaging over several faces trades a little stroke crispness for a part that fits any face.

Files the game does not read (``eyes3 copy.png``, notes, other files), transparent placeholders
(the 2x2 palette ``acc_0.png``) and parts the game would skip are copied byte for byte, so the
output has exactly the input's file list. ``contexts=0`` stylizes each part alone at its place on
a flat grey canvas instead (the naive way, kept for comparison).

The tree is built in a hidden temporary folder beside ``out_dir`` and renamed into place when
complete, with ``export_parts.json`` at its root (the game ignores files at the tree's root): the
style and its weights' hash, the settings, the source tree's fingerprint and every output file's
SHA-256. A rerun with the same inputs finds the tree up to date and does nothing; different inputs
are refused unless ``overwrite=True`` (which replaces the whole tree, never mixing two); a non-empty
folder not made by this command is always refused. An interrupted export leaves nothing behind.

How far a part set is from stylizing whole faces is measured in evaluation
(:func:`stylize.evaluation.part_set_gap.measure_part_set_gap`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from stylize import __version__
from stylize.config import APPLY_BATCH, CONTEXTS, PipelineConfig, default_config, parameter_default
from stylize.content.composite import (
    ARMOURED_LAYERS,
    FACE_HEIGHT,
    FACE_WIDTH,
    UNARMOURED_LAYERS,
    FaceGenerator,
    blit_over,
    part_window,
)
from stylize.content.tree import CATEGORIES, Part, PartTree
from stylize.errors import StylizeError
from stylize.faults import machine_error
from stylize.files import check_out_dir, parse_json, sha256_bytes, sha256_file, write_json
from stylize.imageio import atomic_write_bytes, encode_png, read_image
from stylize.inference.image import ApplySettings, default_batch, stylize_batch
from stylize.inference.model_file import StyleModel, is_relative_inside, is_sha256
from stylize.inference.styles import load_style
from stylize.nets.device import resolve_device
from stylize.output_folder import new_build_folder, remove_stale_builds, sibling_lock, swap_into_place
from stylize.progress import ProgressBar
from stylize.values import check_setting

MANIFEST_NAME = "export_parts.json"
FORMAT = "stylize-part-set"
FORMAT_VERSION = 1
METHOD_VERSION = 1  # bump when the stylization method changes, so older exports are no longer up to date
CONTEXTS_DEFAULT = parameter_default("contexts")
CONTEXT_SEED_DEFAULT = 0
FALLBACK_VISIBILITY = 1.0  # below one face's worth of (weighted) visibility, the cut face fills in
VISIBILITY_POWER = 4  # a view half covered (e.g. by a tinted visor) counts 1/16 of a clear one
ISOLATED_CANVAS = 128  # contexts=0: the flat grey each part is stylized over

# Each category's offset on the canvas (the same in the armoured and unarmoured plans).
OFFSETS: dict[str, tuple[int, int]] = {category: (x, y) for category, x, y in UNARMOURED_LAYERS + ARMOURED_LAYERS}

Stylizer = Callable[[np.ndarray], np.ndarray]  # (N, H, W, 3) uint8 faces -> (N, H, W, 3) float32 in 0..255


# --- results ---------------------------------------------------------------------------------------------


@dataclass
class ExportPartsResult:
    out_dir: Path
    manifest: Path
    style: str
    contexts: int
    stylized: list[str] = field(default_factory=list)  # part paths (relative, '/') whose RGB was stylized
    copied: list[str] = field(default_factory=list)  # files copied byte for byte
    context_faces: int = 0
    cut_faces: int = 0
    seconds: float = 0.0
    up_to_date: bool = False  # the folder already held this export; nothing was written
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        if self.up_to_date:
            return f"part set for {self.style} already up to date -> {self.out_dir}"
        how = (
            f"in context over {self.context_faces} faces + {self.cut_faces} cut faces"
            if self.contexts
            else "each alone on a grey canvas"
        )
        return (
            f"exported {self.style}: {len(self.stylized)} parts stylized {how}, {len(self.copied)} files copied "
            f"unchanged, in {self.seconds:.1f} s -> {self.out_dir}"
        )


# --- the part tree in memory ------------------------------------------------------------------------------


@dataclass
class _PartState:
    """One part of the tree: its pixels, where the game puts it, and its running sums."""

    part: Part
    rgb: np.ndarray  # (h, w, 3) uint8, as read
    alpha: np.ndarray | None  # (h, w) uint8 as read; None when the file has no alpha
    x: int  # top-left on the canvas (may be negative: parts are clipped like SDL_BlitSurface)
    y: int
    box: tuple[int, int, int, int] | None  # canvas (y0, y1, x0, x1) of its alpha > 0 pixels on the canvas
    a_box: np.ndarray | None = None  # (bh, bw) float32 alpha over the box, 0..1
    sum_rgb: np.ndarray | None = None  # (bh, bw, 3) float64: sum of visibility * stylized colour
    sum_w: np.ndarray | None = None  # (bh, bw) float64: sum of visibility
    cut: np.ndarray | None = None  # (bh, bw, 3) float32: the stylized cut face over the box
    first_face: int | None = None  # index of the first context face it is drawn in

    @property
    def relpath(self) -> str:
        return self.part.relpath


def _load_states(generator: FaceGenerator) -> dict[str, _PartState]:
    """Every part the game draws, read again for its exact RGB and alpha (the generator keeps premultiplied)."""
    states: dict[str, _PartState] = {}
    tree = generator.tree
    for part in tree.all_parts():
        if part.relpath not in generator.pixels:
            continue  # unreadable and skipped, as the game does: copied unchanged
        image = read_image(part.path, what=f"{part.category} part")
        height, width = image.rgb.shape[:2]
        x, y, cx0, cy0, cx1, cy1 = part_window(width, height, *OFFSETS[part.category])
        alpha = image.alpha if image.alpha is not None else np.full((height, width), 255, np.uint8)
        visible = np.zeros((FACE_HEIGHT, FACE_WIDTH), bool)
        box = None
        a_box = None
        if cx0 < cx1 and cy0 < cy1:
            visible[cy0:cy1, cx0:cx1] = alpha[cy0 - y : cy1 - y, cx0 - x : cx1 - x] > 0
            rows, cols = np.nonzero(visible)
            if rows.size:
                box = (int(rows.min()), int(rows.max()) + 1, int(cols.min()), int(cols.max()) + 1)
                y0, y1, x0, x1 = box
                a_box = alpha[y0 - y : y1 - y, x0 - x : x1 - x].astype(np.float32) / 255.0
        states[part.relpath] = _PartState(part, image.rgb, image.alpha, x, y, box, a_box)
    return states


# --- which faces to stylize -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ContextFace:
    """A face to stylize: its layers in drawing order; ``cut_of`` names the part a cut face is for."""

    layers: tuple[Part, ...]
    armoured: bool = False
    cut_of: str | None = None


def _groups(tree: PartTree) -> list[dict[str, list[Part]]]:
    """The candidates of each (species, race, gender) the game can draw (every category non-empty)."""
    groups = []
    for species, info in enumerate(tree.species):
        for race in range(info.num_races):
            for gender in range(info.num_genders):
                candidates = {category: tree.candidates(category, species, race, gender) for category in CATEGORIES}
                if all(candidates.values()):
                    groups.append(candidates)
    return groups


def plan_context_faces(
    tree: PartTree, active: set[str], contexts: int, seed: int = CONTEXT_SEED_DEFAULT
) -> tuple[list[ContextFace], list[str]]:
    """Faces in which every part of ``active`` (relative paths) is drawn at least ``contexts`` times.

    Returns the faces and the active parts no drawable face can hold (their species has no race
    the game can draw), which are left unstylized. Deterministic for a tree, ``contexts`` and ``seed``.
    """
    rng = np.random.default_rng(seed)
    groups = _groups(tree)
    order = [part for category in CATEGORIES for part in tree.parts[category] if part.relpath in active]
    homes: dict[str, list[int]] = {}
    for part in order:
        homes[part.relpath] = [
            index
            for index, group in enumerate(groups)
            if any(candidate.relpath == part.relpath for candidate in group[part.category])
        ]
    homeless = [part.relpath for part in order if not homes[part.relpath]]
    order = [part for part in order if homes[part.relpath]]
    rank = {part.relpath: index for index, part in enumerate(order)}
    counts = {part.relpath: 0 for part in order}
    faces: list[ContextFace] = []
    if contexts <= 0 or not order:
        return faces, homeless

    def least_used(candidates: list[Part]) -> Part:
        usable = [part for part in candidates if part.relpath in counts]
        if not usable:
            return candidates[0]
        fewest = min(counts[part.relpath] for part in usable)
        tied = [part for part in usable if counts[part.relpath] == fewest]
        return tied[int(rng.integers(len(tied)))] if len(tied) > 1 else tied[0]

    while True:
        needy = [part for part in order if counts[part.relpath] < contexts]
        if not needy:
            break
        forced = min(needy, key=lambda part: (counts[part.relpath], rank[part.relpath]))
        home = homes[forced.relpath]
        group = groups[home[counts[forced.relpath] % len(home)]]
        armoured = forced.category == "armour"
        plan = ARMOURED_LAYERS if armoured else UNARMOURED_LAYERS
        layers: list[Part] = []
        for category, _, _ in plan:
            if category == "background":
                layers.append(tree.background)
            elif category == forced.category:
                layers.append(forced)
            elif category == "accessories":
                with_accessory = bool(rng.integers(2))  # the game's has-accessory bit
                layers.append(least_used(group[category]) if with_accessory else group[category][0])
            else:
                layers.append(least_used(group[category]))
        for part in layers:
            if part.relpath in counts:
                counts[part.relpath] += 1
        faces.append(ContextFace(tuple(layers), armoured))
    return faces, homeless


# --- stylizing and accumulating ---------------------------------------------------------------------------


def network_stylizer(model: StyleModel, device: torch.device, settings: ApplySettings) -> Stylizer:
    """A function from a batch of uint8 faces to their stylized colours (float32, 0..255)."""
    network = model.network.to(device).eval()

    def run(faces: np.ndarray) -> np.ndarray:
        batch = torch.from_numpy(np.ascontiguousarray(faces)).to(device).permute(0, 3, 1, 2).float().div_(255.0)
        styled = stylize_batch(network, batch, settings)
        return styled.clamp(0, 1).mul(255.0).permute(0, 2, 3, 1).to("cpu", torch.float32).numpy()

    return run


def _composite(generator: FaceGenerator, layers: Sequence[Part], base: int = 0) -> np.ndarray:
    canvas = np.full((FACE_HEIGHT, FACE_WIDTH, 3), base, np.uint8)
    for part in layers:
        xoff, yoff = OFFSETS[part.category]
        blit_over(canvas, generator.pixels[part.relpath], xoff, yoff)
    return canvas


def _visibility(states: dict[str, _PartState], layers: Sequence[Part]) -> Iterator[tuple[_PartState, np.ndarray]]:
    """Each part of a face (top layer first) with how much each of its pixels shows (the weight its colours
    get): a matter of the layers' alpha only, so known before any face is stylized."""
    through = np.ones((FACE_HEIGHT, FACE_WIDTH), np.float32)  # 1 - coverage of the layers drawn above
    for part in reversed(layers):
        state = states.get(part.relpath)
        if state is None or state.box is None:
            continue
        y0, y1, x0, x1 = state.box
        yield state, through[y0:y1, x0:x1].astype(np.float64) ** VISIBILITY_POWER
        through[y0:y1, x0:x1] *= 1.0 - state.a_box


def _accumulate(states: dict[str, _PartState], layers: Sequence[Part], styled: np.ndarray) -> None:
    """Add one stylized face to the sums of the parts it holds, weighted by how much each part shows."""
    for state, weight in _visibility(states, layers):
        assert state.box is not None  # _visibility yields placed parts only
        y0, y1, x0, x1 = state.box
        if state.sum_rgb is None:
            state.sum_rgb = np.zeros((y1 - y0, x1 - x0, 3), np.float64)
            state.sum_w = np.zeros((y1 - y0, x1 - x0), np.float64)
        state.sum_rgb += weight[..., None] * styled[y0:y1, x0:x1]
        state.sum_w += weight


def _seen_weights(states: dict[str, _PartState], faces: Sequence[ContextFace]) -> dict[str, np.ndarray]:
    """The summed weights each part will get from ``faces`` (as :func:`_accumulate` adds them), computed
    before stylizing: which parts need a cut face is known from the start, and so is the work's total."""
    seen: dict[str, np.ndarray] = {}
    for face in faces:
        for state, weight in _visibility(states, face.layers):
            relpath = state.relpath
            seen[relpath] = seen[relpath] + weight if relpath in seen else weight
    return seen


def _under_seen(state: _PartState, seen: np.ndarray | None = None) -> bool:
    """Whether the weights of some pixel of the part add up to less than one clear view (``seen``: the
    weights it will get, else those it has got)."""
    if state.box is None:
        return False
    if seen is None:
        seen = state.sum_w if state.sum_w is not None else np.zeros(state.a_box.shape)
    return bool(np.any((state.a_box > 0) & (seen < FALLBACK_VISIBILITY)))


def _final_rgb(state: _PartState) -> np.ndarray:
    """The part's new RGB: the weighted mean where it showed, the cut face where it hardly did."""
    rgb = state.rgb.copy()
    if state.box is None:
        return rgb
    y0, y1, x0, x1 = state.box
    seen = state.sum_w if state.sum_w is not None else np.zeros((y1 - y0, x1 - x0))
    total = state.sum_rgb if state.sum_rgb is not None else np.zeros((y1 - y0, x1 - x0, 3))
    if state.cut is not None:
        fill = np.maximum(FALLBACK_VISIBILITY - seen, 0.0)
        total = total + fill[..., None] * state.cut
        seen = seen + fill
    mask = (state.a_box > 0) & (seen > 0)
    value = np.clip(np.rint(total / np.maximum(seen, 1e-12)[..., None]), 0, 255).astype(np.uint8)
    region = rgb[y0 - state.y : y1 - state.y, x0 - state.x : x1 - state.x]
    region[mask] = value[mask]
    return rgb


def _run_faces(
    generator: FaceGenerator,
    faces: Sequence[ContextFace],
    stylizer: Stylizer,
    batch: int,
    bar: tqdm,
    handle: Callable[[ContextFace, np.ndarray], None],
    base: int = 0,
) -> None:
    for start in range(0, len(faces), batch):
        chunk = faces[start : start + batch]
        styled = stylizer(np.stack([_composite(generator, face.layers, base) for face in chunk]))
        for face, image in zip(chunk, styled):
            handle(face, image)
        bar.update(len(chunk))


def stylize_part_set(
    generator: FaceGenerator,
    stylizer: Stylizer,
    *,
    contexts: int = CONTEXTS_DEFAULT,
    seed: int = CONTEXT_SEED_DEFAULT,
    batch: int = 1,
    progress: bool = True,
    description: str = "export-parts",
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The stylized RGB of every part of ``generator``'s tree, in memory; no files are touched.

    Returns ``{relpath: (h, w, 3) uint8}`` for the parts that were stylized (every part the game
    draws with a visible pixel on the canvas) and a record of the work (faces, cut faces, notes).
    ``stylizer`` maps a batch of faces to stylized colours (:func:`network_stylizer`).
    """
    check_setting("contexts", contexts, CONTEXTS)
    states = _load_states(generator)
    active = {relpath for relpath, state in states.items() if state.box is not None}
    notes: list[str] = []
    tree = generator.tree
    with ProgressBar(total=0, desc=description, unit="face", disable=None if progress else True) as bar:
        if contexts == 0:
            faces = [ContextFace((state.part,)) for relpath, state in states.items() if relpath in active]
            bar.total = len(faces)
            bar.refresh()
            _run_faces(
                generator,
                faces,
                stylizer,
                batch,
                bar,
                lambda face, image: _accumulate(states, face.layers, image),
                base=ISOLATED_CANVAS,
            )
            cuts: list[ContextFace] = []
        else:
            faces, homeless = plan_context_faces(tree, active - {tree.background.relpath}, contexts, seed)
            for relpath in homeless:
                active.discard(relpath)
                notes.append(
                    f"{relpath}: no face the game can draw holds it (its species has no complete race); "
                    "copied unchanged"
                )
            if not faces:
                active.discard(tree.background.relpath)
            for index, face in enumerate(faces):
                for part in face.layers:
                    state = states.get(part.relpath)
                    if state is not None and state.first_face is None:
                        state.first_face = index
            # the parts the context faces will show too little get a cut face of their own; which ones is a
            # matter of the layers' alpha, so it is planned now and the bar's total is known from the start
            seen = _seen_weights(states, faces)
            cuts = []
            for relpath in sorted(
                active,
                key=lambda r: (
                    CATEGORIES.index(states[r].part.category) if states[r].part.category in CATEGORIES else -1,
                    r,
                ),
            ):
                state = states[relpath]
                if state.first_face is None or not _under_seen(state, seen.get(relpath)):
                    continue
                layers = faces[state.first_face].layers
                upto = next(i for i, part in enumerate(layers) if part.relpath == relpath)
                cuts.append(ContextFace(layers[: upto + 1], faces[state.first_face].armoured, cut_of=relpath))
            bar.total = len(faces) + len(cuts)
            bar.refresh()
            _run_faces(
                generator, faces, stylizer, batch, bar, lambda face, image: _accumulate(states, face.layers, image)
            )

            def keep_cut(face: ContextFace, image: np.ndarray) -> None:
                state = states[face.cut_of]
                y0, y1, x0, x1 = state.box
                state.cut = image[y0:y1, x0:x1].copy()

            _run_faces(generator, cuts, stylizer, batch, bar, keep_cut)
    rgb = {relpath: _final_rgb(states[relpath]) for relpath in sorted(active)}
    context_counts: dict[str, int] = {}
    for face in faces if contexts else []:
        for part in face.layers:
            context_counts[part.relpath] = context_counts.get(part.relpath, 0) + 1
    work = {
        "context_faces": len(faces) if contexts else 0,
        "cut_faces": len(cuts),
        "isolated_faces": len(faces) if not contexts else 0,
        "notes": notes,
        "min_contexts": min((context_counts.get(r, 0) for r in active), default=0) if contexts else 0,
        "states": states,
    }
    return rgb, work


# --- files ------------------------------------------------------------------------------------------------


def _tree_files(root: Path) -> tuple[list[str], list[str]]:
    """Every folder and regular file under ``root`` (relative, '/'), sorted, in the tree's own layout."""
    folders, files = [], []
    for current, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        base = Path(current)
        for name in dirnames:
            folders.append((base / name).relative_to(root).as_posix())
        for name in sorted(filenames):
            path = base / name
            if path.is_file():
                files.append(path.relative_to(root).as_posix())
    return sorted(folders), sorted(files)


def tree_fingerprint(root: Path, files: Sequence[str]) -> str:
    """SHA-256 over every file's relative path and content hash: what the export was made from."""
    digest = hashlib.sha256()
    for relpath in files:
        digest.update(relpath.encode("utf-8") + b"\0" + sha256_file(root / relpath).encode("ascii") + b"\n")
    return digest.hexdigest()


_SETTINGS_KEYS = set(ApplySettings().record())


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _well_formed(data: Any) -> bool:
    """Whether ``data`` has the shape of an export manifest in every field that is read back: file
    records as relative paths inside the export with SHA-256 hashes, lists of part paths, counts,
    the apply settings and the source folder."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return False
    files, settings = data.get("files", {}), data.get("settings", {})
    return (
        isinstance(files, dict)
        and all(is_relative_inside(path) and is_sha256(digest) for path, digest in files.items())
        and all(
            isinstance(data.get(key, []), list) and all(isinstance(item, str) for item in data.get(key, []))
            for key in ("stylized", "copied")
        )
        and all(_is_count(data.get(key, 0)) for key in ("context_faces", "cut_faces"))
        and isinstance(settings, dict)
        and set(settings) <= _SETTINGS_KEYS
        and isinstance(data.get("source", ""), str)
        and isinstance(data.get("model_sha256", ""), str)
        and isinstance(data.get("style_sha256", ""), str)
    )


def read_manifest(out_dir: Path) -> dict[str, Any] | None:
    """The export manifest in ``out_dir``, or ``None`` when there is none or it is not one (damaged,
    foreign, or hostile: huge numbers, deep nesting, paths out of the folder)."""
    path = out_dir / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        data = parse_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return None
    return data if _well_formed(data) else None


def _key(manifest: dict[str, Any]) -> dict[str, Any]:
    """The inputs an export depends on; equal keys mean the same tree."""
    return {
        name: manifest.get(name)
        for name in (
            "format_version",
            "method_version",
            "model_sha256",
            "style_sha256",
            "settings",
            "contexts",
            "context_seed",
            "source_fingerprint",
            "unreadable",
        )
    }


def _first_difference(old: dict[str, Any], new: dict[str, Any], out_dir: Path) -> str | None:
    for name, value in _key(new).items():
        if _key(old).get(name) != value:
            return f"{name} differs"
    for relpath, digest in (old.get("files") or {}).items():
        path = out_dir / relpath
        if not path.is_file() or sha256_file(path) != digest:
            return f"{relpath} is missing or altered"
    return None


# --- the public entry points ------------------------------------------------------------------------------


def export_parts(
    style: str,
    out_dir: str | os.PathLike[str],
    *,
    parts: str | os.PathLike[str] | None = None,
    contexts: int = CONTEXTS_DEFAULT,
    settings: ApplySettings = ApplySettings(),
    overwrite: bool = False,
    seed: int = CONTEXT_SEED_DEFAULT,
    styles_dir: str | os.PathLike[str] | None = None,
    config: PipelineConfig | None = None,
    device: str = "auto",
    batch: int | None = None,
    progress: bool = True,
) -> ExportPartsResult:
    """Write ``out_dir``: the part tree ``parts`` (default ``[parts] root``) with every part in ``style``.

    See the module docstring for the method. ``contexts`` is how many faces each part is stylized
    in (at least); 0 stylizes each part alone on a grey canvas. ``overwrite`` replaces an earlier
    export in ``out_dir`` made with other inputs. ``batch`` faces go through the network at once
    (default 1 on CPU, 8 on a GPU).
    """
    started = time.perf_counter()
    config = config or default_config()
    check_setting("contexts", contexts, CONTEXTS)
    root = Path(parts) if parts is not None else config.parts.root
    generator = FaceGenerator.load(root, unreadable=config.parts.unreadable)
    out_path = Path(out_dir)
    check_out_dir(out_path, root, may_hold_tree=False)
    with sibling_lock(out_path):  # one run at a time; a killed run's build folder is removed
        remove_stale_builds(out_path, ("export",))
        model = load_style(style, styles_dir, config)
        torch_device = resolve_device(device)
        batch = batch if batch is not None else default_batch(torch_device)
        check_setting("batch", batch, APPLY_BATCH)

        folders, files = _tree_files(root)
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "method_version": METHOD_VERSION,
            "stylize_version": __version__,
            "style": model.name,
            "model_sha256": model.weights_sha256,
            "style_sha256": model.style_sha256,  # its weights and the model.json settings that change its output
            "settings": settings.record(),
            "contexts": contexts,
            "context_seed": seed,
            "unreadable": config.parts.unreadable,
            "source": os.fspath(root.resolve()),
            "source_fingerprint": tree_fingerprint(root, files),
        }
        result = ExportPartsResult(out_path, out_path / MANIFEST_NAME, model.name, contexts)
        if out_path.is_dir() and any(out_path.iterdir()):
            old = read_manifest(out_path)
            if old is None:
                raise StylizeError(
                    f"{out_path}: folder is not empty and holds no {MANIFEST_NAME} this stylize can read (not made by "
                    "export-parts, or damaged); choose a new or empty out_dir=DIR",
                    params=("out_dir",),
                )
            difference = _first_difference(old, manifest, out_path)
            if difference is None:
                result.up_to_date = True
                result.stylized = list(old.get("stylized", []))
                result.copied = list(old.get("copied", []))
                result.context_faces = int(old.get("context_faces", 0))
                result.cut_faces = int(old.get("cut_faces", 0))
                result.seconds = time.perf_counter() - started
                return result
            if not overwrite:
                raise StylizeError(
                    f"{out_path}: holds a part set made from other inputs ({difference}); pass overwrite=True "
                    "to replace it, or choose another out_dir=DIR",
                    params=("overwrite", "out_dir"),
                )

        stylizer = network_stylizer(model, torch_device, settings)
        rgb, work = stylize_part_set(
            generator,
            stylizer,
            contexts=contexts,
            seed=seed,
            batch=batch,
            progress=progress,
            description=f"export-parts {model.name}",
        )
        states: dict[str, _PartState] = work["states"]

        built = new_build_folder(out_path, "export")
        try:
            for folder in folders:
                (built / folder).mkdir(parents=True, exist_ok=True)
            outputs: dict[str, str] = {}
            for relpath in files:
                if relpath in rgb:
                    state = states[relpath]
                    data = encode_png(rgb[relpath], state.alpha)
                    result.stylized.append(relpath)
                else:
                    data = (root / relpath).read_bytes()
                    result.copied.append(relpath)
                atomic_write_bytes(built / relpath, data)
                outputs[relpath] = sha256_bytes(data)
            result.context_faces, result.cut_faces = work["context_faces"], work["cut_faces"]
            result.notes = list(work["notes"]) + list(generator.tree.notes)
            result.seconds = time.perf_counter() - started
            manifest.update(
                {
                    "context_faces": result.context_faces,
                    "cut_faces": result.cut_faces,
                    "isolated_faces": work["isolated_faces"],
                    "min_contexts": work["min_contexts"],
                    "seconds": round(result.seconds, 1),
                    "device": str(torch_device),
                    "stylized": result.stylized,
                    "copied": result.copied,
                    "notes": result.notes,
                    "files": outputs,
                }
            )
            write_json(built / MANIFEST_NAME, manifest)
            swap_into_place(built, out_path)
        except OSError as err:
            raise machine_error(err) or StylizeError(
                f"{out_path}: cannot write the part set ({err.strerror}); check free space and permissions"
            ) from err
        finally:
            if built.exists():
                shutil.rmtree(built, ignore_errors=True)
        return result


__all__ = [
    "CONTEXTS_DEFAULT",
    "ContextFace",
    "ExportPartsResult",
    "MANIFEST_NAME",
    "export_parts",
    "read_manifest",
    "network_stylizer",
    "plan_context_faces",
    "stylize_part_set",
    "tree_fingerprint",
]
