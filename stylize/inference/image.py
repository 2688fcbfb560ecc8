"""Running a style network on images: RGB through the network, with the user's controls.

Pure functions of (network, pixels, settings): the alpha channel never enters here; callers carry
it through unchanged. The controls:

- ``strength`` 0..1 blends the styled result toward the content (0 gives the input back exactly);
- ``preserve_color`` keeps the input's colours and takes only the style's lightness (CIE Lab via
  kornia: L from the styled image, a and b from the input; Gatys et al. 2016's luminance transfer);
- ``scale`` is the stroke size: the network runs on the image resized by 1/scale and the result is
  resized back, so 2.0 draws strokes twice as large and 0.5 half as large.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from stylize.config import PARAMETERS, parameter_default
from stylize.inference.tiling import TILE_ABOVE, needs_tiling, run_network, run_network_resized
from stylize.inference.tone import METHOD, calibrate, cell_for, keep_values, keep_values_in_place
from stylize.nets.device import autocast, layout
from stylize.nets.transformer import PaddedNet
from stylize.values import check_setting


@dataclass(frozen=True)
class ApplySettings:
    """How a style is applied; recorded in the apply manifest so changed settings redo outputs."""

    strength: float = parameter_default("strength")  # 0 (the content) .. 1 (full style)
    preserve_color: bool = parameter_default("preserve_color")
    scale: float = parameter_default("scale")  # stroke size, 1 = as trained
    precision: str = parameter_default("precision")  # fp32, or bf16/fp16 autocast
    keep_values: float = parameter_default("keep_values")  # 0 (the style's tone) .. 1 (the portrait's values)

    def __post_init__(self) -> None:
        for name in ("strength", "scale", "precision", "keep_values"):
            check_setting(name, getattr(self, name), PARAMETERS[name].kind)

    def record(self) -> dict[str, object]:
        record: dict[str, object] = {
            "strength": float(self.strength),
            "preserve_color": bool(self.preserve_color),
            "scale": float(self.scale),
        }
        if self.precision != "fp32":  # recorded when it changes the bytes; fp32 manifests read as before
            record["precision"] = self.precision
        if self.keep_values > 0:  # 0 paints as before the control existed: such manifests read as before
            record["keep_values"] = float(self.keep_values)
            record["values_method"] = METHOD
        return record

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> ApplySettings:
        """The settings a :meth:`record` was made of (a record without keep_values painted with 0)."""
        values = {key: value for key, value in record.items() if key != "values_method"}
        values.setdefault("keep_values", 0.0)
        return cls(**values)


def default_batch(device: torch.device) -> int:
    """Portraits per network call when none is asked for: 8 on a GPU, 1 on the CPU."""
    return 8 if device.type == "cuda" else 1


def to_tensor(rgb: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 -> (1, 3, H, W) float in 0..1."""
    return (
        torch.from_numpy(np.array(rgb, dtype=np.uint8, order="C", copy=True)).permute(2, 0, 1)[None].float().div_(255.0)
    )


def to_uint8(image: torch.Tensor, rows_per_step: int = 256) -> np.ndarray:
    """(1, 3, H, W) float in 0..1 -> (H, W, 3) uint8, rounded; ``rows_per_step`` rows at a time, so a
    big image needs no float copy of itself."""
    height, width = image.shape[-2:]
    out = np.empty((height, width, 3), dtype=np.uint8)
    for top in range(0, height, rows_per_step):
        rows = image[0, :, top : top + rows_per_step]
        out[top : top + rows_per_step] = (
            rows.clamp(0, 1).mul_(255.0).round_().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
        )
    return out


def working_size(height: int, width: int, scale: float) -> tuple[int, int]:
    """The (H, W) the network runs at for stroke size ``scale``."""
    return max(1, round(height / scale)), max(1, round(width / scale))


def resize_batch(batch: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(N, C, H, W) resized to ``size`` bilinearly, antialiased when it shrinks."""
    if tuple(batch.shape[-2:]) == size:
        return batch
    antialias = size[0] < batch.shape[-2] or size[1] < batch.shape[-1]
    return F.interpolate(batch, size=size, mode="bilinear", align_corners=False, antialias=antialias)


def keep_colours(styled: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """The style's lightness in the content's colours; both (N, 3, H, W) in 0..1.

    Lab: a and b (chroma) from ``content``; L from ``styled``, its mean and spread matched to the
    content's per image (as Gatys et al. 2016 match luminance statistics), so a dark face stays
    dark while the strokes and shading come from the style.
    """
    from kornia.color import lab_to_rgb, rgb_to_lab

    styled_l = rgb_to_lab(styled.clamp(0, 1))[:, :1]
    content_lab = rgb_to_lab(content)
    content_l = content_lab[:, :1]
    dims = (1, 2, 3)
    spread = content_l.std(dim=dims, keepdim=True) / styled_l.std(dim=dims, keepdim=True).clamp_min(1e-3)
    matched_l = (styled_l - styled_l.mean(dim=dims, keepdim=True)) * spread + content_l.mean(dim=dims, keepdim=True)
    return lab_to_rgb(torch.cat([matched_l.clamp(0, 100), content_lab[:, 1:]], dim=1), clip=True)


def keep_colours_in_place(styled: torch.Tensor, content: torch.Tensor, rows_per_step: int = 64) -> torch.Tensor:
    """:func:`keep_colours` written into ``styled``, ``rows_per_step`` rows at a time: for a big image,
    whose whole-image Lab conversion would need a dozen float copies of it. The same result up to the
    rounding of the lightness statistics, which are summed over the row blocks."""
    from kornia.color import lab_to_rgb, rgb_to_lab

    height = styled.shape[-2]
    steps = range(0, height, rows_per_step)
    sums = torch.zeros(4, styled.shape[0], dtype=torch.float64, device=styled.device)  # styled L, L^2; content
    for top in steps:
        styled_l = rgb_to_lab(styled[..., top : top + rows_per_step, :].clamp(0, 1))[:, 0].double()
        content_l = rgb_to_lab(content[..., top : top + rows_per_step, :])[:, 0].double()
        for index, values in enumerate((styled_l, styled_l**2, content_l, content_l**2)):
            sums[index] += values.sum(dim=(1, 2))
    count = height * styled.shape[-1]
    means = sums[0::2] / count
    stds = ((sums[1::2] - sums[0::2] ** 2 / count) / (count - 1)).clamp_min(0).sqrt()  # as torch.std
    spread = (stds[1] / stds[0].clamp_min(1e-3)).float()[:, None, None, None]
    styled_mean, content_mean = means[0].float()[:, None, None, None], means[1].float()[:, None, None, None]
    for top in steps:
        rows = styled[..., top : top + rows_per_step, :]
        styled_l = rgb_to_lab(rows.clamp(0, 1))[:, :1]
        content_lab = rgb_to_lab(content[..., top : top + rows_per_step, :])
        matched_l = (styled_l - styled_mean) * spread + content_mean
        rows.copy_(lab_to_rgb(torch.cat([matched_l.clamp(0, 100), content_lab[:, 1:]], dim=1), clip=True))
    return styled


@torch.inference_mode()
def stylize_batch(
    network: PaddedNet,
    content: torch.Tensor,
    settings: ApplySettings = ApplySettings(),
    *,
    tile_above: int = TILE_ABOVE,
) -> torch.Tensor:
    """Styled (N, 3, H, W) float in 0..1 for content of the same shape, on the content's device.

    A working image of more than ``tile_above`` pixels runs in tiles (:mod:`stylize.inference.tiling`:
    the same result in bounded memory); one larger than the content (a scale below 1) is never made
    whole, nor is the network's output at its size: each tile is resized from the content and back as it
    runs, so memory is the content's, not the working image's. The tiled result is clamped in place, as
    it is the only copy; an untiled network's output is copied (a network may return a view of its input)."""
    if settings.strength == 0.0:
        return content.clone()
    height, width = content.shape[-2:]
    size = working_size(height, width, settings.scale)
    tiled = needs_tiling(*size, tile_above) and isinstance(network, PaddedNet)
    # The value op runs on the frame an exported graph sees (stylize.inference.tone.keep_values): where the
    # network runs at the image's size, it takes the network's output over that frame, uncropped, as the
    # graph does; otherwise the output edge-padded.
    framed = settings.keep_values > 0 and size == (height, width)
    if tiled and size[0] * size[1] > height * width:
        assert isinstance(network, PaddedNet)
        with autocast(content.device, settings.precision):
            styled = run_network_resized(network, content, size, tile_above).float()
    else:
        working = resize_batch(content, size)
        with autocast(working.device, settings.precision):
            styled = run_network(network, layout(working), tile_above, framed=framed)
        styled = styled.float()
        del working
        if not framed:
            styled = resize_batch(styled, (height, width))
    styled = styled.clamp_(0, 1) if tiled else styled.clamp(0, 1)
    if settings.keep_values > 0:  # the portrait's values under the strokes (stylize.inference.tone)
        calibration = calibrate(network)
        cell = cell_for(settings.scale)
        if tiled:
            styled = keep_values_in_place(content, styled, settings.keep_values, calibration, cell)
        else:
            styled = keep_values(content, styled, settings.keep_values, calibration, cell)
    if settings.preserve_color:
        styled = keep_colours_in_place(styled, content) if tiled else keep_colours(styled, content)
    if settings.strength < 1.0:  # in place: the same values as content + strength * (styled - content)
        styled = styled.sub_(content).mul_(settings.strength).add_(content)
    return styled


@torch.inference_mode()
def stylize_rgb(
    network: PaddedNet, rgb: np.ndarray, device: torch.device | str = "cpu", settings: ApplySettings = ApplySettings()
) -> np.ndarray:
    """The styled (H, W, 3) uint8 image for an (H, W, 3) uint8 image, same size."""
    return to_uint8(stylize_batch(network, to_tensor(rgb).to(device), settings))
