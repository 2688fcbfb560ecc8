import json

import numpy as np
import pytest
from conftest import make_tree
from PIL import Image

from stylize import StylizeError, compose, iter_faces
from stylize.content.compose import MANIFEST_NAME


@pytest.fixture
def tree(tmp_path):
    return make_tree(tmp_path / "facegen")


def test_compose_writes_pngs_and_manifest_in_the_documented_form(tree, tmp_path):
    result = compose("3,7,12", tmp_path / "out", parts=tree, progress=False)
    assert result.written == ["face_0000000003.png", "face_0000000007.png", "face_0000000012.png"]
    lines = (tmp_path / "out" / MANIFEST_NAME).read_text().splitlines()
    record = json.loads(lines[1])
    assert list(record) == ["seed", "file", "species", "race", "gender", "armoured", "parts"]
    assert list(record["parts"]) == ["head", "eyes", "nose", "mouth", "hair", "accessories", "clothes", "armour"]
    assert record["seed"] == 7 and record["file"] == "face_0000000007.png" and record["armoured"] is False
    race, gender = record["race"], record["gender"]
    assert record["parts"]["head"].startswith(f"species_0/race_{race}/head/head_{gender}_")
    assert record["parts"]["clothes"].startswith(f"species_0/clothes/cloth_{gender}_")
    image = Image.open(tmp_path / "out" / record["file"])
    assert image.size == (295, 285) and image.mode == "RGB"


def test_rerun_skips_and_is_byte_identical(tree, tmp_path):
    compose("0-5", tmp_path / "a", parts=tree, progress=False)
    first = {p.name: p.read_bytes() for p in (tmp_path / "a").iterdir()}
    again = compose("0-5", tmp_path / "a", parts=tree, progress=False)
    assert again.written == [] and len(again.skipped) == 6
    assert {p.name: p.read_bytes() for p in (tmp_path / "a").iterdir()} == first
    compose("0-5", tmp_path / "b", parts=tree, progress=False)
    assert {p.name: p.read_bytes() for p in (tmp_path / "b").iterdir()} == first


def test_interrupted_run_resumes(tree, tmp_path):
    out = tmp_path / "out"
    compose("0-9", tmp_path / "reference", parts=tree, progress=False)
    compose("0-3", out, parts=tree, progress=False)
    # Simulate a kill mid-way: a torn manifest line and a face whose PNG never got written.
    with open(out / MANIFEST_NAME, "a") as journal:
        journal.write('{"seed": 4, "file": "face_00')
    (out / "face_0000000002.png").unlink()
    result = compose("0-9", out, parts=tree, progress=False)
    assert sorted(result.written) == [f"face_{s:010d}.png" for s in (2, 4, 5, 6, 7, 8, 9)]
    assert (out / MANIFEST_NAME).read_bytes() == (tmp_path / "reference" / MANIFEST_NAME).read_bytes()
    for path in (tmp_path / "reference").glob("*.png"):
        assert (out / path.name).read_bytes() == path.read_bytes()


def test_changed_tree_recomposes_stale_faces(tree, tmp_path):
    compose("0-7", tmp_path / "out", parts=tree, progress=False)
    for path in (tree / "species_0/accessories").glob("acc_1*"):
        path.unlink()  # picks change for faces that had acc_1
    result = compose("0-7", tmp_path / "out", parts=tree, progress=False)
    records = [json.loads(x) for x in (tmp_path / "out" / MANIFEST_NAME).read_text().splitlines()]
    assert all(r["parts"]["accessories"].endswith("acc_0.png") for r in records)
    assert result.written  # some faces had to be redone


def test_armoured_faces_have_their_own_files(tree, tmp_path):
    compose("1", tmp_path / "out", parts=tree, progress=False)
    compose("1", tmp_path / "out", parts=tree, armoured=True, progress=False)
    names = sorted(p.name for p in (tmp_path / "out").glob("*.png"))
    assert names == ["face_0000000001.png", "face_0000000001_armoured.png"]
    records = [json.loads(x) for x in (tmp_path / "out" / MANIFEST_NAME).read_text().splitlines()]
    assert [r["armoured"] for r in records] == [False, True]


def test_output_inside_the_tree_is_refused(tree):
    with pytest.raises(StylizeError, match="inside the part tree"):
        compose("0", tree / "faces", parts=tree, progress=False)


def test_bad_seed_leaves_no_output(tree, tmp_path):
    with pytest.raises(StylizeError, match="out of range"):
        compose("0,4294967296", tmp_path / "out", parts=tree, progress=False)
    assert not (tmp_path / "out").exists()


def test_iter_faces_matches_files(tree, tmp_path):
    compose("4", tmp_path / "out", parts=tree, progress=False)
    (face,) = iter_faces("4", parts=tree)
    assert (np.asarray(Image.open(tmp_path / "out" / face.file_name)) == face.rgb).all()


def test_a_tree_that_fails_some_seed_writes_nothing(tmp_path):
    tree = make_tree(tmp_path / "facegen", races=2)
    for path in (tree / "species_0/race_1/mouth").glob("mouth_1_*"):
        path.unlink()  # race 1, gender 1 faces have no mouth
    with pytest.raises(StylizeError, match="no mouth part for species 0, race 1, gender 1"):
        compose("0-63", tmp_path / "out", parts=tree, progress=False)
    assert not (tmp_path / "out").exists()
