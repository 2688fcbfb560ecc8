"""The device and precision choices, torch-free, so the config and the CLI can offer them without
importing torch. :mod:`stylize.nets.device` resolves and checks them."""

DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")
# The arithmetic of the networks: float32, or mixed precision (autocast to bfloat16 or float16; fp16
# needs a CUDA GPU, bf16 also runs on the CPU, where it is slower and only checks the path).
PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "fp16")
