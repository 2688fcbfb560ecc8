"""An offline face detector: OpenCV 4.x's bundled Haar cascades (no download)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from stylize.errors import StylizeError


@lru_cache(maxsize=1)
def _cascade():
    import cv2

    data = getattr(cv2, "data", None)
    if data is None or not hasattr(data, "haarcascades"):
        raise StylizeError("this OpenCV ships no Haar cascades (opencv-python 5 dropped them); pip install 'opencv-python-headless<5'")
    cascade = cv2.CascadeClassifier(data.haarcascades + "haarcascade_frontalface_default.xml")
    if cascade.empty():
        raise StylizeError(f"{data.haarcascades}: Haar face cascade missing; reinstall opencv-python-headless<5")
    return cascade


def has_face(rgb: np.ndarray) -> bool:
    """True if the frontal-face cascade finds a face of at least 1/5 of the image's short side."""
    import cv2

    grey = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
    side = max(24, min(grey.shape) // 5)
    found = _cascade().detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5, minSize=(side, side))
    return len(found) > 0
