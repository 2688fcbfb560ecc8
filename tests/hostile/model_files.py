"""Hostile model folders (``model.safetensors`` and its folder): missing, damaged, foreign or poisoned weights.
Each case copies the bundled pencil-nano style to ``tmp/in/styles`` and damages the copy; where the
damage is in the values, ``model.json`` records the new file's hash and size, so only the values are
hostile (as a diverged training or a hand-edited file would save them)."""

from __future__ import annotations

import io
import os
import shutil
import struct
from pathlib import Path

from hostile.harness import ASSETS, Corpus, Result, copied_style, face, portrait, replace_weights, transformed_weights

corpus = Corpus("model_files")
WEIGHTS = ("model.safetensors", "pencil-nano")  # the file, or the style folder holding it


def _says_how_to_remake(command: str):
    def check(tmp: Path, result: Result) -> None:
        assert command in result.stderr, f"the error line does not say {command!r}: {result.stderr!r}"

    return check


def apply_with(tmp: Path, folder: Path) -> list[str]:
    return ["apply", "--style", str(folder), str(face(tmp)), "--out", str(tmp / "out")]


@corpus.case(fault=WEIGHTS)
def nan_weights_with_matching_hash(tmp: Path) -> list[str]:
    """One tensor all NaN, hash recorded (issue item 5: all-black images and exit 0): refused naming the
    weights file (not finite), exit 1, no output."""
    import torch

    folder = copied_style(tmp)

    def poison(tensors: dict) -> dict:
        first = sorted(tensors)[0]
        return {**tensors, first: torch.full_like(tensors[first], float("nan"))}

    replace_weights(folder, transformed_weights(folder, poison))
    return apply_with(tmp, folder)


@corpus.case(fault=WEIGHTS)
def infinite_weight_with_matching_hash(tmp: Path) -> list[str]:
    """A single +inf among the weights, hash recorded: refused naming the weights file, exit 1."""
    folder = copied_style(tmp)

    def poison(tensors: dict) -> dict:
        last = sorted(tensors)[-1]
        changed = tensors[last].clone()
        changed.view(-1)[0] = float("inf")
        return {**tensors, last: changed}

    replace_weights(folder, transformed_weights(folder, poison))
    return apply_with(tmp, folder)


@corpus.case(fault=WEIGHTS)
def int8_weights_with_matching_hash(tmp: Path) -> list[str]:
    """Every tensor stored as int8, hash recorded (issue item 5: flat grey images, exit 0): the dtype is not
    the float32 stylize writes; refused naming the weights file, exit 1."""
    import torch

    folder = copied_style(tmp)
    replace_weights(folder, transformed_weights(folder, lambda t: {k: v.to(torch.int8) for k, v in t.items()}))
    return apply_with(tmp, folder)


@corpus.case(fault=WEIGHTS)
def missing_weights(tmp: Path) -> list[str]:
    """model.safetensors deleted: one line naming it (retrain or restore), exit 1."""
    folder = copied_style(tmp)
    (folder / "model.safetensors").unlink()
    return apply_with(tmp, folder)


@corpus.case(fault=("model.json", "pencil-nano"))
def missing_metadata(tmp: Path) -> list[str]:
    """model.json deleted, the folder given by path: one line naming it, exit 1."""
    folder = copied_style(tmp)
    (folder / "model.json").unlink()
    return apply_with(tmp, folder)


@corpus.case(fault=WEIGHTS)
def truncated_weights(tmp: Path) -> list[str]:
    """model.safetensors cut in half (hash now differs): refused naming it, exit 1."""
    folder = copied_style(tmp)
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[: len(data) // 2])
    return apply_with(tmp, folder)


@corpus.case(fault=WEIGHTS)
def truncated_weights_with_matching_hash(tmp: Path) -> list[str]:
    """model.safetensors cut in half and the hash recorded: not a readable safetensors file; refused naming
    it, exit 1."""
    folder = copied_style(tmp)
    data = (folder / "model.safetensors").read_bytes()
    replace_weights(folder, data[: len(data) // 2])
    return apply_with(tmp, folder)


@corpus.case(fault=WEIGHTS)
def pickle_renamed_with_matching_hash(tmp: Path) -> list[str]:
    """A ``torch.save`` pickle of the same tensors renamed model.safetensors, hash recorded: never unpickled
    (code could run); refused naming the file, exit 1."""
    import torch
    from safetensors.torch import load

    folder = copied_style(tmp)
    buffer = io.BytesIO()
    torch.save(load((folder / "model.safetensors").read_bytes()), buffer)
    replace_weights(folder, buffer.getvalue())
    return apply_with(tmp, folder)


@corpus.case(fault=WEIGHTS)
def huge_safetensors_header_length(tmp: Path) -> list[str]:
    """A safetensors file whose 8-byte header length claims 2**60 bytes, hash recorded: refused naming the
    file without trying to allocate that, exit 1."""
    folder = copied_style(tmp)
    replace_weights(folder, struct.pack("<Q", 1 << 60) + b"{}" + bytes(64))
    return apply_with(tmp, folder)


@corpus.case(fault=WEIGHTS)
def extra_tensor_with_matching_hash(tmp: Path) -> list[str]:
    """One tensor more than the architecture has, hash recorded: refused (tensors do not fit), exit 1."""
    import torch

    folder = copied_style(tmp)
    replace_weights(folder, transformed_weights(folder, lambda t: {**t, "smuggled": torch.zeros(3)}))
    return apply_with(tmp, folder)


@corpus.case(fault=WEIGHTS)
def wrong_shape_with_matching_hash(tmp: Path) -> list[str]:
    """A tensor with a shape other than the architecture's, hash recorded: refused, exit 1."""
    import torch

    folder = copied_style(tmp)

    def reshape(tensors: dict) -> dict:
        first = sorted(tensors)[0]
        return {**tensors, first: torch.zeros(tensors[first].numel() + 1)}

    replace_weights(folder, transformed_weights(folder, reshape))
    return apply_with(tmp, folder)


@corpus.case(fault=WEIGHTS)
def weights_are_a_folder(tmp: Path) -> list[str]:
    """model.safetensors is a folder: refused naming it, exit 1."""
    folder = copied_style(tmp)
    (folder / "model.safetensors").unlink()
    (folder / "model.safetensors").mkdir()
    return apply_with(tmp, folder)


@corpus.case(fault=WEIGHTS)
def weights_are_a_fifo(tmp: Path) -> list[str]:
    """model.safetensors is a FIFO: refused naming it, exit 1, and never opened (that would block)."""
    folder = copied_style(tmp)
    (folder / "model.safetensors").unlink()
    os.mkfifo(folder / "model.safetensors")
    return apply_with(tmp, folder)


@corpus.case(fault=WEIGHTS)
def half_precision_weights_with_matching_hash(tmp: Path) -> list[str]:
    """Every tensor stored as float16, hash recorded: not what stylize writes (float32); a careful user
    expects the model file refused by name rather than silently converted, exit 1."""
    import torch

    folder = copied_style(tmp)
    replace_weights(folder, transformed_weights(folder, lambda t: {k: v.to(torch.float16) for k, v in t.items()}))
    return apply_with(tmp, folder)


@corpus.case(fault="zt/refs/ref.png", check=_says_how_to_remake("stylize style --name zt"), slow=True)
def zero_training_reference_swapped(tmp: Path) -> list[str]:
    """A zero-training style (stylize style) whose reference image was replaced after it was made, while
    model.json records its SHA-256 (issue 25: it still loaded). Refused with one line naming the reference
    and how to remake the style, exit 1."""
    from stylize.inference.reference_style import make_style

    styles = tmp / "in" / "styles"
    make_style("zt", [portrait(tmp / "in" / "ref.png", size=(96, 96), mode="RGB")], styles_dir=styles)
    portrait(styles / "zt" / "refs" / "ref.png", size=(80, 72), mode="RGB")  # another image, same name
    return ["apply", "--styles-dir", str(styles), "--style", "zt", str(face(tmp)), "--out", str(tmp / "out")]


@corpus.case(fault="refs/pencil.png")
def trained_style_reference_swapped(tmp: Path) -> list[str]:
    """A trained style's refs/pencil.png replaced by another image (eval would measure against a style the
    network never learnt): the recorded SHA-256 differs; refused naming the file, exit 1."""
    folder = copied_style(tmp)
    portrait(folder / "refs" / "pencil.png", mode="RGB")
    return apply_with(tmp, folder)


def _made_with(style: str):
    """A check: out/face.png was made with the bundled ``style`` (its weights' hash is in the record)."""

    def check(tmp: Path, result: Result) -> None:
        import json

        from hostile.harness import manifest_records

        wanted = json.loads((ASSETS / "styles" / style / "model.json").read_text())["weights_sha256"]
        used = [r.get("model_sha256") for r in manifest_records(tmp / "out" / "manifest.jsonl")]
        assert used == [wanted], f"out/face.png was not made with the bundled {style}"

    return check


@corpus.case(exit=0, warning="must", fault="./pencil-nano", check=_made_with("pencil-nano"))
def folder_named_like_a_style_in_the_working_folder(tmp: Path) -> list[str]:
    """The working folder holds a style folder ``pencil-nano`` (another style: a copy of paint-nano) and the
    command says ``--style pencil-nano`` (issue 25: the folder silently shadowed the bundled style). A name
    is a name: the bundled pencil-nano paints, with one warning line naming both (give ./pencil-nano for
    the folder); exit 0."""
    shutil.copytree(ASSETS / "styles" / "paint-nano", tmp / "pencil-nano")
    return ["apply", "--style", "pencil-nano", str(face(tmp)), "--out", str(tmp / "out")]


@corpus.case(exit=0, check=_made_with("paint-nano"))
def folder_given_as_a_path_beside_a_style_of_its_name(tmp: Path) -> list[str]:
    """The same folder given as ``./pencil-nano``: a path is a path, so that folder paints (paint-nano's
    weights), with no warning; exit 0."""
    shutil.copytree(ASSETS / "styles" / "paint-nano", tmp / "pencil-nano")
    return ["apply", "--style", "./pencil-nano", str(face(tmp)), "--out", str(tmp / "out")]


@corpus.case(exit=0, check=_made_with("paint-nano"))
def folder_in_the_working_folder_named_like_no_style(tmp: Path) -> list[str]:
    """A style folder ``mine`` in the working folder and ``--style mine``, which no styles folder or bundled
    style is named: the folder shadows nothing, so it is used without a warning; exit 0."""
    shutil.copytree(ASSETS / "styles" / "paint-nano", tmp / "mine")
    return ["apply", "--style", "mine", str(face(tmp)), "--out", str(tmp / "out")]
