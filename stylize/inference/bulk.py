"""Stylizing portraits in bulk: one or several styles, resumable, atomic, inputs never touched.

``apply(styles, inputs, out_dir)`` finds every image under ``inputs`` (files, folders searched
recursively) and writes ``out_dir/REL.png`` (``out_dir/STYLE/REL.png`` for several styles), where
REL is the file's path relative to the input it was found in. Each output keeps its input's exact
size and alpha channel. ``out_dir/manifest.jsonl`` records, per output, the input's and model's
SHA-256, the settings and the output's SHA-256; a rerun skips every output whose record still
matches, and redoes the rest (changed input, model or settings, or a missing or altered output).
Each finished output is appended to the manifest at once, so a run killed at any point resumes
where it stopped and ends with the same bytes as an uninterrupted run.

A bad input (truncated, unsupported, zero-size, unreadable) is reported with its path and skipped;
the run goes on and ``ApplyResult.failed`` lists it. CPU runs can use a process pool (``workers``);
``batch`` stacks same-size portraits into one network call (useful on a GPU).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from stylize.config import APPLY_BATCH, WORKERS, PipelineConfig, default_config
from stylize.errors import ImageReadError, StylizeError
from stylize.files import Journal, read_journal, sha256_bytes, sha256_file
from stylize.imageio import LoadedImage, atomic_write_bytes, encode_png, find_images, read_image
from stylize.inference.image import ApplySettings, default_batch, stylize_batch, to_tensor, to_uint8
from stylize.inference.model_file import StyleModel
from stylize.inference.styles import load_mix, load_style, parse_style_names, style_dir
from stylize.inference.tiling import is_out_of_memory
from stylize.nets.device import resolve_device
from stylize.values import check_setting

MANIFEST_NAME = "manifest.jsonl"


@dataclass(frozen=True)
class ApplyTask:
    """One input file and the outputs (style, path relative to the output folder) it still needs."""

    source: Path
    outputs: tuple[tuple[str, str], ...]


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


@dataclass(frozen=True)
class _Outcome:
    records: list[dict]
    error: str | None = None


# --- the work itself: the same code in-process and in pool workers ---------------------------------------


@dataclass
class _Worker:
    networks: dict[str, torch.nn.Module]
    model_hashes: dict[str, str]
    settings: ApplySettings
    device: torch.device
    out_dir: Path


_WORKER: _Worker | None = None


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
    """Pool initializer: load the styles once per worker process; Ctrl-C is the parent's to handle."""
    global _WORKER
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(threads)
    models = {name: _load_source(name, source) for name, source in sources.items()}
    _WORKER = _Worker(
        {n: m.network for n, m in models.items()},
        {n: m.weights_sha256 for n, m in models.items()},
        settings,
        torch.device("cpu"),
        Path(out_dir),
    )


def _decode(task: ApplyTask) -> tuple[LoadedImage, str]:
    try:
        with open(task.source, "rb") as stream:  # read-only: inputs are never opened for writing
            data = stream.read()
    except OSError as err:
        raise ImageReadError(
            f"{task.source}: cannot read portrait ({err.strerror}); check the file's permissions"
        ) from err
    image = read_image(task.source, what="portrait", data=data)
    return image, sha256_bytes(data)


def _process_chunk(tasks: Sequence[ApplyTask]) -> list[_Outcome]:
    """Stylize a chunk of inputs (same-size ones share a network call) and write their outputs."""
    worker = _WORKER
    assert worker is not None, "worker state not initialised"
    outcomes: list[_Outcome | None] = [None] * len(tasks)
    decoded: dict[int, tuple[LoadedImage, str]] = {}
    for index, task in enumerate(tasks):
        try:
            decoded[index] = _decode(task)
        except ImageReadError as err:
            outcomes[index] = _Outcome([], str(err))
    by_shape: dict[tuple[int, int], list[int]] = {}
    for index, (image, _) in decoded.items():
        by_shape.setdefault(image.rgb.shape[:2], []).append(index)
    styles_needed = sorted({style for task in tasks for style, _ in task.outputs})
    for indices in by_shape.values():
        records: dict[int, list[dict]] = {i: [] for i in indices}
        try:  # a file that cannot be stylized (out of memory) fails alone; the run goes on
            content = torch.cat([to_tensor(decoded[i][0].rgb) for i in indices]).to(worker.device)
            for style in styles_needed:
                members = [i for i in indices if any(s == style for s, _ in tasks[i].outputs)]
                if not members:
                    continue
                rows = [indices.index(i) for i in members]
                batch = content if len(rows) == len(indices) else content[rows]  # no copy of a big image
                styled = stylize_batch(worker.networks[style], batch, worker.settings)
                for row, i in enumerate(members):
                    image, input_sha = decoded[i]
                    target = dict(tasks[i].outputs)[style]
                    png = encode_png(to_uint8(styled[row : row + 1]), image.alpha)
                    atomic_write_bytes(worker.out_dir / target, png)
                    records[i].append(
                        {
                            "output": target,
                            "input": os.fspath(tasks[i].source),
                            "input_sha256": input_sha,
                            "style": style,
                            "model_sha256": worker.model_hashes[style],
                            "settings": worker.settings.record(),
                            "width": image.size[0],
                            "height": image.size[1],
                            "alpha": image.alpha is not None,
                            "output_sha256": sha256_bytes(png),
                        }
                    )
        except (StylizeError, MemoryError, RuntimeError) as err:
            message = _failure(err, [tasks[i].source for i in indices], decoded[indices[0]][0].size)
            for i in indices:
                outcomes[i] = _Outcome(records[i], message)
            continue
        for i in indices:
            outcomes[i] = _Outcome(records[i])
    return [outcome for outcome in outcomes if outcome is not None]


def _failure(err: BaseException, sources: list[Path], size: tuple[int, int]) -> str:
    """The one line for inputs that could not be stylized: a StylizeError's own line, or out of memory
    with what to do; any other error is a bug and is raised."""
    names = ", ".join(map(os.fspath, sources))
    if isinstance(err, StylizeError):
        return f"{names}: {err}"
    if not isinstance(err, MemoryError) and not is_out_of_memory(err):
        raise err
    return (
        f"{names}: out of memory stylizing this {size[0]}x{size[1]} image; free memory (fewer workers, a "
        "smaller batch, other programs closed) or give a scale above 1 to run the network on a smaller image"
    )


# --- planning: which outputs each input needs --------------------------------------------------------------


def _input_files(inputs: Sequence[str | os.PathLike[str]], out_dir: Path) -> list[tuple[Path, Path]]:
    """Images under ``inputs``, leaving out anything inside the output folder (a rerun must not eat its output)."""
    out_resolved = out_dir.resolve()
    for item in inputs:
        if Path(item).is_dir() and Path(item).resolve() == out_resolved:
            raise StylizeError(
                f"{out_dir}: the output folder is an input folder; choose an out_dir=DIR apart from the inputs",
                params=("out_dir",),
            )
    files = [(path, relative) for path, relative in find_images(inputs) if out_resolved not in path.resolve().parents]
    if not files:
        raise StylizeError(
            f"no images found in {', '.join(map(os.fspath, inputs))}; give PNG, JPEG or WebP files or folders"
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


def _up_to_date(record: dict | None, input_sha: str, model_sha: str, settings: dict, target: Path) -> bool:
    if (
        record is None
        or record.get("input_sha256") != input_sha
        or record.get("model_sha256") != model_sha
        or record.get("settings") != settings
        or not target.is_file()
    ):
        return False
    return sha256_file(target) == record.get("output_sha256")


def _chunks(tasks: list[ApplyTask], size: int) -> Iterator[list[ApplyTask]]:
    for start in range(0, len(tasks), size):
        yield tasks[start : start + size]


# --- the public entry point --------------------------------------------------------------------------------


def apply(
    styles: str | Sequence[str],
    inputs: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    strength: float = 1.0,
    preserve_color: bool = False,
    scale: float = 1.0,
    device: str = "auto",
    workers: int = 1,
    batch: int | None = None,
    style_folders: bool | None = None,
    prefix: str = "",
    mix: str | None = None,
    styles_dir: str | os.PathLike[str] | None = None,
    config: PipelineConfig | None = None,
    progress: bool = True,
) -> ApplyResult:
    """Stylize every image in ``inputs`` with each style into ``out_dir``; see the module docstring.

    ``style_folders`` puts each style's outputs in its own subfolder (default: when several styles
    are given); ``prefix`` is a folder inserted after the style folder. ``mix`` ("a:0.7,b:0.3")
    paints with one network mixing zero-training styles instead of ``styles`` (pass ``styles=()``);
    its outputs are named after the mix (``a-0.70+b-0.30``).
    """
    started = time.perf_counter()
    config = config or default_config()
    settings = ApplySettings(strength=strength, preserve_color=preserve_color, scale=scale)
    if mix is not None and styles:
        raise StylizeError("give styles or a mix, not both", params=("styles", "mix"))
    names = parse_style_names(styles) if mix is None else []
    check_setting("workers", workers, WORKERS)
    torch_device = resolve_device(device)
    if workers > 1 and torch_device.type != "cpu":
        raise StylizeError(
            f"workers={workers} is for CPU runs; on a GPU use batch=N instead (or device=cpu)",
            params=("workers", "batch", "device"),
        )
    batch = batch if batch is not None else default_batch(torch_device)
    check_setting("batch", batch, APPLY_BATCH)

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
    if out_path.exists() and not out_path.is_dir():
        raise StylizeError(f"{out_path}: exists and is not a folder; choose another out_dir=DIR", params=("out_dir",))
    files = _input_files(inputs, out_path)
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

    manifest_path = out_path / MANIFEST_NAME
    journal = Journal(manifest_path, _output_key, sort_keys=True)
    result = ApplyResult(out_path, manifest_path)
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
            if _up_to_date(
                journal.records.get(target),
                input_sha,
                models[style].weights_sha256,
                settings_record,
                out_path / target,
            ):
                result.skipped.append(out_path / target)
            else:
                pending.append((style, target))
        if pending:
            tasks.append(ApplyTask(path, tuple(pending)))

    if tasks:
        out_path.mkdir(parents=True, exist_ok=True)
        outputs_total = sum(len(task.outputs) for task in tasks)
        try:
            with (
                journal,
                tqdm(
                    total=outputs_total, desc=f"apply {','.join(names)}", unit="img", disable=None if progress else True
                ) as bar,
            ):
                for outcome in _run_tasks(tasks, sources, models, settings, torch_device, workers, batch, out_path):
                    if outcome.error:
                        result.failed.append(outcome.error)
                        bar.set_postfix(failed=len(result.failed))
                    for record in outcome.records:
                        journal.append(record)
                        result.written.append(out_path / record["output"])
                    bar.update(len(outcome.records))
        finally:
            # One clean, sorted manifest (atomic), also after Ctrl-C: finished outputs are kept.
            if manifest_path.exists():
                journal.rewrite()
    result.seconds = time.perf_counter() - started
    return result


def _run_tasks(
    tasks: list[ApplyTask],
    sources: dict[str, list[tuple[str, float]]],
    models: dict[str, StyleModel],
    settings: ApplySettings,
    device: torch.device,
    workers: int,
    batch: int,
    out_dir: Path,
) -> Iterable[_Outcome]:
    global _WORKER
    if workers == 1:
        _WORKER = _Worker(
            {n: m.network.to(device) for n, m in models.items()},
            {n: m.weights_sha256 for n, m in models.items()},
            settings,
            device,
            out_dir,
        )
        try:
            for chunk in _chunks(tasks, batch):
                yield from _process_chunk(chunk)
        finally:
            _WORKER = None
        return
    threads = max(1, (os.cpu_count() or 1) // workers)
    context = multiprocessing.get_context("spawn")  # no fork of a process that holds torch threads
    executor = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=_init_pool_worker,
        initargs=(sources, settings, threads, os.fspath(out_dir)),
    )
    try:
        for outcomes in executor.map(_process_chunk, _chunks(tasks, batch)):
            yield from outcomes
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
