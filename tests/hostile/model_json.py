"""Hostile ``model.json`` files: huge numbers, deep nesting, non-strict JSON, wrong types, and a
``weights_file`` leading out of the style folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from hostile.harness import Corpus, copied_style, edit_metadata, face

corpus = Corpus("model_json")


def apply_with(tmp: Path, folder: Path) -> list[str]:
    return ["apply", "--style", str(folder), str(face(tmp)), "--out", str(tmp / "out")]


def with_text(folder: Path, edit) -> Path:
    path = folder / "model.json"
    path.write_text(edit(path.read_text()))
    return folder


def add_field(text: str, raw: str) -> str:
    """``text`` (a JSON object) with ``"extra": RAW`` added before its closing brace."""
    return text.rstrip()[:-1].rstrip() + f',\n  "extra": {raw}\n}}\n'


@corpus.case(fault="model.json")
def five_thousand_digit_integer(tmp: Path) -> list[str]:
    """A 5000-digit integer (issue item 6: a ValueError traceback): refused naming model.json, exit 1."""
    folder = with_text(copied_style(tmp), lambda text: add_field(text, "1" + "0" * 5000))
    return apply_with(tmp, folder)


@corpus.case(fault="model.json")
def ten_thousand_deep_nesting(tmp: Path) -> list[str]:
    """10000 nested lists (issue item 6: a RecursionError traceback): refused naming model.json, exit 1."""
    folder = with_text(copied_style(tmp), lambda text: add_field(text, "[" * 10000 + "]" * 10000))
    return apply_with(tmp, folder)


@corpus.case(fault="model.json")
def huge_float_literal(tmp: Path) -> list[str]:
    """``1e999`` (parsed as infinity by a lax reader): not strict JSON that stylize writes; refused naming
    model.json, exit 1."""
    folder = with_text(copied_style(tmp), lambda text: add_field(text, "1e999"))
    return apply_with(tmp, folder)


@corpus.case(fault="model.json")
def nan_literal(tmp: Path) -> list[str]:
    """A bare ``NaN`` (Python's json reads it; strict JSON has no NaN): refused naming model.json, exit 1."""
    folder = with_text(copied_style(tmp), lambda text: add_field(text, "NaN"))
    return apply_with(tmp, folder)


@corpus.case(fault=("weights_file", "etc/passwd"))
def weights_file_climbs_out(tmp: Path) -> list[str]:
    """``weights_file: ../../etc/passwd`` (issue item 9: any file on disk is read whole and hashed): refused
    naming the value, before reading anything, exit 1."""
    folder = copied_style(tmp)
    edit_metadata(folder, weights_file="../../etc/passwd")
    return apply_with(tmp, folder)


@corpus.case(fault=("weights_file", "w.safetensors"))
def weights_file_relative_copy_outside(tmp: Path) -> list[str]:
    """``weights_file: ../../../outside/w.safetensors``, a true copy of the weights with the right hash
    (issue item 9): the weights must live in the style folder, so this is refused naming weights_file,
    exit 1, even though the bytes would load."""
    folder = copied_style(tmp)
    shutil.copy(folder / "model.safetensors", tmp / "outside" / "w.safetensors")
    edit_metadata(folder, weights_file="../../../outside/w.safetensors")
    return apply_with(tmp, folder)


@corpus.case(fault=("weights_file", "w.safetensors"))
def weights_file_absolute_path(tmp: Path) -> list[str]:
    """``weights_file`` an absolute path to a true copy of the weights (issue item 9): refused naming
    weights_file, exit 1."""
    folder = copied_style(tmp)
    shutil.copy(folder / "model.safetensors", tmp / "outside" / "w.safetensors")
    edit_metadata(folder, weights_file=str(tmp / "outside" / "w.safetensors"))
    return apply_with(tmp, folder)


@corpus.case(fault=("weights_file", "pencil-nano/5"))
def weights_file_is_a_number(tmp: Path) -> list[str]:
    """``weights_file: 5``: not a file name; refused naming weights_file, exit 1."""
    folder = copied_style(tmp)
    edit_metadata(folder, weights_file=5)
    return apply_with(tmp, folder)


@corpus.case(fault="model.json")
def architecture_name_is_a_list(tmp: Path) -> list[str]:
    """``architecture.name`` is a list (unhashable): refused naming model.json, exit 1."""
    folder = copied_style(tmp)
    arch = json.loads((folder / "model.json").read_text())["architecture"]
    edit_metadata(folder, architecture={**arch, "name": ["nano"]})
    return apply_with(tmp, folder)


@corpus.case(fault="model.json")
def architecture_is_a_string(tmp: Path) -> list[str]:
    """``architecture: "nano"`` (a string, not the recorded object): refused naming model.json, exit 1."""
    folder = copied_style(tmp)
    edit_metadata(folder, architecture="nano")
    return apply_with(tmp, folder)


@corpus.case(fault="model.json")
def format_version_as_text(tmp: Path) -> list[str]:
    """``format_version: "1"``: not the number stylize writes; refused naming model.json, exit 1."""
    folder = copied_style(tmp)
    edit_metadata(folder, format_version="1")
    return apply_with(tmp, folder)


@corpus.case(fault="model.json")
def top_level_list(tmp: Path) -> list[str]:
    """model.json holds ``[]``: not a model; refused naming it, exit 1."""
    folder = with_text(copied_style(tmp), lambda text: "[]\n")
    return apply_with(tmp, folder)


@corpus.case(fault="model.json")
def not_utf8(tmp: Path) -> list[str]:
    """model.json with Latin-1 bytes inside a string: refused naming it, exit 1."""
    folder = copied_style(tmp)
    path = folder / "model.json"
    path.write_bytes(path.read_bytes().replace(b'"pencil-nano"', b'"pencil-nan\xe9"', 1))
    return apply_with(tmp, folder)


@corpus.case(exit=(0, 1), fault="model.json")
def byte_order_mark(tmp: Path) -> list[str]:
    """model.json starting with a UTF-8 byte order mark (as some editors save): read (exit 0) or refused
    naming it (exit 1); either is fine, a traceback is not."""
    folder = copied_style(tmp)
    path = folder / "model.json"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    return apply_with(tmp, folder)


@corpus.case(fault=("model.json", "pencil-nano"))
def metadata_is_a_folder(tmp: Path) -> list[str]:
    """model.json is a folder (the style given by path): refused naming it, exit 1."""
    folder = copied_style(tmp)
    (folder / "model.json").unlink()
    (folder / "model.json").mkdir()
    return apply_with(tmp, folder)


@corpus.case(fault="model.json")
def tonal_key_out_of_range(tmp: Path) -> list[str]:
    """The value op's tonal key recorded with a paper of 5 (values lie in 0..1): refused naming model.json."""
    folder = copied_style(tmp)
    edit_metadata(folder, values={"method": "stylize-values/1", "paper": 5, "typical": [], "typical_out": []})
    return apply_with(tmp, folder)
