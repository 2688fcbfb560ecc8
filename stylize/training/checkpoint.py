"""Training checkpoints: network + Adam state as safetensors, progress as JSON, written atomically.

The JSON is written last and records the SHA-256 of the tensors file, so a checkpoint torn by a
crash between the two writes is detected and refused rather than half-loaded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import save as save_safetensors_bytes

from stylize.errors import StylizeError
from stylize.files import sha256_bytes
from stylize.imageio import atomic_write_bytes, atomic_write_text

TENSORS_NAME = "checkpoint.safetensors"
STATE_NAME = "checkpoint.json"


def save_checkpoint(
    folder: Path, network: torch.nn.Module, optimizer: torch.optim.Optimizer, progress: dict[str, Any]
) -> None:
    tensors = {f"net.{k}": v.detach().cpu().contiguous() for k, v in network.state_dict().items()}
    opt_state = optimizer.state_dict()
    for index, values in opt_state["state"].items():
        for key, value in values.items():
            tensors[f"opt.{index}.{key}"] = torch.as_tensor(value).detach().cpu().contiguous()
    data = save_safetensors_bytes(tensors)
    atomic_write_bytes(folder / TENSORS_NAME, data)
    state = {**progress, "param_groups": opt_state["param_groups"], "tensors_sha256": sha256_bytes(data)}
    atomic_write_text(folder / STATE_NAME, json.dumps(state, indent=1) + "\n")


def load_checkpoint(folder: Path, network: torch.nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    state_path, tensors_path = folder / STATE_NAME, folder / TENSORS_NAME
    if not state_path.is_file() or not tensors_path.is_file():
        raise StylizeError(
            f"{folder}: no checkpoint to resume; start the training without resume=True", params=("resume",)
        )
    try:
        state = json.loads(state_path.read_text(encoding="utf-8"))
        data = tensors_path.read_bytes()
        if sha256_bytes(data) != state.get("tensors_sha256"):
            raise StylizeError(
                f"{tensors_path}: checkpoint is torn (hash differs from {STATE_NAME}); start again without resume=True",
                params=("resume",),
            )
        tensors = load_safetensors_bytes(data)
    except (json.JSONDecodeError, UnicodeDecodeError, SafetensorError) as err:
        raise StylizeError(
            f"{folder}: checkpoint is damaged ({err}); start again without resume=True", params=("resume",)
        ) from err
    network.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("net.")})
    opt_state: dict[str, Any] = {"state": {}, "param_groups": state["param_groups"]}
    for key, value in tensors.items():
        if key.startswith("opt."):
            _, index, name = key.split(".", 2)
            opt_state["state"].setdefault(int(index), {})[name] = value
    optimizer.load_state_dict(opt_state)
    return state
