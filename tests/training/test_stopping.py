"""Ctrl-C (SIGINT) and SIGTERM stop ``stylize train`` at any moment within 5 s, with one line on stderr
and no traceback, leaving nothing or a whole checkpoint that ``--resume`` continues; also when the
command was started with SIGINT ignored, as ``cmd &`` in a script or a CI harness starts it (it used to
ignore Ctrl-C entirely then, and SIGTERM killed it without a word)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import processes
import pytest
from conftest import REPO_ROOT

from stylize.inference.model_file import METADATA_NAME
from stylize.training.checkpoint import read_checkpoint, resumable
from stylize.training.loop import CHECKPOINT_DIR

STOP_WITHIN = 5.0  # seconds from the signal to the command's exit

# The command line with a listener that marks step 2 (the loop is running): the moment "training".
_MARKING_MAIN = """
import sys
from pathlib import Path
from stylize.cli import main
from stylize.progress import StepEvent, listen

marker = Path(sys.argv[1])

def seen(event):
    if isinstance(event, StepEvent) and event.step >= 2:
        marker.touch()

with listen(seen):
    sys.exit(main(sys.argv[2:]))
"""


def _train_args(tree, reference, styles, *extra: str) -> list[str]:
    return [
        "train", "--name", "k", "--refs", str(reference), "--arch", "tiny", "--size", "32", "--batch", "1",
        "--no-warm-start", "--content", "compose:0-9", "--parts", str(tree), "--styles-dir", str(styles),
        "--device", "cpu", "-q", *extra,
    ]  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize(
    ("moment", "sig"),
    [
        ("starting", signal.SIGINT),  # as soon as it handles the signal: still importing
        ("starting", signal.SIGTERM),
        ("preparing", signal.SIGINT),  # 2 s later: loading the references, the content, the loss network
        ("preparing", signal.SIGTERM),
        ("training", signal.SIGINT),  # after step 2: the step in progress is finished and saved
        ("training", signal.SIGTERM),
    ],
    ids=lambda value: value if isinstance(value, str) else signal.Signals(value).name,
)
def test_a_signal_at_any_moment_stops_train_within_5_s_leaving_nothing_or_a_whole_checkpoint(
    tmp_path, tree, reference, moment, sig
):
    styles = tmp_path / "styles"
    marker = tmp_path / "step2"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}
    args = _train_args(tree, reference, styles, "--steps", "100000")
    if moment == "training":
        argv = [sys.executable, "-c", _MARKING_MAIN, str(marker), *args]
    else:
        argv = [sys.executable, "-m", "stylize", *args]
    with processes.started(argv, ignore_sigint=True, env=env, cwd=tmp_path, stderr=subprocess.PIPE) as child:
        processes.wait_until_caught(child, sig, timeout=120)
        if moment == "preparing":
            time.sleep(2.0)
        elif moment == "training":
            deadline = time.monotonic() + 240
            while not marker.exists():
                assert child.poll() is None and time.monotonic() < deadline, child.stderr.read()
                time.sleep(0.02)
        assert child.poll() is None, child.stderr.read()
        sent = time.monotonic()
        child.send_signal(sig)
        _, err = child.communicate(timeout=60)
        took = time.monotonic() - sent
    err = err.decode()
    assert took < STOP_WITHIN, f"it took {took:.1f} s to stop: {err}"
    assert child.returncode == 128 + sig, (child.returncode, err)
    assert err.count("\n") == 1 and err.startswith("stylize: ") and "Traceback" not in err, err
    checkpoint = styles / "k" / CHECKPOINT_DIR
    if moment == "training":
        assert "interrupted at step" in err and "rerun with --resume to continue" in err, err
        state, _ = read_checkpoint(checkpoint)  # whole: both files, agreeing
        assert state["step"] >= 2
        if sig != signal.SIGINT:
            return  # the same checkpoint either way: one resume is enough
        resumed = processes.run(
            [sys.executable, "-m", "stylize", *_train_args(tree, reference, styles, "--steps", str(state["step"] + 1))]
            + ["--resume"],
            timeout=300,
            env=env,
            cwd=tmp_path,
            capture_output=True,
        )
        assert resumed.returncode == 0, resumed.stderr
        assert (styles / "k" / METADATA_NAME).is_file() and not checkpoint.exists()
    elif resumable(checkpoint):  # a slow start can still reach the loop: then the checkpoint is whole
        assert "interrupted at step" in err, err
    else:
        assert "stylize: interrupted" in err, err  # "while starting; nothing was done", or "finished work is kept"
        assert not list(checkpoint.glob("checkpoint.*")), "a part of a checkpoint was left"
        assert not (styles / "k" / METADATA_NAME).exists()
