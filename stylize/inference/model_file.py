"""Style model files: ``model.safetensors`` (weights) + ``model.json`` (readable metadata).

Loading never executes code from either file: safetensors holds plain tensors and the JSON is
parsed as data (:func:`stylize.files.parse_json`: no huge numbers, deep nesting or NaN). Before a
network is built the metadata is checked (format, version, the type of every field something reads,
known architecture); ``weights_file`` must name a file in the style's own folder (no path, no symlink
out of it) whose size is the one recorded and at most :data:`MAX_WEIGHTS_BYTES`, checked before it is
read; the weights' SHA-256 is compared with the one recorded; every tensor must be float32 and finite
(:func:`check_weights`, shared by every reader and writer of weights), and every tensor name and shape
exactly those of the recorded architecture. Every other file whose SHA-256 ``model.json`` records (each
reference image in ``refs/``) must be there with that hash (:func:`check_recorded_files`). A
truncated, mismatched, replaced, foreign or diverged file is refused with one line naming it.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import save as save_safetensors_bytes

from stylize.errors import StylizeError, cut, shown
from stylize.files import parse_json, sha256_bytes, sha256_file, write_json
from stylize.imageio import atomic_write_bytes
from stylize.inference.tone import ToneCalibration, attach, identify
from stylize.nets.transformer import ARCHITECTURES, PaddedNet, arch_spec

FORMAT = "stylize-style"
FORMAT_VERSION = 1
WEIGHTS_NAME = "model.safetensors"
METADATA_NAME = "model.json"
MAX_WEIGHTS_BYTES = 256 << 20  # johnson, the largest network stylize trains, is 7 MB
MAX_METADATA_BYTES = 16 << 20  # a model.json with its loss history is about 10 KB
MAX_REFERENCE_BYTES = 1 << 30  # a reference image is hashed on every load: no multi-gigabyte file
DIVERGED = "a diverged training saves NaN weights"
_SHA256 = re.compile(r"[0-9a-f]{64}")
# The [train] settings of model.json's "training" that distill, eval and the ceiling read back; each is
# checked with its schema kind (stylize.config.SCHEMA) when present.
TRAINING_KEYS = (
    "style_weight",
    "content_weight",
    "tv_weight",
    "style_scale",
    "style_layers",
    "content_layer",
    "loss_network",
    "content",
)


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

    @property
    def style_sha256(self) -> str:
        """What the style paints depends on, as one hash (:func:`style_sha256`): what apply keys outputs on."""
        return style_sha256(self.metadata)


def _plain_numbers(value: Any) -> Any:
    """``value`` with every number (not bool) as a float: 1 and 1.0 in a hand-edited model.json are one setting."""
    if isinstance(value, dict):
        return {key: _plain_numbers(item) for key, item in value.items()}
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return value


def attach_values(network: torch.nn.Module, metadata: dict[str, Any], meta_path: Path) -> None:
    """The network's tonal key from model.json's ``values`` (:mod:`stylize.inference.tone`), checked and
    attached; without it, or made by another method, it is measured at the network's first use (once a
    process for the same network: :func:`network_sha256` names it)."""
    identify(network, network_sha256(metadata))
    if "values" not in metadata:
        return
    try:
        calibration = ToneCalibration.from_record(metadata["values"], str(meta_path))
    except StylizeError as err:
        raise ModelFileError(str(err)) from None
    if calibration is not None:
        attach(network, calibration)


def _network_key(metadata: dict[str, Any]) -> dict[str, Any]:
    arch = metadata.get("architecture")
    return {
        "weights_sha256": metadata.get("weights_sha256"),
        "kind": metadata.get("kind"),
        "architecture": _plain_numbers(_structure(arch) if isinstance(arch, dict) else arch),
        "guard": _plain_numbers(metadata.get("guard")),
    }


def _key_sha256(key: dict[str, Any]) -> str:
    return sha256_bytes(json.dumps(key, sort_keys=True, separators=(",", ":")).encode("utf-8"))


def network_sha256(metadata: dict[str, Any]) -> str:
    """SHA-256 of everything in ``model.json`` that changes what the style's network computes: the
    weights' hash, the kind, the architecture (its structure) and the face guard of a zero-training style
    (:func:`style_sha256` without the tonal key)."""
    return _key_sha256(_network_key(metadata))


def style_sha256(metadata: dict[str, Any]) -> str:
    """SHA-256 of everything in ``model.json`` that changes what a style paints: the weights' hash, the
    kind, the architecture (its structure, not its description) and the face guard of a zero-training
    style; not its history (losses, timings, training settings, references). An output made with another
    value of any of them is stale."""
    key = _network_key(metadata)
    if "values" in metadata:  # the tonal key keep_values paints with (a style made before it has none)
        key["values"] = _plain_numbers(metadata["values"])
    return _key_sha256(key)


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


def check_weights(tensors: Mapping[str, torch.Tensor], path: Path, fix: str, *, params: Sequence[str] = ()) -> None:
    """Refuse ``tensors`` (read from or written to ``path``) unless every one is float32 and finite:
    a diverged training gives NaN weights (all-black images), foreign int8 weights a flat grey. Every
    place that loads or saves weights calls this; ``fix`` ends the line (what the user does)."""
    for name, tensor in tensors.items():
        if tensor.dtype != torch.float32:
            dtype = str(tensor.dtype).removeprefix("torch.")
            raise ModelFileError(
                f"{path}: tensor {shown(name)} is {dtype}, and stylize weights are float32 only; {fix}", params=params
            )
        if not bool(torch.isfinite(tensor).all()):
            raise ModelFileError(
                f"{path}: tensor {shown(name)} holds NaN or infinity ({DIVERGED}); {fix}", params=params
            )


def state_to_bytes(network: torch.nn.Module, path: Path | None = None) -> bytes:
    """The network's weights as safetensors bytes, refused when any is NaN or infinite (``path`` names
    where they were to go)."""
    state = {key: value.detach().to("cpu", torch.float32).contiguous() for key, value in network.state_dict().items()}
    check_weights(
        state,
        path or Path(WEIGHTS_NAME),
        "the training diverged: nothing is saved; lower learning_rate=X and start over with overwrite=True",
        params=("learning_rate", "overwrite"),
    )
    # One metadata key only: safetensors stores metadata in a hash map, so several keys would be
    # written in a random order and the same weights would not always give the same bytes.
    return save_safetensors_bytes(state, metadata={"format": f"{FORMAT}/{FORMAT_VERSION}"})


def save_model(directory: str | os.PathLike[str], network: PaddedNet, metadata: dict[str, Any]) -> Path:
    """Write ``model.safetensors`` then ``model.json`` (which records the weights' hash) atomically."""
    folder = Path(directory)
    weights = state_to_bytes(network, folder / WEIGHTS_NAME)
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
    write_json(folder / METADATA_NAME, full)
    return folder


def read_metadata(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """``model.json`` of ``directory`` as data, every field something reads type-checked
    (:func:`check_metadata`); refused with one :class:`ModelFileError` line otherwise."""
    folder = Path(directory)
    meta_path = folder / METADATA_NAME
    if not meta_path.is_file():
        raise ModelFileError(
            f"{meta_path}: model metadata not found; train style {folder.name!r} first (stylize train, or stylize.train)"
        )
    damaged = "the file is damaged, retrain or restore it"
    try:
        size = meta_path.stat().st_size
        if size > MAX_METADATA_BYTES:
            raise ModelFileError(
                f"{meta_path}: {size} bytes, more than the {MAX_METADATA_BYTES} a model.json holds; {damaged}"
            )
        metadata = parse_json(meta_path.read_text(encoding="utf-8"), max_chars=MAX_METADATA_BYTES)
    except OSError as err:
        raise ModelFileError(f"{meta_path}: cannot read ({err.strerror}); check its permissions") from err
    except ValueError as err:  # not UTF-8, not JSON, or hostile JSON (huge numbers, deep nesting, NaN)
        raise ModelFileError(f"{meta_path}: not readable JSON ({cut(str(err), 120)}); {damaged}") from err
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise ModelFileError(
            f"{meta_path}: not a stylize style model (format is not {FORMAT!r}); point at a folder made by stylize train"
        )
    version = metadata.get("format_version")
    if version != FORMAT_VERSION or isinstance(version, bool):
        raise ModelFileError(
            f"{meta_path}: model format version {shown(version)}, this stylize reads version {FORMAT_VERSION}; "
            "retrain the style or use the stylize version that made it"
        )
    check_metadata(metadata, meta_path)
    return metadata


def _is_int(value: Any, maximum: int | None = None) -> bool:
    return (
        isinstance(value, int) and not isinstance(value, bool) and value >= 0 and (maximum is None or value <= maximum)
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)  # parse_json admits no NaN or inf


def is_sha256(value: Any) -> bool:
    return isinstance(value, str) and _SHA256.fullmatch(value) is not None


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 1000


def is_plain_name(value: Any) -> bool:
    """A file name without any folder part: no separator, not ``.``/``..``, not absolute, no NUL."""
    return (
        isinstance(value, str)
        and 0 < len(value) <= 255
        and value not in (".", "..")
        and not any(char in value for char in "/\\\0")
    )


def is_relative_inside(value: Any) -> bool:
    """A relative POSIX path that stays below its folder (``refs/a.png``): no ``..``, not absolute."""
    if not isinstance(value, str) or not 0 < len(value) <= 4096 or "\\" in value or "\0" in value:
        return False
    path = PurePosixPath(value)
    return not path.is_absolute() and ".." not in path.parts and path.parts not in ((), (".",))


def _check_training(training: dict[str, Any], meta_path: Path) -> None:
    from stylize.config import SCHEMA
    from stylize.values import BadValue

    for key in TRAINING_KEYS:
        if training.get(key) is None:
            continue
        try:
            SCHEMA["train"][key].kind.check(training[key])
        except BadValue as err:
            raise ModelFileError(
                f"{meta_path}: training {key} is {shown(training[key])} ({err}); the file is damaged, retrain or restore it"
            ) from None
    if "method" in training and training["method"] is not None and not _is_text(training["method"]):
        raise _bad_field(meta_path, "training method", training["method"], "a name")
    if "world_size" in training and not (_is_int(training["world_size"]) and training["world_size"] >= 1):
        raise _bad_field(
            meta_path, "training world_size", training["world_size"], "a whole number of ranks (1 or more)"
        )


def _bad_field(meta_path: Path, key: str, value: Any, wanted: str) -> ModelFileError:
    return ModelFileError(
        f"{meta_path}: {key} is {shown(value)}, not {wanted}; the file is damaged or not stylize's, retrain or restore it"
    )


_FIELDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "name": (_is_text, "a name"),
    "kind": (_is_text, "a name"),
    "weights_file": (is_plain_name, f"a file name in the style's folder (like {WEIGHTS_NAME!r})"),
    "weights_sha256": (is_sha256, "a SHA-256 (64 hex digits)"),
    "weights_bytes": (lambda v: _is_int(v, MAX_WEIGHTS_BYTES), f"a size in bytes up to {MAX_WEIGHTS_BYTES}"),
    "parameters": (lambda v: _is_int(v, MAX_WEIGHTS_BYTES), "a whole number of parameters"),
    "steps": (_is_int, "a whole number of steps"),
    "wall_seconds": (lambda v: v is None or _is_number(v), "a number of seconds"),
    "make_seconds": (lambda v: v is None or _is_number(v), "a number of seconds"),
    "prepare_seconds": (lambda v: v is None or _is_number(v), "a number of seconds"),
    "step_seconds": (lambda v: v is None or _is_number(v), "a number of seconds"),
    "ms_per_step": (lambda v: v is None or _is_number(v), "a number"),
    "architecture": (lambda v: isinstance(v, dict), "a table"),
    "training": (lambda v: isinstance(v, dict), "a table"),
    "guard": (lambda v: isinstance(v, dict), "a table"),
    "final_losses": (lambda v: isinstance(v, dict), "a table"),
    "environment": (lambda v: isinstance(v, dict), "a table"),
    "content_source": (lambda v: isinstance(v, dict), "a table"),
    "distilled_from": (lambda v: isinstance(v, dict), "a table"),
    "warm_start_from": (lambda v: v is None or isinstance(v, dict), "a table"),
    "loss_history": (lambda v: isinstance(v, list) and all(isinstance(p, dict) for p in v), "a list of tables"),
    "references": (lambda v: isinstance(v, list), "a list"),
}


def check_metadata(metadata: dict[str, Any], meta_path: Path) -> None:
    """Refuse ``metadata`` (of ``meta_path``) unless every field stylize reads has its type: hashes are
    64 hex digits, sizes and counts whole numbers, ``weights_file`` a plain name in the folder,
    each reference's ``file`` a relative path inside it, the training settings that are read back
    allowed by their schema kinds."""
    if "weights_sha256" not in metadata:
        raise ModelFileError(f"{meta_path}: weights_sha256 is missing; the file is damaged, retrain or restore it")
    for key, (valid, wanted) in _FIELDS.items():
        if key in metadata and not valid(metadata[key]):
            raise _bad_field(meta_path, key, metadata[key], wanted)
    for index, record in enumerate(metadata.get("references", [])):
        where = f"references[{index}]"
        if not isinstance(record, dict):
            raise _bad_field(meta_path, where, record, "a table")
        if not is_relative_inside(record.get("file")):
            raise _bad_field(
                meta_path, f"{where} file", record.get("file"), "a path inside the style's folder (refs/NAME)"
            )
        resolved = (meta_path.parent / record["file"]).resolve()
        if not resolved.is_relative_to(meta_path.parent.resolve()):
            raise _bad_field(
                meta_path, f"{where} file", record["file"], "a file inside the style's folder (a symlink leads out)"
            )
        if "source_name" in record and not _is_text(record["source_name"]):
            raise _bad_field(meta_path, f"{where} source_name", record["source_name"], "a file name")
        if "sha256" in record and not is_sha256(record["sha256"]):
            raise _bad_field(meta_path, f"{where} sha256", record["sha256"], "a SHA-256 (64 hex digits)")
    if "training" in metadata:
        _check_training(metadata["training"], meta_path)


def _structure(arch: dict[str, Any]) -> dict[str, Any]:
    """An architecture record without its description: what the weights depend on."""
    return {key: value for key, value in arch.items() if key != "description"}


def _network_for(metadata: dict[str, Any], meta_path: Path) -> PaddedNet:
    arch = metadata.get("architecture")
    name = arch.get("name") if isinstance(arch, dict) else arch
    if not isinstance(arch, dict) or not isinstance(name, str) or name not in ARCHITECTURES:
        raise ModelFileError(f"{meta_path}: unknown architecture {shown(name)}; known: {', '.join(ARCHITECTURES)}")
    spec = arch_spec(name)
    ours, theirs = _structure(spec.to_json()), _structure(arch)
    if ours != theirs:  # the prose description may change between versions
        differing = sorted(str(key) for key in set(ours) | set(theirs) if ours.get(key) != theirs.get(key))
        detail = ", ".join(
            f"{key} {shown(theirs.get(key), 30)} (not {shown(ours.get(key), 30)})" for key in differing[:3]
        )
        raise ModelFileError(
            f"{meta_path}: architecture differs from this stylize's {spec.name} v{spec.version}: {detail}; "
            "retrain the style with this version"
        )
    return spec.build()


def weights_path(folder: Path, metadata: dict[str, Any]) -> Path:
    """The weights file ``metadata`` names (checked by :func:`check_metadata` to be a plain name),
    refused when it is a symlink that leads out of ``folder``."""
    path = folder / str(metadata.get("weights_file", WEIGHTS_NAME))
    if path.is_symlink() and not path.resolve().is_relative_to(folder.resolve()):
        raise ModelFileError(
            f"{folder / METADATA_NAME}: weights_file {path.name!r} is a symlink out of the style's folder; "
            "keep the weights in the folder"
        )
    return path


def read_weights(weights_path: Path, metadata: dict[str, Any], redo: str) -> dict[str, torch.Tensor]:
    """The tensors of ``weights_path``, refused unless it is a regular file of the size ``metadata``
    records (and at most :data:`MAX_WEIGHTS_BYTES`, checked before it is read), its SHA-256 is the
    one recorded, and every tensor float32 and finite.

    ``redo`` is how the user remakes the style ("retrain", "remake"), for the messages."""
    try:
        info = weights_path.stat()
    except OSError:
        info = None
    if info is None or not stat.S_ISREG(info.st_mode):
        what = "weights file not found" if info is None else "not a regular file"
        raise ModelFileError(f"{weights_path}: {what}; {redo} the style or restore the file")
    recorded = metadata.get("weights_bytes")
    if recorded is not None and info.st_size != recorded:
        raise ModelFileError(
            f"{weights_path}: weights do not match {METADATA_NAME} ({info.st_size} bytes, it records {recorded}: "
            f"truncated, replaced or from another model); {redo} the style or restore both files together"
        )
    if info.st_size > MAX_WEIGHTS_BYTES:
        raise ModelFileError(
            f"{weights_path}: {info.st_size} bytes, more than the {MAX_WEIGHTS_BYTES} of any stylize model; "
            f"{redo} the style or restore the file"
        )
    try:
        with open(weights_path, "rb") as stream:
            data = stream.read(MAX_WEIGHTS_BYTES + 1)
    except OSError as err:
        raise ModelFileError(f"{weights_path}: cannot read ({err.strerror}); check its permissions") from err
    if sha256_bytes(data) != metadata.get("weights_sha256"):
        raise ModelFileError(
            f"{weights_path}: weights do not match {METADATA_NAME} (SHA-256 differs: truncated, replaced or "
            f"from another model); {redo} the style or restore both files together"
        )
    try:
        state = load_safetensors_bytes(data)
    except (SafetensorError, ValueError, OSError) as err:
        raise ModelFileError(f"{weights_path}: not a readable safetensors file ({err}); {redo} the style") from err
    check_weights(state, weights_path, f"{redo} the style")
    return state


def remake_hint(metadata: dict[str, Any], folder: Path) -> str:
    """How the user makes the style in ``folder`` again, for the end of a message."""
    name = folder.name  # a style's name is its folder's
    if metadata.get("kind") == "reference":
        return f"remake the style (stylize style --name {name} --refs IMAGE... --overwrite, or stylize.make_style)"
    return f"retrain the style (stylize train --name {name} --refs IMAGE... --overwrite, or stylize.train)"


def check_recorded_files(folder: Path, metadata: dict[str, Any]) -> None:
    """Refuse the style in ``folder`` unless every file ``metadata`` records a SHA-256 of, besides the
    weights (checked as they are read), is a regular file with that hash: its reference images. A
    swapped reference would make eval measure, and the studio show, another style than the one made."""
    for record in metadata.get("references", []):
        recorded = record.get("sha256")
        if recorded is None:
            continue
        path = folder / str(record["file"])
        fix = f"put the style's own reference back, or {remake_hint(metadata, folder)}"
        try:
            info = path.stat()
            if not stat.S_ISREG(info.st_mode):
                raise ModelFileError(f"{path}: the style's reference is not a regular file; {fix}")
            if info.st_size > MAX_REFERENCE_BYTES:
                raise ModelFileError(f"{path}: {info.st_size} bytes, not the style's reference image; {fix}")
            digest = sha256_file(path)
        except OSError as err:
            raise ModelFileError(f"{path}: the style's reference cannot be read ({err.strerror}); {fix}") from err
        if digest != recorded:
            raise ModelFileError(
                f"{path}: does not match the SHA-256 {METADATA_NAME} records for this reference (replaced or "
                f"edited since the style was made); {fix}"
            )


def load_model(directory: str | os.PathLike[str], *, name: str | None = None) -> StyleModel:
    """Load and verify a style from ``directory`` (holding model.json and model.safetensors)."""
    folder = Path(directory)
    metadata = read_metadata(folder)
    meta_path = folder / METADATA_NAME
    path = weights_path(folder, metadata)
    state = read_weights(path, metadata, "retrain")
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
            f"{path}: tensors do not fit architecture {network.spec.name} ({detail}); retrain the style"
        )
    network.load_state_dict(state)
    network.eval()
    attach_values(network, metadata, meta_path)
    return StyleModel(name or str(metadata.get("name", folder.name)), network, metadata, folder)
