"""Small file helpers every stage shares; torch-free.

* :func:`sha256_bytes`, :func:`sha256_file`: the hex SHA-256 that manifests and model files record;
* :func:`json_ready`: data with NaN and infinities as ``None``, so ``json.dumps`` writes strict JSON;
* :func:`write_json`: the one writer of a JSON file (atomic, indented, one newline at the end);
  :func:`read_json_object`: a JSON object file read as a dict, or ``None`` (missing, damaged, not an object);
* :func:`parse_json`: JSON text read as data with every hostile shape refused as one ``ValueError`` line
  (huge numbers, deep nesting, NaN, oversized text), for callers to name the file and the fix;
* :func:`check_out_dir`: refuse an output folder that would write into a part tree (or hold it);
* :class:`Journal`: a ``manifest.jsonl`` of one record per output, appended to as each output is
  finished (so a killed run loses nothing and resumes) and rewritten sorted, atomically, at the end.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import sys
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any, Generic, TypeVar

from stylize.errors import StylizeError
from stylize.faults import MachineError, machine_error
from stylize.imageio import atomic_write_text
from stylize.output_folder import open_append_nofollow, open_regular, refuse_non_folder

log = logging.getLogger("stylize")

K = TypeVar("K", bound=Hashable)

_BLOCK = 1 << 20


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def json_ready(value: Any) -> Any:
    """``value`` with every non-finite float (NaN, inf) as ``None``, through dicts, lists and tuples
    (tuples become lists, as JSON writes them anyway)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(item) for item in value]
    return value


def write_json(
    path: str | os.PathLike[str],
    data: Any,
    *,
    indent: int = 2,
    nan_as_null: bool = False,
    allow_nan: bool = True,
) -> None:
    """Write ``data`` to ``path`` as JSON, atomically (:func:`stylize.imageio.atomic_write_text`): keys in
    the order given, ``indent`` spaces a level, one newline at the end. With ``nan_as_null`` every NaN and
    infinity is written as ``null`` (:func:`json_ready`); without ``allow_nan`` one raises ``ValueError``
    (the file stays as before)."""
    if nan_as_null:
        data = json_ready(data)
    atomic_write_text(path, json.dumps(data, indent=indent, allow_nan=allow_nan) + "\n")


MAX_JSON_CHARS = 256 << 20  # a manifest of 100,000 outputs is about 60 MB
MAX_JSON_DEPTH = 64  # deepest nesting stylize writes is about 5
MAX_RECORD_CHARS = 1 << 20  # one manifest record is under 2 KB
MAX_JSON_DIGITS = 400  # an integer or number literal longer than this is nothing stylize wrote


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed (strict JSON)")


def _number(text: str) -> float:
    if len(text) > MAX_JSON_DIGITS:
        raise ValueError(f"a number of {len(text)} characters")
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text} is out of range")
    return value


def _integer(text: str) -> int:
    if len(text) > MAX_JSON_DIGITS:
        raise ValueError(f"an integer of {len(text)} digits")
    return int(text)


def _depth(text: str) -> int:
    """The deepest nesting of ``[``/``{`` in ``text`` outside strings (a linear scan, no recursion)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def parse_json(text: str, *, max_chars: int = MAX_JSON_CHARS) -> Any:
    """``text`` parsed as strict JSON data; anything hostile raises ``ValueError`` with a short reason.

    Refused: text longer than ``max_chars``, nesting deeper than ``MAX_JSON_DEPTH`` (checked before
    parsing, so no ``RecursionError``), number literals over ``MAX_JSON_DIGITS`` characters (no
    ``int`` of 5000 digits), ``NaN``/``Infinity``, and malformed text. Callers turn the ``ValueError``
    into a ``StylizeError`` naming their file.
    """
    if len(text) > max_chars:
        raise ValueError(f"{len(text)} characters, more than the {max_chars} allowed")
    if _depth(text) > MAX_JSON_DEPTH:
        raise ValueError(f"nested more than {MAX_JSON_DEPTH} levels deep")
    try:
        return json.loads(text, parse_float=_number, parse_int=_integer, parse_constant=_refuse_constant)
    except RecursionError as err:  # pragma: no cover - the depth check comes first
        raise ValueError("nested too deeply") from err


def read_json_object(path: Path) -> dict[str, Any] | None:
    """The JSON object in the file ``path`` (read with :func:`parse_json`), or ``None`` when it is missing,
    unreadable, not strict JSON or not an object: for state files a reader may find half-made or gone (the
    studio's job files), where no answer is the answer."""
    try:
        data = parse_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return None
    return data if isinstance(data, dict) else None


def check_out_dir(out_dir: Path, tree_root: Path, *, may_hold_tree: bool = True) -> None:
    """Refuse ``out_dir`` when it is the part tree ``tree_root`` or inside it, when it exists and is no
    folder, and (unless ``may_hold_tree``) when the tree is inside it."""
    out_resolved, root_resolved = out_dir.resolve(), tree_root.resolve()
    if out_resolved == root_resolved or root_resolved in out_resolved.parents:
        raise StylizeError(f"{out_dir}: output folder is inside the part tree {tree_root}; choose a folder outside it")
    if not may_hold_tree and out_resolved in root_resolved.parents:
        raise StylizeError(f"{out_dir}: output folder holds the part tree {tree_root}; choose a folder outside it")
    refuse_non_folder(out_dir)


class Journal(Generic[K]):
    """A JSON-lines manifest: the records of ``path`` keyed by ``key(record)``, appended to one record a
    line (flushed at once) inside ``with``, and rewritten as one clean, sorted file by :meth:`rewrite`.

    Reading drops a torn last line (a killed append: its output is simply made again) and sets
    aside every other line that is not a record (damaged, foreign, nested too deep) in
    ``damaged``; :meth:`quarantine` moves those to ``NAME.damaged`` beside it with a logged warning,
    so a damaged line never blocks a run and is never silently lost. A later line for the same key
    wins. The manifest is never read or written through a symbolic link. ``sort_keys`` is passed to
    ``json.dumps`` for every line written.
    """

    def __init__(self, path: Path, key: Callable[[dict[str, Any]], K], *, sort_keys: bool = False) -> None:
        self.path = path
        self.key = key
        self.sort_keys = sort_keys
        self.records, self.damaged = read_journal_lines(path, key)
        self._fd: int | None = None

    def _line(self, record: dict[str, Any]) -> str:
        return json.dumps(record, sort_keys=self.sort_keys) + "\n"

    def _cannot_write(self, err: OSError) -> StylizeError:
        return machine_error(err, self.path) or StylizeError(
            f"{self.path}: cannot write ({err.strerror}); check free space and permissions"
        )

    def quarantine(self) -> None:
        """Append the damaged lines to ``NAME.damaged`` (never through a link) and log a warning; the
        manifest itself is rewritten clean by the next :meth:`rewrite`."""
        if not self.damaged:
            return
        aside = self.path.with_name(self.path.name + ".damaged")
        fd = open_append_nofollow(aside)
        try:
            os.write(fd, "".join(line + "\n" for line in self.damaged).encode("utf-8"))
        except OSError as err:
            raise self._cannot_write(err) from err
        finally:
            os.close(fd)
        log.warning(
            "%s: %d damaged line(s) moved to %s; the outputs they recorded are made again",
            self.path,
            len(self.damaged),
            aside.name,
        )
        self.damaged = []

    def __enter__(self) -> Journal[K]:
        self._fd = open_append_nofollow(self.path)
        return self

    def append(self, record: dict[str, Any]) -> None:
        """Record one finished output: in memory, and as a line of the file, written at once."""
        assert self._fd is not None, "append inside `with journal:`"
        self.records[self.key(record)] = record
        try:
            os.write(self._fd, self._line(record).encode("utf-8"))
        except OSError as err:
            raise self._cannot_write(err) from err

    def __exit__(self, *exc: object) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def text(self) -> str:
        """Every record, one a line, sorted by key."""
        return "".join(self._line(self.records[key]) for key in sorted(self.records))  # type: ignore[type-var]

    def rewrite(self) -> None:
        """Replace the file by :meth:`text`, atomically (the old file stays until the new one is whole;
        a symbolic link at the path is replaced, never followed). Called from a ``finally`` while an
        error is raised, a fault of the machine here (the same full disk) is not raised over that error:
        the first fault is the one to tell, and the appended lines hold every record already."""
        failing = sys.exc_info()[1]
        try:
            atomic_write_text(self.path, self.text())
        except MachineError:
            if failing is None:
                raise


def read_journal_lines(path: Path, key: Callable[[dict[str, Any]], K]) -> tuple[dict[K, dict[str, Any]], list[str]]:
    """The records of a JSON-lines manifest keyed by ``key(record)``, and its damaged lines (not JSON
    objects, or without a key); a torn last line (no newline: a killed append) is dropped."""
    records: dict[K, dict[str, Any]] = {}
    damaged: list[str] = []
    if not os.path.lexists(path):
        return records, damaged
    fd = open_regular(path, os.O_RDONLY, what="read")
    with os.fdopen(fd, "rb") as stream:
        while raw := stream.readline(MAX_RECORD_CHARS + 1):
            if not raw.endswith(b"\n"):
                if len(raw) <= MAX_RECORD_CHARS:
                    break  # the torn last line of an interrupted append
                while (rest := stream.readline(MAX_RECORD_CHARS)) and not rest.endswith(b"\n"):
                    pass  # skip the rest of an overlong line, keeping only its start aside
                damaged.append(raw[:200].decode("utf-8", errors="replace") + " ... (line too long, cut)")
                continue
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            if not line.strip():
                continue
            try:
                record = parse_json(line, max_chars=MAX_RECORD_CHARS)
                if not isinstance(record, dict):
                    raise ValueError("not a JSON object")
                records[key(record)] = record
            except (ValueError, KeyError, TypeError):
                damaged.append(line)
    return records, damaged


def read_journal(path: Path, key: Callable[[dict[str, Any]], K]) -> dict[K, dict[str, Any]]:
    """Records of a JSON-lines manifest keyed by ``key(record)``; torn or damaged lines are left out."""
    return read_journal_lines(path, key)[0]
