"""The processes tests start: each in a session of its own, its whole group killed when the test fails
or times out, and none left behind (``tests/conftest.py`` checks that at the end of the run as well).

:func:`started` is ``subprocess.Popen`` as a context manager: on the way out the process is killed with
its group if it still runs, and anything else left in its session (a worker it started that outlived
it) is killed and fails the test, named. :func:`run` is ``subprocess.run`` the same way (a timeout
kills the group). :func:`lines` reads a child's output line by line with a deadline, and
:func:`wait_until_caught` waits until a child handles a signal (``/proc/PID/status``), the moment from
which stylize promises to stop on it.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

PROC = Path("/proc")


def _stat(pid: int) -> tuple[str, int, int, int] | None:
    """(name, state, parent, session) of ``pid`` from /proc/PID/stat; None when it has gone."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    name = text[text.index("(") + 1 : text.rindex(")")]
    fields = text[text.rindex(")") + 2 :].split()
    return name, fields[0], int(fields[1]), int(fields[3])  # type: ignore[return-value]


def processes() -> dict[int, tuple[str, str, int, int]]:
    """Every process now: pid -> (name, state, parent pid, session id)."""
    found = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat is not None:
                found[int(entry.name)] = stat
    return found


def command_line(pid: int) -> str:
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return "?"
    return " ".join(part.decode("utf-8", "replace") for part in raw.split(b"\0") if part)[:200] or "?"


def alive(found: dict[int, tuple[str, str, int, int]], pid: int) -> bool:
    return pid in found and found[pid][1] not in ("Z", "X")  # a zombie has ended; its parent reaps it


def descendants(root: int, sessions: Sequence[int] = ()) -> list[int]:
    """The live processes below ``root`` (by parent links), and those in ``sessions`` (an orphan keeps its
    session when its parent dies and it is handed to init)."""
    found = processes()
    children: dict[int, list[int]] = {}
    for pid, (_, _, parent, _) in found.items():
        children.setdefault(parent, []).append(pid)
    below, todo = set(), [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in below:
                below.add(child)
                todo.append(child)
    below |= {pid for pid, stat in found.items() if stat[3] in sessions and pid != root}
    return sorted(pid for pid in below if alive(found, pid) and pid != os.getpid())


def session_members(session: int) -> list[int]:
    found = processes()
    return sorted(pid for pid, stat in found.items() if stat[3] == session and alive(found, pid))


def kill_group(process: subprocess.Popen[Any]) -> None:
    """Kill ``process``, its process group (the session :func:`started` gave it) and every process below
    it (a studio's worker runs in a session of its own), and reap it."""
    below = descendants(process.pid)
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    for pid in [process.pid, *below]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait()


STARTED: list[int] = []  # the sessions tests started (each its leader's pid), for the check at the end


def popen(argv: Sequence[str], *, ignore_sigint: bool = False, **kwargs: Any) -> subprocess.Popen[Any]:
    """``subprocess.Popen`` in a session of its own; ``ignore_sigint`` starts it with SIGINT ignored, as a
    non-interactive shell's ``cmd &`` or a CI harness does (the child inherits it)."""
    if ignore_sigint:
        kwargs["preexec_fn"] = lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)
    process = subprocess.Popen(list(argv), start_new_session=True, **kwargs)
    STARTED.append(process.pid)
    return process


def _kill_leftovers(session: int) -> list[str]:
    """Kill what is left in ``session`` after its leader ended (waiting a moment for it to end by itself)."""
    deadline = time.monotonic() + 5.0
    while session_members(session) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = [f"{pid} {command_line(pid)}" for pid in session_members(session)]
    for pid in session_members(session):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return left


@contextmanager
def started(argv: Sequence[str], **kwargs: Any) -> Iterator[subprocess.Popen[Any]]:
    """:func:`popen` for the block: on the way out a process still running is killed with its group; one
    that ended must have taken its whole session with it (else what is left is killed and the test fails)."""
    process = popen(argv, **kwargs)
    failed = False
    try:
        yield process
    except BaseException:
        failed = True
        raise
    finally:
        if process.poll() is None:
            kill_group(process)
            left: list[str] = []
        else:
            left = _kill_leftovers(process.pid)
        for stream in (process.stdin, process.stdout, process.stderr):
            if stream is not None:
                stream.close()
        if left and not failed:
            raise AssertionError(f"{command_line(process.pid) or argv[0]} ended but left processes running: {left}")


def run(
    argv: Sequence[str],
    *,
    timeout: float,
    input: Any = None,
    capture_output: bool = False,
    check: bool = False,
    **kwargs: Any,
) -> subprocess.CompletedProcess[Any]:
    """``subprocess.run`` in a session of its own: on a timeout (or any failure) the whole group is killed."""
    if capture_output:
        kwargs["stdout"] = kwargs["stderr"] = subprocess.PIPE
    if input is not None:
        kwargs["stdin"] = subprocess.PIPE
    with started(argv, **kwargs) as process:
        try:
            out, err = process.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired as timed_out:
            kill_group(process)  # its children too: else they hold the pipes open and the next read waits
            timed_out.stdout, timed_out.stderr = process.communicate()
            raise
    done = subprocess.CompletedProcess(list(argv), process.returncode, out, err)
    if check:
        done.check_returncode()
    return done


class lines:
    """The lines a child writes on one of its pipes, read by a thread so a test can wait for one with a
    deadline (``readline`` alone would wait forever on a child that hangs)."""

    def __init__(self, stream: Any) -> None:
        self._queue: queue.Queue[Any] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: Any) -> None:
        try:
            for line in iter(stream.readline, "" if hasattr(stream, "encoding") else b""):
                self._queue.put(line)
        except (OSError, ValueError):  # the pipe was closed under the reader
            pass
        self._queue.put(None)

    def next(self, timeout: float) -> str | None:
        """The next line (None when the stream has ended); AssertionError when none comes within ``timeout``."""
        try:
            line = self._queue.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no line within {timeout} s (lines so far: {self.seen[-5:]})") from None
        if line is not None:
            self.seen.append(line)
        return line

    def wait_for(self, fragment: str, timeout: float) -> str:
        """The first line holding ``fragment``, within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            line = self.next(max(0.0, deadline - time.monotonic()))
            if line is None:
                raise AssertionError(f"the stream ended without {fragment!r} (lines: {self.seen[-5:]})")
            if fragment in line:
                return line

    def rest(self, timeout: float) -> str:
        """Everything until the stream ends, within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while self.next(max(0.0, deadline - time.monotonic())) is not None:
            pass
        return "".join(self.seen)


def caught(pid: int, signum: int) -> bool:
    """Whether process ``pid`` handles ``signum`` now (its SigCgt mask)."""
    try:
        status = (PROC / str(pid) / "status").read_text()
    except OSError:
        return False
    for row in status.splitlines():
        if row.startswith("SigCgt:"):
            return bool(int(row.split()[1], 16) >> (signum - 1) & 1)
    return False


def wait_until_caught(process: subprocess.Popen[Any], signum: int, timeout: float) -> None:
    """Wait until ``process`` handles ``signum`` (a Python handler is set), polling every few ms."""
    deadline = time.monotonic() + timeout
    while not caught(process.pid, signum):
        assert process.poll() is None, f"it ended (exit status {process.returncode}) before handling {signum}"
        assert time.monotonic() < deadline, f"it did not handle signal {signum} within {timeout} s"
        time.sleep(0.002)
