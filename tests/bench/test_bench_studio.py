"""``stylize bench studio``: runs end to end over real HTTP (its figures are not asserted: timing is for
benchmarks, not tests)."""

from __future__ import annotations

import pytest
from studio.conftest import TINY_TRAINING, png_bytes


@pytest.mark.slow
def test_bench_studio_measures_the_preview_and_the_latency_while_training(tmp_path):
    from stylize.bench.studio import bench_studio, format_studio

    reference = tmp_path / "hatch.png"
    reference.write_bytes(png_bytes(128, 128, seed=2))
    config = tmp_path / "pipeline.toml"
    config.write_text(TINY_TRAINING)
    bench = bench_studio([reference], faces=4, poll_seconds=1.5, config=config)
    (row,) = bench.preview
    assert row.faces == 4 and 0 < row.first_face_s <= row.all_faces_s
    assert bench.ready_s > 0
    assert {(r.request, r.while_) for r in bench.latency} == {
        (request, while_) for request in ("job poll", "state", "a shown face") for while_ in ("idle", "training")
    }
    assert all(r.count >= 1 and 0 < r.median_ms <= r.max_ms for r in bench.latency)
    assert bench.training_steps >= 1
    table = format_studio(bench)
    assert "hatch.png" in table and "training" in table


def test_bench_studio_refuses_a_missing_reference(tmp_path):
    from stylize.bench.studio import bench_studio
    from stylize.errors import StylizeError

    with pytest.raises(StylizeError, match="reference not found"):
        bench_studio([tmp_path / "nope.png"])
