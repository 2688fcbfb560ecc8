"""``stylize bench device``: the rows it measures, and what it says of a device it cannot use (timing
itself is for benchmarks, not tests)."""

from __future__ import annotations

import torch

from stylize.bench import device as bench_device_module
from stylize.bench.device import STYLES, bench_device, format_device

SIZES = ((29, 30), (64, 64))  # the rows at small sizes (the bench's own, 285x295 and 1024x1024, take seconds)


def test_bench_device_measures_apply_per_precision_and_names_what_it_cannot_run(monkeypatch):
    monkeypatch.setattr(bench_device_module, "SIZES", SIZES)
    rows = bench_device(["cuda"], precisions=("fp32", "fp16"), seconds=0.05, train=False)
    measured = [r for r in rows if r.per_second is not None]
    assert {(r.what, r.precision) for r in measured} == {
        (f"apply {style} {h}x{w}", "fp32") for style in STYLES for h, w in SIZES
    }
    assert all(r.device == "cpu" and r.batch == 1 and r.ms > 0 for r in measured)
    notes = {(r.device, r.precision): r.note for r in rows if r.per_second is None}
    assert "needs a CUDA GPU" in notes[("cpu", "fp16")]
    if not torch.cuda.is_available():
        assert "no CUDA GPU" in notes[("cuda", "-")]
    table = format_device(rows)
    assert "x CPU fp32" in table and "not measured" in table
