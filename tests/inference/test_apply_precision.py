"""Mixed precision (autocast) for stylizing: bf16 runs on the CPU too, so its path and its tolerance
against fp32 are checked here; fp16 needs a CUDA GPU and is refused without one."""

from __future__ import annotations

import json

import numpy as np
import pytest

import stylize
from stylize.errors import StylizeError
from stylize.inference.image import ApplySettings, stylize_rgb


@pytest.mark.parametrize("style", ["pencil-nano", "paint"])
@pytest.mark.slow
def test_bf16_is_within_a_few_levels_of_fp32(style):
    network = stylize.load_style(style).network
    differences = []
    for face in stylize.iter_faces("0-1"):
        full = stylize_rgb(network, face.rgb, "cpu", ApplySettings()).astype(int)
        mixed = stylize_rgb(network, face.rgb, "cpu", ApplySettings(precision="bf16")).astype(int)
        differences.append(np.abs(full - mixed))
    found = np.stack(differences)
    # measured: mean 0.27-0.36 levels, 99th percentile 1-2, worst pixel 3-7 (docs/scaling.md)
    assert found.mean() < 1.0 and np.percentile(found, 99) <= 3
    assert found.max() > 0  # autocast did change the arithmetic


def test_fp16_needs_a_gpu(tmp_path):
    with pytest.raises(StylizeError, match="precision=fp16 needs a CUDA GPU"):
        stylize.apply("pencil-nano", ["compose:0"], tmp_path / "out", device="cpu", precision="fp16")
    with pytest.raises(StylizeError, match="precision"):
        ApplySettings(precision="fp8")


@pytest.mark.slow
def test_the_manifest_records_a_precision_other_than_fp32_and_reruns_when_it_changes(tmp_path):
    faces = tmp_path / "faces"
    stylize.compose("0-1", faces, progress=False)
    out = tmp_path / "out"
    first = stylize.apply("pencil-nano", [faces], out, device="cpu", progress=False)
    assert len(first.written) == 2
    records = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert all("precision" not in record["settings"] for record in records)  # fp32 manifests read as before
    again = stylize.apply("pencil-nano", [faces], out, device="cpu", precision="bf16", progress=False)
    assert len(again.written) == 2  # a different arithmetic: made again
    records = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert records[-1]["settings"]["precision"] == "bf16"
    assert len(stylize.apply("pencil-nano", [faces], out, device="cpu", precision="bf16", progress=False).written) == 0
