"""Faults of the machine as one line (stylize/faults.py): an OSError of a full disk, a read-only folder and the
like becomes a MachineError naming the file (never its temporary file) and the fix; the CLI names the option
that chose the folder; the studio answers with the same line. The corpus of real full and read-only file
systems under every command is tests/hostile/test_machine.py."""

from __future__ import annotations

import asyncio
import errno
import json
import pickle

import pytest

from stylize.errors import StylizeError
from stylize.faults import MachineError, as_stylize_error, machine_error, shown_path


@pytest.mark.parametrize(
    ("code", "said"),
    [
        (errno.ENOSPC, "no space left on device; free space or choose another folder"),
        (errno.EDQUOT, "disk quota exceeded; free space"),
        (errno.EROFS, "read-only file system; choose a writable folder"),
        (errno.EACCES, "permission denied; check its permissions"),
        (errno.EMFILE, "too many open files; raise the limit (ulimit -n)"),
        (errno.ENAMETOOLONG, "file name too long"),
        (errno.EFBIG, "file too large"),
    ],
)
def test_a_fault_of_the_machine_is_one_line_naming_the_file(code, said):
    fault = machine_error(OSError(code, "the system's words", "/x/styles/k/model.safetensors"))
    assert isinstance(fault, MachineError) and isinstance(fault, StylizeError)
    assert str(fault).startswith(f"/x/styles/k/model.safetensors: {said}") and "\n" not in str(fault)
    assert fault.path == "/x/styles/k/model.safetensors" and fault.code == code


def test_other_errors_are_no_fault_of_the_machine():
    assert machine_error(OSError(errno.ENOENT, "No such file or directory", "/x")) is None
    assert machine_error(ValueError("a bug")) is None
    assert as_stylize_error(RuntimeError("a bug")) is None
    err = StylizeError("a user's mistake")
    assert as_stylize_error(err) is err


def test_the_line_names_the_file_written_never_its_temporary_file():
    copy = OSError(errno.ENOSPC, "No space left on device", "/in/ref.png", None, "/s/k/refs/.ref.png.a1b2c3d4.tmp")
    assert str(machine_error(copy)).startswith("/s/k/refs/ref.png: no space left on device")
    assert shown_path("/s/.k.build-x1y2z3w4/refs/.ref.png.abcdefgh.tmp") == "/s/k/refs/ref.png"
    assert shown_path("/out/.parts.export-0a1b2c3d/eyes/eyes_0.png") == "/out/parts/eyes/eyes_0.png"
    assert shown_path("/out/.hidden.tmp") == "/out/.hidden.tmp"  # not stylize's pattern: as it is
    reading = OSError(errno.EACCES, "Permission denied", "/in/ref.png", None, "/s/k/refs/ref.png")
    assert str(machine_error(reading)).startswith("/in/ref.png: permission denied")
    assert str(machine_error(OSError(errno.ENOSPC, "No space left on device"))).startswith("a file: ")


def test_a_fault_keeps_its_file_and_fix_across_processes_and_notes():
    fault = MachineError.of("/s/k/model.safetensors", errno.ENOSPC)
    noted = fault.noted("the checkpoint in /s/k/.checkpoint is kept: rerun with resume=True to go on", ["resume"])
    placed = noted.placed("styles_dir")
    assert str(placed) == (
        "/s/k/model.safetensors: no space left on device; free space or choose another styles_dir=DIR; "
        "the checkpoint in /s/k/.checkpoint is kept: rerun with resume=True to go on"
    )
    assert placed.params == ("styles_dir", "resume")
    back = pickle.loads(pickle.dumps(placed))
    assert type(back) is MachineError and str(back) == str(placed) and back.params == placed.params
    assert back.placed("out_dir") is back  # placed once: its option stays
    assert (
        str(noted.noted("")) == "/s/k/model.safetensors: no space left on device; free space or choose another folder"
    )


def test_the_cli_names_the_option_that_chose_the_folder(tmp_path):
    from stylize.cli import build_parser
    from stylize.cli.options import as_flags, place_fault

    styles = tmp_path / "styles"
    args = build_parser().parse_args(["style", "--name", "k", "--refs", "r.png", "--styles-dir", str(styles)])
    fault = MachineError.of(str(styles / "k" / "model.safetensors"), errno.ENOSPC)
    line = as_flags(place_fault(fault, args), args.command_parser)
    assert line.endswith("no space left on device; free space or choose another --styles-dir DIR")
    elsewhere = MachineError.of("/elsewhere/file.png", errno.EROFS)
    assert as_flags(place_fault(elsewhere, args), args.command_parser).endswith("choose a writable folder")
    other = StylizeError("not a fault of the machine")
    assert place_fault(other, args) is other


def test_the_cli_prints_an_oserror_of_the_machine_as_one_line(monkeypatch, capsys, tmp_path):
    from stylize import cli

    out = tmp_path / "out"

    def full_disk(args):
        raise OSError(errno.ENOSPC, "No space left on device", str(out / ".face.png.abcdefgh.tmp"))

    monkeypatch.setattr("stylize.cli.content.cmd_compose", full_disk)
    assert cli.main(["compose", "--out", str(out)]) == 1
    line = f"{out / 'face.png'}: no space left on device; free space or choose another --out DIR"
    assert capsys.readouterr().err == f"stylize: error: {line}\n"

    def a_bug(args):
        raise OSError(errno.ENOENT, "No such file or directory", "/x")

    monkeypatch.setattr("stylize.cli.content.cmd_compose", a_bug)
    with pytest.raises(FileNotFoundError):  # not a fault of the machine: a bug, not hidden
        cli.main(["compose", "--out", str(out)])


def test_the_studio_answers_a_fault_of_the_machine_with_its_line():
    from stylize.studio.server import _on_error

    answer = asyncio.run(_on_error(None, OSError(errno.ENOSPC, "No space left on device", "/studio/renders/a.png")))
    assert answer.status_code == 507
    assert json.loads(answer.body)["error"].startswith("/studio/renders/a.png: no space left on device")
    answer = asyncio.run(_on_error(None, OSError(errno.EROFS, "Read-only file system", "/studio/jobs")))
    assert answer.status_code == 500 and "read-only file system" in json.loads(answer.body)["error"]
