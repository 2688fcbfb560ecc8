"""Training from the zero-training teacher (arch magenta), with tiny settings and a few steps."""

from __future__ import annotations

import json
import signal

import pytest
import torch
from conftest import TINY_TRAIN

import stylize.training.teacher as teacher_module
from stylize import StylizeError
from stylize.inference.model_file import METADATA_NAME, WEIGHTS_NAME, load_model
from stylize.training.settings import TrainSettings
from stylize.training.style import train

TINY_TEACHER = {
    **TINY_TRAIN,
    "arch": "magenta",
    "teacher_portraits": 2,
    "learning_rate": 1e-4,
    "style_layers": ("relu1_1", "relu2_1"),
}


def _train(name, folder, tree, reference, *, resume=False, keep_checkpoint=False, **overrides):
    return train(
        name,
        [reference],
        settings=TrainSettings(**{**TINY_TEACHER, "steps": 4, **overrides}),
        styles_dir=folder,
        parts=tree,
        device="cpu",
        progress=False,
        resume=resume,
        keep_checkpoint=keep_checkpoint,
    )


@pytest.mark.slow
def test_a_magenta_style_starts_as_the_zero_training_style_and_records_its_run(tmp_path, tree, reference):
    result = _train("taught", tmp_path, tree, reference, steps=3)
    folder = tmp_path / "taught"
    meta = json.loads((folder / METADATA_NAME).read_text())
    assert result.steps == 3 and meta["steps"] == 3 and (folder / WEIGHTS_NAME).is_file()
    assert meta["architecture"]["name"] == "magenta"
    training = meta["training"]
    assert training["method"] == "teacher" and training["teacher"]["portraits"] == 2
    assert len(training["teacher"]["style_vector"]) == 100
    from stylize.inference.arbitrary import DEFAULT_GUARD

    assert training["teacher"]["guard"] == DEFAULT_GUARD.record()  # taught with the zero-training guard
    assert meta["prepare_seconds"] > 0 and meta["ms_per_step"] > 0 and meta["step_seconds"] > 0
    assert meta["wall_seconds"] == pytest.approx(meta["prepare_seconds"] + meta["step_seconds"], abs=0.02)
    assert set(meta["final_losses"]) == {"total", "style", "teacher"}
    assert "content_weight" not in training  # the perceptual method's settings are not recorded as used
    assert not (folder / ".checkpoint").exists()
    # The start is the zero-training network itself; three small steps move it, but not far.
    from stylize.inference.arbitrary import fixed_style_network

    start = fixed_style_network(torch.tensor(training["teacher"]["style_vector"]))
    images = torch.rand(1, 3, 40, 40)
    with torch.no_grad():
        moved = (load_model(folder).network(images) - start(images)).abs()
    assert 0 < float(moved.mean()) < 0.05


@pytest.mark.slow
def test_interrupted_and_resumed_teacher_training_reaches_the_same_weights(tmp_path, tree, reference, monkeypatch):
    _train("straight", tmp_path, tree, reference)
    real = teacher_module.sample_cached

    def interrupt_at_step_2(cache, *, step, **kwargs):
        if step == 2:
            signal.raise_signal(signal.SIGINT)
        return real(cache, step=step, **kwargs)

    monkeypatch.setattr(teacher_module, "sample_cached", interrupt_at_step_2)
    with pytest.raises(StylizeError, match="interrupted at step 3.*resume=True"):
        _train("resumed", tmp_path, tree, reference)
    monkeypatch.setattr(teacher_module, "sample_cached", real)
    with pytest.raises(StylizeError, match="other settings \\(teacher_weight differ"):
        _train("resumed", tmp_path, tree, reference, resume=True, teacher_weight=5.0)
    _train("resumed", tmp_path, tree, reference, resume=True)
    assert (tmp_path / "straight" / WEIGHTS_NAME).read_bytes() == (tmp_path / "resumed" / WEIGHTS_NAME).read_bytes()


@pytest.mark.slow
def test_a_finished_run_kept_as_a_checkpoint_continues_to_a_larger_budget(tmp_path, tree, reference):
    """train-report scores several budgets of one run: 2 steps, kept, resumed to 4 = 4 straight."""
    _train("straight", tmp_path, tree, reference)
    _train("staged", tmp_path, tree, reference, steps=2, keep_checkpoint=True)
    assert (tmp_path / "staged" / ".checkpoint").is_dir() and load_model(tmp_path / "staged").metadata["steps"] == 2
    assert _train("staged", tmp_path, tree, reference, resume=True).steps == 4
    assert (tmp_path / "straight" / WEIGHTS_NAME).read_bytes() == (tmp_path / "staged" / WEIGHTS_NAME).read_bytes()


@pytest.mark.slow
def test_a_run_begun_under_the_previous_teacher_guard_continues_under_it(tmp_path, tree, reference, monkeypatch):
    """A checkpoint kept (or interrupted) before the teacher's guard changed resumes with the guard it began
    with: the same weights as a straight run under that guard, and that guard recorded."""
    import stylize.inference.arbitrary as arbitrary

    monkeypatch.setattr(arbitrary, "TEACHER_GUARD", arbitrary.PREVIOUS_TEACHER_GUARD)
    _train("straight", tmp_path, tree, reference)
    _train("staged", tmp_path, tree, reference, steps=2, keep_checkpoint=True)
    monkeypatch.setattr(arbitrary, "TEACHER_GUARD", arbitrary.DEFAULT_GUARD)
    assert _train("staged", tmp_path, tree, reference, resume=True).steps == 4
    assert (tmp_path / "straight" / WEIGHTS_NAME).read_bytes() == (tmp_path / "staged" / WEIGHTS_NAME).read_bytes()
    recorded = load_model(tmp_path / "staged").metadata["training"]["teacher"]["guard"]
    assert recorded == arbitrary.PREVIOUS_TEACHER_GUARD.record() != arbitrary.DEFAULT_GUARD.record()


def _checkpoint_recording(folder, guard_record):
    checkpoint = folder / ".checkpoint"
    checkpoint.mkdir(parents=True)
    fingerprint = {"method": "teacher", "teacher": {"guard": guard_record, "portraits": 2}}
    (checkpoint / "checkpoint.json").write_text(json.dumps({"step": 2, "fingerprint": fingerprint}))


def test_new_runs_are_taught_with_the_zero_training_guard_and_resumed_ones_with_their_own(tmp_path):
    from stylize.inference.arbitrary import DEFAULT_GUARD, PREVIOUS_TEACHER_GUARD, TEACHER_GUARD

    assert TEACHER_GUARD == DEFAULT_GUARD and TEACHER_GUARD.kept > 0
    assert teacher_module.teacher_guard(tmp_path, resume=False) == DEFAULT_GUARD
    assert teacher_module.teacher_guard(tmp_path, resume=True) == DEFAULT_GUARD  # nothing to resume: said later
    _checkpoint_recording(tmp_path / "old", PREVIOUS_TEACHER_GUARD.record())
    assert teacher_module.teacher_guard(tmp_path / "old", resume=False) == DEFAULT_GUARD
    assert teacher_module.teacher_guard(tmp_path / "old", resume=True) == PREVIOUS_TEACHER_GUARD


@pytest.mark.parametrize(
    "record", [None, "lots", {"face_style": 0.3}, {"adaptive": True}, "no-json", "bundled-before-tone-cell"]
)
def test_a_checkpoint_without_a_guard_this_code_reads_back_is_taught_with_the_default(tmp_path, record):
    from stylize.inference.arbitrary import DEFAULT_GUARD, PREVIOUS_TEACHER_GUARD

    if record == "no-json":
        (tmp_path / ".checkpoint").mkdir()
        (tmp_path / ".checkpoint" / "checkpoint.json").write_text("{torn")
    else:
        if record == "bundled-before-tone-cell":  # tone_cell 0 would record itself: not the same fingerprint
            record = {k: v for k, v in PREVIOUS_TEACHER_GUARD.record().items() if k != "tone_cell"}
        _checkpoint_recording(tmp_path, record)
    assert teacher_module.teacher_guard(tmp_path, resume=True) == DEFAULT_GUARD
