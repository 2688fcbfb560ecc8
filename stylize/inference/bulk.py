"""Stylizing portraits in bulk: one or several styles, resumable, atomic, inputs never touched.

``apply(styles, inputs, out_dir)`` finds every image under ``inputs`` (files, folders searched
recursively) and writes ``out_dir/REL.png`` (``out_dir/STYLE/REL.png`` for several styles), where
REL is the file's path relative to the input it was found in. Each output keeps its input's exact
size and alpha channel. ``out_dir/manifest.jsonl`` records, per output, the input's SHA-256, the
style's weights' SHA-256 and the SHA-256 of its weights with the model.json settings that change its
output (``style_sha256``: architecture, face guard; a mix's from its styles' and its weights), the
apply settings and the output's SHA-256; a rerun skips every output whose record still matches, and
redoes the rest (changed input, style weights or settings, apply settings, or a missing or altered
output).
Each finished output is appended to the manifest at once, so a run killed at any point resumes
where it stopped and ends with the same bytes as an uninterrupted run.

A bad input (truncated, unsupported, zero-size, unreadable) is reported with its path and skipped;
the run goes on and ``ApplyResult.failed`` lists it. CPU runs can use a process pool (``workers``);
``batch`` stacks same-size portraits into one network call (useful on a GPU). ``engine="ray"`` stylizes
on the actors of a Ray cluster instead (:mod:`stylize.inference.ray_engine`); the planning, the
manifest, the lock and the writing stay here, on the machine that runs ``apply``.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from stylize import signals
from stylize.config import PARAMETERS, PipelineConfig, default_config
from stylize.errors import StylizeError
from stylize.faults import TEMP_FILE
from stylize.files import Journal, read_journal, sha256_file
from stylize.imageio import atomic_write_bytes, find_images
from stylize.inference.chunk_work import ApplyTask, Outcome, Worker, chunks, stylize_chunk
from stylize.inference.image import ApplySettings, default_batch
from stylize.inference.model_file import StyleModel
from stylize.inference.styles import load_mix, load_style, parse_style_names, style_dir
from stylize.nets.device import check_precision, place, resolve_device
from stylize.output_folder import OutputFolder, refuse_non_folder
from stylize.progress import ProgressBar
from stylize.values import check_setting

if TYPE_CHECKING:
    from stylize.inference.ray_engine import RayRun

MANIFEST_NAME = "manifest.jsonl"


@dataclass
class ApplyResult:
    out_dir: Path
    manifest: Path
    written: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)  # already up to date
    failed: list[str] = field(default_factory=list)  # one message per bad input, naming its path
    seconds: float = 0.0

    def summary(self) -> str:
        rate = f", {len(self.written) / self.seconds:.1f} img/s" if self.written and self.seconds > 0 else ""
        return (
            f"stylized {len(self.written)} images{rate}, {len(self.skipped)} already up to date, "
            f"{len(self.failed)} inputs failed -> {self.out_dir}"
        )


# --- the work itself: the same code in-process and in pool workers ---------------------------------------


_WORKER: Worker | None = None


def _load_source(name: str, source: list[tuple[str, float]]) -> StyleModel:
    """A style from its folder, or a mix from its styles' folders and weights."""
    from stylize.inference.reference_style import mix_styles
    from stylize.inference.styles import load_style_folder

    if len(source) == 1:
        return load_style_folder(source[0][0], name=name)
    parts = [load_style_folder(folder) for folder, _ in source]
    return mix_styles(parts, [weight for _, weight in source], name=name)


def _init_pool_worker(
    sources: dict[str, list[tuple[str, float]]], settings: ApplySettings, threads: int, out_dir: str
) -> None:
    """Pool initializer: load the styles once per worker process. Ctrl-C and SIGTERM are the parent's
    to handle (it ends its workers itself, see :func:`_end_pool`); a worker whose parent has gone ends."""
    global _WORKER
    from stylize.messages import show_warnings_as_lines

    show_warnings_as_lines()  # a damaged file's warning reads as the command's own line
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    threading.Thread(target=_end_with_parent, args=(os.getppid(),), daemon=True).start()
    torch.set_num_threads(threads)
    models = {name: _load_source(name, source) for name, source in sources.items()}
    _WORKER = Worker(
        {n: m.network for n, m in models.items()},
        {n: m.weights_sha256 for n, m in models.items()},
        {n: m.style_sha256 for n, m in models.items()},
        settings,
        torch.device("cpu"),
        Path(out_dir),
    )


def _end_with_parent(parent: int) -> None:
    """A pool worker's watch: end this process when the run that started it has gone (killed with SIGKILL)."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


def _process_chunk(tasks: Sequence[ApplyTask]) -> list[Outcome]:
    """Stylize a chunk of inputs (same-size ones share a network call) and write their outputs."""
    worker = _WORKER
    assert worker is not None and worker.out_dir is not None, "worker state not initialised"
    out_dir = worker.out_dir
    return stylize_chunk(worker, tasks, lambda target, png: atomic_write_bytes(out_dir / target, png))


# --- planning: which outputs each input needs --------------------------------------------------------------


def _input_files(
    inputs: Sequence[str | os.PathLike[str]], out_dir: Path, problems: list[str]
) -> list[tuple[Path, Path]]:
    """Images under ``inputs``, leaving out anything inside the output folder (a rerun must not eat its
    output); folders that cannot be read and names that are not files go to ``problems``."""
    out_resolved = out_dir.resolve()
    for item in inputs:
        resolved = Path(item).resolve()
        if Path(item).is_dir() and resolved == out_resolved:
            raise StylizeError(
                f"{out_dir}: the output folder is an input folder; choose an out_dir=DIR apart from the inputs",
                params=("out_dir",),
            )
        if Path(item).is_file() and out_resolved in resolved.parents:
            raise StylizeError(
                f"{item}: this input is inside the output folder {out_dir} (an earlier output?); give inputs "
                "from outside it, or choose another out_dir=DIR",
                params=("out_dir",),
            )
    files = [
        (path, relative)
        for path, relative in find_images(inputs, problems=problems)
        if out_resolved not in path.resolve().parents
    ]
    if not files and not problems:
        raise StylizeError(
            f"no images found in {', '.join(map(os.fspath, inputs))}; give PNG, JPEG, WebP, BMP, TIFF or GIF "
            "files or folders"
        )
    return files


def _plan_targets(
    files: list[tuple[Path, Path]], styles: list[str], style_folders: bool, prefix: str
) -> dict[Path, list[tuple[str, str]]]:
    """Output paths (relative to the output folder, POSIX) per input; refuses two inputs on one output."""
    plan: dict[Path, list[tuple[str, str]]] = {}
    owner: dict[str, Path] = {}
    for path, relative in files:
        for style in styles:
            parts = (
                ([style] if style_folders else [])
                + ([prefix] if prefix else [])
                + [relative.with_suffix(".png").as_posix()]
            )
            target = "/".join(parts)
            if target in owner and owner[target] != path:
                raise StylizeError(
                    f"{owner[target]} and {path} would both be written to {target}; "
                    "rename one of them or stylize them in separate runs"
                )
            owner[target] = path
            plan.setdefault(path, []).append((style, target))
    return plan


def _output_key(record: dict) -> str:
    return str(record["output"])


def read_apply_manifest(path: Path) -> dict[str, dict]:
    """Records of an apply manifest keyed by output path; torn or foreign lines are ignored."""
    return read_journal(path, _output_key)


def _up_to_date(record: dict | None, input_sha: str, model: StyleModel, settings: dict, target: Path) -> bool:
    """Whether ``record`` says ``target`` was made from this input, with this style's weights and its
    settings in model.json (``style_sha256``; a record from before it was kept is stale), with these apply
    settings, and the file is still what was written."""
    if (
        record is None
        or record.get("input_sha256") != input_sha
        or record.get("model_sha256") != model.weights_sha256
        or record.get("style_sha256") != model.style_sha256
        or record.get("settings") != settings
        or not target.is_file()
    ):
        return False
    return sha256_file(target) == record.get("output_sha256")


# --- the public entry point --------------------------------------------------------------------------------


def apply(
    styles: str | Sequence[str],
    inputs: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    strength: float = 1.0,
    preserve_color: bool = False,
    scale: float = 1.0,
    keep_values: float | None = None,
    device: str = "auto",
    precision: str = "fp32",
    workers: int = 1,
    batch: int | None = None,
    style_folders: bool | None = None,
    prefix: str = "",
    mix: str | None = None,
    styles_dir: str | os.PathLike[str] | None = None,
    config: PipelineConfig | None = None,
    progress: bool = True,
    engine: str = "local",
    address: str | None = None,
    actors: int | None = None,
    actor_cpus: int = 1,
) -> ApplyResult:
    """Stylize every image in ``inputs`` with each style into ``out_dir``; see the module docstring.

    ``style_folders`` puts each style's outputs in its own subfolder (default: when several styles
    are given); ``prefix`` is a folder inserted after the style folder. ``mix`` ("a:0.7,b:0.3")
    paints with one network mixing zero-training styles instead of ``styles`` (pass ``styles=()``);
    its outputs are named after the mix (``a-0.70+b-0.30``). ``precision`` bf16 or fp16 runs the
    networks under autocast (mixed precision, for a GPU; recorded in the manifest). ``keep_values``
    0..1 keeps each portrait's own light and dark under the style (not given: ``[styles] keep_values``).

    ``engine="ray"`` stylizes on a Ray cluster's actors (``actors`` of them, ``actor_cpus`` CPUs and
    torch threads each; one style load per actor) at ``address`` (default: ``RAY_ADDRESS``, else a
    Ray instance started here); inputs, outputs, manifest and resume are the local engine's.
    """
    started = time.perf_counter()
    config = config or default_config()
    keep = config.styles.keep_values if keep_values is None else keep_values
    settings = ApplySettings(strength, preserve_color, scale, precision, keep_values=keep)
    if mix is not None and styles:
        raise StylizeError("give styles or a mix, not both", params=("styles", "mix"))
    names = parse_style_names(styles) if mix is None else []
    given = dict(workers=workers, batch=batch, engine=engine, address=address, actors=actors, actor_cpus=actor_cpus)
    for name, value in given.items():
        check_setting(name, value, PARAMETERS[name].kind)
    ray_run = None
    if engine == "ray":  # the actors choose their device and default batch; this process plans and writes
        from stylize.inference.ray_engine import RayRun

        ray_run = RayRun.prepare(address, actors, actor_cpus, workers, device)  # refused here without Ray
        torch_device = torch.device("cpu")
    else:
        for name, value, unset in (("address", address, None), ("actors", actors, None), ("actor_cpus", actor_cpus, 1)):
            if value != unset:
                raise StylizeError(
                    f"{name}={value} is for engine=ray; add engine=ray or leave it out", params=(name, "engine")
                )
        torch_device = resolve_device(device)
        check_precision(precision, torch_device)
        if workers > 1 and torch_device.type != "cpu":
            raise StylizeError(
                f"workers={workers} is for CPU runs; on a GPU use batch=N instead (or device=cpu)",
                params=("workers", "batch", "device"),
            )
        batch = batch if batch is not None else default_batch(torch_device)

    sources: dict[str, list[tuple[str, float]]]
    if mix is not None:
        from stylize.inference.reference_style import parse_mix

        mixed = load_mix(mix, styles_dir, config)
        names = [mixed.name]
        models: dict[str, StyleModel] = {mixed.name: mixed}
        sources = {
            mixed.name: [(os.fspath(style_dir(n, styles_dir, config)), w) for n, w in parse_mix(mix)],
        }
    else:
        sources = {name: [(os.fspath(style_dir(name, styles_dir, config)), 1.0)] for name in names}
        models = {name: load_style(name, styles_dir, config) for name in names}
    out_path = Path(out_dir)
    refuse_non_folder(out_path)  # before the inputs are read: the mistake costs nothing
    problems: list[str] = []
    files = _input_files(inputs, out_path, problems)
    style_folders = len(names) > 1 if style_folders is None else style_folders
    if len(names) > 1 and not style_folders:
        raise StylizeError("several styles need one subfolder each; leave style_folders on (the default)")
    plan = _plan_targets(files, names, style_folders, prefix)
    input_paths = {path.resolve() for path, _ in files}
    for targets in plan.values():
        for _, target in targets:
            if (out_path / target).resolve() in input_paths:
                raise StylizeError(
                    f"{out_path / target}: output would overwrite an input; choose an out_dir=DIR apart from the inputs",
                    params=("out_dir",),
                )

    result = ApplyResult(out_path, out_path / MANIFEST_NAME, failed=problems)
    with OutputFolder(out_path) as folder:  # made, locked (a second run waits), writes kept inside
        for path, targets in list(plan.items()):
            try:
                for _, target in targets:
                    folder.target(target)
            except StylizeError as err:  # this input's output would go through a link: it fails alone
                result.failed.append(str(err))
                del plan[path]
        # Read the manifest only now, under the lock: a run that held the folder before us is finished.
        journal = Journal(result.manifest, _output_key, sort_keys=True)
        journal.quarantine()
        tasks = _pending_tasks(plan, journal, models, settings, out_path, result)
        try:
            if tasks:
                _run_all(
                    tasks,
                    journal,
                    _Run(sources, models, settings, torch_device, workers, batch, out_path, ray_run),
                    result,
                    progress,
                )
        finally:
            # One clean, sorted manifest (atomic), also after Ctrl-C: finished outputs are kept.
            if journal.records or result.manifest.exists():
                journal.rewrite()
    result.seconds = time.perf_counter() - started
    return result


def _pending_tasks(
    plan: dict[Path, list[tuple[str, str]]],
    journal: Journal[str],
    models: dict[str, StyleModel],
    settings: ApplySettings,
    out_path: Path,
    result: ApplyResult,
) -> list[ApplyTask]:
    """The inputs with outputs still to make (changed input, model or settings, missing or altered output)."""
    settings_record = settings.record()
    tasks: list[ApplyTask] = []
    for path, targets in plan.items():
        try:
            input_sha = sha256_file(path)
        except OSError as err:
            result.failed.append(f"{path}: cannot read portrait ({err.strerror}); check the file's permissions")
            continue
        pending = []
        for style, target in targets:
            if _up_to_date(journal.records.get(target), input_sha, models[style], settings_record, out_path / target):
                result.skipped.append(out_path / target)
            else:
                pending.append((style, target))
        if pending:
            tasks.append(ApplyTask(path, tuple(pending)))
    return tasks


@dataclass(frozen=True)
class _Run:
    """How the pending outputs are made: the styles (loaded, and where pool workers load them from),
    the settings, the device, the pool and batch sizes, and the output folder."""

    sources: dict[str, list[tuple[str, float]]]
    models: dict[str, StyleModel]
    settings: ApplySettings
    device: torch.device
    workers: int
    batch: int | None  # None only for engine="ray", whose actors choose it for their device
    out_dir: Path
    ray: RayRun | None = None  # engine="ray": the cluster and its actors; None: this machine


def _run_all(tasks: list[ApplyTask], journal: Journal[str], run: _Run, result: ApplyResult, progress: bool) -> None:
    """Make every pending output, appending each record to the manifest as it is finished."""
    names = sorted({style for task in tasks for style, _ in task.outputs})
    outputs_total = sum(len(task.outputs) for task in tasks)
    bar = ProgressBar(  # tqdm that also tells a listener (the studio's cast export) how far it is
        total=outputs_total, desc=f"apply {','.join(names)}", unit="img", disable=None if progress else True
    )
    outcomes = _run_tasks(tasks, run)
    with journal, bar, closing(outcomes):  # closed at once on Ctrl-C: a pool's workers end with it
        for outcome in outcomes:
            if outcome.error:
                result.failed.append(outcome.error)
                bar.set_postfix(failed=len(result.failed))
            for record in outcome.records:
                journal.append(record)
                result.written.append(run.out_dir / record["output"])
            bar.update(len(outcome.records))


def _run_tasks(tasks: list[ApplyTask], run: _Run) -> Iterable[Outcome]:
    global _WORKER
    if run.ray is not None:
        yield from run.ray.run(tasks, run.batch, run.models, run.settings, run.out_dir)
        return
    assert run.batch is not None
    if run.workers == 1:
        _WORKER = Worker(
            {n: place(m.network, run.device) for n, m in run.models.items()},
            {n: m.weights_sha256 for n, m in run.models.items()},
            {n: m.style_sha256 for n, m in run.models.items()},
            run.settings,
            run.device,
            run.out_dir,
        )
        try:
            for chunk in chunks(tasks, run.batch):
                yield from _process_chunk(chunk)
        finally:
            _WORKER = None
        return
    threads = max(1, (os.cpu_count() or 1) // run.workers)
    context = multiprocessing.get_context("spawn")  # no fork of a process that holds torch threads
    executor = ProcessPoolExecutor(
        max_workers=run.workers,
        mp_context=context,
        initializer=_init_pool_worker,
        initargs=(run.sources, run.settings, threads, os.fspath(run.out_dir)),
    )
    # Futures of our own, not executor.map: its clean-up cancels them, and Python 3.11's pool then fails
    # on the cancelled ones when _end_pool breaks it (an "Exception in thread" traceback).
    futures = [executor.submit(_process_chunk, chunk) for chunk in chunks(tasks, run.batch)]
    finished = False
    try:
        for future in futures:
            yield from future.result()
        finished = True
    finally:
        if finished:
            executor.shutdown(wait=True)
        else:  # Ctrl-C, SIGTERM or an error: stop now, not after the chunks in progress
            _end_pool(executor, tasks, run.out_dir)


def _end_pool(executor: ProcessPoolExecutor, tasks: list[ApplyTask], out_dir: Path) -> None:
    """Kill the pool's workers (they ignore SIGINT and SIGTERM) and remove the temporary files of the
    outputs they were writing: what a run stopped halfway leaves is whole outputs and nothing else."""
    with signals.held():  # a second Ctrl-C waits for this moment's work
        workers = list((getattr(executor, "_processes", None) or {}).values())  # Python 3.11 cannot end them
        for worker in workers:
            worker.kill()
        for worker in workers:
            worker.join()
        executor.shutdown(wait=True)  # the pool, broken now, fails what was pending (none is cancelled)
        _remove_temporary_files(out_dir, tasks)


def _remove_temporary_files(out_dir: Path, tasks: list[ApplyTask]) -> None:
    """Remove ``.NAME.XXXXXXXX.tmp`` (atomic_write_bytes's temporary file, :data:`stylize.faults.TEMP_FILE`)
    of every output of ``tasks``."""
    names: dict[Path, set[str]] = {}
    for task in tasks:
        for _, target in task.outputs:
            path = out_dir / target
            names.setdefault(path.parent, set()).add(path.name)
    for folder, wanted in names.items():
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            found = TEMP_FILE.match(entry.name)
            if found and found.group("name") in wanted:
                try:
                    os.unlink(entry.path)
                except OSError:
                    pass
