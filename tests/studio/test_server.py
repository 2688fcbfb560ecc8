"""The studio's HTTP API: every endpoint, the token, upload limits and bad files (docs/studio.md)."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import time
import zipfile

import numpy as np
import pytest
from PIL import Image

from studio.conftest import TOKEN, make_reference, open_tiny_studio, png_bytes
from stylize.studio.workspace import MAX_UPLOAD_BYTES, MAX_UPLOAD_FILES


def decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


# --- the token ---
@pytest.mark.parametrize(
    "path", ["/", "/static/studio.js", "/api/state", "/api/faces", "/api/render.png?face=g0&style=pencil", "/nope"]
)
def test_every_request_needs_the_token(studio, path):
    from starlette.testclient import TestClient

    with TestClient(studio.app) as anonymous:
        answer = anonymous.get(path)
        assert answer.status_code == 403
        assert "token" in answer.json()["error"]
        assert anonymous.get(path, headers={"X-Stylize-Token": TOKEN[:-1] + "x"}).status_code == 403
        assert anonymous.get(path + ("&" if "?" in path else "?") + "token=wrong").status_code == 403
        assert anonymous.post("/api/jobs", json={"kind": "export_onnx", "style": "pencil"}).status_code == 403


def test_the_token_in_the_address_sets_a_strict_cookie_that_later_requests_use(studio):
    from starlette.testclient import TestClient

    with TestClient(studio.app) as browser:
        first = browser.get(f"/api/state?token={TOKEN}")
        assert first.status_code == 200
        cookie = first.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        assert browser.get("/api/state").status_code == 200  # the cookie alone


def test_answers_carry_the_security_headers(client):
    headers = client.get("/api/state").headers
    assert "default-src 'self'" in headers["content-security-policy"]
    assert "script-src 'self'" in headers["content-security-policy"]
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-content-type-options"] == "nosniff"


# --- page and state ---
def test_the_page_and_its_two_static_files_are_served_and_nothing_else(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for name in ("studio.js", "studio.css"):
        assert client.get(f"/static/{name}").status_code == 200
        assert f"/static/{name}" in page.text
    assert "http://" not in page.text.replace("http://www.w3.org", "") and "https://" not in page.text
    for name in ("../server.py", "index.html", "..%2Fserver.py", "x.js"):
        assert client.get(f"/static/{name}").status_code == 404


def test_state_lists_faces_styles_limits_and_no_busy_job(client):
    state = client.get("/api/state").json()
    assert state["faces"]["game"] is True and state["faces"]["min"] == 4 and state["faces"]["max"] == 16
    names = {style["name"]: style for style in state["styles"]}
    assert {"pencil", "pencil-nano", "paint"} <= set(names)
    assert names["pencil"]["origin"] == "bundled" and names["pencil"]["kind"] == "trained"
    assert state["limits"] == {"upload_bytes": MAX_UPLOAD_BYTES, "upload_files": MAX_UPLOAD_FILES}
    assert state["busy"] is None and state["jobs"] == []
    assert client.get("/api/styles").json()["styles"] == state["styles"]


# --- faces ---
def test_game_faces_by_seed_plain_and_armoured(client):
    faces = client.get("/api/faces?source=game&seeds=3,7,11,12").json()["faces"]
    assert [face["id"] for face in faces] == ["g3", "g7", "g11", "g12"]
    armoured = client.get("/api/faces?source=game&seeds=3,7,11,12&armoured=1").json()["faces"]
    assert [face["id"] for face in armoured] == ["g3a", "g7a", "g11a", "g12a"]
    plain, heavy = (decode(client.get(f"/api/face/{i}.png").content) for i in ("g3", "g3a"))
    assert plain.shape == heavy.shape == (285, 295, 3)
    assert not np.array_equal(plain, heavy)


@pytest.mark.parametrize(
    "query, fragment",
    [
        ("source=game&seeds=0-2", "3 faces"),
        ("source=game&seeds=0-16", "17 faces"),
        ("source=game&seeds=banana", "seed"),
        ("source=game&seeds=0-3&armoured=maybe", "armoured"),
        ("source=legacy", "legacy=DIR"),
        ("source=uploads", "no uploaded portraits"),
        ("source=disk", "game, legacy or uploads"),
    ],
)
def test_bad_face_requests_are_one_line(client, query, fragment):
    answer = client.get(f"/api/faces?{query}")
    assert answer.status_code == 400
    assert fragment in answer.json()["error"] and "\n" not in answer.json()["error"]


@pytest.mark.parametrize("face", ["g", "x1", "l99", "u0123456789ab", "..%2F..%2Fetc%2Fpasswd", "g1b"])
def test_unknown_face_ids_are_404(client, face):
    assert client.get(f"/api/face/{face}.png").status_code == 404


def test_legacy_portraits_come_from_the_folder_given_at_start(tmp_path):
    from starlette.testclient import TestClient

    from stylize.studio import open_studio

    legacy = tmp_path / "legacy"
    legacy.mkdir()
    for index in range(20):
        (legacy / f"p{index:02d}.png").write_bytes(png_bytes(60, 50, seed=index, mode="RGBA"))
    opened = open_studio(
        tmp_path / "s", styles_dir=tmp_path / "styles", legacy=[legacy], token=TOKEN, eval_faces=0, warm_up=False
    )
    try:
        with TestClient(opened.app, headers={"X-Stylize-Token": TOKEN}) as http:
            faces = http.get("/api/faces?source=legacy").json()["faces"]
            assert len(faces) == 16 and faces[0]["label"] == "p00.png"
            image = decode(http.get("/api/face/l3.png").content)
            assert image.shape == (50, 60, 4)  # size and alpha kept
            styled = decode(http.get("/api/render.png?face=l3&style=pencil-nano").content)
            assert styled.shape == (50, 60, 4) and np.array_equal(styled[..., 3], image[..., 3])
    finally:
        opened.close()


def test_a_missing_legacy_folder_is_refused_at_start(tmp_path):
    from stylize.errors import StylizeError
    from stylize.studio import open_studio

    with pytest.raises(StylizeError, match="legacy portrait folder not found"):
        open_studio(tmp_path / "s", legacy=[tmp_path / "nowhere"])


def test_uploaded_portraits_are_stored_as_pngs_under_the_studio(client, studio):
    answer = client.post("/api/faces", files=[("files", ("../../evil.png", png_bytes(80, 70, seed=1), "image/png"))])
    assert answer.status_code == 200, answer.text
    faces = answer.json()["faces"]
    assert len(faces) == 1 and faces[0]["id"].startswith("u")
    stored = list((studio.workspace.folder / "uploads" / "faces").glob("*.png"))
    assert [p.name for p in stored] == [faces[0]["id"][1:] + ".png"]
    assert faces[0]["label"] == "evil.png"  # its own name's last part, never a path
    assert decode(client.get(faces[0]["url"]).content).shape == (70, 80, 3)
    later = client.post("/api/faces", files=[("files", ("b.png", png_bytes(30, 40, seed=2), "image/png"))])
    assert later.json()["faces"][0]["id"] != faces[0]["id"]  # the latest upload comes first
    assert later.json()["faces"][0]["label"] == "b.png"  # named by its own file, not its hash
    assert [f["id"] for f in later.json()["faces"]][1] == faces[0]["id"]
    assert later.json()["added"] == [later.json()["faces"][0]["id"]]  # the ids just dropped


def test_uploaded_portraits_are_shown_beside_the_game_faces(client):
    dropped = client.post(
        "/api/faces",
        files=[
            ("files", ("Mine One.png", png_bytes(80, 70, seed=1), "image/png")),
            ("files", ("two.png", png_bytes(30, 40, seed=2), "image/png")),
        ],
    ).json()["added"]
    assert len(dropped) == 2
    answer = client.get("/api/faces", params={"source": "game", "seeds": "0-3", "add": ",".join(dropped)})
    assert answer.status_code == 200, answer.text
    faces = answer.json()["faces"]
    assert [f["id"] for f in faces] == ["g0", "g1", "g2", "g3", *dropped]  # the game's faces, then the portraits
    assert [f["label"] for f in faces[4:]] == ["Mine One.png", "two.png"] and all(f["added"] for f in faces[4:])
    assert not any(f.get("added") for f in faces[:4])
    # a portrait since removed from disk is left out and named; ids are checked; at most 8 beside the faces
    gone = client.get("/api/faces", params={"source": "game", "seeds": "0-3", "add": "u" + "0" * 12})
    assert [f["id"] for f in gone.json()["faces"]] == ["g0", "g1", "g2", "g3"] and gone.json()["problems"]
    for bad in ("g5", "../x", ",".join(f"u{i:012x}" for i in range(9))):
        refused = client.get("/api/faces", params={"source": "game", "seeds": "0-3", "add": bad})
        assert refused.status_code == 400 and "\n" not in refused.json()["error"], bad


# --- references ---
@pytest.mark.slow
def test_a_dropped_reference_becomes_a_zero_training_style_folder_the_cli_reads(client, studio, tmp_path):
    import stylize

    style = make_reference(client, seed=1)
    assert (
        style["kind"] == "zero" and style["origin"] == "user" and style["name"] == "ref1"
    )  # named after the file (ref1.png)
    assert (tmp_path / "styles" / style["name"] / "model.json").is_file()
    model = stylize.load_style(style["name"], tmp_path / "styles")
    assert model.metadata["kind"] == style_kind(model)
    assert make_reference(client, seed=1)["name"] == style["name"]  # the same images: the same style
    thumb = decode(client.get(style["refs"][0]).content)
    assert max(thumb.shape[:2]) <= 256
    assert client.get(f"/api/ref/{style['name']}/5.png").status_code == 404
    assert client.get("/api/ref/nope/0.png").status_code == 400


def style_kind(model) -> str:
    return model.metadata["kind"]


@pytest.mark.slow
def test_a_named_reference_and_a_name_clash(client):
    assert make_reference(client, seed=1, name="charcoal")["name"] == "charcoal"
    clash = client.post(
        "/api/references", files=[("files", ("b.png", png_bytes(seed=2), "image/png"))], data={"name": "charcoal"}
    )
    assert clash.status_code == 400 and "other references" in clash.json()["error"]
    bundled = client.post(
        "/api/references", files=[("files", ("b.png", png_bytes(seed=2), "image/png"))], data={"name": "pencil"}
    )
    assert bundled.status_code == 400 and "bundled" in bundled.json()["error"]
    for bad in ("../up", "a b", ".hidden"):
        answer = client.post(
            "/api/references", files=[("files", ("b.png", png_bytes(seed=2), "image/png"))], data={"name": bad}
        )
        assert answer.status_code == 400, bad


def _bomb() -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (12000, 12000), 0).save(buffer, "PNG", compress_level=1)  # 144 MP of zeros in 0.6 MB, 0.4 s
    return buffer.getvalue()


@pytest.mark.parametrize(
    "files, status, fragment",
    [
        ([("files", ("notes.png", b"this is not an image", "image/png"))], 400, "notes.png: cannot read"),
        ([("files", ("empty.png", b"", "image/png"))], 400, "empty"),
        ([("files", ("cut.png", png_bytes()[:200], "image/png"))], 400, "cut.png"),
        ([("files", ("big.png", _bomb(), "image/png"))], 413, "big.png: 12000x12000 pixels"),  # refused by its header
        (
            [("files", (f"r{i}.png", png_bytes(seed=i), "image/png")) for i in range(MAX_UPLOAD_FILES + 1)],
            413,
            "at most",
        ),
        ([("other", ("r.png", png_bytes(), "image/png"))], 400, "field 'files'"),
    ],
)
def test_bad_uploads_are_one_line_and_store_nothing(client, studio, tmp_path, files, status, fragment):
    answer = client.post("/api/references", files=files)
    assert answer.status_code == status, answer.text
    assert fragment in answer.json()["error"] and "\n" not in answer.json()["error"]
    assert not list((studio.workspace.folder / "uploads" / "refs").iterdir())
    assert not (tmp_path / "styles").exists() or not list((tmp_path / "styles").iterdir())
    assert client.get("/api/state").status_code == 200  # the server goes on


def test_an_oversized_upload_is_refused_before_it_is_read(client):
    answer = client.post(
        "/api/references", files=[("files", ("huge.png", b"\0" * (MAX_UPLOAD_BYTES + 10), "image/png"))]
    )
    assert answer.status_code == 413 and "bytes" in answer.json()["error"]
    declared = client.post(
        "/api/references",
        content=b"--x--",
        headers={"content-type": "multipart/form-data; boundary=x", "content-length": str(10**10)},
    )
    assert declared.status_code == 413


def test_a_reference_needs_multipart(client):
    answer = client.post("/api/references", json={"files": []})
    assert answer.status_code == 400 and "multipart" in answer.json()["error"]


# --- the grid ---
@pytest.mark.slow
def test_render_gives_the_styled_face_the_same_size_and_caches_it(client, studio):
    first = client.get("/api/render.png?face=g0&style=pencil-nano&strength=0.7&preserve=1&scale=1.25")
    assert first.status_code == 200 and first.headers["content-type"] == "image/png"
    assert decode(first.content).shape == (285, 295, 3)
    assert len(list((studio.workspace.folder / "renders").iterdir())) == 1
    again = client.get("/api/render.png?face=g0&style=pencil-nano&strength=0.7&preserve=1&scale=1.25")
    assert again.content == first.content
    unstyled = client.get("/api/render.png?face=g0&style=pencil-nano&strength=0").content
    assert np.array_equal(decode(unstyled), decode(client.get("/api/face/g0.png").content))
    assert client.get("/api/state").json()["settings"]["keep_values"] == 1.0  # the slider's start: the config's
    flat = client.get("/api/render.png?face=g0&style=pencil-nano&keep_values=0").content
    assert not np.array_equal(decode(flat), decode(client.get("/api/render.png?face=g0&style=pencil-nano").content))


def test_a_browser_revalidates_a_render_with_its_etag(client):
    first = client.get("/api/render.png?face=g1&style=pencil-nano")
    etag = first.headers["etag"]
    assert "no-cache" in first.headers["cache-control"] and "no-store" not in first.headers["cache-control"]
    again = client.get("/api/render.png?face=g1&style=pencil-nano", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    other = client.get("/api/render.png?face=g1&style=pencil-nano&strength=0.5", headers={"If-None-Match": etag})
    assert other.status_code == 200 and other.headers["etag"] != etag
    assert "max-age" in client.get("/api/face/g1.png").headers["cache-control"]
    assert client.get("/api/state").headers["cache-control"] == "no-store"


@pytest.mark.slow
def test_render_matches_the_library_on_the_same_face(client):
    import stylize
    from stylize.inference.image import ApplySettings, stylize_rgb

    face = next(stylize.iter_faces("5"))
    expected = stylize_rgb(stylize.load_style("pencil-nano").network, face.rgb, "cpu", ApplySettings(strength=0.5))
    served = decode(client.get("/api/render.png?face=g5&style=pencil-nano&strength=0.5").content)
    assert np.array_equal(served, expected)


@pytest.mark.slow
def test_a_mix_of_two_zero_styles_renders(client):
    a, b = make_reference(client, seed=1)["name"], make_reference(client, seed=2)["name"]
    mixed = client.get(f"/api/render.png?face=g1&style={a}:0.7,{b}:0.3")
    assert mixed.status_code == 200
    alone = client.get(f"/api/render.png?face=g1&style={a}")
    assert mixed.content != alone.content


@pytest.mark.parametrize(
    "query, fragment",
    [
        ("face=g0&style=nope", "no such style"),
        ("face=g0&style=pencil&strength=2", "strength"),
        ("face=g0&style=pencil&keep_values=-1", "keep_values"),
        ("face=g0&style=pencil&strength=abc", "strength"),
        ("face=g0&style=pencil&scale=0", "scale"),
        ("face=g0&style=pencil&preserve=yes", "preserve"),
        ("face=../x&style=pencil", "face"),
        ("face=g0&style=", "style"),
        ("face=g0&style=pencil:0.5,paint:0.5", "zero"),
    ],
)
def test_bad_render_requests_are_one_line(client, query, fragment):
    answer = client.get(f"/api/render.png?{query}")
    assert answer.status_code == 400, answer.text
    assert fragment in answer.json()["error"]


# --- jobs: requests (no worker started) ---
@pytest.mark.parametrize(
    "body, fragment",
    [
        ({"kind": "paint", "style": "pencil"}, "kind="),
        ({"kind": "export_onnx", "style": "nope"}, "no such style"),
        ({"kind": "export_onnx", "style": "pencil", "path": "/etc"}, "unknown field"),
        ({"kind": "train", "style": "pencil", "name": "x", "steps": 3}, "trained style"),
        ({"kind": "distill", "style": "pencil"}, "budget"),
        ({"kind": "distill", "style": "pencil", "minutes": -1}, "minutes"),
        ({"kind": "distill", "style": "pencil", "minutes": "1"}, "minutes"),
        ({"kind": "distill", "style": "pencil", "steps": 0}, "steps"),
        ({"kind": "distill", "style": "pencil", "steps": True}, "steps"),
        (["export_onnx"], "JSON object"),
    ],
)
def test_bad_job_requests_are_refused_before_any_work(client, studio, body, fragment):
    answer = client.post("/api/jobs", json=body)
    assert answer.status_code == 400, answer.text
    assert fragment in answer.json()["error"]
    assert client.get("/api/jobs").json()["jobs"] == []


@pytest.mark.slow
def test_a_train_request_needs_a_new_valid_name(client):
    ref = make_reference(client, seed=1)["name"]
    for name, fragment in (("pencil", "exists"), ("../x", "name"), (None, "name")):
        body = {"kind": "train", "style": ref, "steps": 2, **({"name": name} if name else {})}
        answer = client.post("/api/jobs", json=body)
        assert answer.status_code == 400 and fragment in answer.json()["error"], (name, answer.text)


def test_job_requests_must_be_json(client):
    assert client.post("/api/jobs", content=b"kind=train").status_code == 400
    answer = client.post("/api/jobs", content=b"{" * 5000, headers={"content-type": "application/json"})
    assert answer.status_code == 400 and "JSON" in answer.json()["error"]
    too_big = client.post("/api/jobs", content=b" " * 70_000, headers={"content-type": "application/json"})
    assert too_big.status_code == 413


@pytest.mark.parametrize("path", ["/api/jobs/j9999", "/api/jobs/../../x", "/api/jobs/j0001/preview.png"])
def test_unknown_jobs_are_404(client, path):
    assert client.get(path).status_code == 404


def test_cancel_and_resume_of_unknown_or_idle_jobs(client):
    assert client.post("/api/jobs/j0001/cancel").status_code == 404
    assert client.post("/api/jobs/j0001/resume").status_code == 404
    assert client.get("/api/download/j0001/x.onnx").status_code == 404


# --- jobs: real workers ---
def wait_for(client, job_id: str, states: tuple[str, ...], timeout: float = 240.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}").json()["job"]
        if job["state"] in states:
            return job
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} stayed {job['state']}: {job}")


@pytest.mark.slow
def test_export_onnx_job_runs_in_a_worker_and_its_file_downloads(client, studio, tmp_path):
    answer = client.post("/api/jobs", json={"kind": "export_onnx", "style": "pencil-nano"})
    assert answer.status_code == 202
    job_id = answer.json()["job"]["id"]
    second = client.post("/api/jobs", json={"kind": "export_onnx", "style": "pencil"})
    assert second.status_code == 202 and second.json()["job"]["state"] == "waiting"  # in line, not refused
    assert client.get("/api/state").json()["busy"]["id"] == job_id
    left = client.post(f"/api/jobs/{second.json()['job']['id']}/cancel").json()["job"]
    assert left["state"] == "cancelled" and left["error"] == "stopped before it started"
    job = wait_for(client, job_id, ("done", "failed"))
    assert job["state"] == "done", job
    (item,) = job["result"]["files"]
    assert item["name"] == "pencil-nano.onnx" and item["bytes"] > 10_000
    download = client.get(item["url"])
    assert download.status_code == 200 and len(download.content) == item["bytes"]
    assert "attachment" in download.headers["content-disposition"]
    import onnx

    onnx.checker.check_model(onnx.load_from_string(download.content))
    assert any("onnxruntime" in line.lower() for line in job["result"]["lines"])
    assert client.get(f"/api/download/{job_id}/..%2Fjob.json").status_code == 404
    assert client.get(f"/api/download/{job_id}/other.onnx").status_code == 404


@pytest.mark.slow
def test_part_set_job_shows_its_faces_as_progress_and_downloads_as_a_zip(client):
    answer = client.post("/api/jobs", json={"kind": "export_parts", "style": "pencil-nano"})
    assert answer.status_code == 202, answer.text
    job = wait_for(client, answer.json()["job"]["id"], ("done", "failed"), timeout=600)
    assert job["state"] == "done", job
    progress = job["progress"]
    assert progress["steps"] > 0 and progress["step"] == progress["steps"] and progress["fraction"] == 1.0
    (item,) = job["result"]["files"]
    assert item["name"] == "pencil-nano-parts.zip"
    with zipfile.ZipFile(io.BytesIO(client.get(item["url"]).content)) as archive:
        names = archive.namelist()
    assert any(name.endswith(".png") for name in names) and any("export_parts.json" in n for n in names)
    assert "parts" in job["result"]["lines"][0]


@pytest.mark.slow
def test_train_job_shows_progress_then_a_style_the_cli_reads(tiny_client, tmp_path):
    """The job's flow (progress, preview, download, the style listed and rendered) with tiny training; the
    default architecture's training is the CLI's tests' (tests/training)."""
    import stylize

    client = tiny_client

    ref = make_reference(client, seed=7)["name"]
    answer = client.post("/api/jobs", json={"kind": "train", "style": ref, "name": "studio-made", "steps": 4})
    assert answer.status_code == 202, answer.text
    job = wait_for(client, answer.json()["job"]["id"], ("done", "failed"))
    assert job["state"] == "done", job
    progress = job["progress"]
    assert progress["step"] == 4 and progress["steps"] == 4 and progress["fraction"] == 1.0
    assert [point[0] for point in progress["loss"]] == [1, 2, 3, 4]
    preview = decode(client.get(job["preview"]).content)
    assert preview.shape == (285, 4 * 295, 3)
    assert job["result"]["style"] == "studio-made"
    (item,) = job["result"]["files"]
    assert item["name"] == "studio-made.zip"
    with zipfile.ZipFile(io.BytesIO(client.get(item["url"]).content)) as archive:
        names = archive.namelist()
    assert "studio-made/model.json" in names and not any(".checkpoint" in n for n in names)
    model = stylize.load_style("studio-made", tmp_path / "styles")
    assert model.metadata["steps"] == 4
    names = [style["name"] for style in client.get("/api/styles").json()["styles"]]
    assert "studio-made" in names
    assert client.get("/api/render.png?face=g0&style=studio-made").status_code == 200


@pytest.fixture
def tiny_client(tmp_path):
    """A studio whose training is tiny (TINY_TRAINING): jobs reach their steps in seconds."""
    from starlette.testclient import TestClient

    opened = open_tiny_studio(tmp_path, warm_up=False)
    try:
        with TestClient(opened.app, headers={"X-Stylize-Token": TOKEN}) as http:
            yield http
    finally:
        opened.close()


@pytest.mark.slow
def test_cancel_keeps_a_checkpoint_and_resume_finishes_the_same_job(tiny_client, tmp_path):
    client = tiny_client
    ref = make_reference(client, seed=8)["name"]
    job_id = client.post("/api/jobs", json={"kind": "train", "style": ref, "name": "stopped", "steps": 5000}).json()[
        "job"
    ]["id"]
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        progress = client.get(f"/api/jobs/{job_id}").json()["job"]["progress"] or {}
        if progress.get("step", 0) >= 2:
            break
        time.sleep(0.3)
    assert client.post(f"/api/jobs/{job_id}/cancel").status_code == 200
    job = wait_for(client, job_id, ("cancelled", "failed", "done"))
    assert job["state"] == "cancelled" and job["resumable"], job
    stopped_at = job["progress"]["step"]
    assert (tmp_path / "styles" / "stopped" / ".checkpoint").is_dir()
    # the folder it left (no style yet) is listed, with its steps and the job that resumes it
    listed = client.get("/api/state").json()["stopped"]
    assert {"name": "stopped", "steps": listed[0]["steps"], "resumable": True, "job": job_id} in listed
    assert listed[0]["steps"] == stopped_at >= 1  # its last whole checkpoint, which the job's progress shows too
    # resume with the budget the job was given: it continues from the checkpoint. Cancelled at once, while
    # its worker starts; that worker inherits SIGINT ignored (as under a test runner or a studio started in
    # the background by a shell), so the cancel's SIGINT is lost if it comes before the worker's handlers
    # are set: the worker stops all the same (the job's cancel file), it is not killed after CANCEL_GRACE.
    ignored = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        resumed = client.post(f"/api/jobs/{job_id}/resume")
    finally:
        signal.signal(signal.SIGINT, ignored)
    assert resumed.status_code == 202
    assert client.post(f"/api/jobs/{job_id}/cancel").status_code == 200
    job = wait_for(client, job_id, ("cancelled", "failed", "done"))
    assert job["state"] == "cancelled" and job["progress"]["step"] >= stopped_at
    assert "killed" not in job["error"], job
    # SIGTERM to the worker itself (a machine shutting down) stops it the same way, checkpoint whole. It is
    # sent once this run has reported a step of its own: past the step the job showed when it was resumed
    # (its progress.json is the last run's until then).
    shown_at_resume = job["progress"]["step"]
    assert client.post(f"/api/jobs/{job_id}/resume").status_code == 202
    status_file = tmp_path / "studio" / "jobs" / job_id / "status.json"
    deadline = time.monotonic() + 240
    while True:
        status = json.loads(status_file.read_text())
        if (
            status.get("state") == "running"
            and (client.get(f"/api/jobs/{job_id}").json()["job"]["progress"] or {}).get("step", 0) > shown_at_resume
        ):
            break
        assert time.monotonic() < deadline, status
        time.sleep(0.3)
    os.kill(status["pid"], signal.SIGTERM)
    job = wait_for(client, job_id, ("cancelled", "failed", "done"), timeout=60)
    assert (
        job["state"] == "cancelled"
        and job["resumable"]
        and re.fullmatch(r"stopped at step \d+; Resume continues from there", job["error"])
    ), job


def test_a_worker_whose_job_was_cancelled_before_it_could_take_the_signal_stops_before_it_begins(tmp_path, monkeypatch):
    """The server writes the job's cancel file before it sends SIGINT, which a worker still starting may
    lose (inherited ignored); the worker, its handlers set, finds the file and ends the job cancelled."""
    from stylize.studio import worker
    from stylize.studio.jobs import CANCEL_FILE

    monkeypatch.setattr(worker, "_watch_parent", lambda parent: None)  # no thread watching pytest's parent
    monkeypatch.setattr(worker, "_run", lambda *args: pytest.fail("the cancelled job ran"))
    job = tmp_path / "jobs" / "j0001"
    job.mkdir(parents=True)
    (job / "job.json").write_text(json.dumps({"kind": "train", "style": "x", "name": "y", "steps": 9}))
    (job / "worker.json").write_text(
        json.dumps(
            {"config_path": None, "styles_dir": str(tmp_path), "parts": None, "legacy": [], "eval_faces": 0}
            | {"preview_seeds": [], "resume": True}
        )
    )
    (job / CANCEL_FILE).write_text("0\n")
    worker.run_job(str(job))
    status = json.loads((job / "status.json").read_text())
    assert status["state"] == "cancelled" and status["error"] == "stopped" and status["runs"] == 1


def test_a_restart_shows_a_job_whose_worker_is_gone_as_interrupted(tmp_path):
    from starlette.testclient import TestClient

    from stylize.studio import open_studio

    job = tmp_path / "s" / "jobs" / "j0007"
    job.mkdir(parents=True)
    (job / "job.json").write_text(json.dumps({"kind": "train", "style": "x", "name": "gone", "steps": 9}))
    (job / "status.json").write_text(json.dumps({"state": "running", "pid": 2**22 + 12345}))
    opened = open_studio(tmp_path / "s", styles_dir=tmp_path / "styles", token=TOKEN, eval_faces=0, warm_up=False)
    try:
        with TestClient(opened.app, headers={"X-Stylize-Token": TOKEN}) as http:
            (listed,) = http.get("/api/jobs").json()["jobs"]
            assert listed["id"] == "j0007" and listed["state"] == "interrupted"
            assert listed["resumable"] is False  # no checkpoint of "gone" to resume from
            assert "stopped" in listed["error"]
    finally:
        opened.close()


@pytest.mark.parametrize("same_process", [False, True], ids=["pid-reused", "old-worker"])
def test_a_restart_signals_only_the_worker_it_recorded_not_a_process_that_reused_its_pid(tmp_path, same_process):
    import subprocess
    import sys

    import processes

    from stylize.studio import open_studio
    from stylize.studio.jobs import process_start

    code = "import signal, sys, time; signal.signal(signal.SIGINT, lambda *a: sys.exit(7)); print(1, flush=True); time.sleep(60)"
    with processes.started([sys.executable, "-c", code], stdout=subprocess.PIPE) as other:
        assert other.stdout.readline().strip() == b"1"  # its handler is set
        start = process_start(other.pid)
        assert start is not None
        job = tmp_path / "s" / "jobs" / "j0003"
        job.mkdir(parents=True)
        (job / "job.json").write_text(json.dumps({"kind": "train", "style": "x", "name": "n", "steps": 9}))
        recorded = start if same_process else start - 1  # the same PID, started at another moment: not ours
        (job / "status.json").write_text(json.dumps({"state": "running", "pid": other.pid, "pid_start": recorded}))
        opened = open_studio(tmp_path / "s", styles_dir=tmp_path / "styles", token=TOKEN, eval_faces=0, warm_up=False)
        opened.close()
        if same_process:
            assert other.wait(timeout=10) == 7  # asked to stop with a checkpoint
        else:
            time.sleep(0.5)
            assert other.poll() is None  # an unrelated process is left alone
        status = json.loads((job / "status.json").read_text())
        assert status["state"] == "interrupted"


def test_one_studio_a_folder(studio):
    from stylize.errors import StylizeError
    from stylize.studio import open_studio

    with pytest.raises(StylizeError, match="another studio uses this folder") as caught:
        open_studio(studio.workspace.folder)
    message = str(caught.value)  # the output folders' lock, worded for the studio: who holds it, the way out
    assert re.search(r"another studio uses this folder \(.*process \d+.*\); stop it, or give another dir=DIR$", message)
    assert caught.value.params == ("dir",)


@pytest.mark.slow
def test_the_whole_cast_is_painted_and_zipped_by_a_job(client):
    answer = client.post(
        "/api/jobs", json={"kind": "export_cast", "style": "pencil-nano", "source": "game", "seeds": "3-5"}
    )
    assert answer.status_code == 202, answer.text
    job = wait_for(client, answer.json()["job"]["id"], ("done", "failed"))
    assert job["state"] == "done", job
    (item,) = job["result"]["files"]
    assert item["name"] == "pencil-nano-cast.zip"
    with zipfile.ZipFile(io.BytesIO(client.get(item["url"]).content)) as archive:
        pngs = sorted(n for n in archive.namelist() if n.endswith(".png"))
        assert len(pngs) == 3 and all(n.startswith("pencil-nano/") for n in pngs)
        assert decode(archive.read(pngs[0])).shape == (285, 295, 3)  # full size
    refused = client.post("/api/jobs", json={"kind": "export_cast", "style": "pencil-nano", "seeds": "0-5000"})
    assert refused.status_code == 400 and "give 1 to 2000" in refused.json()["error"]
    none = client.post("/api/jobs", json={"kind": "export_cast", "style": "pencil-nano", "source": "legacy"})
    assert none.status_code == 400 and "no legacy portraits" in none.json()["error"]
