"""The training loop every network the project trains shares: settings checks, the resume
fingerprint, the optimisation loop with its checkpoints and Ctrl-C handling, and writing the model file.

Every batch is a pure function of (seed, step) and the network, optimizer and progress are
checkpointed atomically, so Ctrl-C keeps the last checkpoint and ``resume=True`` reaches the same
weights as an uninterrupted run (same machine, same thread count). SIGTERM is the same as Ctrl-C: the
loop finishes its step, saves a whole checkpoint and stops; a second signal gives up at once, the
last checkpoint kept whole (:mod:`stylize.signals`).

The loop runs the same on every rank of a data-parallel run (:mod:`stylize.training.distributed`):
the network is wrapped in DistributedDataParallel, each rank draws its shard of the step's global
batch, the logged losses are the global batch's (averaged over the ranks), rank 0 decides when the
budget is spent and any rank's Ctrl-C stops them all at the same step; only rank 0 shows progress,
writes checkpoints and the model file, the others wait for it.
"""

from __future__ import annotations

import json
import math
import platform
import shutil
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from tqdm import tqdm

from stylize import signals
from stylize.errors import Interrupted, StylizeError
from stylize.faults import machine_error
from stylize.inference.model_file import METADATA_NAME, save_model
from stylize.inference.tone import calibrate
from stylize.nets.device import autocast, check_precision
from stylize.nets.transformer import PaddedNet
from stylize.output_folder import replace_folder
from stylize.progress import StepEvent, listening, notify, phase
from stylize.style_folder import copy_references
from stylize.training.checkpoint import apply_checkpoint, checked_checkpoint, resumable, save_checkpoint
from stylize.training.data import sample_batch
from stylize.training.distributed import Ranks, any_rank, barrier, leader_first, mean_across, ranks

CHECKPOINT_DIR = ".checkpoint"


class LoopSettings(Protocol):
    """What the loop reads of a run's settings (TrainSettings, DistillSettings)."""

    size: int
    batch: int
    minutes: float | None
    steps: int | None
    learning_rate: float
    seed: int
    checkpoint_seconds: float
    # and precision: str ("fp32" when a settings object has none), min_steps: int (0 when it has none)


def loop_fingerprint(settings: Any) -> dict[str, Any]:
    """What must match for a checkpoint to be resumed: every setting but the budget, which may change."""
    data = asdict(settings)
    for key in ("minutes", "steps", "checkpoint_seconds"):
        data.pop(key)
    if data.get("precision") == "fp32":  # as before mixed precision existed: older checkpoints resume
        data.pop("precision")
    return data


@dataclass
class TrainResult:
    directory: Path
    steps: int
    wall_seconds: float  # preparing and steps, every session of a resumed run
    final_losses: dict[str, float]
    metadata: dict[str, Any] = field(default_factory=dict)
    prepare_seconds: float = 0.0  # of wall_seconds: reading references, building the pool, the teacher, ...
    step_seconds: float = 0.0  # of wall_seconds: the optimisation steps

    def time_line(self) -> str:
        """Where the time went, for a command's summary: "40 steps in 52 s (+ 8 s preparing)"."""
        return f"{self.steps} steps in {self.step_seconds:.0f} s (+ {self.prepare_seconds:.0f} s preparing)"


class _StopFlag:
    """SIGINT or SIGTERM sets a flag; the loop stops after the step in progress, so the checkpoint is whole.

    A second signal gives up at once (``KeyboardInterrupt``), unless it comes within ``same_within``
    seconds of the first: a rank of a data-parallel run gets one Ctrl-C twice, from the terminal and
    from its launcher. Both handlers are set whatever was there before (a process started with SIGINT
    ignored stops too), and put back after the loop."""

    def __init__(self, same_within: float = 0.0) -> None:
        self.stop = False
        self.same_within = same_within
        self._first = 0.0
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _StopFlag:
        try:
            for signum in signals.STOP_SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        except ValueError:  # not the main thread: no handler, Ctrl-C behaves as usual
            pass
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        signals.note(signum)
        if self.stop:
            if time.monotonic() - self._first < self.same_within:  # the same Ctrl-C, passed on
                return
            raise KeyboardInterrupt  # a second signal: give up at once
        self.stop = True
        self._first = time.monotonic()

    def __exit__(self, *exc: object) -> None:
        for signum, previous in self._previous.items():
            if previous is not None:
                signal.signal(signum, previous)


def _history_point(step: int, terms: dict[str, float], total: float) -> dict[str, float]:
    return {"step": step, "total": round(total, 6), **{k: round(v, 6) for k, v in terms.items()}}


SAME_CTRL_C_SECONDS = 1.0  # a rank counts SIGINTs this close together as one Ctrl-C


def run_training_loop(
    *,
    network: PaddedNet,
    loss_fn,  # (output, batch[, features=]) -> (total tensor, terms dict of floats); features= with with_features
    pool,
    settings: LoopSettings,
    checkpoint_dir: Path,
    colour_jitter: bool = False,
    with_features: bool = False,
    fingerprint: dict[str, Any],
    resume: bool,
    device: torch.device,
    progress: bool,
    description: str,
    sampler: Callable[[int], torch.Tensor] | None = None,
    prepare_seconds: float = 0.0,
) -> tuple[int, float, float, list[dict[str, float]], bool]:
    """The shared optimisation loop: returns (steps done, wall seconds, seconds in steps, loss history,
    interrupted).

    ``sampler(step)``, when given, makes each batch instead of :func:`sample_batch`: its first three
    channels are the network's input, the rest go to ``loss_fn`` as ``extra=``; in a data-parallel run
    it draws this rank's shard. ``prepare_seconds`` (what this session spent before the loop) counts
    toward the time budget and the wall time: ``minutes`` is the whole run's wall-clock budget, so the
    seconds spent preparing are ``elapsed - loop_seconds``."""
    group = ranks()
    optimizer = torch.optim.Adam(network.parameters(), lr=settings.learning_rate)
    fingerprint = loop_identity(fingerprint, group)
    step, elapsed, loop_seconds, history = 0, 0.0, 0.0, []
    if resume:  # rank 0 reads the checkpoint, every rank loads it
        state, tensors = leader_first(lambda: checked_checkpoint(checkpoint_dir, fingerprint))
        apply_checkpoint(checkpoint_dir, network, optimizer, state, tensors)
        step, elapsed, history = int(state["step"]), float(state["elapsed"]), list(state["history"])
        loop_seconds = float(state.get("loop_seconds", elapsed))
    elapsed += prepare_seconds
    budget_seconds = settings.minutes * 60 if settings.minutes is not None else None
    model = _data_parallel(network, device) if group.world_size > 1 else network
    precision = check_precision(getattr(settings, "precision", "fp32"), device)
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")  # fp16 gradients need scaling

    def save() -> None:
        if not group.leader:
            return
        save_checkpoint(
            checkpoint_dir,
            network,
            optimizer,
            {
                "step": step,
                "elapsed": elapsed,
                "loop_seconds": loop_seconds,
                "history": history,
                "fingerprint": fingerprint,
            },
        )

    min_steps = int(getattr(settings, "min_steps", 0))  # a time budget cannot end the run before these

    def done() -> bool:
        return (settings.steps is not None and step >= settings.steps) or (
            budget_seconds is not None and elapsed >= budget_seconds and step >= min_steps
        )

    network.train()
    interrupted = False
    bar_total = settings.steps if settings.steps is not None else math.ceil(budget_seconds or 0)
    bar = tqdm(
        total=bar_total,
        initial=min(step if settings.steps else int(elapsed), bar_total),
        desc=description,
        unit="step" if settings.steps else "s",
        disable=None if progress and group.leader else True,
        dynamic_ncols=True,
    )
    last_save = time.monotonic()
    running: dict[str, float] = {}
    with _StopFlag(SAME_CTRL_C_SECONDS if group.world_size > 1 else 0.0) as flag:
        _, finished = any_rank((False, group.leader and done()), device)  # rank 0's clock decides
        while not finished:
            started = time.monotonic()
            if sampler is not None:
                sampled = sampler(step).to(device)
                batch = sampled[:, :3]
                with autocast(device, precision):
                    output = model(batch)
                    total, terms = loss_fn(output, batch, extra=sampled[:, 3:])
            else:
                batch = sample_batch(
                    pool,
                    seed=settings.seed,
                    step=step,
                    batch=settings.batch,
                    size=settings.size,
                    colour_jitter=colour_jitter,
                    with_features=with_features,
                    shard=group.shard,
                ).to(device)
                with autocast(device, precision):
                    if with_features:  # the fourth channel marks eyes, nose and mouth for the feature term
                        batch, features = batch[:, :3], batch[:, 3:]
                        output = model(batch)
                        total, terms = loss_fn(output, batch, features=features)
                    else:
                        output = model(batch)
                        total, terms = loss_fn(output, batch)
            shown = mean_across({"total": float(total.detach()), **terms}, device)  # the global batch's
            if not math.isfinite(shown["total"]):  # diverged: stop before a NaN reaches the weights
                bar.close()
                raise StylizeError(
                    f"{description}: the training diverged at step {step + 1} (its loss is "
                    f"{shown['total']}); the last checkpoint is kept, but it leads here again: lower "
                    "learning_rate=X or the loss weights, and start over with overwrite=True",
                    params=("learning_rate", "overwrite"),
                )
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(total.float()).backward()  # without fp16 the scaler passes everything through
            scaler.step(optimizer)
            scaler.update()
            step += 1
            spent = time.monotonic() - started
            elapsed += spent
            loop_seconds += spent
            for key, value in shown.items():
                running[key] = running.get(key, value) * 0.9 + value * 0.1
            if step % 10 == 0 or step == 1:
                history.append(_history_point(step, {k: v for k, v in shown.items() if k != "total"}, shown["total"]))
            bar.update(1 if settings.steps else min(spent, max(0.0, bar_total - bar.n)))
            bar.set_postfix(step=step, **{k: f"{v:.3g}" for k, v in running.items()}, refresh=False)
            if time.monotonic() - last_save >= settings.checkpoint_seconds:
                save()
                last_save = time.monotonic()
            if group.leader and listening():
                notify(StepEvent(description, step, settings.steps, elapsed, budget_seconds, dict(running), network))
            stop, finished = any_rank((flag.stop, group.leader and done()), device)
            if stop:
                interrupted = True
                break
    bar.close()
    save()
    barrier()  # the others go on once the checkpoint is whole
    return step, elapsed, loop_seconds, history, interrupted


def loop_identity(fingerprint: dict[str, Any], group: Ranks) -> dict[str, Any]:
    """``fingerprint`` as it reads back from a checkpoint (tuples as lists), with the world size of a
    data-parallel run: its global batch is ``world_size * batch``, so resuming it with other ranks is
    refused (a one-process run records none, as before)."""
    identity = json.loads(json.dumps(fingerprint))
    if group.world_size > 1:
        identity["world_size"] = group.world_size
    return identity


def _data_parallel(network: PaddedNet, device: torch.device) -> torch.nn.Module:
    from torch.nn.parallel import DistributedDataParallel

    index = torch.cuda.current_device() if device.type == "cuda" else None
    return DistributedDataParallel(network, device_ids=None if index is None else [index])


def interrupted_message(what: str) -> str:
    """The ``interrupted`` message of :func:`fit_and_save` for ``what`` ("training of NAME")."""
    return (
        f"{what} interrupted at step {{step}}; the checkpoint in {{checkpoint}} is kept: "
        "rerun with resume=True to continue"
    )


def prepare_output(directory: Path, resume: bool, overwrite: bool) -> None:
    """Make ``directory`` ready for a run: with ``resume``, a whole checkpoint must be there; without,
    a style or a whole checkpoint there is refused unless ``overwrite``. Anything less than a whole
    checkpoint (a run killed before its first one, a torn or damaged one) counts as nothing: it is
    removed and the run starts over, so the two refusals never send the user back and forth."""
    checkpoint_dir = directory / CHECKPOINT_DIR
    finished = (directory / METADATA_NAME).exists()
    whole = resumable(checkpoint_dir)
    if resume:
        if whole:
            return
        what = (
            f"no {CHECKPOINT_DIR}/" if not checkpoint_dir.exists() else f"{CHECKPOINT_DIR}/ holds no whole checkpoint"
        )
        if finished:  # without resume it would be refused as an existing style: say the way out at once
            raise StylizeError(
                f"{directory}: nothing to resume ({what}; the style there is finished); pass overwrite=True "
                "without resume=True to train it again, or choose another name=NAME",
                params=("resume", "overwrite", "name"),
            )
        raise StylizeError(f"{directory}: nothing to resume ({what}); start without resume=True", params=("resume",))
    if whole and not overwrite:
        raise StylizeError(
            f"{directory}: an interrupted training is already there; pass resume=True to continue it, "
            "overwrite=True to replace it, or choose another name=NAME",
            params=("resume", "overwrite", "name"),
        )
    if finished and not overwrite:
        raise StylizeError(
            f"{directory}: a style is already there; pass overwrite=True to replace it, or choose another name=NAME",
            params=("overwrite", "name"),
        )
    if checkpoint_dir.is_symlink() or checkpoint_dir.is_file():
        checkpoint_dir.unlink()
    shutil.rmtree(checkpoint_dir, ignore_errors=True)


def environment(device: torch.device) -> dict[str, Any]:
    return {
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
    }


def fit_and_save(
    *,
    directory: Path,
    network: PaddedNet,
    loss_fn,
    pool,
    settings: LoopSettings,
    fingerprint: dict[str, Any],
    resume: bool,
    device: torch.device,
    progress: bool,
    description: str,
    interrupted: str,
    metadata: dict[str, Any],
    colour_jitter: bool = False,
    with_features: bool = False,
    sampler: Callable[[int], torch.Tensor] | None = None,
    prepare_seconds: float = 0.0,
    keep_checkpoint: bool = False,
    references: Sequence[Path] = (),
) -> TrainResult:
    """Run the loop with checkpoints in ``directory/.checkpoint``, then write the model file.

    ``metadata`` holds what is particular to the run; the loop's results are added here. After a
    Ctrl-C the checkpoint is kept and ``StylizeError(interrupted)`` is raised. ``keep_checkpoint``
    keeps it after a finished run too, so ``resume=True`` with a larger budget continues the same run
    (``train-report`` scores several budgets of one run this way). ``references`` are copied into the
    style's ``refs/`` (and recorded as ``metadata["references"]``) with the model file.

    The finished style (model file, refs/) is made whole in a hidden folder beside ``directory`` and then
    renamed onto it (:func:`stylize.output_folder.replace_folder`), so ``directory`` is always either as
    before or the whole new style. After a fault of the machine (a full disk) the checkpoint is kept only
    when whole (resumable): nothing half-made is left.

    A time budget (``minutes``) counts the seconds spent preparing (``prepare_seconds``) as well as the
    steps; one spent before the first step is a ``StylizeError`` and nothing is written, never a style
    that is only its starting point.
    """
    checkpoint_dir = directory / CHECKPOINT_DIR
    group = ranks()
    with _faults_keep_a_whole_checkpoint(checkpoint_dir, group.leader):
        leader_first(lambda: checkpoint_dir.mkdir(parents=True, exist_ok=True))
        step, elapsed, loop_seconds, history, stopped = run_training_loop(
            network=network,
            loss_fn=loss_fn,
            pool=pool,
            settings=settings,
            checkpoint_dir=checkpoint_dir,
            fingerprint=fingerprint,
            resume=resume,
            device=device,
            progress=progress,
            description=description,
            colour_jitter=colour_jitter,
            with_features=with_features,
            sampler=sampler,
            prepare_seconds=prepare_seconds,
        )
    if stopped:
        raise Interrupted(interrupted.format(step=step, checkpoint=checkpoint_dir), params=("resume",))
    phase("saving the style")
    prepared = max(0.0, elapsed - loop_seconds)  # every session's preparing, resumed ones too
    if step == 0:  # the budget ended before the first step: no style, and no checkpoint of nothing
        if group.leader:
            shutil.rmtree(checkpoint_dir, ignore_errors=True)
            _remove_if_empty(directory)
        barrier()
        raise StylizeError(
            f"{description}: the budget of {settings.minutes:g} min ended before the first step (preparing took "
            f"{prepared:.0f} s), so nothing was trained and no style was written; give more minutes=M, or "
            "steps=N to count steps instead of time",
            params=("minutes", "steps"),
        )
    final = {k: v for k, v in (history[-1] if history else {}).items() if k != "step"}
    if "training" in metadata:  # the ranks the weights were trained on (1: one process)
        metadata = {**metadata, "training": {**metadata["training"], "world_size": group.world_size}}
    metadata = {
        **metadata,
        "steps": step,
        "wall_seconds": round(elapsed, 2),
        "prepare_seconds": round(prepared, 2),
        "step_seconds": round(loop_seconds, 2),
        "ms_per_step": round(1000 * loop_seconds / step, 1) if step else None,
        "environment": environment(device),
        "final_losses": final,
        "loss_history": history,
    }

    if group.leader:  # the network's tonal key, so its first use need not measure it (stylize.inference.tone)
        metadata["values"] = calibrate(network.eval()).record()

    def fill(built: Path) -> None:
        if references:
            metadata["references"] = copy_references(references, built / "refs")
        save_model(built, network, metadata)

    def write() -> None:
        with signals.held():  # a Ctrl-C now waits: the whole new style, or the folder as before
            network.eval().to("cpu")
            # The old folder (its checkpoint with it, unless kept) goes once the new one is in place.
            replace_folder(directory, fill, carry=(CHECKPOINT_DIR,) if keep_checkpoint else ())

    with _faults_keep_a_whole_checkpoint(checkpoint_dir, group.leader):
        leader_first(write)  # the other ranks return once the model file is there
    return TrainResult(directory, step, elapsed, final, metadata, prepared, loop_seconds)


@contextmanager
def _faults_keep_a_whole_checkpoint(checkpoint_dir: Path, leader: bool) -> Iterator[None]:
    """After a fault of the machine (a full disk) in a training: a torn checkpoint is removed, so nothing
    half-made is left; a whole one is kept, and the fault's line says so (rerun with resume=True)."""
    try:
        yield
    except BaseException as err:
        fault = machine_error(err)
        if fault is None or not leader:
            raise
        if not resumable(checkpoint_dir):
            shutil.rmtree(checkpoint_dir, ignore_errors=True)
            raise
        raise fault.noted(
            f"the checkpoint in {checkpoint_dir} is kept: rerun with resume=True to go on", ("resume",)
        ) from err


def _remove_if_empty(directory: Path) -> None:
    """Remove ``directory`` when a run that wrote nothing leaves it empty (a new style's folder)."""
    try:
        directory.rmdir()
    except OSError:  # not empty (a style it would have replaced, the user's files) or already gone
        pass
