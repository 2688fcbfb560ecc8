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
