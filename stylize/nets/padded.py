"""The base of every feed-forward style network: any input size in, the same size out."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class PaddedNet(nn.Module):
    """RGB in 0..1 -> RGB in 0..1, same size as the input; subclasses define ``core``."""

    MULTIPLE = 4
    MIN_SIDE = 16  # reflection padding and instance norm need a few pixels at 1/4 resolution

    def core(self, x: torch.Tensor) -> torch.Tensor:
        """The network on an image whose sides are multiples of 4 and at least 16 (no cropping)."""
        raise NotImplementedError

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        height, width = rgb.shape[-2:]
        return self.framed(rgb)[..., :height, :width]

    def framed(self, rgb: torch.Tensor) -> torch.Tensor:
        """``core`` on ``rgb`` edge-padded at the bottom and right (:func:`padding_for`), not cropped: the
        network's output over the frame an exported graph sees (the value op runs on that frame)."""
        return self.core(pad_frame(rgb))


def pad_frame(image: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) edge-padded at the bottom and right by :func:`padding_for` (itself when nothing is padded)."""
    return pad_bottom_right(image, *padding_for(*image.shape[-2:]))


def pad_bottom_right(image: torch.Tensor, bottom: int, right: int) -> torch.Tensor:
    """``image`` edge-padded by ``bottom`` rows and ``right`` columns (itself, not a copy, when neither)."""
    return F.pad(image, (0, right, 0, bottom), mode="replicate") if bottom or right else image


def padding_for(height: int, width: int) -> tuple[int, int]:
    """Rows and columns of edge padding (bottom, right) that make an image fit ``core``."""
    pad_h = max((-height) % PaddedNet.MULTIPLE, PaddedNet.MIN_SIDE - height)
    pad_w = max((-width) % PaddedNet.MULTIPLE, PaddedNet.MIN_SIDE - width)
    return pad_h, pad_w
