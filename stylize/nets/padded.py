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
        pad_h, pad_w = padding_for(height, width)
        x = F.pad(rgb, (0, pad_w, 0, pad_h), mode="replicate") if pad_h or pad_w else rgb
        return self.core(x)[..., :height, :width]


def padding_for(height: int, width: int) -> tuple[int, int]:
    """Rows and columns of edge padding (bottom, right) that make an image fit ``core``."""
    pad_h = max((-height) % PaddedNet.MULTIPLE, PaddedNet.MIN_SIDE - height)
    pad_w = max((-width) % PaddedNet.MULTIPLE, PaddedNet.MIN_SIDE - width)
    return pad_h, pad_w
