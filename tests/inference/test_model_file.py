"""Hostile model files (issue 16, items 5, 6 and 9): weights that are not float32 or not finite, huge
numbers and deep nesting in model.json, a weights_file that points out of the style's folder or at a
huge file, and every field that is read back type-checked. Each is one ModelFileError line naming
the file, never a traceback; and property tests: arbitrary model.json text and mutated valid
metadata load or raise ModelFileError, nothing else."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from safetensors.torch import save

from stylize.files import sha256_bytes, sha256_file
from stylize.inference.model_file import (
    MAX_WEIGHTS_BYTES,
    METADATA_NAME,
    WEIGHTS_NAME,
    ModelFileError,
    load_model,
    read_metadata,
    save_model,
)
from stylize.nets.transformer import build_network

PROPERTY = settings(
    max_examples=150, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow]
)


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Path:
    """A valid nano style (random weights, no training): model.json, model.safetensors, refs/."""
    folder = tmp_path_factory.mktemp("styles") / "good"
    torch.manual_seed(0)
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "ref.png").write_bytes(b"not read here")
    references = [
        {"file": "refs/ref.png", "source_name": "ref.png", "sha256": sha256_file(folder / "refs" / "ref.png")}
    ]
    save_model(folder, build_network("nano"), {"name": "good", "kind": "style", "references": references})
    return folder


def _copy(good: Path, tmp_path: Path) -> Path:
    target = tmp_path / "style"
    shutil.copytree(good, target)
    return target


def _metadata(folder: Path) -> dict[str, Any]:
    return json.loads((folder / METADATA_NAME).read_text())


def _write_metadata(folder: Path, metadata: dict[str, Any]) -> None:
    (folder / METADATA_NAME).write_text(json.dumps(metadata))


def _refused(folder: Path, *fragments: str) -> str:
    with pytest.raises(ModelFileError) as info:
        load_model(folder)
    message = str(info.value)
    assert "\n" not in message and len(message) < 400, message
    for fragment in fragments:
        assert fragment in message, message
    return message


def _replace_weights(folder: Path, state: dict[str, torch.Tensor]) -> None:
    """New weights with a matching hash and size recorded: only the tensors' values are at fault."""
    data = save(state)
    (folder / WEIGHTS_NAME).write_bytes(data)
    _write_metadata(folder, {**_metadata(folder), "weights_sha256": sha256_bytes(data), "weights_bytes": len(data)})


def test_a_valid_style_loads(good):
    assert load_model(good).name == "good"


# --- item 5: weights that are not float32 or not finite ------------------------------------------------


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_weights_with_a_matching_hash_are_refused(good, tmp_path, bad):
    """A diverged training saves NaN weights; they gave all-black images and exit 0."""
    folder = _copy(good, tmp_path)
    state = load_model(folder).network.state_dict()
    name = next(iter(state))
    state[name] = state[name].clone()
    state[name].view(-1)[0] = bad
    _replace_weights(folder, state)
    _refused(folder, f"{folder / WEIGHTS_NAME}: tensor '{name}' holds NaN or infinity", "diverged", "retrain the style")


@pytest.mark.parametrize("dtype", [torch.int8, torch.float16, torch.float64])
def test_weights_of_another_type_are_refused(good, tmp_path, dtype):
    """int8 weights gave flat grey images and exit 0."""
    folder = _copy(good, tmp_path)
    state = {key: value.to(dtype) for key, value in load_model(folder).network.state_dict().items()}
    _replace_weights(folder, state)
    _refused(folder, str(folder / WEIGHTS_NAME), f"is {str(dtype).removeprefix('torch.')}", "float32 only")


def test_saving_non_finite_weights_is_refused_and_writes_nothing(tmp_path):
    network = build_network("nano")
    with torch.no_grad():
        next(network.parameters()).view(-1)[0] = float("nan")
    with pytest.raises(ModelFileError, match="holds NaN or infinity.*the training diverged: nothing is saved"):
        save_model(tmp_path / "diverged", network, {"name": "diverged"})
    assert not (tmp_path / "diverged" / WEIGHTS_NAME).exists() and not (tmp_path / "diverged" / METADATA_NAME).exists()


# --- item 6: huge numbers, deep nesting, NaN in model.json ----------------------------------------------


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b'{"format": "stylize-style", "format_version": ' + b"9" * 5000 + b"}", "an integer of 5000 digits"),
        (b'{"format": "stylize-style", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested more than"),
        (b'{"format": "stylize-style", "x": 1' + b"0" * 5000 + b".5}", "a number of 5003 characters"),
        (b'{"format": "stylize-style", "x": NaN}', "NaN is not allowed"),
        (b'{"format": "stylize-style", "x": 1e999}', "out of range"),
        (b"\xff\xfe not utf-8", "can't decode"),
    ],
    ids=["5000 digits", "deep nesting", "long float", "NaN", "1e999", "not utf-8"],
)
def test_hostile_json_in_model_json_is_one_line(good, tmp_path, data, fragment):
    folder = _copy(good, tmp_path)
    (folder / METADATA_NAME).write_bytes(data)
    _refused(folder, f"{folder / METADATA_NAME}: not readable JSON", fragment)


# --- item 9: weights_file and the other trusted fields ---------------------------------------------------


@pytest.mark.parametrize(
    "weights_file",
    ["../../etc/passwd", "/etc/passwd", "refs/../model.safetensors", "..", ".", "", "sub/model.safetensors", "a\\b"],
)
def test_weights_file_must_be_a_plain_name_in_the_folder(good, tmp_path, weights_file):
    """Any file on disk was read whole and hashed."""
    folder = _copy(good, tmp_path)
    _write_metadata(folder, {**_metadata(folder), "weights_file": weights_file})
    _refused(folder, f"{folder / METADATA_NAME}: weights_file is", "not a file name in the style's folder")


def test_a_weights_symlink_out_of_the_folder_is_refused(good, tmp_path):
    folder = _copy(good, tmp_path)
    outside = tmp_path / "elsewhere.safetensors"
    shutil.move(folder / WEIGHTS_NAME, outside)
    (folder / WEIGHTS_NAME).symlink_to(outside)
    _refused(folder, "is a symlink out of the style's folder")
    # a symlink that stays inside the folder is fine
    shutil.move(outside, folder / "real.safetensors")
    (folder / WEIGHTS_NAME).unlink()
    (folder / WEIGHTS_NAME).symlink_to("real.safetensors")
    assert load_model(folder).name == "good"


@pytest.mark.parametrize("recorded", [False, True])
def test_a_huge_sparse_weights_file_is_refused_before_it_is_read(good, tmp_path, recorded):
    """A 20 GB sparse file gave a MemoryError traceback; now its size is checked first (no read)."""
    folder = _copy(good, tmp_path)
    with open(folder / WEIGHTS_NAME, "wb") as stream:
        stream.truncate(20 << 30)
    metadata = _metadata(folder)
    if recorded:
        metadata["weights_bytes"] = 20 << 30
        _write_metadata(folder, metadata)
        _refused(folder, "weights_bytes is 21474836480, not a size in bytes up to")
    else:
        del metadata["weights_bytes"]  # an older model.json without the size
        _write_metadata(folder, metadata)
        _refused(folder, str(folder / WEIGHTS_NAME), f"21474836480 bytes, more than the {MAX_WEIGHTS_BYTES}")


def test_weights_of_another_size_than_recorded_are_refused_before_reading(good, tmp_path):
    folder = _copy(good, tmp_path)
    with open(folder / WEIGHTS_NAME, "ab") as stream:
        stream.write(b"\0" * 10)
    _refused(folder, "weights do not match model.json", "it records")


def test_a_fifo_as_weights_is_refused_without_blocking(good, tmp_path):
    folder = _copy(good, tmp_path)
    (folder / WEIGHTS_NAME).unlink()
    os.mkfifo(folder / WEIGHTS_NAME)
    _refused(folder, "not a regular file")


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("weights_sha256", "abc", "weights_sha256 is 'abc', not a SHA-256"),
        ("weights_sha256", 5, "weights_sha256 is 5"),
        ("weights_sha256", "A" * 64, "not a SHA-256"),
        ("weights_bytes", "80000", "weights_bytes is '80000'"),
        ("weights_bytes", -1, "weights_bytes is -1"),
        ("weights_bytes", True, "weights_bytes is True"),
        ("parameters", "many", "parameters is 'many'"),
        ("parameters", 1.5, "parameters is 1.5"),
        ("name", ["x"], "name is ['x']"),
        ("steps", "3", "steps is '3'"),
        ("training", [], "training is []"),
        ("training", {"style_weight": "x"}, "training style_weight is 'x'"),
        ("training", {"style_layers": "relu1_1"}, "training style_layers"),
        ("training", {"content": [1]}, "training content is [1]"),
        ("references", {"file": "refs/a.png"}, "references is"),
        ("references", ["refs/a.png"], "references[0] is"),
        ("references", [{"file": "../../etc/passwd"}], "references[0] file is '../../etc/passwd'"),
        ("references", [{"file": "/etc/passwd"}], "references[0] file is '/etc/passwd'"),
        ("references", [{"file": 7}], "references[0] file is 7"),
        ("references", [{"file": "refs/a.png", "sha256": "x"}], "references[0] sha256 is 'x'"),
        ("loss_history", [1, 2], "loss_history is [1, 2]"),
        ("format_version", True, "model format version True"),
        ("architecture", "tiny", "architecture is 'tiny'"),
        ("architecture", {"name": []}, "unknown architecture []"),
        ("architecture", {"name": "x" * 5000}, "unknown architecture 'xxxx"),
        ("architecture", {"name": "nano", "width": [1] * 5000}, "architecture differs from this stylize's nano v1"),
    ],
)
def test_every_field_read_back_is_type_checked(good, tmp_path, field, value, fragment):
    folder = _copy(good, tmp_path)
    _write_metadata(folder, {**_metadata(folder), field: value})
    message = _refused(folder, fragment)
    if field != "architecture":
        with pytest.raises(ModelFileError, match=re.escape(message)):
            read_metadata(folder)  # refused before the weights are looked at


def test_a_missing_hash_is_refused(good, tmp_path):
    folder = _copy(good, tmp_path)
    metadata = _metadata(folder)
    del metadata["weights_sha256"]
    _write_metadata(folder, metadata)
    _refused(folder, "weights_sha256 is missing")


def test_a_reference_symlink_out_of_the_folder_is_refused(good, tmp_path):
    folder = _copy(good, tmp_path)
    (folder / "refs" / "ref.png").unlink()
    (folder / "refs" / "ref.png").symlink_to("/etc/hostname")
    _refused(folder, "references[0] file is 'refs/ref.png'", "a symlink leads out")


def test_an_oversized_model_json_is_refused_before_it_is_read(good, tmp_path):
    folder = _copy(good, tmp_path)
    with open(folder / METADATA_NAME, "ab") as stream:
        stream.truncate(1 << 30)
    _refused(folder, "more than the", "a model.json holds")


# --- properties ------------------------------------------------------------------------------------------


def _outcome(folder: Path) -> str:
    """'loaded' or 'refused'; anything but a ModelFileError fails the property."""
    try:
        load_model(folder)
    except ModelFileError as err:
        assert "\n" not in str(err) and len(str(err)) < 1000, str(err)
        return "refused"
    return "loaded"


JSON_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(["stylize-style", "../../etc/passwd", "/etc/passwd", "model.safetensors", "0" * 64, "nano"])
)
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)


@PROPERTY
@given(text=st.text(max_size=200) | JSON_VALUES.map(json.dumps))
@pytest.mark.slow
def test_any_model_json_text_loads_or_is_one_model_file_error(good, tmp_path_factory, text):
    folder = tmp_path_factory.mktemp("prop")
    shutil.copy(good / WEIGHTS_NAME, folder / WEIGHTS_NAME)
    (folder / METADATA_NAME).write_text(text, encoding="utf-8", errors="surrogatepass")
    assert _outcome(folder) == "refused"  # nothing random is a valid style


@PROPERTY
@given(data=st.data())
@pytest.mark.slow
def test_mutated_valid_metadata_loads_or_is_one_model_file_error(good, tmp_path_factory, data):
    """Each field of a valid model.json replaced by an arbitrary value, deleted, or a field added."""
    metadata = _metadata(good)
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        key = data.draw(st.sampled_from(sorted(metadata)) | st.text(max_size=8), label="key")
        action = data.draw(st.sampled_from(["replace", "delete", "nest"]), label="action")
        if action == "delete":
            metadata.pop(key, None)
        elif action == "nest" and isinstance(metadata.get(key), dict) and metadata[key]:
            inner = data.draw(st.sampled_from(sorted(metadata[key])), label="inner key")
            metadata[key] = {**metadata[key], inner: data.draw(JSON_VALUES, label="inner value")}
        else:
            metadata[key] = data.draw(JSON_VALUES, label="value")
    folder = tmp_path_factory.mktemp("prop")
    shutil.copytree(good, folder, dirs_exist_ok=True)
    _write_metadata(folder, metadata)
    event(_outcome(folder))


@PROPERTY
@given(data=st.binary(max_size=64), keep=st.integers(0, 2000))
@pytest.mark.slow
def test_damaged_weights_with_a_matching_hash_load_or_are_one_model_file_error(good, tmp_path_factory, data, keep):
    """Weights truncated and padded with arbitrary bytes, the hash and size recorded to match."""
    folder = tmp_path_factory.mktemp("prop")
    shutil.copytree(good, folder, dirs_exist_ok=True)
    weights = (good / WEIGHTS_NAME).read_bytes()
    damaged = weights[:keep] + data
    (folder / WEIGHTS_NAME).write_bytes(damaged)
    metadata = {**_metadata(good), "weights_sha256": sha256_bytes(damaged), "weights_bytes": len(damaged)}
    _write_metadata(folder, metadata)
    event(_outcome(folder))


def test_a_recorded_tonal_key_is_checked_and_used(good, tmp_path):
    """model.json's ``values`` (the value op's tonal key, stylize.inference.tone): used as recorded, measured
    again when made by another method, and refused in one line when it is not a tonal key."""
    from stylize.inference.tone import GRID, ToneCalibration, calibrate

    flat = tuple(tuple(0.5 for _ in range(GRID)) for _ in range(GRID))
    key = ToneCalibration(typical=flat, typical_out=flat, paper=0.8)
    folder = _copy(good, tmp_path)
    _write_metadata(folder, {**_metadata(folder), "values": key.record()})
    assert calibrate(load_model(folder).network) == key
    _write_metadata(folder, {**_metadata(folder), "values": {"method": "stylize-values/0"}})
    assert calibrate(load_model(folder).network) != key  # another method's: measured on the bundled faces
    for bad, fragment in (
        ({**key.record(), "paper": "x"}, "'x'"),
        ({**key.record(), "paper": 2.0}, "2.0"),
        ({**key.record(), "typical": [[0.5] * GRID]}, f"{GRID} x {GRID}"),
        ({**key.record(), "typical": "flat"}, "values"),
        ({**key.record(), "extra": 1}, "must hold"),
    ):
        _write_metadata(folder, {**_metadata(folder), "values": bad})
        _refused(folder, "model.json", fragment)


def test_a_style_without_a_recorded_tonal_key_is_measured_once_a_process(good, tmp_path, monkeypatch):
    """A style made before the tonal key (the bundled ones) is measured at its first use; loading it again, or
    a copy of it, reuses that key (the same weights, kind and architecture); other weights are measured."""
    from stylize.inference import tiling, tone
    from stylize.inference.tone import calibrate

    monkeypatch.setattr(tone, "_MEASURED", {})
    runs = []
    run_network = tiling.run_network
    monkeypatch.setattr(
        tiling, "run_network", lambda network, *args: runs.append(network) or run_network(network, *args)
    )
    first = calibrate(load_model(good).network)
    assert len(runs) == 1
    assert (
        calibrate(load_model(good).network) == first and calibrate(load_model(_copy(good, tmp_path)).network) == first
    )
    assert len(runs) == 1
    torch.manual_seed(1)
    other = save_model(tmp_path / "other", build_network("nano"), {"name": "other", "kind": "style"})
    assert calibrate(load_model(other).network) != first and len(runs) == 2
