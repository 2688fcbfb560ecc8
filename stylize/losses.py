"""Perceptual loss terms as pure tensor functions (Johnson et al. 2016; Gatys et al. 2016)."""

from __future__ import annotations

import torch


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) features -> (B, C, C) Gram matrices normalised by C*H*W."""
    batch, channels, height, width = features.shape
    flat = features.reshape(batch, channels, height * width)
    return torch.bmm(flat, flat.transpose(1, 2)) / (channels * height * width)


def style_loss(features: dict[str, torch.Tensor], target_grams: dict[str, torch.Tensor],
               layer_weights: dict[str, float] | None = None) -> torch.Tensor:
    """Sum over layers of the mean squared difference between Gram matrices and their targets.

    ``target_grams`` holds one (C, C) or (B, C, C) target per layer.
    """
    total = torch.zeros((), device=next(iter(features.values())).device)
    for layer, target in target_grams.items():
        gram = gram_matrix(features[layer])
        weight = 1.0 if layer_weights is None else layer_weights.get(layer, 1.0)
        total = total + weight * torch.mean((gram - target.expand_as(gram)) ** 2)
    return total


def per_image_style_loss(features: dict[str, torch.Tensor], target_grams: dict[str, torch.Tensor]) -> torch.Tensor:
    """(B,) style loss of each image separately (for evaluation)."""
    total = None
    for layer, target in target_grams.items():
        gram = gram_matrix(features[layer])
        term = ((gram - target.expand_as(gram)) ** 2).mean(dim=(1, 2))
        total = term if total is None else total + term
    assert total is not None
    return total


def total_variation(images: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference between neighbouring pixels, (B, C, H, W) images."""
    dx = (images[..., :, 1:] - images[..., :, :-1]).abs().mean()
    dy = (images[..., 1:, :] - images[..., :-1, :]).abs().mean()
    return dx + dy
