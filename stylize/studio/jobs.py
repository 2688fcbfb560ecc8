"""The studio's heavy work: one job at a time, each in its own worker process, its state in files.

A job is a folder ``DIR/jobs/jNNNN/``:

- ``job.json``: the request (kind, style, name, budget), written once by the server;
- ``status.json``: the worker's state (running, done, failed, cancelled), its result or error line;
- ``progress.json``: step, budget, ETA and the loss curve, rewritten about twice a second;
- ``preview.png``: four faces painted by the network as it is now, every few seconds;
- ``log.txt``: the worker's output;
- ``cancel``: written when the job is cancelled, before the worker is signalled (see below).

The server reads these files to answer, so a page reload shows the same jobs, and a server restart
finds jobs whose worker has gone (marked ``interrupted``; a training resumes from its checkpoint). The
worker is a fresh Python process (``python -m stylize.studio.worker``), so the server's threads and
sockets never reach it. Cancel sends it
SIGINT: a training stops after its step with a whole checkpoint (``cancelled``, resumable); a worker
that does not stop in :data:`CANCEL_GRACE` seconds is killed. A worker whose server has gone stops the
same way. A SIGINT that reaches a worker before it has set its handlers may be lost (a process started
with SIGINT ignored, as under a background shell, ignores it until then): the ``cancel`` file, written
first, is what the worker checks once they are set, so a job cancelled as it starts stops all the same.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from stylize.errors import StylizeError
from stylize.files import read_json_object, write_json

KINDS = ("train", "distill", "export_onnx", "export_parts", "export_cast")
MAX_CAST = 2000  # portraits an export_cast job paints
FINAL = ("done", "failed", "cancelled", "interrupted")
MAX_WAITING = 8  # jobs in line behind the running one
JOB_ID = re.compile(r"j[0-9]{4,6}")
CANCEL_GRACE = 20.0
CANCEL_FILE = "cancel"  # in the job's folder: the job was cancelled (see the module's docstring)
PROGRESS_EVERY = 0.5  # seconds between progress.json writes
PREVIEW_EVERY = 5.0  # seconds between training previews at least
LOSS_POINTS = 300  # the loss curve is thinned to at most this many points
MAX_JOBS_LISTED = 50


class BusyError(StylizeError):
    """A heavy job is running already (the server answers 409)."""


def process_start(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot, /proc/PID/stat), which with the PID names one
    process for good (a PID is reused once its process has gone); None when it has gone or this system has
    no /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat[stat.rindex(")") + 2 :].split()[19])  # the 22nd field, counted after the name
    except (OSError, ValueError, IndexError):
        return None


def _our_worker(status: dict[str, Any]) -> int | None:
    """The PID of the worker ``status`` names when that very process still runs: its PID and its start time
    (``pid_start``) both match. A PID alone may now be any other process's, which must not be signalled."""
    pid, start = status.get("pid"), status.get("pid_start")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0 or pid == os.getpid():
        return None
    if not isinstance(start, int) or isinstance(start, bool) or process_start(pid) != start:
        return None
    return pid


@dataclass(frozen=True)
class WorkerSetup:
    """What a worker needs to rebuild the server's view of the project (plain values: it is pickled)."""

    config_path: str | None
    styles_dir: str
    parts: str | None
    legacy: tuple[str, ...]
    eval_faces: int
    preview_seeds: tuple[int, ...]


class JobManager:
    """The server's side: start, watch, cancel and list jobs. Methods are quick (no job work inside)."""

    def __init__(self, folder: Path, setup: WorkerSetup, workspace: Any) -> None:
        self.folder = folder
        self.setup = setup
        self.workspace = workspace
        self._lock = threading.Lock()
        self._process: Any = None
        self._job_id: str | None = None
        self._cancelling: str | None = None  # the job being cancelled: its end is "cancelled", not "failed"
        self._killed: str | None = None  # the job whose worker did not stop on its cancel and was killed
        self._line = True  # a job may be waiting in line (unknown at start: the files say); False once none is
        self._recover()

    # --- files ---
    def _dir(self, job_id: str) -> Path:
        if not JOB_ID.fullmatch(job_id):
            raise LookupError(f"job {job_id!r}: not a job id")
        path = self.folder / job_id
        if not (path / "job.json").is_file():
            raise LookupError(f"job {job_id!r}: no such job")
        return path

    def _ids(self) -> list[str]:
        return sorted((p.name for p in self.folder.iterdir() if JOB_ID.fullmatch(p.name)), reverse=True)

    def _recover(self) -> None:
        """At start: a job left running or queued by a server that is gone is ``interrupted``; the waiting
        ones stay in line (the first starts at the first poll)."""
        for job_id in self._ids():
            path = self.folder / job_id
            status = read_json_object(path / "status.json") or {}
            if status.get("state") in FINAL or status.get("state") == "waiting":  # the line is kept
                continue
            pid = _our_worker(status)
            if pid is not None:
                try:  # a worker of the old server still running: ask it to stop with a checkpoint
                    os.kill(pid, signal.SIGINT)
                except OSError:
                    pass
            write_json(
                path / "status.json",
                {
                    **status,
                    "state": "interrupted",
                    "finished": time.time(),
                    "error": "the studio stopped during the job",
                },
                indent=1,
            )

    # --- the view ---
    def job(self, job_id: str) -> dict[str, Any]:
        path = self._dir(job_id)
        request = read_json_object(path / "job.json") or {}
        status = read_json_object(path / "status.json") or {"state": "queued"}
        progress = read_json_object(path / "progress.json")
        preview = path / "preview.png"
        state = status.get("state", "queued")
        result = status.get("result")
        if isinstance(result, dict):
            result = {
                **result,
                "files": [
                    {**item, "url": f"/api/download/{job_id}/{item['name']}"}
                    for item in result.get("files", [])
                    if isinstance(item, dict) and isinstance(item.get("name"), str)
                ],
            }
        return {
            "id": job_id,
            "kind": request.get("kind"),
            "style": request.get("style"),
            "name": request.get("name"),
            "budget": {"minutes": request.get("minutes"), "steps": request.get("steps")},
            "state": state,
            "created": request.get("created"),
            "started": status.get("started"),
            "finished": status.get("finished"),
            "progress": progress,
            "preview": f"/api/jobs/{job_id}/preview.png?v={preview.stat().st_mtime_ns}" if preview.is_file() else None,
            "error": status.get("error"),
            "resumable": state in ("cancelled", "interrupted") and self._resumable(request),
            "result": result,
        }

    def _resumable(self, request: dict[str, Any]) -> bool:
        from stylize.training.checkpoint import resumable

        target = _target_style(request)
        return target is not None and resumable(Path(self.setup.styles_dir) / target / ".checkpoint")

    def jobs(self) -> list[dict[str, Any]]:
        listed = []
        for job_id in self._ids()[:MAX_JOBS_LISTED]:
            try:
                listed.append(self.job(job_id))
            except LookupError:
                continue
        return listed

    def busy(self) -> dict[str, Any] | None:
        with self._lock:
            self._reap()
            return self.job(self._job_id) if self._job_id is not None else None

    def file(self, job_id: str, name: str) -> Path:
        """A result file of a finished job: only names its result lists, found in its export folder."""
        view = self.job(job_id)
        names = [item["name"] for item in (view.get("result") or {}).get("files", [])]
        if name not in names:
            raise LookupError(f"job {job_id}: has no file {name!r}")
        path = self.folder.parent / "exports" / job_id / name
        if not path.is_file() or path.is_symlink():
            raise LookupError(f"job {job_id}: file {name!r} is gone")
        return path

    def preview(self, job_id: str) -> Path:
        path = self._dir(job_id) / "preview.png"
        if not path.is_file():
            raise LookupError(f"job {job_id}: no preview yet")
        return path

    # --- starting, watching, stopping ---
    def submit(self, request: dict[str, Any]) -> dict[str, Any]:
        """Start a job, or line it up (``waiting``) behind the one running: it starts when that one ends."""
        request = self._checked(request)
        with self._lock:
            self._reap()
            if len(self._waiting()) >= MAX_WAITING:
                raise BusyError(f"{MAX_WAITING} jobs are waiting already; wait for them or cancel one")
            target = _target_style(request)
            for other in self._ids():
                view = self.job(other)
                if target is not None and view["state"] not in FINAL and _target_style(view) == target:
                    raise StylizeError(f"job {other} will make a style named {target!r}; choose another name")
            numbers = [int(job_id[1:]) for job_id in self._ids()]
            job_id = f"j{(max(numbers) + 1) if numbers else 1:04d}"
            path = self.folder / job_id
            path.mkdir()
            write_json(path / "job.json", {**request, "created": time.time()}, indent=1)
            write_json(path / "status.json", {"state": "waiting", "resume": False, "runs": 0}, indent=1)
            self._line = True
            self._next()
        return self.job(job_id)

    def _waiting(self) -> list[str]:
        """The jobs in line, the oldest first."""
        return [
            job_id
            for job_id in sorted(self._ids())
            if (read_json_object(self.folder / job_id / "status.json") or {}).get("state") == "waiting"
        ]

    def _next(self) -> None:
        """Start the oldest waiting job when no worker runs (called with the lock held)."""
        if self._job_id is not None or not self._line:
            return
        waiting = self._waiting()  # the job files are read only while a line may exist, not at every poll
        self._line = len(waiting) > 1
        if waiting:
            status = read_json_object(self.folder / waiting[0] / "status.json") or {}
            self._start(waiting[0], resume=bool(status.get("resume")))

    def resume(self, job_id: str) -> dict[str, Any]:
        with self._lock:
            self._reap()
            view = self.job(job_id)
            if not view["resumable"]:
                raise StylizeError(f"job {job_id} ({view['state']}): nothing to resume; start a new job")
            status = read_json_object(self.folder / job_id / "status.json") or {}
            write_json(self.folder / job_id / "status.json", {**status, "state": "waiting", "resume": True}, indent=1)
            self._line = True
            self._next()
        return self.job(job_id)

    def cancel(self, job_id: str) -> dict[str, Any]:
        with self._lock:
            self._reap()
            self._dir(job_id)
            status = read_json_object(self.folder / job_id / "status.json") or {}
            if status.get("state") == "waiting":  # not started: it leaves the line
                write_json(
                    self.folder / job_id / "status.json",
                    {**status, "state": "cancelled", "finished": time.time(), "error": "stopped before it started"},
                    indent=1,
                )
                return self.job(job_id)
            if self._job_id != job_id or self._process is None:
                raise StylizeError(f"job {job_id} is not running; nothing to cancel")
            process = self._process
            self._cancelling = job_id
            try:  # before the signal, which a worker still starting may lose
                (self.folder / job_id / CANCEL_FILE).write_text(f"{time.time()}\n")
            except OSError:
                pass
            try:
                os.kill(process.pid, signal.SIGINT)
            except ProcessLookupError:
                pass
        threading.Thread(target=self._kill_later, args=(process, job_id), daemon=True).start()
        return self.job(job_id)

    def _kill_later(self, process: Any, job_id: str) -> None:
        """A cancelled worker that has not ended in :data:`CANCEL_GRACE` seconds is killed (its job says so)."""
        try:
            process.wait(CANCEL_GRACE)
        except subprocess.TimeoutExpired:
            with self._lock:
                if self._process is process:
                    self._killed = job_id
            process.kill()
            process.wait(5)
        with self._lock:
            self._reap()

    def _start(self, job_id: str, *, resume: bool) -> None:
        """Start the worker: ``python -m stylize.studio.worker JOB_DIR`` in its own session (a Ctrl-C in the
        server's terminal reaches the server, which stops the worker with a checkpoint itself)."""
        path = self.folder / job_id
        status = read_json_object(path / "status.json") or {}
        (path / CANCEL_FILE).unlink(missing_ok=True)  # a cancel of an earlier run
        write_json(path / "worker.json", {**asdict(self.setup), "resume": resume}, indent=1)
        write_json(
            path / "status.json", {"state": "queued", "resume": resume, "runs": int(status.get("runs", 0))}, indent=1
        )
        with open(path / "log.txt", "ab") as log_file:
            process = subprocess.Popen(
                [sys.executable, "-m", "stylize.studio.worker", str(path)],
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._process, self._job_id = process, job_id

    def _reap(self) -> None:
        """Forget a worker that has ended; one that died without a final state is ``interrupted`` when a signal
        killed it (resumable from its checkpoint), else ``failed``."""
        if self._process is None:
            return
        if self._process.poll() is None:
            status = read_json_object(self.folder / str(self._job_id) / "status.json") or {}
            if status.get("state") not in FINAL:
                return
            try:  # the worker has written its end and is exiting: give it a moment
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                return
        job_id, code = self._job_id, self._process.returncode
        cancelled, killed = self._cancelling == job_id, self._killed == job_id
        self._process, self._job_id, self._cancelling, self._killed = None, None, None, None
        assert job_id is not None
        status = read_json_object(self.folder / job_id / "status.json") or {}
        if status.get("state") not in FINAL and cancelled:
            error = "cancelled"
            if killed:
                error += (
                    f"; the worker did not stop within {CANCEL_GRACE:g} s and was killed (a training keeps its "
                    "last checkpoint)"
                )
            write_json(
                self.folder / job_id / "status.json",
                {**status, "state": "cancelled", "finished": time.time(), "error": error},
                indent=1,
            )
        elif status.get("state") not in FINAL and code is not None and code < 0:
            # killed from outside (the out-of-memory killer, a kill -9): a training resumes from its last
            # whole checkpoint, so the job is interrupted, not failed
            write_json(
                self.folder / job_id / "status.json",
                {
                    **status,
                    "state": "interrupted",
                    "finished": time.time(),
                    "error": f"the worker was killed (signal {-code}, as the system does when memory runs out); "
                    "a training resumes from its last checkpoint",
                },
                indent=1,
            )
        elif status.get("state") not in FINAL:
            write_json(
                self.folder / job_id / "status.json",
                {
                    **status,
                    "state": "failed",
                    "finished": time.time(),
                    "error": f"the worker process ended without a result (exit status {code}); "
                    f"see {self.folder / job_id / 'log.txt'}",
                },
                indent=1,
            )

    def poll(self) -> None:
        with self._lock:
            self._reap()
            self._next()

    def shutdown(self) -> None:
        """At server exit: ask a running worker to stop with a checkpoint, then wait a little for it."""
        with self._lock:
            process = self._process
        if process is not None and process.poll() is None:
            _end(process, interrupt=True)
        with self._lock:
            self._reap()

    # --- requests ---
    def _cast_source(self, request: dict[str, Any]) -> dict[str, Any]:
        """What an ``export_cast`` job paints: the game's faces of ``seeds``, or every legacy portrait."""
        from stylize.content.seeds import parse_seeds

        source = request.get("source", "game")
        if source == "legacy":
            count = len(self.workspace.legacy_files())
            if not count:
                raise StylizeError("no legacy portraits: start the studio with a folder of them (legacy=DIR)")
            if count > MAX_CAST:
                raise StylizeError(f"{count} legacy portraits; the studio paints at most {MAX_CAST}: use stylize apply")
            return {"source": "legacy"}
        if source != "game":
            raise StylizeError(f"source={source!r}: give game or legacy")
        seeds = request.get("seeds")
        if not isinstance(seeds, str) or not seeds.strip():
            raise StylizeError("seeds: give the game faces to paint, e.g. 0-99")
        picked = parse_seeds(seeds)
        if not 1 <= len(picked) <= MAX_CAST:
            raise StylizeError(f"seeds={seeds!r} gives {len(picked)} faces; give 1 to {MAX_CAST}")
        self.workspace.generator()  # a studio without the game's part tree says so now
        return {"source": "game", "seeds": seeds.strip()}

    def _checked(self, request: Any) -> dict[str, Any]:
        from stylize.style_folder import check_style_name
        from stylize.values import MINUTES, check_setting

        if not isinstance(request, dict):
            raise StylizeError('a job request is a JSON object such as {"kind": "train", ...}')
        kind = request.get("kind")
        if kind not in KINDS:
            raise StylizeError(f"kind={kind!r}: give one of {', '.join(KINDS)}")
        unknown = set(request) - {"kind", "style", "name", "minutes", "steps", "source", "seeds"}
        if unknown:
            raise StylizeError(f"unknown field {sorted(unknown)[0]!r} in the job request; remove it")
        style = request.get("style")
        if not isinstance(style, str):
            raise StylizeError("style: give the name of a style")
        self.workspace.known_style(style)
        checked: dict[str, Any] = {"kind": kind, "style": style}
        if kind == "export_cast":
            checked.update(self._cast_source(request))
        if kind in ("train", "distill"):
            minutes, steps = request.get("minutes"), request.get("steps")
            if minutes is None and steps is None:
                raise StylizeError("give a budget: minutes=M or steps=N")
            if minutes is not None:
                if isinstance(minutes, bool) or not isinstance(minutes, int | float):
                    raise StylizeError(f"minutes={minutes!r}: give a number of minutes")
                check_setting("minutes", float(minutes), MINUTES)
                checked["minutes"] = float(minutes)
            if steps is not None:
                if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= 1_000_000:
                    raise StylizeError(f"steps={steps!r}: give a whole number of steps from 1 to 1000000")
                checked["steps"] = steps
        if kind == "train":
            name = request.get("name")
            if not isinstance(name, str):
                raise StylizeError("name: give the new style's name")
            check_style_name(name)
            info = self.workspace.style_info(style)
            if info["kind"] != "zero":
                raise StylizeError(
                    f"style={style!r} is a trained style; train from a reference (a zero-training style) instead"
                )
            if name in self.workspace.style_names():
                raise StylizeError(f"name={name!r}: a style of that name exists; choose another name")
            if (Path(self.setup.styles_dir) / name).exists():  # a stopped training's folder (a checkpoint, no model)
                raise StylizeError(
                    f"name={name!r}: a stopped training of that name is in the styles folder; resume its job, "
                    "or choose another name"
                )
            checked["name"] = name
        elif kind == "distill":
            checked["name"] = f"{style}-nano"
            check_student_target(Path(self.setup.styles_dir), checked["name"], style)
        else:
            checked["name"] = None
        return checked


def _end(process: Any, *, interrupt: bool) -> None:
    """Let a worker end (after a SIGINT, sent here when ``interrupt``): a whole checkpoint for a training;
    killed if it has not ended in :data:`CANCEL_GRACE` seconds."""
    if interrupt:
        try:
            os.kill(process.pid, signal.SIGINT)
        except ProcessLookupError:
            return
    try:
        process.wait(CANCEL_GRACE)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


def check_student_target(styles_dir: Path, name: str, teacher: str) -> None:
    """Refuse a distillation of ``teacher`` into style ``name`` when a folder of that name holds anything but
    an earlier student of ``teacher`` (which it then replaces): a job never overwrites a style it did not make."""
    from stylize.files import parse_json

    folder = styles_dir / name
    if not folder.exists():
        return
    try:
        metadata = parse_json((folder / "model.json").read_text(encoding="utf-8"))
        source = metadata.get("distilled_from") if isinstance(metadata, dict) else None
        ours = isinstance(source, dict) and source.get("style") == teacher
    except (OSError, UnicodeDecodeError, StylizeError, ValueError):
        ours = False
    if not ours:
        raise StylizeError(
            f"style {name!r} exists and is not a student of {teacher!r}; rename or delete it, then distill again"
        )


def _target_style(request: dict[str, Any]) -> str | None:
    """The style folder a training job writes (its checkpoint is there), None for the other kinds."""
    from stylize.style_folder import is_style_name

    name = request.get("name")
    if request.get("kind") in ("train", "distill") and isinstance(name, str) and is_style_name(name):
        return name
    return None
