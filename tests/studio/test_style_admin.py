"""Renaming and deleting styles from the studio (with undo): only the user's own, never one a job uses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from studio.conftest import make_reference


def names(client) -> list[str]:
    return [style["name"] for style in client.get("/api/styles").json()["styles"]]


@pytest.mark.slow
def test_a_style_is_renamed_and_still_loads_under_its_new_name(client, studio):
    import stylize

    make_reference(client, seed=1, name="mine")
    answer = client.post("/api/styles/mine/rename", json={"to": "charcoal study"})
    assert answer.status_code == 400 and "letters, digits" in answer.json()["error"]  # the name rule, one line
    answer = client.post("/api/styles/mine/rename", json={"to": "charcoal"})
    assert answer.status_code == 200 and answer.json()["style"]["name"] == "charcoal"
    assert "charcoal" in names(client) and "mine" not in names(client)
    folder = Path(studio.workspace.styles_dir) / "charcoal"
    assert json.loads((folder / "model.json").read_text())["name"] == "charcoal"
    assert stylize.load_style("charcoal", studio.workspace.styles_dir).name == "charcoal"


@pytest.mark.slow
def test_bundled_styles_and_taken_names_are_refused(client):
    make_reference(client, seed=1, name="mine")
    make_reference(client, seed=2, name="other")
    bundled = client.post("/api/styles/pencil/rename", json={"to": "mine2"})
    assert bundled.status_code == 400 and "bundled style" in bundled.json()["error"]
    assert client.post("/api/styles/pencil/delete").status_code == 400
    taken = client.post("/api/styles/mine/rename", json={"to": "other"})
    assert taken.status_code == 400 and "exists" in taken.json()["error"]
    assert client.post("/api/styles/mine/rename", json={"to": "pencil"}).status_code == 400
    assert client.post("/api/styles/nope/rename", json={"to": "x"}).status_code == 400
    assert {"mine", "other", "pencil"} <= set(names(client))


def test_a_deleted_style_can_be_restored(client, studio):
    make_reference(client, seed=1, name="mine")
    answer = client.post("/api/styles/mine/delete")
    assert answer.status_code == 200
    undo = answer.json()["undo"]
    assert answer.json()["deleted"] == "mine" and "mine" not in names(client)
    assert not (Path(studio.workspace.styles_dir) / "mine").exists()
    restored = client.post(f"/api/trash/{undo}/restore")
    assert restored.status_code == 200 and restored.json()["style"]["name"] == "mine"
    assert "mine" in names(client)
    again = client.post(f"/api/trash/{undo}/restore")
    assert again.status_code == 404
    assert client.post("/api/trash/..%2Fescape~1/restore").status_code in (400, 404)


def test_a_restore_does_not_replace_a_style_made_since(client):
    make_reference(client, seed=1, name="mine")
    undo = client.post("/api/styles/mine/delete").json()["undo"]
    make_reference(client, seed=2, name="mine")  # the name taken again
    answer = client.post(f"/api/trash/{undo}/restore")
    assert answer.status_code == 400 and "exists again" in answer.json()["error"]


def test_a_style_a_job_uses_is_neither_renamed_nor_deleted(client, studio, monkeypatch):
    make_reference(client, seed=1, name="mine")
    monkeypatch.setattr(studio.jobs, "busy", lambda: {"id": "j0001", "style": "mine", "name": "mine-trained"})
    answer = client.post("/api/styles/mine/rename", json={"to": "theirs"})
    assert answer.status_code == 400 and "in use by job j0001" in answer.json()["error"]
    assert client.post("/api/styles/mine/delete").status_code == 400
    assert "mine" in names(client)


def stopped(client) -> list[dict]:
    return client.get("/api/state").json()["stopped"]


def test_a_stopped_trainings_folder_is_listed_and_deleted_with_undo(client, studio):
    """A training stopped before it wrote its first whole style leaves a folder with no style in it: the
    studio lists it (its steps, from its last whole checkpoint) instead of hiding it, and deletes it to the
    trash with undo, as it does a style."""
    styles = Path(studio.workspace.styles_dir)
    (styles / "half" / ".checkpoint").mkdir(parents=True)
    (styles / "half" / ".checkpoint" / "checkpoint.json").write_text(json.dumps({"step": 7, "elapsed": 1.0}))
    (styles / "half" / ".checkpoint" / "checkpoint.safetensors").write_bytes(b"0")
    (styles / "killed").mkdir()  # killed before its first checkpoint: nothing to resume
    (styles / ".hidden").mkdir()  # not a style's folder: never listed
    assert stopped(client) == [
        {"name": "half", "steps": 7, "resumable": True, "job": None},  # no job of this studio made it
        {"name": "killed", "steps": 0, "resumable": False, "job": None},
    ]
    assert "half" not in names(client)
    answer = client.post("/api/stopped/half/delete")
    assert answer.status_code == 200 and answer.json()["deleted"] == "half"
    assert [item["name"] for item in stopped(client)] == ["killed"] and not (styles / "half").exists()
    restored = client.post(f"/api/trash/{answer.json()['undo']}/restore")
    assert restored.status_code == 200 and restored.json() == {"style": None, "stopped": "half"}
    assert [item["name"] for item in stopped(client)] == ["half", "killed"]
    assert (styles / "half" / ".checkpoint" / "checkpoint.json").is_file()
    # only such folders: a style, an unknown name or a path is refused
    make_reference(client, seed=1, name="mine")
    assert client.post("/api/stopped/mine/delete").status_code == 404
    assert client.post("/api/stopped/nope/delete").status_code == 404
    assert client.post("/api/stopped/..%2Fstudio/delete").status_code == 404
    assert "mine" in names(client)
