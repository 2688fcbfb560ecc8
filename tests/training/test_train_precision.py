"""Mixed precision for training (the GPU path): bf16 autocast runs on the CPU too, so the loop's
autocast and loss scaling are checked here against fp32; fp16 needs a CUDA GPU."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from conftest import TINY_TRAIN

from stylize.errors import StylizeError
from stylize.training.settings import TrainSettings
from stylize.training.style import train


def _train(tmp_path, tree, reference, name: str, precision: str):
    settings = replace(TrainSettings(**TINY_TRAIN), steps=6, precision=precision)
    return train(name, [reference], settings=settings, styles_dir=tmp_path, parts=tree, device="cpu", progress=False)


@pytest.mark.slow
def test_bf16_training_follows_fp32_and_is_recorded(tmp_path, tree, reference):
    full = _train(tmp_path, tree, reference, "full", "fp32")
    mixed = _train(tmp_path, tree, reference, "mixed", "bf16")
    first_full, first_mixed = full.metadata["loss_history"][0]["total"], mixed.metadata["loss_history"][0]["total"]
    # bf16 keeps 8 bits of mantissa: the same batches give losses within about 1% (measured 0.1-0.5%)
    assert abs(first_mixed - first_full) <= 0.02 * abs(first_full)
    assert abs(mixed.final_losses["total"] - full.final_losses["total"]) <= 0.05 * abs(full.final_losses["total"])
    recorded = json.loads((tmp_path / "mixed" / "model.json").read_text())
    assert recorded["training"]["precision"] == "bf16"
    assert json.loads((tmp_path / "full" / "model.json").read_text())["training"]["precision"] == "fp32"


def test_fp16_training_needs_a_gpu(tmp_path, tree, reference):
    with pytest.raises(StylizeError, match="precision=fp16 needs a CUDA GPU"):
        _train(tmp_path, tree, reference, "half", "fp16")
    assert not (tmp_path / "half" / "model.json").exists()


def test_an_fp32_checkpoint_identity_is_what_it_was_before_mixed_precision():
    from stylize.training.loop import loop_fingerprint

    assert "precision" not in loop_fingerprint(TrainSettings(**TINY_TRAIN))
    assert loop_fingerprint(replace(TrainSettings(**TINY_TRAIN), precision="bf16"))["precision"] == "bf16"
