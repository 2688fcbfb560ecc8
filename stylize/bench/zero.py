"""``stylize bench zero REF ...``: the figures the zero-training styles promise.

For each reference: the time to make its style (the predictor, once), the time to paint one
portrait on one thread (the transformer with the face guard, and without it), both beside the
``johnson`` trained network timed in the same run (the baseline), the end-to-end time of a 16-face
preview from the command line (a fresh process, as a user runs it), what N styles cost in one
network against N separate networks, and the face judge's figures (:mod:`stylize.evaluation.judge`:
same person, rank-1, value order and spread, faces detected) on the same 16 faces, styled as a user
gets them (the face guard on).
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from stylize.bench.timing import BASELINE, MIN_RUNS, MIN_SECONDS, seeded_network, time_call

if TYPE_CHECKING:
    import torch


@dataclass
class ZeroTrainingRow:
    reference: str
    make_ms: float
    portrait_ms: float  # 1 thread, with the face guard (a composited face, so the guard has work)
    portrait_ms_unguarded: float
    baseline_ms: float  # the johnson network on the same portrait, same run
    preview_seconds: float | None  # `stylize preview --refs REF --content compose:0-15`, end to end
    faces: int = 0  # the face judge's portraits: JUDGE_SEEDS, styled with the guard
    faces_judged: int = 0  # inputs in which the judge finds a face
    same_person: int = 0
    rank1: int = 0
    faces_detected: int = 0  # outputs in which the judge's detector finds a face, of faces
    value_order: float = float("nan")
    value_spread: float = float("nan")


@dataclass
class SharingRow:
    styles: int
    one_network_bytes: int  # the transformer once + N style vectors
    separate_bytes: int  # N copies of transformer + vector


JUDGE_SEEDS = "0-15"  # the faces the preview timing styles


def _weights_bytes(module: torch.nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in [*module.parameters(), *module.buffers()])


def bench_zero_training(
    refs: Sequence[str | os.PathLike[str]],
    *,
    parts: str | os.PathLike[str] | None = None,
    preview: bool = True,
    min_runs: int = MIN_RUNS,
    min_seconds: float = MIN_SECONDS,
    progress: Callable[[str], None] | None = None,
) -> tuple[list[ZeroTrainingRow], list[SharingRow]]:
    import torch

    from stylize.content.compose import iter_faces
    from stylize.evaluation.judge import judge_faces, judge_input
    from stylize.inference.arbitrary import Guard, ReferenceNet
    from stylize.inference.image import stylize_rgb, to_tensor
    from stylize.inference.reference_style import in_memory_style

    faces = [face.rgb for face in iter_faces(JUDGE_SEEDS, parts)]
    portrait = to_tensor(faces[0])
    found = [judge_input(rgb) for rgb in faces]  # the unstyled faces, judged once for every reference
    rows: list[ZeroTrainingRow] = []
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        baseline = seeded_network(BASELINE)
        with torch.inference_mode():
            baseline_ms = time_call(lambda: baseline(portrait), min_runs=min_runs, min_seconds=min_seconds)
        in_memory_style("warm-up", [refs[0]])  # load the engine once, as a running process has it
        for ref in refs:
            started = time.perf_counter()
            model = in_memory_style(Path(ref).stem, [ref])
            make_ms = (time.perf_counter() - started) * 1000
            network = model.network
            assert isinstance(network, ReferenceNet)
            unguarded = Guard(face_style=1.0, face_detail=0.0)
            plain = ReferenceNet(network.vectors, [1.0], network.neutral, unguarded, transformer=network.transformer)
            guarded_ms = _portrait_ms(network, portrait, min_runs, min_seconds)
            plain_ms = _portrait_ms(plain, portrait, min_runs, min_seconds)
            seconds = _preview_seconds(ref, parts) if preview else None
            with torch.inference_mode():
                judged = judge_faces(faces, [stylize_rgb(network, rgb) for rgb in faces], found=found)
            rows.append(
                ZeroTrainingRow(
                    Path(ref).name,
                    make_ms,
                    guarded_ms,
                    plain_ms,
                    baseline_ms,
                    seconds,
                    faces=judged.portraits,
                    faces_judged=judged.judged,
                    same_person=judged.same_person,
                    rank1=judged.rank1,
                    faces_detected=judged.faces_detected,
                    value_order=judged.value_order,
                    value_spread=judged.value_spread,
                )
            )
            if progress:
                progress(f"{Path(ref).name}: make {make_ms:.0f} ms, portrait {guarded_ms:.0f} ms (1 thread)")
    finally:
        torch.set_num_threads(previous)
    transformer_bytes = _weights_bytes(plain.transformer)
    vector_bytes = 100 * 4
    sharing = [
        SharingRow(n, transformer_bytes + n * vector_bytes, n * (transformer_bytes + vector_bytes)) for n in (1, 4, 13)
    ]
    return rows, sharing


def _portrait_ms(network: torch.nn.Module, portrait: torch.Tensor, min_runs: int, min_seconds: float) -> float:
    import torch

    with torch.inference_mode():
        return time_call(lambda: network(portrait), min_runs=min_runs, min_seconds=min_seconds)


def _preview_seconds(ref: str | os.PathLike[str], parts: str | os.PathLike[str] | None) -> float:
    """Wall time of a 16-face preview of ``ref`` in a fresh process (start-up included)."""
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, "-m", "stylize", "preview", "--refs", os.fspath(ref), "--content", "compose:0-15"]
        command += ["--out", out, "-q"] + (["--parts", os.fspath(parts)] if parts else [])
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        return time.perf_counter() - started


def format_zero_training(rows: Sequence[ZeroTrainingRow], sharing: Sequence[SharingRow]) -> str:
    lines = [
        "zero-training styles (1 thread; baseline: the johnson network on the same portrait, same run):",
        f"{'reference':<32} {'make ms':>8} {'ms/portrait':>11} {'no guard':>9} {'x baseline':>10} {'preview 16 s':>12} "
        f"{'same person':>11} {'value spread':>12} {'rank-1':>7} {'value order':>11} {'detected':>8}",
    ]
    for r in rows:
        preview = f"{r.preview_seconds:.1f}" if r.preview_seconds is not None else "-"
        lines.append(
            f"{r.reference:<32} {r.make_ms:>8.0f} {r.portrait_ms:>11.0f} {r.portrait_ms_unguarded:>9.0f} "
            f"{r.portrait_ms / r.baseline_ms:>10.2f} {preview:>12} {f'{r.same_person}/{r.faces_judged}':>11} "
            f"{_figure(r.value_spread):>12} {f'{r.rank1}/{r.faces_judged}':>7} {_figure(r.value_order):>11} "
            f"{f'{r.faces_detected}/{r.faces}':>8}"
        )
    lines.append(
        f"face judge (dlib, independent of the guard) on compose:{JUDGE_SEEDS}: same person = descriptor within 0.6 "
        "of the unstyled face's; value spread = std of face lightness after / before"
    )
    lines.append("")
    lines.append(f"{'styles':>6} {'one network':>12} {'separate':>10}")
    for s in sharing:
        lines.append(f"{s.styles:>6} {s.one_network_bytes:>12,} {s.separate_bytes:>10,}")
    return "\n".join(lines)


def _figure(value: float) -> str:
    return f"{value:.2f}" if math.isfinite(value) else "-"


__all__ = ["SharingRow", "ZeroTrainingRow", "bench_zero_training", "format_zero_training"]
