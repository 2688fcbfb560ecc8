"""stylize.files.write_json: the one writer of JSON files."""

from __future__ import annotations

import json
import math

import pytest

from stylize.bundled import asset_path
from stylize.files import parse_json, read_json_object, write_json


@pytest.mark.parametrize("indent", [1, 2])
def test_write_json_writes_what_json_dumps_writes_and_one_newline(tmp_path, indent):
    data = {"b": [1, 2.5, None], "a": {"z": "é", "y": True}}
    path = tmp_path / "data.json"
    write_json(path, data, indent=indent)
    assert path.read_bytes() == (json.dumps(data, indent=indent) + "\n").encode("utf-8")
    assert list(parse_json(path.read_text(encoding="utf-8"))) == ["b", "a"]  # the order given, not sorted


def test_write_json_writes_nan_as_null_or_refuses_it(tmp_path):
    path = tmp_path / "figures.json"
    write_json(path, {"share": math.nan, "rows": [math.inf, 1.0]}, nan_as_null=True)
    assert json.loads(path.read_text()) == {"share": None, "rows": [None, 1.0]}
    before = path.read_bytes()
    with pytest.raises(ValueError):
        write_json(path, {"share": math.nan}, allow_nan=False)
    assert path.read_bytes() == before  # a refused write leaves the file as it was


def test_the_bundled_json_files_are_what_write_json_writes_of_them(tmp_path):
    """model.json and the zero-training record are written by write_json: reading one and writing it again
    gives the same bytes (the files were written before write_json existed)."""
    files = sorted(asset_path("styles").glob("*/model.json")) + [
        asset_path("bases") / "small" / "model.json",
    ]
    assert len(files) >= 7
    for path in files:
        again = tmp_path / "again.json"
        write_json(again, json.loads(path.read_text(encoding="utf-8")))
        assert again.read_bytes() == path.read_bytes(), path
    neutral = asset_path("zero_training") / "neutral.json"
    write_json(tmp_path / "neutral.json", json.loads(neutral.read_text(encoding="utf-8")), indent=1)
    assert (tmp_path / "neutral.json").read_bytes() == neutral.read_bytes()


def test_read_json_object_is_the_object_or_none(tmp_path):
    path = tmp_path / "status.json"
    assert read_json_object(path) is None  # missing
    write_json(path, {"state": "done"}, indent=1)
    assert read_json_object(path) == {"state": "done"}
    for text in ('{"state": "do', "[1, 2]", '{"n": NaN}', "[" * 100 + "]" * 100):
        path.write_text(text)
        assert read_json_object(path) is None, text
    path.write_bytes(b'{"state": "\xff"}')
    assert read_json_object(path) is None  # not UTF-8
