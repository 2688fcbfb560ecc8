"""The output-folder mechanism (stylize/output_folder.py, files.Journal): folders that cannot be made,
links inside the output folder, one lock per folder, damaged manifest lines, leftovers of killed runs."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import processes
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from stylize.errors import StylizeError
from stylize.files import Journal, read_journal_lines
from stylize.output_folder import LOCK_NAME, FolderLock, OutputFolder, check_inside, make_folder


def _portrait(path: Path, seed: int, size: int = 48) -> Path:
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(path)
    return path


def _tree_state(root: Path, skip: Path | None = None) -> dict[str, bytes]:
    state = {}
    for folder, subfolders, names in os.walk(root):
        if skip is not None and Path(folder) == skip:
            subfolders[:] = []
            continue
        for name in names:
            path = Path(folder) / name
            state[os.fspath(path)] = path.read_bytes() if not path.is_symlink() else os.readlink(path).encode()
    return state


# --- folders that cannot be made ----------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["below_a_file", "proc"])
def test_a_folder_that_cannot_be_made_is_one_line(tmp_path, where):
    if where == "below_a_file":
        (tmp_path / "some_file.png").write_bytes(b"x")
        target = tmp_path / "some_file.png" / "sub"
    else:
        target = Path("/proc/stylize-test-x/y")
    with pytest.raises(StylizeError, match="cannot make this folder") as caught:
        make_folder(target)
    assert str(target) in str(caught.value) and "\n" not in str(caught.value)


def test_compose_and_apply_into_an_impossible_folder_are_one_line(tmp_path, capsys):
    from stylize.cli import main

    face = _portrait(tmp_path / "face.png", 1)
    (tmp_path / "some_file.png").write_bytes(b"x")
    for argv in (
        ["compose", "--seeds", "0-1", "--out", "/proc/x", "-q"],
        ["apply", "--style", "pencil-nano", str(face), "--out", str(tmp_path / "some_file.png" / "sub"), "-q"],
        ["export", "--style", "pencil-nano", "--out", str(tmp_path / "some_file.png" / "x.onnx"), "-q"],
        ["export-parts", "--style", "pencil-nano", "--out", str(tmp_path / "some_file.png" / "parts"), "-q"],
    ):
        assert main(argv) == 1, argv
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and err.startswith("stylize: error:"), (argv, err)
        assert "Traceback" not in err


# --- links -------------------------------------------------------------------------------------------------


def test_check_inside_refuses_links_and_escapes(tmp_path):
    out = tmp_path / "out"
    (tmp_path / "outside").mkdir()
    out.mkdir()
    (out / "linked").symlink_to(tmp_path / "outside")
    assert check_inside(out, "a/b.png") == out / "a" / "b.png"
    for bad in ("../x.png", "/etc/x.png", "a/../../x.png", ""):
        with pytest.raises(StylizeError, match="not a plain path"):
            check_inside(out, bad)
    with pytest.raises(StylizeError, match="sub-folder of the output folder is a symbolic link"):
        check_inside(out, "linked/x.png")


def test_apply_never_writes_through_links_in_the_output_folder(tmp_path):
    from stylize.inference.bulk import apply

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "notes.txt").write_text("keep me\n")
    inputs = tmp_path / "in"
    _portrait(inputs / "sub" / "a.png", 1)
    out = tmp_path / "out"
    out.mkdir()
    (out / "manifest.jsonl").symlink_to(outside / "notes.txt")
    before = _tree_state(outside)
    with pytest.raises(StylizeError, match="symbolic link"):
        apply("pencil-nano", [inputs], out, device="cpu", progress=False)
    (out / "manifest.jsonl").unlink()
    (out / "sub").symlink_to(outside)
    _portrait(inputs / "top.png", 2)
    result = apply("pencil-nano", [inputs], out, device="cpu", progress=False)
    assert len(result.failed) == 1 and "sub-folder of the output folder is a symbolic link" in result.failed[0]
    assert [path.name for path in result.written] == ["top.png"]
    assert _tree_state(outside) == before
    assert not (out / LOCK_NAME).exists()


# --- the lock ----------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_second_holder_waits_and_says_who_holds_the_folder(tmp_path, caplog):
    out = tmp_path / "out"
    order: list[str] = []
    with OutputFolder(out):
        holder = json.loads((out / LOCK_NAME).read_text())
        assert holder["pid"] == os.getpid()

        def second() -> None:
            with OutputFolder(out):
                order.append("second")

        thread = threading.Thread(target=second)
        with caplog.at_level(logging.WARNING, logger="stylize"):
            thread.start()
            time.sleep(0.5)
            order.append("first done")
    thread.join(10)
    assert order == ["first done", "second"]
    assert any(
        "is in use by" in record.getMessage() and str(os.getpid()) in record.getMessage() for record in caplog.records
    )
    assert not (out / LOCK_NAME).exists()


def test_the_lock_of_a_killed_holder_is_free(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    code = (
        "import sys, time; from pathlib import Path; from stylize.output_folder import OutputFolder\n"
        "with OutputFolder(Path(sys.argv[1])): print('held', flush=True); time.sleep(60)\n"
    )
    with processes.started([sys.executable, "-c", code, str(out)], stdout=subprocess.PIPE, text=True) as child:
        assert processes.lines(child.stdout).next(timeout=120) == "held\n"
        child.kill()
        child.wait(10)
    assert (out / LOCK_NAME).exists()  # the file stays, the lock does not
    with FolderLock(out / LOCK_NAME, out):
        pass
    assert not (out / LOCK_NAME).exists()


@pytest.mark.slow
def test_two_apply_runs_on_one_folder_lose_no_record(tmp_path):
    """Issue 16 item 4: two runs with different inputs into one --out: all 40 records and outputs kept."""
    out = tmp_path / "out"
    runs = []
    for run in ("a", "b"):
        folder = tmp_path / f"in_{run}"
        for index in range(20):
            _portrait(folder / f"{run}{index:02d}.png", hash((run, index)) % 1000, size=32)
        runs.append(
            [
                sys.executable,
                "-m",
                "stylize",
                "apply",
                "--style",
                "pencil-nano",
                str(folder),
                "--out",
                str(out),
                "-q",
                "--device",
                "cpu",
            ]
        )
    with ExitStack() as stack:
        children = [
            stack.enter_context(processes.started(argv, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
            for argv in runs
        ]
        for child in children:
            _, err = child.communicate(timeout=600)
            assert child.returncode == 0, err
            assert "Traceback" not in err
    records, damaged = read_journal_lines(out / "manifest.jsonl", lambda record: record["output"])
    assert len(records) == 40 and damaged == []
    assert sorted(path.name for path in out.glob("*.png")) == sorted(records)
    assert not (out / LOCK_NAME).exists()


# --- damaged manifests -------------------------------------------------------------------------------------


def test_damaged_manifest_lines_are_set_aside_and_the_rest_kept(tmp_path, caplog):
    path = tmp_path / "manifest.jsonl"
    good = {"output": "a.png", "x": 1}
    deep = "[" * 100_000 + "]" * 100_000
    path.write_text(
        json.dumps(good)
        + "\n"
        + deep
        + "\n"
        + "1" * 5000
        + "\n"
        + '["a list"]\n'
        + '{"no": "key"}\n'
        + '{"output": "torn'
    )
    journal = Journal(path, lambda record: record["output"])
    assert journal.records == {"a.png": good}
    assert len(journal.damaged) == 4
    with caplog.at_level(logging.WARNING, logger="stylize"):
        journal.quarantine()
    assert "4 damaged line(s) moved to manifest.jsonl.damaged" in caplog.text
    assert (tmp_path / "manifest.jsonl.damaged").read_text().splitlines()[0] == deep
    journal.rewrite()
    again = Journal(path, lambda record: record["output"])
    assert again.records == {"a.png": good} and again.damaged == []


def test_compose_runs_past_a_deeply_nested_manifest_line(tmp_path, capsys):
    """Issue 16 item 6: one deeply nested line in manifest.jsonl blocked every rerun."""
    from stylize.cli import main

    out = tmp_path / "faces"
    assert main(["compose", "--seeds", "0-1", "--out", str(out), "-q"]) == 0
    with open(out / "manifest.jsonl", "a") as stream:
        stream.write("[" * 50_000 + "]" * 50_000 + "\n")
    capsys.readouterr()
    assert main(["compose", "--seeds", "0-1", "--out", str(out), "-q"]) == 0
    captured = capsys.readouterr()
    assert captured.err.startswith("stylize: warning:") and len(captured.err.splitlines()) == 1
    assert "composed 0 faces, 2 already up to date" in captured.out
    assert main(["compose", "--seeds", "0-1", "--out", str(out), "-q"]) == 0
    assert capsys.readouterr().err == ""


def test_an_overlong_manifest_line_is_cut_not_read_whole(tmp_path):
    path = tmp_path / "manifest.jsonl"
    path.write_bytes(b'{"output": "' + b"x" * (3 << 20) + b'"}\n{"output": "b.png"}\n')
    records, damaged = read_journal_lines(path, lambda record: record["output"])
    assert list(records) == ["b.png"] and len(damaged) == 1 and damaged[0].endswith("(line too long, cut)")


# --- export-parts leftovers --------------------------------------------------------------------------------


@pytest.mark.slow
def test_export_parts_removes_a_killed_runs_build_folder(tmp_path, tree):
    from stylize.shipping.part_sets import export_parts

    out = tmp_path / "parts"
    stale = tmp_path / ".parts.export-abc123"
    (stale / "species_0").mkdir(parents=True)
    (stale / "species_0" / "half.png").write_bytes(b"half")
    (tmp_path / ".parts.lock").write_text("{}")  # a killed run's lock file (its lock died with it)
    export_parts("pencil-nano", out, parts=tree, contexts=0, device="cpu", progress=False)
    assert not stale.exists() and not (tmp_path / ".parts.lock").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["parts"]


# --- the manifest parser, for any bytes ----------------------------------------------------------------------

_RECORD = st.fixed_dictionaries(
    {"output": st.text(min_size=1, max_size=20)},
    optional={"input_sha256": st.text(max_size=64), "width": st.integers(0, 10**6), "alpha": st.booleans()},
)


@settings(
    max_examples=200, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(junk=st.lists(st.binary(max_size=200), max_size=8), records=st.lists(_RECORD, max_size=5))
@pytest.mark.slow
def test_any_manifest_bytes_give_records_and_set_aside_lines(tmp_path, junk, records):
    """Whatever bytes a manifest holds, reading it gives the records of its good lines (a later line for
    the same output wins) and sets every other complete line aside; nothing else is raised."""
    path = tmp_path / "manifest.jsonl"
    good = [json.dumps(record).encode() + b"\n" for record in records]
    lines = [line for pair in zip(junk, good) for line in pair] + junk[len(good) :] + good[len(junk) :]
    path.write_bytes(b"".join(line if line.endswith(b"\n") else line + b"\n" for line in lines))
    found, damaged = read_journal_lines(path, lambda record: record["output"])
    expected = {}
    for record in records:
        expected[record["output"]] = record
    for key, record in expected.items():
        assert key in found
        if found[key] != record:  # a junk line that parses as a record for the same output may come later
            assert any(b'"output"' in line for line in junk)
    assert all(isinstance(line, str) for line in damaged)


# --- style folders: one writer, whole or as before, a killed writer's leftovers removed ---------------------


def test_a_style_folder_has_one_writer_and_the_second_is_told_who(tmp_path):
    from stylize.style_folder import StyleFolder

    with StyleFolder(tmp_path / "styles" / "race"):
        with pytest.raises(StylizeError, match=r"race: is being written by .*process \d+.*another name=NAME") as caught:
            StyleFolder(tmp_path / "styles" / "race").__enter__()
        assert "\n" not in str(caught.value) and caught.value.params == ("name",)
    with StyleFolder(tmp_path / "styles" / "race"):  # released: the next writer gets it
        pass
    assert os.listdir(tmp_path) == []  # no lock file, and the folders it made and left empty are gone


def test_a_style_folder_loses_what_a_killed_writer_left(tmp_path):
    from stylize.style_folder import StyleFolder

    styles = tmp_path / "styles"
    (styles / "k" / "refs").mkdir(parents=True)
    (styles / "k" / "model.json").write_text("{}\n")
    leftovers = [styles / "k" / ".model.json.a1b2c3d4.tmp", styles / "k" / "refs" / ".ref.png.zz_9yx8w.tmp"]
    for path in leftovers:
        path.write_bytes(b"half")
    (styles / ".k.build-q1w2e3r4" / "refs").mkdir(parents=True)
    (styles / "k" / "notes.tmp").write_text("a user's file: not stylize's pattern\n")
    (styles / ".j.old-x1y2z3w4" / "tree").mkdir(parents=True)  # a swap of style j killed between its renames
    (styles / ".j.old-x1y2z3w4" / "tree" / "model.json").write_text("{}\n")
    with StyleFolder(styles / "k"):
        assert not any(path.exists() for path in leftovers)
        assert not (styles / ".k.build-q1w2e3r4").exists() and (styles / "k" / "notes.tmp").exists()
    with StyleFolder(styles / "j"):  # put back: the old style j, whole
        assert (styles / "j" / "model.json").is_file() and not (styles / ".j.old-x1y2z3w4").exists()


def test_a_folder_replaced_whole_is_as_before_when_its_writing_fails(tmp_path):
    import errno

    from stylize.faults import MachineError
    from stylize.imageio import atomic_write_bytes
    from stylize.output_folder import replace_folder

    target = tmp_path / "k"
    target.mkdir()
    (target / "model.json").write_text("old\n")

    def fill(built: Path) -> None:
        atomic_write_bytes(built / "model.safetensors", b"new weights")
        raise OSError(errno.ENOSPC, "No space left on device", os.fspath(built / "model.json"))

    with pytest.raises(MachineError, match=r"/k/model.json: no space left on device; free space or choose another"):
        replace_folder(target, fill)
    assert os.listdir(tmp_path) == ["k"] and os.listdir(target) == ["model.json"]
    assert (target / "model.json").read_text() == "old\n"

    replace_folder(target, lambda built: (built / "model.json").write_text("new\n"))
    assert os.listdir(tmp_path) == ["k"] and (target / "model.json").read_text() == "new\n"


def test_an_output_folder_loses_the_temporary_files_of_a_killed_run(tmp_path):
    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    stale = [out / ".face.png.abcd_123.tmp", out / "sub" / ".face.png.0a1b2c3d.tmp"]  # mkstemp's 8 characters
    kept = [out / "face.png", out / "notes.tmp", out / ".face.png.tmp", out / "sub" / ".face.png.toolongname.tmp"]
    for path in stale + kept:
        path.write_bytes(b"x")
    with OutputFolder(out):
        pass
    assert not any(path.exists() for path in stale)
    assert all(path.exists() for path in kept)
