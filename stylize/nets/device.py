"""Choosing the torch device, and how networks run on it: the precision (autocast) and the memory
layout (channels-last on a GPU, where convolutions want it)."""

from __future__ import annotations

import contextlib
from typing import Any

import torch

from stylize.errors import StylizeError
from stylize.nets.device_names import DEVICES as DEVICE_CHOICES
from stylize.nets.device_names import PRECISIONS

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(choice: str) -> torch.device:
    if choice not in DEVICE_CHOICES:
        raise StylizeError(
            f"device={choice!r} is not allowed; use one of: {', '.join(DEVICE_CHOICES)}", params=("device",)
        )
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if choice == "cuda" and not torch.cuda.is_available():
        raise StylizeError(
            "device 'cuda' was asked for but torch sees no CUDA GPU; use device=cpu or device=auto", params=("device",)
        )
    return torch.device(choice)


def check_precision(precision: str, device: torch.device) -> str:
    """``precision`` if it can run on ``device``; fp16 autocast needs a CUDA GPU."""
    if precision not in PRECISIONS:
        raise StylizeError(
            f"precision={precision!r} is not allowed; use one of: {', '.join(PRECISIONS)}", params=("precision",)
        )
    if precision == "fp16" and device.type != "cuda":
        raise StylizeError(
            f"precision=fp16 needs a CUDA GPU (the device is {device.type}); use precision=bf16 or fp32 on the CPU",
            params=("precision", "device"),
        )
    return precision


def autocast(device: torch.device, precision: str) -> Any:
    """The autocast context for ``precision`` on ``device`` (nothing for fp32)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=_DTYPES[precision])


def place(network: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """``network`` on ``device``; channels-last on a GPU (the layout its convolutions run fastest in)."""
    network = network.to(device)
    if device.type == "cuda":
        network = network.to(memory_format=torch.channels_last)
    return network


def layout(batch: torch.Tensor) -> torch.Tensor:
    """``batch`` in the layout :func:`place` gives networks on its device."""
    return batch.contiguous(memory_format=torch.channels_last) if batch.is_cuda else batch
