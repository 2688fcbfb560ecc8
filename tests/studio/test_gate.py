"""The studio's gate before any route: requests from other pages (cross-site request forgery), Host names it
does not answer to (DNS rebinding), JSON only with its content type, and a token kept across restarts."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from studio.conftest import TOKEN, png_bytes

FOREIGN = [
    {"origin": "http://127.0.0.1:9999"},  # another local server: same-site with the studio, so SameSite lets it
    {"origin": "http://evil.example"},
    {"origin": "null"},  # a sandboxed page
    {"sec-fetch-site": "same-site"},
    {"sec-fetch-site": "cross-site"},
]


@pytest.mark.parametrize("headers", FOREIGN, ids=lambda h: "-".join(f"{k}={v}" for k, v in h.items()))
def test_a_state_changing_request_from_another_page_is_refused_and_writes_nothing(client, headers):
    before = client.get("/api/styles").json()
    answer = client.post(
        "/api/references", files=[("files", ("a.png", png_bytes(seed=1), "image/png"))], headers=headers
    )
    assert answer.status_code == 403
    error = answer.json()["error"]
    assert "another page" in error and "\n" not in error
    assert client.post("/api/jobs", json={"kind": "export_onnx", "style": "x"}, headers=headers).status_code == 403
    assert client.get("/api/styles").json() == before
    assert client.get("/api/state", headers=headers).status_code == 200  # reading is not refused


def test_the_studios_own_page_may_post(client):
    own = {"origin": "http://testserver", "sec-fetch-site": "same-origin"}
    answer = client.post("/api/jobs", json={"kind": "no-such-kind"}, headers=own)
    assert answer.status_code == 400  # past the gate: the route judged the request
    typed = client.post("/api/jobs", json={"kind": "no-such-kind"}, headers={"sec-fetch-site": "none"})
    assert typed.status_code == 400


@pytest.mark.parametrize("content_type", ["text/plain", "text/plain; x=application/json", "application/jsonp"])
def test_a_json_request_needs_the_json_content_type(client, content_type):
    answer = client.post(
        "/api/jobs", content=b'{"kind": "export_onnx", "style": "pencil"}', headers={"content-type": content_type}
    )
    assert answer.status_code == 400
    assert "Content-Type: application/json" in answer.json()["error"]
    assert client.get("/api/jobs").json() == {"jobs": []}  # no job started


def test_the_host_header_must_name_the_studio(tmp_path):
    from starlette.testclient import TestClient

    from stylize.studio import hosts_for, open_studio

    assert hosts_for("0.0.0.0") is None and hosts_for("::") is None  # every interface: warned about, any name
    assert {"127.0.0.1", "localhost", "::1"} <= (hosts_for("127.0.0.1") or set())
    opened = open_studio(tmp_path / "studio", token=TOKEN, eval_faces=0, warm_up=False, hosts=hosts_for("127.0.0.1"))
    try:
        for base in ("http://127.0.0.1:8765", "http://localhost:8765", "http://[::1]:8765"):
            with TestClient(opened.app, base_url=base, headers={"X-Stylize-Token": TOKEN}) as http:
                assert http.get("/api/state").status_code == 200, base
        with TestClient(opened.app, base_url="http://rebound.example:8765") as http:
            answer = http.get("/api/state", headers={"X-Stylize-Token": TOKEN})
            assert answer.status_code == 403
            assert "rebound.example" in answer.json()["error"] and "stylize studio printed" in answer.json()["error"]
    finally:
        opened.close()


def test_the_token_is_the_folders_across_restarts_and_its_owners_only(tmp_path: Path):
    from stylize.studio import TOKEN_FILE, open_studio

    tokens = []
    for _ in range(2):
        opened = open_studio(tmp_path / "studio", eval_faces=0, warm_up=False)
        tokens.append(opened.token)
        opened.close()
    assert tokens[0] == tokens[1] and len(tokens[0]) >= 32
    path = tmp_path / "studio" / TOKEN_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.write_text("not a token\n")  # damaged: replaced by a new one, never used
    opened = open_studio(tmp_path / "studio", eval_faces=0, warm_up=False)
    try:
        assert opened.token not in (tokens[0], "not a token") and len(opened.token) >= 32
    finally:
        opened.close()
    path.chmod(0o644)
    opened = open_studio(tmp_path / "studio", eval_faces=0, warm_up=False)
    opened.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
