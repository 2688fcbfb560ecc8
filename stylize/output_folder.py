"""The output folder of a run: made with a clear error, held under one lock, written only inside.

Every command that writes a folder of results (``apply``, ``compose``, ``export-parts``, ``preview``)
goes through :class:`OutputFolder`:

* **made** with :func:`make_folder`: a folder that cannot be made (below a file, on a read-only
  mount, under ``/proc``) is one ``StylizeError`` naming it, not a traceback;
* **locked**: one run at a time per folder. ``.stylize.lock`` inside it is held with ``flock`` for the
  run and records who holds it (command, process id, start time); a second run on the same folder
  logs who holds it and waits for it to finish, then reads the folder afresh, so two runs never
  lose each other's manifest records. The lock file is removed when the run ends (a killed run's
  lock is released by the kernel and its file reused by the next run);
* **contained**: :meth:`OutputFolder.target` refuses a relative path that leaves the folder or
  passes through a symbolic link (a linked sub-folder or a linked manifest would send writes
  elsewhere), and the manifest is opened with ``O_NOFOLLOW``;
* **swept**: once the lock is held, the temporary files a killed run left in the folder are removed
  (:func:`stylize.faults.remove_temp_files`: stylize's own pattern only).

A folder replaced whole (``export-parts``, a style folder) is made in a hidden build folder beside it
and renamed onto it (:func:`replace_folder`, :func:`swap_into_place`), so it is always as before or the
whole new one. A style folder (:class:`stylize.style_folder.StyleFolder`) has one writer: a second is
refused at once.
"""

from __future__ import annotations

import errno
import fcntl
import glob
import json
import logging
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from types import TracebackType

from stylize.errors import StylizeError
from stylize.faults import machine_error, remove_temp_files
from stylize.imageio import new_mode

LOCK_NAME = ".stylize.lock"

log = logging.getLogger("stylize")


def refuse_non_folder(path: Path, *, param: str = "out_dir", value: str = "DIR") -> None:
    """Refuse ``path`` as a folder to write into when it is a broken link or exists as something else
    (checked before any work, so the mistake costs nothing)."""
    if path.is_symlink() and not path.exists():
        raise StylizeError(
            f"{path}: is a broken symbolic link; remove it or choose another {param}={value}", params=(param,)
        )
    if path.exists() and not path.is_dir():
        raise StylizeError(f"{path}: exists and is not a folder; choose another {param}={value}", params=(param,))


def make_folder(path: Path, *, param: str = "out_dir", value: str = "DIR") -> None:
    """``mkdir -p path``, with every failure as one line naming the folder and the fix (``param=value``)."""
    refuse_non_folder(path, param=param, value=value)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        # A read-only or full file system, a name too long: the fault's line. Permission denied (as under
        # /proc) keeps the line below, which says the folder cannot be made.
        fault = machine_error(err, path, param=param)
        if fault is not None and err.errno not in (errno.EACCES, errno.EPERM):
            raise fault from err
        reason = err.strerror or type(err).__name__
        if err.errno == errno.ENOTDIR or (err.errno == errno.EEXIST and not path.is_dir()):
            reason = "a part of the path is a file"
        raise StylizeError(
            f"{path}: cannot make this folder ({reason}); choose a writable {param}={value}", params=(param,)
        ) from err


def check_inside(root: Path, relative: str | os.PathLike[str], *, param: str = "out_dir") -> Path:
    """``root / relative``, refused when ``relative`` leaves ``root`` (absolute, ``..``) or when a folder on
    the way (``root`` itself excepted: the user named it) or the file itself is a symbolic link."""
    parts = PurePosixPath(os.fspath(relative).replace(os.sep, "/")).parts
    if not parts or PurePosixPath(os.fspath(relative)).is_absolute() or any(p in ("..", ".", "") for p in parts):
        raise StylizeError(f"{relative}: not a plain path inside the output folder {root}")
    path = root
    for index, part in enumerate(parts):
        path = path / part
        if path.is_symlink():
            kind = "file" if index == len(parts) - 1 else "sub-folder"
            raise StylizeError(
                f"{path}: this {kind} of the output folder is a symbolic link, and stylize never writes through "
                f"links out of {param}=DIR; remove the link or choose another {param}=DIR",
                params=(param,),
            )
    return path


def open_regular(path: Path, flags: int, *, what: str = "write") -> int:
    """A file descriptor of ``path`` opened with ``flags`` (plus no-follow, non-blocking), refusing a symbolic
    link, a folder, a FIFO or a device with one line naming it: a manifest must be a plain file."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o666)
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise StylizeError(
                f"{path}: is a symbolic link, and stylize never reads or writes its records through links; remove "
                "it and rerun"
            ) from err
        if err.errno in (errno.EISDIR, errno.ENXIO):
            raise StylizeError(f"{path}: is not a regular file (a folder or a FIFO?); remove it and rerun") from err
        raise machine_error(err, path) or StylizeError(
            f"{path}: cannot {what} ({err.strerror}); check free space and permissions"
        ) from err
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise StylizeError(f"{path}: is not a regular file (a folder, FIFO or device); remove it and rerun")
    os.set_blocking(fd, True)
    return fd


def open_append_nofollow(path: Path) -> int:
    """A file descriptor appending to ``path`` (made 0666 & ~umask if absent); see :func:`open_regular`."""
    return open_regular(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)


HOLDER = {"command": "stylize (Python API)"}  # the CLI names its command here, for the lock's record


def _holder_line() -> str:
    return json.dumps({"pid": os.getpid(), "command": HOLDER["command"], "started": time.strftime("%H:%M:%S")})


def _describe_holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0).decode("utf-8"))
        return f"{info['command']} (process {int(info['pid'])}, started {info['started']})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another stylize run"


class FolderLock:
    """``with FolderLock(lock_path, folder):`` holds ``lock_path`` (``flock``) for one run on ``folder``,
    logging who holds it and waiting when another run does; the file is removed on release.

    With ``refuse`` (a parameter, ``"name=NAME"``) a folder another run holds is refused instead of
    waited for: one ``StylizeError`` naming the holder and the way out (another ``name=NAME``), worded by
    ``busy`` (``{folder}``, ``{holder}`` and ``{refuse}`` filled in). ``param`` is the parameter that chose
    the folder (a fix names it); ``None`` leaves it to the CLI, which names the option whose path holds the
    folder. The one lock of every folder stylize writes: output folders (:class:`OutputFolder`), folders
    replaced whole (:func:`sibling_lock`), style folders (:class:`stylize.style_folder.StyleFolder`) and the
    studio's folder."""

    BUSY = "{folder}: is being written by {holder}; wait for it to finish, or choose another {refuse}"

    def __init__(
        self,
        lock_path: Path,
        folder: Path,
        *,
        param: str | None = "out_dir",
        refuse: str | None = None,
        busy: str = BUSY,
    ) -> None:
        self.lock_path = lock_path
        self.folder = folder
        self.param = param
        self.refuse = refuse
        self.busy = busy
        self._fd: int | None = None

    def __enter__(self) -> FolderLock:
        self._fd = self._acquire()
        return self

    def _open(self) -> int:
        try:
            return os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except OSError as err:
            if err.errno == errno.ELOOP:
                raise StylizeError(f"{self.lock_path}: is a symbolic link; remove it and rerun") from err
            fault = machine_error(err, self.lock_path.parent, param=self.param)  # a read-only folder, ...
            if fault is not None:
                raise fault from err
            place = f"{self.param}=DIR" if self.param else "folder"
            raise StylizeError(
                f"{self.folder}: cannot write there ({err.strerror} in {self.lock_path.parent}); choose a writable "
                f"{place}",
                params=(self.param,) if self.param else (),
            ) from err

    def _acquire(self) -> int:
        waited = False
        while True:
            fd = self._open()
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    if self.refuse is not None:
                        raise StylizeError(
                            self.busy.format(folder=self.folder, holder=_describe_holder(fd), refuse=self.refuse),
                            params=(self.refuse.split("=")[0],),
                        ) from None
                    if not waited:
                        log.warning("%s is in use by %s; waiting for it to finish", self.folder, _describe_holder(fd))
                        waited = True
                    fcntl.flock(fd, fcntl.LOCK_EX)
                # The holder before us may have removed the file after we opened it: hold the file
                # that is at the path now.
                try:
                    current = os.stat(self.lock_path, follow_symlinks=False)
                except FileNotFoundError:
                    os.close(fd)
                    continue
                mine = os.fstat(fd)
                if (current.st_dev, current.st_ino) != (mine.st_dev, mine.st_ino):
                    os.close(fd)
                    continue
                try:
                    os.ftruncate(fd, 0)
                    os.pwrite(fd, _holder_line().encode("utf-8"), 0)
                except OSError as err:  # a full disk: the lock is not taken, and its file goes
                    os.unlink(self.lock_path)
                    raise machine_error(err, self.lock_path) or StylizeError(
                        f"{self.lock_path}: cannot write ({err.strerror}); check free space and permissions"
                    ) from err
                return fd
            except BaseException:
                os.close(fd)
                raise

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.unlink(self.lock_path)  # while still held: a waiter then retries on a fresh file
        except OSError:
            pass
        os.close(fd)


class OutputFolder:
    """An output folder held for one run: ``with OutputFolder(path) as folder:`` makes it and takes its
    lock (waiting for another run to finish), and ``folder.target(rel)`` gives checked paths inside."""

    def __init__(self, path: str | os.PathLike[str], *, param: str = "out_dir") -> None:
        self.path = Path(path)
        self.param = param
        self._lock: FolderLock | None = None

    def target(self, relative: str | os.PathLike[str]) -> Path:
        return check_inside(self.path, relative, param=self.param)

    def __enter__(self) -> OutputFolder:
        make_folder(self.path, param=self.param)
        self._lock = FolderLock(self.path / LOCK_NAME, self.path, param=self.param).__enter__()
        try:
            remove_temp_files(self.path)  # what a killed run left: no live run owns them now
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        lock, self._lock = self._lock, None
        if lock is not None:
            lock.__exit__(kind, value, traceback)


def sibling_lock(folder: Path, *, param: str = "out_dir") -> FolderLock:
    """The lock of a folder that is replaced whole by a rename (``export-parts``): ``.NAME.lock`` beside it,
    its parent made first."""
    make_folder(folder.parent, param=param)
    return FolderLock(folder.parent / f".{folder.name}.lock", folder, param=param)


# --- folders replaced whole: a hidden build folder beside, renamed into place --------------------------------


def new_build_folder(target: Path, kind: str = "build") -> Path:
    """A new empty hidden folder beside ``target`` (``.NAME.KIND-XXXXXXXX``) to build its replacement in."""
    target.parent.mkdir(parents=True, exist_ok=True)
    built = Path(tempfile.mkdtemp(prefix=f".{target.name}.{kind}-", dir=target.parent))
    os.chmod(built, new_mode(folder=True))
    return built


def swap_into_place(built: Path, target: Path) -> None:
    """Rename the finished folder ``built`` onto ``target``: an empty ``target`` is replaced; one holding
    something is moved aside (``.NAME.old-XXXXXXXX/tree``) first and removed after. A run killed between
    the two renames leaves the old folder aside, which :func:`remove_stale_builds` puts back."""
    old = None
    if target.is_dir() and not target.is_symlink() and any(target.iterdir()):
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        os.replace(target, old / "tree")
    elif target.is_dir() and not target.is_symlink():
        target.rmdir()
    try:
        os.replace(built, target)
    except BaseException:
        if old is not None and not os.path.lexists(target):
            os.replace(old / "tree", target)  # as before (if this fails too, the next run puts it back)
            old.rmdir()
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def remove_stale_builds(target: Path, kinds: tuple[str, ...] = ("build",)) -> None:
    """Remove the hidden build folders (``.NAME.KIND-*``) a killed writer left beside ``target``, and put
    back a folder a killed :func:`swap_into_place` moved aside (or remove it when ``target`` is there);
    the caller holds ``target``'s lock, so no live run owns them."""
    if not target.parent.is_dir():
        return
    for kind in (*kinds, "old"):
        for stale in sorted(target.parent.glob(f"{glob.escape(f'.{target.name}.{kind}-')}*")):
            if not stale.is_dir() or stale.is_symlink():
                continue
            if kind == "old" and (stale / "tree").is_dir() and not os.path.lexists(target):
                os.replace(stale / "tree", target)
            shutil.rmtree(stale, ignore_errors=True)


def replace_folder(
    target: Path, fill: Callable[[Path], object], *, carry: tuple[str, ...] = (), param: str = ""
) -> None:
    """Make the new ``target`` whole in a hidden folder beside it (``fill(built)`` writes its files), then
    rename that onto ``target`` (:func:`swap_into_place`): ``target`` is always either as before or the whole
    new folder. The entries ``carry`` of ``target`` (``.checkpoint``) move into the new folder. On any failure
    the build folder is removed, and a fault of the machine is one line naming the file."""
    built: Path | None = None
    moved: list[str] = []
    try:
        built = new_build_folder(target)
        fill(built)
        for name in carry:
            if os.path.lexists(target / name) and not os.path.lexists(built / name):
                os.replace(target / name, built / name)
                moved.append(name)
        swap_into_place(built, target)
    except BaseException as err:
        if built is not None and built.is_dir():
            for name in moved:  # put back what was carried: the folder as before
                if not os.path.lexists(target / name):
                    os.replace(built / name, target / name)
            shutil.rmtree(built, ignore_errors=True)
        if isinstance(err, OSError):
            raise machine_error(err) or StylizeError(
                f"{target}: cannot write it ({err.strerror}); check free space and permissions"
            ) from err
        raise
