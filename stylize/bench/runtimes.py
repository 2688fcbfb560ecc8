"""``stylize bench runtimes``: speed of the style networks, as ratios to the Johnson-size baseline in the same run.

Four measurements:

- **runtimes** (the shipping table): each network on one CPU thread (the game's budget is one
  second of one core per portrait) in eager PyTorch, ONNX Runtime, opencv-python's DNN module and,
  when it can be built, the C++ example (stylize/assets/cpp) against the system OpenCV (Debian's 4.6): ms
  per 295x285 portrait and per 74x72 thumbnail, parameters, safetensors and ONNX file sizes, the
  ratio to the ``johnson`` network in each runtime, and the share of the 1 s budget. The graphs are
  exactly what ``stylize export`` writes (fp32); opencv-python's importer refuses their dynamic
  height/width, so it is timed on a copy declared at each fixed size;
- **network**: eager PyTorch per thread count, with batch-4 throughput;
- **apply**: end-to-end ``stylize apply`` throughput (read, stylize, encode PNG, write, manifest)
  on composited faces, per ``--workers`` count;
- **kill/resume** (``--kill-resume N``): an apply run killed half-way and resumed, against an
  uninterrupted one.

Weights do not change the speed, so networks are freshly initialised (seeded); file sizes are the
bytes ``stylize train`` and ``stylize export`` would write.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from stylize.bench.timing import (
    BASELINE,
    GAME_BUDGET_MS,
    MIN_RUNS,
    MIN_SECONDS,
    PORTRAIT,
    THUMBNAIL,
    seeded_network,
    time_call,
)
from stylize.errors import StylizeError

THREADS = (1, 2)  # torch thread counts of the network table
APPLY_STYLE = "pencil"  # the style of the apply throughput
APPLY_IMAGES = 32  # faces of the apply throughput (0: no apply figures)
WORKERS = (1, 2)  # apply worker counts
KILL_RESUME_IMAGES = 500  # faces of the kill/resume check


@dataclass
class NetworkRow:
    arch: str
    runtime: str
    threads: int
    params: int
    file_bytes: int
    portrait_ms: float
    thumbnail_ms: float
    images_per_s: float
    batch4_images_per_s: float
    speedup_vs_johnson: float | None  # johnson ms / this ms, same runtime and threads
    budget_share: float  # portrait ms / the game's 1 s budget (meaningful at 1 thread)


@dataclass
class ApplyRow:
    style: str
    workers: int
    images: int
    seconds: float
    images_per_s: float


def bench_networks(
    archs: Sequence[str],
    threads: Sequence[int] = THREADS,
    *,
    min_runs: int = MIN_RUNS,
    min_seconds: float = MIN_SECONDS,
    progress: Callable[[str], None] | None = None,
) -> list[NetworkRow]:
    import torch

    from stylize.inference.model_file import state_to_bytes
    from stylize.nets.transformer import arch_spec

    for arch in archs:
        arch_spec(arch)
    rows: list[NetworkRow] = []
    previous_threads = torch.get_num_threads()
    try:
        for count in threads:
            torch.set_num_threads(count)
            measured: dict[str, NetworkRow] = {}
            for arch in dict.fromkeys([BASELINE, *archs]):
                network = seeded_network(arch)
                portrait = torch.rand(1, 3, *PORTRAIT, generator=torch.Generator().manual_seed(1))
                thumbnail = torch.rand(1, 3, *THUMBNAIL, generator=torch.Generator().manual_seed(2))
                batch4 = portrait.repeat(4, 1, 1, 1)
                with torch.inference_mode():  # the lambdas below run at once, inside this iteration
                    portrait_ms = time_call(lambda: network(portrait), min_runs=min_runs, min_seconds=min_seconds)
                    thumbnail_ms = time_call(lambda: network(thumbnail), min_runs=min_runs, min_seconds=min_seconds)
                    batch_ms = time_call(
                        lambda: network(batch4), min_runs=max(2, min_runs // 2), min_seconds=min_seconds
                    )
                measured[arch] = NetworkRow(
                    arch=arch,
                    runtime="torch",
                    threads=count,
                    params=sum(p.numel() for p in network.parameters()),
                    file_bytes=len(state_to_bytes(network)),
                    portrait_ms=portrait_ms,
                    thumbnail_ms=thumbnail_ms,
                    images_per_s=1000.0 / portrait_ms,
                    batch4_images_per_s=4000.0 / batch_ms,
                    speedup_vs_johnson=None,
                    budget_share=portrait_ms / GAME_BUDGET_MS,
                )
                if progress:
                    progress(f"{arch} torch {count} thread(s): {portrait_ms:.1f} ms per portrait")
            baseline_ms = measured[BASELINE].portrait_ms
            for arch in archs:
                row = measured[arch]
                row.speedup_vs_johnson = baseline_ms / row.portrait_ms
                rows.append(row)
    finally:
        torch.set_num_threads(previous_threads)
    return rows


@dataclass
class RuntimeRow:
    """One network on one CPU thread in each runtime (ms per 295x285 portrait and 74x72 thumbnail)."""

    arch: str
    params: int
    file_bytes: int  # safetensors, as stylize train writes it
    onnx_bytes: int  # fp32 ONNX, as stylize export writes it
    torch_portrait_ms: float
    torch_thumbnail_ms: float
    ort_portrait_ms: float
    ort_thumbnail_ms: float
    opencv_portrait_ms: float | None  # opencv-python's DNN, on a copy of the graph at each fixed size
    opencv_thumbnail_ms: float | None
    cpp_portrait_ms: float | None  # the C++ example against the system OpenCV (Debian's 4.6), dynamic-shape file
    cpp_thumbnail_ms: float | None
    vs_johnson: dict[str, float | None]  # johnson ms / this ms, per runtime (portrait), same run
    budget_share: float  # the best runtime's portrait ms with the value op (what export ships) / the game's 1 s
    opencv_version: str = ""
    cpp_opencv_version: str = ""
    # The same network followed by the value op (keep_values 1, the default export: stylize.inference.tone)
    values_onnx_bytes: int = 0
    ort_values_portrait_ms: float | None = None
    ort_values_thumbnail_ms: float | None = None
    cpp_values_portrait_ms: float | None = None
    cpp_values_thumbnail_ms: float | None = None


def _ort_ms(model_bytes: bytes, size: tuple[int, int], min_runs: int, min_seconds: float) -> float:
    import numpy as np

    from stylize.shipping.onnx_export import INPUT_NAME, ort_session

    session = ort_session(model_bytes, threads=1)
    blob = np.random.default_rng(1).random((1, 3, *_padded(size)), dtype=np.float32)
    return time_call(lambda: session.run(None, {INPUT_NAME: blob}), min_runs=min_runs, min_seconds=min_seconds)


def _opencv_ms(model_bytes: bytes, size: tuple[int, int], min_runs: int, min_seconds: float) -> float | None:
    import cv2
    import numpy as np

    from stylize.shipping.onnx_export import quiet_opencv, with_fixed_shape

    padded = _padded(size)
    blob = np.random.default_rng(1).random((1, 3, *padded), dtype=np.float32)
    previous_threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        with quiet_opencv(), tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "model.onnx"
            path.write_bytes(with_fixed_shape(model_bytes, *padded))
            net = cv2.dnn.readNetFromONNX(str(path))

        def forward() -> None:
            net.setInput(blob)
            net.forward()

        return time_call(forward, min_runs=min_runs, min_seconds=min_seconds)
    except cv2.error:
        return None
    finally:
        cv2.setNumThreads(previous_threads)


def _padded(size: tuple[int, int]) -> tuple[int, int]:
    from stylize.nets.transformer import padding_for

    pad_h, pad_w = padding_for(*size)
    return size[0] + pad_h, size[1] + pad_w


def bench_runtimes(
    archs: Sequence[str],
    *,
    min_runs: int = MIN_RUNS,
    min_seconds: float = MIN_SECONDS,
    cpp_binary: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[RuntimeRow]:
    """Each network on one thread in eager PyTorch, ONNX Runtime and OpenCV DNN (and the C++ example
    when ``cpp_binary`` is given), with the ratio to the Johnson network in the same run; and its graph
    followed by the value op (what ``stylize export`` writes by default) in ONNX Runtime and the C++ example."""
    import cv2
    import torch

    from stylize.inference.model_file import state_to_bytes
    from stylize.inference.tone import GRID, ToneCalibration, attach
    from stylize.nets.transformer import arch_spec
    from stylize.shipping.onnx_export import onnx_graph

    flat = tuple(tuple(0.5 for _ in range(GRID)) for _ in range(GRID))
    neutral_key = ToneCalibration(typical=flat, typical_out=flat, paper=0.9)

    for arch in archs:
        arch_spec(arch)
    rows: dict[str, RuntimeRow] = {}
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with tempfile.TemporaryDirectory(prefix="stylize-bench-") as scratch:
            for arch in dict.fromkeys([BASELINE, *archs]):
                network = seeded_network(arch)
                model_bytes = onnx_graph(network).SerializeToString()
                attach(network, neutral_key)  # a random network has no tonal key; the op's cost does not depend on it
                values_bytes = onnx_graph(network, keep_values=1.0).SerializeToString()
                portrait = torch.rand(1, 3, *PORTRAIT, generator=torch.Generator().manual_seed(1))
                thumbnail = torch.rand(1, 3, *THUMBNAIL, generator=torch.Generator().manual_seed(2))
                with torch.inference_mode():
                    torch_ms = [
                        time_call(lambda image=image: network(image), min_runs=min_runs, min_seconds=min_seconds)
                        for image in (portrait, thumbnail)
                    ]
                ort_ms = [_ort_ms(model_bytes, size, min_runs, min_seconds) for size in (PORTRAIT, THUMBNAIL)]
                opencv_ms = [_opencv_ms(model_bytes, size, min_runs, min_seconds) for size in (PORTRAIT, THUMBNAIL)]
                ort_values_ms = [_ort_ms(values_bytes, size, min_runs, min_seconds) for size in (PORTRAIT, THUMBNAIL)]
                cpp: dict = {}
                cpp_values: dict = {}
                if cpp_binary is not None:
                    from stylize.shipping.cpp import run_cpp_bench

                    onnx_path = Path(scratch) / f"{arch}.onnx"
                    onnx_path.write_bytes(model_bytes)
                    cpp = run_cpp_bench(cpp_binary, onnx_path, repeat=max(min_runs, 5), threads=1)
                    values_path = Path(scratch) / f"{arch}-values.onnx"
                    values_path.write_bytes(values_bytes)
                    cpp_values = run_cpp_bench(cpp_binary, values_path, repeat=max(min_runs, 5), threads=1)
                rows[arch] = RuntimeRow(
                    arch=arch,
                    params=sum(p.numel() for p in network.parameters()),
                    file_bytes=len(state_to_bytes(network)),
                    onnx_bytes=len(model_bytes),
                    torch_portrait_ms=torch_ms[0],
                    torch_thumbnail_ms=torch_ms[1],
                    ort_portrait_ms=ort_ms[0],
                    ort_thumbnail_ms=ort_ms[1],
                    opencv_portrait_ms=opencv_ms[0],
                    opencv_thumbnail_ms=opencv_ms[1],
                    cpp_portrait_ms=cpp.get("portrait_ms"),
                    cpp_thumbnail_ms=cpp.get("thumbnail_ms"),
                    vs_johnson={},
                    budget_share=0.0,
                    opencv_version=cv2.__version__,
                    cpp_opencv_version=str(cpp.get("opencv", "")),
                    values_onnx_bytes=len(values_bytes),
                    ort_values_portrait_ms=ort_values_ms[0],
                    ort_values_thumbnail_ms=ort_values_ms[1],
                    cpp_values_portrait_ms=cpp_values.get("portrait_ms"),
                    cpp_values_thumbnail_ms=cpp_values.get("thumbnail_ms"),
                )
                if progress:
                    progress(
                        f"{arch} on 1 thread: torch {torch_ms[0]:.1f} ms, onnxruntime {ort_ms[0]:.1f} ms per portrait"
                    )
    finally:
        torch.set_num_threads(previous_threads)
    base = rows[BASELINE]
    for row in rows.values():
        for runtime in ("torch", "ort", "opencv", "cpp"):
            mine, theirs = getattr(row, f"{runtime}_portrait_ms"), getattr(base, f"{runtime}_portrait_ms")
            row.vs_johnson[runtime] = theirs / mine if mine and theirs else None
        measured = [ms for ms in (row.ort_values_portrait_ms, row.cpp_values_portrait_ms) if ms]
        row.budget_share = min(measured) / GAME_BUDGET_MS
    return [rows[arch] for arch in dict.fromkeys([BASELINE, *archs])]


def format_runtime_table(rows: Sequence[RuntimeRow]) -> str:
    """The one table of the shipping figures: 1 thread, ms per portrait / per thumbnail, x = ratio to johnson."""

    def cell(portrait: float | None, thumbnail: float | None, ratio: float | None) -> str:
        if portrait is None or thumbnail is None:
            return f"{'-':>21}"
        return f"{portrait:>7.1f}/{thumbnail:<5.2f}{'' if ratio is None else f'{ratio:.1f}x':>7}"

    has_cpp = any(r.cpp_portrait_ms for r in rows)
    opencv = f"opencv {rows[0].opencv_version}" if rows else "opencv"
    columns = ["torch eager", "onnxruntime", opencv] + ([f"C++ opencv {rows[0].cpp_opencv_version}"] if has_cpp else [])
    columns += ["+values onnxruntime"] + (["+values C++"] if has_cpp else [])
    head = (
        f"{'network':<8} {'params':>9} {'file':>8} {'onnx':>8} "
        + " ".join(f"{c:>21}" for c in columns)
        + f" {'of 1 s':>6}"
    )
    lines = [
        "one thread; each runtime cell: ms per 295x285 portrait / per 74x72 thumbnail, then x = johnson ms / this ms;",
        "+values: the graph with the value op (keep_values 1, what export writes by default); of 1 s: its best portrait",
        head,
        "-" * len(head),
    ]
    for r in rows:
        cells = [
            cell(r.torch_portrait_ms, r.torch_thumbnail_ms, r.vs_johnson.get("torch")),
            cell(r.ort_portrait_ms, r.ort_thumbnail_ms, r.vs_johnson.get("ort")),
            cell(r.opencv_portrait_ms, r.opencv_thumbnail_ms, r.vs_johnson.get("opencv")),
        ]
        if has_cpp:
            cells.append(cell(r.cpp_portrait_ms, r.cpp_thumbnail_ms, r.vs_johnson.get("cpp")))
        cells.append(cell(r.ort_values_portrait_ms, r.ort_values_thumbnail_ms, None))
        if has_cpp:
            cells.append(cell(r.cpp_values_portrait_ms, r.cpp_values_thumbnail_ms, None))
        lines.append(
            f"{r.arch:<8} {r.params:>9,} {r.file_bytes / 1e6:>6.2f}MB {r.onnx_bytes / 1e6:>6.2f}MB "
            + " ".join(cells)
            + f" {r.budget_share * 100:>5.1f}%"
        )
    return "\n".join(lines)


def bench_apply(
    style: str = APPLY_STYLE,
    workers: Sequence[int] = WORKERS,
    *,
    images: int = APPLY_IMAGES,
    parts: str | os.PathLike[str] | None = None,
    styles_dir: str | os.PathLike[str] | None = None,
    config: Any = None,
) -> list[ApplyRow]:
    """End-to-end apply throughput on ``images`` composited faces, one fresh output folder per run."""
    from stylize.content.compose import compose
    from stylize.inference.bulk import apply

    rows = []
    with tempfile.TemporaryDirectory(prefix="stylize-bench-") as scratch:
        faces = Path(scratch) / "faces"
        compose(f"0-{images - 1}", faces, parts=parts, config=config, progress=False)
        for count in workers:
            started = time.perf_counter()
            result = apply(
                style,
                [faces],
                Path(scratch) / f"out_{count}",
                workers=count,
                device="cpu",
                styles_dir=styles_dir,
                config=config,
                progress=False,
            )
            seconds = time.perf_counter() - started
            if result.failed or len(result.written) != images:
                raise StylizeError(
                    f"bench apply: expected {images} outputs, got {len(result.written)} ({result.failed[:1]})"
                )
            rows.append(ApplyRow(style, count, images, seconds, images / seconds))
    return rows


def format_network_table(rows: Sequence[NetworkRow]) -> str:
    head = (
        f"{'network':<9} {'runtime':<8} {'thr':>3} {'params':>9} {'file':>8} {'ms/portrait':>11} {'ms/thumb':>8} "
        f"{'img/s':>6} {'img/s b4':>8} {'x johnson':>9} {'of 1 s':>6}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        speedup = f"{r.speedup_vs_johnson:.1f}x" if r.speedup_vs_johnson else "-"
        lines.append(
            f"{r.arch:<9} {r.runtime:<8} {r.threads:>3} {r.params:>9,} {r.file_bytes / 1e6:>6.2f}MB "
            f"{r.portrait_ms:>11.1f} {r.thumbnail_ms:>8.2f} {r.images_per_s:>6.1f} {r.batch4_images_per_s:>8.1f} "
            f"{speedup:>9} {r.budget_share * 100:>5.1f}%"
        )
    return "\n".join(lines)


def format_apply_table(rows: Sequence[ApplyRow]) -> str:
    lines = [f"{'apply style':<12} {'workers':>7} {'images':>6} {'seconds':>8} {'img/s':>6}"]
    for r in rows:
        lines.append(f"{r.style:<12} {r.workers:>7} {r.images:>6} {r.seconds:>8.2f} {r.images_per_s:>6.1f}")
    return "\n".join(lines)


def bench_report(
    network_rows: Sequence[NetworkRow], apply_rows: Sequence[ApplyRow], runtime_rows: Sequence[RuntimeRow] = ()
) -> dict:
    import platform

    import torch

    return {
        "machine": {
            "cpu_count": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "torch": torch.__version__,
        },
        "baseline": BASELINE,
        "portrait": {"height": PORTRAIT[0], "width": PORTRAIT[1]},
        "thumbnail": {"height": THUMBNAIL[0], "width": THUMBNAIL[1]},
        "runtimes_1_thread": [asdict(r) for r in runtime_rows],
        "networks": [asdict(r) for r in network_rows],
        "apply": [asdict(r) for r in apply_rows],
    }


@dataclass
class KillResumeRow:
    style: str
    images: int
    killed_after: int  # outputs recorded in the manifest when the run was killed (SIGKILL)
    resumed_wrote: int
    identical: bool  # every output byte-identical to the uninterrupted run's
    uninterrupted_s: float
    killed_plus_resumed_s: float


def bench_kill_resume(
    style: str,
    *,
    images: int = KILL_RESUME_IMAGES,
    parts: str | os.PathLike[str] | None = None,
    styles_dir: str | os.PathLike[str] | None = None,
    config: Any = None,
) -> KillResumeRow:
    """Kill (SIGKILL) a ``stylize apply`` run half-way, rerun it, and compare with an uninterrupted run."""
    import signal
    import subprocess
    import sys

    from stylize.content.compose import compose
    from stylize.files import sha256_file
    from stylize.inference.bulk import MANIFEST_NAME, read_apply_manifest

    def digest(folder: Path) -> dict[str, str]:
        return {p.name: sha256_file(p) for p in folder.glob("*.png")}

    with tempfile.TemporaryDirectory(prefix="stylize-bench-") as scratch:
        faces = Path(scratch) / "faces"
        compose(f"0-{images - 1}", faces, parts=parts, config=config, progress=False)
        command = [sys.executable, "-m", "stylize", "apply", str(faces), "--style", style, "--device", "cpu", "-q"]
        if styles_dir is not None:
            command += ["--styles-dir", os.fspath(styles_dir)]
        if config is not None and config.path is not None:
            command += ["--config", os.fspath(config.path)]
        started = time.perf_counter()
        subprocess.run(command + ["--out", f"{scratch}/whole"], check=True, capture_output=True)
        uninterrupted = time.perf_counter() - started

        killed_dir = Path(scratch) / "killed"
        started = time.perf_counter()
        victim = subprocess.Popen(
            command + ["--out", str(killed_dir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        manifest = killed_dir / MANIFEST_NAME
        while victim.poll() is None:
            if manifest.is_file() and manifest.read_bytes().count(b"\n") >= images // 2:
                victim.send_signal(signal.SIGKILL)
                break
            time.sleep(0.005)
        victim.wait()
        killed_after = len(read_apply_manifest(manifest))
        resumed = subprocess.run(command + ["--out", str(killed_dir)], check=True, capture_output=True, text=True)
        total = time.perf_counter() - started
        wrote = int(resumed.stdout.split("stylized ", 1)[1].split(" ", 1)[0])
        whole, again = digest(Path(scratch) / "whole"), digest(killed_dir)
        return KillResumeRow(
            style, images, killed_after, wrote, whole == again and len(whole) == images, uninterrupted, total
        )
