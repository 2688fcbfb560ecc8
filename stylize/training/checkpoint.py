"""Training checkpoints: network + Adam state as safetensors, progress as JSON, written atomically.

The JSON is written last and records the SHA-256 of the tensors file, so a checkpoint torn by a
crash between the two writes is detected and refused rather than half-loaded. A checkpoint is
*resumable* (:func:`resumable`) when both files are there and agree; anything less (a run killed
before its first checkpoint, a torn or damaged one) is no checkpoint at all, so a run without
``resume=True`` starts over in its place and a run with it is told there is nothing to resume.
Non-finite weights are never written (a diverged run) and never read (:func:`check_weights`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import save as save_safetensors_bytes

from stylize import signals
from stylize.errors import StylizeError, cut
from stylize.files import parse_json, sha256_bytes, write_json
from stylize.imageio import atomic_write_bytes
from stylize.inference.model_file import MAX_WEIGHTS_BYTES, ModelFileError, check_weights

TENSORS_NAME = "checkpoint.safetensors"
STATE_NAME = "checkpoint.json"
MAX_STATE_BYTES = 64 << 20  # progress, loss history and fingerprint: about 1 MB for a day's run
MAX_TENSORS_BYTES = 4 * MAX_WEIGHTS_BYTES  # the network and Adam's two moments, with room


def save_checkpoint(
    folder: Path, network: torch.nn.Module, optimizer: torch.optim.Optimizer, progress: dict[str, Any]
) -> None:
    tensors = {f"net.{k}": v.detach().cpu().contiguous() for k, v in network.state_dict().items()}
    opt_state = optimizer.state_dict()
    for index, values in opt_state["state"].items():
        for key, value in values.items():
            tensors[f"opt.{index}.{key}"] = torch.as_tensor(value).detach().cpu().contiguous()
    check_weights(
        tensors,
        folder / TENSORS_NAME,
        "the training diverged: the last checkpoint is kept; lower learning_rate=X and start over with overwrite=True",
        params=("learning_rate", "overwrite"),
    )
    data = save_safetensors_bytes(tensors)
    state = {**progress, "param_groups": opt_state["param_groups"], "tensors_sha256": sha256_bytes(data)}
    with signals.held():  # a Ctrl-C waits for both files: a whole checkpoint is never replaced by a torn one
        atomic_write_bytes(folder / TENSORS_NAME, data)
        write_json(folder / STATE_NAME, state, indent=1)


class CheckpointError(StylizeError):
    """A checkpoint is missing, torn or damaged: there is nothing to resume."""


def _read(path: Path, limit: int) -> bytes:
    """``path``'s bytes, refused when it is no regular file or larger than ``limit`` (checked before reading)."""
    if not path.is_file():
        raise CheckpointError(f"{path}: not found")
    size = path.stat().st_size
    if size > limit:
        raise CheckpointError(f"{path}: {size} bytes, more than a checkpoint holds")
    with open(path, "rb") as stream:
        return stream.read(limit + 1)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_seconds(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0


def read_checkpoint(folder: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """The progress and tensors of the checkpoint in ``folder``; :class:`CheckpointError` (naming the
    file and what is wrong) when it is missing, torn or damaged."""
    state_path, tensors_path = folder / STATE_NAME, folder / TENSORS_NAME
    try:
        state = parse_json(_read(state_path, MAX_STATE_BYTES).decode("utf-8"))
    except (OSError, ValueError) as err:  # UnicodeDecodeError is a ValueError
        raise CheckpointError(f"{state_path}: damaged ({cut(str(err), 120)})") from err
    if not isinstance(state, dict):
        raise CheckpointError(f"{state_path}: damaged (not a table)")
    fields = {
        "step": _is_count(state.get("step")),
        "elapsed": _is_seconds(state.get("elapsed")),
        "loop_seconds": "loop_seconds" not in state or _is_seconds(state["loop_seconds"]),
        "history": isinstance(state.get("history"), list),
        "fingerprint": isinstance(state.get("fingerprint"), dict),
        "param_groups": isinstance(state.get("param_groups"), list)
        and all(isinstance(group, dict) for group in state["param_groups"]),
        "tensors_sha256": isinstance(state.get("tensors_sha256"), str),
    }
    bad = [name for name, ok in fields.items() if not ok]
    if bad:
        raise CheckpointError(f"{state_path}: damaged ({bad[0]} is missing or of the wrong type)")
    try:
        data = _read(tensors_path, MAX_TENSORS_BYTES)
    except OSError as err:
        raise CheckpointError(f"{tensors_path}: cannot read ({err.strerror})") from err
    if sha256_bytes(data) != state["tensors_sha256"]:
        raise CheckpointError(f"{tensors_path}: torn (its hash differs from {STATE_NAME})")
    try:
        tensors = load_safetensors_bytes(data)
        check_weights(tensors, tensors_path, "it cannot be resumed")
    except (SafetensorError, ValueError) as err:
        raise CheckpointError(f"{tensors_path}: damaged ({cut(str(err), 120)})") from err
    except ModelFileError as err:  # not float32, or NaN: nothing a run of stylize writes
        raise CheckpointError(str(err)) from err
    return state, tensors


def checkpoint_fingerprint(folder: Path) -> dict[str, Any] | None:
    """The settings fingerprint the checkpoint in ``folder`` records, read from its progress file alone;
    ``None`` when there is none or it is unreadable (resuming then says what is wrong)."""
    try:
        state = parse_json(_read(folder / STATE_NAME, MAX_STATE_BYTES).decode("utf-8"))
    except (OSError, ValueError, CheckpointError):
        return None
    fingerprint = state.get("fingerprint") if isinstance(state, dict) else None
    return fingerprint if isinstance(fingerprint, dict) else None


def resumable(folder: Path) -> bool:
    """Whether ``folder`` holds a whole checkpoint (both files, agreeing): what ``resume=True`` continues."""
    try:
        read_checkpoint(folder)
    except CheckpointError:
        return False
    return True


def load_checkpoint(
    folder: Path, network: torch.nn.Module, optimizer: torch.optim.Optimizer, fingerprint: dict[str, Any]
) -> dict[str, Any]:
    """Load the checkpoint in ``folder`` into ``network`` and ``optimizer`` when it was made with the
    settings ``fingerprint`` records; returns its progress."""
    state, tensors = checked_checkpoint(folder, fingerprint)
    apply_checkpoint(folder, network, optimizer, state, tensors)
    return state


def checked_checkpoint(folder: Path, fingerprint: dict[str, Any]) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """The progress and tensors of the checkpoint in ``folder``, refused with one line when there is
    none or it was made with settings other than ``fingerprint`` (a data-parallel run's rank 0 reads
    it and sends it to the other ranks)."""
    try:
        state, tensors = read_checkpoint(folder)
    except CheckpointError as err:
        raise StylizeError(
            f"nothing to resume: {err}; start without resume=True (it starts over in its place)", params=("resume",)
        ) from None
    if state["fingerprint"] != fingerprint:
        theirs = state["fingerprint"]
        differing = sorted(k for k in set(theirs) | set(fingerprint) if theirs.get(k) != fingerprint.get(k))
        raise StylizeError(
            f"{folder}: the checkpoint was made with other settings ({cut(', '.join(differing))} differ); {_AGAIN}",
            params=("resume",),
        )
    return state, tensors


_AGAIN = "rerun with the same settings, or without resume=True to start over"


def apply_checkpoint(
    folder: Path,
    network: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    state: dict[str, Any],
    tensors: dict[str, torch.Tensor],
) -> None:
    """Put a checkpoint's tensors (of :func:`checked_checkpoint`) into ``network`` and ``optimizer``."""
    opt_state: dict[str, Any] = {"state": {}, "param_groups": state["param_groups"]}
    try:
        network.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("net.")})
        for key, value in tensors.items():
            if key.startswith("opt."):
                _, index, name = key.split(".", 2)
                opt_state["state"].setdefault(int(index), {})[name] = value
        optimizer.load_state_dict(opt_state)
    except (RuntimeError, ValueError, KeyError, TypeError) as err:
        raise StylizeError(
            f"{folder / TENSORS_NAME}: the checkpoint does not fit the network ({cut(str(err), 120)}); {_AGAIN}",
            params=("resume",),
        ) from err
