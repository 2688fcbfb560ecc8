"""``stylize bench device --device cuda``: the figures of the GPU path, beside the CPU in the same run.

For each device (the CPU always, as the baseline; a CUDA GPU when asked for and present) and each
precision it can run:

- **apply**: portraits a second through :func:`stylize.inference.image.stylize_batch` (the network,
  resizing and clamping of ``stylize apply``, without file reading and writing) for a bundled
  ``magenta`` style and its ``nano`` student, at the game's 295x285 and at 1024x1024, in batches of
  :func:`~stylize.inference.image.default_batch` (8 on a GPU, 1 on the CPU);
- **train**: ms a step of ``stylize train`` with the default settings on a drawn reference (its
  ``ms_per_step``, the steps after the first), and steps a second.

A GPU figure is the ratio to the CPU's in the same run; a device or precision that cannot run is
listed as not measured, with why.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from stylize.errors import StylizeError
from stylize.nets.device_names import PRECISIONS

if TYPE_CHECKING:
    import torch

SIZES = ((285, 295), (1024, 1024))
STYLES = ("pencil", "pencil-nano")  # a bundled magenta style and its nano student
DEVICES = ("cpu", "cuda")  # the devices it can measure (the CPU always, first: the baseline)
SECONDS = 3.0  # each apply figure timed at least this long
TRAIN_STEPS = 6  # training steps timed (the first is left out)


@dataclass
class DeviceRow:
    what: str  # "apply STYLE HxW" or "train"
    device: str
    precision: str
    batch: int
    per_second: float | None  # portraits (apply) or steps (train) a second; None: not measured
    ms: float | None  # ms a portrait or a step
    note: str = ""


def _synchronize(device: torch.device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _apply_row(style: str, size: tuple[int, int], device: torch.device, precision: str, seconds: float) -> DeviceRow:
    import torch

    from stylize.inference.image import ApplySettings, default_batch, stylize_batch
    from stylize.inference.styles import load_style
    from stylize.nets.device import place

    batch = default_batch(device)
    network = place(load_style(style).network, device)
    content = torch.rand((batch, 3, *size), generator=torch.Generator().manual_seed(0)).to(device)
    settings = ApplySettings(precision=precision)
    stylize_batch(network, content, settings)  # warm-up: kernels, allocator, autotuning
    _synchronize(device)
    runs, started = 0, time.perf_counter()
    while runs < 2 or time.perf_counter() - started < seconds:
        stylize_batch(network, content, settings)
        _synchronize(device)
        runs += 1
    elapsed = time.perf_counter() - started
    per_second = runs * batch / elapsed
    return DeviceRow(f"apply {style} {size[0]}x{size[1]}", device.type, precision, batch, per_second, 1000 / per_second)


def _train_row(device: torch.device, precision: str, steps: int) -> DeviceRow:
    import stylize
    from stylize.training.settings import TrainSettings

    with tempfile.TemporaryDirectory(prefix="stylize-bench-train-") as temp:
        reference = Path(temp) / "hatch.png"
        _draw_reference(reference)
        settings = TrainSettings(minutes=None, steps=steps, precision=precision)
        result = stylize.train(
            "bench",
            [reference],
            settings=settings,
            styles_dir=Path(temp) / "styles",
            device=device.type,
            progress=False,
        )
    ms = result.metadata.get("ms_per_step")
    if not ms:
        return DeviceRow("train", device.type, precision, settings.batch, None, None, "no step timed")
    return DeviceRow("train", device.type, precision, settings.batch, 1000 / float(ms), float(ms))


def _draw_reference(path: Path) -> None:
    from stylize.imageio import write_png

    image = np.full((256, 256, 3), 236, np.uint8)
    for offset in range(-256, 256, 6):
        for y in range(256):
            x = offset + y
            if 0 <= x < 256:
                image[y, x] = (40, 40, 60)
    write_png(path, image)


def bench_device(
    devices: Sequence[str] = ("cpu",),
    *,
    precisions: Sequence[str] = PRECISIONS,
    seconds: float = SECONDS,
    train_steps: int = TRAIN_STEPS,
    train: bool = True,
    progress: Callable[[str], None] | None = None,
) -> list[DeviceRow]:
    """The rows for each device and precision (see the module docstring); the CPU comes first, always."""
    import torch

    from stylize.nets.device import check_precision

    say = progress or (lambda line: None)
    wanted = ["cpu", *[d for d in devices if d != "cpu"]]
    rows: list[DeviceRow] = []
    for name in wanted:
        if name == "cuda" and not torch.cuda.is_available():
            rows.append(DeviceRow("all", "cuda", "-", 0, None, None, "not measured: torch sees no CUDA GPU"))
            continue
        if name not in DEVICES:
            raise StylizeError(f"device={name!r}: give cpu or cuda", params=("device",))
        device = torch.device(name)
        for precision in precisions:
            try:
                check_precision(precision, device)
            except StylizeError as err:
                rows.append(DeviceRow("all", name, precision, 0, None, None, f"not measured: {err}"))
                continue
            for style in STYLES:
                for size in SIZES:
                    rows.append(_apply_row(style, size, device, precision, seconds))
                    say(_line(rows[-1]))
            if train:
                rows.append(_train_row(device, precision, train_steps))
                say(_line(rows[-1]))
    return rows


def _line(row: DeviceRow) -> str:
    if row.per_second is None:
        return f"{row.what:<28} {row.device:<5} {row.precision:<5} {'':>5} {'-':>10} {'-':>10}  {row.note}"
    return (
        f"{row.what:<28} {row.device:<5} {row.precision:<5} {row.batch:>5} {row.per_second:>10.2f} "
        f"{row.ms:>10.1f}  {row.note}"
    )


def format_device(rows: Sequence[DeviceRow]) -> str:
    """The table, with each GPU figure's ratio to the CPU's fp32 figure of the same row."""
    lines = [f"{'what':<28} {'dev':<5} {'prec':<5} {'batch':>5} {'per second':>10} {'ms each':>10}  x CPU fp32"]
    baseline = {r.what: r.per_second for r in rows if r.device == "cpu" and r.precision == "fp32"}
    for row in rows:
        ratio = ""
        base = baseline.get(row.what)
        if row.per_second and base and not (row.device == "cpu" and row.precision == "fp32"):
            ratio = f"{row.per_second / base:.2f}x"
        lines.append(_line(row) + ("  " + ratio if ratio else ""))
    return "\n".join(lines)
