"""Choosing the torch device."""

from __future__ import annotations

import torch

from stylize.config import DEVICES as DEVICE_CHOICES
from stylize.errors import StylizeError


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
