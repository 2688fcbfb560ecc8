"""The work of bulk apply on one chunk of inputs, the same in every engine: in ``apply``'s own process,
in its pool's workers and in Ray's actors (:mod:`stylize.inference.bulk`,
:mod:`stylize.inference.ray_engine`). Read, decode, stylize same-size portraits in one network call,
encode; each output's PNG is handed to a ``write`` of the caller's, then its manifest record made.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from stylize.errors import ImageReadError, StylizeError
from stylize.faults import MachineError
from stylize.files import sha256_bytes
from stylize.imageio import LoadedImage, encode_png, read_image
from stylize.inference.image import ApplySettings, stylize_batch, to_tensor, to_uint8
from stylize.inference.tiling import is_out_of_memory


@dataclass(frozen=True)
class ApplyTask:
    """One input file and the outputs (style, path relative to the output folder) it still needs."""

    source: Path
    outputs: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Outcome:
    """What became of one input: the records of the outputs made, and the one-line error if it failed."""

    records: list[dict]
    error: str | None = None


@dataclass
class Worker:
    """What the work needs: the styles' networks (on ``device``), their weights' hashes and their
    :func:`~stylize.inference.model_file.style_sha256` (weights and settings), the apply settings."""

    networks: dict[str, torch.nn.Module]
    model_hashes: dict[str, str]
    style_hashes: dict[str, str]
    settings: ApplySettings
    device: torch.device
    out_dir: Path | None  # where outputs are written; None where they are handed back (Ray actors)


def read_input(source: Path) -> bytes:
    """An input file's bytes; an unreadable file is an :class:`ImageReadError` naming it."""
    try:
        with open(source, "rb") as stream:  # read-only: inputs are never opened for writing
            return stream.read()
    except OSError as err:
        raise ImageReadError(f"{source}: cannot read portrait ({err.strerror}); check the file's permissions") from err


def _decode(task: ApplyTask, data: bytes | None = None) -> tuple[LoadedImage, str]:
    data = read_input(task.source) if data is None else data
    image = read_image(task.source, what="portrait", data=data)
    return image, sha256_bytes(data)


def stylize_chunk(
    worker: Worker,
    tasks: Sequence[ApplyTask],
    write: Callable[[str, bytes], None],
    data: Sequence[bytes] | None = None,
) -> list[Outcome]:
    """Stylize a chunk of inputs (same-size ones share a network call), handing each output's PNG to
    ``write(target, png)`` before its record is made. ``data`` are the inputs' bytes when the caller
    read them (a Ray actor gets them from the driver); else each input is read here."""
    outcomes: list[Outcome | None] = [None] * len(tasks)
    decoded: dict[int, tuple[LoadedImage, str]] = {}
    for index, task in enumerate(tasks):
        try:
            decoded[index] = _decode(task, None if data is None else data[index])
        except ImageReadError as err:
            outcomes[index] = Outcome([], str(err))
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
                    write(target, png)
                    records[i].append(
                        {
                            "output": target,
                            "input": os.fspath(tasks[i].source),
                            "input_sha256": input_sha,
                            "style": style,
                            "model_sha256": worker.model_hashes[style],
                            "style_sha256": worker.style_hashes[style],
                            "settings": worker.settings.record(),
                            "width": image.size[0],
                            "height": image.size[1],
                            "alpha": image.alpha is not None,
                            "output_sha256": sha256_bytes(png),
                        }
                    )
        except (StylizeError, MemoryError, RuntimeError) as err:
            message = failure(err, [tasks[i].source for i in indices], decoded[indices[0]][0].size)
            for i in indices:
                outcomes[i] = Outcome(records[i], message)
            continue
        for i in indices:
            outcomes[i] = Outcome(records[i])
    return [outcome for outcome in outcomes if outcome is not None]


def failure(err: BaseException, sources: list[Path], size: tuple[int, int]) -> str:
    """The one line for inputs that could not be stylized: a StylizeError's own line, or out of memory
    with what to do; a fault of the machine (a full disk) stops the run, and any other error is a bug:
    both are raised."""
    names = ", ".join(map(os.fspath, sources))
    if isinstance(err, MachineError):  # a full disk or a read-only folder fails every input after it: stop
        raise err
    if isinstance(err, StylizeError):
        return f"{names}: {err}"
    if not isinstance(err, MemoryError) and not is_out_of_memory(err):
        raise err
    return (
        f"{names}: out of memory stylizing this {size[0]}x{size[1]} image; free memory (fewer workers, a "
        "smaller batch, other programs closed) or give a scale above 1 to run the network on a smaller image"
    )


def chunks(tasks: list[ApplyTask], size: int) -> Iterator[list[ApplyTask]]:
    for start in range(0, len(tasks), size):
        yield tasks[start : start + size]
