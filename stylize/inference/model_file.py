"""Style model files: ``model.safetensors`` (weights) + ``model.json`` (readable metadata).

Loading never executes code from either file: safetensors holds plain tensors and the JSON is
parsed as data. Before a network is built the metadata is checked (format, version, known
architecture), the weights' SHA-256 is compared with the one recorded, and every tensor name and
shape must be exactly those of the recorded architecture. A truncated, mismatched or foreign file is
refused with one line naming it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import save as save_safetensors_bytes

from stylize.errors import StylizeError
from stylize.files import sha256_bytes, sha256_file  # noqa: F401 (sha256_file: part of this module's API)
from stylize.imageio import atomic_write_bytes, atomic_write_text
from stylize.nets.transformer import ARCHITECTURES, PaddedNet, arch_spec

FORMAT = "stylize-style"
FORMAT_VERSION = 1
WEIGHTS_NAME = "model.safetensors"
METADATA_NAME = "model.json"


class ModelFileError(StylizeError):
    """A model file is missing, truncated, mismatched or not a stylize model."""


@dataclass
class StyleModel:
    """A loaded style: the network (eval mode) and its metadata."""

    name: str
    network: torch.nn.Module  # a PaddedNet, or a ReferenceNet for a zero-training style
    metadata: dict[str, Any]
    directory: Path | None

    @property
    def weights_sha256(self) -> str:
        return str(self.metadata["weights_sha256"])


def reference_files(model: StyleModel) -> list[Path]:
    """The style's own copies of its reference images (``refs/`` in its folder)."""
    base = model.directory if model.directory is not None else Path()  # in-memory styles record full paths
    return [base / record["file"] for record in model.metadata.get("references", [])]


def measured_references(model: StyleModel, references: Sequence[Path] | None = None) -> list[Path]:
    """The reference images to measure ``model``'s style against: ``references``, else its own; refused
    when there are none (a base network records none)."""
    refs = list(references) if references is not None else reference_files(model)
    if not refs:
        raise StylizeError(
            f"{model.directory}: {model.name!r} records no style references (a base network?), so "
            "there is no style to measure against; use a style made by stylize train"
        )
    return refs


def state_to_bytes(network: torch.nn.Module) -> bytes:
    state = {key: value.detach().to("cpu", torch.float32).contiguous() for key, value in network.state_dict().items()}
    # One metadata key only: safetensors stores metadata in a hash map, so several keys would be
    # written in a random order and the same weights would not always give the same bytes.
    return save_safetensors_bytes(state, metadata={"format": f"{FORMAT}/{FORMAT_VERSION}"})


def save_model(directory: str | os.PathLike[str], network: PaddedNet, metadata: dict[str, Any]) -> Path:
    """Write ``model.safetensors`` then ``model.json`` (which records the weights' hash) atomically."""
    folder = Path(directory)
    weights = state_to_bytes(network)
    full = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        **metadata,
        "architecture": network.spec.to_json(),
        "parameters": sum(p.numel() for p in network.parameters()),
        "weights_file": WEIGHTS_NAME,
        "weights_sha256": sha256_bytes(weights),
        "weights_bytes": len(weights),
    }
    atomic_write_bytes(folder / WEIGHTS_NAME, weights)
    atomic_write_text(folder / METADATA_NAME, json.dumps(full, indent=2, sort_keys=False) + "\n")
    return folder


def read_metadata(directory: str | os.PathLike[str]) -> dict[str, Any]:
    folder = Path(directory)
    meta_path = folder / METADATA_NAME
    if not meta_path.is_file():
        raise ModelFileError(
            f"{meta_path}: model metadata not found; train style {folder.name!r} first (stylize train, or stylize.train)"
        )
    try:
        metadata = json.loads(meta_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ModelFileError(
            f"{meta_path}: not readable JSON ({err}); the file is damaged, retrain or restore it"
        ) from err
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise ModelFileError(
            f"{meta_path}: not a stylize style model (format is not {FORMAT!r}); point at a folder made by stylize train"
        )
    version = metadata.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelFileError(
            f"{meta_path}: model format version {version!r}, this stylize reads version {FORMAT_VERSION}; "
            "retrain the style or use the stylize version that made it"
        )
    return metadata


def _structure(arch: dict[str, Any]) -> dict[str, Any]:
    """An architecture record without its description: what the weights depend on."""
    return {key: value for key, value in arch.items() if key != "description"}


def _network_for(metadata: dict[str, Any], meta_path: Path) -> PaddedNet:
    arch = metadata.get("architecture")
    if not isinstance(arch, dict) or arch.get("name") not in ARCHITECTURES:
        name = arch.get("name") if isinstance(arch, dict) else arch
        raise ModelFileError(f"{meta_path}: unknown architecture {name!r}; known: {', '.join(ARCHITECTURES)}")
    spec = arch_spec(str(arch["name"]))
    if _structure(spec.to_json()) != _structure(arch):  # the prose description may change between versions
        raise ModelFileError(
            f"{meta_path}: architecture {arch} differs from this stylize's {spec.name} v{spec.version} "
            f"({spec.to_json()}); retrain the style with this version"
        )
    return spec.build()


def read_weights(weights_path: Path, metadata: dict[str, Any], redo: str) -> dict[str, torch.Tensor]:
    """The tensors of ``weights_path``, refused unless its SHA-256 is the one ``metadata`` records.

    ``redo`` is how the user remakes the style ("retrain", "remake"), for the messages."""
    if not weights_path.is_file():
        raise ModelFileError(f"{weights_path}: weights file not found; {redo} the style or restore the file")
    data = weights_path.read_bytes()
    if sha256_bytes(data) != metadata.get("weights_sha256"):
        raise ModelFileError(
            f"{weights_path}: weights do not match {METADATA_NAME} (SHA-256 differs: truncated, replaced or "
            f"from another model); {redo} the style or restore both files together"
        )
    try:
        return load_safetensors_bytes(data)
    except (SafetensorError, ValueError, OSError) as err:
        raise ModelFileError(f"{weights_path}: not a readable safetensors file ({err}); {redo} the style") from err


def load_model(directory: str | os.PathLike[str], *, name: str | None = None) -> StyleModel:
    """Load and verify a style from ``directory`` (holding model.json and model.safetensors)."""
    folder = Path(directory)
    metadata = read_metadata(folder)
    meta_path = folder / METADATA_NAME
    weights_path = folder / str(metadata.get("weights_file", WEIGHTS_NAME))
    state = read_weights(weights_path, metadata, "retrain")
    network = _network_for(metadata, meta_path)
    expected = {key: tuple(value.shape) for key, value in network.state_dict().items()}
    found = {key: tuple(value.shape) for key, value in state.items()}
    if expected != found:
        missing = sorted(set(expected) - set(found))
        extra = sorted(set(found) - set(expected))
        wrong = sorted(k for k in set(expected) & set(found) if expected[k] != found[k])
        detail = (
            f"missing {missing[0]}"
            if missing
            else f"unexpected {extra[0]}"
            if extra
            else f"{wrong[0]} has shape {found[wrong[0]]}, expected {expected[wrong[0]]}"
        )
        raise ModelFileError(
            f"{weights_path}: tensors do not fit architecture {network.spec.name} ({detail}); retrain the style"
        )
    network.load_state_dict(state)
    network.eval()
    return StyleModel(name or str(metadata.get("name", folder.name)), network, metadata, folder)
