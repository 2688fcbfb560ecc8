"""The Ghiasi et al. 2017 transformer with one style fixed in its normalisation parameters.

Magenta's arbitrary-style transformer (the network of zero-training styles, see
:mod:`stylize.inference.arbitrary`) takes each conditional instance norm's scale and shift from a
style vector. With the vector fixed, those become ordinary per-channel parameters (Dumoulin et al.
2017: a style *is* its normalisation parameters), and the network is a plain feed-forward style
network like :class:`stylize.nets.transformer.TransformerNet`: trained styles start from it, so their
first step already paints the reference's zero-training look, and training only has to improve on
it (faces, stroke statistics). Every operator is a convolution, reflection padding, instance norm,
ReLU, nearest upsampling or sigmoid, so it exports to ONNX and OpenCV like the other families.

Layout (the "lite" Magenta network): a 9x9 convolution and two strided 3x3 ones (no normalisation),
five residual blocks at 1/4 resolution, two resize-convolutions and a 9x9 output convolution, each of
the last eight stages with instance norm.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from stylize.nets.padded import PaddedNet

NORM_EPS = 1e-5  # the pretrained graph's


@dataclass(frozen=True)
class MagentaSpec:
    name: str
    version: int
    family: str  # "magenta": tells this spec from the other families' in model.json
    widths: tuple[int, int, int]  # channels at full, 1/2 and 1/4 resolution
    res_blocks: int
    description: str

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        data["widths"] = list(self.widths)
        return data

    def build(self) -> MagentaNet:
        return MagentaNet(self)


def _conv(cin: int, cout: int, kernel: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.ReflectionPad2d(kernel // 2), nn.Conv2d(cin, cout, kernel, stride))


class _NormConv(nn.Module):
    """(optional 2x nearest upsampling) -> reflection-padded conv -> instance norm (affine)."""

    def __init__(self, cin: int, cout: int, kernel: int, upsample: bool = False) -> None:
        super().__init__()
        self.upsample = upsample
        self.conv = _conv(cin, cout, kernel)
        self.norm = nn.InstanceNorm2d(cout, affine=True, eps=NORM_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        return self.norm(self.conv(x))


class _Residual(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.first = _NormConv(channels, channels, 3)
        self.second = _NormConv(channels, channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.second(torch.relu(self.first(x)))


class MagentaNet(PaddedNet):
    def __init__(self, spec: MagentaSpec) -> None:
        super().__init__()
        self.spec = spec
        full, half, quarter = spec.widths
        self.contract = nn.ModuleList([_conv(3, full, 9), _conv(full, half, 3, 2), _conv(half, quarter, 3, 2)])
        self.residuals = nn.Sequential(*[_Residual(quarter) for _ in range(spec.res_blocks)])
        self.expand = nn.ModuleList(
            [_NormConv(quarter, half, 3, upsample=True), _NormConv(half, full, 3, upsample=True), _NormConv(full, 3, 9)]
        )

    def core(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.contract:
            x = torch.relu(layer(x))
        x = self.residuals(x)
        x = torch.relu(self.expand[0](x))
        x = torch.relu(self.expand[1](x))
        return torch.sigmoid(self.expand[2](x))

    def norms(self) -> list[nn.InstanceNorm2d]:
        """The instance norms in the pretrained graph's order: residual1..5 (conv1, conv2), expand conv1..3."""
        layers: list[nn.InstanceNorm2d] = []
        for block in self.residuals:
            layers += [block.first.norm, block.second.norm]  # type: ignore[union-attr]
        return layers + [stage.norm for stage in self.expand]  # type: ignore[misc]

    def convs(self) -> list[nn.Conv2d]:
        """The convolutions in the pretrained graph's order: contract conv1..3, residuals, expand conv1..3."""
        layers = [stage[1] for stage in self.contract]
        for block in self.residuals:
            layers += [block.first.conv[1], block.second.conv[1]]  # type: ignore[index]
        return layers + [stage.conv[1] for stage in self.expand]  # type: ignore[misc]
