"""Image-quality figures of a stylized portrait against its input or the style: pure functions.

* :func:`edge_ssim`: how much of the input's structure survives: SSIM (11 px Gaussian window) of
  the two images' Sobel gradient-magnitude maps on greyscale (kornia). 1 = the same edges;
  unrelated images score near 0.
* :func:`lab_histogram_distance`: how close the colours are to the style's references: the
  Bhattacharyya distance of joint 3-D CIE Lab histograms (OpenCV, 8 bins per axis). 0 = the same
  colour distribution, 1 = no colour in common.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from stylize.inference.image import to_tensor

LAB_BINS = 8
SSIM_WINDOW = 11


def _grey_edges(rgb: np.ndarray) -> torch.Tensor:
    """(1, 1, H, W) Sobel gradient magnitude of an (H, W, 3) uint8 image's greyscale, about 0..0.7."""
    from kornia.color import rgb_to_grayscale
    from kornia.filters import sobel

    image = to_tensor(rgb)
    return sobel(rgb_to_grayscale(image), normalized=True)


@torch.no_grad()
def edge_ssim(a_rgb: np.ndarray, b_rgb: np.ndarray) -> float:
    """Mean SSIM of the Sobel edge maps of two same-size (H, W, 3) uint8 images; 1 when identical."""
    from kornia.metrics import ssim

    if a_rgb.shape != b_rgb.shape:
        raise ValueError(f"edge_ssim needs images of one size, got {a_rgb.shape} and {b_rgb.shape}")
    window = min(SSIM_WINDOW, *(side - (1 - side % 2) for side in a_rgb.shape[:2]))  # odd, within the image
    return float(ssim(_grey_edges(a_rgb), _grey_edges(b_rgb), max(1, window), max_val=1.0).mean())


def lab_histogram(images: np.ndarray | Sequence[np.ndarray], bins: int = LAB_BINS) -> np.ndarray:
    """Joint (bins, bins, bins) Lab histogram of one or several (H, W, 3) uint8 RGB images, summing to 1."""
    import cv2

    stack = [images] if isinstance(images, np.ndarray) else list(images)
    total = np.zeros((bins, bins, bins), np.float32)
    for rgb in stack:
        lab = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2LAB)  # 8-bit: L*255/100, a+128, b+128
        hist = cv2.calcHist([lab], [0, 1, 2], None, [bins] * 3, [0, 256] * 3)
        total += hist / max(1.0, float(hist.sum()))  # each image weighs the same whatever its size
    return total / max(1e-12, float(total.sum()))


def histogram_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Bhattacharyya distance (0 same .. 1 disjoint) between two histograms from :func:`lab_histogram`."""
    import cv2

    return float(min(1.0, max(0.0, cv2.compareHist(a, b, cv2.HISTCMP_BHATTACHARYYA))))


def lab_histogram_distance(rgb: np.ndarray, reference_rgb: np.ndarray | Sequence[np.ndarray]) -> float:
    """Distance between the Lab colour histograms of ``rgb`` and of the reference image(s)."""
    return histogram_distance(lab_histogram(rgb), lab_histogram(reference_rgb))
