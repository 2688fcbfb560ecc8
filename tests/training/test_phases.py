"""Long work names its phases to a listener (the studio's job cards), and the studio's worker writes them
where the page reads them, with no time-left estimate while no step is counted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import TINY_TRAIN, make_tree, stroke_reference


@pytest.mark.slow
def test_a_training_names_its_phases_in_order(tmp_path):
    from stylize.progress import PhaseEvent, StepEvent, listen
    from stylize.training.settings import TrainSettings
    from stylize.training.style import train

    seen: list[str] = []

    def listener(event):
        if isinstance(event, PhaseEvent):
            seen.append(event.name)
        elif isinstance(event, StepEvent) and (not seen or seen[-1] != "step"):
            seen.append("step")

    tree = make_tree(tmp_path / "facegen", races=1, per_gender=1)
    with listen(listener):
        train(
            "phased",
            [stroke_reference(tmp_path / "ref.png")],
            settings=TrainSettings(**{**TINY_TRAIN, "steps": 2, "style_scale": 0.25}),
            styles_dir=tmp_path / "styles",
            parts=tree,
            device="cpu",
            progress=False,
        )
    before, after = seen[: seen.index("step")], seen[seen.index("step") + 1 :]
    assert {"reading the references", "reading the training faces", "loading the loss network"} <= set(before)
    assert after[0] == "saving the style" and "measuring the style's values" in after


def test_the_worker_writes_a_phase_without_a_time_left(tmp_path: Path):
    from stylize.progress import PhaseEvent
    from stylize.studio.jobs import WorkerSetup
    from stylize.studio.worker import _Progress

    setup = WorkerSetup(None, str(tmp_path / "styles"), None, (), 0, (0,))
    progress = _Progress(tmp_path, setup, None, resume=False)
    assert json.loads((tmp_path / "progress.json").read_text())["phase"] == "preparing"
    progress(PhaseEvent("reading the references"))
    written = json.loads((tmp_path / "progress.json").read_text())
    assert written["phase"] == "reading the references" and written["eta_seconds"] is None and written["step"] == 0
