"""An offline face detector for portraits (used by the zero-training styles' face guard and by
``stylize eval``): OpenCV 4.x's bundled Haar cascades (no download).

:func:`find_face` looks for a frontal face and, inside the largest one found, for its eyes
(``haarcascade_eye.xml`` on the upper part of the face box): "eyes found" means one eye in each
half of the face, the thing a style most easily smears away.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from stylize.errors import StylizeError

FACE_CASCADE = "haarcascade_frontalface_default.xml"
EYE_CASCADE = "haarcascade_eye.xml"
# A second search for a face the first misses: OpenCV's "alt2" cascade, fewer neighbours asked. On 232 game
# portraits (seeds 0-199 and 7000-7031 of the game's tree) the first search missed 13, both together 4
# (all four behind large glasses).
SECOND_CASCADE = "haarcascade_frontalface_alt2.xml"
SECOND_NEIGHBOURS = 3
# Where the game's compositor puts the face in its 295x285 portraits (x, y, side): the median box of the
# first search over those 232 portraits (10th-90th percentile: x 51-71, y 43-61, side 154-192).
GAME_SIZE = (285, 295)  # height, width
GAME_FACE = (61, 52, 174)
GAME_ASPECT_TOLERANCE = 0.02  # an image this close to the game's aspect is taken as a game portrait at any size


@dataclass(frozen=True)
class FaceFinding:
    face: bool
    eyes: bool  # both eyes inside the face (never True without a face)


@lru_cache(maxsize=3)
def _cascade(file_name: str = FACE_CASCADE) -> Any:
    import cv2

    data = getattr(cv2, "data", None)
    if data is None or not hasattr(data, "haarcascades"):
        raise StylizeError(
            "this OpenCV ships no Haar cascades (opencv-python 5 dropped them); pip install 'opencv-python-headless<5'"
        )
    cascade = cv2.CascadeClassifier(data.haarcascades + file_name)
    if cascade.empty():
        raise StylizeError(f"{data.haarcascades}{file_name}: Haar cascade missing; reinstall opencv-python-headless<5")
    return cascade


def _grey(rgb: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)


def _faces(
    grey: np.ndarray, min_side: int | None = None, cascade: str = FACE_CASCADE, neighbours: int = 5
) -> np.ndarray:
    side = min_side if min_side is not None else max(24, min(grey.shape) // 5)
    found = _cascade(cascade).detectMultiScale(grey, scaleFactor=1.1, minNeighbors=neighbours, minSize=(side, side))
    return np.asarray(found)


def _largest(faces: np.ndarray) -> tuple[int, int, int, int] | None:
    """The largest of the detector's (x, y, w, h) boxes, or None when there is none."""
    if len(faces) == 0:
        return None
    x, y, w, h = max(faces, key=lambda box: int(box[2]) * int(box[3]))
    return int(x), int(y), int(w), int(h)


def face_box(rgb: np.ndarray, min_side: int | None = None) -> tuple[int, int, int, int] | None:
    """(x, y, width, height) of the largest face :func:`has_face` would find, or None; ``min_side``
    replaces the smallest face size (1/5 of the short side), for a search inside a crop."""
    return _largest(_faces(_grey(rgb), min_side))


def game_face_box(height: int, width: int) -> tuple[int, int, int, int] | None:
    """The box where the game draws the face in a portrait of ``height`` x ``width`` that has the game's
    aspect (any size: a legacy portrait rendered larger), scaled to it; None for any other shape."""
    game_height, game_width = GAME_SIZE
    if abs((width / height) / (game_width / game_height) - 1) > GAME_ASPECT_TOLERANCE:
        return None
    scale = width / game_width
    x, y, side = (round(v * scale) for v in GAME_FACE)
    return x, y, side, side


def guard_face_box(rgb: np.ndarray) -> tuple[int, int, int, int] | None:
    """The face a style's face guard protects: :func:`face_box`; else a second, looser search (another
    cascade, fewer neighbours); else, in a portrait of the game's shape, where the game draws the face.
    None when an image of another shape shows no face to either search."""
    grey = _grey(rgb)
    found = _largest(_faces(grey)) or _largest(_faces(grey, cascade=SECOND_CASCADE, neighbours=SECOND_NEIGHBOURS))
    return found or game_face_box(*grey.shape[:2])


def has_face(rgb: np.ndarray) -> bool:
    """True if the frontal-face cascade finds a face of at least 1/5 of the image's short side."""
    return len(_faces(_grey(rgb))) > 0


def _has_both_eyes(grey: np.ndarray, box: tuple[int, int, int, int]) -> bool:
    x, y, w, h = (int(v) for v in box)
    upper = grey[y : y + (h * 5) // 8, x : x + w]  # eyes sit in the upper part of the face box
    smallest, largest = max(8, w // 10), max(9, w // 2)
    eyes = _cascade(EYE_CASCADE).detectMultiScale(
        upper, scaleFactor=1.1, minNeighbors=3, minSize=(smallest, smallest), maxSize=(largest, largest)
    )
    centres = [ex + ew / 2 for ex, _, ew, _ in eyes]
    return any(c < w / 2 for c in centres) and any(c >= w / 2 for c in centres)


def find_face(rgb: np.ndarray) -> FaceFinding:
    """Whether a face is found (as :func:`has_face`) and, in the largest face, an eye on each side."""
    grey = _grey(rgb)
    largest = _largest(_faces(grey))
    if largest is None:
        return FaceFinding(False, False)
    return FaceFinding(True, _has_both_eyes(grey, largest))
