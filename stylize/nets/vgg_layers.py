"""VGG19 layer names (torch-free, so the config can validate them without importing torch)."""

from __future__ import annotations

from collections.abc import Sequence

_BLOCKS = ((1, 2), (2, 2), (3, 4), (4, 4), (5, 4))
LAYER_ORDER: tuple[str, ...] = tuple(
    name
    for block, convs in _BLOCKS
    for conv in range(1, convs + 1)
    for name in (f"conv{block}_{conv}", f"relu{block}_{conv}")
)
RELU_LAYERS: tuple[str, ...] = tuple(name for name in LAYER_ORDER if name.startswith("relu"))
STYLE_LAYERS_DEFAULT: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
CONTENT_LAYER_DEFAULT = "relu4_2"


def loss_layers(style_layers: Sequence[str], content_layer: str) -> tuple[str, ...]:
    """The layers a perceptual loss reads: the style layers, then the content layer unless among them."""
    return tuple(dict.fromkeys((*style_layers, content_layer)))


# What ``stylize eval`` and the part-set gap measure with: the default style layers and content layer.
MEASURE_LAYERS: tuple[str, ...] = loss_layers(STYLE_LAYERS_DEFAULT, CONTENT_LAYER_DEFAULT)
