"""Faults of the machine (a full disk, a read-only folder) under every command, and what a second writer or a
killed run leaves: the cases of machine.py run with the harness's invariants, each on its own tmpfs (always
unmounted afterwards); two trainings or two ``style`` runs of one name at once (one refuses in one line, the
folder stays consistent); ``apply`` killed while writing, then run again (no temporary file left)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import processes
import pytest

from hostile import machine
from hostile.harness import (
    STYLE,
    Watch,
    make_canary,
    manifest_records,
    portrait,
    run_case,
    start_child,
    tiny_tree,
)
from hostile.machine import unmount

CASES = machine.corpus.cases


def test_every_command_meets_a_full_disk_and_a_read_only_folder():
    commands = {"compose", "style", "train", "train-base", "distill", "apply", "preview", "eval", "export"}
    commands |= {"export-parts", "run", "studio", "train-report"}
    for fault in ("disk_full", "read_only"):
        covered = {case.name.removesuffix(f"_{fault}").replace("_", "-") for case in CASES if case.name.endswith(fault)}
        assert commands <= covered, f"no {fault} case for {sorted(commands - covered)}"


@pytest.mark.parametrize(
    "case",
    [pytest.param(case, marks=[pytest.mark.slow] if case.name in machine.SLOW else []) for case in CASES],
    ids=[case.id for case in CASES],
)
def test_machine_fault(case, tmp_path, capfd):
    try:
        problems = run_case(case, tmp_path, capfd)
    finally:
        unmount(tmp_path / "out")
    if problems:
        pytest.fail(f"{case.id}: {case.doc}\n" + "\n".join(f"  - {problem}" for problem in problems), pytrace=False)


# --- processes of their own --------------------------------------------------------------------------------


def finish(process: subprocess.Popen[bytes], timeout: float = 180) -> tuple[int, str]:
    """Wait for ``process``; on a timeout (or any failure here) its whole process group is killed."""
    try:
        _, err = process.communicate(timeout=timeout)
    except BaseException:
        stop(process)
        raise
    return process.returncode, err.decode("utf-8", "replace")


def stop(process: subprocess.Popen[bytes]) -> None:
    processes.kill_group(process)
    process.communicate()


def two_at_once(argvs: list[list[str]], cwd: Path) -> list[tuple[int, str]]:
    runs = [start_child(argv, cwd) for argv in argvs]
    try:
        return [finish(run) for run in runs]
    finally:
        for run in runs:
            if run.poll() is None:
                stop(run)


def one_refused(finished: list[tuple[int, str]], name: str) -> list[str]:
    """Problems unless one run exited 0 and the other 1 with one line naming the style folder (busy, or
    already there when the first had finished before the second began)."""
    codes = sorted(code for code, _ in finished)
    if codes != [0, 1]:
        return [f"exits {codes}, expected one 0 and one 1: {[err.strip()[-300:] for _, err in finished]}"]
    (err,) = [err for code, err in finished if code == 1]
    lines = err.strip().splitlines()
    if len(lines) != 1 or "Traceback" in err or not lines[0].startswith("stylize: error: "):
        return [f"the refused run printed {len(lines)} lines: {err.strip()[-400:]!r}"]
    if name not in lines[0] or not ("is being written by stylize" in lines[0] or "already there" in lines[0]):
        return [f"the refusal does not name the style and its writer: {lines[0]!r}"]
    return []


def consistent_style(folder: Path) -> list[str]:
    import hashlib

    record = json.loads((folder / "model.json").read_text())
    problems = []
    if hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest() != record["weights_sha256"]:
        problems.append(f"{folder}: model.safetensors is not the one model.json records")
    recorded = {ref["file"] for ref in record["references"]}
    present = {f"refs/{p.name}" for p in (folder / "refs").iterdir()}
    if recorded != present:
        problems.append(f"{folder}: refs/ holds {sorted(present)}, model.json records {sorted(recorded)}")
    return problems


@pytest.mark.slow
def test_two_styles_of_one_name_at_once(tmp_path):
    """Two ``stylize style race`` started together with different references (issue 25: the folder held both
    references while model.json recorded one). Expected: one exits 0, the other exits 1 with one line naming
    the folder and the run writing it; the folder holds exactly the winner's reference, as model.json says."""
    from conftest import stroke_reference

    make_canary(tmp_path)
    refs = [stroke_reference(tmp_path / "in" / f"ref{i}.png", seed=i + 3) for i in range(2)]
    styles = tmp_path / "out" / "styles"
    watch = Watch(tmp_path)
    argvs = [
        ["style", "-q", "--name", "race", "--refs", os.fspath(ref), "--styles-dir", os.fspath(styles)] for ref in refs
    ]
    problems = watch.problems() + one_refused(two_at_once(argvs, tmp_path), "race")
    problems += consistent_style(styles / "race")
    if problems:
        pytest.fail("\n".join(f"  - {problem}" for problem in problems), pytrace=False)


@pytest.mark.slow
def test_two_trainings_of_one_name_at_once(tmp_path):
    """Two ``stylize train --name twin`` started together (issue 25: both exited 0, the last writer winning
    silently). Expected: one trains (exit 0), the other is refused in one line naming the folder and the
    run that writes it (or, had the first finished already, that a style is there); the style is whole."""
    from conftest import stroke_reference

    make_canary(tmp_path)
    tree = os.fspath(tiny_tree(tmp_path / "in" / "tree"))
    refs = [stroke_reference(tmp_path / "in" / f"ref{i}.png", seed=i + 3) for i in range(2)]
    styles = tmp_path / "out" / "styles"
    watch = Watch(tmp_path)
    argvs = [
        ["train", "-q", "--name", "twin", "--refs", os.fspath(ref), *machine.TRAIN, "--steps", "30", "--no-warm-start"]
        + ["--parts", tree, "--device", "cpu", "--styles-dir", os.fspath(styles)]
        for ref in refs
    ]
    problems = watch.problems() + one_refused(two_at_once(argvs, tmp_path), "twin")
    problems += consistent_style(styles / "twin")
    if problems:
        pytest.fail("\n".join(f"  - {problem}" for problem in problems), pytrace=False)


@pytest.mark.slow
def test_apply_killed_while_writing_then_rerun_leaves_no_temporary_file(tmp_path):
    """``apply`` SIGKILLed while it writes its outputs (issue 25: the ``.NAME.XXXXXXXX.tmp`` files it was
    writing stay, and a rerun does not remove them), then run again. Expected: the rerun exits 0 with every
    output and manifest record, and no temporary file is left in the output folder, those of the killed run
    included (stylize's own pattern, in the folder whose lock it holds)."""
    make_canary(tmp_path)
    for index in range(24):
        portrait(tmp_path / "in" / "faces" / f"face{index:02d}.png", size=(256, 256))
    out = tmp_path / "out"
    argv = ["apply", "-q", "--style", STYLE, os.fspath(tmp_path / "in" / "faces"), "--out", os.fspath(out)]
    watch = Watch(tmp_path)

    process = start_child(argv, tmp_path)
    try:
        deadline = time.monotonic() + 180
        while process.poll() is None and time.monotonic() < deadline:
            if out.is_dir() and any(p.suffix == ".png" for p in out.iterdir()):  # writing has begun
                break
            time.sleep(0.001)
    finally:
        stop(process)
    # What a kill at the wrong moment leaves (caught in the act above only by chance): temporary files.
    (out / "sub").mkdir(parents=True, exist_ok=True)
    leftovers = [out / ".face03.png.k2j4_x9a.tmp", out / "sub" / ".face04.png.abcdefgh.tmp"]
    for path in leftovers:
        path.write_bytes(b"half a PNG")

    code, err = finish(start_child(argv, tmp_path))
    problems = watch.problems()
    if code != 0 or err.strip():
        problems.append(f"rerun: exit {code}, stderr {err.strip()[-300:]!r}")
    left = sorted(os.fspath(p.relative_to(out)) for p in out.rglob("*.tmp"))
    if left:
        problems.append(f"temporary files left after the rerun: {left}")
    expected = {f"face{index:02d}.png" for index in range(24)}
    recorded = {str(record.get("output")) for record in manifest_records(out / "manifest.jsonl")}
    if recorded != expected or not all((out / name).is_file() for name in expected):
        problems.append(f"the rerun did not finish every output: {sorted(expected - recorded)[:5]}")
    if problems:
        pytest.fail("\n".join(f"  - {problem}" for problem in problems), pytrace=False)
