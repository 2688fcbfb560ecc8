"""The hostile-input corpus: what a case is, how it runs, and the invariants every case must keep.

A case is a function decorated with ``@corpus.case(...)`` in one of the area modules (``images.py``,
``out_dirs.py``, ...). It builds the hostile situation under ``tmp`` (inputs under ``tmp/in``, the output
folder ``tmp/out``) and returns the command line (without ``stylize`` and without ``-q``: the harness adds
``-q``). Its docstring says what a careful user expects and why that exit status. The harness makes
``tmp/outside/canary.txt`` before ``setup`` (a folder no run may write to), runs the command with ``tmp`` as
the working folder, and checks, whatever the case:

1. the exit status is the expected one (0; 1 for a user error; 2 for a usage error);
2. no ``Traceback`` on stdout or stderr and no exception escaping ``stylize.cli.main``; a non-zero exit
   prints ONE ``stylize: error:`` (or ``stylize CMD: error:``) line naming the fault (``fault``): apply and
   content, which go on past a bad input, print one such line per bad input (``errors``), and content
   may end with its one summary line (:data:`SUMMARY_LINES`: its stdout may hold ``--json``); exit 0 prints nothing but ``note:`` lines, or one
   warning line naming the fault when the case allows (``warning="may"``) or requires it (``"must"``);
3. the inputs (``inputs``, and the bundled styles and part tree) are unchanged: SHA-256, mode, mtime;
4. nothing is written outside the output folders (``outs``): everything under ``tmp`` outside them,
   the ``outside`` canary included, is the same after (the walk follows no symlink, so a write through a
   link inside ``--out`` shows as a change of its target);
5. nothing half-made is left under ``tmp``: no ``*.tmp`` file, no hidden build folder (``.*build*``,
   ``.*tmp*``, export-parts' ``.OUT.export-*``/``.OUT.old-*``), no lock file.

Cases run in-process through ``stylize.cli.main`` (torch is imported once); ``child=True`` runs
``python -m stylize`` in a subprocess instead (for signals, resource limits, a possible hang, or output
that must go through a real stdout). A case that never returns is stopped after ``timeout`` seconds and
fails. To add a case: write a function in the area's module, decorate it, give it a docstring.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import processes
from conftest import one_parser
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[2]
ASSETS = REPO_ROOT / "stylize" / "assets"
STYLE = "pencil-nano"  # the bundled network to stylize with: tiny and fast
BUNDLED_INPUTS = (ASSETS / "styles" / STYLE, ASSETS / "facegen")
IS_ROOT = os.geteuid() == 0
AS_ROOT = "runs as root, which ignores file modes: a permission-denied case cannot be made"

ERROR_LINE = re.compile(r"^stylize(?: [a-z][a-z-]*)?: error: \S")
# The one line after the error lines of commands that go on past a bad input (apply, content).
SUMMARY_LINES = (re.compile(r"^\d+ portraits readable, \d+ failed$"),)  # `content` (stdout may hold --json)
NOTE_LINE = re.compile(r"^note: ")
HALF_MADE = re.compile(r"\.tmp$|^\..*(build|tmp|\.export-|\.old-)|(^|\.)lock(file)?$|^\.?lock\b", re.IGNORECASE)
HASH_LIMIT = 64 << 20  # bigger (sparse) files are compared by size and mtime only


class CaseTimeout(BaseException):
    """A case ran past its timeout (a BaseException, so no ``except Exception`` in stylize swallows it)."""


@dataclass(frozen=True)
class Result:
    argv: list[str]
    code: int | None
    stdout: str
    stderr: str
    escaped: str | None = None  # "Type: message" of an exception that escaped main: a traceback
    timed_out: bool = False


Check = Callable[[Path, Result], None]


@dataclass(frozen=True)
class Case:
    area: str
    name: str
    setup: Callable[[Path], list[str]]
    exit: tuple[int, ...]
    fault: tuple[str, ...] = ()  # the error (or warning) line must contain one of these: the file or value at fault
    forbid: tuple[str, ...] = ()  # text stderr must not contain (a misleading message)
    errors: int = 1  # error lines on a non-zero exit (apply: one per failed input)
    warning: str = "none"  # exit 0: "none", "may" (one line naming the fault allowed), "must"
    inputs: tuple[str, ...] = ("in",)  # under tmp: must be unchanged
    outs: tuple[str, ...] = ("out",)  # under tmp: the only places a run may write
    check: Check | None = None  # more assertions on the result and tmp (after the last run)
    reruns: int = 0  # run the same command again; every run must meet the expectations
    child: bool = False
    slow: bool = False  # over ~0.4 s in-process (a network made and run): out of the fast loop, as child cases are
    preexec: Callable[[], None] | None = None  # child only: e.g. resource limits
    timeout: float = 60.0
    skip_root: str | None = None  # skip with this reason when running as root
    quiet: bool = True

    @property
    def id(self) -> str:
        return f"{self.area}-{self.name}"

    @property
    def doc(self) -> str:
        return " ".join((self.setup.__doc__ or "").split())


@dataclass
class Corpus:
    """The cases of one area; ``@corpus.case(...)`` adds one."""

    area: str
    cases: list[Case] = field(default_factory=list)

    def case(
        self,
        *,
        exit: int | Sequence[int] = 1,
        fault: str | Sequence[str] = (),
        forbid: Sequence[str] = (),
        inputs: Sequence[str] = ("in",),
        outs: Sequence[str] = ("out",),
        **options: Any,
    ) -> Callable[[Callable[[Path], list[str]]], Callable[[Path], list[str]]]:
        def register(setup: Callable[[Path], list[str]]) -> Callable[[Path], list[str]]:
            assert setup.__doc__, f"case {setup.__name__}: say in its docstring what a careful user expects"
            codes = (exit,) if isinstance(exit, int) else tuple(exit)
            self.cases.append(
                Case(
                    self.area,
                    setup.__name__,
                    setup,
                    codes,
                    fault=(fault,) if isinstance(fault, str) else tuple(fault),
                    forbid=tuple(forbid),
                    inputs=tuple(inputs),
                    outs=tuple(outs),
                    **options,
                )
            )
            return setup

        return register


# --- snapshots ---------------------------------------------------------------------------------------------


# SHA-256 of files by inode and change time: a file whose inode, size, mtime and ctime are as they were has
# not been written since (a write or utime moves ctime, which no call can set back), so its hash is not
# computed again (every case snapshots the bundled part tree and style twice). Only for files changed more
# than STILL_FOR seconds ago: the kernel's file clock moves in ticks, so two writes within one tick can
# leave the same times.
_DIGESTS: dict[tuple[int, ...], str] = {}
STILL_FOR = 2.0


def _digest(path: Path, info: os.stat_result) -> str:
    key = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
    if key in _DIGESTS:
        return _DIGESTS[key]
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as err:
        return f"unreadable: {err.strerror}"
    if time.time_ns() - max(info.st_ctime_ns, info.st_mtime_ns) > STILL_FOR * 1e9:
        _DIGESTS[key] = digest
    return digest


def _entry(path: Path, *, times: bool) -> tuple[Any, ...]:
    info = path.lstat()
    mode = stat.S_IMODE(info.st_mode)
    if stat.S_ISLNK(info.st_mode):
        return ("link", os.readlink(path))
    if stat.S_ISDIR(info.st_mode):
        return ("dir", mode)
    if not stat.S_ISREG(info.st_mode):
        return ("special", stat.S_IFMT(info.st_mode), mode)
    mtime = info.st_mtime_ns if times else None
    if info.st_size > HASH_LIMIT:
        return ("file", f"{info.st_size} bytes", mode, mtime)
    return ("file", _digest(path, info), mode, mtime)


def _under(path: Path, roots: Sequence[Path]) -> bool:
    return any(path == root or root in path.parents for root in roots)


def snapshot(paths: Sequence[Path], exclude: Sequence[Path] = (), *, times: bool = True) -> dict[str, tuple]:
    """``{path: entry}`` for everything under ``paths`` (lexically, following no symlink) outside
    ``exclude``: a file's SHA-256, mode and mtime; a link's target; a folder's mode; a FIFO as special."""
    found: dict[str, tuple] = {}
    for top in paths:
        if not os.path.lexists(top) or _under(top, exclude):
            continue
        found[os.fsdecode(top)] = _entry(top, times=times)
        if top.is_symlink() or not top.is_dir():
            continue
        for folder, dirs, files in os.walk(top, onerror=lambda err: found.update({err.filename: ("unwalkable",)})):
            for name in dirs + files:
                path = Path(folder) / name
                if not _under(path, exclude):
                    found[os.fsdecode(path)] = _entry(path, times=times)
            dirs[:] = [d for d in dirs if not _under(Path(folder) / d, exclude)]
    return found


def differences(before: dict[str, tuple], after: dict[str, tuple], limit: int = 4) -> list[str]:
    changed = [
        f"{path}: {'added' if path not in before else 'removed' if path not in after else 'changed'}"
        for path in sorted(set(before) | set(after))
        if before.get(path) != after.get(path)
    ]
    return changed[:limit] + ([f"... and {len(changed) - limit} more"] if len(changed) > limit else [])


def half_made(root: Path) -> list[str]:
    """Temporary files, hidden build folders and lock files left under ``root``."""
    left = []
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            if HALF_MADE.search(name):
                left.append(os.fsdecode(Path(folder) / name))
    return sorted(left)


# --- running -----------------------------------------------------------------------------------------------


def child_env() -> dict[str, str]:
    path = os.environ.get("PYTHONPATH", "")
    return dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(p for p in (str(REPO_ROOT), path) if p),
        OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"),
    )


def start_child(argv: list[str], cwd: Path) -> subprocess.Popen[bytes]:
    """``python -m stylize ARGV`` started in a session of its own (killed with its group by the caller's
    ``processes.kill_group`` on a timeout or failure), its stdout and stderr piped."""
    return processes.popen(
        [sys.executable, "-m", "stylize", *argv],
        cwd=cwd,
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def run_child(argv: list[str], cwd: Path, timeout: float, preexec: Callable[[], None] | None = None) -> Result:
    try:
        done = processes.run(
            [sys.executable, "-m", "stylize", *argv],
            cwd=cwd,
            env=child_env(),
            capture_output=True,
            timeout=timeout,
            preexec_fn=preexec,
        )
    except subprocess.TimeoutExpired as err:
        out = (err.stdout or b"").decode("utf-8", "replace")
        return Result(argv, None, out, (err.stderr or b"").decode("utf-8", "replace"), timed_out=True)
    return Result(argv, done.returncode, done.stdout.decode("utf-8", "replace"), done.stderr.decode("utf-8", "replace"))


def run_in_process(argv: list[str], cwd: Path, timeout: float, capfd: Any) -> Result:
    from stylize.cli import main

    def stop(signum: int, frame: Any) -> None:
        raise CaseTimeout

    capfd.readouterr()
    previous_cwd = os.getcwd()
    previous_handler = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    code: int | None = None
    escaped = None
    timed_out = False
    try:
        os.chdir(cwd)
        with one_parser():  # the corpus parses with one parser (conftest.one_parser)
            code = main(argv)
    except SystemExit as err:  # argparse's usage errors and --help
        code = err.code if isinstance(err.code, int) else 1
    except CaseTimeout:
        timed_out = True
    except BaseException as err:  # noqa: BLE001 - anything escaping main is a traceback for the user
        escaped = f"{type(err).__name__}: {str(err)[:300]}"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous_handler)
        os.chdir(previous_cwd)
    captured = capfd.readouterr()
    return Result(argv, code, captured.out, captured.err, escaped, timed_out)


def command_line(case: Case, argv: list[str]) -> list[str]:
    if case.quiet and argv and not argv[0].startswith("-"):
        return [argv[0], "-q", *argv[1:]]
    return list(argv)


def names(case: Case, line: str) -> bool:
    return any(text in line for text in case.fault)


def judge(case: Case, result: Result, *, first: bool) -> list[str]:
    """The problems with one run's exit status and output (invariants 1 and 2)."""
    problems = []
    if result.timed_out:
        return [f"did not finish within {case.timeout:.0f} s"]
    if result.escaped:
        problems.append(f"exception escaped main (a traceback): {result.escaped}")
    for stream, text in (("stderr", result.stderr), ("stdout", result.stdout)):
        if "Traceback" in text:
            problems.append(f"Traceback on {stream}: ...{text.strip()[-300:]!r}")
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    shown = f"stderr {lines[:3]!r}" + (" ..." if len(lines) > 3 else "")
    if result.code not in case.exit and not result.escaped:
        problems.append(f"exit {result.code}, expected {' or '.join(map(str, case.exit))}; {shown}")
    if result.code is None or result.escaped:
        return problems
    if result.code != 0:
        errors = [line for line in lines if ERROR_LINE.match(line)]
        summaries = [line for line in lines if any(s.match(line) for s in SUMMARY_LINES)]
        others = [line for line in lines if line not in errors and line not in summaries]
        if others:
            problems.append(f"stderr lines that are no error line: {others[:3]!r}")
        if len(errors) != case.errors or len(summaries) > 1:
            problems.append(f"{len(errors)} error lines (expected {case.errors}): {shown}")
        if case.fault and errors and not any(names(case, line) for line in errors):
            problems.append(f"the error line does not name {' or '.join(case.fault)}: {errors[0]!r}")
    else:
        warnings = [line for line in lines if not NOTE_LINE.match(line)]
        allowed = 1 if case.warning in ("may", "must") else 0
        if len(warnings) > allowed:
            problems.append(f"exit 0 with {len(warnings)} lines on stderr: {warnings[:3]!r}")
        elif case.warning == "must" and first and not warnings:
            problems.append(f"exit 0 without a line naming {' or '.join(case.fault)} (silent)")
        if case.fault and warnings and not names(case, warnings[0]):
            problems.append(f"the warning does not name {' or '.join(case.fault)}: {warnings[0]!r}")
    for text in case.forbid:
        if text in result.stderr:
            problems.append(f"stderr says {text!r} (misleading): {shown}")
    return problems


class Watch:
    """Invariants 3 to 5 around runs under ``tmp``: snapshots taken now, compared by :meth:`problems`."""

    def __init__(self, tmp: Path, inputs: Sequence[str] = ("in",), outs: Sequence[str] = ("out",)) -> None:
        self.tmp = tmp
        self.outs = [tmp / out for out in outs]
        self.inputs = [tmp / path for path in inputs] + list(BUNDLED_INPUTS)
        self.inputs_before = self._inputs()
        self.rest_before = self._rest()

    def _inputs(self) -> dict[str, tuple]:
        # An output folder inside an input folder is left out of it; an input inside an output folder is kept.
        return {
            path: entry
            for top in self.inputs
            for path, entry in snapshot([top], [out for out in self.outs if top in out.parents]).items()
        }

    def _rest(self) -> dict[str, tuple]:
        return snapshot([self.tmp], self.outs + self.inputs, times=False)

    def problems(self) -> list[str]:
        problems = []
        changed = differences(self.inputs_before, self._inputs())
        if changed:
            problems.append(f"inputs changed: {changed}")
        written = differences(self.rest_before, self._rest())
        if written:
            problems.append(f"written outside the output folder: {written}")
        left = half_made(self.tmp)
        if left:
            problems.append(f"half-made files left: {left[:4]}")
        return problems


def make_canary(tmp: Path) -> None:
    (tmp / "in").mkdir(parents=True, exist_ok=True)
    (tmp / "outside").mkdir(parents=True, exist_ok=True)
    (tmp / "outside" / "canary.txt").write_text("nothing may write here\n")


def run_case(case: Case, tmp: Path, capfd: Any) -> list[str]:
    """Set ``case`` up under ``tmp``, run it (and its reruns), and return every broken invariant."""
    make_canary(tmp)
    argv = command_line(case, case.setup(tmp))
    watch = Watch(tmp, case.inputs, case.outs)
    problems: list[str] = []
    result = None
    for attempt in range(1 + case.reruns):
        if case.child:
            result = run_child(argv, tmp, case.timeout, case.preexec)
        else:
            result = run_in_process(argv, tmp, case.timeout, capfd)
        label = "" if attempt == 0 else f"rerun {attempt}: "
        problems += [label + problem for problem in judge(case, result, first=attempt == 0)]
        if result.timed_out:
            break
    problems += watch.problems()
    if case.check is not None and result is not None and not result.timed_out:
        try:
            case.check(tmp, result)
        except AssertionError as err:
            problems.append(f"check: {err}")
    return problems


# --- building hostile situations ---------------------------------------------------------------------------


def portrait(path: Path, size: tuple[int, int] = (64, 64), mode: str = "RGBA", fmt: str | None = None) -> Path:
    """A small image with some structure (a gradient and a disc), saved as ``fmt`` (default: by suffix)."""
    width, height = size
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([x * 255 // max(width, 1), y * 255 // max(height, 1), (x + y) % 256], axis=-1).astype(np.uint8)
    disc = (x - width / 2) ** 2 + (y - height / 2) ** 2 < (min(width, height) / 3) ** 2
    rgb[disc] = (200, 150, 120)
    alpha = np.where(disc, 255, 180).astype(np.uint8)
    image = Image.fromarray(np.dstack([rgb, alpha]), "RGBA").convert(mode)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format=fmt)
    return path


def face(tmp: Path, name: str = "face.png", **options: Any) -> Path:
    return portrait(tmp / "in" / name, **options)


def apply_argv(tmp: Path, *inputs: str | os.PathLike[str], out: str | os.PathLike[str] | None = None) -> list[str]:
    return ["apply", "--style", STYLE, *map(os.fspath, inputs), "--out", os.fspath(tmp / "out" if out is None else out)]


def compose_argv(tmp: Path, *extra: str, out: str | os.PathLike[str] | None = None) -> list[str]:
    return ["compose", "--seeds", "0-1", *extra, "--out", os.fspath(tmp / "out" if out is None else out)]


def tiny_tree(root: Path) -> Path:
    from conftest import make_tree

    return make_tree(root, races=1, per_gender=1, accessories=1, clothes=1, armour=1)


def copied_style(tmp: Path, name: str = STYLE) -> Path:
    """A copy of a bundled style under ``tmp/in/styles``: a model folder the case may damage."""
    folder = tmp / "in" / "styles" / name
    shutil.copytree(ASSETS / "styles" / name, folder)
    return folder


def edit_metadata(folder: Path, **changes: Any) -> None:
    path = folder / "model.json"
    metadata = json.loads(path.read_text())
    metadata.update(changes)
    path.write_text(json.dumps(metadata, indent=2) + "\n")


def replace_weights(folder: Path, data: bytes) -> None:
    """``data`` as the style's weights, with ``model.json`` recording its hash and size: only the
    contents are hostile, the bookkeeping matches."""
    (folder / "model.safetensors").write_bytes(data)
    edit_metadata(folder, weights_sha256=hashlib.sha256(data).hexdigest(), weights_bytes=len(data))


def transformed_weights(folder: Path, transform: Callable[[dict[str, Any]], dict[str, Any]]) -> bytes:
    from safetensors.torch import load, save

    return save(transform(load((folder / "model.safetensors").read_bytes())))


def manifest_records(path: Path) -> list[dict[str, Any]]:
    """The records of a JSON-lines manifest that parse (a check's view, not stylize's)."""
    records = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def outputs(*names: str, folder: str = "out") -> Check:
    """A check: these files exist (as regular files, not links) under ``tmp/folder``."""

    def check(tmp: Path, result: Result) -> None:
        for name in names:
            path = tmp / folder / name
            assert path.is_file() and not path.is_symlink(), f"{path} was not written"

    return check


def nothing_at(*names: str) -> Check:
    """A check: nothing exists at these paths under ``tmp`` (e.g. a half-made style folder)."""

    def check(tmp: Path, result: Result) -> None:
        for name in names:
            assert not os.path.lexists(tmp / name), f"{tmp / name} exists"

    return check


def all_of(*checks: Check) -> Check:
    def check(tmp: Path, result: Result) -> None:
        for one in checks:
            one(tmp, result)

    return check
