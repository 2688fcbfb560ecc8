"""The studio's data, from the issue's hostile probe: a bad legacy file does not hide the others, a small file
declaring a huge image is refused before it is decoded, renders are keyed by the pixels they were made from
and are not lost to a full disk, and no job or dropped reference takes a style folder it did not make."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from studio.conftest import TOKEN, png_bytes
from stylize.errors import StylizeError


def declaring(width: int, height: int) -> bytes:
    """A small PNG whose header declares ``width`` x ``height`` (its pixel data is a 1x1 image's: never read)."""
    small = png_bytes(1, 1)
    ihdr = small.index(b"IHDR")
    body = struct.pack(">II", width, height) + small[ihdr + 12 : ihdr + 17]
    chunk = b"IHDR" + body
    return small[: ihdr - 4] + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk)) + small[ihdr + 21 :]


def open_with_legacy(tmp_path: Path, files: dict[str, bytes]):
    from stylize.studio import open_studio

    legacy = tmp_path / "legacy"
    legacy.mkdir()
    for name, data in files.items():
        (legacy / name).write_bytes(data)
    return open_studio(
        tmp_path / "s", styles_dir=tmp_path / "styles", legacy=[legacy], token=TOKEN, eval_faces=0, warm_up=False
    ), legacy


def test_an_unreadable_legacy_portrait_is_left_out_and_named_not_the_whole_list(tmp_path):
    from starlette.testclient import TestClient

    files = {
        "a.png": png_bytes(40, 30, seed=1),
        "b_bomb.png": declaring(40000, 40000),
        "c.png": png_bytes(40, 30, seed=2),
    }
    opened, _ = open_with_legacy(tmp_path, files)
    try:
        with TestClient(opened.app, headers={"X-Stylize-Token": TOKEN}) as http:
            answer = http.get("/api/faces?source=legacy")
            assert answer.status_code == 200
            listed = answer.json()
            assert [face["label"] for face in listed["faces"]] == ["a.png", "c.png"]
            (problem,) = listed["problems"]
            assert "b_bomb.png" in problem and "\n" not in problem
    finally:
        opened.close()


def test_a_small_upload_declaring_a_huge_image_is_refused_before_it_is_decoded(client, monkeypatch):
    import stylize.studio.workspace as workspace

    def never(*args, **kwargs):
        raise AssertionError("decoded an image whose header was over the limit")

    monkeypatch.setattr(workspace, "read_image", never)
    data = declaring(9000, 9000)
    assert len(data) < 1000
    answer = client.post("/api/faces", files=[("files", ("huge.png", data, "image/png"))])
    assert answer.status_code == 413
    assert "huge.png: 9000x9000 pixels" in answer.json()["error"]


def test_a_render_is_keyed_by_the_pixels_so_a_replaced_legacy_file_is_drawn_again(tmp_path):
    from stylize.inference.image import ApplySettings

    opened, legacy = open_with_legacy(tmp_path, {"a.png": png_bytes(40, 30, seed=1)})
    try:
        workspace = opened.workspace
        before = workspace.render_key("l0", "pencil-nano", ApplySettings())
        assert workspace.render_key("l0", "pencil-nano", ApplySettings()) == before
        (legacy / "a.png").write_bytes(png_bytes(40, 30, seed=5))  # the same name, other pixels
        after = workspace.render_key("l0", "pencil-nano", ApplySettings())
        assert after != before
        assert np.array_equal(
            workspace.face("l0").rgb[..., :3],
            np.asarray(Image.open(legacy / "a.png").convert("RGB")),
        )
    finally:
        opened.close()


@pytest.mark.slow
def test_a_render_that_cannot_be_cached_on_a_full_disk_is_still_answered(client, monkeypatch):
    import errno

    import stylize.studio.workspace as workspace
    from stylize.faults import machine_error

    def full(path, data, **kwargs):
        raise machine_error(OSError(errno.ENOSPC, "No space left on device"), Path(path))

    monkeypatch.setattr(workspace, "atomic_write_bytes", full)
    answer = client.get("/api/render.png?face=g0&style=pencil-nano&scale=0.5")
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/png"


def test_a_distillation_never_replaces_a_style_it_did_not_make(client, studio):
    styles = Path(studio.workspace.styles_dir)
    foreign = styles / "pencil-nano"
    foreign.mkdir(parents=True)
    (foreign / "model.json").write_text(json.dumps({"distilled_from": {"style": "ink_wash"}}))
    answer = client.post("/api/jobs", json={"kind": "distill", "style": "pencil", "steps": 1})
    assert answer.status_code == 400
    assert "'pencil-nano' exists and is not a student of 'pencil'" in answer.json()["error"]
    assert client.get("/api/jobs").json() == {"jobs": []}


def test_a_student_of_the_same_teacher_may_be_made_again(tmp_path):
    from stylize.studio.jobs import check_student_target

    check_student_target(tmp_path, "x-nano", "x")  # nothing there
    (tmp_path / "x-nano").mkdir()
    with pytest.raises(StylizeError, match="not a student"):  # a folder without a model: someone's
        check_student_target(tmp_path, "x-nano", "x")
    (tmp_path / "x-nano" / "model.json").write_text(json.dumps({"distilled_from": {"style": "x"}}))
    check_student_target(tmp_path, "x-nano", "x")


def test_a_dropped_reference_does_not_take_a_folder_a_training_is_writing(client, studio):
    writing = Path(studio.workspace.styles_dir) / "busy"
    (writing / ".checkpoint").mkdir(parents=True)  # a training's folder before its model.json
    answer = client.post(
        "/api/references", files=[("files", ("a.png", png_bytes(seed=1), "image/png"))], data={"name": "busy"}
    )
    assert answer.status_code == 400
    assert "a folder of that name" in answer.json()["error"]
    assert not (writing / "model.json").exists()


def test_a_worker_killed_from_outside_is_interrupted_not_failed(studio):
    import subprocess
    import sys

    jobs = studio.jobs
    job = jobs.folder / "j0004"
    job.mkdir(parents=True)
    (job / "job.json").write_text(json.dumps({"kind": "train", "style": "x", "name": "k", "steps": 9}))
    (job / "status.json").write_text(json.dumps({"state": "running"}))
    killed = subprocess.Popen([sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"])
    killed.wait(30)
    jobs._process, jobs._job_id = killed, "j0004"  # as if the OOM killer took the job's worker
    jobs._reap()
    status = json.loads((job / "status.json").read_text())
    assert status["state"] == "interrupted"
    assert "killed (signal 9" in status["error"] and "last checkpoint" in status["error"]


@pytest.mark.slow
def test_a_new_training_does_not_take_a_stopped_trainings_folder(client, studio):
    stopped = Path(studio.workspace.styles_dir) / "halfway"
    (stopped / ".checkpoint").mkdir(parents=True)
    style = client.post("/api/references", files=[("files", ("a.png", png_bytes(seed=1), "image/png"))]).json()
    answer = client.post(
        "/api/jobs", json={"kind": "train", "style": style["style"]["name"], "name": "halfway", "steps": 2}
    )
    assert answer.status_code == 400
    assert "a stopped training of that name" in answer.json()["error"]


@pytest.mark.slow
def test_a_dropped_reference_is_named_after_its_file(client):
    def drop(file_name: str, seed: int) -> str:
        answer = client.post("/api/references", files=[("files", (file_name, png_bytes(seed=seed), "image/png"))])
        assert answer.status_code == 200, answer.text
        return answer.json()["style"]["name"]

    assert drop("My Sketch (1).PNG", 1) == "my-sketch-1"
    assert drop("My Sketch (1).PNG", 1) == "my-sketch-1"  # the same image again: the same style
    assert drop("my sketch (1).png", 2) == "my-sketch-1-2"  # the name holds other references: the next one
    assert drop("pencil.png", 1) == "pencil-2"  # a bundled style's name is not taken
    assert drop("....png", 3).startswith("ref-")  # nothing usable in the name: named by the images' hash


def test_jobs_wait_in_line_and_start_in_order(studio, monkeypatch):
    import subprocess
    import sys

    from stylize.files import write_json
    from stylize.studio import jobs as jobs_module

    manager = studio.jobs
    started: list[str] = []

    def fake_start(self, job_id, *, resume):  # a worker that ends at once, its job done
        started.append(job_id)
        write_json(self.folder / job_id / "status.json", {"state": "done", "runs": 1}, indent=1)
        self._process, self._job_id = subprocess.Popen([sys.executable, "-c", "pass"]), job_id
        self._process.wait(30)

    monkeypatch.setattr(jobs_module.JobManager, "_start", fake_start)
    monkeypatch.setattr(manager, "_job_id", "j0999")  # as if a job were running
    monkeypatch.setattr(manager, "_process", subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]))
    running = manager._process
    try:
        first = manager.submit({"kind": "export_onnx", "style": "pencil"})
        second = manager.submit({"kind": "export_onnx", "style": "pencil-nano"})
        assert first["state"] == second["state"] == "waiting" and started == []
        manager.poll()
        assert started == []  # the running one has not ended
    finally:
        running.kill()
        running.wait(30)
    (manager.folder / "j0999").mkdir()
    write_json(manager.folder / "j0999" / "job.json", {"kind": "export_onnx", "style": "x"}, indent=1)
    manager.poll()  # it ended: the first in line starts, then (it ends at once) the next
    manager.poll()
    assert started == [first["id"], second["id"]]


@pytest.mark.slow
def test_a_made_styles_figures_come_with_its_starting_styles(tmp_path):
    from stylize.config import default_config
    from stylize.studio.jobs import WorkerSetup
    from stylize.studio.worker import _figures

    setup = WorkerSetup(None, str(tmp_path / "styles"), None, (), 2, (0,))
    figures, lines = _figures("pencil-nano", setup, default_config(), start="pencil")
    assert figures["before"]["style"] == "pencil"
    for key in ("style_score", "same_person", "value_spread"):
        assert key in figures and key in figures["before"]
    assert len(lines) == 3  # the table's head and a row a style
