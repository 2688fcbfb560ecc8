"""Feed-forward style networks (Johnson et al. 2016 and smaller relatives for the game).

Two families, both fully convolutional (any input size works: edge-padded to a multiple of 4, at
least 16, and cropped back; ``core`` is the network on an already padded image, which is what
``stylize export`` writes to ONNX so the graph has no shape arithmetic):

- ``TransformerNet`` (johnson, small, tiny): reflection padding, instance norm, residual blocks at
  1/4 resolution, nearest-neighbour upsampling + conv (not transposed conv, which makes
  checkerboard artefacts), and an output conv that sees the input RGB beside the decoded features.
- ``NanoNet`` (nano): the network for the game, meant to be distilled from a trained style
  (``stylize distill``): a strided first layer, depthwise-separable residual blocks at 1/4
  resolution, resize-conv upsampling with depthwise-separable convs (only the last of them and the
  output conv run at full resolution), and the same input skip into the output conv. Every operator is one
  that OpenCV 4.6's DNN module takes (no pixel shuffle, whose dynamic-shape form it refuses).

Each named architecture fixes the sizes and carries a version; the model file records both, so a
file is either loaded into exactly the network it was trained as, or refused.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from stylize.errors import StylizeError
from stylize.nets.archs import ARCH_NAMES
from stylize.nets.magenta import MagentaNet, MagentaSpec
from stylize.nets.padded import PaddedNet, padding_for  # noqa: F401 (re-exported: the families' base)


@dataclass(frozen=True)
class ArchSpec:
    name: str
    version: int
    width: int  # channels of the first conv; doubled at each of the two downsamplings
    res_blocks: int
    outer_kernel: int  # kernel of the first and last conv
    description: str

    def to_json(self) -> dict[str, object]:
        return asdict(self)

    def build(self) -> TransformerNet:
        return TransformerNet(self)


@dataclass(frozen=True)
class NanoSpec:
    name: str
    version: int
    family: str  # "nano": tells this spec from a TransformerNet's in model.json
    width: int  # channels at 1/2 resolution; 2*width at 1/4
    res_blocks: int  # depthwise-separable residual blocks at 1/4 resolution
    description: str

    def to_json(self) -> dict[str, object]:
        return asdict(self)

    def build(self) -> NanoNet:
        return NanoNet(self)


def _magenta_spec() -> MagentaSpec:
    return MagentaSpec(
        "magenta",
        1,
        "magenta",
        (8, 16, 32),
        5,
        "Ghiasi et al. 2017 transformer (Magenta, lite) with one style in its norms "
        "(~110k params; default for trained styles, starts from the zero-training style)",
    )


ARCHITECTURES: dict[str, ArchSpec | NanoSpec | MagentaSpec] = {
    spec.name: spec
    for spec in (
        ArchSpec("johnson", 1, 32, 5, 9, "Johnson et al. 2016 transformer (quality reference, ~1.7M params)"),
        ArchSpec("small", 1, 16, 3, 9, "half width, 3 residual blocks (~0.3M params; default for bundled styles)"),
        ArchSpec("tiny", 1, 8, 2, 5, "quarter width, 2 residual blocks, 5x5 outer kernels (~50k params)"),
        NanoSpec(
            "nano",
            1,
            "nano",
            16,
            4,
            "strided input, depthwise-separable blocks at 1/4 resolution "
            "(~19k params; for the game, distilled from a trained style)",
        ),
        _magenta_spec(),
    )
}
assert tuple(ARCHITECTURES) == ARCH_NAMES, "stylize/nets/archs.py ARCH_NAMES must list the registry's architectures"


def arch_spec(name: str) -> ArchSpec | NanoSpec | MagentaSpec:
    if name not in ARCHITECTURES:
        raise StylizeError(f"architecture {name!r} is not known; use one of: {', '.join(ARCHITECTURES)}")
    return ARCHITECTURES[name]


class ConvLayer(nn.Sequential):
    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, norm: bool = True, relu: bool = True):
        layers: list[nn.Module] = [nn.ReflectionPad2d(kernel // 2), nn.Conv2d(cin, cout, kernel, stride)]
        if norm:
            layers.append(nn.InstanceNorm2d(cout, affine=True))
        if relu:
            layers.append(nn.ReLU())
        super().__init__(*layers)


class ResidualBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(ConvLayer(channels, channels, 3), ConvLayer(channels, channels, 3, relu=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class UpsampleConv(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = ConvLayer(cin, cout, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


class TransformerNet(PaddedNet):
    """The Johnson et al. 2016 family."""

    def __init__(self, spec: ArchSpec) -> None:
        super().__init__()
        self.spec = spec
        w, k = spec.width, spec.outer_kernel
        self.encoder = nn.Sequential(ConvLayer(3, w, k), ConvLayer(w, 2 * w, 3, 2), ConvLayer(2 * w, 4 * w, 3, 2))
        self.residuals = nn.Sequential(*[ResidualBlock(4 * w) for _ in range(spec.res_blocks)])
        self.decoder = nn.Sequential(UpsampleConv(4 * w, 2 * w), UpsampleConv(2 * w, w))
        # The output conv also sees the input itself: instance norm discards each image's absolute
        # colour and brightness, and this skip gives them back (a network that must keep a face's
        # colours, or reproduce it exactly for the warm-start base, needs them).
        self.output = ConvLayer(w + 3, 3, k, norm=False, relu=False)

    def core(self, x: torch.Tensor) -> torch.Tensor:
        features = self.decoder(self.residuals(self.encoder(x)))
        return torch.sigmoid(self.output(torch.cat([features, x], dim=1)))


class SeparableConv(nn.Sequential):
    """Depthwise 3x3 (reflection-padded) then pointwise 1x1, instance norm, optional ReLU."""

    def __init__(self, cin: int, cout: int, relu: bool = True) -> None:
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(1),
            nn.Conv2d(cin, cin, 3, groups=cin),
            nn.Conv2d(cin, cout, 1),
            nn.InstanceNorm2d(cout, affine=True),
        ]
        if relu:
            layers.append(nn.ReLU())
        super().__init__(*layers)


class SeparableResidual(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(SeparableConv(channels, channels), SeparableConv(channels, channels, relu=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class NanoNet(PaddedNet):
    """The game's network: most work at 1/2 and 1/4 resolution, a thin full-resolution decoder."""

    def __init__(self, spec: NanoSpec) -> None:
        super().__init__()
        self.spec = spec
        w = spec.width
        self.encoder = nn.Sequential(ConvLayer(3, w, 3, 2), ConvLayer(w, 2 * w, 3, 2))
        self.residuals = nn.Sequential(*[SeparableResidual(2 * w) for _ in range(spec.res_blocks)])
        self.up_half = SeparableConv(2 * w, w)
        self.up_full = SeparableConv(w, w)
        self.output = ConvLayer(w + 3, 3, 3, norm=False, relu=False)

    def core(self, x: torch.Tensor) -> torch.Tensor:
        features = self.residuals(self.encoder(x))
        features = self.up_half(F.interpolate(features, scale_factor=2, mode="nearest"))
        features = self.up_full(F.interpolate(features, scale_factor=2, mode="nearest"))
        return torch.sigmoid(self.output(torch.cat([features, x], dim=1)))


StyleNetwork = TransformerNet | NanoNet | MagentaNet


def build_network(name: str) -> PaddedNet:
    return arch_spec(name).build()


def count_parameters(network: nn.Module) -> int:
    return sum(p.numel() for p in network.parameters())
