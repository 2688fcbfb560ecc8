"""``stylize bench studio REF ...``: the studio's two promises, measured over real HTTP.

A studio is started as a user starts it (``stylize studio --port 0``, a fresh process and folder), then:

- **ready**: seconds from starting the command to the zero-training engine loaded (the studio warms up
  in a thread while the artist looks at the page);
- **drop to preview**: for each reference, the seconds from sending the upload to having all the grid's
  faces (16 by default) styled, asked for the way the page asks (six requests in flight, as a browser
  keeps per host), and the seconds to the first face.
- **responsiveness**: the page's own requests (its job poll, the state, a face it has shown) timed
  while nothing runs (the baseline, same run) and while a training job runs in the worker process:
  median, 95th percentile and worst, in ms.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stylize.errors import StylizeError

IN_FLIGHT = 6  # what a browser keeps open to one host
FACES = 16  # the grid's faces styled for each dropped reference
POLL_SECONDS = 20.0  # the requests of each kind are timed for a third of this, idle and while training
ADDRESS = re.compile(r"http://127\.0\.0\.1:(\d+)/\?token=(\S+)")


@dataclass
class PreviewRow:
    reference: str
    faces: int
    first_face_s: float
    all_faces_s: float


@dataclass
class LatencyRow:
    request: str
    while_: str  # "idle" or "training"
    count: int
    median_ms: float
    p95_ms: float
    max_ms: float


@dataclass
class StudioBench:
    preview: list[PreviewRow] = field(default_factory=list)
    latency: list[LatencyRow] = field(default_factory=list)
    training_steps: int = 0
    ready_s: float = 0.0  # from starting `stylize studio` to the zero-training engine loaded


class _Client:
    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.token = token

    def call(self, method: str, path: str, body: bytes | None = None, content_type: str | None = None) -> Any:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        headers = {"X-Stylize-Token": self.token}
        if content_type:
            headers["Content-Type"] = content_type
        try:
            connection.request(method, path, body=body, headers=headers)
            answer = connection.getresponse()
            data = answer.read()
        finally:
            connection.close()
        if answer.status >= 400:
            raise StylizeError(f"studio answered {answer.status} to {method} {path}: {data[:200]!r}")
        return json.loads(data) if answer.getheader("content-type", "").startswith("application/json") else data

    def upload(self, path: Path) -> dict[str, Any]:
        boundary = uuid.uuid4().hex
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{path.name}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n"
            ).encode()
            + path.read_bytes()
            + f"\r\n--{boundary}--\r\n".encode()
        )
        return self.call("POST", "/api/references", body, f"multipart/form-data; boundary={boundary}")


def _start(folder: Path, parts: str | None, config: str | None) -> tuple[subprocess.Popen[str], _Client]:
    command = [sys.executable, "-m", "stylize", "studio", "--port", "0", "--dir", str(folder / "studio")]
    if config:
        command += ["--config", config]
    command += ["--styles-dir", str(folder / "styles"), "--eval-faces", "0"]
    if parts:
        command += ["--parts", parts]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    match = ADDRESS.search(line)
    if match is None:
        process.kill()
        raise StylizeError(f"the studio did not start: {line.strip() or process.communicate()[1].strip()}")
    return process, _Client(int(match[1]), match[2])


def _latencies(call: Callable[[], Any], seconds: float, every: float) -> list[float]:
    times = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
        time.sleep(every)
    return times


def _row(request: str, while_: str, times: Sequence[float]) -> LatencyRow:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return LatencyRow(request, while_, len(ordered), statistics.median(ordered), p95, ordered[-1])


def bench_studio(
    references: Sequence[str | os.PathLike[str]],
    *,
    faces: int = FACES,
    parts: str | None = None,
    poll_seconds: float = POLL_SECONDS,
    config: str | os.PathLike[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> StudioBench:
    """Measure the studio (see the module docstring) on these references, in a fresh studio and folder;
    ``config`` is the pipeline.toml the studio runs with (its [train] section shapes the training job)."""
    say = progress or (lambda line: None)
    paths = [Path(r) for r in references]
    for path in paths:
        if not path.is_file():
            raise StylizeError(f"{path}: reference not found; give image files as the references")
    if not 4 <= faces <= 16:
        raise StylizeError(f"faces={faces}: give 4 to 16")
    result = StudioBench()
    with tempfile.TemporaryDirectory(prefix="stylize-bench-studio-") as temp:
        started = time.perf_counter()
        process, client = _start(Path(temp), parts, os.fspath(config) if config else None)
        try:
            while not client.call("GET", "/api/state")["ready"]:
                time.sleep(0.1)
            result.ready_s = time.perf_counter() - started
            say(f"studio ready (engine loaded) {result.ready_s:.1f} s after start")
            ids = [face["id"] for face in client.call("GET", f"/api/faces?source=game&seeds=0-{faces - 1}")["faces"]]
            for face_id in ids:
                client.call("GET", f"/api/face/{face_id}.png")  # the page shows the faces first
            for path in paths:
                started = time.perf_counter()
                style = client.upload(path)["style"]["name"]
                first: list[float] = []

                def render(face_id: str, style: str = style, started: float = started, first: list = first) -> None:
                    client.call("GET", f"/api/render.png?face={face_id}&style={style}&strength=1&preserve=0&scale=1")
                    first.append(time.perf_counter() - started)

                with ThreadPoolExecutor(IN_FLIGHT) as pool:
                    list(pool.map(render, ids))
                row = PreviewRow(path.name, len(ids), min(first), time.perf_counter() - started)
                result.preview.append(row)
                say(f"{path.name}: first face {row.first_face_s:.2f} s, all {row.faces} {row.all_faces_s:.2f} s")
            style = client.upload(paths[0])["style"]["name"]
            shown = f"/api/render.png?face={ids[0]}&style={style}&strength=1&preserve=0&scale=1"
            requests = {"job poll": None, "state": "/api/state", "a shown face": shown}

            def measure(while_: str, job: str | None) -> None:
                for name, path_or_none in requests.items():
                    target = path_or_none or (f"/api/jobs/{job}" if job else "/api/jobs")
                    times = _latencies(lambda target=target: client.call("GET", target), poll_seconds / 3, 0.1)
                    result.latency.append(_row(name, while_, times))
                    say(f"{name} while {while_}: median {result.latency[-1].median_ms:.1f} ms")

            measure("idle", None)
            job = client.call(
                "POST",
                "/api/jobs",
                json.dumps({"kind": "train", "style": style, "name": "bench-train", "minutes": 10.0}).encode(),
                "application/json",
            )["job"]["id"]
            while (client.call("GET", f"/api/jobs/{job}")["job"]["progress"] or {}).get("step", 0) < 1:
                time.sleep(0.2)  # the job is in its steps, not loading
            measure("training", job)
            state = client.call("GET", f"/api/jobs/{job}")["job"]
            result.training_steps = int((state["progress"] or {}).get("step", 0))
            client.call("POST", f"/api/jobs/{job}/cancel")
        finally:
            process.send_signal(2)
            try:
                process.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
    return result


def format_studio(bench: StudioBench) -> str:
    lines = [f"studio ready {bench.ready_s:.1f} s after start (zero-training engine loaded)"]
    lines.append("drop a reference -> the whole grid styled (seconds, over HTTP, 6 requests in flight)")
    lines.append(f"{'reference':<28} {'faces':>5} {'first face':>10} {'all faces':>9}")
    for row in bench.preview:
        lines.append(f"{row.reference[:28]:<28} {row.faces:>5} {row.first_face_s:>10.2f} {row.all_faces_s:>9.2f}")
    lines.append("")
    lines.append(f"the page's requests while idle and while a training job runs ({bench.training_steps} steps), ms")
    lines.append(f"{'request':<14} {'while':<9} {'n':>4} {'median':>8} {'p95':>8} {'max':>8}")
    for r in bench.latency:
        lines.append(
            f"{r.request:<14} {r.while_:<9} {r.count:>4} {r.median_ms:>8.1f} {r.p95_ms:>8.1f} {r.max_ms:>8.1f}"
        )
    return "\n".join(lines)
