"""Half-made style folders and checkpoints (issue 16, items 5-7): whatever a killed, crashed or
diverged run leaves either resumes or counts as nothing, so the run without resume and the run with
it never send the user back and forth; checkpoints with huge numbers, deep nesting or NaN weights
are refused (never a traceback), and a diverged run stops with one line instead of saving NaNs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import processes
import pytest
import torch
from conftest import REPO_ROOT, TINY_TRAIN

import stylize.training.loop as loop_module
from stylize import StylizeError
from stylize.inference.model_file import METADATA_NAME, WEIGHTS_NAME, ModelFileError
from stylize.nets.transformer import build_network
from stylize.training.checkpoint import STATE_NAME, TENSORS_NAME, load_checkpoint, resumable, save_checkpoint
from stylize.training.loop import CHECKPOINT_DIR, prepare_output, run_training_loop
from stylize.training.settings import TrainSettings
from stylize.training.style import train


def _checkpoint(folder: Path, *, step: int = 3) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    """A whole checkpoint of a nano network after one Adam step, in ``folder``."""
    torch.manual_seed(0)
    network = build_network("nano")
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-3)
    network(torch.rand(1, 3, 32, 32)).mean().backward()
    optimizer.step()
    folder.mkdir(parents=True, exist_ok=True)
    progress = {"step": step, "elapsed": 1.5, "loop_seconds": 1.0, "history": [], "fingerprint": {"a": 1}}
    save_checkpoint(folder, network, optimizer, progress)
    return network, optimizer


def _fresh() -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    network = build_network("nano")
    return network, torch.optim.Adam(network.parameters(), lr=1e-3)


# --- what counts as a checkpoint ---------------------------------------------------------------------------


def test_a_whole_checkpoint_resumes(tmp_path):
    _checkpoint(tmp_path / CHECKPOINT_DIR)
    assert resumable(tmp_path / CHECKPOINT_DIR)
    prepare_output(tmp_path, resume=True, overwrite=False)
    with pytest.raises(StylizeError, match="an interrupted training is already there; pass resume=True to continue"):
        prepare_output(tmp_path, resume=False, overwrite=False)
    assert load_checkpoint(tmp_path / CHECKPOINT_DIR, *_fresh(), {"a": 1})["step"] == 3
    with pytest.raises(StylizeError, match=r"other settings \(a, b differ\); rerun with the same settings"):
        load_checkpoint(tmp_path / CHECKPOINT_DIR, *_fresh(), {"a": 2, "b": 0})


def test_a_finished_style_points_to_overwrite_from_both_sides(tmp_path):
    """No checkpoint beside a finished style: --resume must not send the user to the run without it
    (which refuses the existing style) but say --overwrite at once."""
    (tmp_path / METADATA_NAME).write_text("{}")
    with pytest.raises(StylizeError, match="nothing to resume .*the style there is finished.*overwrite=True") as info:
        prepare_output(tmp_path, resume=True, overwrite=False)
    assert info.value.params == ("resume", "overwrite", "name")
    with pytest.raises(StylizeError, match="a style is already there; pass overwrite=True") as info:
        prepare_output(tmp_path, resume=False, overwrite=False)
    assert "resume" not in str(info.value)
    prepare_output(tmp_path, resume=False, overwrite=True)


def _damage(checkpoint: Path, how: str) -> None:
    state = json.loads((checkpoint / STATE_NAME).read_text())
    if how == "empty folder":
        for name in (STATE_NAME, TENSORS_NAME):
            (checkpoint / name).unlink()
    elif how == "tensors only":  # killed between the two atomic writes
        (checkpoint / STATE_NAME).unlink()
    elif how == "torn":
        state["tensors_sha256"] = "0" * 64
        (checkpoint / STATE_NAME).write_text(json.dumps(state))
    elif how == "5000 digits":
        (checkpoint / STATE_NAME).write_text(json.dumps(state).replace('"step": 3', '"step": ' + "9" * 5000))
    elif how == "deep nesting":
        (checkpoint / STATE_NAME).write_text(
            json.dumps({**state, "history": []}).replace("[]", "[" * 10**5 + "]" * 10**5)
        )
    elif how == "step is text":
        (checkpoint / STATE_NAME).write_text(json.dumps({**state, "step": "3"}))
    elif how == "not json":
        (checkpoint / STATE_NAME).write_bytes(b"\xff{")
    elif how == "a file":
        for name in (STATE_NAME, TENSORS_NAME):
            (checkpoint / name).unlink()
        checkpoint.rmdir()
        checkpoint.write_text("not a folder")
    else:
        raise AssertionError(how)


HALF_MADE = [
    "empty folder",
    "tensors only",
    "torn",
    "5000 digits",
    "deep nesting",
    "step is text",
    "not json",
    "a file",
]


@pytest.mark.parametrize("how", HALF_MADE)
def test_anything_less_than_a_whole_checkpoint_counts_as_nothing(tmp_path, how):
    """Issue 16 item 7: `train --minutes inf` left a half-made folder; then the run without --resume
    said "pass --resume" and the run with it "start without --resume"."""
    style = tmp_path / "style"
    (style / "refs").mkdir(parents=True)
    _checkpoint(style / CHECKPOINT_DIR)
    _damage(style / CHECKPOINT_DIR, how)
    assert not resumable(style / CHECKPOINT_DIR)
    with pytest.raises(StylizeError, match="nothing to resume.*start without resume=True") as info:
        prepare_output(style, resume=True, overwrite=False)
    assert "\n" not in str(info.value) and len(str(info.value)) < 300
    with pytest.raises(StylizeError, match="nothing to resume: .*start without resume=True") as info:
        load_checkpoint(style / CHECKPOINT_DIR, *_fresh(), {"a": 1})
    assert "\n" not in str(info.value) and len(str(info.value)) < 400
    prepare_output(style, resume=False, overwrite=False)  # starts over: the leftovers are removed
    assert not (style / CHECKPOINT_DIR).exists() and (style / "refs").is_dir()


def test_a_checkpoint_with_nan_weights_is_never_resumed(tmp_path):
    """Written by hand with a matching hash (stylize itself refuses to save one)."""
    from safetensors.torch import load, save

    from stylize.files import sha256_bytes

    checkpoint = tmp_path / CHECKPOINT_DIR
    _checkpoint(checkpoint)
    tensors = load((checkpoint / TENSORS_NAME).read_bytes())
    name = next(iter(tensors))
    tensors[name].view(-1)[0] = float("nan")
    data = save(tensors)
    (checkpoint / TENSORS_NAME).write_bytes(data)
    state = json.loads((checkpoint / STATE_NAME).read_text())
    (checkpoint / STATE_NAME).write_text(json.dumps({**state, "tensors_sha256": sha256_bytes(data)}))
    assert not resumable(checkpoint)
    with pytest.raises(StylizeError, match=f"nothing to resume: .*{TENSORS_NAME}: tensor '{name}' holds NaN"):
        load_checkpoint(checkpoint, *_fresh(), {"a": 1})


# --- a diverged run stops; non-finite weights are never saved -----------------------------------------------


def test_saving_a_checkpoint_of_non_finite_weights_is_refused(tmp_path):
    network, optimizer = _fresh()
    with torch.no_grad():
        next(network.parameters()).view(-1)[0] = float("inf")
    (tmp_path / "ck").mkdir()
    progress = {"step": 1, "elapsed": 0.0, "history": [], "fingerprint": {}}
    with pytest.raises(ModelFileError, match="holds NaN or infinity.*the last checkpoint is kept; lower learning_rate"):
        save_checkpoint(tmp_path / "ck", network, optimizer, progress)
    assert not any((tmp_path / "ck").iterdir())


class _Settings:
    size, batch, minutes, steps, learning_rate, seed, checkpoint_seconds = 32, 1, None, 6, 1e-3, 0, 0.0


def test_a_diverged_run_stops_with_one_line_and_keeps_only_finite_checkpoints(tmp_path):
    network = build_network("nano")
    batch = torch.rand(1, 3, 32, 32)

    def diverging(output, batch_, extra=None):
        loss = (output - batch_).abs().mean()
        return (loss * float("nan") if diverging.calls >= 3 else loss), {}

    diverging.calls = 0

    def sampler(step):
        diverging.calls = step
        return batch

    checkpoint = tmp_path / CHECKPOINT_DIR
    checkpoint.mkdir()
    with pytest.raises(StylizeError, match=r"train x: the training diverged at step 4 \(its loss is nan\)") as info:
        run_training_loop(
            network=network,
            loss_fn=diverging,
            pool=None,
            settings=_Settings(),
            checkpoint_dir=checkpoint,
            fingerprint={},
            resume=False,
            device=torch.device("cpu"),
            progress=False,
            description="train x",
            sampler=sampler,
        )
    assert info.value.params == ("learning_rate", "overwrite") and "\n" not in str(info.value)
    state = json.loads((checkpoint / STATE_NAME).read_text())
    assert state["step"] == 3 and resumable(checkpoint)  # the last finite weights


# --- end to end --------------------------------------------------------------------------------------------


def _train(tree, reference, styles, **kwargs):
    settings = TrainSettings(**{**TINY_TRAIN, "steps": 1})
    return train(
        "half", [reference], settings=settings, styles_dir=styles, parts=tree, device="cpu", progress=False, **kwargs
    )


@pytest.mark.slow
def test_a_run_that_died_before_its_first_checkpoint_leaves_a_folder_the_next_run_takes(
    tmp_path, tree, reference, monkeypatch
):
    """The reported case: a crash in the first step (as `--minutes inf` overflowed) left refs/ and an
    empty .checkpoint/; now --resume says there is nothing to resume, and the plain rerun trains."""
    real_sample = loop_module.sample_batch

    def crash(pool, *, step, **kwargs):
        raise OverflowError("cannot convert float infinity to integer")

    monkeypatch.setattr(loop_module, "sample_batch", crash)
    with pytest.raises(OverflowError):
        _train(tree, reference, tmp_path)
    assert (tmp_path / "half" / CHECKPOINT_DIR).is_dir() and not (tmp_path / "half" / METADATA_NAME).exists()
    monkeypatch.setattr(loop_module, "sample_batch", real_sample)
    with pytest.raises(StylizeError, match="nothing to resume .*start without resume=True"):
        _train(tree, reference, tmp_path, resume=True)
    assert _train(tree, reference, tmp_path).steps == 1
    assert (tmp_path / "half" / WEIGHTS_NAME).is_file() and not (tmp_path / "half" / CHECKPOINT_DIR).exists()


def test_minutes_beyond_a_week_are_refused_before_any_work(tmp_path, tree, reference):
    for minutes in (float("inf"), 1e308, 10_081.0):
        with pytest.raises(StylizeError, match=r"minutes=.* is not allowed; use a number above 0 and at most 10080"):
            train(
                "big",
                [reference],
                settings=TrainSettings(**{**TINY_TRAIN, "minutes": minutes}),
                styles_dir=tmp_path,
                parts=tree,
                device="cpu",
                progress=False,
            )
    assert not (tmp_path / "big").exists()


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "stylize", *args]


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_a_training_killed_at_its_start_leaves_a_state_the_next_run_handles(tmp_path, tree, reference, sig):
    """SIGKILL or Ctrl-C as soon as the checkpoint folder appears (before the first checkpoint, which
    the command line writes after 30 s): the next run either resumes (--resume) or, when there is no
    whole checkpoint, starts over without it; never the back-and-forth of the two refusals. The child
    starts with SIGINT ignored (as `cmd &` in a script does), and every child is killed with its group
    if the test fails (one once kept training for 20 minutes after pytest had finished)."""
    styles = tmp_path / "styles"
    common = [
        "--name", "k", "--refs", str(reference), "--arch", "tiny", "--size", "32", "--batch", "1", "--no-warm-start",
        "--content", "compose:0-9", "--parts", str(tree), "--styles-dir", str(styles), "--device", "cpu", "-q",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}
    run = dict(env=env, cwd=tmp_path, stderr=subprocess.PIPE)
    with processes.started(_cli("train", *common, "--steps", "100000"), ignore_sigint=True, **run) as process:
        deadline = time.monotonic() + 120
        while not (styles / "k" / CHECKPOINT_DIR).exists():
            assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()
            time.sleep(0.02)
        process.send_signal(sig)
        _, err = process.communicate(timeout=30)
    assert b"Traceback" not in err, err
    if resumable(styles / "k" / CHECKPOINT_DIR):  # Ctrl-C after the loop began: it saved the step in progress
        assert sig == signal.SIGINT and b"rerun with --resume to continue" in err, err
        next_run = processes.run(_cli("train", *common, "--steps", "2", "--resume"), timeout=300, **run)
    else:
        refused = processes.run(_cli("train", *common, "--steps", "2", "--resume"), timeout=300, **run)
        assert refused.returncode == 1 and b"nothing to resume" in refused.stderr, refused.stderr
        next_run = processes.run(_cli("train", *common, "--steps", "2"), timeout=300, **run)
    assert next_run.returncode == 0, next_run.stderr
    assert (styles / "k" / METADATA_NAME).is_file() and not (styles / "k" / CHECKPOINT_DIR).exists()


@pytest.mark.parametrize("name", ["a" * 101, "a" * 5000, "ok\n", "_base", "../x", ""])
def test_a_style_name_must_fit_a_folder_name(name):
    """A 5000-character name passed the rule and failed later with "File name too long"."""
    from stylize.style_folder import check_style_name

    with pytest.raises(StylizeError, match="is not allowed; use up to 100 letters") as info:
        check_style_name(name)
    assert len(str(info.value)) < 250
    assert check_style_name("a" * 100) == "a" * 100
