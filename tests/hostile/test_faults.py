"""The corpus cases that need processes of their own: two runs at once on one output folder, and a run
killed with SIGKILL partway. Both keep the harness's invariants (inputs unchanged, nothing written outside
--out, nothing half-made left) and one more each: no lost manifest record; no build folder left."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import processes
import pytest

from hostile.harness import STYLE, Watch, make_canary, manifest_records, portrait, start_child, tiny_tree


def finish(process: subprocess.Popen[bytes], timeout: float = 180) -> tuple[int, str]:
    try:
        _, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        processes.kill_group(process)
        _, err = process.communicate()
        return -1, "timed out: " + err.decode("utf-8", "replace")
    return process.returncode, err.decode("utf-8", "replace")


@pytest.mark.slow
def test_two_applies_on_one_out_keep_every_record(tmp_path):
    """Two ``apply`` runs started together on the same --out with different inputs, 20 each (issue item 4: 18
    of 40 records were lost, the last run rewriting the manifest from its own). Expected: the second waits
    for the first's lock (or says who holds it and waits), both exit 0, and afterwards the manifest holds
    all 40 records and all 40 outputs exist."""
    make_canary(tmp_path)
    for group in "ab":
        for index in range(20):
            portrait(tmp_path / "in" / group / f"{group}{index:02d}.png", size=(128, 128))
    watch = Watch(tmp_path)
    out = tmp_path / "out"
    runs = [
        start_child(["apply", "-q", "--style", STYLE, str(tmp_path / "in" / group), "--out", str(out)], tmp_path)
        for group in "ab"
    ]
    finished = [finish(run) for run in runs]

    problems = watch.problems()
    for group, (code, err) in zip("ab", finished):
        if code != 0 or "Traceback" in err:
            problems.append(f"run {group}: exit {code}, stderr {err.strip()[-300:]!r}")
        elif len(err.strip().splitlines()) > 1:
            problems.append(f"run {group}: more than one line on stderr: {err.strip()[:300]!r}")
    expected = {f"{group}{index:02d}.png" for group in "ab" for index in range(20)}
    recorded = {str(record.get("output")) for record in manifest_records(out / "manifest.jsonl")}
    if recorded != expected:
        problems.append(
            f"manifest holds {len(recorded & expected)} of 40 records (lost: {sorted(expected - recorded)[:5]} ...)"
        )
    missing = sorted(name for name in expected if not (out / name).is_file())
    if missing:
        problems.append(f"{len(missing)} of 40 outputs missing: {missing[:5]}")
    if problems:
        pytest.fail("\n".join(f"  - {problem}" for problem in problems), pytrace=False)


@pytest.mark.slow
def test_export_parts_killed_then_rerun_leaves_no_build_folder(tmp_path):
    """``export-parts`` killed with SIGKILL while its hidden build folder exists beside --out (issue item 8: the
    folder stays, and the next successful run does not remove it), then run again to success. Expected: the
    rerun exits 0 with a complete export, and no hidden build folder is left (the README: an interrupted
    export leaves nothing behind)."""
    make_canary(tmp_path)
    tree = tiny_tree(tmp_path / "in" / "facegen")
    argv = ["export-parts", "-q", "--style", STYLE, "--parts", str(tree), "--out", str(tmp_path / "out")]
    watch = Watch(tmp_path)

    process = start_child(argv, tmp_path)
    killed = False
    deadline = time.monotonic() + 180
    while process.poll() is None and time.monotonic() < deadline:
        if any(entry.name.startswith(".out.") for entry in os.scandir(tmp_path)):
            os.kill(process.pid, signal.SIGKILL)
            killed = True
            break
        time.sleep(0.001)
    code, err = finish(process)
    if not killed:
        pytest.fail(f"export-parts ended (exit {code}) before its build folder could be caught: {err[-300:]!r}")

    code, err = finish(start_child(argv, tmp_path))
    problems = watch.problems()
    if code != 0 or err.strip():
        problems.append(f"rerun: exit {code}, stderr {err.strip()[-300:]!r}")
    if not (tmp_path / "out" / "export_parts.json").is_file():
        problems.append("rerun: out/export_parts.json was not written")
    if problems:
        pytest.fail("\n".join(f"  - {problem}" for problem in problems), pytrace=False)
