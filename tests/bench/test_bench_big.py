"""``stylize bench big``: a big portrait against a game portrait, and the peak memory of apply on it."""

from __future__ import annotations

import pytest


@pytest.mark.slow
def test_bench_big_image_times_both_sizes_and_measures_the_child():
    from stylize.bench.big import bench_big_images, format_big_images

    rows = bench_big_images(["pencil-nano"], 1100, runs=1)  # just over 1 megapixel: tiled
    (row,) = rows
    assert row.arch == "nano" and row.side == 1100
    assert row.portrait_s_per_mp > 0 and row.big_s_per_mp > 0 and row.ratio == row.big_s_per_mp / row.portrait_s_per_mp
    assert 0.3e9 < row.apply_peak_bytes < 1.5e9 and row.apply_seconds > 0
    assert "pencil-nano" in format_big_images(rows)
