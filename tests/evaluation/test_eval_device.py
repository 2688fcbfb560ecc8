"""``stylize eval --device``: where the loss network measures. The CPU's figures are the reference; a
device torch cannot see is one line before any work."""

from __future__ import annotations

import pytest
import torch

import stylize
from stylize.errors import StylizeError


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
@pytest.mark.slow
def test_eval_on_a_missing_gpu_is_one_line():
    with pytest.raises(StylizeError, match="device 'cuda' was asked for but torch sees no CUDA GPU"):
        stylize.evaluate(["pencil-nano"], ["compose:0-1"], device="cuda")


@pytest.mark.slow
def test_eval_measures_the_same_on_the_device_it_is_given():
    (default,) = stylize.evaluate(["pencil-nano"], ["compose:0-1"])
    (on_cpu,) = stylize.evaluate(["pencil-nano"], ["compose:0-1"], device="cpu")
    assert on_cpu.style_score == pytest.approx(default.style_score, rel=1e-6)
    assert on_cpu.content_distance == pytest.approx(default.content_distance, rel=1e-6)
    if torch.cuda.is_available():  # the GPU's arithmetic: within float32 reduction-order differences
        (on_gpu,) = stylize.evaluate(["pencil-nano"], ["compose:0-1"], device="cuda")
        assert on_gpu.style_score == pytest.approx(default.style_score, rel=1e-3)
