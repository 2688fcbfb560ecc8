"""``stylize bench zero``: beside its timings, the face judge's figures on the 16 faces it styles."""

from __future__ import annotations

import pytest
from conftest import drawn_references

pytestmark = pytest.mark.slow


def test_bench_zero_training_judges_the_faces_it_styles(tmp_path):
    from stylize.bench.zero import bench_zero_training, format_zero_training
    from stylize.inference.arbitrary import PREDICT_FILE, TRANSFORM_FILE, EngineError, engine_file

    try:
        engine_file(TRANSFORM_FILE), engine_file(PREDICT_FILE)
    except EngineError as err:
        pytest.skip(f"zero-training styles' engine is not usable: {err}")
    reference = drawn_references(tmp_path / "refs")["blobs"]
    (row,), _ = bench_zero_training([reference], preview=False, min_runs=1, min_seconds=0.0)
    assert row.faces == 16 and row.faces_judged == 16  # the judge finds every bundled sample face
    assert 0 <= row.same_person <= 16 and 0 <= row.rank1 <= 16 and 0 <= row.faces_detected <= 16
    assert 0 < row.value_spread and -1 <= row.value_order <= 1
    header, line = format_zero_training([row], []).splitlines()[1:3]
    for column in ("same person", "value spread", "rank-1", "value order", "detected"):
        assert column in header
    assert f"{row.same_person}/16" in line and f"{row.value_spread:.2f}" in line
