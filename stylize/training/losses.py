"""Perceptual loss terms as pure tensor functions (Johnson et al. 2016; Gatys et al. 2016)."""

from __future__ import annotations

from collections.abc import Callable

import torch


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) features -> (B, C, C) Gram matrices normalised by C*H*W."""
    batch, channels, height, width = features.shape
    flat = features.reshape(batch, channels, height * width)
    return torch.bmm(flat, flat.transpose(1, 2)) / (channels * height * width)


def style_loss(
    features: dict[str, torch.Tensor],
    target_grams: dict[str, torch.Tensor],
    layer_weights: dict[str, float] | None = None,
) -> torch.Tensor:
    """Sum over layers of the mean squared difference between Gram matrices and their targets.

    ``target_grams`` holds one (C, C) or (B, C, C) target per layer.
    """
    total = torch.zeros((), device=next(iter(features.values())).device)
    for layer, target in target_grams.items():
        gram = gram_matrix(features[layer])
        weight = 1.0 if layer_weights is None else layer_weights.get(layer, 1.0)
        total = total + weight * torch.mean((gram - target.expand_as(gram)) ** 2)
    return total


def per_image_gram_distance(grams: dict[str, torch.Tensor], target_grams: dict[str, torch.Tensor]) -> torch.Tensor:
    """(B,) sum over the layers of ``target_grams`` (in its order) of each image's mean squared
    difference between its (B, C, C) Gram matrices and the (C, C) targets."""
    total = None
    for layer, target in target_grams.items():
        gram = grams[layer]
        term = ((gram - target.expand_as(gram)) ** 2).mean(dim=(1, 2))
        total = term if total is None else total + term
    assert total is not None
    return total


def per_layer_gram_distances(
    grams: dict[str, torch.Tensor], target_grams: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """For each layer of ``target_grams`` (in its order), (B,) the summed squared differences between
    each image's (B, C, C) Gram matrix and the (C, C) target: the per-layer distance of the style score
    (:mod:`stylize.evaluation.style_score`)."""
    return {
        layer: ((grams[layer] - target.expand_as(grams[layer])) ** 2).sum(dim=(1, 2))
        for layer, target in target_grams.items()
    }


def per_image_style_loss(features: dict[str, torch.Tensor], target_grams: dict[str, torch.Tensor]) -> torch.Tensor:
    """(B,) style loss of each image separately (for evaluation)."""
    return per_image_gram_distance({layer: gram_matrix(features[layer]) for layer in target_grams}, target_grams)


def total_variation(images: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference between neighbouring pixels, (B, C, H, W) images."""
    dx = (images[..., :, 1:] - images[..., :, :-1]).abs().mean()
    dy = (images[..., 1:, :] - images[..., :-1, :]).abs().mean()
    return dx + dy


def value_detail(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """(B, 1, H, W) local light-and-dark of (B, 3, H, W) RGB images: luminance (kornia's Rec. 601
    greyscale) minus its Gaussian blur of ``sigma`` pixels, so a global change of colour or
    brightness leaves it unchanged while an eye lighter than the skin around it does not."""
    from kornia.color import rgb_to_grayscale
    from kornia.filters import gaussian_blur2d

    luma = rgb_to_grayscale(images)
    radius = max(1, int(round(3 * sigma)))
    return luma - gaussian_blur2d(luma, (2 * radius + 1, 2 * radius + 1), (sigma, sigma), border_type="reflect")


def grow_mask(mask: torch.Tensor, pixels: int) -> torch.Tensor:
    """(B, 1, H, W) ``mask`` grown by ``pixels`` on every side (a max filter; 0 leaves it as is)."""
    if pixels <= 0:
        return mask
    return torch.nn.functional.max_pool2d(mask, 2 * pixels + 1, stride=1, padding=pixels)


def masked_detail_loss(
    output: torch.Tensor, content: torch.Tensor, mask: torch.Tensor, sigma: float = 4.0
) -> torch.Tensor:
    """Mean over the batch of the masked squared difference between the outputs' and the contents'
    :func:`value_detail`, each image relative to its content's masked detail energy (0 = the light
    and dark pattern under ``mask`` (B, 1, H, W) kept; 1 = an error as large as the pattern itself).
    Images whose mask is empty count 0."""
    wanted = value_detail(content, sigma)
    error = ((value_detail(output, sigma) - wanted) ** 2 * mask).sum(dim=(1, 2, 3))
    energy = (wanted**2 * mask).sum(dim=(1, 2, 3))
    has_mask = mask.sum(dim=(1, 2, 3)) > 1e-6
    return torch.where(has_mask, error / energy.clamp_min(1e-8), torch.zeros_like(error)).mean()


def high_pass(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """(B, C, H, W) fine detail of ``images``: each channel minus its Gaussian blur of ``sigma`` pixels
    (kornia's, edges reflected), so strokes, hatching and paper grain stay and smooth shading goes."""
    from kornia.filters import gaussian_blur2d

    radius = max(1, int(round(3 * sigma)))
    return images - gaussian_blur2d(images, (2 * radius + 1, 2 * radius + 1), (sigma, sigma), border_type="reflect")


def detail_l1(output: torch.Tensor, target: torch.Tensor, sigma: float) -> torch.Tensor:
    """Mean absolute difference between the :func:`high_pass` detail of ``output`` and ``target``: the
    frequency-aware half of a student's pixel objective, which weighs strokes beside the broad tones
    that a plain L1 is dominated by."""
    return (high_pass(output, sigma) - high_pass(target, sigma)).abs().mean()


def texture_distance(
    features: dict[str, torch.Tensor],
    target_features: dict[str, torch.Tensor],
    layers: tuple[str, ...],
    batch_mean: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """Mean over ``layers`` of each image's mean squared Gram difference to its own target image's
    (:func:`gram_matrix`), relative to the targets' Gram energy at that layer: 0 = the same texture
    statistics as the target (wherever its strokes lie), about 1 = none of them. The Gram matrices
    ignore where a stroke is, so this keeps a student's strokes where an L1 to a target it cannot
    copy stroke for stroke would blur them. ``batch_mean`` gives the energy of the whole batch from this
    part's (a data-parallel run's :func:`stylize.training.distributed.global_mean`; default: this batch's)."""
    total = torch.zeros((), device=next(iter(features.values())).device)
    for layer in layers:
        gram, want = gram_matrix(features[layer]), gram_matrix(target_features[layer])
        energy = (want**2).mean()
        energy = batch_mean(energy) if batch_mean is not None else energy
        total = total + ((gram - want) ** 2).mean() / energy.clamp_min(1e-12)
    return total / len(layers)
