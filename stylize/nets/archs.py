"""The names of the style-network architectures, torch-free, so the config and the CLI can offer them
without importing torch. :mod:`stylize.nets.transformer`'s registry holds exactly these, in this order."""

ARCH_NAMES: tuple[str, ...] = ("johnson", "small", "tiny", "nano", "magenta")
