"""``stylize studio`` as a user starts it: one address line with the token, 127.0.0.1, one studio a folder."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import processes
import pytest

ADDRESS = re.compile(r"^http://127\.0\.0\.1:(\d+)/\?token=([A-Za-z0-9_-]{20,})$")


STARTING = 180.0  # seconds the studio may take to print its address on a busy machine


@contextmanager
def studio(tmp_path: Path, *extra: str, ignore_sigint: bool = False) -> Iterator[tuple[subprocess.Popen, Any, Any]]:
    """``stylize studio`` in a session of its own (killed with its group, a job's worker too, if the test
    fails), with its stdout and stderr read line by line."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    argv = [sys.executable, "-m", "stylize", "studio", "--port", "0", "--dir", str(tmp_path / "studio"), *extra]
    with processes.started(
        argv, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        ignore_sigint=ignore_sigint,
    ) as process:  # fmt: skip
        yield process, processes.lines(process.stdout), processes.lines(process.stderr)


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def stop(process: subprocess.Popen, err: Any, sig: int = signal.SIGINT) -> tuple[int, str]:
    """Stop the studio as a user does (Ctrl-C); its exit status and everything on its stderr."""
    process.send_signal(sig)
    code = process.wait(timeout=60)
    return code, err.rest(30)


@pytest.mark.slow
def test_studio_prints_its_address_with_a_token_and_serves_the_page(tmp_path):
    with studio(tmp_path, ignore_sigint=True) as (process, out, err_lines):
        line = out.wait_for("http", STARTING).strip()
        match = ADDRESS.match(line)
        assert match, line
        port, token = match.groups()
        status, page = get(line)
        assert status == 200 and b"/static/studio.js" in page
        assert get(f"http://127.0.0.1:{port}/api/state")[0] == 403
        status, body = get(f"http://127.0.0.1:{port}/api/state", {"X-Stylize-Token": token})
        assert status == 200 and b'"styles"' in body
        second = processes.run(
            [sys.executable, "-m", "stylize", "studio", "--port", "0", "--dir", str(tmp_path / "studio")],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert second.returncode == 1
        assert second.stderr.count("\n") == 1 and "another studio uses this folder" in second.stderr
        code, err = stop(process, err_lines)  # Ctrl-C, also when started with SIGINT ignored: the way out, exit 0
    assert code == 0, err
    assert "Traceback" not in err and "studio stopped" in err


@pytest.mark.slow
def test_another_host_is_warned_about_at_once_and_sigterm_stops_it(tmp_path):
    """The warning comes first (before the slow imports and the folder's setup), the address after it."""
    with studio(tmp_path, "--host", "0.0.0.0") as (process, out, err_lines):
        warned = err_lines.wait_for("warning", STARTING)
        assert "stylize: warning: the studio listens on 0.0.0.0" in warned
        line = out.wait_for("http", STARTING)
        assert line.startswith("http://0.0.0.0:") and "?token=" in line
        code, err = stop(process, err_lines, signal.SIGTERM)
    assert code == 0 and "studio stopped" in err and "Traceback" not in err, err


@pytest.mark.slow
def test_bad_options_are_one_line(tmp_path):
    for args, fragment in (
        (["--port", "70000"], "--port"),
        (["--port", "-1"], "--port"),
        (["--eval-faces", "x"], "--eval-faces"),
        (["--faces", str(tmp_path / "nowhere")], "legacy portrait folder not found"),
    ):
        result = processes.run(
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
        result = processes.run(
            [sys.executable, "-m", "stylize", "studio", "--dir", str(tmp_path / "s"), "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr and "--port" in result.stderr
