"""The studio's worker process: runs one job (see :mod:`stylize.studio.jobs`) through the public API and
writes its state, progress and preview into the job's folder.

Training and distillation report each step through :func:`stylize.progress.listen`; the
preview paints four faces with the network as it stands, at most every :data:`~stylize.studio.jobs.
PREVIEW_EVERY` seconds and never more than a fifth of the time. SIGINT (cancel, or the server going
away) or SIGTERM stops a training after its step with a whole checkpoint, and any other job at once
(its outputs are written atomically); the job is then ``cancelled``. A job whose ``cancel`` file is there
when the worker has set its handlers stops before it begins (a SIGINT sent earlier may have been lost).
"""

from __future__ import annotations

import math
import os
import re
import signal
import sys
import tempfile
import threading
import time
import traceback
import zipfile
from pathlib import Path
from typing import Any

from stylize import signals
from stylize.errors import Interrupted
from stylize.files import read_json_object, write_json
from stylize.progress import phase
from stylize.studio.jobs import (
    CANCEL_FILE,
    LOSS_POINTS,
    PREVIEW_EVERY,
    PROGRESS_EVERY,
    WorkerSetup,
    check_student_target,
    process_start,
)

STOPPED = "stopped"  # a job cancelled before or during work that keeps no checkpoint


def _watch_parent(parent: int) -> None:
    """Stop this worker (SIGINT: a training keeps its checkpoint) when the server that started it has gone."""
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGINT)
            return


class _Progress:
    """Writes progress.json (throttled) and preview.png from the training's step events."""

    def __init__(self, path: Path, setup: WorkerSetup, config: Any, resume: bool) -> None:
        self.path = path
        self.setup = setup
        self.config = config
        old = read_json_object(path / "progress.json") if resume else None
        self.loss: list[list[float]] = list(old.get("loss", [])) if old else []
        self.last_write = 0.0
        self.next_preview = time.monotonic() + 2.0
        self.faces: Any = None
        self.last_event: Any = None
        self.count_started: float | None = None
        self.current: dict[str, Any] = (
            dict(old) if old else {"phase": "preparing", "step": 0, "fraction": 0.0, "loss": []}
        )
        if old is None:
            self._save(self.current)

    def _save(self, progress: dict[str, Any]) -> None:
        self.current = progress
        write_json(self.path / "progress.json", progress, indent=1)

    def _phase(self, name: str) -> None:
        """A named phase between steps: shown instead of a step count, with no time-left estimate (it has none)."""
        self._save({**self.current, "phase": name, "eta_seconds": None})

    def finish(self) -> None:
        if self.last_event is not None:
            self.write(self.last_event, phase="finished")

    def stopped(self) -> None:
        """A training stopped after its step (cancelled, the studio going): its last step and loss written, as
        the throttled writes may not have (the card and the stopped folder then show the same step)."""
        if self.last_event is not None:
            self.write(self.last_event, phase="stopped")

    def __call__(self, event: Any) -> None:
        from stylize.progress import CountEvent, PhaseEvent

        if isinstance(event, PhaseEvent):
            self._phase(event.name)
            return
        if isinstance(event, CountEvent):
            self._count(event)
            return
        now = time.monotonic()
        self.last_event = event
        total = event.losses.get("total")
        if total is not None and (not self.loss or event.step > self.loss[-1][0]):
            self.loss.append([event.step, round(float(total), 6)])
            if len(self.loss) > LOSS_POINTS:
                self.loss = self.loss[::2]
        if now >= self.next_preview:
            started = time.monotonic()
            self.preview(event.network)
            spent = time.monotonic() - started
            self.next_preview = time.monotonic() + max(PREVIEW_EVERY, 4 * spent)
        if now - self.last_write >= PROGRESS_EVERY or event.fraction >= 1.0:
            self.write(event)
            self.last_write = now

    def _count(self, event: Any) -> None:
        """A bar's move (the faces of a part set): steps are its items; the ETA from the rate so far."""
        now = time.monotonic()
        if self.count_started is None:
            self.count_started = now
        if now - self.last_write < PROGRESS_EVERY and event.done < event.total:
            return
        self.last_write = now
        elapsed = now - self.count_started
        rate = event.done / elapsed if elapsed > 0 and event.done else None
        eta = (event.total - event.done) / rate if rate else None
        self._save(
            {
                "phase": event.description or "working",
                "step": event.done,
                "steps": event.total,
                "elapsed": round(elapsed, 2),
                "budget_seconds": None,
                "fraction": round(event.fraction, 4),
                "eta_seconds": None if eta is None else round(eta, 1),
                "loss": [],
            },
        )

    def write(self, event: Any, phase: str = "training") -> None:
        fraction = event.fraction
        if event.budget_seconds:
            eta = max(0.0, event.budget_seconds - event.elapsed)
            if event.steps:
                per_step = event.elapsed / max(event.step, 1)
                eta = min(eta, max(0, event.steps - event.step) * per_step)
        elif event.steps:
            eta = max(0, event.steps - event.step) * event.elapsed / max(event.step, 1)
        else:
            eta = None
        self._save(
            {
                "phase": phase,
                "step": event.step,
                "steps": event.steps,
                "elapsed": round(event.elapsed, 2),
                "budget_seconds": event.budget_seconds,
                "fraction": round(fraction, 4),
                "eta_seconds": None if eta is None else round(eta, 1),
                "loss": self.loss,
                "losses": {key: round(float(value), 6) for key, value in event.losses.items()},
            },
        )

    def _preview_faces(self) -> Any:
        import torch

        from stylize.content.compose import compose_face, open_part_tree
        from stylize.inference.image import to_tensor

        if self.faces is None:
            generator = open_part_tree(self.setup.parts, self.config)
            self.faces = torch.cat([to_tensor(compose_face(generator, seed).rgb) for seed in self.setup.preview_seeds])
        return self.faces

    def preview(self, network: Any) -> None:
        import numpy as np
        import torch

        from stylize.imageio import write_png
        from stylize.inference.image import stylize_batch, to_uint8

        try:
            faces = self._preview_faces()
        except Exception:  # no part tree: no preview, the training goes on
            return
        device = next(network.parameters()).device
        was_training = network.training
        network.eval()
        try:
            with torch.inference_mode():
                styled = [to_uint8(stylize_batch(network, face[None].to(device))) for face in faces]
        finally:
            network.train(was_training)
        write_png(self.path / "preview.png", np.concatenate(styled, axis=1))


def _status(path: Path, **changes: Any) -> dict[str, Any]:
    status = {**(read_json_object(path / "status.json") or {}), **changes}
    write_json(path / "status.json", status, indent=1)
    return status


def _figures(style: str, setup: WorkerSetup, config: Any, start: str | None = None) -> tuple[dict[str, Any], list[str]]:
    """The ``stylize eval`` summary of ``style`` on held-out game faces, or why there is none; with ``start``
    (the style a training or distillation began from) that style's figures too, under ``before``, so the
    page can say which way each one moved."""
    from stylize.evaluation.report import format_text_table
    from stylize.evaluation.scores import evaluate

    if setup.eval_faces <= 0:
        return {}, ["figures: not measured (eval_faces=0)"]
    content = [f"compose:100000-{100000 + setup.eval_faces - 1}"]
    names = [style] if start is None or start == style else [style, start]
    phase(f"scoring the style{'s' if len(names) > 1 else ''} on {setup.eval_faces} faces")
    try:
        scores = evaluate(names, content, styles_dir=setup.styles_dir, parts=setup.parts, config=config)
    except Exception as err:  # figures are a courtesy: the result stands without them
        return {}, [f"figures: not measured ({' '.join(str(err).split())[:200]})"]
    figures = _figure_values(scores[0])
    if len(scores) > 1:
        figures["before"] = {"style": names[1], **_figure_values(scores[1])}
    return figures, format_text_table(scores).splitlines()[: 1 + len(scores)]


def _figure_values(score: Any) -> dict[str, Any]:
    return {
        "style_score": _rounded(score.style_score, 3),
        "same_person": f"{score.same_person}/{score.faces_judged}",
        "value_spread": _rounded(score.value_spread, 2),
        "rank1": f"{score.rank1}/{score.faces_judged}",
        "value_order": _rounded(score.value_order, 2),
        "summary": _rounded(score.summary, 3),
        "ms_per_portrait": _rounded(score.ms_per_portrait, 1),
        "portraits": score.portraits,
    }


def _rounded(value: float, digits: int) -> float | None:
    """A figure for status.json: rounded, None where it is not a number (no face judged, no spread)."""
    return round(float(value), digits) if math.isfinite(value) else None


def _file_record(path: Path) -> dict[str, Any]:
    return {"name": path.name, "bytes": path.stat().st_size}


def _run(
    kind: str, request: dict[str, Any], path: Path, setup: WorkerSetup, config: Any, resume: bool
) -> dict[str, Any]:
    from stylize.progress import listen

    style = str(request["style"])
    exports = path.parent.parent / "exports" / path.name
    if kind == "train":
        from stylize.inference.model_file import reference_files
        from stylize.inference.styles import load_style
        from stylize.training.settings import TrainSettings
        from stylize.training.style import train

        refs = reference_files(load_style(style, setup.styles_dir))
        settings = TrainSettings.from_config(config, minutes=request.get("minutes"), steps=request.get("steps"))
        progress = _Progress(path, setup, config, resume)
        try:
            with listen(progress):
                result = train(
                    str(request["name"]),
                    [str(r) for r in refs],
                    settings=settings,
                    styles_dir=setup.styles_dir,
                    parts=setup.parts,
                    config=config,
                    resume=resume,
                    progress=False,
                )
        except Interrupted:
            progress.stopped()
            raise
        return _made_style(str(request["name"]), result, progress, setup, config, exports, style)
    if kind == "distill":
        from stylize.training.distill import distill
        from stylize.training.settings import DistillSettings

        settings = DistillSettings.from_config(config, minutes=request.get("minutes"), steps=request.get("steps"))
        if not resume:  # checked at submit too; a style of that name may have come since
            check_student_target(Path(setup.styles_dir), str(request["name"]), style)
        progress = _Progress(path, setup, config, resume)
        try:
            with listen(progress):
                result = distill(
                    style,
                    name=str(request["name"]),
                    settings=settings,
                    styles_dir=setup.styles_dir,
                    parts=setup.parts,
                    config=config,
                    resume=resume,
                    overwrite=not resume,
                    progress=False,
                )
        except Interrupted:
            progress.stopped()
            raise
        return _made_style(str(request["name"]), result, progress, setup, config, exports, style)
    if kind == "export_onnx":
        from stylize.inference.styles import load_style
        from stylize.shipping.onnx_export import export_onnx

        exports.mkdir(parents=True, exist_ok=True)
        with listen(_Progress(path, setup, config, resume=False)):
            exported = export_onnx(load_style(style, setup.styles_dir), exports / f"{style}.onnx")
            figures, lines = _figures(style, setup, config)
        checks = [check.line() for check in exported.checks]
        return {"style": style, "files": [_file_record(exported.path)], "figures": figures, "lines": checks + lines}
    if kind == "export_parts":
        from stylize.shipping.part_sets import export_parts

        exports.mkdir(parents=True, exist_ok=True)
        with listen(_Progress(path, setup, config, resume=False)):
            built = export_parts(
                style,
                exports / f"{style}-parts",
                parts=setup.parts,
                styles_dir=setup.styles_dir,
                config=config,
                overwrite=True,
                progress=False,
            )
        final = _zip(exports, f"{style}-parts", exports / f"{style}-parts.zip")
        return {"style": style, "files": [_file_record(final)], "figures": {}, "lines": [built.summary()]}
    if kind == "export_cast":
        return _export_cast(style, request, path, setup, config, exports)
    raise ValueError(kind)


def _export_cast(
    style: str, request: dict[str, Any], path: Path, setup: WorkerSetup, config: Any, exports: Path
) -> dict[str, Any]:
    """Every portrait of the source painted in ``style`` (``stylize apply``: size and alpha kept), zipped."""
    import shutil

    from stylize.content.compose import compose
    from stylize.inference.bulk import apply
    from stylize.progress import listen

    work = exports / "cast"
    shutil.rmtree(work, ignore_errors=True)  # a rerun starts clean: its zip is all of one run
    with listen(_Progress(path, setup, config, resume=False)):
        if request.get("source") == "legacy":
            inputs = list(setup.legacy)
        else:
            phase("composing the game's faces")
            compose(str(request["seeds"]), work / "faces", parts=setup.parts, config=config, progress=False)
            inputs = [str(work / "faces")]
        phase(f"painting the cast in {style}")
        result = apply(style, inputs, work / style, styles_dir=setup.styles_dir, config=config, progress=True)
        phase("packing the cast for download")
        final = _zip(work, style, exports / f"{style}-cast.zip")
    shutil.rmtree(work, ignore_errors=True)
    return {"style": style, "files": [_file_record(final)], "figures": {}, "lines": [result.summary()]}


def _zip(root: Path, folder: str, target: Path) -> Path:
    """``root/folder`` as the zip ``target`` (written beside it, then renamed into place; removed on failure)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as stream, zipfile.ZipFile(stream, "w", zipfile.ZIP_DEFLATED) as archive:
            base = root / folder
            for file in sorted(base.rglob("*")):
                if file.is_file() and not file.is_symlink():
                    archive.write(file, file.relative_to(root).as_posix())
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return target


def _style_zip(name: str, setup: WorkerSetup, exports: Path) -> dict[str, Any]:
    """The style folder a job made, zipped for download (model.json, weights, references)."""
    return _file_record(_zip(Path(setup.styles_dir), name, exports / f"{name}.zip"))


def _made_style(
    name: str, result: Any, progress: _Progress, setup: WorkerSetup, config: Any, exports: Path, start: str
) -> dict:
    """The result of a job that made style ``name`` (train, distill; ``result`` its ``TrainResult``): the
    last progress and preview, its figures, where the time went, and its folder zipped for download."""
    from stylize.progress import listen

    progress.finish()
    progress.preview(_load_network(name, setup))
    with listen(progress):
        figures, lines = _figures(name, setup, config, start)
        phase("packing the style for download")
        files = [_style_zip(name, setup, exports)]
    timing = {
        "steps": result.steps,
        "prepare_seconds": round(result.prepare_seconds, 1),
        "step_seconds": round(result.step_seconds, 1),
    }
    lines = [result.time_line(), *lines]
    return {"style": name, **timing, "files": files, "figures": figures, "lines": lines}


def _load_network(name: str, setup: WorkerSetup) -> Any:
    from stylize.inference.styles import load_style

    return load_style(name, setup.styles_dir).network


def _progress_at(path: Path, step: int) -> None:
    """The shown progress moved to ``step``, where a stopped training's last whole checkpoint is (progress.json
    is written at most twice a second, so it may lag the step the training stopped after)."""
    progress = read_json_object(path / "progress.json")
    if not progress or not isinstance(progress.get("step"), int) or progress["step"] >= step:
        return
    steps = progress.get("steps")
    fraction = min(1.0, step / steps) if isinstance(steps, int) and steps > 0 else progress.get("fraction")
    write_json(path / "progress.json", {**progress, "step": step, "fraction": fraction, "eta_seconds": None}, indent=1)


def run_job(job_dir: str) -> None:
    """The worker process's entry point: the job in ``job_dir``, with the setup the server wrote there."""
    path = Path(job_dir)
    written = read_json_object(path / "worker.json") or {}
    resume = bool(written.pop("resume", False))
    setup = WorkerSetup(
        **{
            **written,
            "legacy": tuple(written.get("legacy", ())),
            "preview_seeds": tuple(written.get("preview_seeds", ())),
        }
    )
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    status = read_json_object(path / "status.json") or {}
    _status(
        path,
        state="running",
        pid=os.getpid(),
        pid_start=process_start(os.getpid()),  # with the PID, this process and no later one of its PID
        started=time.time(),
        runs=int(status.get("runs", 0)) + 1,
        error=None,
    )
    request = read_json_object(path / "job.json") or {}
    kind = str(request.get("kind"))
    print(f"job {path.name}: {kind} {request.get('style')} -> {request.get('name')} (resume={resume})", flush=True)
    try:
        if (path / CANCEL_FILE).exists():  # cancelled before this worker's handlers were set: its SIGINT may be lost
            raise KeyboardInterrupt
        from stylize.config import default_config, load_config

        config = load_config(setup.config_path) if setup.config_path else default_config()
        result = _run(kind, request, path, setup, config, resume)
    except KeyboardInterrupt:
        _status(path, state="cancelled", finished=time.time(), error=STOPPED)
        return
    except Exception as err:  # every failure becomes the job's one line; the traceback goes to log.txt
        from stylize.faults import as_stylize_error

        known = as_stylize_error(err)  # a StylizeError, or a fault of the machine (a full disk) as one
        line = " ".join(str(known or err).split()) or type(err).__name__
        if isinstance(err, Interrupted):  # a training stopped after its step, its checkpoint whole
            print(line, flush=True)  # the command line's words (resume=True) stay in the log
            step = re.search(r"at step (\d+)", line)
            stopped = f"stopped at step {step[1]}" if step else "stopped"
            if step:
                _progress_at(path, int(step[1]))
            _status(path, state="cancelled", finished=time.time(), error=f"{stopped}; Resume continues from there")
            return
        traceback.print_exc()
        if known is None:
            line = f"{type(err).__name__}: {line} (an internal error; see {path / 'log.txt'})"
        _status(path, state="failed", finished=time.time(), error=line)
        return
    _status(path, state="done", finished=time.time(), result=result, error=None)
    print(f"job {path.name}: done", flush=True)


if __name__ == "__main__":
    signals.install()  # SIGINT and SIGTERM stop the job whatever the server's caller ignored
    run_job(sys.argv[1])
