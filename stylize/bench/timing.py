"""What the benches share: the sizes they time, the baseline network, timing a call. Torch-free at import."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stylize.nets.padded import PaddedNet

PORTRAIT = (285, 295)  # (H, W) of the game's portraits
THUMBNAIL = (72, 74)
GAME_BUDGET_MS = 1000.0
BASELINE = "johnson"
MIN_RUNS = 5  # timed runs per figure (the median is the figure)
MIN_SECONDS = 0.5  # each figure timed at least this long


def time_call(
    function: Callable[[], object], *, min_runs: int = MIN_RUNS, min_seconds: float = MIN_SECONDS, warmup: int = 2
) -> float:
    """Median wall time of ``function`` in ms, after ``warmup`` calls."""
    for _ in range(warmup):
        function()
    times: list[float] = []
    started = time.perf_counter()
    while len(times) < min_runs or time.perf_counter() - started < min_seconds:
        begin = time.perf_counter()
        function()
        times.append((time.perf_counter() - begin) * 1000.0)
        if len(times) >= 1000:
            break
    return statistics.median(times)


def seeded_network(arch: str) -> PaddedNet:
    """A new network of ``arch`` in eval mode, its weights drawn from seed 0 (every bench times the same one)."""
    import torch

    from stylize.nets.transformer import build_network

    torch.manual_seed(0)
    return build_network(arch).eval()
