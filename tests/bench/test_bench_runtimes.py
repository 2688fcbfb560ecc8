"""``stylize bench runtimes``: the networks against the johnson baseline, every runtime, bulk apply (its
figures are not asserted beyond their sense: timing is for benchmarks, not tests)."""

from __future__ import annotations

import pytest


@pytest.mark.slow
def test_bench_measures_against_the_johnson_baseline(tmp_path, tiny_styles, tree):
    from stylize.bench.runtimes import bench_apply, bench_networks, bench_report

    rows = bench_networks(["tiny"], [1], min_runs=1, min_seconds=0.0)
    assert [row.arch for row in rows] == ["tiny"]
    row = rows[0]
    assert row.params == 50_436 and row.portrait_ms > 0 and row.thumbnail_ms > 0
    assert row.speedup_vs_johnson is not None and row.speedup_vs_johnson > 1  # the tiny net is faster than Johnson's
    applied = bench_apply("inky", [1], images=2, parts=tree, styles_dir=tiny_styles)
    assert applied[0].images == 2 and applied[0].images_per_s > 0
    report = bench_report(rows, applied)
    assert report["baseline"] == "johnson" and report["networks"][0]["arch"] == "tiny"


@pytest.mark.slow
def test_bench_runtimes_time_every_runtime_against_johnson():
    from stylize.bench.runtimes import bench_runtimes, format_runtime_table

    rows = bench_runtimes(["nano"], min_runs=1, min_seconds=0.0)
    assert [row.arch for row in rows] == ["johnson", "nano"]
    johnson, nano = rows
    assert johnson.vs_johnson["ort"] == pytest.approx(1.0) and nano.params < johnson.params // 50
    for row in rows:
        assert row.torch_portrait_ms > row.torch_thumbnail_ms > 0 and row.ort_portrait_ms > row.ort_thumbnail_ms > 0
        assert row.opencv_portrait_ms and row.opencv_portrait_ms > 0  # opencv-python times the fixed-size copy
        assert 0 < row.onnx_bytes < row.values_onnx_bytes and 0 < row.budget_share < 1
        assert row.ort_values_portrait_ms > row.ort_values_thumbnail_ms > 0  # the graph with the value op
        assert row.budget_share == pytest.approx(row.ort_values_portrait_ms / 1000)  # what ships; no C++ here
    assert nano.vs_johnson["ort"] > 1 and nano.onnx_bytes < 1_000_000
    table = format_runtime_table(rows)
    assert "onnxruntime" in table and "+values onnxruntime" in table and "nano" in table and table.count("\n") == 5
