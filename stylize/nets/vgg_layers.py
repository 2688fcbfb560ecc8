"""VGG19 layer names (torch-free, so the config can validate them without importing torch)."""

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
