"""Running a style network on one image: RGB through the network, alpha carried through unchanged."""

from __future__ import annotations

import numpy as np
import torch

from stylize.nets.transformer import TransformerNet


def to_tensor(rgb: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 -> (1, 3, H, W) float in 0..1."""
    return torch.from_numpy(np.array(rgb, dtype=np.uint8, order="C", copy=True)).permute(2, 0, 1)[None].float().div_(255.0)


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) float in 0..1 -> (H, W, 3) uint8, rounded."""
    return image[0].clamp(0, 1).mul(255.0).round_().to(torch.uint8).permute(1, 2, 0).cpu().numpy()


@torch.inference_mode()
def stylize_rgb(network: TransformerNet, rgb: np.ndarray, device: torch.device | str = "cpu") -> np.ndarray:
    """The network's output for an (H, W, 3) uint8 image, same size, uint8."""
    return to_uint8(network(to_tensor(rgb).to(device)))
