"""Faults of the machine: a full disk, a read-only or unwritable folder, too many open files, a name too long.

They are not the user's mistakes in a command, yet a user can fix each of them, so they are one
``StylizeError`` line like any other (:class:`MachineError`), never a traceback: the file at fault (the
file being written, not its temporary file) and the fix. :func:`machine_error` is the one place that
turns an ``OSError`` into that line; the atomic writers (:mod:`stylize.imageio`) call it, and so do the
CLI's ``main`` and the studio for any such ``OSError`` that reaches them from elsewhere. The CLI then
names the option that chose the folder (``free space or choose another --styles-dir DIR``).

A writer never leaves a half-made file: every temporary file is named by :data:`TEMP_FILE` (``.NAME.
XXXXXXXX.tmp`` beside ``NAME``) and removed when its write fails; :func:`remove_temp_files` removes those
a killed run left, in a folder the caller holds (its lock taken, so no live run owns them).
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stylize.errors import StylizeError

# A temporary file of stylize's writers (tempfile.mkstemp(prefix=".NAME.", suffix=".tmp")): what
# remove_temp_files removes, and what a message shows as the file it stands for.
TEMP_FILE = re.compile(r"^\.(?P<name>.+)\.[a-z0-9_]{8}\.tmp$")
# A hidden folder a whole-folder writer builds in beside its target (export-parts, style folders).
BUILD_FOLDER = re.compile(r"^\.(?P<name>.+)\.(?:build|export)-[A-Za-z0-9_]+$")

PLACE = "folder"  # where a fix sends the user when the option that chose the folder is not known

# errno: (what happened, the fix); "{place}" is the folder's option (or "folder").
FAULTS: dict[int, tuple[str, str]] = {
    errno.ENOSPC: ("no space left on device", "free space or choose another {place}"),
    errno.EDQUOT: ("disk quota exceeded", "free space or choose another {place}"),
    errno.EFBIG: (
        "file too large (a file-size limit, ulimit -f, or the file system's)",
        "raise the limit or choose another {place}",
    ),
    errno.EROFS: ("read-only file system", "choose a writable {place}"),
    errno.EACCES: ("permission denied", "check its permissions or choose another {place}"),
    errno.EPERM: ("operation not permitted", "check its permissions or choose another {place}"),
    errno.EMFILE: ("too many open files", "raise the limit (ulimit -n) or close other programs, and rerun"),
    errno.ENFILE: ("too many open files on this machine", "close other programs and rerun"),
    errno.ENAMETOOLONG: ("file name too long", "choose a shorter name or another {place}"),
    errno.EIO: ("input/output error", "check the disk (dmesg) and rerun"),
}
_WRITES = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS})  # faults of the file written to


class MachineError(StylizeError):
    """The machine refused a read or write (see :data:`FAULTS`): one line naming the file and the fix.
    ``path`` is the file at fault, ``code`` its errno, ``note`` what the line adds after the fix (what
    was kept); :meth:`placed` names the parameter (an option, in the CLI) that chose the file's folder."""

    def __init__(
        self,
        message: str,
        *,
        params: Sequence[str] = (),
        path: str | None = None,
        code: int | None = None,
        note: str = "",
        note_params: Sequence[str] = (),
    ) -> None:
        super().__init__(message, params=params)
        self.path = path
        self.code = code
        self.note = note
        self.note_params = tuple(note_params)
        self.placed_in: str | None = None

    @classmethod
    def of(
        cls,
        path: str,
        code: int,
        param: str | None = None,
        value: str = "DIR",
        *,
        note: str = "",
        note_params: Sequence[str] = (),
    ) -> MachineError:
        reason, fix = FAULTS[code]
        place = f"{param}={value}" if param else PLACE
        message = f"{path}: {reason}; {fix.format(place=place)}" + (f"; {note}" if note else "")
        made = cls(
            message,
            params=((param,) if param else ()) + tuple(note_params),
            path=path,
            code=code,
            note=note,
            note_params=note_params,
        )
        made.placed_in = param
        return made

    def placed(self, param: str, value: str = "DIR") -> MachineError:
        """This fault, its fix naming ``param=value`` (the folder's parameter) instead of "folder"."""
        if self.path is None or self.code not in FAULTS or self.placed_in is not None:
            return self
        return MachineError.of(self.path, self.code, param, value, note=self.note, note_params=self.note_params)

    def noted(self, note: str, params: Sequence[str] = ()) -> MachineError:
        """This fault with ``note`` (naming ``params``) after its fix: what was kept, how to go on."""
        if self.path is None or self.code not in FAULTS:
            return self
        return MachineError.of(self.path, self.code, self.placed_in, note=note, note_params=params)

    def __reduce__(self) -> tuple[Any, ...]:  # crosses process boundaries (apply's workers) whole
        return (_rebuild, (str(self), self.params, self.path, self.code, self.note, self.note_params, self.placed_in))


def _rebuild(
    message: str,
    params: tuple[str, ...],
    path: str | None,
    code: int | None,
    note: str,
    note_params: tuple[str, ...],
    placed_in: str | None,
) -> MachineError:
    made = MachineError(message, params=params, path=path, code=code, note=note, note_params=note_params)
    made.placed_in = placed_in
    return made


def shown_path(path: str | os.PathLike[str]) -> str:
    """``path`` as a message names it: a temporary file as the file it stands for, a hidden build
    folder as the folder it becomes."""
    parts = list(Path(path).parts)
    for index, part in enumerate(parts):
        found = (TEMP_FILE if index == len(parts) - 1 else BUILD_FOLDER).match(part)
        if found:
            parts[index] = found.group("name")
    return os.fspath(Path(*parts)) if parts else os.fspath(path)


def machine_error(
    err: BaseException, path: str | os.PathLike[str] | None = None, *, param: str | None = None
) -> MachineError | None:
    """``err`` as a :class:`MachineError` when it is an ``OSError`` of :data:`FAULTS`, else ``None``.

    The line names ``path`` when given (the file being written), else the file the error names (of a
    copy, the target for a fault of the file written to), shown by :func:`shown_path`."""
    if isinstance(err, MachineError):
        return err
    if not isinstance(err, OSError) or err.errno not in FAULTS:
        return None
    named = path if path is not None else (err.filename2 if err.errno in _WRITES and err.filename2 else err.filename)
    if named is None:
        shown = "a file"
    elif isinstance(named, (str, os.PathLike)):
        shown = shown_path(named)
    else:  # bytes, or a file descriptor
        shown = os.fsdecode(named) if isinstance(named, bytes) else f"file descriptor {named}"
    return MachineError.of(shown, err.errno, param)


def as_stylize_error(err: BaseException) -> StylizeError | None:
    """``err`` as the one line a user sees: a ``StylizeError`` as it is, a fault of the machine as a
    :class:`MachineError`; ``None`` for anything else (a bug)."""
    if isinstance(err, StylizeError):
        return err
    return machine_error(err)


def remove_temp_files(folder: Path) -> list[Path]:
    """Remove the temporary files (:data:`TEMP_FILE`) a killed writer left anywhere under ``folder``,
    following no link; the caller holds the folder (its lock), so no live writer owns them."""
    removed: list[Path] = []
    if folder.is_symlink() or not folder.is_dir():
        return removed
    for top, _, files in os.walk(folder):
        for name in files:
            if TEMP_FILE.match(name):
                path = Path(top) / name
                try:
                    path.unlink()
                except FileNotFoundError:
                    continue
                removed.append(path)
    return removed
