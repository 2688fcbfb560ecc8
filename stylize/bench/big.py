"""``stylize bench big SIDE``: what a big portrait costs against a game portrait.

For each style (one network per architecture is enough: the weights change neither speed nor
memory): seconds per megapixel of ``stylize_batch`` on a 295x285 portrait and on a SIDE x SIDE one
(tiled, :mod:`stylize.inference.tiling`), measured in the same process one after the other, and
their ratio; and the peak memory and wall time of ``stylize apply`` on the SIDE x SIDE PNG in a
fresh process, as a user runs it (read, stylize, encode, write, manifest). The peak is the child's
own high-water mark (``VmHWM``; its ``ru_maxrss`` would also count the pages of the parent it was
forked from).

The big portrait is a composited game face scaled up to SIDE x SIDE with a little noise (a photo's
grain; a smooth upscale alone would flatter the networks' statistics, see
docs/results/big_images.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stylize.bench.timing import PORTRAIT
from stylize.errors import StylizeError

STYLES = ("pencil", "pencil-nano")  # a magenta and a nano network: one per architecture is enough
RUNS = 2  # timed runs of the big portrait (the best is the figure)

_CHILD = """
import json, sys, time
from stylize.cli import main
started = time.perf_counter()
code = main(sys.argv[1:])
seconds = time.perf_counter() - started
peak = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"code": code, "seconds": seconds, "peak_bytes": int(peak.split()[1]) * 1024}))
"""


@dataclass
class BigImageRow:
    style: str
    arch: str
    side: int
    threads: int
    portrait_s_per_mp: float  # stylize_batch on a 295x285 portrait (best of the runs, at least 3 s of them)
    big_s_per_mp: float  # stylize_batch on the side x side portrait (tiled; best of the runs)
    ratio: float  # big / portrait
    apply_seconds: float  # `stylize apply` on the side x side PNG, a fresh process, end to end
    apply_peak_bytes: int  # that process's peak resident memory


def big_portrait(side: int, parts: str | os.PathLike[str] | None = None, seed: int = 0) -> np.ndarray:
    """A (side, side, 3) uint8 portrait: a composited face scaled up (Lanczos) with noise of 4 levels."""
    from PIL import Image

    from stylize.content.compose import iter_faces

    face = Image.fromarray(next(iter_faces([seed], parts)).rgb)
    big = np.asarray(face.resize((side, side), Image.LANCZOS), dtype=np.int16)
    noise = np.random.default_rng(seed).normal(0.0, 4.0, big.shape)
    return np.clip(big + noise, 0, 255).astype(np.uint8)


def _apply_in_child(png: Path, style: str, out: Path, styles_dir: str | os.PathLike[str] | None) -> dict:
    command = [sys.executable, "-c", textwrap.dedent(_CHILD), "apply", str(png), "--style", style]
    command += ["--out", str(out), "--device", "cpu", "-q"]
    if styles_dir is not None:
        command += ["--styles-dir", os.fspath(styles_dir)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise StylizeError(f"big-image bench: stylize apply with {style} failed: {done.stderr.strip()[-300:]}")
    return dict(json.loads(lines[-1]))


def bench_big_images(
    styles: Sequence[str],
    side: int,
    *,
    runs: int = RUNS,
    parts: str | os.PathLike[str] | None = None,
    styles_dir: str | os.PathLike[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[BigImageRow]:
    import torch
    from PIL import Image

    from stylize.inference.image import stylize_batch, to_tensor
    from stylize.inference.styles import load_style

    rows = []
    rgb = big_portrait(side, parts)
    portrait = np.asarray(Image.fromarray(rgb).resize((PORTRAIT[1], PORTRAIT[0]), Image.LANCZOS))
    with tempfile.TemporaryDirectory(prefix="stylize-bench-") as scratch:
        png = Path(scratch) / f"portrait_{side}.png"
        Image.fromarray(rgb).save(png, compress_level=1)
        big = to_tensor(rgb)
        small = to_tensor(portrait)
        del rgb
        for style in styles:
            model = load_style(style, styles_dir)
            network = model.network
            arch = str(model.metadata.get("architecture", {}).get("name", type(network).__name__))
            stylize_batch(network, small)  # warm-up
            # Best of the runs, both sizes: on a shared machine the best run is the one least slowed by others.
            small_times: list[float] = []
            started = time.perf_counter()
            while len(small_times) < 5 or time.perf_counter() - started < 3.0:
                begin = time.perf_counter()
                stylize_batch(network, small)
                small_times.append(time.perf_counter() - begin)
            big_times = []
            for _ in range(runs):
                begin = time.perf_counter()
                stylize_batch(network, big)
                big_times.append(time.perf_counter() - begin)
            portrait_rate = min(small_times) / (PORTRAIT[0] * PORTRAIT[1] / 1e6)
            big_rate = min(big_times) / (side * side / 1e6)
            if progress:
                progress(f"{style}: {portrait_rate:.2f} s/MP portrait, {big_rate:.2f} s/MP at {side}x{side}")
            child = _apply_in_child(png, style, Path(scratch) / f"out_{style}", styles_dir)
            if progress:
                progress(f"{style}: apply {child['seconds']:.1f} s, peak {child['peak_bytes'] / 1e9:.2f} GB")
            rows.append(
                BigImageRow(
                    style=style,
                    arch=arch,
                    side=side,
                    threads=torch.get_num_threads(),
                    portrait_s_per_mp=portrait_rate,
                    big_s_per_mp=big_rate,
                    ratio=big_rate / portrait_rate,
                    apply_seconds=float(child["seconds"]),
                    apply_peak_bytes=int(child["peak_bytes"]),
                )
            )
    return rows


def format_big_images(rows: Sequence[BigImageRow]) -> str:
    if not rows:
        return ""
    side, threads = rows[0].side, rows[0].threads
    lines = [
        f"{side}x{side} portrait against a {PORTRAIT[1]}x{PORTRAIT[0]} one ({threads} threads; stylize_batch, "
        f"s per megapixel, same process); stylize apply on the {side}x{side} PNG in a fresh process:",
        f"{'style':<16} {'arch':<8} {'s/MP small':>10} {f's/MP {side}':>10} {'ratio':>6} {'apply s':>8} {'peak GB':>8}",
    ]
    for r in rows:
        lines.append(
            f"{r.style:<16} {r.arch:<8} {r.portrait_s_per_mp:>10.2f} {r.big_s_per_mp:>10.2f} {r.ratio:>6.2f} "
            f"{r.apply_seconds:>8.1f} {r.apply_peak_bytes / 1e9:>8.2f}"
        )
    return "\n".join(lines)


__all__ = ["BigImageRow", "bench_big_images", "big_portrait", "format_big_images"]
