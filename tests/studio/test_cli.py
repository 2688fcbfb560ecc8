"""``stylize studio`` as a user starts it: one address line with the token, 127.0.0.1, one studio a folder."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ADDRESS = re.compile(r"^http://127\.0\.0\.1:(\d+)/\?token=([A-Za-z0-9_-]{20,})$")


def start(tmp_path: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "stylize", "studio", "--port", "0", "--dir", str(tmp_path / "studio"), *extra],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def first_line(process: subprocess.Popen, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    assert time.monotonic() < deadline
    return line


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def stop(process: subprocess.Popen) -> tuple[int, str]:
    process.send_signal(signal.SIGINT)
    try:
        _, err = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    return process.returncode, err


@pytest.mark.slow
def test_studio_prints_its_address_with_a_token_and_serves_the_page(tmp_path):
    process = start(tmp_path)
    try:
        line = first_line(process)
        match = ADDRESS.match(line)
        assert match, line
        port, token = match.groups()
        status, page = get(line)
        assert status == 200 and b"/static/studio.js" in page
        assert get(f"http://127.0.0.1:{port}/api/state")[0] == 403
        status, body = get(f"http://127.0.0.1:{port}/api/state", {"X-Stylize-Token": token})
        assert status == 200 and b'"styles"' in body
        second = subprocess.run(
            [sys.executable, "-m", "stylize", "studio", "--port", "0", "--dir", str(tmp_path / "studio")],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 1
        assert second.stderr.count("\n") == 1 and "another studio uses this folder" in second.stderr
    finally:
        code, err = stop(process)
    assert code == 0, err
    assert "Traceback" not in err


@pytest.mark.slow
def test_another_host_is_warned_about(tmp_path):
    process = start(tmp_path, "--host", "0.0.0.0")
    try:
        line = first_line(process)
        assert line.startswith("http://0.0.0.0:") and "?token=" in line
    finally:
        code, err = stop(process)
    assert "stylize: warning: the studio listens on 0.0.0.0" in err


def test_bad_options_are_one_line(tmp_path):
    for args, fragment in (
        (["--port", "70000"], "--port"),
        (["--port", "-1"], "--port"),
        (["--eval-faces", "x"], "--eval-faces"),
        (["--faces", str(tmp_path / "nowhere")], "legacy portrait folder not found"),
    ):
        result = subprocess.run(
            [sys.executable, "-m", "stylize", "studio", "--dir", str(tmp_path / "s"), *args],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode in (1, 2), (args, result.stderr)
        assert result.stderr.count("\n") == 1 and fragment in result.stderr, (args, result.stderr)


def test_a_port_in_use_is_one_line(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "stylize", "studio", "--dir", str(tmp_path / "s"), "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr and "--port" in result.stderr
